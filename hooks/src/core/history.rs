//! Bounded message history: the newest `capacity` messages, oldest evicted first.
//!
//! A chat left open for a day must not grow without bound, and evicting from a `Vec` front
//! would be O(n) per message; a `VecDeque` makes every push O(1) amortised.

use std::collections::VecDeque;

/// The newest messages, up to a fixed capacity, with lifetime counters.
#[derive(Clone, Debug, PartialEq)]
pub struct History<T> {
    items: VecDeque<T>,
    capacity: usize,
    received: u64,
    evicted: u64,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl<T> History<T> {
    /// Capacity used by [`History::default`].
    pub const DEFAULT_CAPACITY: usize = 500;

    /// An empty history keeping at most `capacity` messages (0 keeps none but still counts).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity,
            received: 0,
            evicted: 0,
        }
    }

    /// Append `item`, evicting the oldest message once past capacity.
    pub fn push(&mut self, item: T) {
        self.received += 1;
        if self.capacity == 0 {
            self.evicted += 1;
            return;
        }
        if self.items.len() >= self.capacity {
            self.items.pop_front();
            self.evicted += 1;
        }
        self.items.push_back(item);
    }

    /// Iterate oldest first.
    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.items.iter()
    }

    /// The newest message.
    pub fn latest(&self) -> Option<&T> {
        self.items.back()
    }

    /// Number of messages kept.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no message is kept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Maximum number of messages kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Total messages ever pushed, including evicted and cleared ones.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Messages evicted because the history was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forget all kept messages; the lifetime counters stay, since they describe the stream.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

impl<T> Extend<T> for History<T> {
    /// Push every item in order.
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.push(item);
        }
    }
}

impl<'a, T> IntoIterator for &'a History<T> {
    type Item = &'a T;
    type IntoIter = std::collections::vec_deque::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_thousand_pushes_keep_the_last_five_hundred_in_order() {
        let mut h = History::default();
        h.extend(0..10_000u32);
        assert_eq!(h.len(), 500);
        assert!(h.iter().copied().eq(9_500..10_000));
        assert_eq!((h.received(), h.evicted()), (10_000, 9_500));
        assert_eq!(h.latest(), Some(&9_999));
    }

    #[test]
    fn clear_forgets_messages_but_keeps_counters() {
        let mut h = History::new(2);
        h.extend(["a", "b", "c"]);
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.latest(), None);
        assert_eq!((h.received(), h.evicted(), h.capacity()), (3, 1, 2));
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_counts() {
        let mut h = History::new(0);
        h.push(1);
        assert!(h.is_empty());
        assert_eq!((h.received(), h.evicted()), (1, 1));
    }

    proptest! {
        #[test]
        fn keeps_exactly_the_newest_capacity_items(n in 0usize..300, capacity in 0usize..50) {
            let mut h = History::new(capacity);
            h.extend(0..n);
            let kept = n.min(capacity);
            prop_assert!(h.iter().copied().eq(n - kept..n));
            prop_assert_eq!(h.evicted(), (n - kept) as u64);
            prop_assert_eq!(h.received(), n as u64);
        }
    }
}
