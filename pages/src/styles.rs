//! The app's look: one plain stylesheet with light and dark themes from `prefers-color-scheme`.
//!
//! Decision: the sheet is static CSS injected as a `<style>` element, not parsed by stylist at run
//! time — shipping a CSS parser in the wasm bundle would cost every visitor bytes for no gain, and
//! theming is done with CSS variables. Component-scoped dynamic styles can still use stylist's
//! `css!` macro (compile-time parsed) where a page needs them.

use yew::prelude::*;

/// The global stylesheet as text.
pub const STYLESHEET: &str = include_str!("styles.css");

/// Renders the global stylesheet; put it once near the root of the app.
#[component]
pub fn GlobalStyles() -> Html {
    html! { <style>{ STYLESHEET }</style> }
}
