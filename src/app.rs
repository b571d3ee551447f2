//! Router and layout: a nav with one URL per page, the page, and the toggleable connection panel.

use realtime_hooks::core::url::with_query_param;
use realtime_hooks::RealtimeProvider;
use realtime_pages::{
    ChatPage, ConnectionPanel, CursorsPage, GlobalStyles, NotificationsPage, TypedChatPage,
};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::config::ENDPOINTS;

/// The app's pages, one URL each.
#[derive(Clone, Routable, PartialEq, Eq, Debug)]
pub enum Route {
    /// Broadcast chat (`use_websocket`: reconnect, send queue, heartbeat).
    #[at("/")]
    Chat,
    /// Rooms with typed messages and per-type handlers.
    #[at("/typed-chat")]
    TypedChat,
    /// Live notifications over Server-Sent Events.
    #[at("/notifications")]
    Notifications,
    /// Collaborative cursors (presence + throttled sends).
    #[at("/cursors")]
    Cursors,
    /// Anything else.
    #[not_found]
    #[at("/404")]
    NotFound,
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

fn switch(route: Route) -> Html {
    match route {
        Route::Chat => html! { <ChatPage url={named(ENDPOINTS.chat)} /> },
        Route::TypedChat => html! { <TypedChatPage url={named(ENDPOINTS.typed_chat)} /> },
        Route::Notifications => html! { <NotificationsPage url={ENDPOINTS.notifications} /> },
        Route::Cursors => html! { <CursorsPage url={named(ENDPOINTS.presence)} /> },
        Route::NotFound => html! {
            <section class="page"><h1>{ "Page not found" }</h1>
                <p><Link<Route> to={Route::Chat}>{ "Back to the chat" }</Link<Route>></p></section>
        },
    }
}

/// The root component: provider for shared connections, router, nav and connection panel.
#[component]
pub fn App() -> Html {
    let panel_open = use_state(|| false);
    let toggle_panel = {
        let panel_open = panel_open.clone();
        Callback::from(move |_| panel_open.set(!*panel_open))
    };
    html! {
        <RealtimeProvider>
            <GlobalStyles />
            <BrowserRouter>
                <div class="shell">
                    <header class="topbar">
                        <span class="brand">{ "yew-realtime" }</span>
                        <Nav />
                        <button class="panel-toggle" aria-pressed={(*panel_open).to_string()}
                            aria-controls="connection-panel" onclick={toggle_panel}>
                            { if *panel_open { "Hide connections" } else { "Connections" } }
                        </button>
                    </header>
                    <main class="content">
                        <Switch<Route> render={switch} />
                    </main>
                    if *panel_open {
                        <ConnectionPanel />
                    }
                </div>
            </BrowserRouter>
        </RealtimeProvider>
    }
}

#[component]
fn Nav() -> Html {
    let current = use_route::<Route>();
    let item = |route: Route, label: &'static str| {
        let active = current.as_ref() == Some(&route);
        html! {
            <li><Link<Route> to={route} classes={classes!(active.then_some("active"))}>
                { label }
            </Link<Route>></li>
        }
    };
    html! {
        <nav aria-label="Pages"><ul class="nav">
            { item(Route::Chat, "Chat") }
            { item(Route::TypedChat, "Typed chat") }
            { item(Route::Notifications, "Notifications") }
            { item(Route::Cursors, "Cursors") }
        </ul></nav>
    }
}
