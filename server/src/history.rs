//! Message history per stream: sequence numbers, replay after a reconnect, idempotent sends.
//!
//! A *stream* is one ordered flow of chat messages: the global chat (`chat`) is one, each
//! typed-chat room (`room:<name>`) another. Every message appended to a stream gets `seq`, one
//! more than the previous message of that stream, and the stream has an `epoch`, an opaque
//! string that changes whenever its history was lost (a restart without Redis, Redis losing
//! its data, a quiet stream forgotten). A client that remembers `EPOCH:SEQ` can ask for
//! everything after it ([`plan_replay`] decides what it gets).
//!
//! Two stores implement [`MessageHistory`]: [`InProcessHistory`] (a ring per stream, gone with
//! the process) and the Redis one in [`crate::redis_backend`] (a Redis Stream per stream, the
//! `seq` handed out and the entry appended by one script, so instances sharing a Redis never
//! hand out the same `seq`). Both keep the newest [`HistoryLimits::max_messages`] messages of
//! at most [`HistoryLimits::max_age`]; whichever is smaller wins.
//!
//! Ordering: an endpoint appends and publishes inside the stream's turn ([`StreamTurns`]), and
//! a joining client reads the history and subscribes inside it too, so on one instance a client
//! receives a stream's messages in `seq` order with no gap between the replay and the live
//! ones. Across instances, a message appended elsewhere can arrive out of order or twice (once
//! live, once in the replay); clients order and deduplicate by `seq` (docs/protocol.md).

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncMutexGuard};

use crate::broker::{BackendError, BoxFuture};
use crate::protocol::now_ms;

/// Longest `clientId` accepted, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// How much history each stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Newest messages kept per stream.
    pub max_messages: usize,
    /// Messages older than this are gone.
    pub max_age: Duration,
    /// Messages a client without a usable position gets on arrival.
    pub on_join: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_messages: 1_000,
            max_age: Duration::from_secs(600),
            on_join: 50,
        }
    }
}

impl HistoryLimits {
    /// The oldest timestamp (ms) still kept at `now`.
    pub fn min_timestamp(&self, now: u64) -> u64 {
        let age = u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(age)
    }
}

/// One message as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in its stream.
    pub seq: u64,
    /// Sender's user id.
    pub user_id: String,
    /// Sender's display name.
    pub name: String,
    /// Message text.
    pub text: String,
    /// ms since the Unix epoch.
    pub timestamp: u64,
    /// The sender's id for this message, if it gave one.
    pub client_id: Option<String>,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Sender's user id.
    pub user_id: String,
    /// Sender's display name.
    pub name: String,
    /// Message text.
    pub text: String,
    /// ms since the Unix epoch.
    pub timestamp: u64,
    /// The sender's id for this message, if it gave one.
    pub client_id: Option<String>,
    /// Idempotency key ([`dedupe_key`]): a second append with the same key, while the first is
    /// still in the history, appends nothing and returns the first.
    pub dedupe: Option<String>,
}

/// The key under which a sent `clientId` is remembered: per signed user (a resend must come from
/// the same `sub`), or the `clientId` alone when the server runs open, where user ids are per
/// connection and a reconnect would otherwise never match (clients make `clientId`s unguessable,
/// see docs/protocol.md).
pub fn dedupe_key(signed_user: Option<&str>, client_id: &str) -> String {
    match signed_user {
        Some(user) => format!("{user}\u{1f}{client_id}"),
        None => client_id.to_string(),
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream's epoch.
    pub epoch: Arc<str>,
    /// The message's position (the first one's, for a duplicate).
    pub seq: u64,
    /// The same `clientId` was already in the history: nothing was appended.
    pub duplicate: bool,
}

/// A stream's history as read for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream's epoch.
    pub epoch: Arc<str>,
    /// Newest `seq` handed out (0: none yet).
    pub latest: u64,
    /// Oldest `seq` still kept, if any is.
    pub first_kept: Option<u64>,
    /// The entries asked for, oldest first.
    pub entries: Vec<Entry>,
}

/// Which entries to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Every kept entry with a larger `seq`.
    After(u64),
    /// The newest `n` kept entries.
    Newest(usize),
}

/// Where a client says it is: `EPOCH:SEQ` (the last `seq` it has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The epoch the client's `seq` belongs to.
    pub epoch: String,
    /// The last `seq` the client has.
    pub seq: u64,
}

/// A client's position as given (`?since=` or the `since` field of a join).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// None given: a newcomer.
    Fresh,
    /// Given but not `EPOCH:SEQ` with a non-negative integer `SEQ`.
    Garbled,
    /// A well-formed position.
    At(Since),
}

impl Position {
    /// Reads `EPOCH:SEQ` (the epoch may itself contain `:`; the last one separates); `None`
    /// or an empty string is [`Position::Fresh`], anything malformed [`Position::Garbled`].
    pub fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Position::Fresh;
        };
        let parsed = raw.rsplit_once(':').and_then(|(epoch, seq)| {
            let digits = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
            let seq = seq.parse::<u64>().ok().filter(|_| digits)?;
            let epoch_ok = !epoch.is_empty() && epoch.len() <= 128;
            epoch_ok.then(|| Since {
                epoch: epoch.to_string(),
                seq,
            })
        });
        parsed.map_or(Position::Garbled, Position::At)
    }

    /// What to read for this position.
    pub fn read(&self, limits: &HistoryLimits) -> Read {
        match self {
            Position::At(since) => Read::After(since.seq),
            _ => Read::Newest(limits.on_join),
        }
    }
}

/// Why a replay is not an exact recovery (the `reason` of `replayed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayReason {
    /// No position given: the newest history, for context.
    New,
    /// The position is from another epoch: the history it belongs to is gone.
    Epoch,
    /// Messages after the position were dropped from the history (too many, too old).
    TooOld,
    /// The position is malformed, or ahead of the stream.
    Invalid,
    /// The history could not be read (the shared store is away): nothing replayed.
    Unavailable,
}

/// What a (re)joining client is sent: the entries, then `replayed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The stream's epoch.
    pub epoch: Arc<str>,
    /// Entries to send, oldest first.
    pub entries: Vec<Entry>,
    /// First `seq` covered (the client's `seq` + 1 for a recovery).
    pub from: u64,
    /// Newest `seq` of the stream at replay time.
    pub to: u64,
    /// Whether the client now has every message after its position.
    pub recovered: bool,
    /// Why not, when not recovered.
    pub reason: Option<ReplayReason>,
}

/// Decides a client's replay from its position and a snapshot read with
/// [`Position::read`]; `limits.on_join` bounds the newest history sent when recovery fails.
pub fn plan_replay(snapshot: Snapshot, position: &Position, limits: &HistoryLimits) -> ReplayPlan {
    let Snapshot {
        epoch,
        latest,
        first_kept,
        entries,
    } = snapshot;
    let newest = |entries: Vec<Entry>, reason| {
        let skip = entries.len().saturating_sub(limits.on_join);
        let entries: Vec<Entry> = entries.into_iter().skip(skip).collect();
        ReplayPlan {
            from: entries.first().map_or(latest.saturating_add(1), |e| e.seq),
            epoch: epoch.clone(),
            entries,
            to: latest,
            recovered: false,
            reason: Some(reason),
        }
    };
    let since = match position {
        Position::Fresh => return newest(entries, ReplayReason::New),
        Position::Garbled => return newest(entries, ReplayReason::Invalid),
        Position::At(since) => since,
    };
    if since.epoch != *epoch {
        return newest(entries, ReplayReason::Epoch);
    }
    if since.seq > latest {
        return newest(entries, ReplayReason::Invalid);
    }
    // Something after the client's position is gone when the oldest kept entry is past the
    // next one it needs, or nothing is kept although the stream moved on.
    let next = since.seq.saturating_add(1);
    let gone = match first_kept {
        Some(first) => first > next,
        None => since.seq < latest,
    };
    if gone {
        return newest(entries, ReplayReason::TooOld);
    }
    let entries: Vec<Entry> = entries.into_iter().filter(|e| e.seq > since.seq).collect();
    ReplayPlan {
        epoch,
        entries,
        from: next,
        to: latest,
        recovered: true,
        reason: None,
    }
}

/// The history store behind the chat endpoints.
pub trait MessageHistory: Send + Sync + 'static {
    /// Appends `new` to `stream` (or finds it already there by its dedupe key).
    fn append<'a>(
        &'a self,
        stream: &'a str,
        new: NewEntry,
    ) -> BoxFuture<'a, Result<(Appended, Entry), BackendError>>;

    /// Reads `stream` for a replay.
    fn read<'a>(
        &'a self,
        stream: &'a str,
        what: Read,
    ) -> BoxFuture<'a, Result<Snapshot, BackendError>>;
}

/// Turns per stream: whoever holds a stream's turn is the only one on this instance appending
/// to it, publishing it or reading it for a join, so a joiner's replay and the live messages
/// after it never overlap or leave a gap. Striped: a fixed set of locks, a stream hashed to
/// one, so the set stays bounded however many rooms exist.
#[derive(Debug)]
pub struct StreamTurns {
    locks: Vec<AsyncMutex<()>>,
}

impl Default for StreamTurns {
    fn default() -> Self {
        Self {
            locks: (0..64).map(|_| AsyncMutex::new(())).collect(),
        }
    }
}

impl StreamTurns {
    /// Waits for `stream`'s turn; it lasts until the guard is dropped.
    pub async fn take(&self, stream: &str) -> AsyncMutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        stream.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % self.locks.len() as u64).unwrap_or(0);
        self.locks[index].lock().await
    }
}

/// One stream kept in memory.
#[derive(Debug)]
struct Ring {
    epoch: Arc<str>,
    latest: u64,
    entries: VecDeque<Entry>,
    /// Dedupe key → `seq`, for the entries still kept.
    keys: HashMap<String, u64>,
    /// `seq` → dedupe key, to forget keys as entries go.
    key_of: HashMap<u64, String>,
}

impl Ring {
    fn trim(&mut self, limits: &HistoryLimits, now: u64) {
        let min_ts = limits.min_timestamp(now);
        while let Some(front) = self.entries.front() {
            let over = self.entries.len() > limits.max_messages.max(1);
            if !over && front.timestamp >= min_ts {
                break;
            }
            if let Some(gone) = self.entries.pop_front() {
                if let Some(key) = self.key_of.remove(&gone.seq) {
                    self.keys.remove(&key);
                }
            }
        }
    }

    fn snapshot(&self, what: Read) -> Snapshot {
        let entries = match what {
            Read::After(seq) => self
                .entries
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect(),
            Read::Newest(n) => {
                let skip = self.entries.len().saturating_sub(n);
                self.entries.iter().skip(skip).cloned().collect()
            }
        };
        Snapshot {
            epoch: self.epoch.clone(),
            latest: self.latest,
            first_kept: self.entries.front().map(|e| e.seq),
            entries,
        }
    }
}

/// Streams beyond which quiet, empty ones are forgotten.
const FORGET_ABOVE: usize = 1024;

/// [`MessageHistory`] in this process: a ring per stream; the epoch is this run's id plus a
/// per-stream counter, so a restart (or a forgotten quiet stream) starts a new epoch.
#[derive(Debug)]
pub struct InProcessHistory {
    run: String,
    limits: HistoryLimits,
    streams: Mutex<HashMap<String, Ring>>,
    created: AtomicU64,
}

impl InProcessHistory {
    /// An empty history with these limits.
    pub fn new(limits: HistoryLimits) -> Self {
        Self {
            run: crate::broker::new_run_id(),
            limits,
            streams: Mutex::default(),
            created: AtomicU64::new(0),
        }
    }

    fn with_ring<T>(&self, stream: &str, f: impl FnOnce(&mut Ring) -> T) -> T {
        let now = now_ms();
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if !streams.contains_key(stream) && streams.len() >= FORGET_ABOVE {
            // Forget streams whose every message aged out: their clients get a new epoch,
            // which is right, since what they may have missed is gone anyway.
            for ring in streams.values_mut() {
                ring.trim(&self.limits, now);
            }
            streams.retain(|_, ring| !ring.entries.is_empty());
        }
        let ring = streams.entry(stream.to_string()).or_insert_with(|| {
            let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
            Ring {
                epoch: Arc::from(format!("{}.{n}", self.run)),
                latest: 0,
                entries: VecDeque::new(),
                keys: HashMap::new(),
                key_of: HashMap::new(),
            }
        });
        ring.trim(&self.limits, now);
        f(ring)
    }

    /// Appends without going through a future (the in-process store never waits).
    pub fn append_now(&self, stream: &str, new: NewEntry) -> (Appended, Entry) {
        self.with_ring(stream, |ring| {
            if let Some(seq) = new.dedupe.as_ref().and_then(|k| ring.keys.get(k)).copied() {
                if let Some(first) = ring.entries.iter().find(|e| e.seq == seq) {
                    let appended = Appended {
                        epoch: ring.epoch.clone(),
                        seq,
                        duplicate: true,
                    };
                    return (appended, first.clone());
                }
            }
            ring.latest += 1;
            let entry = Entry {
                seq: ring.latest,
                user_id: new.user_id,
                name: new.name,
                text: new.text,
                timestamp: new.timestamp,
                client_id: new.client_id,
            };
            if let Some(key) = new.dedupe {
                ring.keys.insert(key.clone(), entry.seq);
                ring.key_of.insert(entry.seq, key);
            }
            ring.entries.push_back(entry.clone());
            ring.trim(&self.limits, now_ms());
            let appended = Appended {
                epoch: ring.epoch.clone(),
                seq: entry.seq,
                duplicate: false,
            };
            (appended, entry)
        })
    }

    /// Reads without going through a future.
    pub fn read_now(&self, stream: &str, what: Read) -> Snapshot {
        self.with_ring(stream, |ring| ring.snapshot(what))
    }
}

impl MessageHistory for InProcessHistory {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        new: NewEntry,
    ) -> BoxFuture<'a, Result<(Appended, Entry), BackendError>> {
        Box::pin(std::future::ready(Ok(self.append_now(stream, new))))
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        what: Read,
    ) -> BoxFuture<'a, Result<Snapshot, BackendError>> {
        Box::pin(std::future::ready(Ok(self.read_now(stream, what))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(text: &str, key: Option<&str>) -> NewEntry {
        NewEntry {
            user_id: "u1".into(),
            name: "Ada".into(),
            text: text.into(),
            timestamp: now_ms(),
            client_id: key.map(str::to_string),
            dedupe: key.map(str::to_string),
        }
    }

    fn limits(max_messages: usize, on_join: usize) -> HistoryLimits {
        HistoryLimits {
            max_messages,
            max_age: Duration::from_secs(600),
            on_join,
        }
    }

    fn seqs(plan: &ReplayPlan) -> Vec<u64> {
        plan.entries.iter().map(|e| e.seq).collect()
    }

    fn at(epoch: &str, seq: u64) -> Position {
        Position::At(Since {
            epoch: epoch.into(),
            seq,
        })
    }

    #[test]
    fn positions_parse_and_garbage_is_garbled_not_a_panic() {
        assert_eq!(Position::parse(None), Position::Fresh);
        assert_eq!(Position::parse(Some("  ")), Position::Fresh);
        assert_eq!(Position::parse(Some("abc.1:42")), at("abc.1", 42));
        assert_eq!(Position::parse(Some("a:b:7")), at("a:b", 7));
        for bad in [
            "garbage",
            ":5",
            "e:",
            "e:-1",
            "e:+1",
            "e:1.5",
            "e:99999999999999999999999",
            "e: 3",
        ] {
            assert_eq!(Position::parse(Some(bad)), Position::Garbled, "{bad}");
        }
        let long = format!("{}:1", "x".repeat(200));
        assert_eq!(Position::parse(Some(&long)), Position::Garbled);
    }

    #[test]
    fn seq_grows_by_one_per_stream_and_streams_are_apart() {
        let history = InProcessHistory::new(limits(10, 5));
        let a: Vec<u64> = (0..5)
            .map(|i| history.append_now("chat", new(&i.to_string(), None)).0.seq)
            .collect();
        let b = history.append_now("room:x", new("x", None)).0;
        assert_eq!(a, [1, 2, 3, 4, 5]);
        assert_eq!(b.seq, 1);
        assert_ne!(
            b.epoch,
            history.read_now("chat", Read::Newest(1)).epoch,
            "each stream has its own epoch"
        );
    }

    #[test]
    fn history_keeps_the_newest_n_and_forgets_their_keys() {
        let history = InProcessHistory::new(limits(3, 2));
        for i in 1..=5 {
            history.append_now("chat", new(&format!("m{i}"), Some(&format!("k{i}"))));
        }
        let snap = history.read_now("chat", Read::After(0));
        assert_eq!(snap.latest, 5);
        assert_eq!(snap.first_kept, Some(3));
        assert_eq!(
            snap.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        // k1 fell out of the history: the same clientId is a new message now.
        let again = history.append_now("chat", new("m1", Some("k1"))).0;
        assert_eq!((again.seq, again.duplicate), (6, false));
        // k5 is still kept: a resend is the same message.
        let dup = history.append_now("chat", new("m5", Some("k5"))).0;
        assert_eq!((dup.seq, dup.duplicate), (5, true));
        assert_eq!(history.read_now("chat", Read::After(0)).latest, 6);
    }

    #[test]
    fn history_drops_messages_older_than_the_age_limit() {
        let history = InProcessHistory::new(HistoryLimits {
            max_messages: 100,
            max_age: Duration::from_secs(60),
            on_join: 10,
        });
        let mut old = new("old", None);
        old.timestamp = now_ms() - 61_000;
        history.append_now("chat", old);
        history.append_now("chat", new("fresh", None));
        let snap = history.read_now("chat", Read::After(0));
        assert_eq!(snap.first_kept, Some(2));
        let plan = plan_replay(
            snap,
            &at(&history.read_now("chat", Read::Newest(0)).epoch, 0),
            &limits(100, 10),
        );
        assert_eq!(plan.reason, Some(ReplayReason::TooOld));
        assert_eq!(seqs(&plan), [2]);
    }

    #[test]
    fn replay_recovers_exactly_or_says_why_not() {
        let history = InProcessHistory::new(limits(5, 2));
        for i in 1..=8 {
            history.append_now("chat", new(&format!("m{i}"), None));
        }
        let lim = limits(5, 2);
        let epoch = history.read_now("chat", Read::Newest(0)).epoch.to_string();
        let plan_for = |position: Position| {
            let snap = history.read_now("chat", position.read(&lim));
            plan_replay(snap, &position, &lim)
        };

        let exact = plan_for(at(&epoch, 5));
        assert!(exact.recovered);
        assert_eq!((seqs(&exact), exact.from, exact.to), (vec![6, 7, 8], 6, 8));

        let up_to_date = plan_for(at(&epoch, 8));
        assert!(up_to_date.recovered);
        assert_eq!(
            (seqs(&up_to_date), up_to_date.from, up_to_date.to),
            (vec![], 9, 8)
        );

        // Kept: 4..=8. A client at 3 needs 4 onwards: still exact; at 2 it missed 3.
        assert!(plan_for(at(&epoch, 3)).recovered);
        let too_old = plan_for(at(&epoch, 2));
        assert_eq!(too_old.reason, Some(ReplayReason::TooOld));
        assert_eq!(seqs(&too_old), [7, 8], "the newest on_join instead");

        let other = plan_for(at("another-run.1", 5));
        assert_eq!(
            (other.recovered, other.reason),
            (false, Some(ReplayReason::Epoch))
        );
        assert_eq!(seqs(&other), [7, 8]);

        let ahead = plan_for(at(&epoch, u64::MAX));
        assert_eq!(ahead.reason, Some(ReplayReason::Invalid));
        let garbled = plan_for(Position::Garbled);
        assert_eq!(garbled.reason, Some(ReplayReason::Invalid));
        let fresh = plan_for(Position::Fresh);
        assert_eq!(
            (fresh.reason, seqs(&fresh)),
            (Some(ReplayReason::New), vec![7, 8])
        );
    }

    #[test]
    fn an_empty_stream_replays_nothing_and_counts_as_recovered() {
        let history = InProcessHistory::new(limits(5, 2));
        let snap = history.read_now("room:quiet", Read::Newest(2));
        let epoch = snap.epoch.to_string();
        let fresh = plan_replay(snap, &Position::Fresh, &limits(5, 2));
        assert_eq!((fresh.from, fresh.to, fresh.entries.len()), (1, 0, 0));
        let snap = history.read_now("room:quiet", Read::After(0));
        assert!(plan_replay(snap, &at(&epoch, 0), &limits(5, 2)).recovered);
    }

    #[test]
    fn dedupe_keys_are_per_signed_user_and_plain_when_open() {
        assert_ne!(dedupe_key(Some("ana"), "c1"), dedupe_key(Some("bo"), "c1"));
        assert_eq!(dedupe_key(None, "c1"), "c1");
    }
}
