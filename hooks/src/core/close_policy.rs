//! What to do when a WebSocket closes, and how to tell the user why.
//!
//! Most closes are transient — the server restarted (1001), the network dropped (1006), the
//! server was busy (1013) — so the default is to reconnect. Only codes that mean "you will get
//! the same answer again" stop the loop: 1003 (unsupported data) and 1008 (policy violation, e.g.
//! the rate limit in `docs/protocol.md`). Reconnecting after those would just hammer the server.
//! Codes that mean "your credentials are stale" (4001, "token expired") ask for a refresh: the
//! connection fetches a new URL (token) and reconnects at once, without counting a failure.

/// The outcome of [`ClosePolicy::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseDecision {
    /// Schedule a reconnect (subject to the backoff policy).
    Reconnect,
    /// Stay closed until the app explicitly reconnects.
    Stop,
    /// The credentials were refused: get a fresh URL (token) and reconnect now, uncounted.
    Refresh,
}

/// Which close codes end the reconnect loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosePolicy {
    /// Close codes after which reconnecting is pointless. Default `[1003, 1008]`.
    pub stop_codes: Vec<u16>,
    /// Whether a clean 1000 close initiated by the server still reconnects. Default `true`:
    /// servers commonly close cleanly on deploys, and a live view should come back by itself.
    pub reconnect_after_clean_server_close: bool,
    /// Close codes that mean "credentials refused or expired": reconnect at once with a freshly
    /// resolved URL (see `WebSocketOptions::url`), not counted as a failed attempt. Default
    /// `[4001]`, the dev server's "token expired".
    pub refresh_codes: Vec<u16>,
    /// How many refreshes in a row (without a link that stayed up) are allowed before a refresh
    /// code counts as an ordinary failure with backoff, so a server that refuses every token is
    /// not hammered. Default 3.
    pub max_refreshes: u32,
}

impl Default for ClosePolicy {
    fn default() -> Self {
        Self {
            stop_codes: vec![1003, 1008],
            reconnect_after_clean_server_close: true,
            refresh_codes: vec![4001],
            max_refreshes: 3,
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
        if self.refresh_codes.contains(&code) {
            return CloseDecision::Refresh;
        }
        CloseDecision::Reconnect
    }

    /// Like [`ClosePolicy::decide`], after `refreshes` refreshes in a row: past
    /// [`ClosePolicy::max_refreshes`] a refresh code is an ordinary (counted) reconnect.
    pub fn decide_after(&self, code: u16, closed_by_us: bool, refreshes: u32) -> CloseDecision {
        match self.decide(code, closed_by_us) {
            CloseDecision::Refresh if refreshes >= self.max_refreshes => CloseDecision::Reconnect,
            decision => decision,
        }
    }

    /// [`ClosePolicy::decide_after`] for a socket refused before it opened, when the URL comes
    /// from a source that can renew a token: a page cannot see a handshake's HTTP status, so a
    /// refusal may be a 401 for a stale token, and is a refresh too (at once, not counted),
    /// within the same [`ClosePolicy::max_refreshes`] budget. After that, ordinary backoff (a
    /// server that is down fails this way every time).
    pub fn decide_refused(&self, code: u16, closed_by_us: bool, refreshes: u32) -> CloseDecision {
        match self.decide_after(code, closed_by_us, refreshes) {
            CloseDecision::Reconnect if refreshes < self.max_refreshes => CloseDecision::Refresh,
            decision => decision,
        }
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
        4001 => "credentials expired",
        _ => "connection closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_refused_handshake_is_a_refresh_within_the_budget() {
        let policy = ClosePolicy::default();
        assert_eq!(
            policy.decide_refused(1006, false, 0),
            CloseDecision::Refresh
        );
        assert_eq!(
            policy.decide_refused(1006, false, 2),
            CloseDecision::Refresh
        );
        assert_eq!(
            policy.decide_refused(1006, false, 3),
            CloseDecision::Reconnect
        );
        // What stops still stops; our own close is not a refusal.
        assert_eq!(policy.decide_refused(1008, false, 0), CloseDecision::Stop);
        assert_eq!(policy.decide_refused(1006, true, 0), CloseDecision::Stop);
    }

    #[test]
    fn transient_server_closes_reconnect() {
        let p = ClosePolicy::default();
        for code in [1000, 1001, 1006, 1009, 1011, 1013, 4000, 4002] {
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
    fn item_08_an_expired_token_refreshes_at_once_but_not_forever() {
        let p = ClosePolicy::default();
        assert_eq!(p.decide(4001, false), CloseDecision::Refresh);
        assert_eq!(p.decide(4001, true), CloseDecision::Stop);
        assert_eq!(p.decide_after(4001, false, 2), CloseDecision::Refresh);
        assert_eq!(p.decide_after(4001, false, 3), CloseDecision::Reconnect);
        assert_eq!(p.decide_after(1006, false, 0), CloseDecision::Reconnect);
        assert_eq!(describe_close_code(4001), "credentials expired");
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
