//! The connection engine under every WebSocket hook: one socket with its closures and timers, the
//! reconnect schedule, the send queue and the heartbeat.
//!
//! Hooks are thin wiring over [`Connection`]; the decisions (how long to wait, whether to retry,
//! what to queue, when the link is dead) live in the pure modules of [`crate::core`]. The engine
//! owns every closure and timer it creates and drops them when the socket is replaced or the
//! connection shuts down: no `Closure::forget`, nothing fires after [`Connection::shutdown`].
//!
//! Everything that belongs to one socket (the socket and its closures, the handshake timer, the
//! heartbeat and its timer, when it opened) is one [`Link`] value: replacing or ending a socket is
//! one assignment, `link = None`, and nothing of an old socket can outlive it.
//!
//! Why web-sys and not `gloo-net`'s WebSocket: gloo-net exposes a socket as a `Stream`/`Sink`
//! pair whose close code and reason arrive only as an error at the end of the stream, with no
//! `readyState` (needed to refuse sends while CLOSING) and no control over `binaryType`; and its
//! futures need an executor task per socket. The engine needs the close code to pick a
//! reconnect policy, the ready state for every send, and timers that stop when the socket does,
//! so it holds the `WebSocket` and its four handlers itself (about 60 lines below).
//!
//! # Lifecycle
//!
//! In order, for one [`Connection`]:
//! 1. **Start** (first user mounts, or [`Connection::open`]): the URL is resolved — from
//!    [`WebSocketOptions::url`] when set (called, and awaited, on every attempt), else the
//!    endpoint — and a socket opens; state `Connecting`, with [`WebSocketOptions::connect_timeout_ms`]
//!    for the whole attempt.
//! 2. **Open**: state `Open`; then the [`Connection::on_open`] listeners run (rejoin a room,
//!    resubscribe: their sends go out first), then the outbox is flushed in order, then the
//!    heartbeat starts.
//! 3. **Message**: heartbeat answers are consumed (never in any history); every other frame goes to
//!    the [`Connection::on_frame`] listeners. Any frame proves the link alive.
//! 4. **Close** (close frame, lost link, dead heartbeat, handshake timeout): the link is dropped,
//!    [`Connection::on_close`] listeners run with the code, and the close policy decides:
//!    reconnect after a backoff delay (`Reconnecting`), refresh (4001: a fresh URL at once, not
//!    counted), or stop (`Closed`). While `navigator.onLine` is false no attempt is spent: the
//!    state is `Offline` until the browser reports the network back.
//! 5. **Wake-ups** (`online`, the page becoming visible, a page restored from the back/forward
//!    cache): an open link is probed at once; a waiting one (`Reconnecting`, `Offline`, `GaveUp`)
//!    retries at once. Only a close we asked for ([`Connection::close`]) ignores them.
//! 6. **Give up**: after `max_attempts` failed attempts, state `GaveUp`, and the
//!    [`Connection::on_give_up`] listeners run; a wake-up, [`Connection::open`] or
//!    [`Connection::retry_now`] starts again. Queued sends stay queued.
//! 7. **URL or options change** (in the hooks): a different endpoint or different options is a
//!    different connection with fresh state; the hook reports how many queued sends the old one
//!    had (`WsError::Abandoned` in the new one's status).
//! 8. **Unmount / shutdown**: the last user's lease ends; the socket closes with 1000, every timer,
//!    closure and listener is dropped, the state becomes `Closed`, and later sends answer
//!    `WsError::ShutDown`.

use std::cell::{Ref, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::browser::{self, PageListeners, Wake};
use crate::core::acks::{with_client_id, AckFailure, AckPolicy, AckTracker, LinkLost, PendingSend};
use crate::core::backoff::ReconnectPolicy;
use crate::core::close_policy::{describe_close_code, CloseDecision, ClosePolicy};
use crate::core::decimal::Fixed;
pub use crate::core::decode::{welcome, Frame, Welcome};
use crate::core::heartbeat::{Beat, HeartbeatPolicy, Liveness};
use crate::core::history::History;
use crate::core::outbox::{Outbox, OutboxError, Queued, SendPolicy};
use crate::core::resume::{Positions, Recovery, StreamFrame, MAIN_STREAM};
use crate::core::url::{resolve_endpoint, with_query_param, Scheme, UrlError};

/// How a WebSocket connection behaves; every field documents its default.
#[derive(Clone, Debug, PartialEq)]
pub struct WebSocketOptions {
    /// Reconnect schedule; `None` never reconnects. Default: base 1 s, cap 30 s, full jitter,
    /// forever, attempt counter reset after 5 s of stable link.
    pub reconnect: Option<ReconnectPolicy>,
    /// Which close codes stop retrying. Default: 1003 and 1008, and any close we asked for.
    pub close_policy: ClosePolicy,
    /// Ping/pong liveness check; `None` disables it. Default: ping every 30 s, dead after 10 s
    /// without a pong (the server answers `{type:"ping"}` with `{type:"pong"}`).
    pub heartbeat: Option<HeartbeatPolicy>,
    /// How many sends are kept while the socket is not open. Default: 1,000.
    pub queue_capacity: usize,
    /// A connection attempt still not open after this long is abandoned and retried. Default: 10 s.
    pub connect_timeout_ms: u32,
    /// Sub-protocols offered in the handshake. Default: none.
    pub protocols: Vec<String>,
    /// Connect on mount (`false`) or only when [`Connection::open`] is called (`true`). Default: false.
    pub manual: bool,
    /// Where to connect, asked again before every attempt (for a token that expires or must be
    /// fetched); `None` (the default) uses the endpoint the connection was made with. See
    /// [`UrlSource`].
    pub url: Option<UrlSource>,
    /// Resume streams after a reconnect (the server's history protocol, docs/protocol.md):
    /// remember the last `seq` of every stream, ask for what was missed (`?since=EPOCH:SEQ` on
    /// the URL for the main stream; [`Connection::resume_position`] for a room's `join`), drop
    /// any message already had, and report each replay in [`ConnectionStatus::recoveries`].
    /// Default: off (a server without history sends no `seq`; nothing changes then).
    pub resume: bool,
    /// Acknowledged sends ([`Connection::send_acked`]): how long to wait for an `ack`, how often
    /// to send. Default: [`AckPolicy::default`] (10 s, 4 sends).
    pub acks: AckPolicy,
}

type UrlFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;

/// What a [`UrlSource`] is told when it is asked for a URL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlRequest {
    /// True when the previous attempt was refused before it opened or closed with a refresh
    /// code (4001, see [`ClosePolicy::refresh_codes`]): a token the source keeps should be
    /// replaced, not reused. A browser does not show the HTTP status of a refused WebSocket
    /// handshake, so a 401 looks like any failed attempt; a source that renews on `refresh`
    /// gets past an expired or revoked token (a restarted server with a new secret) on the
    /// next attempt.
    pub refresh: bool,
}

/// A URL computed on every connection attempt, possibly asynchronously: the place for an auth
/// token (partysocket's `query`, react-use-websocket's async URL). Relative results resolve
/// against the page like endpoints do; an `Err` counts as a failed attempt (with backoff).
/// For the usual case, a token in `?token=`, give a [`crate::TokenSource`] to the
/// [`crate::RealtimeProvider`] instead: every connection below it gets its URL from that.
///
/// The function is captured when the connection is created; sources compare equal, so a closure
/// rebuilt on every render does not restart the connection. Read changing state (the current
/// token) inside the function, from a shared cell or a fetch.
///
/// # Example
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use realtime_hooks::connection::UrlSource;
///
/// let token = Rc::new(RefCell::new("t1".to_owned()));
/// let source = {
///     let token = token.clone();
///     UrlSource::new(move || format!("/ws/chat?token={}", token.borrow()))
/// };
/// // An async source: fetch a fresh token, then build the URL.
/// let fetched = UrlSource::future(|| async { Ok::<_, String>("/ws/chat?token=fresh".to_owned()) });
/// // One that renews its token when the last attempt was refused.
/// let renewing = UrlSource::with_request(|request| async move {
///     let token = if request.refresh { "renewed" } else { "cached" };
///     Ok::<_, String>(format!("/ws/chat?token={token}"))
/// });
/// # let _ = (source, fetched, renewing);
/// ```
#[derive(Clone)]
pub struct UrlSource(Rc<dyn Fn(UrlRequest) -> UrlFuture>);

impl UrlSource {
    /// A source computed synchronously.
    pub fn new(source: impl Fn() -> String + 'static) -> Self {
        Self(Rc::new(move |_| {
            let url = source();
            Box::pin(async move { Ok(url) })
        }))
    }

    /// A source that awaits something first (a token endpoint, a refresh).
    pub fn future<F, Fut>(source: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        Self(Rc::new(move |_| Box::pin(source())))
    }

    /// A source that is told why it is asked (see [`UrlRequest`]).
    pub fn with_request<F, Fut>(source: F) -> Self
    where
        F: Fn(UrlRequest) -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        Self(Rc::new(move |request| Box::pin(source(request))))
    }

    pub(crate) fn call(&self, request: UrlRequest) -> UrlFuture {
        (self.0)(request)
    }
}

impl PartialEq for UrlSource {
    /// Always equal: see the type's docs.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UrlSource(..)")
    }
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        Self {
            reconnect: Some(ReconnectPolicy::default()),
            close_policy: ClosePolicy::default(),
            heartbeat: Some(HeartbeatPolicy::default()),
            queue_capacity: Outbox::<Outgoing>::DEFAULT_CAPACITY,
            connect_timeout_ms: 10_000,
            protocols: Vec::new(),
            manual: false,
            url: None,
            resume: false,
            acks: AckPolicy::default(),
        }
    }
}

/// Where a connection is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionState {
    /// Not connected and not trying (manual mode before `open`).
    Idle,
    /// The handshake is in progress.
    Connecting,
    /// Frames flow both ways.
    Open,
    /// We asked to close and wait for the server to agree.
    Closing,
    /// Closed and not retrying (closed by us, a stop code, or reconnect disabled).
    Closed,
    /// Waiting `next_in_ms` before reconnect attempt number `attempt`.
    Reconnecting {
        /// The attempt that will be made next (1 for the first retry).
        attempt: u32,
        /// Delay chosen for this attempt, in milliseconds.
        next_in_ms: u32,
    },
    /// The attempt limit was reached; a wake-up (`online`, page visible), `open` or `retry_now`
    /// starts again.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The browser reports no network (`navigator.onLine` is false): no attempt is spent until
    /// it reports the network back.
    Offline,
}

impl ConnectionState {
    /// A short label for badges and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Closed => "closed",
            Self::Reconnecting { .. } => "reconnecting",
            Self::GaveUp { .. } => "gave up",
            Self::Offline => "offline",
        }
    }
}

/// How the last socket closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code (1006 when the link dropped without a close frame).
    pub code: u16,
    /// The reason the peer gave, if any.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, describe_close_code(self.code))?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong on a connection, as a value the UI can show.
#[derive(Clone, Debug, PartialEq)]
pub enum WsError {
    /// The endpoint could not be turned into a WebSocket URL.
    BadUrl(UrlError),
    /// The browser refused to create the socket.
    Create(String),
    /// The browser refused a send on an open socket.
    Send(String),
    /// The send queue is full; the message was not kept.
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// No pong arrived in time: the link was declared dead and is being replaced.
    LinkDead {
        /// How long we waited for the pong, in milliseconds.
        waited_ms: f64,
    },
    /// The handshake did not finish in time.
    ConnectTimeout {
        /// The limit that passed, in milliseconds.
        after_ms: u32,
    },
    /// A frame of a kind we cannot read (e.g. a Blob when ArrayBuffer was requested).
    UnexpectedFrame(String),
    /// The socket reported an error (browsers give no detail; a close follows).
    Socket,
    /// The engine was running (a caller holds a [`Connection::status`] borrow across the send):
    /// the message was not taken.
    Busy,
    /// The connection was shut down (its last user unmounted): the message was not taken.
    ShutDown,
    /// [`WebSocketOptions::url`] failed to produce a URL for this attempt.
    UrlSource(String),
    /// The previous connection of this hook (another URL or other options) was replaced with
    /// messages still queued; they were not sent.
    Abandoned {
        /// How many queued messages were not sent.
        unsent: usize,
        /// The endpoint they were queued for.
        endpoint: String,
    },
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(e) => write!(f, "bad endpoint URL: {e}"),
            Self::Create(e) => write!(f, "could not open the socket: {e}"),
            Self::Send(e) => write!(f, "send failed: {e}"),
            Self::QueueFull { capacity } => {
                write!(
                    f,
                    "send queue full ({capacity} messages): message not queued"
                )
            }
            Self::LinkDead { waited_ms } => {
                write!(
                    f,
                    "no pong for {} s: link presumed dead",
                    Fixed(waited_ms / 1000.0, 1)
                )
            }
            Self::ConnectTimeout { after_ms } => {
                write!(
                    f,
                    "no answer to the handshake after {} s",
                    Fixed(*after_ms as f64 / 1000.0, 1)
                )
            }
            Self::UnexpectedFrame(kind) => write!(f, "unexpected frame: {kind}"),
            Self::Socket => write!(f, "socket error"),
            Self::Busy => write!(
                f,
                "connection busy (a status borrow is held across the send): message not sent"
            ),
            Self::ShutDown => write!(f, "connection shut down: message not sent"),
            Self::UrlSource(e) => write!(f, "could not get the URL: {e}"),
            Self::Abandoned { unsent, endpoint } => write!(
                f,
                "{unsent} queued message(s) for {endpoint} were not sent: the connection was replaced"
            ),
        }
    }
}

impl std::error::Error for WsError {}

/// What happened to a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the open socket.
    Sent,
    /// Kept in the queue; it goes out, in order, when the socket opens.
    Queued,
    /// Replaced an older queued message with the same key (latest wins).
    Replaced,
    /// Dropped because the socket is not open and the policy said so.
    Dropped,
    /// The server acknowledged it (an acked send, [`Connection::send_acked`]): it is in the
    /// stream's history at this `seq`.
    Acked(u64),
}

/// What finally happened to an acknowledged send, told to [`Connection::on_delivery`].
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryReport {
    /// The send's `clientId`.
    pub client_id: String,
    /// `Ok(Delivery::Acked(seq))`, or why it was given up on.
    pub result: Result<Delivery, AckFailure>,
}

/// One line of a connection's short event log (shown by the connection panel).
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// `Date.now()` when it happened.
    pub at_ms: f64,
    /// What happened.
    pub text: String,
}

/// A snapshot of a connection for the UI.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionStatus {
    /// The endpoint as configured.
    pub endpoint: String,
    /// The resolved URL (empty until resolved).
    pub url: String,
    /// Where the connection is.
    pub state: ConnectionState,
    /// Consecutive failed attempts (reset after a stable link).
    pub attempt: u32,
    /// `Date.now()` of the next retry, while reconnecting.
    pub retry_at_ms: Option<f64>,
    /// How the last socket closed.
    pub last_close: Option<CloseInfo>,
    /// The last error, cleared when a socket opens.
    pub last_error: Option<WsError>,
    /// Messages waiting in the send queue.
    pub queued: usize,
    /// Sends refused because the queue was full.
    pub overflowed: u64,
    /// Sends dropped while offline by their policy.
    pub dropped: u64,
    /// The last heartbeat round-trip time.
    pub rtt_ms: Option<f64>,
    /// Frames received since creation.
    pub received: u64,
    /// Frames sent since creation.
    pub sent: u64,
    /// The last events, oldest first.
    pub log: History<LogEntry>,
    /// The server's latest `welcome` (who this connection is), if it sent one.
    pub welcome: Option<Welcome>,
    /// The latest replay of each stream ([`WebSocketOptions::resume`]): whether what was missed
    /// while away was recovered; newest last.
    pub recoveries: Vec<Recovery>,
    /// Messages dropped because they were already had (a replay overlapping live messages).
    pub duplicates: u64,
    /// Acknowledged sends still waiting for their `ack`.
    pub unacked: usize,
    /// Acknowledged sends given up on (see [`Connection::pending_sends`]).
    pub failed_sends: usize,
}

impl ConnectionStatus {
    fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            url: String::new(),
            state: ConnectionState::Idle,
            attempt: 0,
            retry_at_ms: None,
            last_close: None,
            last_error: None,
            queued: 0,
            overflowed: 0,
            dropped: 0,
            rtt_ms: None,
            received: 0,
            sent: 0,
            log: History::new(40),
            welcome: None,
            recoveries: Vec::new(),
            duplicates: 0,
            unacked: 0,
            failed_sends: 0,
        }
    }

    /// The latest replay of `stream` ([`MAIN_STREAM`] for the chat, else a room).
    pub fn recovery(&self, stream: &str) -> Option<&Recovery> {
        self.recoveries.iter().rev().find(|r| r.stream == stream)
    }

    /// True while frames can flow.
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Open
    }
}

/// A queued outgoing frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Text (usually JSON).
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Text kept until the server acks `client_id` ([`Connection::send_acked`]).
    Tracked {
        /// The id the ack names.
        client_id: String,
        /// The frame.
        text: String,
    },
}

type FrameListener = Rc<dyn Fn(&Frame)>;
type StatusListener = Rc<dyn Fn()>;
type OpenListener = Rc<dyn Fn(&Connection)>;
type CloseListener = Rc<dyn Fn(&CloseInfo)>;
type GiveUpListener = Rc<dyn Fn(u32)>;
type DeliveryListener = Rc<dyn Fn(&DeliveryReport)>;

/// The closures of one socket; dropping it detaches them and closes the socket.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        if self.ws.ready_state() <= WebSocket::OPEN {
            // Ignored on purpose: a socket that cannot close is gone either way.
            let _ = self.ws.close_with_code(1000);
        }
    }
}

impl Socket {
    /// Whether a send would reach the wire: a CLOSING socket accepts `send` and drops the data.
    fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }
}

/// Everything that belongs to one connection attempt and its socket; dropped as one.
struct Link {
    /// `None` while the URL is being resolved.
    socket: Option<Socket>,
    /// Abandons the attempt if it is not open in time.
    connect_timer: Option<Timeout>,
    /// Liveness and its tick, while open.
    heartbeat: Option<(Liveness, Interval)>,
    /// The last heartbeat tick (a gap means the timers were frozen).
    last_tick_ms: f64,
    /// `performance.now()` when the socket opened.
    opened_at_ms: Option<f64>,
    /// The last ping sent (an echo of it is its answer).
    last_ping: Option<String>,
    /// Which attempt this is; a URL resolved for another attempt is ignored.
    id: u64,
    /// Checks overdue acks once a second, from the first acked send on this link.
    ack_timer: Option<Interval>,
}

impl Link {
    fn socket_open(&self) -> Option<&Socket> {
        self.socket.as_ref().filter(|s| s.is_open())
    }
}

struct Inner {
    options: WebSocketOptions,
    status: ConnectionStatus,
    link: Option<Link>,
    outbox: Outbox<Outgoing>,
    reconnect_timer: Option<Timeout>,
    /// Wake-up listeners: present while the connection is wanted (not closed by us, not shut down).
    page_listeners: Option<PageListeners>,
    closing_by_us: bool,
    /// Refresh closes (4001) in a row without a link that stayed up.
    refreshes: u32,
    /// The next URL request says `refresh` (see [`UrlRequest`]).
    stale_url: bool,
    next_link: u64,
    shut_down: bool,
    /// What we have of each stream ([`WebSocketOptions::resume`]).
    positions: Positions,
    /// Acknowledged sends waiting for their ack.
    acks: AckTracker,
    /// Prefix of this connection's `clientId`s (random) and the next number.
    client_ids: (String, u64),
    /// The server named a stream's `epoch` (in `welcome` or `joined`): it speaks the history
    /// protocol, so it acks `clientId`s.
    history_protocol: bool,
}

#[derive(Default)]
struct Listeners {
    frame: ListenerList<FrameListener>,
    status: ListenerList<StatusListener>,
    open: ListenerList<OpenListener>,
    close: ListenerList<CloseListener>,
    give_up: ListenerList<GiveUpListener>,
    delivery: ListenerList<DeliveryListener>,
    next: u64,
}

/// Listeners of one kind, shared copy-on-write: calling them takes a snapshot (an `Rc` clone,
/// no allocation per frame) so one may subscribe or unsubscribe while being called; changing
/// the list copies it only while such a snapshot is alive.
type ListenerList<L> = Rc<Vec<(u64, L)>>;

/// Drops listener `id` from `list`, copying the list only when it holds it.
fn unlisten<L: Clone>(list: &mut ListenerList<L>, id: u64) {
    if list.iter().any(|(i, _)| *i == id) {
        Rc::make_mut(list).retain(|(i, _)| *i != id);
    }
}

impl Listeners {
    fn remove(&mut self, id: u64) {
        unlisten(&mut self.frame, id);
        unlisten(&mut self.status, id);
        unlisten(&mut self.open, id);
        unlisten(&mut self.close, id);
        unlisten(&mut self.give_up, id);
        unlisten(&mut self.delivery, id);
    }

    fn clear(&mut self) {
        *self = Self {
            next: self.next,
            ..Self::default()
        };
    }
}

/// The engine's state and its listeners, in separate cells: a listener can be added while the
/// status is borrowed, and the state can change while a listener runs.
struct Engine {
    inner: RefCell<Inner>,
    listeners: RefCell<Listeners>,
}

enum Notice {
    Frame(Frame),
    Status,
    /// The socket opened: run the open listeners, then flush the outbox.
    Opened,
    Closed(CloseInfo),
    GaveUp(u32),
    Delivery(DeliveryReport),
}

/// A WebSocket connection with reconnect, send queue and heartbeat; cheap to clone (shared).
#[derive(Clone)]
pub struct Connection(Rc<Engine>);

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = self
            .0
            .inner
            .try_borrow()
            .map(|inner| inner.status.endpoint.clone())
            .unwrap_or_default();
        f.debug_tuple("Connection").field(&endpoint).finish()
    }
}

/// Removes a listener when dropped.
pub struct ListenerGuard {
    conn: Weak<Engine>,
    id: u64,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        if let Some(engine) = self.conn.upgrade() {
            if let Ok(mut listeners) = engine.listeners.try_borrow_mut() {
                listeners.remove(self.id);
            }
        }
    }
}

impl Connection {
    /// A connection to `endpoint` (relative paths resolve against the page); nothing happens until
    /// [`Connection::start`].
    pub fn new(endpoint: &str, options: WebSocketOptions) -> Self {
        let outbox = Outbox::new(options.queue_capacity);
        let acks = options.acks.clone();
        Self(Rc::new(Engine {
            inner: RefCell::new(Inner {
                options,
                status: ConnectionStatus::new(endpoint),
                link: None,
                outbox,
                reconnect_timer: None,
                page_listeners: None,
                closing_by_us: false,
                refreshes: 0,
                stale_url: false,
                next_link: 0,
                shut_down: false,
                positions: Positions::default(),
                acks: AckTracker::new(acks),
                client_ids: (String::new(), 0),
                history_protocol: false,
            }),
            listeners: RefCell::new(Listeners::default()),
        }))
    }

    /// Connects unless the options say manual; called once when the first user mounts.
    pub fn start(&self) {
        let manual = self.0.inner.borrow().options.manual;
        if !manual {
            self.open();
        }
    }

    /// Opens the connection now (also after `close` or giving up) and resets the attempt counter;
    /// a connection already open or connecting is left as it is.
    pub fn open(&self) {
        self.run(|inner, weak| {
            inner.closing_by_us = false;
            inner.watch_page(weak);
            if matches!(
                inner.status.state,
                ConnectionState::Open | ConnectionState::Connecting
            ) {
                return Vec::new();
            }
            inner.status.attempt = 0;
            inner.connect(weak)
        });
    }

    /// Skips the wait of a pending reconnect and tries now (the attempt counter is kept).
    pub fn retry_now(&self) {
        self.run(|inner, weak| match inner.status.state {
            ConnectionState::Reconnecting { .. }
            | ConnectionState::GaveUp { .. }
            | ConnectionState::Offline
            | ConnectionState::Closed
            | ConnectionState::Idle => {
                inner.closing_by_us = false;
                inner.watch_page(weak);
                inner.connect(weak)
            }
            _ => Vec::new(),
        });
    }

    /// Closes with code 1000 and stops reconnecting; queued messages stay queued.
    pub fn close(&self) {
        self.run(|inner, _| inner.close_by_us(1000, "closed by the client"));
    }

    /// Sends text now when open; otherwise applies `policy` (queue, replace by key, or drop).
    pub fn send_text_with(&self, text: String, policy: &SendPolicy) -> Result<Delivery, WsError> {
        self.send(Outgoing::Text(text), policy)
    }

    /// Sends bytes as a binary frame (queued like text while offline).
    pub fn send_binary_with(
        &self,
        bytes: Vec<u8>,
        policy: &SendPolicy,
    ) -> Result<Delivery, WsError> {
        self.send(Outgoing::Binary(bytes), policy)
    }

    /// Sends `text` (which carries `"clientId": client_id`) and keeps it until the server's
    /// `ack` for `client_id` arrives: resent with the same id after a reconnect, reported to
    /// [`Connection::on_delivery`] as `Delivery::Acked(seq)`, or as failed when no ack comes
    /// (see [`AckPolicy`]). Queued like any send while the socket is not open.
    ///
    /// Acks need a server that speaks the history protocol (its `welcome` or `joined` names an
    /// `epoch`, docs/protocol.md). Until this connection has seen that — before its first open,
    /// or with a server that does not (the seed's) — the message is sent like
    /// [`Connection::send_text_with`], untracked, so nothing waits for an ack that never comes.
    pub fn send_acked(&self, client_id: String, text: String) -> Result<Delivery, WsError> {
        if self.is_shut_down() {
            return Err(WsError::ShutDown);
        }
        let mut result = Err(WsError::Busy);
        self.run(|inner, weak| {
            result = inner.send_acked(weak, client_id, text);
            vec![Notice::Status]
        });
        result
    }

    /// Sends `value` (serialized to a JSON object) as an acknowledged send with a fresh
    /// `clientId` added; returns the id (to match its [`DeliveryReport`] and its echo) and what
    /// happened to the send for now.
    ///
    /// # Example
    /// ```
    /// use realtime_hooks::{Connection, Delivery, WebSocketOptions};
    ///
    /// fn say(conn: &Connection, text: &str) -> Option<String> {
    ///     let message = serde_json::json!({ "type": "message", "text": text });
    ///     // Shown as "sending…" until the report below says Acked.
    ///     conn.send_json_acked(&message).ok().map(|(client_id, _now)| client_id)
    /// }
    ///
    /// fn watch(conn: &Connection) -> realtime_hooks::connection::ListenerGuard {
    ///     conn.on_delivery(|report| match &report.result {
    ///         Ok(Delivery::Acked(seq)) => web_sys::console::log_1(&format!("{} is #{seq}", report.client_id).into()),
    ///         Ok(_) => {}
    ///         // Not retried on its own: offer Retry (`conn.retry_send(id)`) or Dismiss.
    ///         Err(why) => web_sys::console::warn_1(&format!("not delivered: {why}").into()),
    ///     })
    /// }
    /// # let _ = (say, watch, WebSocketOptions { resume: true, ..Default::default() });
    /// ```
    pub fn send_json_acked<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(String, Delivery), WsError> {
        let json = serde_json::to_string(value).map_err(|e| WsError::Send(e.to_string()))?;
        if self.is_shut_down() {
            return Err(WsError::ShutDown);
        }
        // The id is drawn inside the engine's turn, like every send: a caller holding a status
        // borrow gets `Busy`, not a panic.
        let mut result = Err(WsError::Busy);
        self.run(|inner, weak| {
            let id = inner.next_client_id();
            result = match with_client_id(&json, &id) {
                Some(text) => inner.send_acked(weak, id.clone(), text).map(|d| (id, d)),
                None => Err(WsError::Send(
                    "an acknowledged send must be a JSON object".to_owned(),
                )),
            };
            vec![Notice::Status]
        });
        result
    }

    /// Sends a failed acknowledged send again under its id (a server that got it the first time
    /// only acks it); `false` if `client_id` is not a failed send.
    pub fn retry_send(&self, client_id: &str) -> bool {
        let mut retried = false;
        self.run(|inner, weak| {
            let Some(text) = inner.acks.retry(client_id) else {
                return Vec::new();
            };
            retried = true;
            let frame = Outgoing::Tracked {
                client_id: client_id.to_owned(),
                text,
            };
            if let Err(e) = inner.send(frame, &SendPolicy::Keep) {
                inner.status.last_error = Some(e);
            }
            inner.watch_acks(weak);
            vec![Notice::Status]
        });
        retried
    }

    /// Stops tracking a send (a failed one the user dismissed).
    pub fn forget_send(&self, client_id: &str) {
        self.run(|inner, _| {
            inner.acks.forget(client_id);
            vec![Notice::Status]
        });
    }

    /// The acknowledged sends still tracked, oldest first: waiting for their ack, or failed.
    pub fn pending_sends(&self) -> Vec<PendingSend> {
        self.0
            .inner
            .try_borrow()
            .map(|inner| inner.acks.pending().cloned().collect())
            .unwrap_or_default()
    }

    /// Where to resume `stream` (`EPOCH:SEQ`) with [`WebSocketOptions::resume`]: the `since` of a
    /// room's `join`. `None` before the stream's epoch is known.
    pub fn resume_position(&self, stream: &str) -> Option<String> {
        self.0
            .inner
            .try_borrow()
            .ok()
            .and_then(|inner| inner.positions.position(stream))
    }

    /// Forgets what this connection had of `stream` (resuming): a fresh join that should show
    /// the stream's newest messages again, not drop them as already seen.
    pub fn forget_stream(&self, stream: &str) {
        if let Ok(mut inner) = self.0.inner.try_borrow_mut() {
            inner.positions.forget(stream);
        }
    }

    /// A send is on the wire, in the outbox, or an error: never `Ok` for a message nobody took.
    fn send(&self, frame: Outgoing, policy: &SendPolicy) -> Result<Delivery, WsError> {
        if self.is_shut_down() {
            return Err(WsError::ShutDown);
        }
        // Stays `Busy` if the engine cannot run (a status borrow is held by the caller).
        let mut result = Err(WsError::Busy);
        self.run(|inner, _| {
            result = inner.send(frame, policy);
            vec![Notice::Status]
        });
        result
    }

    /// A snapshot borrow of the status; do not hold it across a send.
    pub fn status(&self) -> Ref<'_, ConnectionStatus> {
        Ref::map(self.0.inner.borrow(), |inner| &inner.status)
    }

    /// The options this connection was made with.
    pub fn options(&self) -> WebSocketOptions {
        self.0.inner.borrow().options.clone()
    }

    /// Whether [`Connection::shutdown`] ran: nothing connects or sends any more.
    pub fn is_shut_down(&self) -> bool {
        self.0.inner.try_borrow().is_ok_and(|inner| inner.shut_down)
    }

    fn listen<L: Clone>(
        &self,
        pick: impl FnOnce(&mut Listeners) -> &mut ListenerList<L>,
        listener: L,
    ) -> ListenerGuard {
        let mut listeners = self.0.listeners.borrow_mut();
        let id = listeners.next;
        listeners.next += 1;
        Rc::make_mut(pick(&mut listeners)).push((id, listener));
        ListenerGuard {
            conn: Rc::downgrade(&self.0),
            id,
        }
    }

    /// Calls `listener` with every received frame (heartbeat answers excepted) until the guard
    /// drops.
    pub fn on_frame(&self, listener: impl Fn(&Frame) + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.frame, Rc::new(listener) as FrameListener)
    }

    /// Calls `listener` after every status change until the guard drops.
    pub fn on_status(&self, listener: impl Fn() + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.status, Rc::new(listener) as StatusListener)
    }

    /// Calls `listener` each time a socket opens, before the queued messages are flushed: sends
    /// made here (rejoin a room, resubscribe) go out first, so the queue lands in a restored
    /// session. The listener gets the connection to send on (no need to capture it).
    ///
    /// # Example
    /// ```
    /// use realtime_hooks::{Connection, WebSocketOptions};
    /// use realtime_hooks::core::outbox::SendPolicy;
    ///
    /// fn rejoin_on_every_open(conn: &Connection) -> realtime_hooks::connection::ListenerGuard {
    ///     conn.on_open(|conn| {
    ///         let join = r#"{"type":"join","room":"general"}"#.to_owned();
    ///         // Goes out before anything queued while the link was down.
    ///         let _ = conn.send_text_with(join, &SendPolicy::Keep);
    ///     })
    /// }
    /// # let _ = rejoin_on_every_open;
    /// ```
    pub fn on_open(&self, listener: impl Fn(&Connection) + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.open, Rc::new(listener) as OpenListener)
    }

    /// Calls `listener` each time a socket closes (or is abandoned), with how it closed.
    pub fn on_close(&self, listener: impl Fn(&CloseInfo) + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.close, Rc::new(listener) as CloseListener)
    }

    /// Calls `listener` with the number of attempts made when the connection gives up.
    pub fn on_give_up(&self, listener: impl Fn(u32) + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.give_up, Rc::new(listener) as GiveUpListener)
    }

    /// Calls `listener` when an acknowledged send is acked or given up on.
    pub fn on_delivery(&self, listener: impl Fn(&DeliveryReport) + 'static) -> ListenerGuard {
        self.listen(|l| &mut l.delivery, Rc::new(listener) as DeliveryListener)
    }

    /// Records that `unsent` messages queued on the connection this one replaces were not sent.
    pub fn report_abandoned(&self, unsent: usize, endpoint: &str) {
        self.run(|inner, _| {
            let error = WsError::Abandoned {
                unsent,
                endpoint: endpoint.to_owned(),
            };
            inner.log(format!(
                "{unsent} queued for {endpoint} were not sent: the connection was replaced"
            ));
            inner.status.last_error = Some(error);
            vec![Notice::Status]
        });
    }

    /// Closes the socket and drops every closure, timer and listener; nothing fires afterwards.
    /// Returns how many queued messages were never sent (0 if it was already shut down).
    pub fn shutdown(&self) -> usize {
        let unsent = match self.0.inner.try_borrow_mut() {
            Ok(mut inner) if !inner.shut_down => {
                inner.shut_down = true;
                inner.closing_by_us = true;
                inner.reconnect_timer = None;
                inner.page_listeners = None;
                inner.link = None;
                inner.status.retry_at_ms = None;
                inner.set_state(ConnectionState::Closed);
                let unsent = inner.outbox.len();
                inner.outbox.drain().for_each(drop);
                inner.status.queued = 0;
                unsent
            }
            _ => 0,
        };
        if let Ok(mut listeners) = self.0.listeners.try_borrow_mut() {
            listeners.clear();
        }
        unsent
    }

    /// Runs `f` with the state borrowed, then tells listeners outside the borrow, so a listener may
    /// call back into the connection (e.g. send on open) without a double borrow.
    fn run(&self, f: impl FnOnce(&mut Inner, &Weak<Engine>) -> Vec<Notice>) {
        run_on(&Rc::downgrade(&self.0), f);
    }
}

fn run_on(weak: &Weak<Engine>, f: impl FnOnce(&mut Inner, &Weak<Engine>) -> Vec<Notice>) {
    let Some(engine) = weak.upgrade() else { return };
    let notices = {
        let Ok(mut inner) = engine.inner.try_borrow_mut() else {
            return;
        };
        if inner.shut_down {
            return;
        }
        let notices = f(&mut inner, weak);
        inner.status.queued = inner.outbox.len();
        inner.status.overflowed = inner.outbox.overflowed();
        inner.status.dropped = inner.outbox.dropped();
        inner.status.unacked = inner.acks.waiting();
        inner.status.failed_sends = inner.acks.pending().count() - inner.status.unacked;
        inner.status.duplicates = inner.positions.duplicates();
        notices
    };
    dispatch(&engine, weak, notices);
}

/// Tells the listeners what happened, outside the state borrow.
fn dispatch(engine: &Engine, weak: &Weak<Engine>, notices: Vec<Notice>) {
    let mut status_changed = false;
    for notice in notices {
        match notice {
            Notice::Status => status_changed = true,
            Notice::Frame(frame) => {
                for listener in snapshot(engine, |l| &l.frame) {
                    listener(&frame);
                }
            }
            Notice::Opened => {
                if let Some(engine) = weak.upgrade() {
                    let conn = Connection(engine);
                    for listener in snapshot(&conn.0, |l| &l.open) {
                        listener(&conn);
                    }
                }
                // Now the queue, behind whatever the open listeners sent.
                run_on(weak, |inner, weak| {
                    inner.flush(weak);
                    vec![Notice::Status]
                });
            }
            Notice::Closed(info) => {
                for listener in snapshot(engine, |l| &l.close) {
                    listener(&info);
                }
            }
            Notice::GaveUp(attempts) => {
                for listener in snapshot(engine, |l| &l.give_up) {
                    listener(attempts);
                }
            }
            Notice::Delivery(report) => {
                for listener in snapshot(engine, |l| &l.delivery) {
                    listener(&report);
                }
            }
        }
    }
    if status_changed {
        for listener in snapshot(engine, |l| &l.status) {
            listener();
        }
    }
}

/// The listeners of one kind as they are now, so one may subscribe or unsubscribe while being
/// called (see [`ListenerList`]).
fn snapshot<L>(
    engine: &Engine,
    pick: impl Fn(&Listeners) -> &ListenerList<L>,
) -> impl Iterator<Item = L>
where
    L: Clone,
{
    let list = engine
        .listeners
        .try_borrow()
        .map(|listeners| pick(&listeners).clone())
        .unwrap_or_default();
    (0..list.len()).map(move |i| list[i].1.clone())
}

impl Inner {
    fn log(&mut self, text: impl Into<String>) {
        self.status.log.push(LogEntry {
            at_ms: browser::wall_clock_ms(),
            text: text.into(),
        });
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.status.state != state {
            self.status.state = state;
        }
    }

    /// Listens for wake-ups (once; they stay until we close or shut down).
    fn watch_page(&mut self, weak: &Weak<Engine>) {
        if self.page_listeners.is_some() {
            return;
        }
        let weak = weak.clone();
        self.page_listeners = PageListeners::new(move |wake| {
            run_on(&weak, |inner, weak| inner.on_wake(weak, wake));
        });
    }

    fn on_wake(&mut self, weak: &Weak<Engine>, wake: Wake) -> Vec<Notice> {
        match self.status.state {
            ConnectionState::Open => self.probe(weak),
            ConnectionState::Reconnecting { .. }
            | ConnectionState::GaveUp { .. }
            | ConnectionState::Offline => {
                self.log(format!("{}: retrying now", wake.describe()));
                self.connect(weak)
            }
            _ => Vec::new(),
        }
    }

    /// Starts an attempt: resolves the URL (from the URL source, maybe asynchronously) and opens
    /// a socket, all within the connect timeout.
    fn connect(&mut self, weak: &Weak<Engine>) -> Vec<Notice> {
        self.reconnect_timer = None;
        self.status.retry_at_ms = None;
        self.link = None;
        self.next_link += 1;
        let id = self.next_link;
        let after_ms = self.options.connect_timeout_ms;
        let timer = {
            let weak = weak.clone();
            Timeout::new(after_ms, move || {
                run_on(&weak, |inner, weak| {
                    inner.on_connect_timeout(weak, id, after_ms)
                });
            })
        };
        self.link = Some(Link {
            socket: None,
            connect_timer: Some(timer),
            heartbeat: None,
            last_tick_ms: 0.0,
            opened_at_ms: None,
            last_ping: None,
            id,
            ack_timer: None,
        });
        self.set_state(ConnectionState::Connecting);
        let attempt = self.status.attempt;
        self.log(if attempt == 0 {
            "connecting".to_owned()
        } else {
            format!("reconnect attempt {attempt}")
        });
        match self.options.url.clone() {
            None => {
                let endpoint = self.status.endpoint.clone();
                self.open_socket(weak, &endpoint);
            }
            Some(source) => {
                let request = UrlRequest {
                    refresh: std::mem::take(&mut self.stale_url),
                };
                let future = source.call(request);
                let weak = weak.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let url = future.await;
                    run_on(&weak, |inner, weak| inner.on_url(weak, id, url));
                });
            }
        }
        vec![Notice::Status]
    }

    fn on_url(&mut self, weak: &Weak<Engine>, id: u64, url: Result<String, String>) -> Vec<Notice> {
        // A URL for an attempt that was replaced, timed out or closed meanwhile is ignored.
        let current = self
            .link
            .as_ref()
            .is_some_and(|l| l.id == id && l.socket.is_none());
        if !current || self.status.state != ConnectionState::Connecting {
            return Vec::new();
        }
        match url {
            Ok(url) => {
                self.open_socket(weak, &url);
                vec![Notice::Status]
            }
            Err(e) => self.abandon(weak, WsError::UrlSource(e)),
        }
    }

    fn open_socket(&mut self, weak: &Weak<Engine>, target: &str) {
        // Resuming: ask for what the main stream missed since our position.
        let since = self
            .options
            .resume
            .then(|| self.positions.position(MAIN_STREAM))
            .flatten();
        let url = browser::page_origin()
            .map_err(WsError::Create)
            .and_then(|origin| {
                resolve_endpoint(target, &origin, Scheme::WebSocket).map_err(WsError::BadUrl)
            })
            .map(|url| match &since {
                Some(position) => with_query_param(&url, "since", position),
                None => url,
            })
            .and_then(|url| open_socket(&url, &self.options.protocols).map(|ws| (url, ws)));
        match url {
            Ok((url, ws)) => {
                ws.set_binary_type(BinaryType::Arraybuffer);
                self.status.url = url;
                if let Some(link) = &mut self.link {
                    link.socket = Some(attach(ws, weak));
                }
            }
            Err(e) => {
                self.fail_permanently(e);
            }
        }
    }

    fn fail_permanently(&mut self, error: WsError) -> Vec<Notice> {
        self.link = None;
        self.log(error.to_string());
        self.status.last_error = Some(error);
        self.set_state(ConnectionState::Closed);
        vec![Notice::Status]
    }

    fn on_open(&mut self, weak: &Weak<Engine>) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        let heartbeat_policy = self.options.heartbeat.clone();
        let Some(link) = &mut self.link else {
            return Vec::new();
        };
        link.connect_timer = None;
        link.opened_at_ms = Some(now);
        self.status.last_error = None;
        self.set_state(ConnectionState::Open);
        self.log("open");
        let mut notices = vec![Notice::Opened, Notice::Status];
        if let Some(policy) = heartbeat_policy {
            let tick_ms = policy.interval_ms.min(policy.timeout_ms).clamp(100, 1_000);
            let weak_tick = weak.clone();
            let interval = Interval::new(tick_ms, move || {
                run_on(&weak_tick, |inner, weak| {
                    inner.on_heartbeat_tick(weak, tick_ms)
                });
            });
            let mut liveness = Liveness::new(policy, now);
            // Measure the round trip at once, so the RTT is known from the first second.
            let first = liveness.probe(now);
            if let Some(link) = &mut self.link {
                link.heartbeat = Some((liveness, interval));
                link.last_tick_ms = now;
            }
            notices.extend(self.apply_beat(weak, first));
        }
        notices
    }

    /// Sends the queue in order; on a failed send the unsent rest goes back to the front.
    fn flush(&mut self, weak: &Weak<Engine>) {
        let now = browser::monotonic_ms();
        let Some(socket) = self.link.as_ref().and_then(Link::socket_open) else {
            return;
        };
        let pending: Vec<Outgoing> = self.outbox.drain().collect();
        let mut rest = pending.into_iter();
        let mut sent = 0;
        let mut failed = None;
        while let Some(frame) = rest.next() {
            if let Err(e) = send_frame(&socket.ws, &frame) {
                let mut unsent = vec![frame];
                unsent.extend(rest);
                self.outbox.push_front_all(unsent);
                failed = Some(e);
                break;
            }
            if let Outgoing::Tracked { client_id, .. } = &frame {
                self.acks.sent(client_id, now);
            }
            sent += 1;
        }
        self.watch_acks(weak);
        if let Some(e) = failed {
            self.status.last_error = Some(e);
        }
        self.status.sent += sent;
        if sent > 0 {
            self.log(format!("flushed {sent} queued"));
        }
    }

    fn send(&mut self, frame: Outgoing, policy: &SendPolicy) -> Result<Delivery, WsError> {
        // Only an OPEN socket takes data: a CLOSING one accepts `send` and silently drops it.
        if self.status.state == ConnectionState::Open {
            if let Some(socket) = self.link.as_ref().and_then(Link::socket_open) {
                match send_frame(&socket.ws, &frame) {
                    Ok(()) => {
                        self.status.sent += 1;
                        if let Outgoing::Tracked { client_id, .. } = &frame {
                            self.acks.sent(client_id, browser::monotonic_ms());
                        }
                        return Ok(Delivery::Sent);
                    }
                    // The socket went bad under us: keep the message for the next socket.
                    Err(e) => self.status.last_error = Some(e),
                }
            }
        }
        match self.outbox.push(frame, policy) {
            Ok(Queued::Added) => Ok(Delivery::Queued),
            Ok(Queued::Replaced) => Ok(Delivery::Replaced),
            Ok(Queued::Dropped) => Ok(Delivery::Dropped),
            Err(OutboxError::Full { capacity }) => {
                let error = WsError::QueueFull { capacity };
                self.status.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    fn on_message(&mut self, event: MessageEvent) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        self.status.received += 1;
        let format = self.options.heartbeat.as_ref().map(|h| h.format.clone());
        let Some(link) = &mut self.link else {
            return Vec::new();
        };
        if let Some((liveness, _)) = &mut link.heartbeat {
            liveness.on_frame(now);
        }
        let data = event.data();
        let frame = if let Some(text) = data.as_string() {
            if let Some(format) = format {
                if let Some(answer) = format.answer(&text, link.last_ping.as_deref()) {
                    // Heartbeat traffic: proves the link, measures the RTT, goes nowhere else.
                    let rtt = link
                        .heartbeat
                        .as_mut()
                        .and_then(|(liveness, _)| liveness.on_answer(answer, now));
                    if let Some(rtt) = rtt {
                        self.status.rtt_ms = Some(rtt);
                        return vec![Notice::Status];
                    }
                    return Vec::new();
                }
            }
            let mut notices = Vec::new();
            if let Some(greeting) = welcome(&text) {
                // Engine-level: kept in the status, and still passed on to listeners.
                self.status.welcome = Some(greeting);
                notices.push(Notice::Status);
            }
            if self.options.resume || self.acks.waiting() > 0 || !self.history_protocol {
                if let Some(frame) = StreamFrame::read(&text) {
                    match self.on_stream_frame(&frame) {
                        Some(mut more) => notices.append(&mut more),
                        // Already had: a replay overlapping live messages.
                        None => return vec![Notice::Status],
                    }
                }
            }
            notices.insert(0, Notice::Frame(Frame::Text(text)));
            return notices;
        } else if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
            Frame::Binary(Uint8Array::new(buffer).to_vec())
        } else {
            let kind = data.js_typeof().as_string().unwrap_or_default();
            let error = WsError::UnexpectedFrame(format!("a frame of JS type {kind}"));
            self.log(error.to_string());
            self.status.last_error = Some(error);
            return vec![Notice::Status];
        };
        vec![Notice::Frame(frame)]
    }

    /// A fresh `clientId`: random per connection (unguessable, so nobody else's resend can
    /// match it), then a counter.
    fn next_client_id(&mut self) -> String {
        if self.client_ids.0.is_empty() {
            self.client_ids.0 = browser::random_hex(9);
        }
        self.client_ids.1 += 1;
        format!("{}-{}", self.client_ids.0, self.client_ids.1)
    }

    /// Tracks `text` under `client_id` until its ack and sends it (plainly, untracked, to a
    /// server that has not named an epoch: see [`Connection::send_acked`]).
    fn send_acked(
        &mut self,
        weak: &Weak<Engine>,
        client_id: String,
        text: String,
    ) -> Result<Delivery, WsError> {
        if !self.history_protocol {
            return self.send(Outgoing::Text(text), &SendPolicy::Keep);
        }
        if !self.acks.track(&client_id, &text) {
            let error = WsError::QueueFull {
                capacity: self.options.acks.capacity,
            };
            self.status.last_error = Some(error.clone());
            return Err(error);
        }
        let result = self.send(Outgoing::Tracked { client_id, text }, &SendPolicy::Keep);
        if result.is_err() {
            self.acks.forget_unsent();
        }
        self.watch_acks(weak);
        result
    }

    /// The history protocol's frames (resume and acks); `None` drops the frame as a duplicate.
    fn on_stream_frame(&mut self, frame: &StreamFrame) -> Option<Vec<Notice>> {
        let resume = self.options.resume;
        let mut notices = Vec::new();
        if matches!(frame.kind.as_str(), "welcome" | "joined")
            && frame.epoch.as_deref().is_some_and(|e| !e.is_empty())
        {
            self.history_protocol = true;
        }
        match frame.kind.as_str() {
            "welcome" | "joined" if resume => {
                if let Some(epoch) = frame.epoch.as_deref().filter(|e| !e.is_empty()) {
                    self.positions.begin(frame.stream(), epoch);
                }
            }
            "message" if resume => {
                if let Some(seq) = frame.seq {
                    if !self.positions.observe(frame.stream(), seq) {
                        return None;
                    }
                }
            }
            "replayed" if resume => {
                let recovery = self.positions.replayed(frame);
                if let Some(notice) = recovery.notice() {
                    self.log(notice);
                }
                self.status
                    .recoveries
                    .retain(|r| r.stream != recovery.stream);
                self.status.recoveries.push(recovery);
                if self.status.recoveries.len() > 16 {
                    self.status.recoveries.remove(0);
                }
                notices.push(Notice::Status);
            }
            "ack" => {
                let id = frame.client_id.as_deref()?;
                if self.acks.acked(id).is_some() {
                    notices.push(Notice::Delivery(DeliveryReport {
                        client_id: id.to_owned(),
                        result: Ok(Delivery::Acked(frame.seq.unwrap_or(0))),
                    }));
                    notices.push(Notice::Status);
                }
            }
            _ => {}
        }
        Some(notices)
    }

    /// Starts checking ack deadlines on the open link once something waits on the wire.
    fn watch_acks(&mut self, weak: &Weak<Engine>) {
        if !self.acks.waiting_on_wire() {
            return;
        }
        let Some(link) = self.link.as_mut().filter(|l| l.ack_timer.is_none()) else {
            return;
        };
        let weak = weak.clone();
        link.ack_timer = Some(Interval::new(1_000, move || {
            run_on(&weak, |inner, _| inner.expire_acks());
        }));
    }

    fn expire_acks(&mut self) -> Vec<Notice> {
        let failed = self.acks.expire(browser::monotonic_ms());
        self.report_failed(failed)
    }

    fn report_failed(&mut self, failed: Vec<(String, AckFailure)>) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (client_id, failure) in failed {
            self.log(format!("a message was {failure}"));
            notices.push(Notice::Delivery(DeliveryReport {
                client_id,
                result: Err(failure),
            }));
        }
        if !notices.is_empty() {
            notices.push(Notice::Status);
        }
        notices
    }

    /// The link is gone: what was on the wire without an ack goes back to the front of the
    /// queue (sent again, same ids, after the next open).
    fn requeue_unacked(&mut self) -> Vec<Notice> {
        let LinkLost { resend, failed } = self.acks.link_lost();
        if !resend.is_empty() {
            self.log(format!(
                "{} sent without an ack: sending again after reconnecting",
                resend.len()
            ));
            let frames = resend
                .into_iter()
                .map(|(client_id, text)| Outgoing::Tracked { client_id, text })
                .collect();
            self.outbox.push_front_all(frames);
        }
        self.report_failed(failed)
    }

    fn on_close(
        &mut self,
        weak: &Weak<Engine>,
        code: u16,
        reason: String,
        was_clean: bool,
    ) -> Vec<Notice> {
        let opened_at = self.link.take().and_then(|link| link.opened_at_ms);
        let info = CloseInfo {
            code,
            reason,
            was_clean,
        };
        self.log(format!("closed {info}"));
        self.status.last_close = Some(info.clone());
        let requeued = self.requeue_unacked();
        let closed = Notice::Closed(info);
        let stable = self.note_open_time(opened_at);
        if stable {
            self.refreshes = 0;
        }
        let policy = &self.options.close_policy;
        let decision = if self.options.reconnect.is_none() {
            CloseDecision::Stop
        } else if opened_at.is_none() && self.options.url.is_some() {
            // Refused at the handshake, perhaps a 401 for a stale token: ask for a fresh one now.
            policy.decide_refused(code, self.closing_by_us, self.refreshes)
        } else {
            policy.decide_after(code, self.closing_by_us, self.refreshes)
        };
        // Refused before it opened (an HTTP 401 looks like this) or told the token expired.
        self.stale_url = opened_at.is_none() || decision == CloseDecision::Refresh;
        let mut notices = vec![closed];
        notices.extend(requeued);
        match decision {
            CloseDecision::Reconnect => notices.extend(self.schedule_reconnect(weak)),
            CloseDecision::Refresh => {
                self.refreshes += 1;
                self.log(format!(
                    "{}: getting a fresh URL and reconnecting now",
                    describe_close_code(code)
                ));
                notices.extend(self.connect(weak));
            }
            CloseDecision::Stop => {
                self.page_listeners = None;
                self.set_state(ConnectionState::Closed);
                notices.push(Notice::Status);
            }
        }
        notices
    }

    /// Replaces a socket we no longer trust (dead link, handshake timeout, no URL) without
    /// waiting for the browser's close event, which can take minutes on a frozen link.
    fn abandon(&mut self, weak: &Weak<Engine>, error: WsError) -> Vec<Notice> {
        let opened_at = self.link.take().and_then(|link| link.opened_at_ms);
        self.note_open_time(opened_at);
        self.log(error.to_string());
        self.status.last_error = Some(error);
        let closed = Notice::Closed(CloseInfo {
            code: 1006,
            reason: "abandoned by the client".to_owned(),
            was_clean: false,
        });
        let mut notices = vec![closed];
        notices.extend(self.requeue_unacked());
        notices.extend(self.schedule_reconnect(weak));
        notices
    }

    /// Updates the attempt counter for a link that was open since `opened_at`; true when it
    /// stayed up long enough to count as stable.
    fn note_open_time(&mut self, opened_at: Option<f64>) -> bool {
        let (Some(opened), Some(policy)) = (opened_at, &self.options.reconnect) else {
            return false;
        };
        let open_for = browser::monotonic_ms() - opened;
        self.status.attempt = policy.attempts_after_open(self.status.attempt, open_for);
        open_for >= f64::from(policy.stable_after_ms)
    }

    fn schedule_reconnect(&mut self, weak: &Weak<Engine>) -> Vec<Notice> {
        let Some(policy) = self.options.reconnect.clone() else {
            self.set_state(ConnectionState::Closed);
            return vec![Notice::Status];
        };
        if policy.should_give_up(self.status.attempt) {
            let attempts = self.status.attempt;
            self.log(format!("gave up after {attempts} attempts"));
            self.set_state(ConnectionState::GaveUp { attempts });
            return vec![Notice::GaveUp(attempts), Notice::Status];
        }
        if !browser::is_online() {
            // Attempts now would fail at once and only grow the backoff: wait for `online`.
            self.status.retry_at_ms = None;
            self.set_state(ConnectionState::Offline);
            self.log("offline: waiting for the network");
            return vec![Notice::Status];
        }
        let delay = policy.delay_ms(self.status.attempt, js_sys::Math::random());
        self.status.attempt += 1;
        let attempt = self.status.attempt;
        self.status.retry_at_ms = Some(browser::wall_clock_ms() + f64::from(delay));
        self.set_state(ConnectionState::Reconnecting {
            attempt,
            next_in_ms: delay,
        });
        self.log(format!(
            "retry {attempt} in {} s",
            Fixed(f64::from(delay) / 1000.0, 1)
        ));
        let weak = weak.clone();
        self.reconnect_timer = Some(Timeout::new(delay, move || {
            run_on(&weak, |inner, weak| {
                if browser::is_online() {
                    inner.connect(weak)
                } else {
                    inner.reconnect_timer = None;
                    inner.status.retry_at_ms = None;
                    inner.set_state(ConnectionState::Offline);
                    inner.log("offline: waiting for the network");
                    vec![Notice::Status]
                }
            });
        }));
        vec![Notice::Status]
    }

    fn on_connect_timeout(&mut self, weak: &Weak<Engine>, id: u64, after_ms: u32) -> Vec<Notice> {
        let current = self.link.as_ref().is_some_and(|l| l.id == id);
        if !current || self.status.state != ConnectionState::Connecting {
            return Vec::new();
        }
        self.abandon(weak, WsError::ConnectTimeout { after_ms })
    }

    fn on_heartbeat_tick(&mut self, weak: &Weak<Engine>, tick_ms: u32) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        let Some(link) = &mut self.link else {
            return Vec::new();
        };
        // A gap of several ticks means timers were frozen (the machine slept, or the tab was
        // throttled): check the link at once instead of trusting a socket that may be long dead.
        let slept = now - link.last_tick_ms > f64::from(tick_ms) * 3.0;
        link.last_tick_ms = now;
        let Some((liveness, _)) = &mut link.heartbeat else {
            return Vec::new();
        };
        let beat = if slept {
            liveness.probe(now)
        } else {
            liveness.tick(now)
        };
        self.apply_beat(weak, beat)
    }

    fn probe(&mut self, weak: &Weak<Engine>) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        let Some((liveness, _)) = self.link.as_mut().and_then(|l| l.heartbeat.as_mut()) else {
            return Vec::new();
        };
        let beat = liveness.probe(now);
        self.apply_beat(weak, beat)
    }

    fn apply_beat(&mut self, weak: &Weak<Engine>, beat: Beat) -> Vec<Notice> {
        match beat {
            Beat::Idle => Vec::new(),
            Beat::SendPing { id } => {
                let Some(format) = self.options.heartbeat.as_ref().map(|h| &h.format) else {
                    return Vec::new();
                };
                let ping = format.ping(id, browser::wall_clock_ms());
                if let Some(link) = &mut self.link {
                    if let Some(socket) = link.socket_open() {
                        // A failed ping is not an error of its own: the missing answer will be.
                        let _ = socket.ws.send_with_str(&ping);
                    }
                    link.last_ping = Some(ping);
                }
                Vec::new()
            }
            Beat::Dead { waited_ms } => self.abandon(weak, WsError::LinkDead { waited_ms }),
        }
    }

    fn close_by_us(&mut self, code: u16, reason: &str) -> Vec<Notice> {
        self.closing_by_us = true;
        self.reconnect_timer = None;
        self.page_listeners = None;
        self.status.retry_at_ms = None;
        let closing = self.link.as_mut().and_then(|link| {
            // The socket's close event still comes; nothing else of the link is needed.
            link.connect_timer = None;
            link.heartbeat = None;
            link.socket
                .as_ref()
                .filter(|s| s.ws.ready_state() <= WebSocket::OPEN)
                .map(|s| s.ws.close_with_code_and_reason(code, reason))
        });
        if closing.is_some() {
            self.set_state(ConnectionState::Closing);
            self.log("closing");
        } else {
            self.link = None;
            self.set_state(ConnectionState::Closed);
        }
        vec![Notice::Status]
    }
}

fn open_socket(url: &str, protocols: &[String]) -> Result<WebSocket, WsError> {
    let created = if protocols.is_empty() {
        WebSocket::new(url)
    } else {
        let list = js_sys::Array::new();
        for protocol in protocols {
            list.push(&JsValue::from_str(protocol));
        }
        WebSocket::new_with_str_sequence(url, &list)
    };
    created.map_err(|e| WsError::Create(browser::describe_js_error(&e)))
}

fn send_frame(ws: &WebSocket, frame: &Outgoing) -> Result<(), WsError> {
    match frame {
        Outgoing::Text(text) | Outgoing::Tracked { text, .. } => ws.send_with_str(text),
        Outgoing::Binary(bytes) => ws.send_with_u8_array(bytes),
    }
    .map_err(|e| WsError::Send(browser::describe_js_error(&e)))
}

fn attach(ws: WebSocket, weak: &Weak<Engine>) -> Socket {
    let w = weak.clone();
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        run_on(&w, |inner, weak| inner.on_open(weak));
    });
    let w = weak.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        run_on(&w, |inner, _| inner.on_message(event));
    });
    let w = weak.clone();
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        run_on(&w, |inner, weak| {
            inner.on_close(weak, event.code(), event.reason(), event.was_clean())
        });
    });
    let w = weak.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        run_on(&w, |inner, _| {
            // Browsers hide the cause; the close event that follows carries the code.
            inner.status.last_error = Some(WsError::Socket);
            vec![Notice::Status]
        });
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Socket {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
        _on_error: on_error,
    }
}
