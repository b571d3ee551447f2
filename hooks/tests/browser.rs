//! Browser tests: the hooks in headless Chromium against the real dev server.
//!
//! Run by `scripts/browser-tests.sh`, which starts the dev server (with its test-only endpoints) on
//! a free loopback port and passes its URL at compile time as `REALTIME_TEST_SERVER`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use realtime_hooks::core::outbox::SendPolicy;
use realtime_hooks::use_typed_websocket::decode_frame;
use realtime_hooks::{use_websocket, Connection, ConnectionState, Frame, WebSocketOptions};
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    match option_env!("REALTIME_TEST_SERVER") {
        Some(url) => url,
        None => {
            panic!("REALTIME_TEST_SERVER is not set: run these tests with scripts/browser-tests.sh")
        }
    }
}

fn ws_url(path: &str) -> String {
    format!("{}{path}", server().replacen("http", "ws", 1))
}

/// Polls `check` every 20 ms for up to `limit`; panics naming what it waited for.
async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let mut waited = Duration::ZERO;
    while !check() {
        assert!(waited < limit, "waited {limit:?} for {what}");
        sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}

fn collect(
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

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ChatIn {
    Welcome {},
    #[serde(rename_all = "camelCase")]
    Message {
        text: String,
    },
}

fn chat_texts(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match decode_frame::<ChatIn>(f) {
            Ok(ChatIn::Message { text }) => Some(text),
            _ => None,
        })
        .collect()
}

async fn post_json(path: &str, body: &str) {
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

#[wasm_bindgen_test]
async fn sends_made_before_open_are_queued_then_delivered_once_in_order() {
    let conn = Connection::new(&ws_url("/ws/chat"), WebSocketOptions::default());
    let (frames, _guard) = collect(&conn);
    // Not started yet: these must wait in the queue, not vanish.
    for i in 0..5 {
        let text = format!(r#"{{"type":"message","text":"queued {i}"}}"#);
        conn.send_text_with(text, &SendPolicy::Keep)
            .expect("queued");
    }
    assert_eq!(conn.status().queued, 5);
    conn.start();
    wait_for(
        "5 queued messages to come back",
        Duration::from_secs(5),
        || chat_texts(&frames.borrow()).len() >= 5,
    )
    .await;
    sleep(Duration::from_millis(200)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("queued {i}")).collect();
    assert_eq!(chat_texts(&frames.borrow()), expected);
    assert_eq!(conn.status().queued, 0);
    conn.shutdown();
}

#[wasm_bindgen_test]
async fn a_malformed_frame_is_a_typed_error_and_the_connection_stays_open() {
    let conn = Connection::new(&ws_url("/ws/chat"), WebSocketOptions::default());
    let (frames, _guard) = collect(&conn);
    conn.start();
    wait_for("the chat socket to open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    let huge = format!("\"{}\"", "x".repeat(1 << 20));
    let body = serde_json::json!({ "endpoint": "chat", "frames": ["{not json", r#"{"type":"mystery"}"#, huge] });
    post_json("/api/test/inject", &body.to_string()).await;
    wait_for("3 injected frames", Duration::from_secs(5), || {
        frames.borrow().len() >= 4
    })
    .await;
    let errors: Vec<_> = frames
        .borrow()
        .iter()
        .skip(1)
        .map(decode_frame::<ChatIn>)
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 3, "each bad frame is a typed error");
    assert_eq!(errors[0].raw, "{not json");
    assert_eq!(errors[2].len, (1 << 20) + 2);
    assert_eq!(conn.status().state, ConnectionState::Open);
    conn.send_text_with(
        r#"{"type":"message","text":"still here"}"#.into(),
        &SendPolicy::Keep,
    )
    .expect("send");
    wait_for(
        "a normal message after the bad ones",
        Duration::from_secs(5),
        || chat_texts(&frames.borrow()).contains(&"still here".to_owned()),
    )
    .await;
    conn.shutdown();
}

#[wasm_bindgen_test]
async fn binary_frames_echo_byte_for_byte() {
    let conn = Connection::new(&ws_url("/ws/binary"), WebSocketOptions::default());
    let (frames, _guard) = collect(&conn);
    conn.start();
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    conn.send_binary_with(payload.clone(), &SendPolicy::Keep)
        .expect("send");
    wait_for("the binary echo", Duration::from_secs(5), || {
        frames
            .borrow()
            .iter()
            .any(|f| matches!(f, Frame::Binary(_)))
    })
    .await;
    let echoed = frames.borrow().iter().find_map(|f| match f {
        Frame::Binary(bytes) => Some(bytes.clone()),
        Frame::Text(_) => None,
    });
    assert_eq!(echoed, Some(payload));
    conn.shutdown();
}

#[wasm_bindgen_test]
async fn heartbeat_measures_round_trip_time() {
    let mut options = WebSocketOptions::default();
    if let Some(heartbeat) = &mut options.heartbeat {
        heartbeat.interval_ms = 200;
        heartbeat.timeout_ms = 2_000;
    }
    let conn = Connection::new(&ws_url("/ws/chat"), options);
    conn.start();
    wait_for("an RTT from a pong", Duration::from_secs(5), || {
        conn.status().rtt_ms.is_some()
    })
    .await;
    let rtt = conn.status().rtt_ms.unwrap_or(f64::MAX);
    assert!(rtt < 1_000.0, "loopback RTT {rtt} ms");
    conn.shutdown();
}

#[wasm_bindgen_test]
async fn close_by_the_client_stops_reconnecting() {
    let conn = Connection::new(&ws_url("/ws/chat"), WebSocketOptions::default());
    conn.start();
    wait_for("open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    conn.close();
    wait_for("closed", Duration::from_secs(5), || {
        conn.status().state == ConnectionState::Closed
    })
    .await;
    sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        conn.status().state,
        ConnectionState::Closed,
        "no reconnect after our own close"
    );
    assert_eq!(
        conn.status().last_close.as_ref().map(|c| c.code),
        Some(1000)
    );
}

#[wasm_bindgen_test]
async fn an_unreachable_server_is_retried_with_backoff() {
    // Port 9 (discard) on loopback: nothing listens, connections are refused at once.
    let conn = Connection::new("ws://127.0.0.1:9/ws", WebSocketOptions::default());
    conn.start();
    wait_for("a scheduled reconnect", Duration::from_secs(5), || {
        matches!(conn.status().state, ConnectionState::Reconnecting { .. })
    })
    .await;
    let status = conn.status().clone();
    assert_eq!(status.last_close.as_ref().map(|c| c.code), Some(1006));
    assert!(status.retry_at_ms.is_some());
    conn.shutdown();
    assert_eq!(
        conn.status().state,
        status.state,
        "shutdown freezes the state: nothing fires afterwards"
    );
}

#[component]
fn ChatProbe() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    {
        let ws = ws.clone();
        use_effect_with((), move |_| {
            let _ =
                ws.send(&serde_json::json!({ "type": "message", "text": "<b>from the hook</b>" }));
        });
    }
    let texts = chat_texts(&ws.messages().iter().cloned().collect::<Vec<_>>());
    html! {
        <div id="probe" data-state={ws.state().label()}>
            { for texts.iter().map(|t| html! { <p class="line">{ t }</p> }) }
        </div>
    }
}

#[wasm_bindgen_test]
async fn use_websocket_renders_received_messages_as_text() {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let root = document.create_element("div").expect("div");
    document
        .body()
        .expect("body")
        .append_child(&root)
        .expect("append");
    let app = yew::Renderer::<ChatProbe>::with_root(root.clone()).render();
    wait_for(
        "the hook's own message to render",
        Duration::from_secs(5),
        || root.query_selector(".line").ok().flatten().is_some(),
    )
    .await;
    let line = root.query_selector(".line").ok().flatten().expect("line");
    assert_eq!(line.text_content().as_deref(), Some("<b>from the hook</b>"));
    assert!(
        root.query_selector("b").ok().flatten().is_none(),
        "markup from the network is not HTML"
    );
    app.destroy();
    sleep(Duration::from_millis(50)).await;
    assert_eq!(root.inner_html(), "");
}
