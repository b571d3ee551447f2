//! Dead-link detection: ping when the link has been quiet, and declare it dead when a ping goes
//! unanswered.
//!
//! The seed pinged on a timer but never noticed missing pongs, so a half-open connection (laptop
//! lid closed, Wi-Fi switched) looked "connected" forever. Here every ping starts a deadline;
//! any inbound frame clears it, and [`Beat::Dead`] tells the hook to close and reconnect.
//!
//! Wiring: call [`Liveness::tick`] from a periodic timer (a few seconds), or [`Liveness::probe`]
//! instead when [`Liveness::slept`] reports a timer gap, the page becomes visible, or the
//! browser comes back online. Call [`Liveness::on_frame`] for every inbound frame, then
//! [`Liveness::on_pong`] for pongs (see [`pong_id`]).

use serde::Deserialize;

use super::decimal::Fixed;

/// Ping cadence and patience.
// Clone, not Copy: the hooks keep policies in options structs and clone them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatPolicy {
    /// Ping after this much quiet (no ping sent, no frame received). Default 30000 ms, the seed's.
    pub interval_ms: u32,
    /// Declare the link dead when nothing arrives this long after a ping. Default 10000 ms.
    pub timeout_ms: u32,
    /// Whether received frames postpone the next ping. Default `true`. Set `false` (with an
    /// interval below the server's TTL) for servers that drop clients which send nothing, like
    /// `/ws/presence`: its snapshots every TTL/3 would otherwise postpone pings forever.
    pub inbound_postpones_ping: bool,
}

impl Default for HeartbeatPolicy {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
            timeout_ms: 10_000,
            inbound_postpones_ping: true,
        }
    }
}

/// What the hook should do after a [`Liveness::tick`] or [`Liveness::probe`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Beat {
    /// Nothing to do.
    Idle,
    /// Send `{"type":"ping","id":id,...}` now (see [`ping_frame`]).
    SendPing {
        /// Echoed back in the pong.
        id: u64,
    },
    /// A ping went unanswered: close the socket and reconnect.
    Dead {
        /// How long we waited since the unanswered ping.
        waited_ms: f64,
    },
}

/// Liveness state of one connection; create a new one for every connection.
#[derive(Clone, Debug)]
pub struct Liveness {
    policy: HeartbeatPolicy,
    /// Last ping sent or frame received: the start of the current quiet period.
    last_activity_ms: f64,
    /// Set when a ping is sent, cleared by any inbound frame.
    awaiting_since_ms: Option<f64>,
    /// The ping whose pong yields an RTT; kept after `on_frame` so a late pong still measures.
    in_flight: Option<(u64, f64)>,
    next_id: u64,
    rtt_ms: Option<f64>,
    last_check_ms: Option<f64>,
}

impl Liveness {
    /// Start tracking a connection that opened at `now_ms`.
    pub fn new(policy: HeartbeatPolicy, now_ms: f64) -> Self {
        Self {
            policy,
            last_activity_ms: now_ms,
            awaiting_since_ms: None,
            in_flight: None,
            next_id: 1,
            rtt_ms: None,
            last_check_ms: None,
        }
    }

    /// Periodic check: ping after a quiet interval, report a ping unanswered past the timeout.
    pub fn tick(&mut self, now_ms: f64) -> Beat {
        self.last_check_ms = Some(now_ms);
        if let Some(since) = self.awaiting_since_ms {
            let waited_ms = now_ms - since;
            if waited_ms > f64::from(self.policy.timeout_ms) {
                return Beat::Dead { waited_ms };
            }
            return Beat::Idle;
        }
        if now_ms - self.last_activity_ms >= f64::from(self.policy.interval_ms) {
            return self.send_ping(now_ms);
        }
        Beat::Idle
    }

    /// Ping now regardless of the interval, with a fresh full timeout.
    ///
    /// After a sleep, an old ping's deadline is meaningless (nothing could be received while
    /// suspended), so it is replaced rather than reported as dead.
    pub fn probe(&mut self, now_ms: f64) -> Beat {
        self.last_check_ms = Some(now_ms);
        self.send_ping(now_ms)
    }

    /// Record an inbound frame of any kind: the link is alive.
    pub fn on_frame(&mut self, now_ms: f64) {
        if self.policy.inbound_postpones_ping {
            self.last_activity_ms = now_ms;
        }
        self.awaiting_since_ms = None;
    }

    /// Record the pong for ping `id`, returning the round-trip time if it answers the latest ping.
    pub fn on_pong(&mut self, id: u64, now_ms: f64) -> Option<f64> {
        self.on_frame(now_ms);
        let (expected, sent_at) = self.in_flight?;
        if expected != id {
            return None;
        }
        self.in_flight = None;
        let rtt = (now_ms - sent_at).max(0.0);
        self.rtt_ms = Some(rtt);
        Some(rtt)
    }

    /// Whether the gap since the last tick/probe exceeds twice `expected_tick_ms` (the machine
    /// slept or the tab was throttled), in which case the hook should [`Liveness::probe`].
    pub fn slept(&self, now_ms: f64, expected_tick_ms: f64) -> bool {
        self.last_check_ms
            .is_some_and(|last| now_ms - last > 2.0 * expected_tick_ms)
    }

    /// The most recent round-trip time.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.rtt_ms
    }

    /// When the next tick can change anything (for scheduling a precise timer).
    pub fn next_deadline_ms(&self) -> f64 {
        match self.awaiting_since_ms {
            Some(since) => since + f64::from(self.policy.timeout_ms),
            None => self.last_activity_ms + f64::from(self.policy.interval_ms),
        }
    }

    fn send_ping(&mut self, now_ms: f64) -> Beat {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight = Some((id, now_ms));
        self.awaiting_since_ms = Some(now_ms);
        self.last_activity_ms = now_ms;
        Beat::SendPing { id }
    }
}

/// The ping frame of `docs/protocol.md`; the server echoes `id` and `timestamp` in the pong.
/// `now_ms` is sent in whole milliseconds.
pub fn ping_frame(id: u64, now_ms: f64) -> String {
    format!(
        r#"{{"type":"ping","id":{id},"timestamp":{}}}"#,
        Fixed(now_ms, 0)
    )
}

/// The fields of a pong the heartbeat reads.
#[derive(Deserialize)]
struct Pong {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
}

/// The ping id carried by a pong frame, or `None` for any other frame.
pub fn pong_id(frame: &str) -> Option<u64> {
    // Every inbound frame passes through here: skip the JSON parse for ordinary traffic.
    if !frame.contains("pong") {
        return None;
    }
    if !super::is_json_object(frame) {
        return None;
    }
    let pong: Pong = serde_json::from_str(frame).ok()?;
    (pong.kind == "pong").then_some(pong.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fresh() -> Liveness {
        Liveness::new(HeartbeatPolicy::default(), 0.0)
    }

    #[test]
    fn pings_only_after_an_interval_of_quiet() {
        let mut l = fresh();
        assert_eq!(l.tick(29_999.0), Beat::Idle);
        assert_eq!(l.tick(30_000.0), Beat::SendPing { id: 1 });
        assert_eq!(l.next_deadline_ms(), 40_000.0);
    }

    #[test]
    fn inbound_frames_postpone_the_next_ping() {
        let mut l = fresh();
        l.on_frame(20_000.0);
        assert_eq!(l.tick(45_000.0), Beat::Idle);
        assert_eq!(l.tick(50_000.0), Beat::SendPing { id: 1 });
    }

    #[test]
    fn pings_keep_their_cadence_despite_inbound_frames_when_configured() {
        let policy = HeartbeatPolicy {
            interval_ms: 10_000,
            inbound_postpones_ping: false,
            ..HeartbeatPolicy::default()
        };
        let mut l = Liveness::new(policy, 0.0);
        l.on_frame(9_000.0);
        assert_eq!(l.tick(10_000.0), Beat::SendPing { id: 1 });
        l.on_frame(15_000.0);
        assert_eq!(l.tick(20_000.0), Beat::SendPing { id: 2 });
    }

    #[test]
    fn a_ping_without_any_answer_past_the_timeout_is_dead() {
        let mut l = fresh();
        l.tick(30_000.0);
        assert_eq!(l.tick(40_000.0), Beat::Idle);
        assert_eq!(
            l.tick(40_001.0),
            Beat::Dead {
                waited_ms: 10_001.0
            }
        );
    }

    #[test]
    fn a_pong_reports_rtt_and_keeps_the_link_alive() {
        let mut l = fresh();
        l.tick(30_000.0);
        assert_eq!(l.on_pong(1, 30_042.0), Some(42.0));
        assert_eq!(l.rtt_ms(), Some(42.0));
        assert_eq!(l.tick(50_000.0), Beat::Idle);
    }

    #[test]
    fn stale_pong_ids_are_ignored_but_still_prove_liveness() {
        let mut l = fresh();
        l.tick(30_000.0);
        l.probe(31_000.0);
        assert_eq!(l.on_pong(1, 31_010.0), None);
        assert_eq!(l.rtt_ms(), None);
        assert_eq!(l.tick(50_000.0), Beat::Idle);
        assert_eq!(l.on_pong(2, 50_001.0), Some(19_001.0));
    }

    #[test]
    fn probe_replaces_an_outstanding_ping_with_a_fresh_deadline() {
        let mut l = fresh();
        l.tick(30_000.0);
        assert!(l.slept(600_000.0, 5_000.0));
        assert_eq!(l.probe(600_000.0), Beat::SendPing { id: 2 });
        assert_eq!(l.tick(605_000.0), Beat::Idle);
        assert_eq!(
            l.tick(610_001.0),
            Beat::Dead {
                waited_ms: 10_001.0
            }
        );
    }

    #[test]
    fn slept_detects_only_gaps_beyond_twice_the_tick() {
        let mut l = fresh();
        assert!(!l.slept(1e9, 1000.0), "no tick yet, nothing to compare");
        l.tick(1000.0);
        assert!(!l.slept(3000.0, 1000.0));
        assert!(l.slept(3000.1, 1000.0));
    }

    #[test]
    fn ping_and_pong_frames_follow_the_protocol() {
        let ping: serde_json::Value =
            serde_json::from_str(&ping_frame(7, 1764136000123.6)).unwrap();
        assert_eq!(
            ping,
            serde_json::json!({ "type": "ping", "id": 7, "timestamp": 1764136000124_u64 })
        );
        assert_eq!(
            pong_id(r#"{"type":"pong","id":7,"timestamp":12.5}"#),
            Some(7)
        );
        assert_eq!(pong_id(r#"{"type":"message","id":7}"#), None);
        assert_eq!(pong_id("not json"), None);
        assert_eq!(pong_id(r#"["pong",7]"#), None);
        assert_eq!(pong_id(r#"{"type":"pong","id":"7"}"#), None);
        assert_eq!(pong_id(r#"{"type":"pong"}"#), None);
    }

    proptest! {
        #[test]
        fn answered_pings_never_die_and_silence_always_does(
            rtts in proptest::collection::vec(0u32..10_000, 1..50), tick in 100u32..5000,
        ) {
            let tick = f64::from(tick);
            let (mut alive, mut silent) = (fresh(), fresh());
            let mut now = 0.0;
            let mut answer_at: Option<(u64, f64)> = None;
            let mut rtts = rtts.into_iter().cycle();
            for _ in 0..2000 {
                now += tick;
                if let Some((id, at)) = answer_at.filter(|&(_, at)| at <= now) {
                    prop_assert!(alive.on_pong(id, at).is_some());
                    answer_at = None;
                }
                match alive.tick(now) {
                    Beat::Dead { .. } => prop_assert!(false, "answered link declared dead at {}", now),
                    Beat::SendPing { id } => answer_at = rtts.next().map(|rtt| (id, now + f64::from(rtt))),
                    Beat::Idle => {}
                }
                if let Beat::Dead { waited_ms } = silent.tick(now) {
                    // Each of the ping and the deadline is noticed at most one tick late.
                    prop_assert!(now <= 40_000.0 + 2.0 * tick && waited_ms <= 10_000.0 + tick);
                    return Ok(());
                }
            }
            prop_assert!(false, "silent link never declared dead");
        }
    }
}
