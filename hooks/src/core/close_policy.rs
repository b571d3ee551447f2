//! What to do when a WebSocket closes, and how to tell the user why.
//!
//! Most closes are transient — the server restarted (1001), the network dropped (1006), the
//! server was busy (1013) — so the default is to reconnect. Only codes that mean "you will get
//! the same answer again" stop the loop: 1003 (unsupported data) and 1008 (policy violation, e.g.
//! the rate limit in `docs/protocol.md`). Reconnecting after those would just hammer the server.

/// The outcome of [`ClosePolicy::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseDecision {
    /// Schedule a reconnect (subject to the backoff policy).
    Reconnect,
    /// Stay closed until the app explicitly reconnects.
    Stop,
}

/// Which close codes end the reconnect loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosePolicy {
    /// Close codes after which reconnecting is pointless. Default `[1003, 1008]`.
    pub stop_codes: Vec<u16>,
    /// Whether a clean 1000 close initiated by the server still reconnects. Default `true`:
    /// servers commonly close cleanly on deploys, and a live view should come back by itself.
    pub reconnect_after_clean_server_close: bool,
}

impl Default for ClosePolicy {
    fn default() -> Self {
        Self {
            stop_codes: vec![1003, 1008],
            reconnect_after_clean_server_close: true,
        }
    }
}

impl ClosePolicy {
    /// Decide whether a close with `code` should be followed by a reconnect.
    pub fn decide(&self, code: u16, closed_by_us: bool) -> CloseDecision {
        // Our own close() means the app wants the socket gone; reconnecting would fight it.
        if closed_by_us || self.stop_codes.contains(&code) {
            return CloseDecision::Stop;
        }
        if code == 1000 && !self.reconnect_after_clean_server_close {
            return CloseDecision::Stop;
        }
        CloseDecision::Reconnect
    }
}

/// Short human text for a close code, for a status line in the UI.
pub fn describe_close_code(code: u16) -> &'static str {
    match code {
        1000 => "closed normally",
        1001 => "server going away",
        1003 => "unsupported data",
        1006 => "connection lost",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1011 => "server error",
        1013 => "server busy, try again later",
        _ => "connection closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn transient_server_closes_reconnect() {
        let p = ClosePolicy::default();
        for code in [1000, 1001, 1006, 1009, 1011, 1013, 4000] {
            assert_eq!(
                p.decide(code, false),
                CloseDecision::Reconnect,
                "code {code}"
            );
        }
    }

    #[test]
    fn policy_and_unsupported_data_closes_stop() {
        let p = ClosePolicy::default();
        assert_eq!(p.decide(1008, false), CloseDecision::Stop);
        assert_eq!(p.decide(1003, false), CloseDecision::Stop);
    }

    #[test]
    fn clean_server_close_stops_when_configured() {
        let p = ClosePolicy {
            reconnect_after_clean_server_close: false,
            ..ClosePolicy::default()
        };
        assert_eq!(p.decide(1000, false), CloseDecision::Stop);
        assert_eq!(p.decide(1001, false), CloseDecision::Reconnect);
    }

    #[test]
    fn custom_stop_codes_replace_the_defaults() {
        let p = ClosePolicy {
            stop_codes: vec![4001],
            ..ClosePolicy::default()
        };
        assert_eq!(p.decide(4001, false), CloseDecision::Stop);
        assert_eq!(p.decide(1008, false), CloseDecision::Reconnect);
    }

    #[test]
    fn close_codes_have_human_descriptions() {
        assert_eq!(describe_close_code(1006), "connection lost");
        assert_eq!(describe_close_code(1013), "server busy, try again later");
        assert_eq!(describe_close_code(4321), "connection closed");
    }

    proptest! {
        #[test]
        fn closing_it_ourselves_always_stops(code in any::<u16>(), clean in any::<bool>()) {
            let p = ClosePolicy { reconnect_after_clean_server_close: clean, ..ClosePolicy::default() };
            prop_assert_eq!(p.decide(code, true), CloseDecision::Stop);
        }

        #[test]
        fn every_code_has_non_empty_text(code in any::<u16>()) {
            prop_assert!(!describe_close_code(code).is_empty());
        }
    }
}
