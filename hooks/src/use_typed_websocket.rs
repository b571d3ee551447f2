//! `use_typed_websocket`: the seed's typed messages. Frames decode into your `serde` enum; a frame
//! that does not decode becomes a [`DecodeError`] carrying the raw text, never a panic.

use std::cell::{Ref, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use yew::prelude::*;

use crate::connection::{Connection, ConnectionState, ConnectionStatus, Delivery, Frame, WsError};
use crate::core::history::History;
use crate::core::is_json_object;
use crate::core::outbox::SendPolicy;
use crate::provider::use_connection;
use crate::redraw::use_redraw;
use crate::use_websocket::UseWebSocketOptions;

/// A received frame that is not a valid message of the expected type.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError {
    /// What was wrong (serde's message, or "binary frame").
    pub error: String,
    /// The frame as received (text frames only; truncated to 2 KiB for display).
    pub raw: String,
    /// The frame's length in bytes.
    pub len: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.error, self.len)
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// `frame` was refused because of `error` (cut to 300 bytes; the raw text to 2 KiB).
    pub fn new(frame: &Frame, error: &str) -> Self {
        match frame {
            Frame::Text(text) => Self {
                // serde quotes the offending value in full: a 1 MB frame must not become a
                // 1 MB message.
                error: truncate(error, 300),
                raw: truncate(text, 2048),
                len: text.len(),
            },
            Frame::Binary(bytes) => Self {
                error: truncate(error, 300),
                raw: String::new(),
                len: bytes.len(),
            },
        }
    }
}

/// Decodes one frame as `In`: the pure part of the typed hook, usable anywhere.
pub fn decode_frame<In: DeserializeOwned>(frame: &Frame) -> Result<In, DecodeError> {
    match frame {
        Frame::Text(text) => {
            serde_json::from_str(text).map_err(|e| DecodeError::new(frame, &e.to_string()))
        }
        Frame::Binary(_) => Err(DecodeError::new(
            frame,
            "binary frame where a text message was expected",
        )),
    }
}

/// Like [`decode_frame`], but only a JSON object is accepted at the top level.
///
/// serde's derive for a struct also accepts an array of its fields in order; for a protocol of
/// `type`-tagged objects, `["presence:leave","u2"]` must be an error, not a leave.
pub fn decode_object<In: DeserializeOwned>(frame: &Frame) -> Result<In, DecodeError> {
    match frame {
        Frame::Text(text) if !is_json_object(text) => {
            Err(DecodeError::new(frame, "expected a JSON object"))
        }
        _ => decode_frame(frame),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

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
/// #[derive(Serialize)]
/// #[serde(tag = "type", rename_all = "camelCase")]
/// enum ClientMessage { Join { room: String } }
///
/// #[derive(Deserialize, Clone, PartialEq)]
/// #[serde(tag = "type", rename_all = "camelCase")]
/// enum ServerMessage { Joined { room: String, users: Vec<String> } }
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

/// A typed WebSocket with options (history bounds the decoded messages).
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
    let messages = use_mut_ref(|| History::new(options.history));
    let errors = use_mut_ref(|| History::new(50));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(tag = "type", rename_all = "camelCase")]
    enum ServerMessage {
        Error { message: String },
    }

    #[test]
    fn malformed_unknown_and_binary_frames_become_typed_errors_with_the_raw_text() {
        let bad = decode_frame::<ServerMessage>(&Frame::Text("{not json".into())).unwrap_err();
        assert_eq!(bad.raw, "{not json");
        let unknown = decode_frame::<ServerMessage>(&Frame::Text(r#"{"type":"mystery"}"#.into()))
            .unwrap_err();
        assert!(unknown.error.contains("mystery"), "{}", unknown.error);
        let binary = decode_frame::<ServerMessage>(&Frame::Binary(vec![1, 2, 3])).unwrap_err();
        assert_eq!(binary.len, 3);
        let ok =
            decode_frame::<ServerMessage>(&Frame::Text(r#"{"type":"error","message":"x"}"#.into()));
        assert_eq!(
            ok,
            Ok(ServerMessage::Error {
                message: "x".into()
            })
        );
    }

    #[test]
    fn a_huge_frame_keeps_its_length_but_not_its_whole_text() {
        let huge = format!("\"{}é\"", "x".repeat(1 << 20));
        let error = decode_frame::<ServerMessage>(&Frame::Text(huge.clone())).unwrap_err();
        assert_eq!(error.len, huge.len());
        assert!(error.raw.len() <= 2048 + '…'.len_utf8());
        assert!(
            error.error.len() <= 300 + '…'.len_utf8(),
            "{} bytes of error text",
            error.error.len()
        );
    }
}
