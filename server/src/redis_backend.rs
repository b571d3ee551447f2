//! A [`Backend`] shared by several server instances through Redis (`--redis-url`).
//!
//! - **Fan-out**: every publish is delivered to this instance's subscribers at once, then sent
//!   on the Redis channel `<prefix>:topic:<topic>` (one `PSUBSCRIBE <prefix>:topic:*` per
//!   instance). Frames carry the sending instance's id, so an instance ignores its own echo:
//!   local delivery never waits on Redis and nothing arrives twice.
//! - **Presence and room members**: one key per user, `<prefix>:presence:<set>:user:<id>`,
//!   written with `PX` = the presence TTL, plus a sorted set `<prefix>:presence:<set>:members`
//!   keeping arrival order. Each instance re-writes the entries it owns every TTL/3, so the
//!   users of a crashed instance vanish within one TTL while everyone else stays listed (and
//!   comes back by itself after Redis loses its data).
//! - **Notifications**: a Redis Stream `<prefix>:notifications` capped at `--sse-buffer`; its
//!   entry ids are the SSE event ids, so `Last-Event-ID` resumes on any instance and after
//!   every instance restarts. Each instance tails the stream (`XREAD BLOCK`) and hands events
//!   to its own SSE streams in stream order. An id the stream no longer covers
//!   (`max-deleted-entry-id`) gets `reset {reason:"too_old"}`; an id it never issued gets
//!   `reset {reason:"unknown_run"}`.
//! - **Endpoint data** ([`SharedStore`]): plain keys `<prefix>:store:<key>`, `INCRBY` for
//!   counters, `GET`/`SET` for values; with Redis away these calls fail (the caller decides
//!   what to answer) rather than diverge per instance.
//! - **Redis going away**: every connection is re-established with capped exponential backoff;
//!   meanwhile the instance serves its own clients (local fan-out, locally owned presence),
//!   `/healthz` says `degraded`, publishes meant for other instances are counted and dropped
//!   (never queued and replayed late, never sent twice) and `POST /api/notifications` answers
//!   503, since an event that only one instance knows could not be resumed elsewhere.

mod history;

pub use history::{RedisHistory, META_TTL};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client, RedisError, Value};
use serde_json::json;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::broker::{
    Backend, BackendError, BackendHealth, BoxFuture, Broker, Envelope, EventLog, EventPos,
    InProcessBroker, NewNotification, PresenceStore, Replay, ResetReason, SharedStore, Subscriber,
};
use crate::history::HistoryLimits;
use crate::notifications::TOPIC as NOTIFICATIONS_TOPIC;
use crate::protocol::{now_ms, Level, Notification, Presence};

/// How long one connection attempt or command may take before Redis counts as unreachable.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// First reconnect delay; doubles per failed attempt up to [`RECONNECT_MAX`].
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How often an idle command connection is checked with `PING`.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// A subscription that has not heard this instance's own heartbeat (published once per
/// [`PING_EVERY`] on [`HEARTBEAT_TOPIC`]) for this long, while the heartbeats were being
/// published, is presumed dead (a half-open link: nothing arrives, no error either) and
/// re-established.
pub const SUBSCRIPTION_SILENCE: Duration = Duration::from_secs(3);
/// The topic of the subscription heartbeat (no client can subscribe to it: not a room name).
pub const HEARTBEAT_TOPIC: &str = "@alive";
/// How long one `XREAD BLOCK` waits before asking again.
const TAIL_BLOCK_MS: u64 = 1_000;
/// Publishes waiting for Redis; beyond this they are counted as dropped.
const PUBLISH_QUEUE: usize = 16_384;
/// Publishes sent to Redis in one pipeline.
const PUBLISH_BATCH: usize = 512;

/// Settings of the Redis backend.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// Notifications kept in the stream (`MAXLEN`).
    pub stream_maxlen: usize,
    /// Lifetime of a presence entry nobody refreshes.
    pub presence_ttl: Duration,
    /// Chat history kept per stream.
    pub history: HistoryLimits,
    /// The CA (PEM) to trust for `rediss://`, instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Delay before reconnect attempt `attempt` (0-based): `RECONNECT_MIN · 2^attempt`, capped at
/// [`RECONNECT_MAX`], with "equal jitter" (half fixed, half random) from `random` in 0..1 so
/// that instances do not reconnect in lockstep.
pub fn reconnect_delay(attempt: u32, random: f64) -> Duration {
    let ceiling = RECONNECT_MIN
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(RECONNECT_MAX);
    let half = ceiling / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// Parses a stream entry id `<ms>-<seq>`.
pub fn parse_stream_id(id: &str) -> Option<EventPos> {
    let (ms, seq) = id.trim().split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// A frame on a Redis channel: `<instance>\n<skip user or empty>\n<payload>`.
pub fn encode_frame(instance: &str, envelope: &Envelope) -> Vec<u8> {
    let skip = envelope.skip.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(instance.len() + skip.len() + envelope.payload.len() + 2);
    out.extend_from_slice(instance.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(skip.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(envelope.payload.as_bytes());
    out
}

/// Reads a channel frame back: the sending instance and the envelope; `None` if malformed.
pub fn decode_frame(bytes: &[u8]) -> Option<(&str, Envelope)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (instance, rest) = text.split_once('\n')?;
    let (skip, payload) = rest.split_once('\n')?;
    Some((
        instance,
        Envelope {
            payload: Utf8Bytes::from(payload.to_string()),
            skip: (!skip.is_empty()).then(|| Arc::from(skip)),
        },
    ))
}

/// Connects the Redis backend and starts its background tasks, which stop when `shutdown`
/// fires. Waits up to one [`COMMAND_TIMEOUT`] for Redis; if it is not there yet, the backend
/// starts degraded and keeps trying. Fails only for a URL that cannot be a Redis URL.
pub async fn connect(
    options: RedisOptions,
    shutdown: CancellationToken,
) -> Result<Backend, BackendError> {
    let client = match &options.ca_file {
        Some(path) => {
            let root_cert = std::fs::read(path)
                .map_err(|e| format!("--redis-ca-file {}: {e}", path.display()))?;
            Client::build_with_tls(
                options.url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )?
        }
        None => Client::open(options.url.as_str())?,
    };
    let instance: Arc<str> = Arc::from(crate::broker::new_run_id());
    let (conn_tx, _) = watch::channel(None);
    let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
    let shared = Arc::new(Shared {
        client,
        prefix: options.prefix.clone(),
        instance: instance.clone(),
        conn: conn_tx,
        broken: Notify::new(),
        reconnected: Notify::new(),
        local: InProcessBroker::default(),
        resubscribed: watch::Sender::new(None),
        health: Health::default(),
        publish_tx,
        shutdown: shutdown.clone(),
    });
    let presence = Arc::new(RedisPresence {
        shared: shared.clone(),
        ttl: options.presence_ttl,
        owned: Mutex::default(),
    });
    let events = Arc::new(RedisEventLog {
        shared: shared.clone(),
        key: format!("{}:notifications", options.prefix),
        maxlen: options.stream_maxlen.max(1),
    });

    tokio::spawn(keep_connected(shared.clone()));
    tokio::spawn(listen(shared.clone()));
    tokio::spawn(forward_publishes(shared.clone(), publish_rx));
    tokio::spawn(keep_presence(presence.clone()));
    tokio::spawn(tail_notifications(events.clone()));

    // A normal start is already connected when the server begins accepting clients.
    let mut ready = shared.conn.subscribe();
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, ready.wait_for(Option::is_some)).await;
    if shared.conn.borrow().is_none() {
        tracing::warn!(url = %redact_url(&options.url), "redis not reachable yet; serving local clients only");
    }

    Ok(Backend {
        broker: Arc::new(RedisBroker {
            shared: shared.clone(),
        }),
        presence,
        events,
        store: Arc::new(RedisStore {
            shared: shared.clone(),
        }),
        history: Arc::new(RedisHistory::new(
            shared.clone(),
            options.prefix.clone(),
            options.history,
        )),
        health: Arc::new(RedisHealth { shared }),
        user_tag: Arc::from(format!("@{instance}")),
    })
}

struct Shared {
    client: Client,
    prefix: String,
    instance: Arc<str>,
    /// The command connection while Redis is reachable.
    conn: watch::Sender<Option<MultiplexedConnection>>,
    /// A command failed in a way that means the connection is gone.
    broken: Notify,
    /// The command connection came back (presence entries are re-written at once).
    reconnected: Notify,
    /// This instance's subscribers.
    local: InProcessBroker,
    /// When the subscription was lost, sent again each time it is back (see
    /// [`Broker::resubscriptions`]).
    resubscribed: watch::Sender<Option<u64>>,
    health: Health,
    publish_tx: mpsc::Sender<(String, Envelope)>,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Health {
    commands: AtomicBool,
    subscription: AtomicBool,
    /// When the last subscription heartbeat was published (ms since the Unix epoch).
    heartbeat_sent_ms: AtomicU64,
    /// Subscriptions re-established because they went silent.
    silent_subscriptions: AtomicU64,
    tail: AtomicBool,
    reconnects: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn channel(&self, topic: &str) -> String {
        format!("{}:topic:{topic}", self.prefix)
    }

    fn connection(&self) -> Result<MultiplexedConnection, BackendError> {
        self.conn
            .borrow()
            .clone()
            .ok_or_else(|| "redis unavailable (degraded: serving local clients only)".into())
    }

    fn config(response_timeout: Duration) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(response_timeout))
    }

    fn record_error(&self, what: &str, e: &dyn std::fmt::Display) {
        let text = format!("{what}: {e}");
        let mut last = self
            .health
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.as_deref() != Some(text.as_str()) {
            tracing::warn!(error = %text, "redis");
        }
        *last = Some(text);
    }

    /// Notes a failed command; a lost connection is dropped and re-established.
    fn failed(&self, what: &str, e: &RedisError) {
        self.record_error(what, e);
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.is_connection_refusal()
        {
            self.drop_connection();
        }
    }

    fn drop_connection(&self) {
        self.conn.send_replace(None);
        self.health.commands.store(false, Ordering::Release);
        self.broken.notify_one();
    }

    async fn sleep_or_stop(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Waits before the next attempt (the delay grows with `attempt`, which is then bumped);
    /// `false` once the server is shutting down.
    async fn back_off(&self, attempt: &mut u32) -> bool {
        let delay = reconnect_delay(*attempt, jitter());
        *attempt = attempt.saturating_add(1);
        self.sleep_or_stop(delay).await
    }
}

/// Keeps one multiplexed command connection up: reconnects with backoff, pings when idle.
async fn keep_connected(shared: Arc<Shared>) {
    let mut attempt = 0u32;
    let mut was_connected = false;
    while !shared.shutdown.is_cancelled() {
        if shared.conn.borrow().is_none() {
            let config = Shared::config(COMMAND_TIMEOUT);
            match shared
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(conn) => {
                    attempt = 0;
                    shared.conn.send_replace(Some(conn));
                    shared.health.commands.store(true, Ordering::Release);
                    if was_connected {
                        shared.health.reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("redis reconnected");
                    }
                    was_connected = true;
                    shared.reconnected.notify_waiters();
                }
                Err(e) => {
                    shared.record_error("connect", &e);
                    if !shared.back_off(&mut attempt).await {
                        return;
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = shared.broken.notified() => {}
            () = tokio::time::sleep(PING_EVERY) => {
                if let Ok(mut conn) = shared.connection() {
                    if let Err(e) = redis::cmd("PING").query_async::<()>(&mut conn).await {
                        shared.failed("ping", &e);
                        continue;
                    }
                    // The subscription's own check: it must hear this within the silence limit.
                    let beat = encode_frame(&shared.instance, &Envelope::to_all(""));
                    let published = redis::cmd("PUBLISH")
                        .arg(shared.channel(HEARTBEAT_TOPIC))
                        .arg(beat)
                        .query_async::<i64>(&mut conn)
                        .await;
                    match published {
                        Ok(_) => shared.health.heartbeat_sent_ms.store(now_ms(), Ordering::Release),
                        Err(e) => shared.failed("heartbeat", &e),
                    }
                }
            }
        }
    }
}

/// Receives every topic from the other instances and delivers it to local subscribers.
async fn listen(shared: Arc<Shared>) {
    let pattern = format!("{}:topic:*", shared.prefix);
    let prefix = format!("{}:topic:", shared.prefix);
    let mut attempt = 0u32;
    // Set while the subscription is down, from the first moment it was.
    let mut lost_at: Option<u64> = None;
    while !shared.shutdown.is_cancelled() {
        let subscribed = tokio::time::timeout(COMMAND_TIMEOUT * 2, async {
            let mut pubsub: PubSub = shared.client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                attempt = 0;
                shared.health.subscription.store(true, Ordering::Release);
                if let Some(since) = lost_at.take() {
                    // Frames other instances published meanwhile never came: say from when.
                    shared.resubscribed.send_replace(Some(since));
                }
                let mut messages = pubsub.into_on_message();
                let mut heard_ms = now_ms();
                let mut check = tokio::time::interval(PING_EVERY);
                loop {
                    let message = tokio::select! {
                        () = shared.shutdown.cancelled() => return,
                        _ = check.tick() => {
                            let sent = shared.health.heartbeat_sent_ms.load(Ordering::Acquire);
                            let silence = u64::try_from(SUBSCRIPTION_SILENCE.as_millis()).unwrap_or(u64::MAX);
                            if sent > heard_ms.saturating_add(silence) {
                                shared.health.silent_subscriptions.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!("redis subscription silent: re-subscribing");
                                break;
                            }
                            continue;
                        }
                        message = messages.next() => message,
                    };
                    let Some(message) = message else { break };
                    // Anything arriving proves the link; our own heartbeat arrives at least
                    // once per ping interval while it works.
                    heard_ms = now_ms();
                    let Some(topic) = message.get_channel_name().strip_prefix(prefix.as_str())
                    else {
                        continue;
                    };
                    match decode_frame(message.get_payload_bytes()) {
                        Some((from, _)) if from == &*shared.instance => {}
                        Some((_, envelope)) => shared.local.publish_now(topic, &envelope),
                        None => tracing::debug!(topic, "ignoring a malformed frame from redis"),
                    }
                }
                shared.health.subscription.store(false, Ordering::Release);
                // Nothing arrived after the last frame heard: that is when the loss began (for a
                // silent link, seconds before it was noticed).
                lost_at.get_or_insert(heard_ms);
                shared.record_error("subscription", &"connection lost");
                // Redis itself is likely gone: do not wait for the next ping to notice, or the
                // first publish after it returns would go to a dead connection.
                shared.drop_connection();
            }
            Ok(Err(e)) => {
                lost_at.get_or_insert_with(now_ms);
                shared.record_error("subscribe", &e);
            }
            Err(_) => {
                lost_at.get_or_insert_with(now_ms);
                shared.record_error("subscribe", &"timed out");
            }
        }
        if !shared.back_off(&mut attempt).await {
            return;
        }
    }
}

/// Sends queued publishes to Redis in pipelines. A batch that fails is counted, not retried:
/// part of it may have gone out, and sending it again could deliver a message twice.
async fn forward_publishes(shared: Arc<Shared>, mut rx: mpsc::Receiver<(String, Envelope)>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
        }
        let count = batch.len() as u64;
        match shared.connection() {
            Ok(mut conn) => {
                let mut pipe = redis::pipe();
                for (topic, envelope) in batch.drain(..) {
                    pipe.cmd("PUBLISH")
                        .arg(shared.channel(&topic))
                        .arg(encode_frame(&shared.instance, &envelope))
                        .ignore();
                }
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    shared.health.dropped.fetch_add(count, Ordering::Relaxed);
                    shared.failed("publish", &e);
                }
            }
            Err(_) => {
                batch.clear();
                shared.health.dropped.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

/// Fan-out: local subscribers at once, other instances through Redis pub/sub.
pub struct RedisBroker {
    shared: Arc<Shared>,
}

impl Broker for RedisBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        envelope: Envelope,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        let shared = &self.shared;
        shared.local.publish_now(topic, &envelope);
        let remote_ok = shared.health.commands.load(Ordering::Acquire)
            && shared
                .publish_tx
                .try_send((topic.to_string(), envelope))
                .is_ok();
        if !remote_ok {
            shared.health.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn publish_local<'a>(
        &'a self,
        topic: &'a str,
        envelope: Envelope,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.shared.local.publish_now(topic, &envelope);
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber: Subscriber,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.shared.local.subscribe(topic, subscriber)
    }

    fn unsubscribe<'a>(
        &'a self,
        topic: &'a str,
        subscriber_id: u64,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.shared.local.unsubscribe(topic, subscriber_id)
    }

    fn local_topics(&self, prefix: &str) -> Vec<String> {
        self.shared.local.topics_with_prefix(prefix)
    }

    fn resubscriptions(&self) -> Option<watch::Receiver<Option<u64>>> {
        Some(self.shared.resubscribed.subscribe())
    }
}

/// set → user id → (arrival time in ms, entry).
type OwnedSets = HashMap<String, HashMap<String, (u64, Presence)>>;

/// Presence sets in Redis, with the entries this instance owns kept locally as well.
pub struct RedisPresence {
    shared: Arc<Shared>,
    ttl: Duration,
    /// What this instance's clients are.
    owned: Mutex<OwnedSets>,
}

impl RedisPresence {
    fn members_key(&self, set: &str) -> String {
        format!("{}:presence:{set}:members", self.shared.prefix)
    }

    fn user_key(&self, set: &str, user_id: &str) -> String {
        format!("{}:presence:{set}:user:{user_id}", self.shared.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis().max(1) as u64
    }

    /// Queues the entry itself (`SET … PX ttl`): all a cursor move needs once the user is listed.
    fn write_entry(&self, pipe: &mut redis::Pipeline, set: &str, entry: &Presence) {
        let Ok(json) = serde_json::to_string(entry) else {
            return;
        };
        pipe.cmd("SET")
            .arg(self.user_key(set, &entry.user_id))
            .arg(json)
            .arg("PX")
            .arg(self.ttl_ms())
            .ignore();
    }

    /// Queues the entry plus its membership and the set's lifetime (arrival, and the keeper's
    /// refresh every TTL/3).
    fn write(&self, pipe: &mut redis::Pipeline, set: &str, arrived: u64, entry: &Presence) {
        self.write_entry(pipe, set, entry);
        let members = self.members_key(set);
        pipe.cmd("ZADD")
            .arg(&members)
            .arg("NX")
            .arg(arrived)
            .arg(&entry.user_id)
            .ignore();
        // An abandoned set (every owner crashed) disappears too.
        pipe.cmd("PEXPIRE")
            .arg(&members)
            .arg(self.ttl_ms() * 2)
            .ignore();
    }

    fn owned_list(&self, set: &str) -> Vec<Presence> {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<(u64, Presence)> = owned
            .get(set)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        entries.sort_by(|a, b| (a.0, &a.1.user_id).cmp(&(b.0, &b.1.user_id)));
        entries.into_iter().map(|(_, p)| p).collect()
    }

    async fn list_shared(&self, set: &str) -> Result<Vec<Presence>, RedisError> {
        let mut conn = match self.shared.connection() {
            Ok(conn) => conn,
            Err(e) => return Err(RedisError::from(std::io::Error::other(e.to_string()))),
        };
        let members_key = self.members_key(set);
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&members_key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.user_key(set, id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut users = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value.and_then(|v| serde_json::from_str::<Presence>(&v).ok()) {
                Some(p) if p.user_id == id => users.push(p),
                _ => expired.push(id),
            }
        }
        if !expired.is_empty() {
            // Their owner stopped refreshing them (crashed); forget them for everyone.
            let _: Result<(), _> = redis::cmd("ZREM")
                .arg(&members_key)
                .arg(&expired)
                .query_async(&mut conn)
                .await;
        }
        Ok(users)
    }
}

impl PresenceStore for RedisPresence {
    fn upsert<'a>(
        &'a self,
        set: &'a str,
        entry: Presence,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (arrived, known) = {
                let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
                let entries = owned.entry(set.to_string()).or_default();
                let known = entries.get(&entry.user_id).map(|(arrived, _)| *arrived);
                let arrived = known.unwrap_or_else(now_ms);
                entries.insert(entry.user_id.clone(), (arrived, entry.clone()));
                (arrived, known.is_some())
            };
            // Without Redis the entry stays owned here and is written once it is back.
            if let Ok(mut conn) = self.shared.connection() {
                let mut pipe = redis::pipe();
                // Updates (20 a second per moving cursor) write only the entry; membership and
                // the set's TTL were written on arrival and are refreshed by `keep_presence`.
                if known {
                    self.write_entry(&mut pipe, set, &entry);
                } else {
                    self.write(&mut pipe, set, arrived, &entry);
                }
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    self.shared.failed("presence write", &e);
                }
            }
            Ok(())
        })
    }

    fn remove<'a>(
        &'a self,
        set: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            let owned_here = {
                let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
                let removed = owned
                    .get_mut(set)
                    .is_some_and(|entries| entries.remove(user_id).is_some());
                if owned.get(set).is_some_and(HashMap::is_empty) {
                    owned.remove(set);
                }
                removed
            };
            let mut removed_shared = false;
            if let Ok(mut conn) = self.shared.connection() {
                let result: Result<(i64, i64), _> = redis::pipe()
                    .cmd("DEL")
                    .arg(self.user_key(set, user_id))
                    .cmd("ZREM")
                    .arg(self.members_key(set))
                    .arg(user_id)
                    .query_async(&mut conn)
                    .await;
                match result {
                    Ok((_, zrem)) => removed_shared = zrem > 0,
                    Err(e) => self.shared.failed("presence remove", &e),
                }
            }
            Ok(owned_here || removed_shared)
        })
    }

    fn entries_expire(&self) -> bool {
        true
    }

    fn list<'a>(&'a self, set: &'a str) -> BoxFuture<'a, Result<Vec<Presence>, BackendError>> {
        Box::pin(async move {
            let owned = self.owned_list(set);
            match self.list_shared(set).await {
                Ok(mut users) => {
                    // Entries written while Redis was away are not there yet; show them anyway.
                    for mine in owned {
                        match users.iter_mut().find(|u| u.user_id == mine.user_id) {
                            Some(user) => *user = mine,
                            None => users.push(mine),
                        }
                    }
                    Ok(users)
                }
                Err(e) => {
                    if self.shared.conn.borrow().is_some() {
                        self.shared.failed("presence list", &e);
                    }
                    Ok(owned)
                }
            }
        })
    }
}

/// Re-writes this instance's presence entries every TTL/3 and right after a reconnect.
async fn keep_presence(presence: Arc<RedisPresence>) {
    let every = (presence.ttl / 3).max(Duration::from_millis(10));
    loop {
        tokio::select! {
            () = presence.shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
            () = presence.shared.reconnected.notified() => {}
        }
        let snapshot: Vec<(String, u64, Presence)> = {
            let owned = presence
                .owned
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            owned
                .iter()
                .flat_map(|(set, entries)| {
                    entries
                        .values()
                        .map(move |(arrived, p)| (set.clone(), *arrived, p.clone()))
                })
                .collect()
        };
        if snapshot.is_empty() {
            continue;
        }
        let Ok(mut conn) = presence.shared.connection() else {
            continue;
        };
        let mut pipe = redis::pipe();
        for (set, arrived, entry) in &snapshot {
            presence.write(&mut pipe, set, *arrived, entry);
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            presence.shared.failed("presence refresh", &e);
        }
    }
}

/// Notifications in a capped Redis Stream (appended and trimmed by one Lua script); stream ids
/// are the SSE ids.
pub struct RedisEventLog {
    shared: Arc<Shared>,
    key: String,
    maxlen: usize,
}

/// What `XINFO STREAM` says about where the stream has been.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamBounds {
    /// Newest id ever added.
    pub last_generated: EventPos,
    /// Newest id trimmed away (`0-0` if none).
    pub max_deleted: EventPos,
}

/// What a client resuming from `last` gets, given the stream's entries (oldest first) and
/// bounds read after them: exact replay, or a `reset` with everything kept.
pub fn plan_stream_replay(
    entries: Vec<Notification>,
    bounds: StreamBounds,
    last: Option<&str>,
) -> Replay {
    let newest_in = |entries: &[Notification]| {
        entries
            .last()
            .and_then(|n| parse_stream_id(&n.id))
            .unwrap_or((0, 0))
    };
    let Some(last) = last.map(str::trim).filter(|s| !s.is_empty()) else {
        return Replay {
            reset: None,
            events: Vec::new(),
            newest: bounds.last_generated.max(newest_in(&entries)),
        };
    };
    let reset = |reason, entries: Vec<Notification>| Replay {
        reset: Some(reason),
        newest: newest_in(&entries),
        events: entries,
    };
    let pos = match parse_stream_id(last) {
        Some(pos) if pos <= bounds.last_generated => pos,
        _ => return reset(ResetReason::UnknownRun, entries),
    };
    // Something newer than what the client has was trimmed: an exact replay is impossible.
    if pos < bounds.max_deleted {
        return reset(ResetReason::TooOld, entries);
    }
    // Only ids up to `max_deleted` are ever removed, so an id past it that the stream does not
    // hold was never issued by this stream: Redis lost its data (restarted without
    // persistence) and the new stream's time-based ids happen to be larger.
    let held = |n: &Notification| parse_stream_id(&n.id) == Some(pos);
    if pos > bounds.max_deleted && !entries.iter().any(held) {
        return reset(ResetReason::UnknownRun, entries);
    }
    let events: Vec<Notification> = entries
        .into_iter()
        .filter(|n| parse_stream_id(&n.id).is_some_and(|p| p > pos))
        .collect();
    Replay {
        reset: None,
        newest: newest_in(&events).max(pos),
        events,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one stream entry (`[id, [field, value, ...]]`) as a notification.
fn entry_to_notification(id: String, fields: &[Value]) -> Option<Notification> {
    let mut map: HashMap<String, String> = HashMap::new();
    for pair in fields.chunks(2) {
        if let [k, v] = pair {
            map.insert(text(k)?, text(v)?);
        }
    }
    Some(Notification {
        title: map.remove("title")?,
        message: map.remove("message")?,
        level: Level::parse(map.get("level")?)?,
        timestamp: map.get("timestamp")?.parse().ok()?,
        id,
    })
}

/// Reads the entries of an `XRANGE`/`XREAD` reply.
fn entries_of(value: &Value) -> Vec<Notification> {
    stream_entries(value, entry_to_notification)
}

/// The entries (`[id, [field, value, ...]]`) of an `XRANGE`/`XREAD` reply, each read by `read`
/// from its id and fields; malformed ones are skipped.
fn stream_entries<T>(value: &Value, read: impl Fn(String, &[Value]) -> Option<T>) -> Vec<T> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Array(pair) => match pair.as_slice() {
                [id, Value::Array(fields)] => read(text(id)?, fields),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn stream_bounds(info: &Value) -> StreamBounds {
    let pairs: Vec<(&Value, &Value)> = match info {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((k, v)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    let mut bounds = StreamBounds::default();
    let mut knows_deletions = false;
    for (k, v) in pairs {
        let pos = || text(v).and_then(|t| parse_stream_id(&t)).unwrap_or((0, 0));
        match text(k).as_deref() {
            Some("last-generated-id") => bounds.last_generated = pos(),
            Some("max-deleted-entry-id") => {
                knows_deletions = true;
                bounds.max_deleted = pos();
            }
            _ => {}
        }
    }
    if !knows_deletions {
        // Redis before 7.0 does not say what was deleted: only an up-to-date client can be
        // sure it missed nothing; everyone else gets a reset rather than a possible gap.
        bounds.max_deleted = bounds.last_generated;
    }
    bounds
}

/// Appends one notification and trims the stream to `ARGV[1]` entries, atomically.
///
/// Trimming with `XDEL` instead of `XADD MAXLEN` because only deletions move the stream's
/// `max-deleted-entry-id`, which is how a resume decides "too old" exactly: a client whose last
/// id is at or past it missed nothing that is gone.
const APPEND_SCRIPT: &str = r"
local id = redis.call('XADD', KEYS[1], '*', 'title', ARGV[2], 'message', ARGV[3],
  'level', ARGV[4], 'timestamp', ARGV[5])
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
  for _, entry in ipairs(oldest) do
    redis.call('XDEL', KEYS[1], entry[1])
  end
end
return id
";

impl RedisEventLog {
    async fn bounds(&self, conn: &mut MultiplexedConnection) -> Result<StreamBounds, RedisError> {
        match redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async::<Value>(conn)
            .await
        {
            Ok(info) => Ok(stream_bounds(&info)),
            // No stream yet: nothing was ever added.
            Err(e) if e.to_string().contains("no such key") => Ok(StreamBounds::default()),
            Err(e) => Err(e),
        }
    }
}

impl EventLog for RedisEventLog {
    fn position(&self, id: &str) -> Option<EventPos> {
        parse_stream_id(id)
    }

    fn delivers_live(&self) -> bool {
        true
    }

    fn append(&self, new: NewNotification) -> BoxFuture<'_, Result<Notification, BackendError>> {
        Box::pin(async move {
            let mut conn = self.shared.connection()?;
            let timestamp = now_ms();
            let level = serde_json::to_value(new.level)?;
            let level = level.as_str().unwrap_or("info").to_string();
            let added: Result<String, RedisError> = redis::cmd("EVAL")
                .arg(APPEND_SCRIPT)
                .arg(1)
                .arg(&self.key)
                .arg(self.maxlen)
                .arg(&new.title)
                .arg(&new.message)
                .arg(&level)
                .arg(timestamp)
                .query_async(&mut conn)
                .await;
            let id = added.inspect_err(|e| self.shared.failed("XADD", e))?;
            Ok(Notification {
                id,
                title: new.title,
                message: new.message,
                level: new.level,
                timestamp,
            })
        })
    }

    fn replay_after<'a>(
        &'a self,
        last_event_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replay, BackendError>> {
        Box::pin(async move {
            let mut conn = self.shared.connection()?;
            // Entries first, bounds after: a trim in between can only turn an exact replay
            // into a reset, never into a silent gap.
            let entries = redis::cmd("XRANGE")
                .arg(&self.key)
                .arg("-")
                .arg("+")
                .query_async::<Value>(&mut conn)
                .await
                .inspect_err(|e| self.shared.failed("XRANGE", e))?;
            let bounds = self
                .bounds(&mut conn)
                .await
                .inspect_err(|e| self.shared.failed("XINFO", e))?;
            Ok(plan_stream_replay(
                entries_of(&entries),
                bounds,
                last_event_id,
            ))
        })
    }
}

/// Follows the stream and hands each new event to this instance's SSE streams, in order.
/// Uses its own connection: a blocked `XREAD` would hold up every other command.
async fn tail_notifications(log: Arc<RedisEventLog>) {
    let shared = log.shared.clone();
    let mut cursor: Option<String> = None;
    let mut attempt = 0u32;
    while !shared.shutdown.is_cancelled() {
        let config = Shared::config(Duration::from_millis(TAIL_BLOCK_MS) + COMMAND_TIMEOUT);
        let mut conn = match shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                shared.record_error("notifications tail", &e);
                if !shared.back_off(&mut attempt).await {
                    return;
                }
                continue;
            }
        };
        if cursor.is_none() {
            // Start after what already exists: older events are for replay, not live.
            match log.bounds(&mut conn).await {
                Ok(b) => cursor = Some(format!("{}-{}", b.last_generated.0, b.last_generated.1)),
                Err(e) => {
                    shared.record_error("notifications tail", &e);
                    if !shared.back_off(&mut attempt).await {
                        return;
                    }
                    continue;
                }
            }
        }
        attempt = 0;
        shared.health.tail.store(true, Ordering::Release);
        loop {
            let from = cursor.clone().unwrap_or_else(|| "0-0".to_string());
            let mut xread = redis::cmd("XREAD");
            xread
                .arg("COUNT")
                .arg(PUBLISH_BATCH)
                .arg("BLOCK")
                .arg(TAIL_BLOCK_MS)
                .arg("STREAMS")
                .arg(&log.key)
                .arg(&from);
            let read = tokio::select! {
                () = shared.shutdown.cancelled() => return,
                read = xread.query_async::<Value>(&mut conn) => read,
            };
            let reply = match read {
                Ok(reply) => reply,
                Err(e) => {
                    shared.record_error("notifications tail", &e);
                    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                        shared.drop_connection();
                    }
                    break;
                }
            };
            for event in xread_entries(&reply) {
                cursor = Some(event.id.clone());
                if let Ok(data) = serde_json::to_string(&event) {
                    shared
                        .local
                        .publish_now(NOTIFICATIONS_TOPIC, &Envelope::to_all(data));
                }
            }
        }
        shared.health.tail.store(false, Ordering::Release);
        if !shared.sleep_or_stop(reconnect_delay(0, jitter())).await {
            return;
        }
    }
}

/// Entries of an `XREAD` reply for one stream (`Nil` when the block timed out).
fn xread_entries(reply: &Value) -> Vec<Notification> {
    let streams: Vec<&Value> = match reply {
        Value::Array(streams) => streams.iter().collect(),
        Value::Map(streams) => streams.iter().map(|(_, v)| v).collect(),
        _ => return Vec::new(),
    };
    streams
        .into_iter()
        .flat_map(|stream| match stream {
            // RESP2: [key, entries]; RESP3 maps give the entries directly.
            Value::Array(pair) if pair.len() == 2 && !matches!(pair[0], Value::Array(_)) => {
                entries_of(&pair[1])
            }
            entries => entries_of(entries),
        })
        .collect()
}

/// [`SharedStore`] in Redis: keys `<prefix>:store:<key>`.
pub struct RedisStore {
    shared: Arc<Shared>,
}

impl RedisStore {
    fn key(&self, key: &str) -> String {
        format!("{}:store:{key}", self.shared.prefix)
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, BackendError> {
        let mut conn = self.shared.connection()?;
        let result = cmd.query_async(&mut conn).await;
        Ok(result.inspect_err(|e| self.shared.failed(what, e))?)
    }
}

impl SharedStore for RedisStore {
    fn incr<'a>(&'a self, key: &'a str, by: i64) -> BoxFuture<'a, Result<i64, BackendError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("INCRBY");
            cmd.arg(self.key(key)).arg(by);
            self.query("INCRBY", &cmd).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, BackendError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.key(key));
            self.query("GET", &cmd).await
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(key)).arg(value);
            self.query("SET", &cmd).await
        })
    }
}

/// `/healthz` details of the Redis backend.
pub struct RedisHealth {
    shared: Arc<Shared>,
}

impl BackendHealth for RedisHealth {
    fn degraded(&self) -> bool {
        let h = &self.shared.health;
        !(h.commands.load(Ordering::Acquire)
            && h.subscription.load(Ordering::Acquire)
            && h.tail.load(Ordering::Acquire))
    }

    fn report(&self) -> serde_json::Value {
        let h = &self.shared.health;
        let last_error = h
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        json!({
            "kind": "redis",
            "state": if self.degraded() { "degraded" } else { "ok" },
            "instance": &*self.shared.instance,
            "commands": h.commands.load(Ordering::Acquire),
            "subscription": h.subscription.load(Ordering::Acquire),
            "notifications": h.tail.load(Ordering::Acquire),
            "reconnects": h.reconnects.load(Ordering::Relaxed),
            "silentSubscriptions": h.silent_subscriptions.load(Ordering::Relaxed),
            "droppedWhileDegraded": h.dropped.load(Ordering::Relaxed),
            "lastError": last_error,
        })
    }
}

/// `url` with any password replaced by `***` (`redis://user:***@host/0`), for logs: a Redis URL
/// often carries the credential of a managed instance.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The authority ends at the first '/', '?' or '#'; userinfo is what precedes its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    // `user:password@` keeps the user; a lone `secret@` (a token as userinfo) hides it all.
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{shown}@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_logged_without_their_password() {
        assert_eq!(
            redact_url("redis://:s3cret@db.example:6379/0"),
            "redis://:***@db.example:6379/0"
        );
        assert_eq!(
            redact_url("rediss://app:s3cret@db.example/1"),
            "rediss://app:***@db.example/1"
        );
        assert_eq!(
            redact_url("redis://tokenonly@db.example"),
            "redis://***@db.example"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://u:p@ss@h/0"), "redis://u:***@h/0");
        assert!(!redact_url("redis://:a@b@c/0").contains("a@b"));
    }

    fn n(id: &str) -> Notification {
        Notification {
            id: id.to_string(),
            title: "t".into(),
            message: "m".into(),
            level: Level::Info,
            timestamp: 1,
        }
    }

    fn ids(r: &Replay) -> Vec<&str> {
        r.events.iter().map(|n| n.id.as_str()).collect()
    }

    #[test]
    fn reconnect_delays_double_up_to_the_cap_and_jitter_stays_within_half() {
        assert_eq!(reconnect_delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(reconnect_delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(reconnect_delay(30, 1.0), RECONNECT_MAX);
        assert_eq!(reconnect_delay(u32::MAX, 0.0), RECONNECT_MAX / 2);
    }

    #[test]
    fn channel_frames_round_trip_and_garbage_is_refused() {
        let skip: Arc<str> = Arc::from("u3@abc");
        let envelope = Envelope::to_others("{\"a\":\"x\\ny\"}", &skip);
        let bytes = encode_frame("inst", &envelope);
        let (from, back) = decode_frame(&bytes).unwrap();
        assert_eq!(from, "inst");
        assert_eq!(back.skip.as_deref(), Some("u3@abc"));
        assert_eq!(back.payload.as_str(), envelope.payload.as_str());
        let all = encode_frame("i", &Envelope::to_all("multi\nline"));
        let (_, back) = decode_frame(&all).unwrap();
        assert_eq!((back.skip, back.payload.as_str()), (None, "multi\nline"));
        assert!(decode_frame(b"no newline").is_none());
        assert!(decode_frame(&[0xff, b'\n', b'\n']).is_none());
    }

    #[test]
    fn stream_ids_parse_as_ms_and_seq() {
        assert_eq!(
            parse_stream_id("1700000000000-3"),
            Some((1_700_000_000_000, 3))
        );
        assert_eq!(parse_stream_id("abc-1"), None);
        assert_eq!(parse_stream_id("5"), None);
    }

    #[test]
    fn stream_replay_is_exact_inside_the_stream_and_resets_outside_it() {
        // Stream keeps 10-0, 11-0, 12-0; 9-0 was trimmed; last generated 12-0.
        let kept = || vec![n("10-0"), n("11-0"), n("12-0")];
        let bounds = StreamBounds {
            last_generated: (12, 0),
            max_deleted: (9, 0),
        };
        let fresh = plan_stream_replay(kept(), bounds, None);
        assert_eq!(
            (fresh.reset, fresh.events.len(), fresh.newest),
            (None, 0, (12, 0))
        );
        let exact = plan_stream_replay(kept(), bounds, Some("10-0"));
        assert_eq!((exact.reset, ids(&exact)), (None, vec!["11-0", "12-0"]));
        // The client saw 9-0 itself, so nothing it lacks was trimmed.
        let edge = plan_stream_replay(kept(), bounds, Some("9-0"));
        assert_eq!((edge.reset, ids(&edge).len()), (None, 3));
        let current = plan_stream_replay(kept(), bounds, Some("12-0"));
        assert_eq!(
            (current.reset, current.events.len(), current.newest),
            (None, 0, (12, 0))
        );
        let old = plan_stream_replay(kept(), bounds, Some("8-5"));
        assert_eq!((old.reset, ids(&old).len()), (Some(ResetReason::TooOld), 3));
        // 11-5 is between kept ids but was never one of them: a stream that lost its data.
        let lost = plan_stream_replay(kept(), bounds, Some("11-5"));
        assert_eq!(
            (lost.reset, ids(&lost).len()),
            (Some(ResetReason::UnknownRun), 3)
        );
        for unknown in ["13-0", "garbage", "run-4", "1-x"] {
            let r = plan_stream_replay(kept(), bounds, Some(unknown));
            assert_eq!(
                (r.reset, r.events.len(), r.newest),
                (Some(ResetReason::UnknownRun), 3, (12, 0)),
                "{unknown}"
            );
        }
    }

    #[test]
    fn xinfo_and_xrange_replies_are_read() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let info = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("20-1"),
            bulk("max-deleted-entry-id"),
            bulk("19-0"),
        ]);
        assert_eq!(
            stream_bounds(&info),
            StreamBounds {
                last_generated: (20, 1),
                max_deleted: (19, 0)
            }
        );
        let old_redis = Value::Array(vec![bulk("last-generated-id"), bulk("20-1")]);
        assert_eq!(stream_bounds(&old_redis).max_deleted, (20, 1));
        let entry = |id: &str| {
            Value::Array(vec![
                bulk(id),
                Value::Array(vec![
                    bulk("title"),
                    bulk("T"),
                    bulk("message"),
                    bulk("M"),
                    bulk("level"),
                    bulk("warning"),
                    bulk("timestamp"),
                    bulk("42"),
                ]),
            ])
        };
        let range = Value::Array(vec![entry("20-0"), entry("20-1")]);
        let got = entries_of(&range);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[1].id.as_str(), got[1].level, got[1].timestamp),
            ("20-1", Level::Warning, 42)
        );
        let xread = Value::Array(vec![Value::Array(vec![bulk("key"), range])]);
        assert_eq!(xread_entries(&xread).len(), 2);
        assert!(xread_entries(&Value::Nil).is_empty());
        // An entry someone else wrote with missing fields is skipped, not a crash.
        let odd = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("title")]),
        ])]);
        assert!(entries_of(&odd).is_empty());
    }
}
