//! Ingest benchmark page: a burst of chat messages received and rendered by
//! - `?mode=hook`: our `use_typed_websocket` (every frame decoded on arrival into a bounded
//!   history of 500, one render per animation frame), rendering the history;
//! - `?mode=seed`: the seed's pattern as written (`messages.set([...messages(), message])`):
//!   parse, copy the whole list, append, re-render per message, render every message;
//! - `?mode=raw`: nothing here; index.html's script is raw JavaScript.
//!
//! Each variant calls `window.__bench.rendered(count)` after every render (see index.html).

use std::rc::Rc;

use realtime_hooks::{use_typed_websocket_with_options, UseWebSocketOptions};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};
use yew::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = __bench, js_name = rendered)]
    fn bench_rendered(count: f64);
    #[wasm_bindgen(js_namespace = __bench, js_name = markReady)]
    fn bench_ready();
}

/// The chat frames this page cares about (docs/protocol.md).
#[derive(Deserialize, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ChatIn {
    Welcome {},
    #[serde(rename_all = "camelCase")]
    Message {
        #[serde(default)]
        id: u64,
        #[serde(default)]
        name: String,
        text: String,
    },
}

/// (a) Our hook with its defaults (history 500).
#[component]
fn HookIngest() -> Html {
    let ws =
        use_typed_websocket_with_options::<ChatIn, ()>("/ws/chat", UseWebSocketOptions::default());
    let messages = ws.messages();
    // The welcome is always the first frame.
    let count = messages.received().saturating_sub(1) as f64;
    let welcomed = messages.received() > 0;
    use_effect(move || {
        if welcomed {
            bench_ready();
        }
        bench_rendered(count);
    });
    // One text node per item, as the raw variant's `textContent` makes (three `{}` would be
    // three nodes: more DOM work than (c) does, which is not what this compares).
    html! {
        <ul>{ for messages.iter().filter_map(|m| match m {
            ChatIn::Message { id, name, text } => Some(html! { <li key={*id}>{ format!("{name}: {text}") }</li> }),
            ChatIn::Welcome {} => None,
        }) }</ul>
    }
}

/// The seed's state: the whole list, copied on every append.
#[derive(Default, PartialEq)]
struct SeedList(Vec<serde_json::Value>);

impl Reducible for SeedList {
    type Action = serde_json::Value;
    fn reduce(self: Rc<Self>, message: Self::Action) -> Rc<Self> {
        // `messages.set([...messages(), message])`
        let mut next = self.0.clone();
        next.push(message);
        Rc::new(SeedList(next))
    }
}

/// (b) The seed pattern as written.
#[component]
fn SeedIngest() -> Html {
    let messages = use_reducer(SeedList::default);
    {
        let dispatcher = messages.dispatcher();
        use_effect_with((), move |_| {
            let url = web_sys::window()
                .and_then(|w| w.location().origin().ok())
                .map(|o| format!("{}/ws/chat", o.replacen("http", "ws", 1)));
            let ws = url.and_then(|url| WebSocket::new(&url).ok());
            let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let Some(text) = e.data().as_string() else {
                    return;
                };
                if let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) {
                    dispatcher.dispatch(message);
                }
            });
            if let Some(ws) = &ws {
                ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
            }
            move || {
                if let Some(ws) = ws {
                    ws.set_onmessage(None);
                    let _ = ws.close();
                }
                drop(onmessage);
            }
        });
    }
    // The welcome is always the first frame.
    let count = messages.0.len().saturating_sub(1) as f64;
    let welcomed = !messages.0.is_empty();
    use_effect(move || {
        if welcomed {
            bench_ready();
        }
        bench_rendered(count);
    });
    html! {
        <ul>{ for messages.0.iter().enumerate().map(|(i, m)| html! {
            <li key={i}>{ m["name"].as_str().unwrap_or_default() }{ ": " }{ m["text"].as_str().unwrap_or_default() }</li>
        }) }</ul>
    }
}

fn main() {
    let mode = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    if mode.contains("mode=seed") {
        yew::Renderer::<SeedIngest>::new().render();
    } else if !mode.contains("mode=raw") {
        yew::Renderer::<HookIngest>::new().render();
    }
}
