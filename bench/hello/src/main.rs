//! A Yew hello world: the bundle-size baseline.

use yew::prelude::*;

#[component]
fn App() -> Html {
    html! { <h1>{ "Hello, world" }</h1> }
}

fn main() {
    yew::Renderer::<App>::new().render();
}
