//! The connection engine under every WebSocket hook: one socket with its closures and timers, the
//! reconnect schedule, the send queue and the heartbeat.
//!
//! Hooks are thin wiring over [`Connection`]; the decisions (how long to wait, whether to retry,
//! what to queue, when the link is dead) live in the pure modules of [`crate::core`]. The engine
//! owns every closure and timer it creates and drops them when the socket is replaced or the
//! connection shuts down: no `Closure::forget`, nothing fires after [`Connection::shutdown`].

use std::cell::{Ref, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::browser::{self, PageListeners};
use crate::core::backoff::ReconnectPolicy;
use crate::core::close_policy::{describe_close_code, CloseDecision, ClosePolicy};
use crate::core::decimal::Fixed;
use crate::core::heartbeat::{ping_frame, pong_id, Beat, HeartbeatPolicy, Liveness};
use crate::core::history::History;
use crate::core::outbox::{Outbox, OutboxError, Queued, SendPolicy};
use crate::core::url::{resolve_endpoint, Scheme, UrlError};

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
    /// The attempt limit was reached; only `open`/`retry_now` starts again.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
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
}

/// One received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame, as bytes.
    Binary(Vec<u8>),
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
        }
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
}

type FrameListener = Rc<dyn Fn(&Frame)>;
type StatusListener = Rc<dyn Fn()>;

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

struct Inner {
    options: WebSocketOptions,
    status: ConnectionStatus,
    socket: Option<Socket>,
    outbox: Outbox<Outgoing>,
    reconnect_timer: Option<Timeout>,
    connect_timer: Option<Timeout>,
    heartbeat: Option<(Liveness, Interval)>,
    last_tick_ms: f64,
    page_listeners: Option<PageListeners>,
    opened_at_ms: Option<f64>,
    closing_by_us: bool,
    frame_listeners: Vec<(u64, FrameListener)>,
    status_listeners: Vec<(u64, StatusListener)>,
    next_listener: u64,
    shut_down: bool,
}

enum Notice {
    Frame(Frame),
    Status,
}

/// A WebSocket connection with reconnect, send queue and heartbeat; cheap to clone (shared).
#[derive(Clone)]
pub struct Connection(Rc<RefCell<Inner>>);

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Connection")
            .field(&self.0.borrow().status.endpoint)
            .finish()
    }
}

/// Removes a listener when dropped.
pub struct ListenerGuard {
    conn: Weak<RefCell<Inner>>,
    id: u64,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.conn.upgrade() {
            if let Ok(mut inner) = inner.try_borrow_mut() {
                inner.frame_listeners.retain(|(id, _)| *id != self.id);
                inner.status_listeners.retain(|(id, _)| *id != self.id);
            }
        }
    }
}

impl Connection {
    /// A connection to `endpoint` (relative paths resolve against the page); nothing happens until
    /// [`Connection::start`].
    pub fn new(endpoint: &str, options: WebSocketOptions) -> Self {
        let outbox = Outbox::new(options.queue_capacity);
        Self(Rc::new(RefCell::new(Inner {
            options,
            status: ConnectionStatus::new(endpoint),
            socket: None,
            outbox,
            reconnect_timer: None,
            connect_timer: None,
            heartbeat: None,
            last_tick_ms: 0.0,
            page_listeners: None,
            opened_at_ms: None,
            closing_by_us: false,
            frame_listeners: Vec::new(),
            status_listeners: Vec::new(),
            next_listener: 0,
            shut_down: false,
        })))
    }

    /// Connects unless the options say manual; called once when the first user mounts.
    pub fn start(&self) {
        let manual = self.0.borrow().options.manual;
        if !manual {
            self.open();
        }
    }

    /// Opens the connection now (also after `close` or giving up); resets the attempt counter.
    pub fn open(&self) {
        self.run(|inner, weak| {
            inner.closing_by_us = false;
            inner.status.attempt = 0;
            inner.connect(weak)
        });
    }

    /// Skips the wait of a pending reconnect and tries now (the attempt counter is kept).
    pub fn retry_now(&self) {
        self.run(|inner, weak| match inner.status.state {
            ConnectionState::Reconnecting { .. }
            | ConnectionState::GaveUp { .. }
            | ConnectionState::Closed
            | ConnectionState::Idle => {
                inner.closing_by_us = false;
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

    fn send(&self, frame: Outgoing, policy: &SendPolicy) -> Result<Delivery, WsError> {
        let mut result = Ok(Delivery::Sent);
        self.run(|inner, _| {
            result = inner.send(frame, policy);
            vec![Notice::Status]
        });
        result
    }

    /// A snapshot borrow of the status; do not hold it across a send.
    pub fn status(&self) -> Ref<'_, ConnectionStatus> {
        Ref::map(self.0.borrow(), |inner| &inner.status)
    }

    /// Calls `listener` with every received frame (pongs excepted) until the guard drops.
    pub fn on_frame(&self, listener: impl Fn(&Frame) + 'static) -> ListenerGuard {
        let mut inner = self.0.borrow_mut();
        let id = inner.next_listener;
        inner.next_listener += 1;
        inner.frame_listeners.push((id, Rc::new(listener)));
        ListenerGuard {
            conn: Rc::downgrade(&self.0),
            id,
        }
    }

    /// Calls `listener` after every status change until the guard drops.
    pub fn on_status(&self, listener: impl Fn() + 'static) -> ListenerGuard {
        let mut inner = self.0.borrow_mut();
        let id = inner.next_listener;
        inner.next_listener += 1;
        inner.status_listeners.push((id, Rc::new(listener)));
        ListenerGuard {
            conn: Rc::downgrade(&self.0),
            id,
        }
    }

    /// Closes the socket and drops every closure, timer and listener; nothing fires afterwards.
    pub fn shutdown(&self) {
        if let Ok(mut inner) = self.0.try_borrow_mut() {
            inner.shut_down = true;
            inner.closing_by_us = true;
            inner.reconnect_timer = None;
            inner.connect_timer = None;
            inner.heartbeat = None;
            inner.page_listeners = None;
            inner.socket = None;
            inner.frame_listeners.clear();
            inner.status_listeners.clear();
        }
    }

    /// Runs `f` with the state borrowed, then tells listeners outside the borrow, so a listener may
    /// call back into the connection (e.g. send on open) without a double borrow.
    fn run(&self, f: impl FnOnce(&mut Inner, &Weak<RefCell<Inner>>) -> Vec<Notice>) {
        run_on(&Rc::downgrade(&self.0), f);
    }
}

fn run_on(
    weak: &Weak<RefCell<Inner>>,
    f: impl FnOnce(&mut Inner, &Weak<RefCell<Inner>>) -> Vec<Notice>,
) {
    let Some(rc) = weak.upgrade() else { return };
    let (notices, frames, statuses) = {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        if inner.shut_down {
            return;
        }
        let notices = f(&mut inner, weak);
        inner.status.queued = inner.outbox.len();
        inner.status.overflowed = inner.outbox.overflowed();
        inner.status.dropped = inner.outbox.dropped();
        let frames: Vec<FrameListener> = inner
            .frame_listeners
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        let statuses: Vec<StatusListener> = inner
            .status_listeners
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        (notices, frames, statuses)
    };
    let mut status_changed = false;
    for notice in notices {
        match notice {
            Notice::Frame(frame) => frames.iter().for_each(|l| l(&frame)),
            Notice::Status => status_changed = true,
        }
    }
    if status_changed {
        statuses.iter().for_each(|l| l());
    }
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

    fn connect(&mut self, weak: &Weak<RefCell<Inner>>) -> Vec<Notice> {
        self.reconnect_timer = None;
        self.status.retry_at_ms = None;
        self.socket = None;
        let url = match browser::page_origin()
            .map_err(WsError::Create)
            .and_then(|origin| {
                resolve_endpoint(&self.status.endpoint, &origin, Scheme::WebSocket)
                    .map_err(WsError::BadUrl)
            }) {
            Ok(url) => url,
            Err(e) => return self.fail_permanently(e),
        };
        self.status.url = url.clone();
        let ws = match open_socket(&url, &self.options.protocols) {
            Ok(ws) => ws,
            Err(e) => return self.fail_permanently(e),
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        self.socket = Some(attach(ws, weak));
        self.set_state(ConnectionState::Connecting);
        let attempt = self.status.attempt;
        self.log(if attempt == 0 {
            "connecting".to_owned()
        } else {
            format!("reconnect attempt {attempt}")
        });
        let after_ms = self.options.connect_timeout_ms;
        let weak = weak.clone();
        self.connect_timer = Some(Timeout::new(after_ms, move || {
            run_on(&weak, |inner, weak| {
                inner.on_connect_timeout(weak, after_ms)
            });
        }));
        vec![Notice::Status]
    }

    fn fail_permanently(&mut self, error: WsError) -> Vec<Notice> {
        self.log(error.to_string());
        self.status.last_error = Some(error);
        self.set_state(ConnectionState::Closed);
        vec![Notice::Status]
    }

    fn on_open(&mut self, weak: &Weak<RefCell<Inner>>) -> Vec<Notice> {
        self.connect_timer = None;
        let now = browser::monotonic_ms();
        self.opened_at_ms = Some(now);
        self.status.last_error = None;
        self.set_state(ConnectionState::Open);
        self.log("open");
        self.flush();
        if let Some(policy) = self.options.heartbeat.clone() {
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
            self.heartbeat = Some((liveness, interval));
            self.last_tick_ms = now;
            self.apply_beat(weak, first);
            let weak_probe = weak.clone();
            self.page_listeners = PageListeners::new(move || {
                run_on(&weak_probe, |inner, weak| inner.probe(weak));
            });
        }
        vec![Notice::Status]
    }

    /// Sends the queue in order; on a failed send the unsent rest goes back to the front.
    fn flush(&mut self) {
        let Some(socket) = &self.socket else { return };
        let pending: Vec<Outgoing> = self.outbox.drain().collect();
        let mut rest = pending.into_iter();
        let mut sent = 0;
        while let Some(frame) = rest.next() {
            if let Err(e) = send_frame(&socket.ws, &frame) {
                let mut unsent = vec![frame];
                unsent.extend(rest);
                self.outbox.push_front_all(unsent);
                self.status.last_error = Some(e);
                break;
            }
            sent += 1;
        }
        self.status.sent += sent;
        if sent > 0 {
            self.log(format!("flushed {sent} queued"));
        }
    }

    fn send(&mut self, frame: Outgoing, policy: &SendPolicy) -> Result<Delivery, WsError> {
        if self.status.state == ConnectionState::Open {
            if let Some(socket) = &self.socket {
                match send_frame(&socket.ws, &frame) {
                    Ok(()) => {
                        self.status.sent += 1;
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
        if let Some((liveness, _)) = &mut self.heartbeat {
            liveness.on_frame(now);
        }
        self.status.received += 1;
        let data = event.data();
        let frame = if let Some(text) = data.as_string() {
            if let Some(id) = pong_id(&text) {
                if let Some((liveness, _)) = &mut self.heartbeat {
                    if let Some(rtt) = liveness.on_pong(id, now) {
                        self.status.rtt_ms = Some(rtt);
                        return vec![Notice::Status];
                    }
                }
                return Vec::new();
            }
            Frame::Text(text)
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

    fn on_close(
        &mut self,
        weak: &Weak<RefCell<Inner>>,
        code: u16,
        reason: String,
        was_clean: bool,
    ) -> Vec<Notice> {
        self.socket = None;
        self.connect_timer = None;
        self.heartbeat = None;
        self.page_listeners = None;
        let info = CloseInfo {
            code,
            reason,
            was_clean,
        };
        self.log(format!("closed {info}"));
        self.status.last_close = Some(info);
        let by_us = self.closing_by_us;
        let retry = self.options.reconnect.is_some()
            && self.options.close_policy.decide(code, by_us) == CloseDecision::Reconnect;
        if retry {
            self.schedule_reconnect(weak)
        } else {
            self.set_state(ConnectionState::Closed);
            vec![Notice::Status]
        }
    }

    /// Replaces a socket we no longer trust (dead link, handshake timeout) without waiting for the
    /// browser's close event, which can take minutes on a frozen link.
    fn abandon(&mut self, weak: &Weak<RefCell<Inner>>, error: WsError) -> Vec<Notice> {
        self.log(error.to_string());
        self.status.last_error = Some(error);
        self.socket = None;
        self.connect_timer = None;
        self.heartbeat = None;
        self.page_listeners = None;
        self.schedule_reconnect(weak)
    }

    fn schedule_reconnect(&mut self, weak: &Weak<RefCell<Inner>>) -> Vec<Notice> {
        let Some(policy) = self.options.reconnect.clone() else {
            self.set_state(ConnectionState::Closed);
            return vec![Notice::Status];
        };
        if let Some(opened) = self.opened_at_ms.take() {
            let open_for = browser::monotonic_ms() - opened;
            self.status.attempt = policy.attempts_after_open(self.status.attempt, open_for);
        }
        if policy.should_give_up(self.status.attempt) {
            let attempts = self.status.attempt;
            self.log(format!("gave up after {attempts} attempts"));
            self.set_state(ConnectionState::GaveUp { attempts });
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
            run_on(&weak, |inner, weak| inner.connect(weak));
        }));
        vec![Notice::Status]
    }

    fn on_connect_timeout(&mut self, weak: &Weak<RefCell<Inner>>, after_ms: u32) -> Vec<Notice> {
        if self.status.state != ConnectionState::Connecting {
            return Vec::new();
        }
        self.abandon(weak, WsError::ConnectTimeout { after_ms })
    }

    fn on_heartbeat_tick(&mut self, weak: &Weak<RefCell<Inner>>, tick_ms: u32) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        // A gap of several ticks means timers were frozen (the machine slept, or the tab was
        // throttled): check the link at once instead of trusting a socket that may be long dead.
        let slept = now - self.last_tick_ms > f64::from(tick_ms) * 3.0;
        self.last_tick_ms = now;
        let Some((liveness, _)) = &mut self.heartbeat else {
            return Vec::new();
        };
        let beat = if slept {
            liveness.probe(now)
        } else {
            liveness.tick(now)
        };
        self.apply_beat(weak, beat)
    }

    fn probe(&mut self, weak: &Weak<RefCell<Inner>>) -> Vec<Notice> {
        let now = browser::monotonic_ms();
        let Some((liveness, _)) = &mut self.heartbeat else {
            return Vec::new();
        };
        let beat = liveness.probe(now);
        self.apply_beat(weak, beat)
    }

    fn apply_beat(&mut self, weak: &Weak<RefCell<Inner>>, beat: Beat) -> Vec<Notice> {
        match beat {
            Beat::Idle => Vec::new(),
            Beat::SendPing { id } => {
                if let Some(socket) = &self.socket {
                    let ping = ping_frame(id, browser::wall_clock_ms());
                    // A failed ping is not an error of its own: the missing pong will be.
                    let _ = socket.ws.send_with_str(&ping);
                }
                Vec::new()
            }
            Beat::Dead { waited_ms } => self.abandon(weak, WsError::LinkDead { waited_ms }),
        }
    }

    fn close_by_us(&mut self, code: u16, reason: &str) -> Vec<Notice> {
        self.closing_by_us = true;
        self.reconnect_timer = None;
        self.connect_timer = None;
        self.heartbeat = None;
        self.page_listeners = None;
        self.status.retry_at_ms = None;
        match &self.socket {
            Some(socket) if socket.ws.ready_state() <= WebSocket::OPEN => {
                let _ = socket.ws.close_with_code_and_reason(code, reason);
                self.set_state(ConnectionState::Closing);
                self.log("closing");
            }
            _ => {
                self.socket = None;
                self.set_state(ConnectionState::Closed);
            }
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
        Outgoing::Text(text) => ws.send_with_str(text),
        Outgoing::Binary(bytes) => ws.send_with_u8_array(bytes),
    }
    .map_err(|e| WsError::Send(browser::describe_js_error(&e)))
}

fn attach(ws: WebSocket, weak: &Weak<RefCell<Inner>>) -> Socket {
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
