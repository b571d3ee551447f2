//! Leading + trailing throttle for frequent sends such as cursor moves.
//!
//! The first value in a quiet period goes out at once (leading edge, so the UI feels instant);
//! values offered within `interval_ms` of the last send replace one pending value that goes out
//! when the interval has passed (trailing edge, so the final position is never lost).
//!
//! Typical wiring: on [`Offer::Deferred`] arm a timer for `flush_at_ms` (if none is armed), and
//! when it fires call [`Throttle::flush_due`] and send what it returns.

/// The outcome of [`Throttle::offer`].
#[derive(Clone, Debug, PartialEq)]
pub enum Offer<T> {
    /// Send this value now; the send time has been recorded.
    SendNow(T),
    /// The value is pending; call [`Throttle::flush_due`] at `flush_at_ms`.
    Deferred {
        /// When the pending value may be sent (`performance.now()` milliseconds).
        flush_at_ms: f64,
    },
}

/// Leading + trailing throttle holding at most one pending value.
#[derive(Clone, Debug)]
pub struct Throttle<T> {
    interval_ms: f64,
    last_sent_ms: Option<f64>,
    pending: Option<T>,
}

impl<T> Throttle<T> {
    /// A throttle allowing one send per `interval_ms` (negative or NaN means no throttling).
    pub fn new(interval_ms: f64) -> Self {
        let interval_ms = if interval_ms > 0.0 { interval_ms } else { 0.0 };
        Self {
            interval_ms,
            last_sent_ms: None,
            pending: None,
        }
    }

    /// The minimum time between two sends.
    pub fn interval_ms(&self) -> f64 {
        self.interval_ms
    }

    /// Offer a value at `now_ms`: send it now if the window is open, else make it the pending one.
    pub fn offer(&mut self, now_ms: f64, value: T) -> Offer<T> {
        match self.next_send_at() {
            Some(flush_at_ms) if now_ms < flush_at_ms => {
                self.pending = Some(value);
                Offer::Deferred { flush_at_ms }
            }
            _ => {
                // A pending value is older than this one; sending it as well would waste a slot.
                self.pending = None;
                self.last_sent_ms = Some(now_ms);
                Offer::SendNow(value)
            }
        }
    }

    /// Take the pending value if its time has come, recording `now_ms` as the send time.
    pub fn flush_due(&mut self, now_ms: f64) -> Option<T> {
        if self.next_send_at().is_some_and(|at| now_ms < at) {
            return None;
        }
        let value = self.pending.take()?;
        self.last_sent_ms = Some(now_ms);
        Some(value)
    }

    /// When the pending value is due, if there is one.
    pub fn next_flush_at(&self) -> Option<f64> {
        self.pending.as_ref().and(self.next_send_at())
    }

    /// The value waiting for the trailing edge.
    pub fn pending(&self) -> Option<&T> {
        self.pending.as_ref()
    }

    /// Remove the pending value without recording a send (e.g. the socket closed).
    pub fn take_pending(&mut self) -> Option<T> {
        self.pending.take()
    }

    fn next_send_at(&self) -> Option<f64> {
        self.last_sent_ms.map(|t| t + self.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_offer_sends_now_and_later_ones_in_the_window_wait() {
        let mut t = Throttle::new(100.0);
        assert_eq!(t.offer(0.0, 1), Offer::SendNow(1));
        assert_eq!(t.offer(10.0, 2), Offer::Deferred { flush_at_ms: 100.0 });
        assert_eq!(t.offer(20.0, 3), Offer::Deferred { flush_at_ms: 100.0 });
        assert_eq!(t.pending(), Some(&3));
        assert_eq!(t.next_flush_at(), Some(100.0));
    }

    #[test]
    fn flush_sends_only_the_latest_value_once_due() {
        let mut t = Throttle::new(100.0);
        t.offer(0.0, 1);
        t.offer(10.0, 2);
        t.offer(20.0, 3);
        assert_eq!(t.flush_due(99.0), None);
        assert_eq!(t.flush_due(100.0), Some(3));
        assert_eq!(t.flush_due(500.0), None);
        assert_eq!(t.offer(150.0, 4), Offer::Deferred { flush_at_ms: 200.0 });
    }

    #[test]
    fn an_offer_after_a_missed_flush_supersedes_the_pending_value() {
        let mut t = Throttle::new(100.0);
        t.offer(0.0, 1);
        t.offer(10.0, 2);
        assert_eq!(t.offer(300.0, 3), Offer::SendNow(3));
        assert_eq!(t.pending(), None);
    }

    #[test]
    fn take_pending_does_not_count_as_a_send() {
        let mut t = Throttle::new(100.0);
        t.offer(0.0, 1);
        t.offer(10.0, 2);
        assert_eq!(t.take_pending(), Some(2));
        assert_eq!(t.flush_due(200.0), None);
        assert_eq!(t.offer(200.0, 3), Offer::SendNow(3));
    }

    #[test]
    fn zero_or_nan_interval_sends_everything() {
        let mut t = Throttle::new(f64::NAN);
        assert_eq!(t.interval_ms(), 0.0);
        assert_eq!(t.offer(0.0, 1), Offer::SendNow(1));
        assert_eq!(t.offer(0.0, 2), Offer::SendNow(2));
    }

    proptest! {
        #[test]
        fn at_most_one_send_per_interval_and_the_last_value_is_always_sent(
            mut times in proptest::collection::vec(0u32..10_000, 1..100),
            interval in 1u32..500,
        ) {
            times.sort_unstable();
            let interval = f64::from(interval);
            let mut t = Throttle::new(interval);
            let mut timer: Option<f64> = None;
            let mut sends: Vec<(f64, usize)> = Vec::new();
            for (value, &at) in times.iter().enumerate() {
                let now = f64::from(at);
                if let Some(due) = timer.filter(|&due| due <= now) {
                    timer = None;
                    sends.extend(t.flush_due(due).map(|v| (due, v)));
                }
                match t.offer(now, value) {
                    Offer::SendNow(v) => sends.push((now, v)),
                    Offer::Deferred { flush_at_ms } => timer = timer.or(Some(flush_at_ms)),
                }
            }
            if let Some(due) = timer {
                sends.extend(t.flush_due(due).map(|v| (due, v)));
            }
            for pair in sends.windows(2) {
                prop_assert!(pair[1].0 - pair[0].0 >= interval, "sends {:?}", sends);
            }
            prop_assert_eq!(sends.last().map(|s| s.1), Some(times.len() - 1));
            prop_assert_eq!(t.pending(), None);
        }
    }
}
