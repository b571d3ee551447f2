//! The app's look: one plain stylesheet (`styles.css`) with light and dark themes from
//! `prefers-color-scheme`.
//!
//! Decisions:
//! - Static CSS, not parsed by stylist at run time: shipping a CSS parser in the wasm bundle would
//!   cost every visitor bytes for no gain, and theming is done with CSS variables.
//! - The app links the file from `index.html` (`<link data-trunk rel="css">`) rather than
//!   embedding it in the wasm: the sheet then downloads in parallel with the wasm, is cached
//!   separately, and styles the page before the app has started. [`GlobalStyles`] is for hosts
//!   without Trunk's asset pipeline (tests, other shells); it embeds the same text.

use yew::prelude::*;

/// The global stylesheet as text.
pub const STYLESHEET: &str = include_str!("styles.css");

/// Renders the global stylesheet as a `<style>` element, for hosts that do not link
/// `styles.css` (this app links it from `index.html` and does not use this).
#[component]
pub fn GlobalStyles() -> Html {
    html! { <style>{ STYLESHEET }</style> }
}
