//! Router and layout: a nav with one URL per page, the page, and the toggleable connection panel.
//!
//! Decision: routing is a path match on `window.location` plus `history.pushState` and
//! `popstate`, not yew-router — four fixed paths do not need a route recognizer, browser-history
//! wrapper and query serializer in every visitor's download (about 10 KB gzip).
//!
//! Each page is a cargo feature (`chat`, `typed-chat`, `notifications`, `cursors`; all on by
//! default). A page whose feature is off has no nav entry, its URL is "not found", and its code
//! (and the hooks only it uses) is not in the bundle; `/` shows the first page that is built in.

use gloo_events::EventListener;
use realtime_hooks::core::url::with_query_param;
use realtime_hooks::RealtimeProvider;
use realtime_pages::session::{use_session, SessionContext, SignIn, SignInState};
use realtime_pages::ConnectionPanel;
use yew::prelude::*;

/// Declares the app's pages (used once, in `src/pages.rs`): each entry becomes a [`Route`]
/// variant, a nav entry, a URL, a feature gate and an arm of the page switch.
///
/// An entry: `Variant { path: "/x", label: "Nav label", feature: "cargo-feature", view: expr }`
/// (`feature` is optional: a page without one is always built in). `view` is the page's `Html`,
/// evaluated only when its page is built in.
macro_rules! pages {
    ($(
        $(#[$doc:meta])*
        $variant:ident { path: $path:literal, label: $label:literal, $(feature: $feature:literal,)? view: $view:expr $(,)? }
    ),* $(,)?) => {
        /// The app's pages, one URL each (declared in `src/pages.rs`).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Route {
            $( $(#[$doc])* $variant, )*
            /// Anything else (its own URL is `/404`).
            NotFound,
        }

        impl Route {
            /// Every page, in nav order.
            pub const PAGES: &'static [Route] = &[$(Self::$variant),*];

            /// The cargo features of the pages, in nav order (pages without one are left out).
            pub const FEATURES: &'static [&'static str] = &[$($($feature,)?)*];

            /// Whether this page is built in (its cargo feature is on); always true for `NotFound`.
            pub fn enabled(self) -> bool {
                match self {
                    $( Self::$variant => cfg!(all($(feature = $feature)?)), )*
                    Self::NotFound => true,
                }
            }

            /// The nav label.
            pub fn label(self) -> &'static str {
                match self {
                    $( Self::$variant => $label, )*
                    Self::NotFound => "Not found",
                }
            }

            /// The URL path of this route.
            pub fn path(self) -> &'static str {
                match self {
                    $( Self::$variant => $path, )*
                    Self::NotFound => "/404",
                }
            }

            /// The page's view, or `None` for `NotFound` and pages not built in.
            pub fn view(self) -> Option<yew::Html> {
                // With every page built in, the last arm only matches `NotFound`.
                #[allow(unreachable_patterns)]
                match self {
                    $( #[cfg(all($(feature = $feature)?))] Self::$variant => Some($view), )*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use pages;

pub use crate::pages::Route;

impl Route {
    /// The page at `/`: the first page that is built in.
    pub fn home() -> Self {
        Self::PAGES
            .iter()
            .copied()
            .find(|page| page.enabled())
            .unwrap_or(Self::NotFound)
    }

    /// The route a URL path shows; unknown paths and pages not built in are
    /// [`Route::NotFound`].
    pub fn recognize(path: &str) -> Self {
        if path == "/" {
            return Self::home();
        }
        Self::PAGES
            .iter()
            .copied()
            .find(|page| page.enabled() && page.path() == path)
            .unwrap_or(Self::NotFound)
    }

    /// The route of the page's current URL.
    fn current() -> Self {
        let path = web_sys::window().and_then(|w| w.location().pathname().ok());
        Self::recognize(path.as_deref().unwrap_or("/"))
    }
}

/// The display name from the page's `?name=` (e.g. `/cursors?name=Ada`), else the one this tab
/// signed in with: who to sign in as, or (on a server without sign-in) the name to show.
fn display_name() -> Option<String> {
    let from_url = || {
        let search = web_sys::window()?.location().search().ok()?;
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
        params.get("name").filter(|name| !name.trim().is_empty())
    };
    // Else the name this tab signed in with (a server without sign-in shows it too).
    from_url().or_else(realtime_pages::session::remembered_name)
}

/// A WebSocket endpoint carrying the display name, so the server can show it to others.
// Unused when no WebSocket page is built in.
#[allow(dead_code)]
pub(crate) fn named(endpoint: &str) -> AttrValue {
    match display_name() {
        Some(name) => AttrValue::from(with_query_param(endpoint, "name", &name)),
        None => AttrValue::from(endpoint.to_owned()),
    }
}

fn switch(route: Route, navigate: &Callback<Route>) -> Html {
    if let Some(view) = route.view() {
        return view;
    }
    if Route::home() == Route::NotFound {
        // The blank shell (`--no-default-features`): nothing to go back to.
        let features = Route::FEATURES.join(", ");
        return html! {
            <section class={classes!("page", realtime_pages::styles::page())}><h1>{ "No page built in" }</h1>
                <p>{ format!("Turn on a page feature ({features}) or add a page to src/pages.rs.") }</p></section>
        };
    }
    html! {
        <section class={classes!("page", realtime_pages::styles::page())}><h1>{ "Page not found" }</h1>
            <p>{ link(Route::home(), "Back to the start", None, navigate) }</p></section>
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
    html! { <a href={href(route)} class={class} {onclick}>{ label }</a> }
}

/// The URL of `route`, keeping the current query string: what the page was opened with (e.g.
/// `?name=Ada`) holds on every page the nav leads to.
fn href(route: Route) -> String {
    let search = web_sys::window().and_then(|w| w.location().search().ok());
    format!("{}{}", route.path(), search.unwrap_or_default())
}

/// The root component: sign-in, provider for shared connections, router, nav and connection
/// panel.
///
/// Decision: the pages sit behind the sign-in screen when `config::AUTH_LOGIN` is set; every
/// connection then carries the session's token (the provider's `TokenSource`). A link with
/// `?name=` signs in as that name; a server whose login answers 404 runs open, and the app goes
/// on without tokens, as it does when `AUTH_LOGIN` is empty.
#[component]
pub fn App() -> Html {
    let session = use_session(crate::config::AUTH_LOGIN, display_name());
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
                    history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href(to)));
            }
            route.set(to);
        })
    };
    let toggle_panel = {
        let panel_open = panel_open.clone();
        Callback::from(move |_| panel_open.set(!*panel_open))
    };
    // The shell's layout, scoped to it (the connection panel and pages style themselves).
    let style = realtime_pages::scoped!(
        "stylist-shell",
        r#"
        display: grid; grid-template-rows: auto 1fr; grid-template-columns: 1fr auto; min-height: 100vh;
        .topbar { grid-column: 1 / -1; display: flex; align-items: center; gap: 1.5rem; padding: 0.7rem 1.5rem; background: var(--surface); border-bottom: 1px solid var(--border); }
        .brand { font-weight: 800; letter-spacing: -0.02em; }
        .nav { display: flex; gap: 0.25rem; list-style: none; margin: 0; padding: 0; }
        .nav a { display: block; padding: 0.35rem 0.8rem; border-radius: 8px; color: var(--muted); text-decoration: none; font-weight: 600; }
        .nav a.active, .nav a:hover { color: var(--text); background: var(--bg); }
        .panel-toggle { margin-left: auto; }
        .who { display: flex; align-items: center; gap: 0.4rem; color: var(--muted); }
        .who strong { color: var(--text); }
        .content { padding: 1.5rem; min-width: 0; }
        @media (max-width: 760px) {
            grid-template-columns: minmax(0, 1fr);
            .topbar { flex-wrap: wrap; gap: 0.5rem 0.75rem; padding: 0.6rem 0.75rem; }
            .who { flex-wrap: wrap; }
            nav { order: 5; flex: 1 1 100%; min-width: 0; }
            .nav { flex-wrap: wrap; }
            .nav a { white-space: nowrap; padding: 0.35rem 0.6rem; }
            .content { padding: 0.75rem; }
        }
        "#
    );
    let item = |to: Route, label: &'static str| {
        let class = (*route == to).then_some("active");
        html! { <li>{ link(to, label, class, &navigate) }</li> }
    };
    let pages_shown = matches!(session.state, SignInState::SignedIn(_) | SignInState::Open);
    let signed_in = match &session.state {
        SignInState::SignedIn(s) => Some(s.clone()),
        _ => None,
    };
    let context = SessionContext {
        session: signed_in.clone(),
        publish_url: AttrValue::Static(crate::config::PUBLISH),
    };
    let sign_out = session.sign_out.reform(|_: MouseEvent| ());
    let main = match &session.state {
        SignInState::Starting => html! {
            <section class={classes!("page", realtime_pages::styles::page())} role="status"><p>{ "Signing in…" }</p></section>
        },
        SignInState::SignedOut { error, busy } => html! {
            <SignIn on_submit={session.sign_in.clone()} error={error.clone().map(AttrValue::from)} busy={*busy} />
        },
        SignInState::SignedIn(_) | SignInState::Open => switch(*route, &navigate),
    };
    html! {
        <RealtimeProvider token={session.token.clone()}>
        <ContextProvider<SessionContext> {context}>
            <div class={classes!("shell", style)}>
                <header class="topbar">
                    <span class="brand">{ env!("CARGO_PKG_NAME") }</span>
                    if pages_shown {
                        <nav aria-label="Pages"><ul class="nav">
                            { for Route::PAGES.iter().copied().filter(|page| page.enabled())
                                .map(|page| item(page, page.label())) }
                        </ul></nav>
                        <button class="secondary panel-toggle" aria-expanded={(*panel_open).to_string()}
                            aria-controls={panel_open.then_some("connection-panel")} onclick={toggle_panel}>
                            { if *panel_open { "Hide connections" } else { "Connections" } }
                        </button>
                    }
                    if let Some(s) = &signed_in {
                        <span class="who" data-user-id={s.user_id.clone()}>
                            { "Signed in as " }<strong>{ s.name.clone() }</strong>
                            <button class="link sign-out" onclick={sign_out}>{ "Sign out" }</button>
                        </span>
                    }
                </header>
                <main class="content">
                    { main }
                </main>
                if *panel_open && pages_shown {
                    <ConnectionPanel />
                }
            </div>
        </ContextProvider<SessionContext>>
        </RealtimeProvider>
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn every_built_in_route_is_recognized_from_its_own_path_and_the_rest_are_not_found() {
        for route in Route::PAGES.iter().copied().chain([Route::NotFound]) {
            let want = if route.enabled() {
                route
            } else if route.path() == "/" {
                Route::home()
            } else {
                Route::NotFound
            };
            assert_eq!(Route::recognize(route.path()), want, "{route:?}");
        }
        assert!(Route::home().enabled());
        assert_eq!(Route::recognize("/"), Route::home());
    }

    #[test]
    fn the_default_build_has_every_page_with_the_chat_at_the_root() {
        // `cargo test` runs with the default features; scripts/check.sh builds the others.
        if cfg!(all(
            feature = "chat",
            feature = "typed-chat",
            feature = "notifications",
            feature = "cursors"
        )) {
            assert!(Route::PAGES.iter().copied().all(Route::enabled));
            assert_eq!(Route::home(), Route::Chat);
        } else {
            // `/` shows the first page built in, in nav order (NotFound in the blank shell).
            let first = Route::PAGES.iter().copied().find(|page| page.enabled());
            assert_eq!(Route::home(), first.unwrap_or(Route::NotFound));
        }
    }

    #[test]
    fn the_registry_and_the_cargo_features_list_the_same_pages() {
        // A page's feature must exist in Cargo.toml (cargo's check-cfg rejects an unknown one);
        // here the other way round: every page feature of Cargo.toml has its registry entry.
        let manifest = include_str!("../Cargo.toml");
        let features = manifest
            .split("[features]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        let page_features: Vec<&str> = features
            .lines()
            .filter(|line| line.contains("\"any-page\""))
            .filter_map(|line| line.split('=').next())
            .map(str::trim)
            .collect();
        assert_eq!(
            page_features,
            Route::FEATURES,
            "Cargo.toml [features] vs src/pages.rs"
        );
        let mut paths: Vec<&str> = Route::PAGES.iter().map(|p| p.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Route::PAGES.len(), "two pages share a path");
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["", "/chat", "/typed-chat/", "/cursors/x", "/404x"] {
            assert_eq!(Route::recognize(path), Route::NotFound);
        }
    }
}
