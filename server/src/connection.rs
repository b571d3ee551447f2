//! The socket loop every WebSocket endpoint shares: welcome, frame limits, rate limiting,
//! ping/pong, decoding the endpoint's own messages (error frames for bad ones), the bounded
//! outbound queue and closing with the documented codes.
//!
//! Each socket runs two halves: the reader (this loop, which calls into the endpoint) and the
//! writer (its own task, which drains the outbound queue into the socket; `socket_writer`).
//! Everything sent to a client — direct replies and broadcasts alike — goes through that one
//! bounded queue, except a broadcast frame for an idle socket, which its publisher may write
//! straight in (nothing is ahead of it then, so order holds); nothing ever waits for room in
//! the queue: a full queue marks the client as a slow consumer, which is closed with 1013
//! while everyone else carries on.

use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::auth::CLOSE_TOKEN_EXPIRED;
use crate::broker::{Envelope, Subscriber};
use crate::client_addr::ClientAddr;
use crate::config::Config;
use crate::metrics::EndpointMetrics;
use crate::protocol::{
    decode, now_ms, to_json, ClientMessage, CommonMsg, ErrorCode, Incoming, ProtocolError,
    ServerMsg,
};
use crate::socket_writer::{write_loop, CloseCommand, SocketOut};
use crate::state::{query_param, SharedState, SlotGuard, User};

/// Close code: the server is going away (shutdown, or an idle presence client).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the peer broke the WebSocket protocol itself.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a text frame that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: rate limit exceeded after the warning.
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: a frame over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: slow consumer; try again later.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Frames up to this much over a limit are read whole, so the close is a clean handshake
/// instead of an abandoned half-read frame.
const OVERSIZE_SLACK: usize = 64 * 1024;
/// How long to wait for the client's answer to our close frame.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a token's expiry (a year): keeps `Instant` arithmetic far from overflow
/// whatever `exp` says.
const MAX_TOKEN_WAIT_MS: u64 = 365 * 24 * 3600 * 1000;
/// Bytes tungstenite reads from the socket at a time. It zero-fills that much of its read
/// buffer before *every* read attempt, i.e. every time the reader is polled: at the default
/// 128 KiB, with the reader then polled once per broadcast (before the writer had a task of its
/// own), `memset` was 42% of the server's CPU in the 1,000-client fan-out (perf, 2026-12-04).
/// Client frames here are small; a larger one is simply read in several steps.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// What a WebSocket endpoint does with the frames the shared loop lets through.
pub trait Endpoint: Send + 'static {
    /// Endpoint name (`chat`, `typed-chat`, ...), also the suffix of its endpoint-wide topic.
    const NAME: &'static str;

    /// The messages clients send to this endpoint (besides `ping`, which the loop answers):
    /// the loop decodes them and answers bad frames itself, so `on_message` sees only valid ones.
    type Msg: ClientMessage;

    /// Largest binary frame accepted; text endpoints treat binary like text.
    fn max_binary_bytes(config: &Config) -> usize {
        config.max_text_bytes
    }

    /// Close the socket if the client sends nothing for this long.
    fn idle_timeout(&self, _config: &Config) -> Option<Duration> {
        None
    }

    /// Fields the endpoint adds to this socket's `welcome` (the chat's `epoch` and `seq`);
    /// runs before anything is sent.
    fn welcome_fields(
        &mut self,
        _conn: &mut Conn,
    ) -> impl Future<Output = Map<String, Value>> + Send {
        async { Map::new() }
    }

    /// After the welcome frame and the endpoint topic subscription.
    fn on_open(&mut self, conn: &mut Conn) -> impl Future<Output = ()> + Send;

    /// One of this endpoint's messages, decoded.
    fn on_message(
        &mut self,
        conn: &mut Conn,
        msg: Self::Msg,
    ) -> impl Future<Output = Result<(), ProtocolError>> + Send;

    /// A binary frame within the size limit.
    fn on_binary(
        &mut self,
        _conn: &mut Conn,
        _data: Bytes,
    ) -> impl Future<Output = Result<(), ProtocolError>> + Send {
        async {
            Err(ProtocolError::malformed(format!(
                "binary frames are not accepted on /ws/{}",
                Self::NAME
            )))
        }
    }

    /// Any accepted data frame, pings included (presence uses it to refresh `lastSeen`).
    fn on_activity(&mut self, _conn: &mut Conn) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The socket is closing for whatever reason; announce departures here.
    fn on_close(&mut self, conn: &mut Conn) -> impl Future<Output = ()> + Send;
}

/// The topic every socket of endpoint `name` is subscribed to.
pub fn endpoint_topic(name: &str) -> String {
    format!("ep:{name}")
}

/// One socket as endpoints see it: who it is, and ways to reach it and everyone else.
pub struct Conn {
    /// Shared server state.
    pub state: SharedState,
    /// This socket's user.
    pub user: User,
    inbox: Subscriber,
    topics: Vec<String>,
    query: Option<String>,
}

impl Conn {
    /// A parameter of the URL this socket was opened with (`?since=…`), percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref(), name)
    }

    /// Whether this socket's user is signed (a token was checked), not an open-mode guest.
    pub fn signed_user(&self) -> Option<&str> {
        self.user.identity.as_ref().map(|who| &*who.sub)
    }

    /// Queues a frame for this client only ([`ServerMsg`], or any frame an endpoint defines).
    pub fn send(&self, msg: &(impl Serialize + ?Sized)) {
        self.inbox.push(Message::Text(to_json(msg).into()));
    }

    /// Queues a binary frame for this client only.
    pub fn send_binary(&self, data: Bytes) {
        self.inbox.push(Message::Binary(data));
    }

    /// Whether this socket receives `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }

    /// Starts receiving `topic`.
    pub async fn subscribe(&mut self, topic: String) {
        if self.is_subscribed(&topic) {
            return;
        }
        if let Err(e) = self
            .state
            .backend
            .broker
            .subscribe(&topic, self.inbox.clone())
            .await
        {
            tracing::warn!(topic, error = %e, "subscribe failed");
        }
        self.topics.push(topic);
    }

    /// Stops receiving `topic`.
    pub async fn unsubscribe(&mut self, topic: &str) {
        self.topics.retain(|t| t != topic);
        if let Err(e) = self
            .state
            .backend
            .broker
            .unsubscribe(topic, self.inbox.id())
            .await
        {
            tracing::warn!(topic, error = %e, "unsubscribe failed");
        }
    }

    /// Sends `msg` to every subscriber of `topic`, this client included if subscribed.
    pub async fn broadcast(&self, topic: &str, msg: &(impl Serialize + ?Sized)) {
        self.publish(topic, Envelope::to_all(to_json(msg))).await;
    }

    /// Sends `msg` to every subscriber of `topic` except this client.
    pub async fn broadcast_to_others(&self, topic: &str, msg: &(impl Serialize + ?Sized)) {
        self.publish(topic, Envelope::to_others(to_json(msg), &self.user.id))
            .await;
    }

    async fn publish(&self, topic: &str, envelope: Envelope) {
        // Unconstrained: a broadcast written straight into the sockets makes one write per
        // subscriber, and tokio's per-task budget (128) would otherwise hand the rest to the
        // writer tasks mid-broadcast (`socket_writer`).
        let broker = &self.state.backend.broker;
        if let Err(e) =
            tokio::task::unconstrained(async { broker.publish(topic, envelope).await }).await
        {
            tracing::warn!(topic, error = %e, "publish failed");
        }
    }

    async fn unsubscribe_all(&mut self) {
        for topic in std::mem::take(&mut self.topics) {
            if let Err(e) = self
                .state
                .backend
                .broker
                .unsubscribe(&topic, self.inbox.id())
                .await
            {
                tracing::warn!(topic, error = %e, "unsubscribe failed");
            }
        }
    }
}

/// The route of an endpoint: `GET` upgrades to a WebSocket running a fresh `E::default()` on
/// the shared loop (`.route("/ws/chat", ws_route::<Chat>())`).
pub fn ws_route<E: Endpoint + Default>() -> MethodRouter<SharedState> {
    get(
        |State(state): State<SharedState>,
         Extension(client): Extension<ClientAddr>,
         headers: HeaderMap,
         RawQuery(query): RawQuery,
         ws: WebSocketUpgrade| async move {
            accept(state, ws, client, &headers, query.as_deref(), E::default())
        },
    )
}

/// Checks the token (with auth on: 401 before the upgrade) and the connection caps (global:
/// 503; per client address: 429), then upgrades and runs `endpoint` on the socket.
pub fn accept<E: Endpoint>(
    state: SharedState,
    ws: WebSocketUpgrade,
    client: ClientAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    endpoint: E,
) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down\n").into_response();
    }
    let identity = match state.auth.authenticate(headers, query) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::debug!(endpoint = E::NAME, reason = %e, "token refused");
            return e.into_response();
        }
    };
    let slot = match state.slots.try_acquire_for(client.0) {
        Ok(slot) => slot,
        Err(refused) => {
            tracing::debug!(endpoint = E::NAME, ?refused, "connection cap reached");
            return refused.into_response();
        }
    };
    let requested_name = query_param(query, "name");
    let query = query.map(str::to_string);
    let user = state.new_user(requested_name.as_deref(), identity);
    let frame_limit = state
        .config
        .max_text_bytes
        .max(E::max_binary_bytes(&state.config));
    let hard_limit = frame_limit.saturating_add(OVERSIZE_SLACK);
    // Held by the upgraded task so shutdown can wait for this socket's close handshake.
    let tracked = state.tracker.token();
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "upgrade failed"))
        .on_upgrade(move |socket| async move {
            let _tracked = tracked;
            run(socket, state, user, endpoint, slot, query, client.0).await;
        })
}

async fn run<E: Endpoint>(
    socket: WebSocket,
    state: SharedState,
    user: User,
    mut endpoint: E,
    _slot: SlotGuard,
    query: Option<String>,
    client: Option<std::net::IpAddr>,
) {
    tracing::debug!(endpoint = E::NAME, user = %user.id, "open");
    let opened = Instant::now();
    let metrics = state.metrics.endpoint(E::NAME);
    metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let out = SocketOut::new(sink, metrics.messages_out.clone());
    let (inbox, outbox, overflow) = Subscriber::new(
        user.id.clone(),
        state.config.outbound_capacity(),
        state.config.outbound_queue_bytes,
    );
    let inbox = inbox.with_direct(Arc::new(out.clone()));
    let mut conn = Conn {
        state,
        user,
        inbox,
        topics: Vec::new(),
        query,
    };
    let (close_tx, close_rx) = oneshot::channel();
    let mut close_tx = Some(close_tx);
    let writer_gone = CancellationToken::new();
    let writer = write_loop(out, outbox, close_rx, writer_gone.clone());
    let counted = metrics.clone();

    let reader = async move {
        let extra = endpoint.welcome_fields(&mut conn).await;
        conn.send(&ServerMsg::Welcome {
            user_id: conn.user.id.to_string(),
            name: conn.user.name.to_string(),
            server: crate::APP_NAME,
            extra,
        });
        conn.subscribe(endpoint_topic(E::NAME)).await;
        endpoint.on_open(&mut conn).await;
        let ending = read_loop(
            &mut stream,
            &mut conn,
            &mut endpoint,
            &overflow,
            &writer_gone,
            &mut close_tx,
            &counted,
        )
        .await;
        conn.state
            .metrics
            .closed(E::NAME, ending.close.as_ref().map(|c| c.code));
        // Leave before the close handshake: others must not wait on this client's goodbye.
        endpoint.on_close(&mut conn).await;
        conn.unsubscribe_all().await;
        // The access line: who, from where, how long, and how it ended (no query string: it
        // may carry a token).
        tracing::info!(
            target: "access",
            endpoint = E::NAME,
            user = %conn.user.id,
            client = client.map(|ip| ip.to_string()).as_deref().unwrap_or("unknown"),
            duration_ms = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX),
            code = ending.close.as_ref().map(|c| c.code),
            closed_by = if ending.close.is_some() { "server" } else { "client" },
            "websocket closed"
        );
        match (ending.close, close_tx.take()) {
            (Some(frame), Some(tx)) => {
                let drain = frame.code != CLOSE_TRY_AGAIN_LATER;
                // The writer may already be gone (socket broken); then there is no one to tell.
                let _ = tx.send(CloseCommand { frame, drain });
            }
            (_, tx) => drop(tx),
        }
        if ending.readable {
            // Reading on lets tungstenite flush its close reply and collect the client's, so
            // the TCP close that follows does not reset a connection with data in flight.
            let _ = timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
        } else {
            // Only make sure the close frame is on the wire before the socket is dropped.
            let _ = timeout(CLOSE_HANDSHAKE_TIMEOUT, writer_gone.cancelled()).await;
        }
    };
    // The writer is a task of its own, so a broadcast wakes only the writers: with both halves
    // in one task, every queued frame also re-polled the reader's dozen branches (a lock shared
    // by all sockets among them). Measured, 1,000 clients, Rust load generator, 12 runs each:
    // burst 729,816 → 1,312,480 deliveries/s, paced p99 13.65 → 12.72 ms. (Polling the halves
    // through a `FuturesUnordered` in one task instead cost 27% of the burst rate.) The writer
    // ends when the reader's side is gone (close command sent or dropped), and this task waits
    // for it, so shutdown still waits for every close handshake.
    let writer = tokio::spawn(writer);
    let ((), finished) = tokio::join!(reader, writer);
    if let Err(e) = finished {
        tracing::error!(error = %e, "socket writer task failed");
    }
    metrics.connections.dec();
}

/// Reads and handles frames until the socket must close. `closer` tells the writer to close;
/// the loop uses it itself only when the client's token expires: then the 4001 goes out at
/// `exp` and frames the client sent before it saw the close (in flight) are still handled,
/// until its close reply or [`CLOSE_HANDSHAKE_TIMEOUT`]; nothing it typed in that moment is
/// dropped.
async fn read_loop<E: Endpoint>(
    stream: &mut SplitStream<WebSocket>,
    conn: &mut Conn,
    endpoint: &mut E,
    overflow: &CancellationToken,
    writer_gone: &CancellationToken,
    closer: &mut Option<oneshot::Sender<CloseCommand>>,
    metrics: &EndpointMetrics,
) -> Ending {
    let config = &conn.state.config;
    let max_text = config.max_text_bytes;
    let max_binary = E::max_binary_bytes(config);
    let idle = endpoint.idle_timeout(config);
    let fresh_bucket = || RateLimiter::new(config.rate_per_sec, config.rate_burst, Instant::now());
    // A signed user's sockets share one bucket; an anonymous socket has its own.
    let limiter = match &conn.user.identity {
        Some(who) => conn.state.user_limits.bucket(&who.sub, fresh_bucket),
        None => Arc::new(std::sync::Mutex::new(fresh_bucket())),
    };
    let shutdown = conn.state.shutdown.clone();
    let mut drops = conn.state.socket_drops.subscribe();
    // Set once the 4001 is sent: in-flight frames are still handled until then.
    let mut grace_until: Option<Instant> = None;
    let mut idle_deadline = idle.map(|d| Instant::now() + d);
    // Liveness for every endpoint: a ping every interval; silence (not even a pong) for the
    // idle timeout closes the socket, so half-open and abandoned sockets give their slot back.
    let ping_every = config.ping_interval();
    let silence_limit = config.idle_timeout();
    let mut next_ping = Instant::now() + ping_every;
    let mut silent_until = Instant::now() + silence_limit;
    let mut token_expiry = conn.user.identity.as_ref().map(|who| {
        let left = who.expires_at_ms.saturating_sub(now_ms());
        Instant::now() + Duration::from_millis(left.min(MAX_TOKEN_WAIT_MS))
    });

    loop {
        let idle_expired = async {
            match idle_deadline {
                Some(deadline) => sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let token_expired = async {
            match token_expiry {
                Some(deadline) => sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let grace_over = async {
            match grace_until {
                Some(deadline) => sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                return match grace_until {
                    Some(_) => Ending::quiet(),
                    None => Ending::closing(close(CLOSE_GOING_AWAY, "server shutting down")),
                };
            }
            _ = token_expired => {
                token_expiry = None;
                let Some(tx) = closer.take() else { return Ending::quiet() };
                let frame = close(CLOSE_TOKEN_EXPIRED, "token expired");
                if tx.send(CloseCommand { frame, drain: true }).is_err() {
                    return Ending::quiet();
                }
                grace_until = Some(Instant::now() + CLOSE_HANDSHAKE_TIMEOUT);
                continue;
            }
            _ = grace_over => return Ending::quiet(),
            order = drops.recv() => {
                let hit = match order {
                    Ok(order) => order.matches(E::NAME, &conn.user.id),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => false,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        drops = conn.state.socket_drops.subscribe();
                        false
                    }
                };
                if hit {
                    return Ending::dropped();
                }
                continue;
            }
            () = sleep_until(silent_until) => {
                return Ending::closing(close(CLOSE_GOING_AWAY, "idle: nothing received, not even a pong"));
            }
            () = sleep_until(next_ping), if grace_until.is_none() => {
                conn.inbox.push(Message::Ping(Bytes::new()));
                next_ping = Instant::now() + ping_every;
                continue;
            }
            _ = overflow.cancelled(), if grace_until.is_none() => {
                metrics.slow_consumers.inc();
                return Ending::closing(close(CLOSE_TRY_AGAIN_LATER, "slow consumer: outbound queue full"));
            }
            // Once our close is written the writer is done: expected during the grace.
            _ = writer_gone.cancelled(), if grace_until.is_none() => return Ending::quiet(),
            _ = idle_expired => return Ending::closing(close(CLOSE_GOING_AWAY, "idle: nothing received within the TTL")),
            frame = stream.next() => frame,
        };
        let message = match frame {
            None => return Ending::quiet(),
            Some(Ok(message)) => message,
            Some(Err(error)) => return close_for_read_error(error),
        };
        silent_until = Instant::now() + silence_limit;
        let (payload_len, limit) = match &message {
            Message::Text(text) => (text.len(), max_text),
            Message::Binary(data) => (data.len(), max_binary),
            // The peer's close is answered by tungstenite, which also answers pings; those
            // still count against the rate limit below, as a ping flood costs a reply each.
            Message::Close(_) => return Ending::quiet(),
            Message::Ping(_) | Message::Pong(_) => (0, 0),
        };
        let is_control = matches!(message, Message::Ping(_) | Message::Pong(_));
        if payload_len > limit {
            return Ending::closing(close(
                CLOSE_TOO_BIG,
                &format!("frame of {payload_len} bytes; limit {limit}"),
            ));
        }
        // Only data frames count as activity: browsers cannot send pings, and presence wants
        // proof of an app that is alive, not of a TCP stack.
        if let (Some(d), false) = (idle, is_control) {
            idle_deadline = Some(Instant::now() + d);
        }
        let decision = limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(Instant::now());
        match decision {
            RateDecision::Allow => {}
            RateDecision::Warn => {
                metrics.rate_limited.inc();
                conn.send(&ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    message: "too many messages; slow down or be disconnected".into(),
                });
                continue;
            }
            RateDecision::Close => {
                metrics.rate_limited.inc();
                return Ending::closing(close(CLOSE_POLICY, "rate limit exceeded"));
            }
        }
        if is_control {
            continue;
        }
        metrics.messages_in.inc();
        endpoint.on_activity(conn).await;
        let outcome = match message {
            Message::Text(text) => match decode::<E::Msg>(&text) {
                Ok(Incoming::Common(CommonMsg::Ping { extra })) => {
                    conn.send(&ServerMsg::Pong { extra });
                    Ok(())
                }
                Ok(Incoming::Endpoint(msg)) => endpoint.on_message(conn, msg).await,
                Err(e) => Err(e),
            },
            Message::Binary(data) => endpoint.on_binary(conn, data).await,
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            conn.send(&e.to_server_msg());
        }
        // Frames already buffered would otherwise be handled back to back, fanning out faster
        // than the writers (woken by this very loop) get a turn, so a burst could overflow the
        // queues of clients that read perfectly well. Yielding lets them drain in step.
        tokio::task::yield_now().await;
    }
}

fn close(code: u16, reason: &str) -> CloseFrame {
    // Close reasons must fit a 125-byte control frame along with the 2-byte code.
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }
}

/// How the read loop ended.
struct Ending {
    /// The close frame to send, if the server is the one closing.
    close: Option<CloseFrame>,
    /// Whether the stream still sits at a frame boundary, so reading on to collect the
    /// client's close reply is safe.
    readable: bool,
}

impl Ending {
    fn closing(frame: CloseFrame) -> Self {
        Self {
            close: Some(frame),
            readable: true,
        }
    }

    fn quiet() -> Self {
        Self {
            close: None,
            readable: true,
        }
    }

    /// Gone without a close frame, as a crashed server or a cut cable looks to the client.
    fn dropped() -> Self {
        Self {
            close: None,
            readable: false,
        }
    }
}

fn close_for_read_error(error: axum::Error) -> Ending {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        // The bad frame was read whole; the stream is still in step.
        Some(tungstenite::Error::Utf8(_)) => {
            Ending::closing(close(CLOSE_INVALID_DATA, "text frame is not valid UTF-8"))
        }
        // Refused from its header alone: reading on would buffer the oversized payload, the
        // very thing the limit prevents.
        Some(tungstenite::Error::Capacity(_)) => Ending {
            close: Some(close(CLOSE_TOO_BIG, "frame too large")),
            readable: false,
        },
        // The client's TCP connection ended without a close frame (a dropped link, a killed
        // tab): gone, not a protocol violation; nothing to send (counted as closed by the client).
        Some(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => Ending {
            close: None,
            readable: false,
        },
        Some(tungstenite::Error::Protocol(e)) => {
            tracing::debug!(error = %e, "protocol violation");
            Ending {
                close: Some(close(CLOSE_PROTOCOL_ERROR, "protocol violation")),
                readable: false,
            }
        }
        _ => {
            tracing::debug!(error = %inner, "socket read failed");
            Ending {
                close: None,
                readable: false,
            }
        }
    }
}

/// What to do with one incoming message under the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allow,
    /// First excess: drop it and warn with `rate_limited`.
    Warn,
    /// Excess after the warning: close with 1008.
    Close,
}

/// Token bucket per client: `burst` tokens, refilled at `rate` per second; one warning, then
/// closing, with the warning forgiven once the bucket has refilled completely.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    warned: bool,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(rate_per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate_per_sec),
            burst,
            tokens: burst,
            last: now,
            warned: false,
        }
    }

    /// Takes a token for a message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> RateDecision {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= self.burst {
            self.warned = false;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            RateDecision::Allow
        } else if !self.warned {
            self.warned = true;
            RateDecision::Warn
        } else {
            RateDecision::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_warns_once_then_closes() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(50, 100, t0);
        for i in 0..100 {
            assert_eq!(limiter.check(t0), RateDecision::Allow, "message {i}");
        }
        assert_eq!(limiter.check(t0), RateDecision::Warn);
        assert_eq!(limiter.check(t0), RateDecision::Close);
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(50, 100, t0);
        for _ in 0..100 {
            limiter.check(t0);
        }
        assert_eq!(limiter.check(t0), RateDecision::Warn);
        // 20 ms at 50/s is one token.
        assert_eq!(
            limiter.check(t0 + Duration::from_millis(21)),
            RateDecision::Allow
        );
        assert_eq!(
            limiter.check(t0 + Duration::from_millis(21)),
            RateDecision::Close
        );
    }

    #[test]
    fn warning_is_forgiven_after_a_full_refill() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(50, 100, t0);
        for _ in 0..100 {
            limiter.check(t0);
        }
        assert_eq!(limiter.check(t0), RateDecision::Warn);
        let later = t0 + Duration::from_secs(3);
        for _ in 0..100 {
            assert_eq!(limiter.check(later), RateDecision::Allow);
        }
        assert_eq!(
            limiter.check(later),
            RateDecision::Warn,
            "a fresh warning, not a close"
        );
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(200);
        let frame = close(CLOSE_POLICY, &long);
        assert!(frame.reason.len() <= 123);
        assert_eq!(frame.code, CLOSE_POLICY);
    }
}
