//! Bounded queue for messages sent while the socket is not open.
//!
//! The hook sends directly when the socket is open and only calls [`Outbox::push`] otherwise, then
//! flushes on `open`. Nothing is dropped silently: a full queue returns [`OutboxError::Full`] and
//! counts it in [`Outbox::overflowed`]; [`SendPolicy::DropWhileOffline`] counts in
//! [`Outbox::dropped`].

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// What to do with a message that cannot be sent right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SendPolicy {
    /// Queue it (the default).
    #[default]
    Keep,
    /// Replace a still-queued message with the same key in place, so only the newest value is
    /// sent but at the position of the first one (e.g. `"cursor"` or `"typing:room"`).
    LatestWins(String),
    /// Discard it: only meaningful while connected (e.g. ephemeral pings).
    DropWhileOffline,
}

/// The outcome of a successful [`Outbox::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Appended at the back.
    Added,
    /// Replaced a queued message with the same [`SendPolicy::LatestWins`] key.
    Replaced,
    /// Discarded because of [`SendPolicy::DropWhileOffline`].
    Dropped,
}

/// Why [`Outbox::push`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxError {
    /// The queue already holds `capacity` messages.
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
}

impl fmt::Display for OutboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity } => write!(f, "send queue full ({capacity} messages waiting)"),
        }
    }
}

impl std::error::Error for OutboxError {}

#[derive(Clone, Debug)]
struct Slot<T> {
    item: T,
    key: Option<String>,
}

/// A bounded FIFO of unsent messages.
#[derive(Clone, Debug)]
pub struct Outbox<T> {
    slots: VecDeque<Slot<T>>,
    /// Sequence number of `slots[0]`; slot `i` has sequence `head + i` (wrapping), which turns a
    /// key's sequence into its index in O(1) without rescanning on every pop.
    head: u64,
    keys: HashMap<String, u64>,
    capacity: usize,
    overflowed: u64,
    dropped: u64,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl<T> Outbox<T> {
    /// Capacity used by [`Outbox::default`].
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// An empty queue holding at most `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: VecDeque::new(),
            head: 0,
            keys: HashMap::new(),
            capacity,
            overflowed: 0,
            dropped: 0,
        }
    }

    /// Queue `item` according to `policy`.
    pub fn push(&mut self, item: T, policy: &SendPolicy) -> Result<Queued, OutboxError> {
        let key = match policy {
            SendPolicy::DropWhileOffline => {
                self.dropped += 1;
                return Ok(Queued::Dropped);
            }
            SendPolicy::Keep => None,
            SendPolicy::LatestWins(key) => {
                let index = self
                    .keys
                    .get(key)
                    .map(|seq| seq.wrapping_sub(self.head) as usize);
                if let Some(slot) = index.and_then(|i| self.slots.get_mut(i)) {
                    slot.item = item;
                    return Ok(Queued::Replaced);
                }
                Some(key.clone())
            }
        };
        if self.slots.len() >= self.capacity {
            self.overflowed += 1;
            return Err(OutboxError::Full {
                capacity: self.capacity,
            });
        }
        if let Some(key) = &key {
            let seq = self.head.wrapping_add(self.slots.len() as u64);
            self.keys.insert(key.clone(), seq);
        }
        self.slots.push_back(Slot { item, key });
        Ok(Queued::Added)
    }

    /// Remove the oldest message (for a flush that sends one at a time).
    pub fn pop_front(&mut self) -> Option<T> {
        let slot = self.slots.pop_front()?;
        self.head = self.head.wrapping_add(1);
        if let Some(key) = slot.key {
            self.keys.remove(&key);
        }
        Some(slot.item)
    }

    /// Remove and yield every message, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.keys.clear();
        self.head = self.head.wrapping_add(self.slots.len() as u64);
        self.slots.drain(..).map(|slot| slot.item)
    }

    /// Put back the unsent rest of a failed flush, in front and in order.
    ///
    /// These may exceed the capacity (they were accepted once and are never dropped), and they
    /// no longer take part in [`SendPolicy::LatestWins`] replacement: a newer value with the same
    /// key is queued behind them, so it still arrives last.
    pub fn push_front_all(&mut self, items: Vec<T>) {
        for item in items.into_iter().rev() {
            self.head = self.head.wrapping_sub(1);
            self.slots.push_front(Slot { item, key: None });
        }
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Maximum number of messages [`Outbox::push`] accepts.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many pushes were refused because the queue was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// How many messages [`SendPolicy::DropWhileOffline`] discarded.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn latest(key: &str) -> SendPolicy {
        SendPolicy::LatestWins(key.to_owned())
    }

    #[test]
    fn full_queue_refuses_and_counts_instead_of_dropping() {
        let mut q = Outbox::new(2);
        assert_eq!(q.push(1, &SendPolicy::Keep), Ok(Queued::Added));
        assert_eq!(q.push(2, &SendPolicy::Keep), Ok(Queued::Added));
        assert_eq!(
            q.push(3, &SendPolicy::Keep),
            Err(OutboxError::Full { capacity: 2 })
        );
        assert_eq!((q.overflowed(), q.len()), (1, 2));
        assert_eq!(q.drain().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            OutboxError::Full { capacity: 2 }.to_string(),
            "send queue full (2 messages waiting)"
        );
    }

    #[test]
    fn latest_wins_replaces_in_place_even_when_full() {
        let mut q = Outbox::new(3);
        q.push("a", &SendPolicy::Keep).ok();
        q.push("cursor 1", &latest("cursor")).ok();
        q.push("b", &SendPolicy::Keep).ok();
        assert_eq!(q.push("cursor 2", &latest("cursor")), Ok(Queued::Replaced));
        assert_eq!(q.drain().collect::<Vec<_>>(), ["a", "cursor 2", "b"]);
    }

    #[test]
    fn drop_while_offline_discards_and_counts() {
        let mut q = Outbox::<u8>::default();
        assert_eq!(q.capacity(), Outbox::<u8>::DEFAULT_CAPACITY);
        assert_eq!(
            q.push(1, &SendPolicy::DropWhileOffline),
            Ok(Queued::Dropped)
        );
        assert!(q.is_empty());
        assert_eq!(q.dropped(), 1);
    }

    #[test]
    fn failed_flush_puts_the_rest_back_in_front_in_order() {
        let mut q = Outbox::new(10);
        for i in 1..=4 {
            q.push(i, &SendPolicy::Keep).ok();
        }
        let mut sent = q.drain();
        assert_eq!(sent.next(), Some(1));
        let rest: Vec<i32> = sent.collect();
        q.push(5, &SendPolicy::Keep).ok();
        q.push_front_all(rest);
        assert_eq!(q.drain().collect::<Vec<_>>(), [2, 3, 4, 5]);
    }

    #[test]
    fn keys_stay_addressable_after_pops_and_requeues() {
        let mut q = Outbox::new(10);
        q.push(0, &SendPolicy::Keep).ok();
        q.push(1, &latest("k")).ok();
        assert_eq!(q.pop_front(), Some(0));
        q.push_front_all(vec![7, 8]);
        assert_eq!(q.push(2, &latest("k")), Ok(Queued::Replaced));
        assert_eq!(q.pop_front(), Some(7));
        assert_eq!(q.pop_front(), Some(8));
        assert_eq!(q.pop_front(), Some(2));
        assert_eq!(q.push(3, &latest("k")), Ok(Queued::Added));
    }

    proptest! {
        #[test]
        fn keep_pushes_within_capacity_drain_in_order(items in proptest::collection::vec(any::<u32>(), 0..200)) {
            let mut q = Outbox::new(200);
            for &i in &items {
                prop_assert_eq!(q.push(i, &SendPolicy::Keep), Ok(Queued::Added));
            }
            prop_assert_eq!(q.drain().collect::<Vec<_>>(), items);
        }

        #[test]
        fn latest_wins_sends_each_key_once_with_its_last_value_in_first_enqueue_order(
            ops in proptest::collection::vec((0u8..6, any::<u32>()), 0..200),
            pops in 0usize..20,
        ) {
            let mut q = Outbox::new(1000);
            let mut model: Vec<(u8, u32)> = Vec::new();
            for (i, &(key, value)) in ops.iter().enumerate() {
                if i == pops && !model.is_empty() {
                    // A pop shifts indices: keys must still resolve to the right slot.
                    prop_assert_eq!(q.pop_front(), Some(model.remove(0).1));
                }
                q.push(value, &latest(&key.to_string())).ok();
                match model.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => model.push((key, value)),
                }
            }
            let expected: Vec<u32> = model.into_iter().map(|(_, v)| v).collect();
            prop_assert_eq!(q.drain().collect::<Vec<_>>(), expected);
        }
    }
}
