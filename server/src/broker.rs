//! Fan-out and shared storage behind small traits, with in-process implementations.
//!
//! Handlers only ever talk to [`Broker`], [`PresenceStore`], [`EventLog`] and [`SharedStore`], so a distributed
//! backend (Redis pub/sub, hashes and streams, say) can replace the in-process one through
//! [`Backend`] without touching any endpoint. The traits return boxed futures so they stay
//! object safe (`Arc<dyn Broker>`) while allowing real network I/O in other implementations.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::history::{HistoryLimits, InProcessHistory, MessageHistory};
use crate::protocol::{now_ms, Level, Notification, Presence};

/// A boxed, sendable future, so the traits below can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Failure of a backend operation (a network error, for a distributed backend).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// One frame published to a topic: already-serialized JSON text, shared between receivers.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The text frame every subscriber receives.
    pub payload: Utf8Bytes,
    /// A user id that must not receive it (the sender, for "to the others" messages).
    pub skip: Option<Arc<str>>,
}

impl Envelope {
    /// A frame for every subscriber.
    pub fn to_all(payload: impl Into<Utf8Bytes>) -> Self {
        Self {
            payload: payload.into(),
            skip: None,
        }
    }

    /// A frame for every subscriber except `user_id`.
    pub fn to_others(payload: impl Into<Utf8Bytes>, user_id: &Arc<str>) -> Self {
        Self {
            payload: payload.into(),
            skip: Some(user_id.clone()),
        }
    }
}

/// Outcome of handing a frame to one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the socket.
    Delivered,
    /// Not meant for this subscriber (it sent the frame).
    Skipped,
    /// The queue was full: the subscriber is a slow consumer and is being disconnected.
    Overflowed,
    /// The subscriber is gone; the broker should forget it.
    Gone,
}

static NEXT_SUBSCRIBER: AtomicU64 = AtomicU64::new(1);

/// A connection's bounded inbox as the broker sees it; cloning shares the same inbox.
///
/// Bounded twice: at most `capacity` frames and about `budget` bytes: a frame is taken while
/// the queue holds less than the budget, so the queue passes it by one frame at most (the
/// largest allowed frame always fits, even behind a few small ones). A client that does not
/// read therefore pins at most the budget plus one frame before it is closed as a slow
/// consumer (1013).
#[derive(Debug, Clone)]
pub struct Subscriber {
    id: u64,
    user_id: Arc<str>,
    tx: mpsc::Sender<Message>,
    overflow: CancellationToken,
    queued: Arc<AtomicUsize>,
    budget: usize,
    direct: Option<Arc<dyn DirectWrite>>,
}

/// A socket a publisher may write into on its own thread when the socket is idle, instead of
/// queueing for its writer task (`crate::socket_writer`).
pub trait DirectWrite: Send + Sync + std::fmt::Debug {
    /// Hands `message` to the socket now, if nothing of this subscriber's is ahead of it:
    /// `queued` (the inbox's byte count) is zero, no frame is held and all is flushed. Gives
    /// the frame back otherwise, to be queued.
    fn try_write(&self, message: Message, queued: &AtomicUsize) -> Result<(), Message>;
}

/// The receiving end of a [`Subscriber`]'s queue; taking a frame gives its bytes back to the
/// budget.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Message>,
    queued: Arc<AtomicUsize>,
}

impl Inbox {
    /// The next frame, waiting for one; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.rx.recv().await?;
        self.taken(&message);
        Some(message)
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Result<Message, mpsc::error::TryRecvError> {
        let message = self.rx.try_recv()?;
        self.taken(&message);
        Ok(message)
    }

    /// Polls for the next frame (for a writer written as a poll function).
    pub fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Message>> {
        let message = std::task::ready!(self.rx.poll_recv(cx));
        if let Some(message) = &message {
            self.taken(message);
        }
        std::task::Poll::Ready(message)
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    fn taken(&self, message: &Message) {
        self.queued
            .fetch_sub(frame_bytes(message), Ordering::AcqRel);
    }
}

/// The payload size a frame counts against the byte budget.
pub fn frame_bytes(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Close(_) => 0,
    }
}

impl Subscriber {
    /// A subscriber for `user_id` with an inbox of `capacity` frames and about `budget` bytes,
    /// plus the inbox and the token that fires when the inbox overflows.
    pub fn new(
        user_id: Arc<str>,
        capacity: usize,
        budget: usize,
    ) -> (Self, Inbox, CancellationToken) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflow = CancellationToken::new();
        let id = NEXT_SUBSCRIBER.fetch_add(1, Ordering::Relaxed);
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Self {
                id,
                user_id,
                tx,
                overflow: overflow.clone(),
                queued: queued.clone(),
                budget,
                direct: None,
            },
            Inbox { rx, queued },
            overflow,
        )
    }

    /// The same subscriber, whose broadcasts may be written straight into `socket` when it is
    /// idle ([`Subscriber::deliver`] with `direct`).
    pub fn with_direct(mut self, socket: Arc<dyn DirectWrite>) -> Self {
        self.direct = Some(socket);
        self
    }

    /// Unique id, used to unsubscribe.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The user this inbox belongs to.
    pub fn user_id(&self) -> &Arc<str> {
        &self.user_id
    }

    /// Queues `envelope` without waiting: a full queue marks the subscriber as a slow consumer
    /// instead of blocking the publisher, so one stuck client never stalls a broadcast. With
    /// `direct`, writes the frame into the socket on this thread instead when the socket is
    /// idle (nothing queued, held or unflushed, so order holds; see [`DirectWrite`]).
    pub fn deliver(&self, envelope: &Envelope, direct: bool) -> Delivery {
        if envelope.skip.as_deref() == Some(&*self.user_id) {
            return Delivery::Skipped;
        }
        let message = Message::Text(envelope.payload.clone());
        match &self.direct {
            Some(socket) if direct && !self.overflow.is_cancelled() => {
                match socket.try_write(message, &self.queued) {
                    Ok(()) => Delivery::Delivered,
                    Err(message) => self.push(message),
                }
            }
            _ => self.push(message),
        }
    }

    /// Queues any frame for this subscriber's socket, with the same overflow rule.
    pub fn push(&self, message: Message) -> Delivery {
        if self.overflow.is_cancelled() {
            return Delivery::Overflowed;
        }
        let bytes = frame_bytes(&message);
        let before = self.queued.fetch_add(bytes, Ordering::AcqRel);
        if before >= self.budget {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            self.overflow.cancel();
            return Delivery::Overflowed;
        }
        match self.tx.try_send(message) {
            Ok(()) => Delivery::Delivered,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.fetch_sub(bytes, Ordering::AcqRel);
                self.overflow.cancel();
                Delivery::Overflowed
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued.fetch_sub(bytes, Ordering::AcqRel);
                Delivery::Gone
            }
        }
    }
}

/// Topic-based fan-out: the one interface every handler publishes and subscribes through.
pub trait Broker: Send + Sync + 'static {
    /// Delivers `envelope` to every current subscriber of `topic`; never waits on a subscriber.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        envelope: Envelope,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Delivers `envelope` only to this instance's subscribers of `topic`: for frames every
    /// instance produces by itself (the periodic presence snapshot), which would otherwise
    /// arrive once per instance. Single-process brokers need not override it.
    fn publish_local<'a>(
        &'a self,
        topic: &'a str,
        envelope: Envelope,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.publish(topic, envelope)
    }

    /// Starts delivering `topic` to `subscriber` until unsubscribed or its inbox is gone.
    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber: Subscriber,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Stops delivering `topic` to the subscriber with this id.
    fn unsubscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber_id: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// The topics starting with `prefix` that have a subscriber on this instance.
    fn local_topics(&self, prefix: &str) -> Vec<String>;

    /// For a broker that can miss frames from other instances (its subscription was lost for a
    /// while): a watch that changes each time the subscription is back, to the time (ms since
    /// the Unix epoch) it was lost. Whatever other instances published since then may not have
    /// arrived; the chat endpoints re-deliver it from the history (see
    /// [`crate::streams::refill_loop`]). `None`: nothing is ever missed (one process).
    fn resubscriptions(&self) -> Option<tokio::sync::watch::Receiver<Option<u64>>> {
        None
    }
}

/// Shared "who is here" sets: the presence board and the members of each chat room.
pub trait PresenceStore: Send + Sync + 'static {
    /// Inserts or replaces `entry` in `set` (keeping its original position in listings).
    fn upsert<'a>(
        &'a self,
        set: &'a str,
        entry: Presence,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Removes `user_id` from `set`; returns whether it was there.
    fn remove<'a>(
        &'a self,
        set: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;

    /// Everyone in `set`, in the order they arrived.
    fn list<'a>(&'a self, set: &'a str) -> BoxFuture<'a, Result<Vec<Presence>, BackendError>>;

    /// Whether entries can vanish without [`PresenceStore::remove`] (a TTL in a shared store,
    /// when the instance owning them dies); then the server sweeps rooms for such departures.
    fn entries_expire(&self) -> bool {
        false
    }
}

/// What a notification publisher supplies; the log assigns id and timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Short title.
    pub title: String,
    /// Body text.
    pub message: String,
    /// Severity.
    pub level: Level,
}

/// Why a resuming client cannot get an exact replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The id is from another server run, or was never issued.
    UnknownRun,
    /// The id is older than the oldest buffered event.
    TooOld,
}

impl ResetReason {
    /// The `reason` string of the `reset` event.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::UnknownRun => "unknown_run",
            ResetReason::TooOld => "too_old",
        }
    }
}

/// What a (re)connecting SSE client is sent before live events.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// `Some` when the client missed events that are gone: it gets a `reset` then the buffer.
    pub reset: Option<ResetReason>,
    /// Events to send now, oldest first.
    pub events: Vec<Notification>,
    /// Position of the newest event at replay time; live events at or below it are duplicates.
    pub newest: EventPos,
}

/// Where an event sits in its log: ids compare by this, never as strings.
/// `(seq, 0)` for the in-process log, `(ms, seq)` for a Redis stream id.
pub type EventPos = (u64, u64);

/// The bounded, per-run log of notifications that makes SSE resumable.
pub trait EventLog: Send + Sync + 'static {
    /// The position of `id` if this log issued it (or could have), else `None`.
    fn position(&self, id: &str) -> Option<EventPos>;

    /// Whether [`EventLog::append`] also delivers the event to live streams (through the local
    /// broker, topic [`crate::notifications::TOPIC`]), in log order. A shared log fed by several
    /// instances does this so every instance sees every event exactly once and in order;
    /// otherwise the caller publishes it.
    fn delivers_live(&self) -> bool {
        false
    }

    /// Stores a notification and returns it with its id.
    fn append(&self, new: NewNotification) -> BoxFuture<'_, Result<Notification, BackendError>>;

    /// Events after `last_event_id` (`None`: a fresh client, nothing to replay).
    fn replay_after<'a>(
        &'a self,
        last_event_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replay, BackendError>>;
}

/// Counters and key-values every instance sees alike (a poll's tally): in this process with the
/// in-process backend, in Redis with the Redis one, so endpoint data that must be one across
/// instances never stays per instance by accident. Counters and values share one key space (as
/// in Redis): a counter reads back through `get` as its decimal text. Prefix keys with the
/// endpoint's name (`poll:votes:a`).
pub trait SharedStore: Send + Sync + 'static {
    /// Adds `by` (may be negative) to the counter `key`, 0 when unset, and returns the new
    /// value; fails if `key` holds something that is not an integer, or on overflow.
    fn incr<'a>(&'a self, key: &'a str, by: i64) -> BoxFuture<'a, Result<i64, BackendError>>;

    /// The value of `key`, `None` when unset.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, BackendError>>;

    /// Sets `key` to `value`, replacing what was there (a counter too).
    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;
}

/// [`SharedStore`] in this process's memory.
#[derive(Debug, Default)]
pub struct InProcessStore {
    values: Mutex<HashMap<String, String>>,
}

impl SharedStore for InProcessStore {
    fn incr<'a>(&'a self, key: &'a str, by: i64) -> BoxFuture<'a, Result<i64, BackendError>> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let result = match values.get(key).map(|v| v.parse::<i64>()) {
            None => Ok(0),
            Some(Ok(n)) => Ok(n),
            Some(Err(_)) => Err(format!("\"{key}\" does not hold an integer").into()),
        }
        .and_then(|n: i64| {
            n.checked_add(by)
                .ok_or_else(|| BackendError::from(format!("\"{key}\" would overflow")))
        });
        if let Ok(n) = result {
            values.insert(key.to_string(), n.to_string());
        }
        Box::pin(std::future::ready(result))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, BackendError>> {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        Box::pin(std::future::ready(Ok(values.get(key).cloned())))
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values.insert(key.to_string(), value.to_string());
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The set of backend services the server runs on.
#[derive(Clone)]
pub struct Backend {
    /// Fan-out.
    pub broker: Arc<dyn Broker>,
    /// Presence and room membership.
    pub presence: Arc<dyn PresenceStore>,
    /// Notification log.
    pub events: Arc<dyn EventLog>,
    /// Counters and key-values for endpoint data shared by every instance.
    pub store: Arc<dyn SharedStore>,
    /// Chat history: `seq`, replay, idempotent sends (see [`crate::history`]).
    pub history: Arc<dyn MessageHistory>,
    /// How healthy the shared services are (`/healthz`).
    pub health: Arc<dyn BackendHealth>,
    /// Appended to user ids (`u7` + tag) so ids stay unique across instances sharing a broker.
    pub user_tag: Arc<str>,
}

/// What `/healthz` reports about the backend.
pub trait BackendHealth: Send + Sync + 'static {
    /// `true` while a shared service is unreachable and this instance serves only its own
    /// clients.
    fn degraded(&self) -> bool;

    /// Details for `/healthz` (`kind`, `state`, and whatever else helps an operator).
    fn report(&self) -> serde_json::Value;
}

/// The in-process backend is never degraded.
#[derive(Debug, Default)]
pub struct InProcessHealth;

impl BackendHealth for InProcessHealth {
    fn degraded(&self) -> bool {
        false
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "in-process", "state": "ok" })
    }
}

impl Backend {
    /// Everything in this process, with a notification buffer of `sse_buffer` events and the
    /// default chat history limits.
    pub fn in_process(sse_buffer: usize) -> Self {
        Self::in_process_with(sse_buffer, HistoryLimits::default())
    }

    /// Everything in this process, with these buffer and history sizes.
    pub fn in_process_with(sse_buffer: usize, history: HistoryLimits) -> Self {
        Self {
            history: Arc::new(InProcessHistory::new(history)),
            broker: Arc::new(InProcessBroker::default()),
            presence: Arc::new(InProcessPresence::default()),
            events: Arc::new(InProcessEventLog::new(sse_buffer)),
            store: Arc::new(InProcessStore::default()),
            health: Arc::new(InProcessHealth),
            user_tag: Arc::from(""),
        }
    }
}

/// Fan-out inside one process: a map from topic to subscribers.
///
/// A broadcast is written into idle sockets by its publisher or queued for the sockets' writer
/// tasks ([`Subscriber::deliver`]); [`Pace`] decides per topic.
/// A broadcast runs on a snapshot of the topic's subscriber list, taken under the map's lock
/// and walked after it is released: writing into 1,000 sockets takes milliseconds, and a
/// join, a leave or a broadcast anywhere else must not wait that long (nor can a delivery
/// that calls back into the broker deadlock). Joining or leaving copies the list (one reference
/// count per member) only while a broadcast holds a snapshot of it. A leave does not wait for
/// a broadcast already under way: one of its frames may still reach the leaver just after the
/// leave, so clients match a frame's `room` to the room they are in (the typed chat page does).
#[derive(Debug, Default)]
pub struct InProcessBroker {
    topics: RwLock<HashMap<String, Topic>>,
}

#[derive(Debug, Default)]
struct Topic {
    subscribers: Arc<Vec<Arc<Subscriber>>>,
    pace: Arc<Mutex<Pace>>,
}

/// Per topic, whether a broadcast is written by its publisher or queued for the writer tasks.
///
/// Written by the publisher (one thread, in one pass, each frame on the wire as soon as it is
/// its turn) when no other broadcast of the topic is running and the topic has been quiet at
/// least as long as its last such broadcast took: at moderate load, where a broadcast is
/// short, this leaves the machine's other cores to everyone else. Queued otherwise: in a burst
/// the messages come back to back, and the writer tasks, on every core, each flush a batch of
/// frames at once, several times the deliveries per second of one thread writing frame by
/// frame. So direct writing takes at most about half of a topic's time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pace {
    running: u32,
    quiet_since: Option<Instant>,
    last_direct: Duration,
}

/// Locks a small mutex; a panic elsewhere while it was held leaves plain data still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pace {
    /// A broadcast starts at `now`; returns whether its publisher writes it directly.
    pub fn begin(&mut self, now: Instant) -> bool {
        self.running += 1;
        self.running == 1
            && self
                .quiet_since
                .is_none_or(|quiet| now.saturating_duration_since(quiet) >= self.last_direct)
    }

    /// The broadcast that started at `started` (direct if [`Pace::begin`] said so) ends `now`.
    pub fn end(&mut self, started: Instant, direct: bool, now: Instant) {
        self.running = self.running.saturating_sub(1);
        if direct {
            self.last_direct = now.saturating_duration_since(started);
        }
        if self.running == 0 {
            self.quiet_since = Some(now);
        }
    }
}

impl InProcessBroker {
    /// The topics starting with `prefix` that have a subscriber (empty topics are removed).
    pub fn topics_with_prefix(&self, prefix: &str) -> Vec<String> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics
            .keys()
            .filter(|topic| topic.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Number of subscribers of `topic` (for tests and diagnostics).
    pub fn subscriber_count(&self, topic: &str) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(topic).map_or(0, |t| t.subscribers.len())
    }

    /// Delivers `envelope` to this process's subscribers of `topic` right away.
    pub fn publish_now(&self, topic: &str, envelope: &Envelope) {
        // A poisoned lock only means another thread panicked mid-update of a plain map; the
        // map itself is still usable, and refusing to fan out would be worse.
        let (subscribers, pace) = {
            let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
            let Some(entry) = topics.get(topic) else {
                return;
            };
            (entry.subscribers.clone(), entry.pace.clone())
        };
        let mut dead = Vec::new();
        let started = Instant::now();
        let direct = lock(&pace).begin(started);
        for subscriber in subscribers.iter() {
            match subscriber.deliver(envelope, direct) {
                Delivery::Delivered | Delivery::Skipped => {}
                Delivery::Overflowed | Delivery::Gone => dead.push(subscriber.id),
            }
        }
        lock(&pace).end(started, direct, Instant::now());
        drop(subscribers);
        if !dead.is_empty() {
            let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = topics.get_mut(topic) {
                Arc::make_mut(&mut entry.subscribers).retain(|s| !dead.contains(&s.id));
                if entry.subscribers.is_empty() {
                    topics.remove(topic);
                }
            }
        }
    }
}

impl Broker for InProcessBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        envelope: Envelope,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.publish_now(topic, &envelope);
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber: Subscriber,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let entry = topics.entry(topic.to_string()).or_default();
        if !entry.subscribers.iter().any(|s| s.id == subscriber.id) {
            Arc::make_mut(&mut entry.subscribers).push(Arc::new(subscriber));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn unsubscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber_id: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        // Checked first: `make_mut` copies a list a broadcast holds, even to remove nothing.
        if let Some(entry) = topics
            .get_mut(topic)
            .filter(|entry| entry.subscribers.iter().any(|s| s.id == subscriber_id))
        {
            Arc::make_mut(&mut entry.subscribers).retain(|s| s.id != subscriber_id);
            if entry.subscribers.is_empty() {
                topics.remove(topic);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn local_topics(&self, prefix: &str) -> Vec<String> {
        self.topics_with_prefix(prefix)
    }
}

/// Presence sets kept in memory; each set remembers arrival order.
#[derive(Debug, Default)]
pub struct InProcessPresence {
    sets: Mutex<HashMap<String, PresenceSet>>,
}

#[derive(Debug, Default)]
struct PresenceSet {
    next_order: u64,
    entries: HashMap<String, (u64, Presence)>,
}

impl PresenceStore for InProcessPresence {
    fn upsert<'a>(
        &'a self,
        set: &'a str,
        entry: Presence,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        let set = sets.entry(set.to_string()).or_default();
        let order = match set.entries.get(&entry.user_id) {
            Some((order, _)) => *order,
            None => {
                set.next_order += 1;
                set.next_order
            }
        };
        set.entries.insert(entry.user_id.clone(), (order, entry));
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove<'a>(
        &'a self,
        set: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        let removed = match sets.get_mut(set) {
            Some(entries) => {
                let removed = entries.entries.remove(user_id).is_some();
                if entries.entries.is_empty() {
                    sets.remove(set);
                }
                removed
            }
            None => false,
        };
        Box::pin(std::future::ready(Ok(removed)))
    }

    fn list<'a>(&'a self, set: &'a str) -> BoxFuture<'a, Result<Vec<Presence>, BackendError>> {
        let sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<(u64, Presence)> = sets
            .get(set)
            .map(|s| s.entries.values().cloned().collect())
            .unwrap_or_default();
        entries.sort_by_key(|(order, _)| *order);
        Box::pin(std::future::ready(Ok(entries
            .into_iter()
            .map(|(_, p)| p)
            .collect())))
    }
}

/// A ring buffer of the newest notifications of this run.
#[derive(Debug)]
pub struct InProcessEventLog {
    run_id: String,
    capacity: usize,
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    next_seq: u64,
    buffer: VecDeque<(u64, Notification)>,
}

impl InProcessEventLog {
    /// An empty log keeping the newest `capacity` events, with a fresh run id.
    pub fn new(capacity: usize) -> Self {
        Self::with_run_id(new_run_id(), capacity)
    }

    /// An empty log with a chosen run id (tests use this to simulate a restart).
    pub fn with_run_id(run_id: String, capacity: usize) -> Self {
        Self {
            run_id,
            capacity: capacity.max(1),
            inner: Mutex::new(LogInner::default()),
        }
    }
}

/// A fresh id for one server instance, event log or history: 64 random bits, as hex.
///
/// It must differ between two servers in one process (tests start two on one Redis; user
/// ids are `u<N>@<id>`) and between a server and its restart (so a restarted server never
/// takes ids it did not issue as its own). The clock alone does not give that: CI once
/// started two instances within one tick of its clock and both named their first user
/// `u1@…`. So the bits come from the OS, XORed with a per-process counter run through an
/// odd multiplier; without OS randomness, the time and pid stand in for them, and the counter
/// still keeps the ids of one process apart.
pub fn new_run_id() -> String {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut bytes = [0u8; 8];
    let base = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (nanos as u64) ^ (u64::from(std::process::id()) << 40)
        }
    };
    run_id_from(base, n)
}

/// The id made from `base` (random, or the clock) and the process's `n`th call: one `base`
/// with two counters gives two ids, as multiplying by an odd constant is a bijection on u64.
fn run_id_from(base: u64, n: u64) -> String {
    format!("{:x}", base ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Splits an event id `<run>-<seq>` into its parts.
pub fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (run, seq) = id.rsplit_once('-')?;
    if run.is_empty() {
        return None;
    }
    Some((run, seq.parse().ok()?))
}

impl EventLog for InProcessEventLog {
    fn position(&self, id: &str) -> Option<EventPos> {
        match parse_event_id(id) {
            Some((run, seq)) if run == self.run_id => Some((seq, 0)),
            _ => None,
        }
    }

    fn append(&self, new: NewNotification) -> BoxFuture<'_, Result<Notification, BackendError>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.next_seq += 1;
        let seq = inner.next_seq;
        let notification = Notification {
            id: format!("{}-{}", self.run_id, seq),
            title: new.title,
            message: new.message,
            level: new.level,
            timestamp: now_ms(),
        };
        inner.buffer.push_back((seq, notification.clone()));
        while inner.buffer.len() > self.capacity {
            inner.buffer.pop_front();
        }
        Box::pin(std::future::ready(Ok(notification)))
    }

    fn replay_after<'a>(
        &'a self,
        last_event_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replay, BackendError>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let replay = plan_replay(&self.run_id, inner.next_seq, &inner.buffer, last_event_id);
        Box::pin(std::future::ready(Ok(replay)))
    }
}

/// Decides what a client resuming from `last_event_id` gets, given the buffered events.
fn plan_replay(
    run_id: &str,
    newest_seq: u64,
    buffer: &VecDeque<(u64, Notification)>,
    last_event_id: Option<&str>,
) -> Replay {
    let everything = || buffer.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    let newest = (newest_seq, 0);
    let Some(last) = last_event_id.map(str::trim).filter(|s| !s.is_empty()) else {
        return Replay {
            reset: None,
            events: Vec::new(),
            newest,
        };
    };
    let reset = |reason| Replay {
        reset: Some(reason),
        events: everything(),
        newest,
    };
    let seq = match parse_event_id(last) {
        Some((run, seq)) if run == run_id && seq <= newest_seq => seq,
        _ => return reset(ResetReason::UnknownRun),
    };
    // The client has everything up to `seq`; that is exact only if `seq + 1` is still here.
    let oldest = buffer.front().map_or(newest_seq + 1, |(s, _)| *s);
    if seq + 1 < oldest {
        return reset(ResetReason::TooOld);
    }
    let events = buffer
        .iter()
        .filter(|(s, _)| *s > seq)
        .map(|(_, n)| n.clone())
        .collect();
    Replay {
        reset: None,
        events,
        newest,
    }
}

/// Builds a presence entry stamped now.
pub fn presence_now(user_id: &str, name: &str) -> Presence {
    Presence {
        user_id: user_id.to_string(),
        name: name.to_string(),
        cursor: None,
        last_seen: now_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_made_in_one_clock_tick_still_differ() {
        // A stopped clock (or no OS randomness and a coarse clock): only the counter moves.
        let frozen = 0x18f1_fa95_b577_12b7;
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|n| run_id_from(frozen, n)).collect();
        assert_eq!(ids.len(), 10_000);
        // Back to back, as two test servers in one process make them.
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // Event ids are `<run>-<seq>`: a run id never holds the separator.
        assert!(ids.iter().all(|id| !id.contains('-') && !id.is_empty()));
    }

    #[test]
    fn pace_writes_directly_when_quiet_and_queues_a_burst() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut pace = Pace::default();
        // The first broadcast of a topic is written directly; it takes 5 ms.
        assert!(pace.begin(t0));
        pace.end(t0, true, ms(5));
        // The next one, right behind it (a burst), is queued for the writers.
        assert!(!pace.begin(ms(6)));
        pace.end(ms(6), false, ms(7));
        // 5 ms of quiet after the last queued one: direct again (20 ms apart = 50 msg/s).
        assert!(pace.begin(ms(12)));
        pace.end(ms(12), true, ms(17));
        assert!(pace.begin(ms(40)));
    }

    #[test]
    fn pace_queues_a_broadcast_that_overlaps_another() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        assert!(pace.begin(t0));
        assert!(!pace.begin(t0 + Duration::from_millis(1)));
        pace.end(
            t0 + Duration::from_millis(1),
            false,
            t0 + Duration::from_millis(2),
        );
        pace.end(t0, true, t0 + Duration::from_millis(3));
        // Quiet from 3 ms on, and the last direct one took 3 ms.
        assert!(!pace.begin(t0 + Duration::from_millis(5)));
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        // The in-process futures are already complete; a tiny runtime keeps this honest.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap()
    }

    fn note(text: &str) -> NewNotification {
        NewNotification {
            title: "t".into(),
            message: text.into(),
            level: Level::Info,
        }
    }

    #[test]
    fn full_inbox_marks_overflow_and_the_broker_forgets_the_subscriber() {
        let broker = InProcessBroker::default();
        let (slow, _slow_rx, slow_overflow) = Subscriber::new("u1".into(), 2, usize::MAX);
        let (fast, mut fast_rx, _) = Subscriber::new("u2".into(), 16, usize::MAX);
        block(broker.subscribe("t", slow)).unwrap();
        block(broker.subscribe("t", fast)).unwrap();
        for i in 0..5 {
            block(broker.publish("t", Envelope::to_all(format!("{i}")))).unwrap();
        }
        assert!(slow_overflow.is_cancelled());
        assert_eq!(broker.subscriber_count("t"), 1);
        let mut got = 0;
        while fast_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 5, "the fast subscriber receives everything");
    }

    /// A socket whose first write makes someone join the topic, from inside the broadcast.
    #[derive(Debug)]
    struct JoinsDuringWrite {
        broker: std::sync::Weak<InProcessBroker>,
        joiner: Mutex<Option<Subscriber>>,
    }

    impl DirectWrite for JoinsDuringWrite {
        fn try_write(&self, message: Message, _queued: &AtomicUsize) -> Result<(), Message> {
            if let (Some(broker), Some(joiner)) = (self.broker.upgrade(), lock(&self.joiner).take())
            {
                block(broker.subscribe("t", joiner)).unwrap();
            }
            Err(message)
        }
    }

    #[test]
    fn a_join_during_a_broadcast_does_not_wait_for_it_and_gets_the_next_one() {
        // Before broadcasts ran on a snapshot, this join waited on the map's lock held by the
        // broadcast itself: a deadlock here, milliseconds of a blocked worker elsewhere.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let broker = Arc::new(InProcessBroker::default());
            let (joiner, mut joiner_rx, _) = Subscriber::new("u2".into(), 4, usize::MAX);
            let (first, mut first_rx, _) = Subscriber::new("u1".into(), 4, usize::MAX);
            let first = first.with_direct(Arc::new(JoinsDuringWrite {
                broker: Arc::downgrade(&broker),
                joiner: Mutex::new(Some(joiner)),
            }));
            block(broker.subscribe("t", first)).unwrap();
            block(broker.publish("t", Envelope::to_all("one"))).unwrap();
            let joined = broker.subscriber_count("t");
            block(broker.publish("t", Envelope::to_all("two"))).unwrap();
            let text = |m: Message| match m {
                Message::Text(t) => t.to_string(),
                other => format!("{other:?}"),
            };
            let first_got: Vec<_> =
                std::iter::from_fn(|| first_rx.try_recv().ok().map(text)).collect();
            let joiner_got: Vec<_> =
                std::iter::from_fn(|| joiner_rx.try_recv().ok().map(text)).collect();
            let _ = done_tx.send((joined, first_got, joiner_got));
        });
        let (joined, first_got, joiner_got) = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a join from inside a broadcast deadlocked");
        assert_eq!(joined, 2);
        assert_eq!(first_got, ["one", "two"]);
        assert_eq!(
            joiner_got,
            ["two"],
            "joined after the first broadcast began"
        );
    }

    #[test]
    fn envelopes_to_others_skip_the_sender() {
        let broker = InProcessBroker::default();
        let sender_id: Arc<str> = "u1".into();
        let (sender, mut sender_rx, _) = Subscriber::new(sender_id.clone(), 4, usize::MAX);
        let (other, mut other_rx, _) = Subscriber::new("u2".into(), 4, usize::MAX);
        block(broker.subscribe("t", sender)).unwrap();
        block(broker.subscribe("t", other)).unwrap();
        block(broker.publish("t", Envelope::to_others("x", &sender_id))).unwrap();
        assert!(sender_rx.try_recv().is_err());
        assert!(other_rx.try_recv().is_ok());
    }

    #[test]
    fn presence_lists_in_arrival_order_and_upsert_keeps_position() {
        let store = InProcessPresence::default();
        for id in ["u3", "u1", "u2"] {
            block(store.upsert("s", presence_now(id, id))).unwrap();
        }
        let mut moved = presence_now("u3", "renamed");
        moved.last_seen = 1;
        block(store.upsert("s", moved)).unwrap();
        let ids: Vec<_> = block(store.list("s"))
            .unwrap()
            .into_iter()
            .map(|p| p.user_id)
            .collect();
        assert_eq!(ids, ["u3", "u1", "u2"]);
        assert!(block(store.remove("s", "u1")).unwrap());
        assert!(!block(store.remove("s", "u1")).unwrap());
        assert_eq!(block(store.list("s")).unwrap().len(), 2);
    }

    #[test]
    fn replay_is_exact_within_the_buffer_and_resets_outside_it() {
        let log = InProcessEventLog::with_run_id("run".into(), 3);
        for i in 1..=5 {
            block(log.append(note(&i.to_string()))).unwrap();
        }
        // Buffer now holds seqs 3, 4, 5.
        let ids = |r: &Replay| r.events.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        let fresh = block(log.replay_after(None)).unwrap();
        assert_eq!(
            (fresh.reset, fresh.events.len(), fresh.newest),
            (None, 0, (5, 0))
        );
        let exact = block(log.replay_after(Some("run-2"))).unwrap();
        assert_eq!(
            (exact.reset, ids(&exact)),
            (None, vec!["run-3".into(), "run-4".into(), "run-5".into()])
        );
        let up_to_date = block(log.replay_after(Some("run-5"))).unwrap();
        assert_eq!((up_to_date.reset, up_to_date.events.len()), (None, 0));
        let too_old = block(log.replay_after(Some("run-1"))).unwrap();
        assert_eq!(
            (too_old.reset, ids(&too_old).len()),
            (Some(ResetReason::TooOld), 3)
        );
        for unknown in ["other-4", "run-9", "garbage", "-3", "run-x"] {
            let r = block(log.replay_after(Some(unknown))).unwrap();
            assert_eq!(
                (r.reset, r.events.len()),
                (Some(ResetReason::UnknownRun), 3),
                "{unknown}"
            );
        }
    }

    #[test]
    fn the_in_process_store_counts_and_keeps_values_in_one_key_space() {
        let store = InProcessStore::default();
        assert_eq!(block(store.incr("poll:a", 1)).unwrap(), 1);
        assert_eq!(block(store.incr("poll:a", 2)).unwrap(), 3);
        assert_eq!(block(store.incr("poll:a", -5)).unwrap(), -2);
        assert_eq!(block(store.get("poll:a")).unwrap().as_deref(), Some("-2"));
        assert_eq!(block(store.get("poll:b")).unwrap(), None);
        block(store.set("poll:title", "Lunch?")).unwrap();
        assert_eq!(
            block(store.get("poll:title")).unwrap().as_deref(),
            Some("Lunch?")
        );
        assert!(
            block(store.incr("poll:title", 1)).is_err(),
            "not an integer"
        );
        block(store.set("poll:max", &i64::MAX.to_string())).unwrap();
        assert!(block(store.incr("poll:max", 1)).is_err(), "overflow");
        assert_eq!(block(store.incr("poll:max", 0)).unwrap(), i64::MAX);
    }

    #[test]
    fn event_ids_parse_at_the_last_dash() {
        assert_eq!(parse_event_id("a-b-12"), Some(("a-b", 12)));
        assert_eq!(parse_event_id("abc"), None);
        assert_eq!(parse_event_id("abc-"), None);
    }
}
