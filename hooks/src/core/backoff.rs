//! Reconnect timing: capped exponential backoff with optional full jitter.
//!
//! Attempt `0` is the first retry after a drop. Its ceiling is `base_delay_ms`, and every further
//! attempt doubles it up to `max_delay_ms`. With [`Jitter::Full`] the actual delay is drawn
//! uniformly from `[0, ceiling]` so that many clients dropped by the same server restart do not
//! all come back in the same millisecond.

/// How the actual delay is drawn below the ceiling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` (the default): spreads a thundering herd of reconnects.
    #[default]
    Full,
    /// Exactly the ceiling: predictable, useful in tests and for a single client.
    None,
}

/// When and how often to try reconnecting.
// Clone, not Copy: the hooks keep policies in options structs and clone them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Ceiling of the first retry. Default 1000 ms.
    pub base_delay_ms: u32,
    /// No ceiling exceeds this. Default 30000 ms.
    pub max_delay_ms: u32,
    /// Give up after this many attempts; `None` (the default) retries forever.
    pub max_attempts: Option<u32>,
    /// The attempt counter resets only after the link stayed open this long, so a server that
    /// accepts and immediately drops connections still gets exponential backoff. Default 5000 ms.
    pub stable_after_ms: u32,
    /// How the delay is drawn below the ceiling. Default [`Jitter::Full`].
    pub jitter: Jitter,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            base_delay_ms: 1000,
            max_delay_ms: 30_000,
            max_attempts: None,
            stable_after_ms: 5000,
            jitter: Jitter::Full,
        }
    }
}

impl ReconnectPolicy {
    /// Upper bound of the delay before `attempt`: `min(max_delay_ms, base_delay_ms · 2^attempt)`.
    pub fn ceiling_ms(&self, attempt: u32) -> u32 {
        let cap = u64::from(self.max_delay_ms);
        // Past 2^63 the product saturates anyway; u64 keeps base · 2^31 exact.
        let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
        let ceiling = u64::from(self.base_delay_ms)
            .saturating_mul(factor)
            .min(cap);
        u32::try_from(ceiling).unwrap_or(self.max_delay_ms)
    }

    /// Delay before `attempt`, drawing from `unit` (clamped to `[0, 1)`; NaN counts as 0).
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u32 {
        let ceiling = self.ceiling_ms(attempt);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => {
                let unit = if unit.is_nan() {
                    0.0
                } else {
                    unit.clamp(0.0, 1.0)
                };
                // ceiling + 1 buckets make every integer in [0, ceiling] equally likely.
                let drawn = (unit * (f64::from(ceiling) + 1.0)).floor();
                (drawn as u32).min(ceiling)
            }
        }
    }

    /// Whether to stop retrying after `attempts_made` failed attempts.
    pub fn should_give_up(&self, attempts_made: u32) -> bool {
        self.max_attempts.is_some_and(|max| attempts_made >= max)
    }

    /// The attempt counter to keep once a link that was open for `open_for_ms` closes again.
    pub fn attempts_after_open(&self, attempts: u32, open_for_ms: f64) -> u32 {
        if open_for_ms >= f64::from(self.stable_after_ms) {
            0
        } else {
            attempts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact() -> ReconnectPolicy {
        ReconnectPolicy {
            jitter: Jitter::None,
            ..ReconnectPolicy::default()
        }
    }

    #[test]
    fn defaults_are_one_second_base_thirty_second_cap_forever_full_jitter() {
        let p = ReconnectPolicy::default();
        assert_eq!(
            (p.base_delay_ms, p.max_delay_ms, p.stable_after_ms),
            (1000, 30_000, 5000)
        );
        assert_eq!(p.max_attempts, None);
        assert_eq!(p.jitter, Jitter::Full);
    }

    #[test]
    fn reconnect_delays_grow_and_never_exceed_cap() {
        let delays: Vec<u32> = (0..8).map(|a| exact().delay_ms(a, 0.5)).collect();
        assert_eq!(
            delays,
            [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        );
    }

    #[test]
    fn ceiling_does_not_overflow_for_any_attempt() {
        for attempt in [31, 32, 33, 63, 64, 65, u32::MAX] {
            assert_eq!(exact().ceiling_ms(attempt), 30_000);
        }
        let huge = ReconnectPolicy {
            base_delay_ms: u32::MAX,
            max_delay_ms: u32::MAX,
            ..exact()
        };
        assert_eq!(huge.ceiling_ms(u32::MAX), u32::MAX);
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.delay_ms(3, 0.0), 0);
        assert_eq!(p.delay_ms(3, 0.999_999_9), 8000);
    }

    #[test]
    fn nan_and_out_of_range_units_are_clamped() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.delay_ms(2, f64::NAN), 0);
        assert_eq!(p.delay_ms(2, -3.0), 0);
        assert_eq!(p.delay_ms(2, 7.0), 4000);
        assert_eq!(p.delay_ms(2, f64::INFINITY), 4000);
    }

    #[test]
    fn gives_up_only_after_max_attempts_and_never_by_default() {
        let p = ReconnectPolicy {
            max_attempts: Some(3),
            ..ReconnectPolicy::default()
        };
        assert!(!p.should_give_up(2));
        assert!(p.should_give_up(3));
        assert!(!ReconnectPolicy::default().should_give_up(u32::MAX));
    }

    #[test]
    fn attempt_counter_resets_only_after_the_link_stayed_open_long_enough() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.attempts_after_open(4, 4999.9), 4);
        assert_eq!(p.attempts_after_open(4, 5000.0), 0);
        assert_eq!(p.attempts_after_open(4, f64::NAN), 4);
    }

    #[test]
    fn mean_of_full_jitter_is_half_the_ceiling() {
        let p = ReconnectPolicy::default();
        let n = 10_000;
        let sum: f64 = (0..n)
            .map(|i| f64::from(p.delay_ms(4, f64::from(i) / f64::from(n))))
            .sum();
        let mean = sum / f64::from(n);
        assert!((mean - 8000.0).abs() < 80.0, "mean {mean}");
    }

    proptest! {
        #[test]
        fn delay_is_within_ceiling_within_cap(
            base in 0u32..=u32::MAX, cap in 0u32..=u32::MAX, attempt in 0u32..=u32::MAX,
            unit in proptest::num::f64::ANY, full in any::<bool>(),
        ) {
            let jitter = if full { Jitter::Full } else { Jitter::None };
            let p = ReconnectPolicy { base_delay_ms: base, max_delay_ms: cap, jitter, ..exact() };
            let ceiling = p.ceiling_ms(attempt);
            prop_assert!(p.delay_ms(attempt, unit) <= ceiling);
            prop_assert!(ceiling <= cap);
        }

        #[test]
        fn ceiling_is_monotonic_non_decreasing(
            base in 0u32..100_000, cap in 0u32..=u32::MAX, attempt in 0u32..100,
        ) {
            let p = ReconnectPolicy { base_delay_ms: base, max_delay_ms: cap, ..exact() };
            prop_assert!(p.ceiling_ms(attempt) <= p.ceiling_ms(attempt + 1));
        }
    }
}
