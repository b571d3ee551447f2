//! The page registry: every page of the app, one entry each. The route, the nav entry and its
//! order, the URL, the cargo feature gate, "not found" and the checks' page list all follow from
//! this table (see the `pages!` macro in `src/app.rs`).
//!
//! # Add a page
//! `cargo xtask new-page NAME` does all of it (and, with `--endpoint`, the server side too). By hand:
//! 1. write the page in `pages/src/NAME.rs` (a `#[component]` taking `PageProps`) and export it in
//!    `pages/src/lib.rs`;
//! 2. add its endpoint to `src/config.rs` (one line);
//! 3. add one entry below; with a `feature`, also add that feature to `[features]` in `Cargo.toml`
//!    (`NAME = ["any-page"]`, and to `default` to build it in): cargo rejects an undeclared
//!    feature, and a test checks that the two lists match.

// Each unused in some builds (the blank shell has no page; notifications alone names no one).
#[allow(unused_imports)]
use crate::app::named;
#[allow(unused_imports)]
use crate::config;
#[allow(unused_imports)]
use yew::prelude::*;

crate::app::pages! {
    /// Broadcast chat (`use_websocket`: reconnect, send queue, heartbeat) at `/`.
    Chat { path: "/", label: "Chat", feature: "chat",
        view: html! { <realtime_pages::ChatPage url={named(config::CHAT)} /> } },
    /// Rooms with typed messages and per-type handlers.
    TypedChat { path: "/typed-chat", label: "Typed chat", feature: "typed-chat",
        view: html! { <realtime_pages::TypedChatPage url={named(config::TYPED_CHAT)} /> } },
    /// Live notifications over Server-Sent Events.
    Notifications { path: "/notifications", label: "Notifications", feature: "notifications",
        view: html! { <realtime_pages::NotificationsPage url={config::NOTIFICATIONS} /> } },
    /// Collaborative cursors (presence + throttled sends).
    Cursors { path: "/cursors", label: "Cursors", feature: "cursors",
        view: html! { <realtime_pages::CursorsPage url={named(config::PRESENCE)} /> } },
    // xtask: new pages go above this line
}
