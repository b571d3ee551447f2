//! `use_event_source`: Server-Sent Events (the seed's SSE pattern) that never lose their place.
//!
//! The browser's own retry is left alone (it resends `Last-Event-ID` itself). When the browser gives
//! up (the stream ends with an HTTP error, so `readyState` is CLOSED), the hook recreates the stream
//! after a backoff delay and resumes with `?lastEventId=` — an `EventSource` cannot set headers.
//!
//! With a URL source (its own [`EventSourceOptions::url`], or the provider's
//! [`crate::TokenSource`]) the URL is asked for before every stream, and a stream that ends
//! after it was open (a server ends it when the token expires) is reopened at once by the hook
//! with a fresh URL, instead of the browser's retry with the stale one.

use std::cell::{Ref, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use serde::de::DeserializeOwned;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, EventSourceInit, MessageEvent};
use yew::prelude::*;

use crate::browser;
use crate::connection::LogEntry;
use crate::connection::{Frame, UrlRequest, UrlSource};
use crate::core::backoff::ReconnectPolicy;
use crate::core::decimal::Fixed;
use crate::core::history::History;
use crate::core::url::{resolve_endpoint, with_query_param, Scheme, UrlError};
use crate::provider::{use_connection_registry, ConnectionRow};
use crate::redraw::use_redraw;
use crate::use_typed_websocket::{decode_frame, DecodeError};

/// Options of [`use_event_source_with_options`]; every field documents its default.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSourceOptions {
    /// Event names to listen to. Default: `["message"]` (unnamed events).
    pub events: Vec<String>,
    /// Send cookies cross-origin. Default: false.
    pub with_credentials: bool,
    /// Delay schedule for recreating a stream the browser gave up on. Default: 1 s base, 30 s cap.
    pub reconnect: ReconnectPolicy,
    /// Query parameter that carries the last event id on a hook-made reconnect. Default: `lastEventId`.
    pub resume_param: String,
    /// How many events are kept. Default: 200.
    pub history: usize,
    /// Where to connect, asked before every stream (for a token); `None` (the default) uses the
    /// endpoint, or the [`crate::RealtimeProvider`]'s token source when it has one.
    pub url: Option<UrlSource>,
}

impl Default for EventSourceOptions {
    fn default() -> Self {
        Self {
            events: vec!["message".to_owned()],
            with_credentials: false,
            reconnect: ReconnectPolicy::default(),
            resume_param: "lastEventId".to_owned(),
            history: 200,
            url: None,
        }
    }
}

/// One received event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event name (`message` for unnamed events).
    pub event: String,
    /// The `data:` payload.
    pub data: String,
    /// The `id:` (empty if the server sent none).
    pub id: String,
}

impl SseEvent {
    /// Decodes `data` as JSON into `T`; a typed error with the raw text otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        decode_frame(&Frame::Text(self.data.clone()))
    }
}

/// Where the stream is.
#[derive(Clone, Debug, PartialEq)]
pub enum SseState {
    /// Waiting for the first response.
    Connecting,
    /// Events flow.
    Open,
    /// The browser lost the stream and is retrying by itself.
    Retrying,
    /// The browser gave up; the hook recreates the stream after `next_in_ms`.
    Reconnecting {
        /// The attempt that comes next.
        attempt: u32,
        /// The delay chosen, in ms.
        next_in_ms: u32,
    },
    /// Closed by [`UseEventSourceHandle::close`] or unmount.
    Closed,
    /// The hook gave up after `max_attempts` recreations ([`UseEventSourceHandle::open`] starts
    /// again).
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
}

impl SseState {
    /// A short label for badges.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Retrying => "retrying",
            Self::Reconnecting { .. } => "reconnecting",
            Self::Closed => "closed",
            Self::GaveUp { .. } => "gave up",
        }
    }
}

/// What went wrong with the stream.
#[derive(Clone, Debug, PartialEq)]
pub enum SseError {
    /// The endpoint is not a usable URL.
    BadUrl(UrlError),
    /// The browser refused to create the `EventSource`.
    Create(String),
    /// The stream was interrupted (the browser retries by itself).
    Interrupted,
    /// The browser gave up on the stream (HTTP error or wrong content type).
    Failed,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(e) => write!(f, "bad endpoint URL: {e}"),
            Self::Create(e) => write!(f, "could not open the stream: {e}"),
            Self::Interrupted => write!(f, "stream interrupted; reconnecting"),
            Self::Failed => write!(f, "stream failed; retrying with backoff"),
        }
    }
}

impl std::error::Error for SseError {}

type NamedListener = (String, Closure<dyn FnMut(MessageEvent)>);

/// Streams refused before opening that are retried at once with a fresh URL before the backoff
/// takes over (the WebSocket engine's `ClosePolicy::max_refreshes`).
const MAX_REFRESHES: u32 = 3;

struct Stream {
    source: EventSource,
    listeners: Vec<NamedListener>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        for (name, listener) in &self.listeners {
            let _ = self
                .source
                .remove_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        }
        self.source.set_onopen(None);
        self.source.set_onerror(None);
        self.source.close();
    }
}

struct Inner {
    endpoint: String,
    options: EventSourceOptions,
    state: SseState,
    error: Option<SseError>,
    last_event_id: Option<String>,
    events: History<SseEvent>,
    attempt: u32,
    retry_at_ms: Option<f64>,
    log: History<LogEntry>,
    stream: Option<Stream>,
    timer: Option<Timeout>,
    on_change: Option<Rc<dyn Fn()>>,
    closed: bool,
    /// Counts streams, so a URL that arrives for a replaced one is dropped.
    generation: u64,
    /// The next URL request says `refresh` (the last stream was refused before it opened).
    stale_url: bool,
    /// `performance.now()` when the current stream opened.
    opened_at_ms: f64,
    /// Streams refused in a row that were retried at once with a fresh URL.
    refreshes: u32,
}

impl Inner {
    fn log(&mut self, text: impl Into<String>) {
        self.log.push(LogEntry {
            at_ms: browser::wall_clock_ms(),
            text: text.into(),
        });
    }

    fn connect(&mut self, weak: &Weak<RefCell<Inner>>) {
        self.timer = None;
        self.stream = None;
        self.retry_at_ms = None;
        self.generation += 1;
        self.state = SseState::Connecting;
        let Some(source) = self.options.url.clone() else {
            let endpoint = self.endpoint.clone();
            self.open_stream(weak, &endpoint);
            return;
        };
        let request = UrlRequest {
            refresh: std::mem::take(&mut self.stale_url),
        };
        let future = source.call(request);
        let generation = self.generation;
        let weak = weak.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let url = future.await;
            update(&weak, move |inner, weak| {
                // A stream replaced, closed or reopened meanwhile does not want this URL.
                if inner.generation != generation || inner.stream.is_some() {
                    return;
                }
                match url {
                    Ok(url) => inner.open_stream(weak, &url),
                    Err(e) => {
                        inner.log(format!("could not get the URL: {e}"));
                        inner.fail(weak);
                    }
                }
            });
        });
    }

    fn open_stream(&mut self, weak: &Weak<RefCell<Inner>>, target: &str) {
        let url = browser::page_origin()
            .map_err(SseError::Create)
            .and_then(|origin| {
                resolve_endpoint(target, &origin, Scheme::Http).map_err(SseError::BadUrl)
            });
        let mut url = match url {
            Ok(url) => url,
            Err(e) => {
                self.log(e.to_string());
                self.error = Some(e);
                self.state = SseState::Closed;
                return;
            }
        };
        if let Some(id) = &self.last_event_id {
            url = with_query_param(&url, &self.options.resume_param, id);
        }
        let init = EventSourceInit::new();
        init.set_with_credentials(self.options.with_credentials);
        let source = match EventSource::new_with_event_source_init_dict(&url, &init) {
            Ok(source) => source,
            Err(e) => {
                let error = SseError::Create(browser::describe_js_error(&e));
                self.log(error.to_string());
                self.error = Some(error);
                self.state = SseState::Closed;
                return;
            }
        };
        let w = weak.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            update(&w, |inner, _| {
                inner.state = SseState::Open;
                inner.opened_at_ms = browser::monotonic_ms();
                inner.refreshes = 0;
                inner.error = None;
                inner.attempt = 0;
                inner.log("open");
            });
        });
        let w = weak.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            update(&w, |inner, weak| inner.on_error(weak));
        });
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut listeners = Vec::new();
        for name in &self.options.events {
            let w = weak.clone();
            let event_name = name.clone();
            let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data().as_string().unwrap_or_default();
                let id = event.last_event_id();
                let name = event_name.clone();
                update(&w, move |inner, _| {
                    if !id.is_empty() {
                        inner.last_event_id = Some(id.clone());
                    }
                    inner.events.push(SseEvent {
                        event: name,
                        data,
                        id,
                    });
                });
            });
            // An event name the browser rejects is skipped; the others still work.
            if source
                .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())
                .is_ok()
            {
                listeners.push((name.clone(), listener));
            }
        }
        self.stream = Some(Stream {
            source,
            listeners,
            _on_open: on_open,
            _on_error: on_error,
        });
        self.state = SseState::Connecting;
        self.log(match &self.last_event_id {
            Some(id) => format!("connecting, resuming after {id}"),
            None => "connecting".to_owned(),
        });
    }

    fn on_error(&mut self, weak: &Weak<RefCell<Inner>>) {
        let ready_state = self.stream.as_ref().map(|s| s.source.ready_state());
        let was_open = self.state == SseState::Open;
        // A stream that ends within a second of opening is left to the browser's own pace.
        let lasted = browser::monotonic_ms() - self.opened_at_ms >= 1000.0;
        if ready_state == Some(EventSource::CONNECTING)
            && was_open
            && lasted
            && self.options.url.is_some()
        {
            // The stream ended after it was open (the server ends it when the token expires):
            // the browser would retry with the stale URL; reopen now with a fresh one.
            self.log("stream ended; reconnecting with a fresh URL");
            self.connect(weak);
            return;
        }
        if ready_state == Some(EventSource::CONNECTING) {
            // The browser retries by itself and sends Last-Event-ID: leave it alone.
            self.state = SseState::Retrying;
            self.error = Some(SseError::Interrupted);
            self.log("interrupted; browser retrying");
            return;
        }
        // Refused without ever opening: an HTTP error, perhaps a 401 for a stale token. With a
        // URL source, ask for a fresh one and try at once, up to MAX_REFRESHES times in a row.
        self.stale_url = !was_open;
        if !was_open && self.options.url.is_some() && self.refreshes < MAX_REFRESHES {
            self.refreshes += 1;
            self.log("refused; getting a fresh URL and reconnecting now");
            self.connect(weak);
            return;
        }
        self.fail(weak);
    }

    /// The stream failed for good: try again after the backoff delay, or give up.
    fn fail(&mut self, weak: &Weak<RefCell<Inner>>) {
        self.stream = None;
        self.error = Some(SseError::Failed);
        if self.options.reconnect.should_give_up(self.attempt) {
            self.state = SseState::GaveUp {
                attempts: self.attempt,
            };
            self.retry_at_ms = None;
            self.log(format!("failed; gave up after {} attempts", self.attempt));
            return;
        }
        let delay = self
            .options
            .reconnect
            .delay_ms(self.attempt, js_sys::Math::random());
        self.attempt += 1;
        self.state = SseState::Reconnecting {
            attempt: self.attempt,
            next_in_ms: delay,
        };
        self.retry_at_ms = Some(browser::wall_clock_ms() + f64::from(delay));
        self.log(format!(
            "failed; retry {} in {} s",
            self.attempt,
            Fixed(f64::from(delay) / 1000.0, 1)
        ));
        let weak = weak.clone();
        self.timer = Some(Timeout::new(delay, move || {
            update(&weak, |inner, weak| inner.connect(weak));
        }));
    }

    fn close(&mut self, _: &Weak<RefCell<Inner>>) {
        self.timer = None;
        self.stream = None;
        self.retry_at_ms = None;
        self.state = SseState::Closed;
        self.log("closed by the client");
    }

    fn row(&self) -> ConnectionRow {
        ConnectionRow {
            kind: "SSE",
            endpoint: self.endpoint.clone(),
            state: self.state.label().to_owned(),
            attempt: self.attempt,
            retry_at_ms: self.retry_at_ms,
            queued: 0,
            rtt_ms: None,
            last_close: None,
            last_error: self.error.as_ref().map(ToString::to_string),
            log: self.log.iter().cloned().collect(),
        }
    }
}

/// Runs `f` on the stream's state, then asks for a re-render outside the borrow. False when the
/// state was borrowed elsewhere and `f` did not run.
fn update(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &Weak<RefCell<Inner>>)) -> bool {
    let Some(rc) = weak.upgrade() else {
        return true;
    };
    let on_change = {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return false;
        };
        if inner.closed {
            return true;
        }
        f(&mut inner, weak);
        inner.on_change.clone()
    };
    if let Some(on_change) = on_change {
        on_change();
    }
    true
}

/// State and verbs of an SSE stream; cheap to clone.
#[derive(Clone)]
pub struct UseEventSourceHandle {
    inner: Rc<RefCell<Inner>>,
}

impl PartialEq for UseEventSourceHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl UseEventSourceHandle {
    /// Received events, oldest first (bounded).
    pub fn events(&self) -> Ref<'_, History<SseEvent>> {
        Ref::map(self.inner.borrow(), |i| &i.events)
    }

    /// The id of the last event that carried one (what a resume starts after).
    pub fn last_event_id(&self) -> Option<String> {
        self.inner.borrow().last_event_id.clone()
    }

    /// Where the stream is.
    pub fn state(&self) -> SseState {
        self.inner.borrow().state.clone()
    }

    /// True while events flow.
    pub fn is_connected(&self) -> bool {
        self.inner.borrow().state == SseState::Open
    }

    /// The current error, if any (cleared when the stream opens).
    pub fn error(&self) -> Option<SseError> {
        self.inner.borrow().error.clone()
    }

    /// Closes the stream and stops retrying; the component redraws with the closed state.
    ///
    /// Safe while a borrow of [`UseEventSourceHandle::events`] is alive (a click handler inside
    /// a render's iteration): the close then happens right after the current task.
    pub fn close(&self) {
        let weak = Rc::downgrade(&self.inner);
        if !update(&weak, Inner::close) {
            wasm_bindgen_futures::spawn_local(async move {
                update(&weak, Inner::close);
            });
        }
    }

    /// Recreates the stream now instead of waiting for the backoff (also after giving up); the
    /// attempt counter is kept. An open or connecting stream is left alone.
    pub fn retry_now(&self) {
        let weak = Rc::downgrade(&self.inner);
        update(&weak, |inner, weak| {
            if matches!(
                inner.state,
                SseState::Reconnecting { .. } | SseState::GaveUp { .. } | SseState::Closed
            ) {
                inner.connect(weak);
            }
        });
    }

    /// Opens the stream again (resuming from the last event id), also after `close` or giving up.
    pub fn open(&self) {
        let weak = Rc::downgrade(&self.inner);
        update(&weak, |inner, weak| {
            inner.attempt = 0;
            inner.connect(weak)
        });
    }
}

/// An SSE stream from `url` listening to unnamed (`message`) events.
///
/// # Example
/// ```
/// use realtime_hooks::use_event_source;
/// use yew::prelude::*;
///
/// #[component]
/// fn Ticker() -> Html {
///     let sse = use_event_source("/sse/ticks");
///     let last = sse.events().latest().map(|e| e.data.clone()).unwrap_or_default();
///     html! { <p>{ format!("{} — last id {:?}: {last}", sse.state().label(), sse.last_event_id()) }</p> }
/// }
/// ```
#[hook]
pub fn use_event_source(url: &str) -> UseEventSourceHandle {
    use_event_source_with_options(url, EventSourceOptions::default())
}

/// An SSE stream with options: named events, credentials, resume parameter, history size. A
/// different `url` or different options start a fresh stream with fresh state.
///
/// # Example
/// ```
/// use realtime_hooks::use_event_source::{use_event_source_with_options, EventSourceOptions};
/// use yew::prelude::*;
///
/// #[component]
/// fn Feed() -> Html {
///     let sse = use_event_source_with_options("/sse/notifications", EventSourceOptions {
///         events: vec!["notification".into(), "reset".into()],
///         ..Default::default()
///     });
///     html! {
///         <>
///             <p>{ if sse.is_connected() { "Live" } else { "Disconnected" } }</p>
///             { for sse.events().iter().rev().map(|e| html! { <p>{ &e.data }</p> }) }
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_event_source_with_options(
    url: &str,
    options: EventSourceOptions,
) -> UseEventSourceHandle {
    let registry = use_connection_registry();
    let mut options = options;
    if options.url.is_none() {
        options.url = registry.as_ref().and_then(|r| r.url_source(url));
    }
    let redraw = use_redraw();
    // A new URL or new options: a new stream with fresh state (events, last id, attempts).
    let inner = use_memo((url.to_owned(), options), move |(endpoint, options)| {
        Rc::new(RefCell::new(Inner {
            endpoint: endpoint.clone(),
            events: History::new(options.history),
            options: options.clone(),
            state: SseState::Connecting,
            error: None,
            last_event_id: None,
            attempt: 0,
            retry_at_ms: None,
            log: History::new(40),
            stream: None,
            timer: None,
            on_change: None,
            closed: false,
            generation: 0,
            stale_url: false,
            opened_at_ms: 0.0,
            refreshes: 0,
        }))
    });
    let inner: Rc<RefCell<Inner>> = (*inner).clone();
    {
        let handle = UseEventSourceHandle {
            inner: inner.clone(),
        };
        // Keyed on the handle (compared by `Rc`, kept alive by the key), not on an address.
        use_effect_with(handle, move |handle| {
            let inner = handle.inner.clone();
            inner.borrow_mut().on_change = Some(Rc::new(move || redraw.request()));
            let weak = Rc::downgrade(&inner);
            update(&weak, |inner, weak| inner.connect(weak));
            let row = registry.map(|registry| {
                let weak = weak.clone();
                registry.register_row(move || match weak.upgrade() {
                    Some(inner) => inner.borrow().row(),
                    None => ConnectionRow {
                        kind: "SSE",
                        endpoint: String::new(),
                        state: "closed".into(),
                        attempt: 0,
                        retry_at_ms: None,
                        queued: 0,
                        rtt_ms: None,
                        last_close: None,
                        last_error: None,
                        log: Vec::new(),
                    },
                })
            });
            move || {
                drop(row);
                let mut inner = inner.borrow_mut();
                inner.closed = true;
                inner.timer = None;
                inner.stream = None;
                inner.on_change = None;
            }
        });
    }
    UseEventSourceHandle { inner }
}
