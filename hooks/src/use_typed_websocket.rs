//! `use_typed_websocket`: the seed's typed messages. Frames decode into your `serde` enum; a frame
//! that does not decode becomes a [`DecodeError`] carrying the raw text, never a panic.
//!
//! The pages decode the other way — one struct per message type, routed by `type` with
//! [`crate::use_on`] / `dispatch_to` (see [`crate::use_message_handlers`]) — because serde's
//! internally tagged enums buffer every frame into a generic tree first and cost the bundle
//! several KB each. Use this hook when one enum reads better than a handler per type and a few KB
//! do not matter; then mind `rename_all_fields` (example below).

use std::cell::{Ref, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use yew::prelude::*;

use crate::connection::{Connection, ConnectionState, ConnectionStatus, Delivery, WsError};
pub use crate::core::decode::{decode_frame, decode_object, truncate, DecodeError};
use crate::core::history::History;
use crate::core::outbox::SendPolicy;
use crate::provider::use_connection;
use crate::redraw::use_redraw;
use crate::use_websocket::UseWebSocketOptions;

/// State and verbs of a typed WebSocket; cheap to clone.
pub struct UseTypedWebSocketHandle<In, Out> {
    conn: Connection,
    messages: Rc<RefCell<History<In>>>,
    errors: Rc<RefCell<History<DecodeError>>>,
    _out: PhantomData<fn(Out)>,
}

impl<In, Out> Clone for UseTypedWebSocketHandle<In, Out> {
    fn clone(&self) -> Self {
        Self {
            conn: self.conn.clone(),
            messages: self.messages.clone(),
            errors: self.errors.clone(),
            _out: PhantomData,
        }
    }
}

impl<In, Out> PartialEq for UseTypedWebSocketHandle<In, Out> {
    fn eq(&self, other: &Self) -> bool {
        self.conn == other.conn && Rc::ptr_eq(&self.messages, &other.messages)
    }
}

impl<In, Out: Serialize> UseTypedWebSocketHandle<In, Out> {
    /// Sends a typed message; queued while offline.
    pub fn send(&self, message: &Out) -> Result<Delivery, WsError> {
        self.send_with(message, &SendPolicy::Keep)
    }

    /// Sends a typed message with an explicit offline policy.
    pub fn send_with(&self, message: &Out, policy: &SendPolicy) -> Result<Delivery, WsError> {
        let text = serde_json::to_string(message).map_err(|e| WsError::Send(e.to_string()))?;
        self.conn.send_text_with(text, policy)
    }

    /// Sends a typed message with a fresh `clientId`, kept until the server acks it (see
    /// [`Connection::send_json_acked`]); returns the `clientId`.
    pub fn send_acked(&self, message: &Out) -> Result<(String, Delivery), WsError> {
        self.conn.send_json_acked(message)
    }

    /// Decoded messages, oldest first (bounded).
    pub fn messages(&self) -> Ref<'_, History<In>> {
        self.messages.borrow()
    }

    /// Frames that did not decode, oldest first (bounded to 50).
    pub fn errors(&self) -> Ref<'_, History<DecodeError>> {
        self.errors.borrow()
    }

    /// Where the connection is.
    pub fn state(&self) -> ConnectionState {
        self.conn.status().state.clone()
    }

    /// True while frames can flow.
    pub fn is_connected(&self) -> bool {
        self.conn.status().is_connected()
    }

    /// The full status snapshot.
    pub fn status(&self) -> ConnectionStatus {
        self.conn.status().clone()
    }

    /// Retries now instead of waiting for the backoff timer.
    pub fn retry_now(&self) {
        self.conn.retry_now();
    }

    /// Opens the connection (after `close`, giving up, or in manual mode).
    pub fn open(&self) {
        self.conn.open();
    }

    /// Closes with 1000 and stops reconnecting.
    pub fn close(&self) {
        self.conn.close();
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A WebSocket speaking `In` (server → client) and `Out` (client → server), default options.
///
/// # Example
/// ```
/// use realtime_hooks::use_typed_websocket;
/// use serde::{Deserialize, Serialize};
/// use yew::prelude::*;
///
/// // `rename_all` names the variants (`join`); `rename_all_fields` the fields (`userId`): a
/// // tagged enum needs both for the camelCase protocol.
/// #[derive(Serialize)]
/// #[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
/// enum ClientMessage { Join { room: String } }
///
/// #[derive(Deserialize, Clone, PartialEq)]
/// #[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
/// enum ServerMessage { Joined { room: String, users: Vec<String> }, UserJoined { room: String, user_id: String } }
///
/// #[component]
/// fn Rooms() -> Html {
///     let ws = use_typed_websocket::<ServerMessage, ClientMessage>("/ws/typed-chat");
///     let join = {
///         let ws = ws.clone();
///         Callback::from(move |_| { let _ = ws.send(&ClientMessage::Join { room: "general".into() }); })
///     };
///     html! {
///         <>
///             <button onclick={join}>{ "Join" }</button>
///             { for ws.messages().iter().map(|m| match m {
///                 ServerMessage::Joined { room, users } => html! { <p>{ format!("{room}: {}", users.len()) }</p> },
///                 ServerMessage::UserJoined { room, user_id } => html! { <p>{ format!("{user_id} joined {room}") }</p> },
///             }) }
///             { for ws.errors().iter().map(|e| html! { <p class="error">{ e.to_string() }</p> }) }
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_typed_websocket<In, Out>(url: &str) -> UseTypedWebSocketHandle<In, Out>
where
    In: DeserializeOwned + 'static,
    Out: Serialize + 'static,
{
    use_typed_websocket_with_options(url, UseWebSocketOptions::default())
}

/// A typed WebSocket with options (history bounds the decoded messages). A different `url` or
/// different options start a fresh connection with empty message and error lists.
///
/// # Example
/// ```
/// use realtime_hooks::{use_typed_websocket_with_options, UseWebSocketOptions};
/// use serde::{Deserialize, Serialize};
/// use yew::prelude::*;
///
/// #[derive(Serialize)]
/// #[serde(tag = "type", rename_all = "camelCase")]
/// enum Out { Message { text: String } }
///
/// #[derive(Deserialize)]
/// #[serde(tag = "type", rename_all = "camelCase")]
/// enum In { Message { text: String } }
///
/// #[component]
/// fn Last50() -> Html {
///     // Keep only the last 50 decoded messages.
///     let ws = use_typed_websocket_with_options::<In, Out>("/ws/chat", UseWebSocketOptions { history: 50, ..Default::default() });
///     html! { <ul>{ for ws.messages().iter().map(|In::Message { text }| html! { <li>{ text }</li> }) }</ul> }
/// }
/// ```
#[hook]
pub fn use_typed_websocket_with_options<In, Out>(
    url: &str,
    options: UseWebSocketOptions,
) -> UseTypedWebSocketHandle<In, Out>
where
    In: DeserializeOwned + 'static,
    Out: Serialize + 'static,
{
    let conn = use_connection(url, options.connection);
    // A new connection (URL or options changed) starts with empty lists.
    let messages: Rc<RefCell<History<In>>> =
        use_memo((conn.clone(), options.history), |(_, history)| {
            RefCell::new(History::new(*history))
        });
    let errors: Rc<RefCell<History<DecodeError>>> =
        use_memo(conn.clone(), |_| RefCell::new(History::new(50)));
    let redraw = use_redraw();
    {
        let (messages, errors) = (messages.clone(), errors.clone());
        use_effect_with(conn.clone(), move |conn| {
            let on_frame = {
                let redraw = redraw.clone();
                conn.on_frame(move |frame| {
                    match decode_frame::<In>(frame) {
                        Ok(message) => messages.borrow_mut().push(message),
                        Err(error) => errors.borrow_mut().push(error),
                    }
                    redraw.request();
                })
            };
            let on_status = conn.on_status(move || redraw.request());
            move || drop((on_frame, on_status))
        });
    }
    UseTypedWebSocketHandle {
        conn,
        messages,
        errors,
        _out: PhantomData,
    }
}
