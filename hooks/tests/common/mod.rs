//! Helpers shared by the browser test binaries: the dev server's URL, a mount point, polling.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use realtime_hooks::core::backoff::{Jitter, ReconnectPolicy};
use realtime_hooks::{Connection, Frame};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub fn server() -> &'static str {
    match option_env!("REALTIME_TEST_SERVER") {
        Some(url) => url,
        None => {
            panic!("REALTIME_TEST_SERVER is not set: run these tests with scripts/browser-tests.sh")
        }
    }
}

pub fn ws_url(path: &str) -> String {
    format!("{}{path}", server().replacen("http", "ws", 1))
}

/// A fresh `<div>` appended to the test page's body, to mount a component into.
pub fn new_root() -> web_sys::Element {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let root = document.create_element("div").expect("div");
    document
        .body()
        .expect("body")
        .append_child(&root)
        .expect("append");
    root
}

/// Polls `check` every 20 ms for up to `limit`; panics naming what it waited for.
pub async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let mut waited = Duration::ZERO;
    while !check() {
        assert!(waited < limit, "waited {limit:?} for {what}");
        sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}

pub fn collect(
    conn: &Connection,
) -> (
    Rc<RefCell<Vec<Frame>>>,
    realtime_hooks::connection::ListenerGuard,
) {
    let frames = Rc::new(RefCell::new(Vec::new()));
    let sink = frames.clone();
    let guard = conn.on_frame(move |f| sink.borrow_mut().push(f.clone()));
    (frames, guard)
}

pub async fn post_json(path: &str, body: &str) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let headers = web_sys::Headers::new().expect("headers");
    headers
        .set("content-type", "application/json")
        .expect("header");
    init.set_headers(&headers);
    let window = web_sys::window().expect("window");
    let response =
        JsFuture::from(window.fetch_with_str_and_init(&format!("{}{path}", server()), &init))
            .await
            .expect("fetch");
    let response: web_sys::Response = response.dyn_into().expect("response");
    assert!(response.ok(), "POST {path} answered {}", response.status());
}

pub async fn open_connections() -> u64 {
    let window = web_sys::window().expect("window");
    let response = JsFuture::from(window.fetch_with_str(&format!("{}/healthz", server())))
        .await
        .expect("fetch");
    let response: web_sys::Response = response.dyn_into().expect("response");
    let json = JsFuture::from(response.json().expect("json"))
        .await
        .expect("body");
    js_sys::Reflect::get(&json, &"connections".into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(-1.0) as u64
}

pub async fn wait_for_connections(expected: u64, limit: Duration) {
    let mut waited = Duration::ZERO;
    loop {
        let open = open_connections().await;
        if open == expected {
            return;
        }
        assert!(
            waited < limit,
            "waited {limit:?} for {expected} open connections on the server, saw {open}"
        );
        sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

/// A schedule that retries after `ms`, exactly, forever.
pub fn fixed_retry(ms: u32) -> ReconnectPolicy {
    ReconnectPolicy {
        base_delay_ms: ms,
        max_delay_ms: ms,
        jitter: Jitter::None,
        ..Default::default()
    }
}

/// The text frames among `frames`, in order.
pub fn texts(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Text(t) => Some(t.clone()),
            Frame::Binary(_) => None,
        })
        .collect()
}

/// The frames after a chat connection's arrival replay: everything after the first `replayed`
/// frame (the welcome and the newest history come before it), or all frames if there is none.
pub fn after_replay(frames: &[Frame]) -> Vec<Frame> {
    let end = frames
        .iter()
        .position(|f| matches!(f, Frame::Text(t) if t.contains(r#""type":"replayed""#)));
    match end {
        Some(i) => frames[i + 1..].to_vec(),
        None => frames.to_vec(),
    }
}
