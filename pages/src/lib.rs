//! The four demo pages and the components they are built from.
//!
//! Pages are thin: each composes hooks from `realtime-hooks` with small presentational components
//! that take data and `on_*` callbacks and know nothing about sockets. Every text that comes from
//! the network is rendered as text (Yew escapes it), never as HTML.

#![warn(missing_docs)]

pub mod chat;
pub mod components;
pub mod cursors;
pub mod notifications;
pub mod session;
pub mod styles;
pub mod typed_chat;

pub use chat::ChatPage;
pub use components::connection_panel::ConnectionPanel;
pub use cursors::CursorsPage;
pub use notifications::NotificationsPage;
pub use styles::GlobalStyles;
pub use typed_chat::TypedChatPage;

use yew::prelude::*;

/// Props shared by every page: the endpoint it talks to (from the app's config, never hard-coded).
#[derive(Properties, PartialEq, Clone)]
pub struct PageProps {
    /// The endpoint URL (a `/path` resolves against the page's origin).
    pub url: AttrValue,
}

/// Formats a server timestamp (ms since the epoch) as local `HH:MM`.
pub fn clock(timestamp_ms: f64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(timestamp_ms));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}
