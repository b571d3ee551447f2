//! Browser tests of the hooks' lifecycle (issue #14): route changes, sends that must never vanish,
//! session restore before the queue flushes, coming back online, SSE close and give-up, changing
//! URLs and options, URL sources and refreshable credentials, heartbeats against other servers.
//!
//! Each test is named after the item of the issue it covers (`item_NN_…`). Run by
//! `scripts/browser-tests.sh` against the real dev server, like `browser.rs`.
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use realtime_hooks::connection::UrlSource;
use realtime_hooks::core::backoff::ReconnectPolicy;
use realtime_hooks::core::heartbeat::{HeartbeatPolicy, PingFormat};
use realtime_hooks::core::outbox::SendPolicy;
use realtime_hooks::{
    use_event_source_with_options, use_websocket, use_websocket_with_options, Connection,
    ConnectionState, Delivery, EventSourceOptions, Frame, RealtimeProvider, UseWebSocketHandle,
    UseWebSocketOptions, WebSocketOptions, WsError,
};
use wasm_bindgen_test::*;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

/// Runs a line of JavaScript in the test page (event dispatch, property overrides).
fn js(source: &str) {
    js_sys::Function::new_no_args(source)
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("the test's JavaScript runs");
}

/// How many connection attempts the engine has started (its log says so once per attempt).
fn attempts_started(conn: &Connection) -> usize {
    conn.status()
        .log
        .iter()
        .filter(|e| e.text == "connecting" || e.text.starts_with("reconnect attempt"))
        .count()
}

// ---- item 1: a shared connection survives a route change -------------------------------------

thread_local! {
    static ROUTE: RefCell<Option<UseStateHandle<bool>>> = const { RefCell::new(None) };
}

#[component]
fn RoutePageA() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    html! { <p id="route-a" data-state={ws.state().label()} /> }
}

#[component]
fn RoutePageB() -> Html {
    let ws = use_websocket(&ws_url("/ws/chat"));
    html! { <p id="route-b" data-state={ws.state().label()} /> }
}

#[component]
fn RouteSwitch() -> Html {
    let second = use_state(|| false);
    ROUTE.with(|r| *r.borrow_mut() = Some(second.clone()));
    html! {
        <RealtimeProvider>
            if *second { <RoutePageB /> } else { <RoutePageA /> }
        </RealtimeProvider>
    }
}

#[wasm_bindgen_test]
async fn item_01_a_route_change_between_pages_on_one_endpoint_keeps_one_open_connection() {
    wait_for_connections(0, Duration::from_secs(5)).await;
    let root = new_root();
    let app = yew::Renderer::<RouteSwitch>::with_root(root.clone()).render();
    let page_state = |id: &str| {
        root.query_selector(&format!("#{id}"))
            .ok()
            .flatten()
            .and_then(|p| p.get_attribute("data-state"))
    };
    wait_for("page A to connect", Duration::from_secs(5), || {
        page_state("route-a").as_deref() == Some("open")
    })
    .await;
    for switch in 1..=50 {
        let second = switch % 2 == 1;
        ROUTE.with(|r| r.borrow().as_ref().expect("rendered").set(second));
        let id = if second { "route-b" } else { "route-a" };
        wait_for(
            &format!("{id} to show an open connection after switch {switch}"),
            Duration::from_secs(3),
            || page_state(id).as_deref() == Some("open"),
        )
        .await;
        // The page's socket must be the one open at the server, and the only one.
        let mut settled = 0;
        while open_connections().await != 1 && settled < 40 {
            sleep(Duration::from_millis(25)).await;
            settled += 1;
        }
        assert_eq!(
            open_connections().await,
            1,
            "after switch {switch} the server has exactly one socket"
        );
    }
    // Still usable: the one socket carries a round trip.
    sleep(Duration::from_millis(300)).await;
    assert_eq!(open_connections().await, 1, "one socket at the end");
    assert_eq!(page_state("route-a").as_deref(), Some("open"));
    app.destroy();
    wait_for_connections(0, Duration::from_secs(5)).await;
}

/// The same race without a router, step by step through the registry's public API: page B
/// takes the shared connection while rendering, page A's cleanup releases it, then B's effect
/// leases it (Yew runs them in this order when A is torn down between B's render and B's effect).
#[wasm_bindgen_test]
async fn item_01_the_last_lease_dropping_between_render_and_effect_does_not_kill_the_new_page() {
    wait_for_connections(0, Duration::from_secs(5)).await;
    let registry = realtime_hooks::ConnectionRegistry::default();
    let endpoint = ws_url("/ws/chat");
    let page_a = registry.connection(&endpoint, WebSocketOptions::default());
    let mut lease = registry.acquire(&page_a);
    wait_for("page A's socket to open", Duration::from_secs(5), || {
        page_a.status().is_connected()
    })
    .await;
    for round in 1..=10 {
        let page_b = registry.connection(&endpoint, WebSocketOptions::default());
        drop(lease);
        lease = registry.acquire(&page_b);
        wait_for(
            &format!("the connection page B rendered with to be open in round {round}"),
            Duration::from_secs(5),
            || page_b.status().is_connected(),
        )
        .await;
        let mut settled = 0;
        while open_connections().await != 1 && settled < 40 {
            sleep(Duration::from_millis(25)).await;
            settled += 1;
        }
        assert_eq!(open_connections().await, 1, "one socket in round {round}");
        assert_eq!(registry.live_connections(), 1, "one shared entry");
    }
    drop(lease);
    wait_for_connections(0, Duration::from_secs(5)).await;
}

// ---- item 2: a send is on the wire, in the outbox, or an error ------------------------------

#[wasm_bindgen_test]
async fn item_02_a_send_is_on_the_wire_in_the_outbox_or_an_error_never_lost() {
    let conn = Connection::new(
        &ws_url("/ws/test/echo"),
        WebSocketOptions {
            reconnect: Some(fixed_retry(100)),
            heartbeat: None,
            ..Default::default()
        },
    );
    let (frames, _guard) = collect(&conn);
    conn.start();
    wait_for("the echo socket to open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    assert_eq!(
        conn.send_text_with("close-me".into(), &SendPolicy::Keep),
        Ok(Delivery::Sent)
    );
    // The server's close frame has arrived; the socket is CLOSING until the server lets the TCP
    // connection go (1.5 s). A send now would be dropped by the browser without an error.
    sleep(Duration::from_millis(400)).await;
    let during = conn.send_text_with("sent while closing".into(), &SendPolicy::Keep);
    assert_eq!(
        during,
        Ok(Delivery::Queued),
        "a send while the socket is closing waits for the next socket"
    );
    wait_for(
        "the message sent while closing to come back over the next socket",
        Duration::from_secs(6),
        || texts(&frames.borrow()).contains(&"sent while closing".to_owned()),
    )
    .await;

    // A caller holding a status borrow: the engine cannot run, so the send must say so.
    let busy = {
        let _status = conn.status();
        conn.send_text_with("while borrowed".into(), &SendPolicy::Keep)
    };
    assert!(
        busy.is_err(),
        "a send the engine could not take reports an error, got {busy:?}"
    );

    conn.shutdown();
    let after = conn.send_text_with("after shutdown".into(), &SendPolicy::Keep);
    assert!(
        after.is_err(),
        "a send on a shut-down connection reports an error, got {after:?}"
    );
}

// ---- item 3: session restore before the queue flushes --------------------------------------

#[wasm_bindgen_test]
async fn item_03_open_listeners_rejoin_before_the_queue_flushes_on_every_reconnect() {
    let conn = Connection::new(
        &ws_url("/ws/typed-chat"),
        WebSocketOptions {
            manual: true,
            // The rejoin gets the room's newest history (the first batch) again; resuming drops
            // what the connection already has, so each message shows once.
            resume: true,
            ..Default::default()
        },
    );
    let (frames, _frames) = collect(&conn);
    let opens = Rc::new(Cell::new(0));
    let _rejoin = {
        let opens = opens.clone();
        conn.on_open(move |conn| {
            opens.set(opens.get() + 1);
            let join = r#"{"type":"join","room":"item-3"}"#.to_owned();
            assert_eq!(
                conn.send_text_with(join, &SendPolicy::Keep),
                Ok(Delivery::Sent),
                "an open listener sends on the open socket"
            );
        })
    };
    let queue = |label: &str| {
        for i in 0..3 {
            let text = format!(r#"{{"type":"message","room":"item-3","text":"{label} {i}"}}"#);
            assert_eq!(
                conn.send_text_with(text, &SendPolicy::Keep),
                Ok(Delivery::Queued)
            );
        }
    };
    let said = |frames: &[Frame]| -> Vec<String> {
        texts(frames)
            .iter()
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .filter(|v| v["type"] == "message")
            .filter_map(|v| v["text"].as_str().map(str::to_owned))
            .collect()
    };
    let errors = |frames: &[Frame]| -> Vec<String> {
        texts(frames)
            .into_iter()
            .filter(|t| t.contains(r#""type":"error""#))
            .collect()
    };
    // Queued before the first open, and again while closed: the server forgets membership with
    // the connection, so each batch needs the rejoin to go first.
    queue("first");
    conn.open();
    wait_for(
        "the first batch in the room",
        Duration::from_secs(5),
        || said(&frames.borrow()).len() == 3,
    )
    .await;
    conn.close();
    wait_for("the socket to close", Duration::from_secs(3), || {
        conn.status().state == ConnectionState::Closed
    })
    .await;
    queue("second");
    conn.open();
    wait_for(
        "the second batch in the room",
        Duration::from_secs(5),
        || said(&frames.borrow()).len() == 6,
    )
    .await;
    sleep(Duration::from_millis(200)).await;
    let expected: Vec<String> = ["first", "second"]
        .iter()
        .flat_map(|l| (0..3).map(move |i| format!("{l} {i}")))
        .collect();
    assert_eq!(
        said(&frames.borrow()),
        expected,
        "every queued message, once, in order"
    );
    assert_eq!(
        errors(&frames.borrow()),
        Vec::<String>::new(),
        "no not_in_room"
    );
    assert_eq!(opens.get(), 2, "the open listener ran on each open");
    conn.shutdown();
}

// ---- item 5: coming back online retries at once -----------------------------------------------

const UNREACHABLE: &str = "ws://127.0.0.1:9/nothing-listens-here";

#[wasm_bindgen_test]
async fn item_05_online_and_pageshow_retry_at_once_and_offline_pauses_the_schedule() {
    // Reconnecting with a minute to wait: `online` must not wait it out.
    let conn = Connection::new(
        UNREACHABLE,
        WebSocketOptions {
            reconnect: Some(fixed_retry(60_000)),
            heartbeat: None,
            ..Default::default()
        },
    );
    conn.start();
    wait_for("the first attempt to fail", Duration::from_secs(5), || {
        matches!(conn.status().state, ConnectionState::Reconnecting { .. })
    })
    .await;
    let before = attempts_started(&conn);
    js("window.dispatchEvent(new Event('online'))");
    wait_for(
        "`online` to start an attempt at once while reconnecting",
        Duration::from_secs(2),
        || attempts_started(&conn) > before,
    )
    .await;
    wait_for("that attempt to fail too", Duration::from_secs(5), || {
        matches!(conn.status().state, ConnectionState::Reconnecting { .. })
    })
    .await;
    let before = attempts_started(&conn);
    js("window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))");
    wait_for(
        "a page restored from the back/forward cache to start an attempt at once",
        Duration::from_secs(2),
        || attempts_started(&conn) > before,
    )
    .await;
    conn.shutdown();

    // Gave up: `online` starts again too.
    let gave_up = Connection::new(
        UNREACHABLE,
        WebSocketOptions {
            reconnect: Some(ReconnectPolicy {
                max_attempts: Some(1),
                ..fixed_retry(10)
            }),
            heartbeat: None,
            ..Default::default()
        },
    );
    gave_up.start();
    wait_for("the connection to give up", Duration::from_secs(5), || {
        matches!(gave_up.status().state, ConnectionState::GaveUp { .. })
    })
    .await;
    let before = attempts_started(&gave_up);
    js("window.dispatchEvent(new Event('online'))");
    wait_for(
        "`online` to start an attempt after giving up",
        Duration::from_secs(2),
        || attempts_started(&gave_up) > before,
    )
    .await;
    gave_up.shutdown();

    // Offline: no attempts are spent while the browser says there is no network.
    js("Object.defineProperty(navigator, 'onLine', { get: () => false, configurable: true })");
    let offline = Connection::new(
        UNREACHABLE,
        WebSocketOptions {
            reconnect: Some(fixed_retry(50)),
            heartbeat: None,
            ..Default::default()
        },
    );
    offline.start();
    sleep(Duration::from_millis(1_000)).await;
    let spent = attempts_started(&offline);
    let state = offline.status().state.clone();
    js("delete navigator.onLine");
    assert!(
        spent <= 1,
        "{spent} attempts in 1 s with a 50 ms schedule while offline"
    );
    assert_eq!(state.label(), "offline", "the state says why it waits");
    js("window.dispatchEvent(new Event('online'))");
    wait_for("`online` to end the pause", Duration::from_secs(2), || {
        attempts_started(&offline) > spent
    })
    .await;
    offline.shutdown();
}

// ---- item 6: SSE close redraws, never panics, and retries stop at max_attempts ---------------

thread_local! {
    static FEED: RefCell<Option<realtime_hooks::use_event_source::UseEventSourceHandle>> =
        const { RefCell::new(None) };
}

#[derive(Properties, PartialEq)]
struct FeedProps {
    url: AttrValue,
    max_attempts: Option<u32>,
}

#[component]
fn FeedProbe(props: &FeedProps) -> Html {
    let sse = use_event_source_with_options(
        &props.url,
        EventSourceOptions {
            reconnect: ReconnectPolicy {
                max_attempts: props.max_attempts,
                ..fixed_retry(50)
            },
            ..Default::default()
        },
    );
    FEED.with(|f| *f.borrow_mut() = Some(sse.clone()));
    html! { <p id="feed-state" data-state={sse.state().label()} /> }
}

fn feed_state(root: &web_sys::Element) -> String {
    root.query_selector("#feed-state")
        .ok()
        .flatten()
        .and_then(|p| p.get_attribute("data-state"))
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn item_06_sse_close_redraws_never_panics_and_retries_stop_at_max_attempts() {
    let root = new_root();
    let app = yew::Renderer::<FeedProbe>::with_root_and_props(
        root.clone(),
        FeedProps {
            url: format!("{}/sse/notifications", server()).into(),
            max_attempts: None,
        },
    )
    .render();
    wait_for("the stream to open", Duration::from_secs(5), || {
        feed_state(&root) == "open"
    })
    .await;
    let sse = FEED.with(|f| f.borrow().clone()).expect("rendered");
    {
        // A render holding the event list while a click handler closes the stream.
        let _events = sse.events();
        sse.close();
    }
    wait_for(
        "the badge to show the closed stream",
        Duration::from_secs(2),
        || feed_state(&root) == "closed",
    )
    .await;
    drop(sse);
    FEED.with(|f| f.borrow_mut().take());
    app.destroy();

    // A stream the browser gives up on (404) is retried at most `max_attempts` times.
    let root = new_root();
    let app = yew::Renderer::<FeedProbe>::with_root_and_props(
        root.clone(),
        FeedProps {
            url: format!("{}/sse/no-such-stream", server()).into(),
            max_attempts: Some(2),
        },
    )
    .render();
    wait_for("the stream to give up", Duration::from_secs(5), || {
        feed_state(&root) == "gave up"
    })
    .await;
    sleep(Duration::from_millis(500)).await;
    assert_eq!(feed_state(&root), "gave up", "and it stays given up");
    FEED.with(|f| f.borrow_mut().take());
    app.destroy();
}

// ---- item 7: a new URL or new options start fresh; the old queue is reported ------------------

thread_local! {
    static PROBE: RefCell<Option<UseWebSocketHandle>> = const { RefCell::new(None) };
}

#[derive(Properties, PartialEq, Clone)]
struct UrlProps {
    url: AttrValue,
    manual: bool,
    heartbeat_ms: u32,
}

#[component]
fn UrlProbe(props: &UrlProps) -> Html {
    let mut connection = WebSocketOptions {
        manual: props.manual,
        ..Default::default()
    };
    if let Some(heartbeat) = &mut connection.heartbeat {
        heartbeat.interval_ms = props.heartbeat_ms;
    }
    let ws = use_websocket_with_options(
        &props.url,
        UseWebSocketOptions {
            connection,
            ..Default::default()
        },
    );
    PROBE.with(|p| *p.borrow_mut() = Some(ws.clone()));
    html! { <p>{ ws.messages().len() }</p> }
}

fn probe() -> UseWebSocketHandle {
    PROBE.with(|p| p.borrow().clone()).expect("rendered")
}

/// Whether the probe has rendered and `check` holds for its handle.
fn probe_is(check: impl Fn(&UseWebSocketHandle) -> bool) -> bool {
    PROBE.with(|p| p.borrow().as_ref().is_some_and(check))
}

#[wasm_bindgen_test]
async fn item_07_a_new_url_or_new_options_start_fresh_and_the_old_queue_is_reported() {
    let root = new_root();
    let first = UrlProps {
        url: ws_url("/ws/test/echo?n=1").into(),
        manual: false,
        heartbeat_ms: 30_000,
    };
    let mut app =
        yew::Renderer::<UrlProbe>::with_root_and_props(root.clone(), first.clone()).render();
    wait_for("the first URL to connect", Duration::from_secs(5), || {
        probe_is(|ws| ws.is_connected())
    })
    .await;
    probe().send_text("for the first URL").expect("sent");
    wait_for("the echo", Duration::from_secs(5), || {
        probe().messages().len() == 1
    })
    .await;
    let old = probe().connection().clone();

    app.update(UrlProps {
        url: ws_url("/ws/test/echo?n=2").into(),
        ..first.clone()
    });
    wait_for("the new URL's handle", Duration::from_secs(2), || {
        probe().connection() != &old
    })
    .await;
    assert_eq!(
        probe().messages().len(),
        0,
        "the new URL starts with an empty history"
    );
    wait_for("the new URL to connect", Duration::from_secs(5), || {
        probe().is_connected()
    })
    .await;

    // New options (a different heartbeat) on the same URL: a fresh connection.
    let before = probe().connection().clone();
    app.update(UrlProps {
        url: ws_url("/ws/test/echo?n=2").into(),
        heartbeat_ms: 20_000,
        ..first.clone()
    });
    wait_for(
        "a connection with the new options",
        Duration::from_secs(2),
        || probe().connection() != &before,
    )
    .await;

    // Messages queued on a connection that is replaced are reported, not silently dropped.
    app.update(UrlProps {
        url: ws_url("/ws/test/echo?n=3").into(),
        manual: true,
        heartbeat_ms: 20_000,
    });
    wait_for("the manual connection", Duration::from_secs(2), || {
        probe().status().state == ConnectionState::Idle
    })
    .await;
    for i in 0..3 {
        probe().send_text(format!("queued {i}")).expect("queued");
    }
    assert_eq!(probe().status().queued, 3);
    app.update(UrlProps {
        url: ws_url("/ws/test/echo?n=4").into(),
        manual: true,
        heartbeat_ms: 20_000,
    });
    wait_for("the next URL's handle", Duration::from_secs(2), || {
        probe().status().queued == 0
    })
    .await;
    let status = probe().status();
    let reported = status.log.iter().any(|e| e.text.contains("3 queued"));
    assert!(
        reported,
        "the 3 messages queued for the old URL are reported: {:?}",
        status.log.iter().map(|e| &e.text).collect::<Vec<_>>()
    );
    PROBE.with(|p| p.borrow_mut().take());
    app.destroy();
}

// ---- item 8: the URL is asked on every attempt; an expired token refreshes at once ---------

#[wasm_bindgen_test]
async fn item_08_an_async_url_source_and_a_4001_close_refresh_the_token_and_reconnect_at_once() {
    let calls = Rc::new(Cell::new(0u32));
    let source = {
        let calls = calls.clone();
        UrlSource::future(move || {
            calls.set(calls.get() + 1);
            // The first token is stale; each later one is fetched (here: after 30 ms) fresh.
            let token = if calls.get() == 1 { "stale" } else { "fresh" };
            async move {
                sleep(Duration::from_millis(30)).await;
                Ok(ws_url(&format!(
                    "/ws/test/echo?require=fresh&token={token}"
                )))
            }
        })
    };
    let conn = Connection::new(
        "echo with a token",
        WebSocketOptions {
            url: Some(source),
            // A counted failure would wait a minute: the refresh must not.
            reconnect: Some(fixed_retry(60_000)),
            heartbeat: None,
            ..Default::default()
        },
    );
    let (frames, _guard) = collect(&conn);
    let started = js_sys::Date::now();
    conn.start();
    // The stale socket may show as open for a moment before its 4001 arrives: wait for the
    // second URL's socket, not for any open one.
    wait_for(
        "the URL to be asked again after the 4001 and its connection to open",
        Duration::from_secs(3),
        || calls.get() == 2 && conn.status().is_connected(),
    )
    .await;
    let took = js_sys::Date::now() - started;
    assert_eq!(
        conn.status().attempt,
        0,
        "a refresh is not a failed attempt"
    );
    assert_eq!(
        conn.status().last_close.as_ref().map(|c| c.code),
        Some(4001)
    );
    assert!(took < 2_000.0, "reconnected {took} ms after start");
    conn.send_text_with("with a fresh token".into(), &SendPolicy::Keep)
        .expect("sent");
    wait_for("the echo", Duration::from_secs(3), || {
        texts(&frames.borrow()).contains(&"with a fresh token".to_owned())
    })
    .await;
    conn.shutdown();

    // A server that refuses every token: a few refreshes, then ordinary backoff.
    let refused = Rc::new(Cell::new(0u32));
    let always_stale = {
        let refused = refused.clone();
        UrlSource::new(move || {
            refused.set(refused.get() + 1);
            ws_url("/ws/test/echo?require=fresh&token=stale")
        })
    };
    let conn = Connection::new(
        "echo, always stale",
        WebSocketOptions {
            url: Some(always_stale),
            reconnect: Some(fixed_retry(60_000)),
            heartbeat: None,
            ..Default::default()
        },
    );
    conn.start();
    wait_for(
        "the refreshes to give way to backoff",
        Duration::from_secs(3),
        || matches!(conn.status().state, ConnectionState::Reconnecting { .. }),
    )
    .await;
    assert_eq!(refused.get(), 4, "the first attempt and 3 refreshes");
    conn.shutdown();

    // A source that fails is a failed attempt, with its reason.
    let conn = Connection::new(
        "no token",
        WebSocketOptions {
            url: Some(UrlSource::future(|| async {
                Err("token service down".to_owned())
            })),
            reconnect: Some(fixed_retry(60_000)),
            heartbeat: None,
            ..Default::default()
        },
    );
    conn.start();
    wait_for(
        "the failed source to be reported",
        Duration::from_secs(3),
        || matches!(conn.status().state, ConnectionState::Reconnecting { .. }),
    )
    .await;
    assert_eq!(
        conn.status().last_error,
        Some(WsError::UrlSource("token service down".into()))
    );
    conn.shutdown();
}

// ---- item 9: heartbeats against other servers ------------------------------------------------

#[wasm_bindgen_test]
async fn item_09_against_an_echo_server_pings_are_answered_and_never_reach_the_messages() {
    for format in [
        PingFormat::Protocol,
        PingFormat::Text {
            ping: "ping".into(),
            pong: "pong".into(),
        },
    ] {
        let conn = Connection::new(
            &ws_url("/ws/test/echo"),
            WebSocketOptions {
                heartbeat: Some(HeartbeatPolicy {
                    interval_ms: 200,
                    timeout_ms: 300,
                    format: format.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let (frames, _guard) = collect(&conn);
        conn.start();
        wait_for("the echo socket to open", Duration::from_secs(5), || {
            conn.status().is_connected()
        })
        .await;
        conn.send_text_with("a real message".into(), &SendPolicy::Keep)
            .expect("sent");
        // Several ping periods: each echoed ping answers itself.
        sleep(Duration::from_millis(1_500)).await;
        let status = conn.status().clone();
        conn.shutdown();
        assert!(
            status.is_connected(),
            "{format:?}: still open: {:?}",
            status.last_error
        );
        assert!(
            status.rtt_ms.is_some(),
            "{format:?}: the echo measured a round trip"
        );
        assert_eq!(
            texts(&frames.borrow()),
            vec!["a real message".to_owned()],
            "{format:?}: only the real message reached the listeners"
        );
    }
}

// ---- item 10: the smaller ones ---------------------------------------------------------------

#[wasm_bindgen_test]
async fn item_10a_open_while_open_keeps_the_working_socket() {
    let conn = Connection::new(&ws_url("/ws/test/echo"), WebSocketOptions::default());
    let (frames, _guard) = collect(&conn);
    conn.start();
    wait_for("the socket to open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    let attempts = attempts_started(&conn);
    conn.open();
    assert_eq!(conn.status().state, ConnectionState::Open, "still open");
    assert_eq!(attempts_started(&conn), attempts, "no new attempt");
    assert_eq!(
        conn.send_text_with("still here".into(), &SendPolicy::Keep),
        Ok(Delivery::Sent)
    );
    wait_for(
        "the echo on the same socket",
        Duration::from_secs(3),
        || texts(&frames.borrow()).contains(&"still here".to_owned()),
    )
    .await;
    conn.shutdown();
}

#[wasm_bindgen_test]
async fn item_10c_listeners_can_be_added_while_the_status_is_borrowed() {
    let conn = Connection::new(&ws_url("/ws/test/echo"), WebSocketOptions::default());
    let seen = Rc::new(Cell::new(0));
    let guards = {
        // A component reading the status while subscribing in the same render.
        let _status = conn.status();
        let frame_seen = seen.clone();
        (
            conn.on_frame(move |_| frame_seen.set(frame_seen.get() + 1)),
            conn.on_status(|| {}),
        )
    };
    conn.start();
    wait_for("the socket to open", Duration::from_secs(5), || {
        conn.status().is_connected()
    })
    .await;
    conn.send_text_with("ping me".into(), &SendPolicy::Keep)
        .expect("sent");
    wait_for(
        "the listener to see the echo",
        Duration::from_secs(3),
        || seen.get() >= 1,
    )
    .await;
    drop(guards);
    conn.shutdown();
}

#[derive(Properties, PartialEq)]
struct PresenceProps {
    id: AttrValue,
}

thread_local! {
    static PRESENCE: RefCell<Vec<(AttrValue, realtime_hooks::use_presence::UsePresenceHandle)>> =
        const { RefCell::new(Vec::new()) };
}

#[component]
fn PresenceProbe(props: &PresenceProps) -> Html {
    let presence = realtime_hooks::use_presence(&ws_url("/ws/presence"));
    PRESENCE.with(|p| {
        let mut list = p.borrow_mut();
        list.retain(|(id, _)| *id != props.id);
        list.push((props.id.clone(), presence.clone()));
    });
    html! {
        <ul id={props.id.clone()} data-me={presence.me().unwrap_or_default()}>
            { for presence.others().iter().map(|u| html! { <li>{ &u.user_id }</li> }) }
        </ul>
    }
}

#[wasm_bindgen_test]
async fn item_10d_presence_forgets_the_board_when_disconnected_so_no_ghost_of_itself_returns() {
    let mount = |id: &'static str| {
        let root = new_root();
        let app = yew::Renderer::<PresenceProbe>::with_root_and_props(
            root.clone(),
            PresenceProps { id: id.into() },
        )
        .render();
        (root, app)
    };
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
    let (root_a, app_a) = mount("ghost-a");
    let (root_b, app_b) = mount("ghost-b");
    wait_for("both users to be welcomed", Duration::from_secs(5), || {
        !me(&root_a).is_empty() && !me(&root_b).is_empty()
    })
    .await;
    let old_a = me(&root_a);
    let b = me(&root_b);
    wait_for("A to see B", Duration::from_secs(5), || {
        others(&root_a).contains(&b)
    })
    .await;
    // A's link drops and comes back: the server gives A a new id and tells B that old A left.
    let handle_a = PRESENCE
        .with(|p| {
            p.borrow()
                .iter()
                .find(|(id, _)| id == "ghost-a")
                .map(|(_, h)| h.clone())
        })
        .expect("A's handle");
    handle_a.close();
    wait_for("A to be disconnected", Duration::from_secs(3), || {
        !handle_a.connection().status().is_connected()
    })
    .await;
    handle_a.open();
    wait_for("A to be welcomed again", Duration::from_secs(5), || {
        let now = me(&root_a);
        !now.is_empty() && now != old_a
    })
    .await;
    wait_for("A to see B again", Duration::from_secs(5), || {
        others(&root_a).contains(&b)
    })
    .await;
    sleep(Duration::from_millis(300)).await;
    assert!(
        !others(&root_a).contains(&old_a),
        "A lists its own old id {old_a} as someone else: {:?}",
        others(&root_a)
    );
    PRESENCE.with(|p| p.borrow_mut().clear());
    app_a.destroy();
    app_b.destroy();
}
