//! The app's look: a small static base sheet (`styles.css`) plus component-scoped styles written
//! with [stylist](https://docs.rs/stylist) next to each component and page.
//!
//! Decisions:
//! - Scoped, next to the code: a component writes
//!   `let style = crate::scoped!("stylist-my-thing", r#"…"#);` (from the app shell:
//!   `realtime_pages::scoped!`) and puts `classes!("my-thing", style)` on its root element
//!   (`components/message_list.rs`). The first argument is the style's class, unique in the app by
//!   convention (`stylist-` + the component); stylist prefixes every rule with it, so one page's
//!   `.members` cannot restyle another's, and a page left out of the build (cargo features) takes
//!   its CSS with it. The semantic class names (`.message`, `.badge`, …) stay on the elements for
//!   tests and readers; the rules for children select `.stylist-messages .message`. A style several
//!   components share is a function returning the class ([`page`], `status_style`).
//! - Stylist runs at compile time only: [`scoped!`](crate::scoped!) hands the CSS to
//!   `scoped_css!` (the proc-macro crate `pages/macros`), which parses it with stylist's parser
//!   and prints it scoped under the class with stylist's printer while the crate compiles; a CSS
//!   syntax error is a build error pointing at the style. The wasm gets the finished CSS as a
//!   string literal; the first time a style is used, [`mount`] puts it in a
//!   `<style data-style="…">` in `<head>`, and later renders only read a flag. No stylist code,
//!   CSS parser or printer ships to the browser (stylist is a dependency of the proc-macro only).
//! - Why: the same styles with stylist in the bundle cost 9,820 B gzip (its `sheet!` trees printed
//!   at run time) or 12,956 B (`css!` + `classes!`, whose style manager also hashed the whole tree
//!   on every render); printed at compile time they cost about 2.9 KB (the CSS text and the
//!   mount), as the yew-realtime benchmarks measured ("Bundle", "stylist"). Stylist's `css!` and
//!   `use_style!` are therefore not available; `scoped!` has no `${…}` interpolation (use a CSS
//!   variable or a second class).
//! - Theme tokens stay CSS variables (`var(--accent)`, …, defined in `styles.css` with a dark set
//!   under `prefers-color-scheme`), so light and dark switch without a re-render.
//! - The base sheet (tokens, resets, body, buttons and inputs, focus ring) stays a static file
//!   linked from `index.html` (`<link data-trunk rel="css">`): it downloads in parallel with the
//!   wasm, is cached on its own and paints the page's colours before the app starts. [`GlobalStyles`]
//!   is for hosts without Trunk's asset pipeline (tests, other shells); it embeds the same text.

use yew::prelude::*;

/// The global base stylesheet as text.
pub const STYLESHEET: &str = include_str!("styles.css");

/// Renders the global base stylesheet as a `<style>` element, for hosts that do not link
/// `styles.css` (this app links it from `index.html` and does not use this).
#[component]
pub fn GlobalStyles() -> Html {
    html! { <style>{ STYLESHEET }</style> }
}

/// The frame every page shares, for its root `<section class="page">`: the centred column, the
/// header with the title and status, the composer, the inline error and hint lines, and the
/// member list beside a room or board (typed chat, cursors).
pub fn page() -> &'static str {
    crate::scoped!(
        "stylist-page",
        r#"
        max-width: 960px; margin: 0 auto; display: flex; flex-direction: column; gap: 1rem;
        .page-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
        .page-head h1 { margin: 0; font-size: 1.5rem; }
        .hint { color: var(--muted); font-size: 0.85rem; }
        .composer { display: flex; gap: 0.5rem; }
        .composer input { flex: 1; min-width: 0; }
        .inline-error { margin: 0; padding: 0.6rem 0.8rem; border-radius: 8px; border: 1px solid var(--bad); color: var(--bad); background: var(--surface); overflow-wrap: anywhere; }
        .recovery { margin: 0; padding: 0.4rem 0.8rem; border-radius: 8px; border: 1px solid var(--ok); color: var(--ok); background: var(--surface); font-size: 0.9rem; }
        .recovery.warning { border-color: var(--wait); color: var(--wait); }
        .members { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; padding: 0.8rem 1rem; box-shadow: var(--shadow); align-self: start; }
        .members h2 { font-size: 0.95rem; margin: 0 0 0.5rem; }
        .members ul { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.3rem; }
        .dot { display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%; margin-right: 0.5rem; }
        "#
    )
}

#[doc(hidden)]
pub use realtime_pages_macros::scoped_css;

/// Mounts a style's finished CSS (from [`scoped_css!`]) in a `<style data-style="class">` in
/// `<head>`. Called once per style by [`scoped!`](crate::scoped!).
#[doc(hidden)]
pub fn mount(class: &str, css: &str) {
    let document = web_sys::window().and_then(|window| window.document());
    if let Some((head, style)) = document
        .and_then(|document| Some((document.head()?, document.create_element("style").ok()?)))
    {
        let _ = style.set_attribute("data-style", class);
        style.set_text_content(Some(css));
        let _ = head.append_child(&style);
    }
}

/// A component-scoped style: `scoped!("stylist-name", r#"css"#)` has stylist parse the CSS and
/// scope it under `.stylist-name` at compile time (a CSS error is a build error), mounts the
/// finished text once, the first time the style is used, and returns the class.
#[macro_export]
macro_rules! scoped {
    ($class:literal, $css:literal $(,)?) => {{
        ::std::thread_local! {
            static MOUNTED: ::std::cell::Cell<bool> = const { ::std::cell::Cell::new(false) };
        }
        if !MOUNTED.with(|mounted| mounted.replace(true)) {
            $crate::styles::mount($class, $crate::styles::scoped_css!($class, $css));
        }
        $class
    }};
}
