//! `use_message_handlers`: the seed's "subscribe to message types". `on("message", f)` returns a
//! guard that unsubscribes when dropped; messages nobody handles are counted, not logged one by one.
//!
//! Handlers are typed: `on::<T>` decodes the frame into `T` (any `serde` type; `serde_json::Value`
//! for raw JSON) before calling. Routing reads only the `type` field, so no frame is parsed into
//! a generic JSON tree first, and a frame that does not fit its handler's type is counted in
//! [`UseMessageHandlersHandle::invalid`] with the reason, never dropped silently.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use yew::prelude::*;

use crate::connection::{Connection, ConnectionState, ConnectionStatus, Delivery, WsError};
use crate::core::decode::DecodeError;
pub use crate::core::handlers::{
    Handlers, Subscription, MAX_TYPE_LEN, MAX_UNHANDLED_TYPES, OTHER_TYPES,
};
use crate::core::outbox::SendPolicy;
use crate::provider::use_connection;
use crate::redraw::use_redraw;
use crate::use_websocket::UseWebSocketOptions;

/// A WebSocket whose messages are routed by `type` to handlers; cheap to clone.
#[derive(Clone)]
pub struct UseMessageHandlersHandle {
    conn: Connection,
    handlers: Rc<Handlers>,
}

impl PartialEq for UseMessageHandlersHandle {
    fn eq(&self, other: &Self) -> bool {
        self.conn == other.conn && Rc::ptr_eq(&self.handlers, &other.handlers)
    }
}

impl UseMessageHandlersHandle {
    /// Subscribes `handler` to messages of type `kind`, decoded as `T`, until the returned guard
    /// drops.
    pub fn on<T: DeserializeOwned + 'static>(
        &self,
        kind: &str,
        handler: impl Fn(T) + 'static,
    ) -> Subscription {
        self.handlers.on(kind, handler)
    }

    /// Feeds messages of `kind`, decoded as `T` and wrapped by `action`, to a reducer until the
    /// returned guard drops: the per-type routing a page with a `use_reducer` state needs, one line
    /// per message type (a dispatcher never goes stale).
    ///
    /// # Example
    /// ```
    /// use std::rc::Rc;
    /// use realtime_hooks::use_message_handlers;
    /// use serde::Deserialize;
    /// use yew::prelude::*;
    ///
    /// #[derive(Deserialize)]
    /// struct Said { text: String }
    ///
    /// #[derive(Default, PartialEq)]
    /// struct Log(Vec<String>);
    ///
    /// enum LogAction { Said(Said) }
    ///
    /// impl Reducible for Log {
    ///     type Action = LogAction;
    ///     fn reduce(self: Rc<Self>, LogAction::Said(s): LogAction) -> Rc<Self> {
    ///         let mut lines = self.0.clone();
    ///         lines.push(s.text);
    ///         Rc::new(Log(lines))
    ///     }
    /// }
    ///
    /// #[component]
    /// fn Feed() -> Html {
    ///     let ws = use_message_handlers("/ws/chat");
    ///     let log = use_reducer(Log::default);
    ///     {
    ///         let (ws, log) = (ws.clone(), log.dispatcher());
    ///         use_effect_with((), move |_| {
    ///             let subscriptions = [ws.dispatch_to("message", &log, LogAction::Said)];
    ///             move || drop(subscriptions)
    ///         });
    ///     }
    ///     html! { <ul>{ for log.0.iter().map(|t| html! { <li>{ t }</li> }) }</ul> }
    /// }
    /// ```
    pub fn dispatch_to<T, R>(
        &self,
        kind: &str,
        reducer: &UseReducerDispatcher<R>,
        action: fn(T) -> R::Action,
    ) -> Subscription
    where
        T: DeserializeOwned + 'static,
        R: Reducible + 'static,
    {
        let reducer = reducer.clone();
        self.handlers
            .on(kind, move |message: T| reducer.dispatch(action(message)))
    }

    /// Removes every handler of `kind`.
    pub fn off(&self, kind: &str) {
        self.handlers.off(kind);
    }

    /// Messages with no handler, as `(type, count)` sorted by type.
    pub fn unhandled(&self) -> Vec<(String, u64)> {
        self.handlers.unhandled()
    }

    /// Messages of type `kind` that had no handler.
    pub fn unhandled_of(&self, kind: &str) -> u64 {
        self.handlers.unhandled_of(kind)
    }

    /// Messages with no handler, all types together.
    pub fn unhandled_total(&self) -> u64 {
        self.handlers.unhandled_total()
    }

    /// Frames that were not a typed JSON message.
    pub fn malformed(&self) -> u64 {
        self.handlers.malformed()
    }

    /// Messages that did not decode as their handler's type, and the last of them (its error
    /// names the `type`).
    pub fn invalid(&self) -> (u64, Option<DecodeError>) {
        self.handlers.invalid()
    }

    /// Sends `value` as JSON (queued while offline).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<Delivery, WsError> {
        let text = serde_json::to_string(value).map_err(|e| WsError::Send(e.to_string()))?;
        self.conn.send_text_with(text, &SendPolicy::Keep)
    }

    /// Sends `value` (a JSON object) with a fresh `clientId`, kept until the server acks it
    /// (see [`Connection::send_json_acked`]); returns the `clientId`.
    pub fn send_acked<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(String, Delivery), WsError> {
        self.conn.send_json_acked(value)
    }

    /// The status snapshot.
    pub fn status(&self) -> ConnectionStatus {
        self.conn.status().clone()
    }

    /// Where the connection is.
    pub fn state(&self) -> ConnectionState {
        self.conn.status().state.clone()
    }

    /// True while frames can flow.
    pub fn is_connected(&self) -> bool {
        self.conn.status().is_connected()
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

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Per-type handlers on a WebSocket to `url`, default options.
///
/// # Example
/// ```
/// use realtime_hooks::{use_message_handlers, use_on};
/// use yew::prelude::*;
///
/// #[component]
/// fn Joins() -> Html {
///     let ws = use_message_handlers("/ws/typed-chat");
///     let joined = use_state(|| 0);
///     {
///         let joined = joined.clone();
///         // Subscribed while mounted; unsubscribed on unmount. `IgnoredAny`: only the type matters.
///         use_on(&ws, "user:joined", move |_: serde::de::IgnoredAny| joined.set(*joined + 1));
///     }
///     html! { <p>{ format!("{} joins, {} unhandled types", *joined, ws.unhandled().len()) }</p> }
/// }
/// ```
#[hook]
pub fn use_message_handlers(url: &str) -> UseMessageHandlersHandle {
    use_message_handlers_with_options(url, UseWebSocketOptions::default())
}

/// Per-type handlers with options (`history` is unused here: handlers keep what they need).
///
/// # Example
/// ```
/// use realtime_hooks::{use_message_handlers_with_options, use_on, UseWebSocketOptions, WebSocketOptions};
/// use serde::Deserialize;
/// use yew::prelude::*;
///
/// #[derive(Deserialize)]
/// struct ServerError {
///     message: String,
/// }
///
/// #[component]
/// fn Errors() -> Html {
///     let options = UseWebSocketOptions {
///         connection: WebSocketOptions { queue_capacity: 10, ..Default::default() },
///         ..Default::default()
///     };
///     let ws = use_message_handlers_with_options("/ws/typed-chat", options);
///     let last = use_state(String::new);
///     {
///         let last = last.clone();
///         use_on(&ws, "error", move |e: ServerError| last.set(e.message));
///     }
///     html! { <p>{ (*last).clone() }</p> }
/// }
/// ```
#[hook]
pub fn use_message_handlers_with_options(
    url: &str,
    options: UseWebSocketOptions,
) -> UseMessageHandlersHandle {
    let conn = use_connection(url, options.connection);
    let handlers: Rc<Handlers> = use_memo((), |_| Handlers::default());
    let redraw = use_redraw();
    {
        let handlers = handlers.clone();
        use_effect_with(conn.clone(), move |conn| {
            let on_frame = {
                let redraw = redraw.clone();
                conn.on_frame(move |frame| {
                    // Handlers update their own state; a new problem is ours to show.
                    if handlers.route(frame).problem {
                        redraw.request();
                    }
                })
            };
            let on_status = conn.on_status(move || redraw.request());
            move || drop((on_frame, on_status))
        });
    }
    UseMessageHandlersHandle { conn, handlers }
}

/// Subscribes `handler` to `kind` on `ws` while the calling component is mounted; the latest
/// `handler` is always the one called (no stale closures).
///
/// # Example
/// ```
/// use realtime_hooks::{use_message_handlers, use_on};
/// use serde::Deserialize;
/// use yew::prelude::*;
///
/// #[derive(Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Typing {
///     is_typing: bool,
/// }
///
/// #[component]
/// fn TypingHint() -> Html {
///     let ws = use_message_handlers("/ws/typed-chat");
///     let typing = use_state(|| false);
///     {
///         let typing = typing.clone();
///         use_on(&ws, "typing", move |t: Typing| typing.set(t.is_typing));
///     }
///     html! { <p>{ if *typing { "someone is typing…" } else { "" } }</p> }
/// }
/// ```
#[hook]
pub fn use_on<T, F>(ws: &UseMessageHandlersHandle, kind: &str, handler: F)
where
    T: DeserializeOwned + 'static,
    F: Fn(T) + 'static,
{
    let latest = use_mut_ref(|| Box::new(|_: T| {}) as Box<dyn Fn(T)>);
    *latest.borrow_mut() = Box::new(handler);
    // Keyed on the handle itself (it compares its handler table by `Rc`, which the key keeps
    // alive), never on an address that could be reused by a later table.
    use_effect_with((ws.clone(), kind.to_owned()), move |(ws, kind)| {
        let subscription = ws.on(kind, move |message: T| (latest.borrow())(message));
        move || drop(subscription)
    });
}
