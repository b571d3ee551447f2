//! Router and layout: a nav with one URL per page, the page, and the toggleable connection panel.
//!
//! Decision: routing is a path match on `window.location` plus `history.pushState` and
//! `popstate`, not yew-router — four fixed paths do not need a route recognizer, browser-history
//! wrapper and query serializer in every visitor's download (about 10 KB gzip).

use gloo_events::EventListener;
use realtime_hooks::core::url::with_query_param;
use realtime_hooks::RealtimeProvider;
use realtime_pages::{ChatPage, ConnectionPanel, CursorsPage, NotificationsPage, TypedChatPage};
use yew::prelude::*;

use crate::config::ENDPOINTS;

/// The app's pages, one URL each.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Route {
    /// Broadcast chat (`use_websocket`: reconnect, send queue, heartbeat) at `/`.
    Chat,
    /// Rooms with typed messages and per-type handlers, at `/typed-chat`.
    TypedChat,
    /// Live notifications over Server-Sent Events, at `/notifications`.
    Notifications,
    /// Collaborative cursors (presence + throttled sends), at `/cursors`.
    Cursors,
    /// Anything else (its own URL is `/404`).
    NotFound,
}

impl Route {
    /// The route a URL path shows; unknown paths are [`Route::NotFound`].
    pub fn recognize(path: &str) -> Self {
        match path {
            "/" => Self::Chat,
            "/typed-chat" => Self::TypedChat,
            "/notifications" => Self::Notifications,
            "/cursors" => Self::Cursors,
            _ => Self::NotFound,
        }
    }

    /// The URL path of this route.
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/",
            Self::TypedChat => "/typed-chat",
            Self::Notifications => "/notifications",
            Self::Cursors => "/cursors",
            Self::NotFound => "/404",
        }
    }

    /// The route of the page's current URL.
    fn current() -> Self {
        let path = web_sys::window().and_then(|w| w.location().pathname().ok());
        Self::recognize(path.as_deref().unwrap_or("/"))
    }
}

/// The display name from the page's `?name=` (e.g. `/cursors?name=Ada`), if any.
fn display_name() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get("name").filter(|name| !name.trim().is_empty())
}

/// A WebSocket endpoint carrying the display name, so the server can show it to others.
fn named(endpoint: &str) -> AttrValue {
    match display_name() {
        Some(name) => AttrValue::from(with_query_param(endpoint, "name", &name)),
        None => AttrValue::from(endpoint.to_owned()),
    }
}

fn switch(route: Route, navigate: &Callback<Route>) -> Html {
    match route {
        Route::Chat => html! { <ChatPage url={named(ENDPOINTS.chat)} /> },
        Route::TypedChat => html! { <TypedChatPage url={named(ENDPOINTS.typed_chat)} /> },
        Route::Notifications => html! { <NotificationsPage url={ENDPOINTS.notifications} /> },
        Route::Cursors => html! { <CursorsPage url={named(ENDPOINTS.presence)} /> },
        Route::NotFound => html! {
            <section class="page"><h1>{ "Page not found" }</h1>
                <p>{ link(Route::Chat, "Back to the chat", None, navigate) }</p></section>
        },
    }
}

/// An `<a href>` to `route` that navigates in place on a plain left click (modified clicks keep
/// the browser's own behaviour, e.g. open in a new tab).
fn link(
    route: Route,
    label: &'static str,
    class: Option<&'static str>,
    navigate: &Callback<Route>,
) -> Html {
    let navigate = navigate.clone();
    let onclick = Callback::from(move |e: MouseEvent| {
        if e.button() == 0 && !(e.ctrl_key() || e.meta_key() || e.shift_key() || e.alt_key()) {
            e.prevent_default();
            navigate.emit(route);
        }
    });
    html! { <a href={route.path()} class={class} {onclick}>{ label }</a> }
}

/// The root component: provider for shared connections, router, nav and connection panel.
#[component]
pub fn App() -> Html {
    let panel_open = use_state(|| false);
    let route = use_state(Route::current);
    {
        // Back / forward: show the page of the URL the browser moved to.
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = web_sys::window()
                .map(|w| EventListener::new(&w, "popstate", move |_| route.set(Route::current())));
            move || drop(listener)
        });
    }
    let navigate = {
        let route = route.clone();
        Callback::from(move |to: Route| {
            if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
                // A failed pushState (e.g. a sandboxed frame) still shows the page.
                let _ =
                    history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to.path()));
            }
            route.set(to);
        })
    };
    let toggle_panel = {
        let panel_open = panel_open.clone();
        Callback::from(move |_| panel_open.set(!*panel_open))
    };
    let item = |to: Route, label: &'static str| {
        let class = (*route == to).then_some("active");
        html! { <li>{ link(to, label, class, &navigate) }</li> }
    };
    html! {
        <RealtimeProvider>
            <div class="shell">
                <header class="topbar">
                    <span class="brand">{ "yew-realtime" }</span>
                    <nav aria-label="Pages"><ul class="nav">
                        { item(Route::Chat, "Chat") }
                        { item(Route::TypedChat, "Typed chat") }
                        { item(Route::Notifications, "Notifications") }
                        { item(Route::Cursors, "Cursors") }
                    </ul></nav>
                    <button class="panel-toggle" aria-pressed={(*panel_open).to_string()}
                        aria-controls="connection-panel" onclick={toggle_panel}>
                        { if *panel_open { "Hide connections" } else { "Connections" } }
                    </button>
                </header>
                <main class="content">
                    { switch(*route, &navigate) }
                </main>
                if *panel_open {
                    <ConnectionPanel />
                }
            </div>
        </RealtimeProvider>
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn every_route_is_recognized_from_its_own_path() {
        for route in [
            Route::Chat,
            Route::TypedChat,
            Route::Notifications,
            Route::Cursors,
            Route::NotFound,
        ] {
            assert_eq!(Route::recognize(route.path()), route);
        }
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["", "/chat", "/typed-chat/", "/cursors/x", "/404x"] {
            assert_eq!(Route::recognize(path), Route::NotFound);
        }
    }
}
