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
    /// What a ping looks like and which frames answer it. Default [`PingFormat::Protocol`].
    pub format: PingFormat,
}

impl Default for HeartbeatPolicy {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
            timeout_ms: 10_000,
            inbound_postpones_ping: true,
            format: PingFormat::Protocol,
        }
    }
}

/// Which ping a heartbeat answer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PongMatch {
    /// The answer to ping `id`.
    Id(u64),
    /// An answer that carries no id: it answers the latest ping.
    Latest,
}

/// What the heartbeat sends and which inbound frames answer it.
///
/// The dev server (`server/`) answers [`PingFormat::Protocol`]. Against another server, pick what it
/// understands: a server that answers a fixed text (`"ping"` → `"pong"`) takes
/// [`PingFormat::Text`]; anything else takes [`PingFormat::Custom`]; a server that answers no
/// ping at all needs `heartbeat: None` (or a short [`HeartbeatPolicy::interval_ms`] with traffic of
/// its own, since any inbound frame proves the link alive). An echo server needs nothing: a frame
/// equal to the ping just sent counts as its answer. Answers are heartbeat traffic and never reach
/// the message listeners or the history.
#[derive(Clone, Debug)]
pub enum PingFormat {
    /// `{"type":"ping","id":N,"timestamp":T}`, answered by `{"type":"pong","id":N}` (a pong
    /// without `id` answers the latest ping), as in `docs/protocol.md`.
    Protocol,
    /// A fixed text frame, answered by a frame equal to `pong`.
    Text {
        /// The frame sent, e.g. `"ping"`.
        ping: String,
        /// The answer expected, e.g. `"pong"`.
        pong: String,
    },
    /// Your own frames: `ping(id, now_ms)` builds the ping, `pong(frame)` recognises an answer.
    Custom {
        /// Builds the ping frame for ping `id` at `now_ms` (`Date.now()`).
        ping: fn(u64, f64) -> String,
        /// Whether `frame` answers a ping, and which one.
        pong: fn(&str) -> Option<PongMatch>,
    },
}

impl PartialEq for PingFormat {
    /// Custom formats compare equal to each other (function addresses are not meaningful to
    /// compare): changing a custom format's functions does not count as an options change.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Protocol, Self::Protocol) | (Self::Custom { .. }, Self::Custom { .. }) => true,
            (Self::Text { ping: a, pong: b }, Self::Text { ping: c, pong: d }) => a == c && b == d,
            _ => false,
        }
    }
}

impl Eq for PingFormat {}

impl PingFormat {
    /// The ping frame for ping `id` sent at `now_ms` (`Date.now()`).
    pub fn ping(&self, id: u64, now_ms: f64) -> String {
        match self {
            Self::Protocol => ping_frame(id, now_ms),
            Self::Text { ping, .. } => ping.clone(),
            Self::Custom { ping, .. } => ping(id, now_ms),
        }
    }

    /// Whether `frame` answers a ping: a pong of this format, or an echo of `last_ping` (the
    /// frame last sent). `None` for every other frame.
    pub fn answer(&self, frame: &str, last_ping: Option<&str>) -> Option<PongMatch> {
        if last_ping == Some(frame) {
            return Some(PongMatch::Latest);
        }
        match self {
            Self::Protocol => protocol_pong(frame),
            Self::Text { pong, .. } => (frame == pong).then_some(PongMatch::Latest),
            Self::Custom { pong, .. } => pong(frame),
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
    /// Whether the outstanding ping was sent by [`Liveness::probe`].
    probe_in_flight: bool,
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
            probe_in_flight: false,
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

    /// Ping now regardless of the interval, with a fresh full timeout (after a wake-up: a timer
    /// gap, the page becoming visible, the network coming back).
    ///
    /// After a sleep, an ordinary ping's deadline is meaningless (nothing could be received while
    /// suspended), so it is replaced rather than reported as dead. A ping sent by an earlier
    /// probe is not replaced: while it is within its timeout the probe waits for it, and past the
    /// timeout it is dead — two unanswered probes in a row, which is how a tab whose timers
    /// Chromium throttles to once a minute (every tick a wake-up) still notices a dead link.
    pub fn probe(&mut self, now_ms: f64) -> Beat {
        self.last_check_ms = Some(now_ms);
        if let (Some(since), true) = (self.awaiting_since_ms, self.probe_in_flight) {
            let waited_ms = now_ms - since;
            if waited_ms > f64::from(self.policy.timeout_ms) {
                return Beat::Dead { waited_ms };
            }
            return Beat::Idle;
        }
        let beat = self.send_ping(now_ms);
        self.probe_in_flight = true;
        beat
    }

    /// Record an inbound frame of any kind: the link is alive.
    pub fn on_frame(&mut self, now_ms: f64) {
        if self.policy.inbound_postpones_ping {
            self.last_activity_ms = now_ms;
        }
        self.awaiting_since_ms = None;
        self.probe_in_flight = false;
    }

    /// Record the pong for ping `id`, returning the round-trip time if it answers the latest ping.
    pub fn on_pong(&mut self, id: u64, now_ms: f64) -> Option<f64> {
        self.on_answer(PongMatch::Id(id), now_ms)
    }

    /// Record a heartbeat answer, returning the round-trip time if it answers the latest ping.
    pub fn on_answer(&mut self, answer: PongMatch, now_ms: f64) -> Option<f64> {
        self.on_frame(now_ms);
        let (expected, sent_at) = self.in_flight?;
        if answer != PongMatch::Latest && answer != PongMatch::Id(expected) {
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
        self.probe_in_flight = false;
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
    #[serde(default)]
    id: Option<u64>,
}

/// The ping id carried by a pong frame, or `None` for any other frame (and for a pong without
/// an id: see [`PingFormat::answer`]).
pub fn pong_id(frame: &str) -> Option<u64> {
    match protocol_pong(frame)? {
        PongMatch::Id(id) => Some(id),
        PongMatch::Latest => None,
    }
}

/// A `{"type":"pong"}` frame of the protocol: with its `id`, or answering the latest ping.
fn protocol_pong(frame: &str) -> Option<PongMatch> {
    // Every inbound frame passes through here: skip the JSON parse for ordinary traffic.
    if super::decode::surely_not(frame, &["pong"])
        || !frame.contains("pong")
        || !super::is_json_object(frame)
    {
        return None;
    }
    let pong: Pong = serde_json::from_str(frame).ok()?;
    if pong.kind != "pong" {
        return None;
    }
    Some(pong.id.map_or(PongMatch::Latest, PongMatch::Id))
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
    fn item_04_a_throttled_tab_whose_every_tick_is_a_wake_up_still_notices_a_dead_link() {
        // Chromium's intensive throttling runs timers once a minute: every tick looks like a
        // wake-up and probes. Two unanswered probes in a row must count as dead.
        let mut silent = fresh();
        let mut alive = fresh();
        let mut dead_at = None;
        for minute in 1..=10 {
            let now = f64::from(minute) * 60_000.0;
            if let Beat::Dead { waited_ms } = silent.probe(now) {
                dead_at = Some((now, waited_ms));
                break;
            }
            if let Beat::SendPing { id } = alive.probe(now) {
                assert!(alive.on_pong(id, now + 80.0).is_some());
            } else {
                panic!("an answered link must be probed, not declared dead");
            }
        }
        assert_eq!(
            dead_at,
            Some((120_000.0, 60_000.0)),
            "dead at the second probe"
        );
    }

    #[test]
    fn item_04_a_wake_up_right_after_a_probe_keeps_the_probe_in_flight() {
        let mut l = fresh();
        assert_eq!(l.probe(1_000.0), Beat::SendPing { id: 1 });
        // `online` and `visibilitychange` fire together: no second ping, no early verdict.
        assert_eq!(l.probe(1_100.0), Beat::Idle);
        assert_eq!(l.on_pong(1, 1_150.0), Some(150.0));
        assert_eq!(l.probe(2_000.0), Beat::SendPing { id: 2 });
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

    #[test]
    fn item_09_the_ping_and_its_answer_are_options_and_echoes_count_as_answers() {
        let protocol = PingFormat::Protocol;
        assert_eq!(
            protocol.answer(r#"{"type":"pong","id":3}"#, None),
            Some(PongMatch::Id(3))
        );
        // A bare pong (seed-style servers) answers the latest ping instead of being a message.
        assert_eq!(
            protocol.answer(r#"{"type":"pong"}"#, None),
            Some(PongMatch::Latest)
        );
        assert_eq!(protocol.answer(r#"{"type":"message"}"#, None), None);
        // An echo server sends the ping back verbatim: that is its answer.
        let ping = protocol.ping(4, 1_000.0);
        assert_eq!(protocol.answer(&ping, Some(&ping)), Some(PongMatch::Latest));
        let text = PingFormat::Text {
            ping: "ping".into(),
            pong: "pong".into(),
        };
        assert_eq!(text.ping(1, 0.0), "ping");
        assert_eq!(text.answer("pong", Some("ping")), Some(PongMatch::Latest));
        assert_eq!(text.answer("pong!", Some("ping")), None);
        let custom = PingFormat::Custom {
            ping: |id, _| format!("PING {id}"),
            pong: |frame| frame.strip_prefix("PONG ")?.parse().ok().map(PongMatch::Id),
        };
        assert_eq!(custom.ping(9, 0.0), "PING 9");
        assert_eq!(custom.answer("PONG 9", None), Some(PongMatch::Id(9)));
        assert_eq!(custom.answer("PONG x", None), None);
        let mut l = fresh();
        l.tick(30_000.0);
        assert_eq!(l.on_answer(PongMatch::Latest, 30_020.0), Some(20.0));
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
