//! Browser tests of resuming and acknowledged sends (issue #16) against the real dev server:
//! a socket cut by the server (`/api/test/drop-sockets`, no close frame) reconnects with its
//! position and gets exactly what it missed, once each, in order; an acknowledged send is
//! reported `Acked(seq)`; one that is never acked fails visibly and can be retried or dropped.
//! Run by `scripts/browser-tests.sh` (`--test resume`).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use realtime_hooks::{
    AckFailure, AckPolicy, Connection, ConnectionState, Delivery, DeliveryReport, WebSocketOptions,
    MAIN_STREAM,
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

fn nonce() -> String {
    format!("{:x}", (js_sys::Math::random() * 1e12) as u64)
}

fn resuming() -> WebSocketOptions {
    WebSocketOptions {
        resume: true,
        reconnect: Some(fixed_retry(400)),
        ..Default::default()
    }
}

async fn open(conn: &Connection) {
    conn.start();
    wait_for("open", Duration::from_secs(10), || {
        conn.status().is_connected() && conn.status().welcome.is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_cut_socket_resumes_and_gets_exactly_what_it_missed() {
    let tag = nonce();
    let bo = Connection::new(&ws_url("/ws/chat"), resuming());
    let (frames, _guard) = collect(&bo);
    open(&bo).await;
    wait_for("the arrival replay", Duration::from_secs(5), || {
        bo.status().recovery(MAIN_STREAM).is_some()
    })
    .await;
    let ada = Connection::new(&ws_url("/ws/chat"), WebSocketOptions::default());
    open(&ada).await;
    let say = |text: String| {
        let frame = format!(r#"{{"type":"message","text":"{text}"}}"#);
        let _ = ada.send_text_with(frame, &Default::default());
    };
    say(format!("{tag} before"));
    wait_for("Bo hears Ada", Duration::from_secs(5), || {
        texts(&frames.borrow())
            .iter()
            .any(|t| t.contains(&format!("{tag} before")))
    })
    .await;

    let bo_id = bo
        .status()
        .welcome
        .clone()
        .map(|w| w.user_id)
        .unwrap_or_default();
    post_json(
        "/api/test/drop-sockets",
        &format!(r#"{{"endpoint":"chat","user":"{bo_id}"}}"#),
    )
    .await;
    wait_for("Bo's socket to drop", Duration::from_secs(5), || {
        matches!(bo.status().state, ConnectionState::Reconnecting { .. })
    })
    .await;
    for i in 1..=20 {
        say(format!("{tag} missed {i:02}"));
    }
    wait_for("Bo to recover", Duration::from_secs(10), || {
        bo.status().is_connected()
            && bo
                .status()
                .recovery(MAIN_STREAM)
                .is_some_and(|r| r.recovered && r.missed > 0)
    })
    .await;
    let recovery = bo
        .status()
        .recovery(MAIN_STREAM)
        .cloned()
        .expect("recovery");
    let missed: Vec<String> = texts(&frames.borrow())
        .into_iter()
        .filter(|t| t.contains(&format!("{tag} missed")))
        .collect();
    let expected: Vec<String> = (1..=20).map(|i| format!("{tag} missed {i:02}")).collect();
    let got: Vec<String> = missed
        .iter()
        .filter_map(|t| {
            expected
                .iter()
                .find(|e| t.contains(&format!("\"text\":\"{e}\"")))
                .cloned()
        })
        .collect();
    assert_eq!(got, expected, "exactly those 20, once each, in order");
    assert_eq!(recovery.missed, 20, "{recovery:?}");
    assert_eq!(
        recovery.notice().as_deref(),
        Some("20 missed messages recovered")
    );
    bo.shutdown();
    ada.shutdown();
}

#[wasm_bindgen_test]
async fn an_acked_send_reports_its_seq_and_an_unacked_one_fails_visibly() {
    let tag = nonce();
    let reports: Rc<RefCell<Vec<DeliveryReport>>> = Rc::default();
    let conn = Connection::new(&ws_url("/ws/chat"), resuming());
    let sink = reports.clone();
    let _listen = conn.on_delivery(move |r| sink.borrow_mut().push(r.clone()));
    // Once the server has named its epoch it acks: sent while closed, the message is queued,
    // tracked, and acked once it is on the wire.
    open(&conn).await;
    conn.close();
    wait_for("closed", Duration::from_secs(5), || {
        conn.status().state == ConnectionState::Closed
    })
    .await;
    let text = format!("{tag} acked");
    let (id, delivery) = conn
        .send_json_acked(&serde_json::json!({"type": "message", "text": text}))
        .expect("taken");
    assert_eq!(delivery, Delivery::Queued);
    assert_eq!(conn.status().unacked, 1);
    conn.open();
    wait_for("the ack", Duration::from_secs(5), || {
        !reports.borrow().is_empty()
    })
    .await;
    let report = reports.borrow()[0].clone();
    assert_eq!(report.client_id, id);
    assert!(
        matches!(report.result, Ok(Delivery::Acked(seq)) if seq > 0),
        "{report:?}"
    );
    assert_eq!(conn.status().unacked, 0);
    conn.shutdown();

    // A message the server refuses (blank text: `invalid`) is never acked: after the timeout the
    // send fails, once, and stays listed.
    let reports: Rc<RefCell<Vec<DeliveryReport>>> = Rc::default();
    let echo = Connection::new(
        &ws_url("/ws/chat"),
        WebSocketOptions {
            acks: AckPolicy {
                timeout_ms: 800.0,
                ..Default::default()
            },
            ..resuming()
        },
    );
    let sink = reports.clone();
    let _listen = echo.on_delivery(move |r| sink.borrow_mut().push(r.clone()));
    open(&echo).await;
    let (id, _) = echo
        .send_json_acked(&serde_json::json!({"type": "message", "text": "   "}))
        .expect("taken");
    wait_for("the failure", Duration::from_secs(5), || {
        !reports.borrow().is_empty()
    })
    .await;
    assert_eq!(
        reports.borrow()[0].result,
        Err(AckFailure::TimedOut { after_ms: 800.0 })
    );
    let pending = echo.pending_sends();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].failed.is_some());
    assert_eq!(echo.status().failed_sends, 1);
    assert!(
        echo.retry_send(&id),
        "a failed send can be retried under its id"
    );
    assert_eq!(echo.status().unacked, 1);
    echo.forget_send(&id);
    assert!(echo.pending_sends().is_empty());
    echo.shutdown();
}

#[wasm_bindgen_test]
async fn a_server_without_history_gets_plain_sends_nothing_waits_for_an_ack() {
    // The echo endpoint names no epoch (a seed-style server): nothing is tracked.
    let echo = Connection::new(&ws_url("/ws/test/echo"), WebSocketOptions::default());
    echo.start();
    wait_for("echo open", Duration::from_secs(5), || {
        echo.status().is_connected()
    })
    .await;
    let (_, delivery) = echo
        .send_json_acked(&serde_json::json!({"type": "message", "text": "plain"}))
        .expect("taken");
    assert_eq!(delivery, Delivery::Sent);
    assert_eq!(echo.status().unacked, 0);
    assert!(echo.pending_sends().is_empty());
    echo.shutdown();
}
