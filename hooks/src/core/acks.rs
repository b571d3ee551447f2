//! Acknowledged sends: a message with a `clientId` is kept until the server's `ack` for it
//! arrives, not just until the browser took it.
//!
//! The engine tells the tracker when a tracked message goes on the wire ([`AckTracker::sent`]),
//! when an ack arrives ([`AckTracker::acked`]) and when the link is lost
//! ([`AckTracker::link_lost`]: every message on the wire without an ack is sent again, with the
//! same `clientId`, after the next open; the server acks a repeat without broadcasting it
//! again). A message without an ack [`AckPolicy::timeout_ms`] after it went out on an open link,
//! or sent [`AckPolicy::max_sends`] times, fails visibly ([`AckFailure`]) and is not retried
//! on its own; [`AckTracker::retry`] sends it again under the same id.

use std::collections::VecDeque;
use std::fmt;

use super::decimal::Fixed;

/// How long to wait for acks, and how often to try.
#[derive(Clone, Debug, PartialEq)]
pub struct AckPolicy {
    /// A message on an open link without its ack after this long has failed. Default: 10 s.
    pub timeout_ms: f64,
    /// A message sent this many times (reconnects in between) without an ack has failed.
    /// Default: 4.
    pub max_sends: u32,
    /// Messages waiting for an ack at most; more are refused. Default: 1,000.
    pub capacity: usize,
}

impl Default for AckPolicy {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000.0,
            max_sends: 4,
            capacity: 1_000,
        }
    }
}

/// Why a message was given up on.
#[derive(Clone, Debug, PartialEq)]
pub enum AckFailure {
    /// No ack this long after it was sent on an open link.
    TimedOut {
        /// How long we waited, in milliseconds.
        after_ms: f64,
    },
    /// Sent this many times, across reconnects, without an ack.
    TooManySends {
        /// How many times it was sent.
        sends: u32,
    },
}

impl fmt::Display for AckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut { after_ms } => write!(
                f,
                "not confirmed by the server within {} s",
                Fixed(after_ms / 1000.0, 0)
            ),
            Self::TooManySends { sends } => {
                write!(f, "not confirmed after {sends} attempts")
            }
        }
    }
}

/// One message waiting for its ack (or failed).
#[derive(Clone, Debug, PartialEq)]
pub struct PendingSend {
    /// The id the server acks it by.
    pub client_id: String,
    /// The frame as sent.
    pub text: String,
    /// Times it went on the wire.
    pub sends: u32,
    /// When it last went on the wire on the current link (`performance.now()`), if it did.
    pub sent_at: Option<f64>,
    /// Set once it is given up on.
    pub failed: Option<AckFailure>,
}

/// What [`AckTracker::link_lost`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkLost {
    /// `(clientId, frame)` to send again after the next open, oldest first.
    pub resend: Vec<(String, String)>,
    /// `(clientId, why)` given up on.
    pub failed: Vec<(String, AckFailure)>,
}

/// The messages waiting for acks, in send order.
#[derive(Clone, Debug, Default)]
pub struct AckTracker {
    policy: AckPolicy,
    pending: VecDeque<PendingSend>,
}

impl AckTracker {
    /// An empty tracker.
    pub fn new(policy: AckPolicy) -> Self {
        Self {
            policy,
            pending: VecDeque::new(),
        }
    }

    /// Starts tracking `text` under `client_id`; `false` when the tracker is full (the caller
    /// refuses the send) or the id is already tracked.
    pub fn track(&mut self, client_id: &str, text: &str) -> bool {
        let live = self.pending.iter().filter(|p| p.failed.is_none()).count();
        if live >= self.policy.capacity || self.find(client_id).is_some() {
            return false;
        }
        self.pending.push_back(PendingSend {
            client_id: client_id.to_owned(),
            text: text.to_owned(),
            sends: 0,
            sent_at: None,
            failed: None,
        });
        true
    }

    fn find(&self, client_id: &str) -> Option<usize> {
        self.pending.iter().position(|p| p.client_id == client_id)
    }

    /// `client_id` went on the wire at `now_ms`.
    pub fn sent(&mut self, client_id: &str, now_ms: f64) {
        if let Some(i) = self.find(client_id) {
            let p = &mut self.pending[i];
            p.sends += 1;
            p.sent_at = Some(now_ms);
        }
    }

    /// The ack for `client_id` arrived: stops tracking it; `None` if it was not tracked (an ack
    /// for another tab of the same user, or one that already failed and was forgotten).
    pub fn acked(&mut self, client_id: &str) -> Option<PendingSend> {
        let i = self.find(client_id)?;
        self.pending.remove(i)
    }

    /// The link is gone: the frames to send again after the next open, in their original order
    /// (with their ids). A message that has been sent `max_sends` times fails instead.
    pub fn link_lost(&mut self) -> LinkLost {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        for p in self.pending.iter_mut().filter(|p| p.failed.is_none()) {
            if p.sent_at.take().is_none() {
                // Still in the send queue: it goes out with the queue.
                continue;
            }
            if p.sends >= self.policy.max_sends {
                let failure = AckFailure::TooManySends { sends: p.sends };
                p.failed = Some(failure.clone());
                failed.push((p.client_id.clone(), failure));
            } else {
                resend.push((p.client_id.clone(), p.text.clone()));
            }
        }
        LinkLost { resend, failed }
    }

    /// Messages whose ack is overdue at `now_ms` fail (returned once each).
    pub fn expire(&mut self, now_ms: f64) -> Vec<(String, AckFailure)> {
        let timeout = self.policy.timeout_ms;
        let mut failed = Vec::new();
        for p in self.pending.iter_mut().filter(|p| p.failed.is_none()) {
            if p.sent_at.is_some_and(|at| now_ms - at >= timeout) {
                let failure = AckFailure::TimedOut { after_ms: timeout };
                p.sent_at = None;
                p.failed = Some(failure.clone());
                failed.push((p.client_id.clone(), failure));
            }
        }
        failed
    }

    /// A failed message, to send again under the same id (so a server that did get it the first
    /// time only acks it); `None` if `client_id` is not a failed message.
    pub fn retry(&mut self, client_id: &str) -> Option<String> {
        let i = self.find(client_id)?;
        let p = &mut self.pending[i];
        p.failed.as_ref()?;
        p.failed = None;
        p.sends = 0;
        Some(p.text.clone())
    }

    /// Forgets the newest tracked message if it never went out (its send was refused).
    pub fn forget_unsent(&mut self) {
        if self.pending.back().is_some_and(|p| p.sends == 0) {
            self.pending.pop_back();
        }
    }

    /// Stops tracking `client_id` (a failed message the user dismissed).
    pub fn forget(&mut self, client_id: &str) -> bool {
        self.find(client_id)
            .and_then(|i| self.pending.remove(i))
            .is_some()
    }

    /// Whether any message on the wire waits for its ack (the engine checks timeouts meanwhile).
    pub fn waiting_on_wire(&self) -> bool {
        self.pending
            .iter()
            .any(|p| p.failed.is_none() && p.sent_at.is_some())
    }

    /// Every tracked message, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &PendingSend> {
        self.pending.iter()
    }

    /// Messages waiting (not failed).
    pub fn waiting(&self) -> usize {
        self.pending.iter().filter(|p| p.failed.is_none()).count()
    }
}

/// `json` (an object, as serialized) with `"clientId": client_id` as its first field; `None` for
/// anything that is not an object. The id must need no escaping (the engine's ids are hex, `-`
/// and digits); the object must not carry a `clientId` of its own.
pub fn with_client_id(json: &str, client_id: &str) -> Option<String> {
    let body = json.trim_start().strip_prefix('{')?;
    let rest = body.trim_start();
    let separator = if rest.starts_with('}') { "" } else { "," };
    Some(format!("{{\"clientId\":\"{client_id}\"{separator}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_id_goes_into_the_object() {
        assert_eq!(
            with_client_id(r#"{"type":"message","text":"hi"}"#, "ab-1").as_deref(),
            Some(r#"{"clientId":"ab-1","type":"message","text":"hi"}"#)
        );
        assert_eq!(
            with_client_id("{}", "x").as_deref(),
            Some(r#"{"clientId":"x"}"#)
        );
        assert_eq!(with_client_id("[1]", "x"), None);
        assert_eq!(with_client_id("\"s\"", "x"), None);
    }

    fn tracker() -> AckTracker {
        AckTracker::new(AckPolicy {
            timeout_ms: 1_000.0,
            max_sends: 2,
            capacity: 3,
        })
    }

    #[test]
    fn a_message_is_kept_until_its_ack() {
        let mut t = tracker();
        assert!(t.track("c1", "{1}"));
        assert!(!t.track("c1", "{1}"), "an id is tracked once");
        t.sent("c1", 0.0);
        assert!(t.waiting_on_wire());
        assert_eq!(t.acked("c1").map(|p| p.sends), Some(1));
        assert_eq!(t.waiting(), 0);
        assert_eq!(t.acked("c1"), None, "a second ack is ignored");
    }

    #[test]
    fn a_lost_link_resends_what_was_on_the_wire_in_order_then_gives_up() {
        let mut t = tracker();
        t.track("a", "A");
        t.track("b", "B");
        t.track("queued", "Q");
        t.sent("a", 0.0);
        t.sent("b", 1.0);
        let LinkLost { resend, failed } = t.link_lost();
        assert_eq!(
            resend,
            [
                ("a".to_owned(), "A".to_owned()),
                ("b".to_owned(), "B".to_owned())
            ],
            "the queued one goes out with the queue"
        );
        assert!(failed.is_empty());
        t.sent("a", 10.0);
        t.acked("b");
        let LinkLost { resend, failed } = t.link_lost();
        assert!(resend.is_empty());
        assert_eq!(
            failed,
            [("a".to_owned(), AckFailure::TooManySends { sends: 2 })]
        );
        assert_eq!(t.waiting(), 1, "only the queued one is still waiting");
    }

    #[test]
    fn an_overdue_ack_fails_once_and_can_be_retried_under_the_same_id() {
        let mut t = tracker();
        t.track("a", "A");
        assert!(
            t.expire(5_000.0).is_empty(),
            "not on the wire: no clock runs"
        );
        t.sent("a", 100.0);
        assert!(t.expire(1_099.0).is_empty());
        let failed = t.expire(1_100.0);
        assert_eq!(
            failed,
            [("a".to_owned(), AckFailure::TimedOut { after_ms: 1_000.0 })]
        );
        assert!(t.expire(9_000.0).is_empty(), "reported once");
        assert_eq!(
            failed[0].1.to_string(),
            "not confirmed by the server within 1 s"
        );
        assert_eq!(t.retry("a").as_deref(), Some("A"));
        assert_eq!(t.retry("a"), None, "only a failed message is retried");
        assert!(t.forget("a"));
    }

    #[test]
    fn the_tracker_is_bounded() {
        let mut t = tracker();
        assert!(t.track("a", "A") && t.track("b", "B") && t.track("c", "C"));
        assert!(!t.track("d", "D"));
        t.acked("a");
        assert!(t.track("d", "D"));
    }
}
