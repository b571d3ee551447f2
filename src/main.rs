//! The app shell: router, layout, theme and endpoint config around the four real-time pages.
//!
//! Start reading at [`app::App`]. Endpoints come from [`config::ENDPOINTS`]; the pages and the hooks
//! live in the `realtime-pages` and `realtime-hooks` crates so they build and test on their own.

mod app;
// Unused in a build with no page (`--no-default-features`), the blank shell to start from.
#[cfg_attr(not(feature = "any-page"), allow(dead_code))]
mod config;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
