//! Browser tests of tokens (issue #15): a `TokenSource` on the provider is asked before every
//! attempt of every WebSocket and SSE hook below it; a handshake refused before it opened (the
//! dev server's 401) asks it with `refresh: true` and retries at once; what was queued meanwhile
//! is delivered once, after the new socket opens; an SSE stream that ends is reopened at once
//! with a fresh token. (A 4001 mid-connection: `lifecycle.rs` item 8, and e2e 6b against the
//! dev server with expiring tokens.)
//! Run by `scripts/browser-tests.sh` against the real dev server, like `lifecycle.rs`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use realtime_hooks::connection::{UrlRequest, UrlSource};
use realtime_hooks::core::outbox::SendPolicy;
use realtime_hooks::use_event_source::UseEventSourceHandle;
use realtime_hooks::{
    use_event_source_with_options, use_websocket_with_options, Connection, EventSourceOptions,
    RealtimeProvider, TokenSource, UseWebSocketHandle, UseWebSocketOptions, WebSocketOptions,
};
use wasm_bindgen_test::*;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

/// Every request a token source was asked with, in order.
type Asked = Rc<RefCell<Vec<UrlRequest>>>;

/// A source that hands out `stale` until it is asked to refresh, then `good` (after 20 ms, as
/// a fetch would take).
fn renewing_source(asked: &Asked) -> TokenSource {
    let asked = asked.clone();
    TokenSource::new(move |request| {
        asked.borrow_mut().push(request);
        let refreshed = asked.borrow().iter().any(|r| r.refresh);
        async move {
            sleep(Duration::from_millis(20)).await;
            Ok(if refreshed { "good" } else { "stale" }.to_owned())
        }
    })
}

thread_local! {
    static SOCKET: RefCell<Option<UseWebSocketHandle>> = const { RefCell::new(None) };
    static STREAM: RefCell<Option<UseEventSourceHandle>> = const { RefCell::new(None) };
}

#[derive(Properties, PartialEq, Clone)]
struct TokenProps {
    token: TokenSource,
}

#[component]
fn SocketUnderProvider(props: &TokenProps) -> Html {
    html! { <RealtimeProvider token={props.token.clone()}><EchoProbe /></RealtimeProvider> }
}

#[component]
fn EchoProbe() -> Html {
    // The echo endpoint refuses the handshake (HTTP 401, as the dev server with auth does)
    // unless the token is "good".
    let ws = use_websocket_with_options(
        &ws_url("/ws/test/echo?refuse=good"),
        UseWebSocketOptions {
            connection: WebSocketOptions {
                // A counted failure would wait a minute: a refresh must not.
                reconnect: Some(fixed_retry(60_000)),
                heartbeat: None,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    SOCKET.with(|s| *s.borrow_mut() = Some(ws.clone()));
    html! {}
}

#[wasm_bindgen_test]
async fn a_provider_token_is_asked_before_every_attempt_and_a_401_refreshes_it_at_once() {
    let asked: Asked = Rc::default();
    let started = js_sys::Date::now();
    let app = yew::Renderer::<SocketUnderProvider>::with_root_and_props(
        new_root(),
        TokenProps {
            token: renewing_source(&asked),
        },
    )
    .render();
    wait_for("the probe to render", Duration::from_secs(2), || {
        SOCKET.with(|s| s.borrow().is_some())
    })
    .await;
    let ws = SOCKET.with(|s| s.borrow().clone()).expect("rendered");
    // Queued before any socket opened: delivered once, after the good token's socket opens.
    for n in 1..=3 {
        ws.connection()
            .send_text_with(format!("queued {n}"), &SendPolicy::Keep)
            .expect("queued");
    }
    wait_for(
        "the socket with the refreshed token to open",
        Duration::from_secs(3),
        || ws.is_connected(),
    )
    .await;
    let took = js_sys::Date::now() - started;
    let status = ws.status();
    assert_eq!(
        status.last_close.as_ref().map(|c| c.code),
        Some(1006),
        "the stale token was refused at the handshake"
    );
    assert_eq!(status.attempt, 0, "a refresh is not a failed attempt");
    assert!(took < 2_000.0, "open {took} ms after mount");
    assert_eq!(
        *asked.borrow(),
        vec![UrlRequest { refresh: false }, UrlRequest { refresh: true }],
        "asked before the first attempt, then to refresh after the refusal"
    );
    wait_for(
        "the queued messages' echoes",
        Duration::from_secs(3),
        || {
            texts(&ws.messages().iter().cloned().collect::<Vec<_>>())
                .iter()
                .filter(|t| t.starts_with("queued"))
                .count()
                == 3
        },
    )
    .await;
    sleep(Duration::from_millis(200)).await;
    let echoed: Vec<String> = texts(&ws.messages().iter().cloned().collect::<Vec<_>>())
        .into_iter()
        .filter(|t| t.starts_with("queued"))
        .collect();
    assert_eq!(
        echoed,
        ["queued 1", "queued 2", "queued 3"],
        "once each, in order"
    );
    drop(ws);
    SOCKET.with(|s| s.borrow_mut().take());
    app.destroy();
}

#[wasm_bindgen_test]
async fn a_handshake_refused_before_open_asks_for_a_fresh_url_and_retries_at_once() {
    // A refused handshake (here a 404; a 401 looks the same to a page) then the real endpoint.
    let asked: Asked = Rc::default();
    let source = {
        let asked = asked.clone();
        UrlSource::with_request(move |request| {
            asked.borrow_mut().push(request);
            let path = if request.refresh {
                "/ws/test/echo"
            } else {
                "/ws/no-such-endpoint"
            };
            let url = ws_url(path);
            async move { Ok::<_, String>(url) }
        })
    };
    let conn = Connection::new(
        "refused, then fresh",
        WebSocketOptions {
            url: Some(source),
            // A counted failure would wait a minute: the retry after a refusal must not.
            reconnect: Some(fixed_retry(60_000)),
            heartbeat: None,
            ..Default::default()
        },
    );
    conn.start();
    wait_for(
        "the fresh URL's socket to open",
        Duration::from_secs(5),
        || conn.status().is_connected(),
    )
    .await;
    assert_eq!(
        *asked.borrow(),
        vec![UrlRequest { refresh: false }, UrlRequest { refresh: true }]
    );
    conn.shutdown();
}

#[component]
fn StreamUnderProvider(props: &TokenProps) -> Html {
    html! { <RealtimeProvider token={props.token.clone()}><StreamProbe /></RealtimeProvider> }
}

#[component]
fn StreamProbe() -> Html {
    let sse = use_event_source_with_options(
        &format!("{}/sse/notifications", server()),
        EventSourceOptions {
            events: vec!["notification".into()],
            reconnect: fixed_retry(60_000),
            ..Default::default()
        },
    );
    STREAM.with(|s| *s.borrow_mut() = Some(sse.clone()));
    html! {}
}

#[wasm_bindgen_test]
async fn an_sse_stream_gets_its_token_and_is_reopened_at_once_with_a_fresh_one_when_it_ends() {
    let asked: Asked = Rc::default();
    let source = {
        let asked = asked.clone();
        TokenSource::new(move |request| {
            asked.borrow_mut().push(request);
            let n = asked.borrow().len();
            async move { Ok::<_, String>(format!("t{n}")) }
        })
    };
    let app = yew::Renderer::<StreamUnderProvider>::with_root_and_props(
        new_root(),
        TokenProps { token: source },
    )
    .render();
    wait_for("the stream to open", Duration::from_secs(5), || {
        STREAM.with(|s| s.borrow().as_ref().is_some_and(|s| s.is_connected()))
    })
    .await;
    assert_eq!(asked.borrow().len(), 1, "asked before the stream");
    // A stream that lasted ends (the server ends one at its token's expiry; here the test
    // endpoint ends every stream): the hook reopens it now, with a fresh token, not after the
    // browser's retry with the old URL (whose `retry:` hint here is 500 ms).
    sleep(Duration::from_millis(1_200)).await;
    post_json("/api/test/drop-sse", "{}").await;
    let dropped = js_sys::Date::now();
    wait_for(
        "a second token to be asked for",
        Duration::from_secs(2),
        || asked.borrow().len() == 2,
    )
    .await;
    wait_for(
        "the stream to be open again",
        Duration::from_secs(3),
        || STREAM.with(|s| s.borrow().as_ref().is_some_and(|s| s.is_connected())),
    )
    .await;
    let took = js_sys::Date::now() - dropped;
    assert!(took < 1_000.0, "reopened {took} ms after the end");
    // Events still arrive on the reopened stream.
    post_json(
        "/api/notifications",
        r#"{"title":"token test","message":"after the reopen"}"#,
    )
    .await;
    wait_for("the notification", Duration::from_secs(3), || {
        STREAM.with(|s| {
            s.borrow().as_ref().is_some_and(|s| {
                s.events()
                    .iter()
                    .any(|e| e.data.contains("after the reopen"))
            })
        })
    })
    .await;
    STREAM.with(|s| s.borrow_mut().take());
    app.destroy();
}
