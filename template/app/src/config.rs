//! Where the app's real-time endpoints live: the one file to edit when the backend moves.
//!
//! The values are the answers given to `cargo generate`; edit them here. A value starting with `/` resolves against the page's origin at
//! run time (`http:` → `ws:`, `https:` → `wss:`), so one build works on any host; an absolute
//! `ws://`, `wss://`, `http://` or `https://` URL is used as given.

/// The endpoints the four pages connect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// WebSocket endpoint of the broadcast chat page.
    pub chat: &'static str,
    /// WebSocket endpoint of the typed (rooms) chat page.
    pub typed_chat: &'static str,
    /// Server-Sent Events stream of the notifications page.
    pub notifications: &'static str,
    /// WebSocket endpoint of the presence / collaborative cursors page.
    pub presence: &'static str,
}

/// The endpoints this build uses.
pub const ENDPOINTS: Endpoints = Endpoints {
    chat: "{{chat_ws_url}}",
    typed_chat: "{{typed_chat_ws_url}}",
    notifications: "{{notifications_sse_url}}",
    presence: "{{presence_ws_url}}",
};

#[cfg(test)]
mod tests {
    use super::ENDPOINTS;
    use realtime_hooks::core::url::{resolve_endpoint, Scheme};

    #[test]
    fn every_configured_endpoint_resolves_on_http_and_https_pages() {
        for origin in ["http://localhost:8080", "https://app.example.com"] {
            for ws in [ENDPOINTS.chat, ENDPOINTS.typed_chat, ENDPOINTS.presence] {
                let url = resolve_endpoint(ws, origin, Scheme::WebSocket)
                    .unwrap_or_else(|e| panic!("{ws:?} on {origin}: {e}"));
                assert!(
                    url.starts_with("ws://") || url.starts_with("wss://"),
                    "{url}"
                );
            }
            let sse = resolve_endpoint(ENDPOINTS.notifications, origin, Scheme::Http)
                .unwrap_or_else(|e| panic!("{:?} on {origin}: {e}", ENDPOINTS.notifications));
            assert!(
                sse.starts_with("http://") || sse.starts_with("https://"),
                "{sse}"
            );
        }
    }
}
