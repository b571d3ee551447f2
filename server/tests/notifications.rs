//! `/sse/notifications` and `POST /api/notifications`, read with a hand-written SSE client.

mod common;

use std::time::Duration;

use common::*;
use realtime_server::Config;
use serde_json::{json, Value};

async fn post_note(server: &TestServer, message: &str) -> String {
    let (status, reply) = post_json(
        server.addr,
        "/api/notifications",
        &json!({"message": message}),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    reply["id"].as_str().expect("id").to_string()
}

fn ids(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect()
}

async fn take_events(sse: &mut Sse, n: usize) -> Vec<SseEvent> {
    let mut events = Vec::new();
    while events.len() < n {
        events.push(sse.next_event().await.expect("stream ended early"));
    }
    events
}

#[tokio::test]
async fn stream_starts_with_the_retry_hint_and_echoes_an_allowed_origin_for_cors() {
    let server = TestServer::start(Config {
        sse_retry_ms: 1234,
        ..test_config()
    })
    .await;
    let mut sse = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Origin", "http://localhost:5173")],
    )
    .await;
    assert_eq!(sse.head.status, 200);
    assert_eq!(sse.head.header("content-type"), Some("text/event-stream"));
    assert_eq!(sse.head.header("cache-control"), Some("no-cache"));
    assert_eq!(
        sse.head.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let first = sse.next_block().await.expect("a first block");
    assert_eq!(first.retry, Some(1234));
    assert_eq!(first.data, None);
}

#[tokio::test]
async fn stream_from_a_disallowed_origin_is_refused_403() {
    let server = TestServer::start(test_config()).await;
    let sse = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(sse.head.status, 403);
    assert_eq!(sse.head.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn posted_notification_arrives_as_an_event_with_a_run_scoped_id() {
    let server = TestServer::start(test_config()).await;
    let mut sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    assert_eq!(
        sse.next_block().await.unwrap().retry,
        Some(2000),
        "default retry hint"
    );

    let (status, reply) = post_json(
        server.addr,
        "/api/notifications",
        &json!({"title":"Deployed","message":"v1.2 is live","level":"success"}),
    )
    .await;
    assert_eq!(status, 202);
    let id = reply["id"].as_str().unwrap();
    let (run, seq) = id.rsplit_once('-').expect("id is <run>-<seq>");
    assert!(!run.is_empty() && seq.parse::<u64>().is_ok(), "{id}");

    let event = sse.next_event().await.expect("event");
    assert_eq!(event.event.as_deref(), Some("notification"));
    assert_eq!(event.id.as_deref(), Some(id));
    let data = event.json();
    assert_eq!(data["id"], id);
    assert_eq!(data["title"], "Deployed");
    assert_eq!(data["message"], "v1.2 is live");
    assert_eq!(data["level"], "success");
    assert!(data["timestamp"].is_u64());

    // Defaults: title "Notification", level info; ids increase.
    let second = post_note(&server, "plain").await;
    let event = sse.next_event().await.unwrap();
    assert_eq!(event.json()["title"], "Notification");
    assert_eq!(event.json()["level"], "info");
    assert_eq!(event.id.as_deref(), Some(second.as_str()));
    let seq2: u64 = second.rsplit_once('-').unwrap().1.parse().unwrap();
    assert_eq!(seq2, seq.parse::<u64>().unwrap() + 1);
}

#[tokio::test]
async fn bad_notification_posts_get_400_with_an_error_code() {
    let server = TestServer::start(test_config()).await;
    let cases: [(&[u8], &str); 5] = [
        (b"{nope", "malformed"),
        (b"[1]", "malformed"),
        (br#"{"title":"no message"}"#, "invalid"),
        (br#"{"message":"m","level":"loud"}"#, "invalid"),
        (br#"{"message":"m","title":{"x":1}}"#, "invalid"),
    ];
    for (body, code) in cases {
        let (head, reply) = http(
            server.addr,
            "POST",
            "/api/notifications",
            &[("Content-Type", "application/json")],
            body,
        )
        .await;
        assert_eq!(head.status, 400, "{}", String::from_utf8_lossy(body));
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["code"], code);
    }
    let too_big = format!(r#"{{"message":"{}"}}"#, "m".repeat(70_000));
    let (head, _) = http(
        server.addr,
        "POST",
        "/api/notifications",
        &[],
        too_big.as_bytes(),
    )
    .await;
    assert_eq!(head.status, 413, "bodies over --max-text-bytes are refused");
}

#[tokio::test]
async fn cors_preflight_for_posting_is_answered_for_allowed_origins_only() {
    let server = TestServer::start(test_config()).await;
    let (head, _) = http(
        server.addr,
        "OPTIONS",
        "/api/notifications",
        &[
            ("Origin", "http://127.0.0.1:8080"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(head.status, 204);
    assert_eq!(
        head.header("access-control-allow-origin"),
        Some("http://127.0.0.1:8080")
    );
    assert!(head
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(head
        .header("access-control-allow-headers")
        .unwrap()
        .contains("content-type"));

    let (head, _) = http(
        server.addr,
        "OPTIONS",
        "/api/notifications",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(head.status, 403);
}

#[tokio::test]
async fn resume_from_the_last_event_id_header_replays_exactly_the_missed_events() {
    let server = TestServer::start(test_config()).await;
    let first = post_note(&server, "one").await;
    let second = post_note(&server, "two").await;
    let third = post_note(&server, "three").await;

    let mut sse = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Last-Event-ID", &first)],
    )
    .await;
    let replayed = take_events(&mut sse, 2).await;
    assert_eq!(ids(&replayed), vec![second.clone(), third.clone()]);
    assert!(replayed
        .iter()
        .all(|e| e.event.as_deref() == Some("notification")));
    assert_eq!(replayed[0].json()["message"], "two");

    // Live events continue right after, without duplicates.
    let fourth = post_note(&server, "four").await;
    assert_eq!(sse.next_event().await.unwrap().id, Some(fourth));
}

#[tokio::test]
async fn resume_from_the_last_event_id_query_replays_exactly_the_missed_events() {
    let server = TestServer::start(test_config()).await;
    let first = post_note(&server, "one").await;
    let second = post_note(&server, "two").await;
    let mut sse = Sse::connect(
        server.addr,
        &format!("/sse/notifications?lastEventId={first}"),
        &[],
    )
    .await;
    assert_eq!(ids(&take_events(&mut sse, 1).await), vec![second]);
    let third = post_note(&server, "three").await;
    assert_eq!(sse.next_event().await.unwrap().id, Some(third));
}

#[tokio::test]
async fn the_header_wins_over_a_stale_query_id_on_reconnect() {
    let server = TestServer::start(test_config()).await;
    let first = post_note(&server, "one").await;
    let second = post_note(&server, "two").await;
    let third = post_note(&server, "three").await;
    let mut sse = Sse::connect(
        server.addr,
        &format!("/sse/notifications?lastEventId={first}"),
        &[("Last-Event-ID", &second)],
    )
    .await;
    let fourth = post_note(&server, "four").await;
    assert_eq!(ids(&take_events(&mut sse, 2).await), vec![third, fourth]);
}

#[tokio::test]
async fn an_up_to_date_client_gets_no_replay_and_a_fresh_one_only_live_events() {
    let server = TestServer::start(test_config()).await;
    let _old = post_note(&server, "before anyone listened").await;
    let latest = post_note(&server, "latest").await;
    let mut resumed = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Last-Event-ID", &latest)],
    )
    .await;
    let mut fresh = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    let next = post_note(&server, "next").await;
    assert_eq!(resumed.next_event().await.unwrap().id, Some(next.clone()));
    assert_eq!(fresh.next_event().await.unwrap().id, Some(next));
}

#[tokio::test]
async fn an_id_from_another_run_gets_a_reset_unknown_run_then_the_whole_buffer() {
    let server = TestServer::start(test_config()).await;
    let a = post_note(&server, "a").await;
    let b = post_note(&server, "b").await;
    for stale in ["0badc0ffee-1", "garbage"] {
        let mut sse = Sse::connect(
            server.addr,
            "/sse/notifications",
            &[("Last-Event-ID", stale)],
        )
        .await;
        let reset = sse.next_event().await.unwrap();
        assert_eq!(reset.event.as_deref(), Some("reset"));
        assert_eq!(reset.id, None, "a reset must not move the client's last id");
        assert_eq!(
            reset.json(),
            json!({"reason":"unknown_run","lastEventId":stale})
        );
        assert_eq!(
            ids(&take_events(&mut sse, 2).await),
            vec![a.clone(), b.clone()]
        );
    }
}

#[tokio::test]
async fn resuming_after_a_server_restart_resets_with_unknown_run() {
    let mut before = TestServer::start(test_config()).await;
    let old_id = post_note(&before, "from the first run").await;
    before.begin_shutdown();
    before.finished(WAIT).await.expect("clean stop");

    let after = TestServer::start(test_config()).await;
    let new_id = post_note(&after, "from the second run").await;
    assert_ne!(
        old_id.rsplit_once('-').unwrap().0,
        new_id.rsplit_once('-').unwrap().0
    );
    let mut sse = Sse::connect(
        after.addr,
        &format!("/sse/notifications?lastEventId={old_id}"),
        &[],
    )
    .await;
    let reset = sse.next_event().await.unwrap();
    assert_eq!(
        reset.json(),
        json!({"reason":"unknown_run","lastEventId":old_id})
    );
    assert_eq!(ids(&take_events(&mut sse, 1).await), vec![new_id]);
}

#[tokio::test]
async fn an_id_older_than_the_buffer_gets_a_reset_too_old_then_the_whole_buffer() {
    let server = TestServer::start(Config {
        sse_buffer: 3,
        ..test_config()
    })
    .await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(post_note(&server, &format!("n{i}")).await);
    }
    let mut sse = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Last-Event-ID", &all[0])],
    )
    .await;
    let reset = sse.next_event().await.unwrap();
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(
        reset.json(),
        json!({"reason":"too_old","lastEventId":all[0]})
    );
    assert_eq!(ids(&take_events(&mut sse, 3).await), all[2..].to_vec());

    // One event newer is still exact: everything after it is buffered.
    let mut sse = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Last-Event-ID", &all[1])],
    )
    .await;
    let events = take_events(&mut sse, 3).await;
    assert!(events
        .iter()
        .all(|e| e.event.as_deref() == Some("notification")));
    assert_eq!(ids(&events), all[2..].to_vec());
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let server = TestServer::start(Config {
        sse_keepalive_ms: 150,
        ..test_config()
    })
    .await;
    let mut sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    assert!(sse.next_block().await.unwrap().retry.is_some());
    for _ in 0..2 {
        let block = sse.next_block().await.expect("keep-alive");
        assert_eq!(block.comments, vec!["keep-alive".to_string()]);
        assert_eq!(block.data, None);
    }
}

#[tokio::test]
async fn the_demo_generator_publishes_on_its_interval() {
    let server = TestServer::start(Config {
        demo_interval_ms: 100,
        ..test_config()
    })
    .await;
    let mut sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    let events = take_events(&mut sse, 3).await;
    let levels: Vec<Value> = events.iter().map(|e| e.json()["level"].clone()).collect();
    assert_eq!(
        levels,
        vec![json!("info"), json!("success"), json!("warning")]
    );
    assert!(events
        .iter()
        .all(|e| e.json()["title"].as_str().is_some_and(|t| !t.is_empty())));
}

#[tokio::test]
async fn the_demo_generator_is_off_at_zero() {
    let server = TestServer::start(Config {
        demo_interval_ms: 0,
        sse_keepalive_ms: 100,
        ..test_config()
    })
    .await;
    let mut sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    // Only the retry hint and keep-alives for half a second.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        let block = sse.next_block().await.unwrap();
        assert_eq!(block.data, None, "no demo events: {block:?}");
    }
}

#[tokio::test]
async fn drop_sse_test_endpoint_ends_every_stream_and_clients_can_resume() {
    let server = TestServer::start(Config {
        test_endpoints: true,
        ..test_config()
    })
    .await;
    let mut one = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    let mut two = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    let seen = post_note(&server, "seen").await;
    assert_eq!(one.next_event().await.unwrap().id, Some(seen.clone()));
    assert_eq!(two.next_event().await.unwrap().id, Some(seen.clone()));

    let (status, reply) = post_json(server.addr, "/api/test/drop-sse", &json!({})).await;
    assert_eq!((status, reply), (200, json!({"dropped":2})));
    one.expect_end().await;
    two.expect_end().await;

    let missed = post_note(&server, "missed while away").await;
    let mut back = Sse::connect(
        server.addr,
        "/sse/notifications",
        &[("Last-Event-ID", &seen)],
    )
    .await;
    assert_eq!(back.next_event().await.unwrap().id, Some(missed));
}
