//! `use_websocket`: a WebSocket that reconnects, queues while offline, checks its own liveness and
//! keeps a bounded history of what it received (seed patterns: basics, auto-reconnect, message
//! queue, heartbeat, binary data).

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use serde::Serialize;
use yew::prelude::*;

use crate::connection::{
    Connection, ConnectionState, ConnectionStatus, Delivery, Frame, WebSocketOptions, WsError,
};
use crate::core::history::History;
use crate::core::outbox::SendPolicy;
use crate::provider::use_connection;
use crate::redraw::use_redraw;

/// Options of [`use_websocket_with_options`].
#[derive(Clone, Debug, PartialEq)]
pub struct UseWebSocketOptions {
    /// Connection behaviour (reconnect, queue, heartbeat). Default: [`WebSocketOptions::default`].
    pub connection: WebSocketOptions,
    /// How many received frames are kept, oldest dropped first. Default: 500.
    pub history: usize,
}

impl Default for UseWebSocketOptions {
    fn default() -> Self {
        Self {
            connection: WebSocketOptions::default(),
            history: 500,
        }
    }
}

/// State and verbs of a WebSocket; cheap to clone. Reading the history borrows it, no copy.
///
/// Every WebSocket-backed handle speaks the same verbs: `state()`, `status()`, `open()`,
/// `close()`, `retry_now()`, `connection()`.
#[derive(Clone)]
pub struct UseWebSocketHandle {
    conn: Connection,
    messages: Rc<RefCell<History<Frame>>>,
}

impl PartialEq for UseWebSocketHandle {
    fn eq(&self, other: &Self) -> bool {
        self.conn == other.conn && Rc::ptr_eq(&self.messages, &other.messages)
    }
}

impl UseWebSocketHandle {
    /// Where the connection is (connecting, open, reconnecting in N ms, ...).
    pub fn state(&self) -> ConnectionState {
        self.conn.status().state.clone()
    }

    /// True while frames can flow.
    pub fn is_connected(&self) -> bool {
        self.conn.status().is_connected()
    }

    /// Everything the UI may show: attempt, next retry, queue length, RTT, last close, errors.
    pub fn status(&self) -> ConnectionStatus {
        self.conn.status().clone()
    }

    /// The received frames, oldest first (bounded; see `History::received` for the total).
    pub fn messages(&self) -> Ref<'_, History<Frame>> {
        self.messages.borrow()
    }

    /// Sends `value` as JSON; queued while offline (bounded, reported when full).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<Delivery, WsError> {
        self.send_with(value, &SendPolicy::Keep)
    }

    /// Sends `value` as JSON with an explicit offline policy (keep, latest wins by key, drop).
    pub fn send_with<T: Serialize + ?Sized>(
        &self,
        value: &T,
        policy: &SendPolicy,
    ) -> Result<Delivery, WsError> {
        let text = serde_json::to_string(value).map_err(|e| WsError::Send(e.to_string()))?;
        self.conn.send_text_with(text, policy)
    }

    /// Sends `value` (a JSON object) with a fresh `clientId` and keeps it until the server acks
    /// it: resent after a reconnect, reported to [`Connection::on_delivery`] (see
    /// [`Connection::send_json_acked`]). Returns the `clientId`.
    pub fn send_acked<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(String, Delivery), WsError> {
        self.conn.send_json_acked(value)
    }

    /// Sends a text frame as is.
    pub fn send_text(&self, text: impl Into<String>) -> Result<Delivery, WsError> {
        self.conn.send_text_with(text.into(), &SendPolicy::Keep)
    }

    /// Sends a binary frame (an `ArrayBuffer` on the wire).
    pub fn send_binary(&self, bytes: impl Into<Vec<u8>>) -> Result<Delivery, WsError> {
        self.conn.send_binary_with(bytes.into(), &SendPolicy::Keep)
    }

    /// Opens the connection (after `close`, giving up, or in manual mode).
    pub fn open(&self) {
        self.conn.open();
    }

    /// Closes with 1000 and stops reconnecting.
    pub fn close(&self) {
        self.conn.close();
    }

    /// Retries now instead of waiting for the backoff timer.
    pub fn retry_now(&self) {
        self.conn.retry_now();
    }

    /// Forgets the received history.
    pub fn clear_messages(&self) {
        self.messages.borrow_mut().clear();
    }

    /// The underlying connection, for hooks built on this one.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A WebSocket to `url` with the default options (see [`use_websocket_with_options`]).
///
/// # Example
/// ```
/// use realtime_hooks::use_websocket;
/// use realtime_hooks::connection::Frame;
/// use yew::prelude::*;
///
/// #[component]
/// fn Echo() -> Html {
///     let ws = use_websocket("/ws/chat");
///     let onclick = {
///         let ws = ws.clone();
///         // Queued while offline and sent in order once connected.
///         Callback::from(move |_| { let _ = ws.send(&serde_json::json!({"type": "message", "text": "hi"})); })
///     };
///     html! {
///         <>
///             <p>{ ws.state().label() }</p>
///             <button {onclick}>{ "Say hi" }</button>
///             <ul>{ for ws.messages().iter().map(|frame| match frame {
///                 Frame::Text(text) => html! { <li>{ text }</li> },
///                 Frame::Binary(bytes) => html! { <li>{ format!("{} bytes", bytes.len()) }</li> },
///             }) }</ul>
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_websocket(url: &str) -> UseWebSocketHandle {
    use_websocket_with_options(url, UseWebSocketOptions::default())
}

/// A WebSocket to `url`: connects on mount, closes on unmount, re-renders at most once per
/// animation frame however many frames arrive. A different `url` or different options start a
/// fresh connection with an empty history (what was queued on the old one is reported in the new
/// one's status).
///
/// # Example
/// ```
/// use realtime_hooks::{use_websocket_with_options, UseWebSocketOptions, WebSocketOptions};
/// use realtime_hooks::core::backoff::ReconnectPolicy;
/// use yew::prelude::*;
///
/// #[component]
/// fn Ticker() -> Html {
///     // Give up after 5 attempts; keep the last 100 frames.
///     let ws = use_websocket_with_options("wss://example.com/ticks", UseWebSocketOptions {
///         connection: WebSocketOptions {
///             reconnect: Some(ReconnectPolicy { max_attempts: Some(5), ..Default::default() }),
///             ..Default::default()
///         },
///         history: 100,
///     });
///     let status = ws.status();
///     html! { <p>{ format!("{} (attempt {}, {} queued)", status.state.label(), status.attempt, status.queued) }</p> }
/// }
/// ```
#[hook]
pub fn use_websocket_with_options(url: &str, options: UseWebSocketOptions) -> UseWebSocketHandle {
    let conn = use_connection(url, options.connection);
    // A new connection (URL or options changed) starts with an empty history.
    let messages: Rc<RefCell<History<Frame>>> =
        use_memo((conn.clone(), options.history), |(_, history)| {
            RefCell::new(History::new(*history))
        });
    let redraw = use_redraw();
    {
        let messages = messages.clone();
        use_effect_with(conn.clone(), move |conn| {
            let on_frame = {
                let redraw = redraw.clone();
                conn.on_frame(move |frame| {
                    messages.borrow_mut().push(frame.clone());
                    redraw.request();
                })
            };
            let on_status = conn.on_status(move || redraw.request());
            move || drop((on_frame, on_status))
        });
    }
    UseWebSocketHandle { conn, messages }
}
