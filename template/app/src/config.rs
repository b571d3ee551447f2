//! Where the app's real-time endpoints live: the one file to edit when the backend moves.
//!
//! The values are the answers given to `cargo generate`; edit them here, one line per endpoint.
//! A value starting with `/` resolves against the page's origin at run time (`http:` → `ws:`,
//! `https:` → `wss:`), so one build works on any host; an absolute `ws://`, `wss://`, `http://` or
//! `https://` URL is used as given. `ws` and `sse` check each value when the app compiles: a
//! malformed one is a build error, not a page that never connects.

use realtime_hooks::core::url::{
    http_endpoint as http, login_endpoint as login, sse_endpoint as sse, ws_endpoint as ws,
};

/// WebSocket endpoint of the broadcast chat page.
pub const CHAT: &str = ws("{{chat_ws_url}}");
/// WebSocket endpoint of the typed (rooms) chat page.
pub const TYPED_CHAT: &str = ws("{{typed_chat_ws_url}}");
/// Server-Sent Events stream of the notifications page.
pub const NOTIFICATIONS: &str = sse("{{notifications_sse_url}}");
/// WebSocket endpoint of the presence / collaborative cursors page.
pub const PRESENCE: &str = ws("{{presence_ws_url}}");
/// Where users sign in: `POST {name}` answers a signed token that every connection then
/// carries (`realtime_pages::session`). Empty: no sign-in screen, connections carry no token
/// (for a backend that does not use them).
pub const AUTH_LOGIN: &str = login("{{auth_login_url}}");
/// Where the notifications page publishes (`POST`, with the signed-in user's token).
pub const PUBLISH: &str = http("/api/notifications");
// xtask: new endpoints go above this line
