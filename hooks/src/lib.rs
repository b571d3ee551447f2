//! Yew hooks for real-time apps: every pattern of the WebSockets guide, on one connection engine.
//!
//! | pattern (seed)              | hook / module                                            |
//! |-----------------------------|----------------------------------------------------------|
//! | WebSocket basics            | [`use_websocket`] ([`use_websocket::use_websocket`])     |
//! | auto-reconnect, backoff     | [`connection`] + [`core::backoff`], [`core::close_policy`] |
//! | message queue               | [`connection`] + [`core::outbox`]                        |
//! | typed messages              | [`use_typed_websocket`]                                  |
//! | per-type handlers           | [`use_message_handlers`], [`use_on`]                     |
//! | Server-Sent Events          | [`use_event_source`]                                     |
//! | presence                    | [`use_presence`] + [`core::presence`]                    |
//! | heartbeat / ping-pong       | [`connection`] + [`core::heartbeat`]                     |
//! | binary data                 | [`use_websocket`] (`send_binary`, [`connection::Frame::Binary`]) |
//! | throttled sends             | [`use_throttled_send`] + [`core::throttle`]              |
//! | one connection per URL      | [`RealtimeProvider`] ([`provider`])                      |
//! | auth tokens on every attempt | [`TokenSource`] on the [`RealtimeProvider`] ([`token`]) |
//!
//! Pure decisions live in [`core`] (plain Rust, unit-tested natively); the hooks are wiring.
//! Nothing here panics on network input, logs per message, or leaks a closure.
//!
//! Decoding, one way everywhere: a struct per message type, routed by its `type` with
//! [`use_on`] or `UseMessageHandlersHandle::dispatch_to` (what the pages and the generated pages
//! do; the smallest bundle). [`use_typed_websocket`] takes a tagged enum instead, at a few KB per
//! enum. Engine-level frames (`welcome`, pongs) are the engine's: the latest `welcome` is in
//! `ConnectionStatus::welcome`, and they never count as unhandled.
//!
//! What happens, in order, on open, message, close, reconnect, give-up, URL change and unmount is
//! the "Lifecycle" section of [`connection`]. Every WebSocket-backed handle has the same verbs:
//! `state()`, `status()`, `open()`, `close()`, `retry_now()`, `connection()`; every hook's
//! options are a struct whose fields document their defaults.

#![warn(missing_docs)]

pub mod browser;
pub mod connection;
pub mod core;
pub mod provider;
pub mod redraw;
pub mod token;
pub mod use_event_source;
pub mod use_message_handlers;
pub mod use_presence;
pub mod use_throttled_send;
pub mod use_typed_websocket;
pub mod use_websocket;

pub use connection::{
    Connection, ConnectionState, ConnectionStatus, Delivery, DeliveryReport, Frame,
    WebSocketOptions, WsError,
};
pub use core::acks::{AckFailure, AckPolicy, PendingSend};
pub use core::resume::{Recovery, MAIN_STREAM};
pub use provider::{
    use_connection, use_connection_registry, ConnectionRegistry, ConnectionRow, RealtimeProvider,
};
pub use token::TokenSource;
pub use use_event_source::{
    use_event_source, use_event_source_with_options, EventSourceOptions, SseEvent, SseState,
};
pub use use_message_handlers::{use_message_handlers, use_message_handlers_with_options, use_on};
pub use use_presence::{use_presence, use_presence_with_options, PresenceOptions};
pub use use_throttled_send::{use_throttled_send, ThrottledSender};
pub use use_typed_websocket::{use_typed_websocket, use_typed_websocket_with_options, DecodeError};
pub use use_websocket::{
    use_websocket, use_websocket_with_options, UseWebSocketHandle, UseWebSocketOptions,
};
