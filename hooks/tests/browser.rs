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
use wasm_bindgen_test::*;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

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
        || chat_texts(&after_replay(&frames.borrow())).len() >= 5,
    )
    .await;
    sleep(Duration::from_millis(200)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("queued {i}")).collect();
    // The chat's newest history (earlier tests' messages) comes first, then these.
    assert_eq!(chat_texts(&after_replay(&frames.borrow())), expected);
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
        after_replay(&frames.borrow()).len() >= 3
    })
    .await;
    let errors: Vec<_> = after_replay(&frames.borrow())
        .iter()
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
        ConnectionState::Closed,
        "shut down is closed"
    );
    // The scheduled retry must not fire: nothing of a shut-down connection runs.
    let wait = status.retry_at_ms.unwrap_or_default() - js_sys::Date::now() + 300.0;
    sleep(Duration::from_millis(wait.clamp(0.0, 2_000.0) as u64)).await;
    assert_eq!(conn.status().state, ConnectionState::Closed, "still closed");
    assert_eq!(
        conn.status().attempt,
        status.attempt,
        "no attempt after shutdown"
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
    let root = new_root();
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

#[wasm_bindgen_test]
async fn reconnect_delays_grow_exponentially_without_jitter() {
    use realtime_hooks::core::backoff::{Jitter, ReconnectPolicy};
    let options = WebSocketOptions {
        reconnect: Some(ReconnectPolicy {
            base_delay_ms: 100,
            max_delay_ms: 500,
            jitter: Jitter::None,
            ..Default::default()
        }),
        ..Default::default()
    };
    // Nothing listens on port 9: every attempt is refused, so each close schedules the next.
    let conn = Connection::new("ws://127.0.0.1:9/", options);
    let delays = Rc::new(RefCell::new(Vec::new()));
    let (sink, probe) = (delays.clone(), conn.clone());
    let _guard = conn.on_status(move || {
        if let ConnectionState::Reconnecting {
            attempt,
            next_in_ms,
        } = probe.status().state
        {
            let mut delays = sink.borrow_mut();
            if delays.last().map(|(a, _)| *a) != Some(attempt) {
                delays.push((attempt, next_in_ms));
            }
        }
    });
    conn.start();
    wait_for("5 scheduled reconnects", Duration::from_secs(10), || {
        delays.borrow().len() >= 5
    })
    .await;
    conn.shutdown();
    let seen: Vec<(u32, u32)> = delays.borrow()[..5].to_vec();
    assert_eq!(
        seen,
        vec![(1, 100), (2, 200), (3, 400), (4, 500), (5, 500)],
        "doubling, capped at 500 ms"
    );
}

#[wasm_bindgen_test]
async fn a_silent_server_is_declared_dead_within_interval_plus_timeout() {
    use realtime_hooks::core::heartbeat::HeartbeatPolicy;
    let options = WebSocketOptions {
        heartbeat: Some(HeartbeatPolicy {
            interval_ms: 300,
            timeout_ms: 300,
            ..Default::default()
        }),
        ..Default::default()
    };
    let conn = Connection::new(&ws_url("/ws/test/silent"), options);
    conn.start();
    wait_for("the silent socket to open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    let opened = js_sys::Date::now();
    wait_for(
        "the dead link to be noticed",
        Duration::from_secs(3),
        || !conn.status().is_connected(),
    )
    .await;
    let took = js_sys::Date::now() - opened;
    let status = conn.status().clone();
    conn.shutdown();
    assert!(
        took <= 300.0 + 300.0 + 400.0,
        "dead link noticed after {took} ms"
    );
    assert!(
        matches!(
            status.last_error,
            Some(realtime_hooks::WsError::LinkDead { .. })
        ),
        "{:?}",
        status.last_error
    );
    assert!(
        matches!(status.state, ConnectionState::Reconnecting { .. }),
        "{:?}",
        status.state
    );
}

thread_local! {
    static BURST_RENDERS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static BURST_HANDLE: RefCell<Option<realtime_hooks::UseWebSocketHandle>> = const { RefCell::new(None) };
}

#[component]
fn BurstProbe() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    BURST_RENDERS.with(|r| r.set(r.get() + 1));
    BURST_HANDLE.with(|h| *h.borrow_mut() = Some(ws.clone()));
    html! { <p id="burst">{ ws.messages().received() }</p> }
}

#[wasm_bindgen_test]
async fn a_burst_of_10000_frames_loses_none_keeps_history_bounded_and_renders_coalesced() {
    let root = new_root();
    let app = yew::Renderer::<BurstProbe>::with_root(root.clone()).render();
    let handle = || BURST_HANDLE.with(|h| h.borrow().clone()).expect("rendered");
    wait_for("the burst probe to connect", Duration::from_secs(5), || {
        BURST_HANDLE.with(|h| h.borrow().as_ref().is_some_and(|ws| ws.is_connected()))
    })
    .await;
    let before = handle().messages().received();
    let frames: Vec<String> = (0..10_000)
        .map(|i| format!(r#"{{"type":"burst","n":{i}}}"#))
        .collect();
    BURST_RENDERS.with(|r| r.set(0));
    post_json(
        "/api/test/inject",
        &serde_json::json!({ "endpoint": "chat", "frames": frames }).to_string(),
    )
    .await;
    wait_for("10,000 frames to arrive", Duration::from_secs(20), || {
        handle().messages().received() >= before + 10_000
    })
    .await;
    sleep(Duration::from_millis(100)).await;
    let ws = handle();
    let history = ws.messages();
    assert_eq!(history.received(), before + 10_000, "every frame was seen");
    assert_eq!(history.len(), 500, "history stays bounded");
    assert_eq!(
        history.latest(),
        Some(&Frame::Text(r#"{"type":"burst","n":9999}"#.into())),
        "newest kept"
    );
    let renders = BURST_RENDERS.with(|r| r.get());
    assert!(
        renders < 1_000,
        "{renders} renders for 10,000 frames: renders are not coalesced"
    );
    drop(history);
    drop(ws);
    BURST_HANDLE.with(|h| h.borrow_mut().take());
    app.destroy();
}

#[component]
fn MountProbe() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    html! { <p>{ ws.state().label() }</p> }
}

/// Every hook that owns a socket, a stream or a timer, in one component.
#[component]
fn LifeProbe() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    let presence = realtime_hooks::use_presence(&ws_url("/ws/presence"));
    let sse = realtime_hooks::use_event_source(&format!("{}/sse/notifications", server()));
    let cursor = realtime_hooks::use_throttled_send(ws.connection(), 50, SendPolicy::Keep);
    let _ = cursor.send(&serde_json::json!({ "type": "ping" }));
    let _ = cursor.send(&serde_json::json!({ "type": "ping" }));
    html! { <p>{ ws.state().label() }{ presence.users().len() }{ sse.state().label() }</p> }
}

/// Counts the page's live timers: `setTimeout`s not yet fired or cleared and `setInterval`s not
/// cleared, created after this call (gloo-timers calls the global functions at call time).
fn track_timers() {
    js_sys::Function::new_no_args(
        r#"
        if (!globalThis.__liveTimers) {
          const live = new Set();
          globalThis.__liveTimers = live;
          const [st, ct, si, ci] = [setTimeout, clearTimeout, setInterval, clearInterval];
          globalThis.setTimeout = function (f, ms, ...rest) {
            const id = st.call(globalThis, function (...args) {
              live.delete('t' + id);
              if (typeof f === 'function') return f.apply(this, args);
            }, ms, ...rest);
            live.add('t' + id);
            return id;
          };
          globalThis.clearTimeout = function (id) { live.delete('t' + id); return ct.call(globalThis, id); };
          globalThis.setInterval = function (f, ms, ...rest) {
            const id = si.call(globalThis, f, ms, ...rest);
            live.add('i' + id);
            return id;
          };
          globalThis.clearInterval = function (id) { live.delete('i' + id); return ci.call(globalThis, id); };
        }
        globalThis.__liveTimers.clear();
        "#,
    )
    .call0(&wasm_bindgen::JsValue::NULL)
    .expect("timer tracking installs");
}

fn live_timers() -> Vec<String> {
    let live = js_sys::Function::new_no_args("return [...(globalThis.__liveTimers ?? [])];")
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("timer list");
    js_sys::Array::from(&live)
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

#[wasm_bindgen_test]
async fn mount_unmount_500_times_leaves_no_open_connection_no_live_timer_and_nothing_reconnects() {
    wait_for_connections(0, Duration::from_secs(5)).await;
    track_timers();
    // The tracker sees gloo's timers (else the final check could not fail).
    let probe = gloo_timers::callback::Interval::new(60_000, || {});
    assert_eq!(live_timers().len(), 1, "the tracker counts a gloo Interval");
    drop(probe);
    assert_eq!(live_timers().len(), 0, "and its end");
    let root = new_root();
    for cycle in 0..500 {
        let app = yew::Renderer::<LifeProbe>::with_root(root.clone()).render();
        // Let some cycles reach the server and some not: both must clean up.
        sleep(Duration::from_millis(if cycle % 10 == 0 { 30 } else { 1 })).await;
        app.destroy();
    }
    wait_for_connections(0, Duration::from_secs(10)).await;
    // Nothing left behind may reconnect: the count stays 0.
    sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        open_connections().await,
        0,
        "a connection came back after every hook unmounted"
    );
    assert_eq!(
        live_timers(),
        Vec::<String>::new(),
        "timers still live after every hook unmounted"
    );
}

#[derive(Properties, PartialEq)]
struct PresenceProbeProps {
    id: AttrValue,
}

#[component]
fn PresenceProbe(props: &PresenceProbeProps) -> Html {
    let presence = realtime_hooks::use_presence(&ws_url("/ws/presence"));
    html! {
        <ul id={props.id.clone()} data-me={presence.me().unwrap_or_default()}>
            { for presence.others().iter().map(|u| html! { <li>{ &u.user_id }</li> }) }
        </ul>
    }
}

#[wasm_bindgen_test]
async fn presence_shows_the_other_user_and_removes_them_when_they_leave() {
    let mount = |id: &'static str| {
        let root = new_root();
        let app = yew::Renderer::<PresenceProbe>::with_root_and_props(
            root.clone(),
            PresenceProbeProps { id: id.into() },
        )
        .render();
        (root, app)
    };
    let (root_a, app_a) = mount("presence-a");
    let (root_b, app_b) = mount("presence-b");
    let me = |root: &web_sys::Element| {
        root.query_selector("ul")
            .ok()
            .flatten()
            .and_then(|ul| ul.get_attribute("data-me"))
            .unwrap_or_default()
    };
    let others = |root: &web_sys::Element| -> Vec<String> {
        let list = root.query_selector_all("li").expect("li");
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.text_content())
            .collect()
    };
    wait_for("both users to be welcomed", Duration::from_secs(5), || {
        !me(&root_a).is_empty() && !me(&root_b).is_empty()
    })
    .await;
    let b_id = me(&root_b);
    wait_for("A to see B", Duration::from_secs(5), || {
        others(&root_a).contains(&b_id)
    })
    .await;
    app_b.destroy();
    wait_for("A to see B leave", Duration::from_secs(5), || {
        !others(&root_a).contains(&b_id)
    })
    .await;
    app_a.destroy();
    drop(root_b);
}

#[derive(Properties, PartialEq)]
struct FeedProps {
    url: AttrValue,
}

#[component]
fn Feed(props: &FeedProps) -> Html {
    let sse = realtime_hooks::use_event_source_with_options(
        &props.url,
        realtime_hooks::EventSourceOptions {
            events: vec!["notification".into(), "reset".into()],
            ..Default::default()
        },
    );
    html! {
        <ol id="feed" data-state={sse.state().label()}>
            { for sse.events().iter().map(|e| html! { <li data-event={e.event.clone()}>{ &e.data }</li> }) }
        </ol>
    }
}

#[wasm_bindgen_test]
async fn sse_resume_after_a_dropped_stream_delivers_missed_events_exactly_once() {
    let root = new_root();
    let url = format!("{}/sse/notifications", server());
    let app =
        yew::Renderer::<Feed>::with_root_and_props(root.clone(), FeedProps { url: url.into() })
            .render();
    let state = |root: &web_sys::Element| {
        root.query_selector("#feed")
            .ok()
            .flatten()
            .and_then(|f| f.get_attribute("data-state"))
            .unwrap_or_default()
    };
    let messages = |root: &web_sys::Element| -> Vec<String> {
        let list = root
            .query_selector_all("li[data-event=notification]")
            .expect("li");
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.text_content())
            .filter_map(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
            .filter_map(|v| v["message"].as_str().map(str::to_owned))
            .collect()
    };
    wait_for("the stream to open", Duration::from_secs(5), || {
        state(&root) == "open"
    })
    .await;
    post_json("/api/notifications", r#"{"message":"resume-1"}"#).await;
    wait_for("the first notification", Duration::from_secs(5), || {
        messages(&root).len() == 1
    })
    .await;
    post_json("/api/test/drop-sse", "{}").await;
    post_json("/api/notifications", r#"{"message":"resume-2"}"#).await;
    post_json("/api/notifications", r#"{"message":"resume-3"}"#).await;
    wait_for(
        "the missed notifications after the reconnect",
        Duration::from_secs(10),
        || messages(&root).len() >= 3,
    )
    .await;
    sleep(Duration::from_millis(700)).await;
    assert_eq!(
        messages(&root),
        vec!["resume-1", "resume-2", "resume-3"],
        "each exactly once, in order"
    );
    assert!(
        root.query_selector("li[data-event=reset]")
            .ok()
            .flatten()
            .is_none(),
        "no reset within one run"
    );
    app.destroy();
}

#[component]
fn SharedPair() -> Html {
    html! {
        <realtime_hooks::RealtimeProvider>
            <MountProbe />
            <MountProbe />
            <MountProbe />
        </realtime_hooks::RealtimeProvider>
    }
}

#[wasm_bindgen_test]
async fn components_under_a_provider_share_one_connection_closed_with_the_last() {
    wait_for_connections(0, Duration::from_secs(5)).await;
    let root = new_root();
    let app = yew::Renderer::<SharedPair>::with_root(root.clone()).render();
    wait_for("the shared socket to open", Duration::from_secs(5), || {
        root.text_content().is_some_and(|t| t == "openopenopen")
    })
    .await;
    assert_eq!(open_connections().await, 1, "three users, one socket");
    app.destroy();
    wait_for_connections(0, Duration::from_secs(5)).await;
}
