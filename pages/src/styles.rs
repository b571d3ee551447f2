//! The app's look: a small static base sheet (`styles.css`) plus component-scoped styles written
//! with [stylist](https://docs.rs/stylist) next to each component and page.
//!
//! Decisions:
//! - Scoped, next to the code: a component writes `let style = css!(r#"…"#);` and puts
//!   `classes!("my-thing", style)` on its root element (`components/message_list.rs`). Stylist
//!   gives the style a class (`stylist-style-N`) and prefixes every rule with it, so one page's
//!   `.members` cannot restyle another's, and a page left out of the build (cargo features) takes
//!   its CSS with it. The semantic class names (`.message`, `.badge`, …) stay on the elements for
//!   tests and readers; the rules for children select `.stylist-style-N .message`. A style several
//!   components share is a function returning `css!` ([`page`], `status_style`).
//! - Parsed at compile time: stylist is built without its `parser` feature (and without `random`
//!   and the debug features), so `css!` turns the CSS into a static syntax tree when the crate
//!   compiles, a CSS syntax error is a build error, and no CSS parser ships to the browser. At run
//!   time stylist prints each style once into a `<style>` element in `<head>`, the first time a
//!   component renders with it; later renders find it in stylist's registry.
//! - `css!` rather than the `use_style!` hook: both parse at compile time, but the hook also looks
//!   up a style-manager context the app never provides (about 1 KB gzip more, for nothing).
//! - Theme tokens stay CSS variables (`var(--accent)`, …, defined in `styles.css` with a dark set
//!   under `prefers-color-scheme`), so light and dark switch without a re-render.
//! - The base sheet (tokens, resets, body, buttons and inputs, focus ring) stays a static file
//!   linked from `index.html` (`<link data-trunk rel="css">`): it downloads in parallel with the
//!   wasm, is cached on its own and paints the page's colours before the app starts. [`GlobalStyles`]
//!   is for hosts without Trunk's asset pipeline (tests, other shells); it embeds the same text.
//! - Cost: stylist's runtime (registry, printing the trees, mounting `<style>` elements) and the
//!   styles as syntax trees add to the wasm what the base sheet loses; docs/benchmarks.md
//!   ("Bundle", "stylist") has the figures.

use stylist::{css, StyleSource};
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
pub fn page() -> StyleSource {
    css!(
        r#"
        max-width: 960px; margin: 0 auto; display: flex; flex-direction: column; gap: 1rem;
        .page-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
        .page-head h1 { margin: 0; font-size: 1.5rem; }
        .hint { color: var(--muted); font-size: 0.85rem; }
        .composer { display: flex; gap: 0.5rem; }
        .composer input { flex: 1; }
        .inline-error { margin: 0; padding: 0.6rem 0.8rem; border-radius: 8px; border: 1px solid var(--bad); color: var(--bad); background: var(--surface); overflow-wrap: anywhere; }
        .members { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; padding: 0.8rem 1rem; box-shadow: var(--shadow); align-self: start; }
        .members h2 { font-size: 0.95rem; margin: 0 0 0.5rem; }
        .members ul { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.3rem; }
        .dot { display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%; margin-right: 0.5rem; }
        "#
    )
}
