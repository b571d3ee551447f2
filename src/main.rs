//! The app shell: router, layout, theme and endpoint config around the four real-time pages.
//!
//! Start reading at [`app::App`]. The pages are listed in [`pages`]; endpoints come from [`config`]; the pages and the hooks
//! live in the `realtime-pages` and `realtime-hooks` crates so they build and test on their own.

mod app;
// The endpoints of pages left out of a build (cargo features) are unused there.
#[allow(dead_code)]
mod config;
mod pages;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
