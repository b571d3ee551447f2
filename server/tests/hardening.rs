//! Bad input and load: each gets its documented answer, and everyone else is untouched.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use realtime_server::Config;
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// A chat bystander proves the server still serves everyone else: it can talk and hear.
async fn assert_chat_still_works(bystander: &mut Ws) {
    send_json(bystander, json!({"type":"message","text":"still here"})).await;
    let echoed = recv_type(bystander, "message").await;
    assert_eq!(echoed["text"], "still here");
}

#[tokio::test]
async fn malformed_json_and_unknown_types_get_error_frames_and_the_connection_stays_open() {
    let server = TestServer::start(test_config()).await;
    for path in ["/ws/chat", "/ws/typed-chat", "/ws/presence", "/ws/binary"] {
        let (mut ws, _) = connect(&server, path).await;
        if path == "/ws/presence" {
            recv_type(&mut ws, "presence:snapshot").await;
        }
        for (frame, code) in [
            ("{not json", "malformed"),
            ("[1,2,3]", "malformed"),
            ("\"ping\"", "malformed"),
            (r#"{"text":"no type"}"#, "malformed"),
            (r#"{"type":42}"#, "malformed"),
            (r#"{"type":"dance"}"#, "unknown_type"),
        ] {
            send_text(&mut ws, frame).await;
            let reply = recv_json(&mut ws).await;
            assert_eq!(reply["type"], "error", "{path} {frame}");
            assert_eq!(reply["code"], code, "{path} {frame}: {reply}");
            assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert_alive_and_quiet(&mut ws).await;
    }
}

#[tokio::test]
async fn binary_frame_on_a_text_endpoint_is_malformed_and_the_connection_stays_open() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    send_msg(&mut ws, Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(recv_json(&mut ws).await["code"], "malformed");
    assert_alive_and_quiet(&mut ws).await;
}

#[tokio::test]
async fn text_frame_over_the_limit_is_closed_1009_and_others_are_untouched() {
    let server = TestServer::start(test_config()).await;
    let (mut bystander, _) = connect(&server, "/ws/chat").await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;

    // Exactly at the limit is still a frame the server reads (and refuses as too long a text).
    let at_limit = format!(
        r#"{{"type":"message","text":"{}"}}"#,
        "a".repeat(65_536 - 28)
    );
    assert_eq!(at_limit.len(), 65_536);
    send_text(&mut ws, &at_limit).await;
    assert_eq!(recv_json(&mut ws).await["code"], "invalid");

    send_text(&mut ws, &"a".repeat(65_537)).await;
    let (code, _) = recv_close(&mut ws, WAIT).await;
    assert_eq!(code, 1009);
    assert_chat_still_works(&mut bystander).await;
}

#[tokio::test]
async fn a_frame_far_over_the_limit_is_refused_from_its_header_with_1009() {
    let server = TestServer::start(test_config()).await;
    let (mut bystander, _) = connect(&server, "/ws/chat").await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    // 1 MiB is refused as soon as its length is read; the server does not buffer the payload
    // (the socket may even be reset before the client finishes sending, hence no expect).
    let _ = tokio::time::timeout(WAIT, ws.send(Message::text("a".repeat(1 << 20)))).await;
    let next = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("an answer in time");
    match next {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
    assert_chat_still_works(&mut bystander).await;
}

#[tokio::test]
async fn text_limit_follows_the_flag() {
    let server = TestServer::start(Config {
        max_text_bytes: 1024,
        ..test_config()
    })
    .await;
    let (mut ws, _) = connect(&server, "/ws/typed-chat").await;
    send_text(&mut ws, &"b".repeat(1025)).await;
    assert_eq!(recv_close(&mut ws, WAIT).await.0, 1009);
}

#[tokio::test]
async fn binary_frame_over_the_limit_is_closed_1009() {
    let server = TestServer::start(test_config()).await;
    let (mut bystander, _) = connect(&server, "/ws/binary").await;
    let (mut ws, _) = connect(&server, "/ws/binary").await;
    send_msg(&mut ws, Message::binary(vec![7u8; 1_048_577])).await;
    assert_eq!(recv_close(&mut ws, WAIT).await.0, 1009);
    send_msg(&mut bystander, Message::binary(vec![1u8, 2])).await;
    assert_eq!(recv_binary(&mut bystander).await, vec![1u8, 2]);
}

#[tokio::test]
async fn invalid_utf8_text_frame_is_closed_1007_and_others_are_untouched() {
    let server = TestServer::start(test_config()).await;
    let (mut bystander, _) = connect(&server, "/ws/chat").await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    // A text frame whose payload is not UTF-8; the client library only lets raw frames do this.
    let bad = Frame::message(
        Bytes::from_static(b"{\"type\":\"ping\",\"x\":\"\xff\xfe\"}"),
        OpCode::Data(Data::Text),
        true,
    );
    send_msg(&mut ws, Message::Frame(bad)).await;
    assert_eq!(recv_close(&mut ws, WAIT).await.0, 1007);
    assert_chat_still_works(&mut bystander).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_client_gets_rate_limited_then_closed_1008_and_others_are_untouched() {
    let server = TestServer::start(test_config()).await; // 50/s, burst 100
    let (mut bystander, _) = connect(&server, "/ws/chat").await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    let flood = (0..300)
        .map(|i| Message::text(json!({"type":"ping","i":i}).to_string()))
        .collect();
    send_batch(&mut ws, flood).await;

    let mut pongs = 0;
    let mut warnings = 0;
    let code = loop {
        let next = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("flood answer in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                match v["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => {
                        assert_eq!(v["code"], "rate_limited");
                        warnings += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            other => panic!("expected frames then a close, got {other:?}"),
        }
    };
    assert_eq!(code, 1008);
    assert_eq!(warnings, 1, "exactly one warning before the close");
    // The burst of 100 is served, plus whatever refilled (50/s) while the flood was processed.
    assert!((100..200).contains(&pongs), "pongs: {pongs}");
    assert_chat_still_works(&mut bystander).await;
}

#[tokio::test]
async fn websocket_ping_floods_count_against_the_rate_limit_too() {
    let server = TestServer::start(Config {
        rate_burst: 20,
        ..test_config()
    })
    .await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    let flood = (0..200)
        .map(|i| Message::Ping(Bytes::from(format!("{i}"))))
        .collect();
    send_batch(&mut ws, flood).await;
    // Pongs to the pings are control frames; the text frames are the warning and nothing else.
    let mut texts = Vec::new();
    let code = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("answer in time")
        {
            Some(Ok(Message::Text(text))) => texts.push(text.to_string()),
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, 1008);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("rate_limited"));
}

#[tokio::test]
async fn client_that_slows_down_after_the_warning_stays_connected() {
    let server = TestServer::start(Config {
        rate_per_sec: 50,
        rate_burst: 10,
        ..test_config()
    })
    .await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    let burst = (0..11)
        .map(|i| Message::text(json!({"type":"ping","i":i}).to_string()))
        .collect();
    send_batch(&mut ws, burst).await;
    let mut pongs = 0;
    loop {
        let v = recv_json(&mut ws).await;
        if v["type"] == "error" {
            assert_eq!(v["code"], "rate_limited");
            break;
        }
        pongs += 1;
    }
    assert_eq!(pongs, 10);
    // 10 tokens refill in 200 ms at 50/s; afterwards the client is in good standing again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..5 {
        assert_alive_and_quiet(&mut ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_1013_and_others_keep_receiving() {
    let config = Config {
        outbound_queue: 64,
        rate_per_sec: 1_000_000,
        rate_burst: 1_000_000,
        ..test_config()
    };
    let server = TestServer::start(config).await;

    // The slow client has a tiny receive window and never reads until the end.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = tokio::time::timeout(WAIT, socket.connect(server.addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let (mut slow, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async(
            server.ws_url("/ws/chat"),
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        ),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");

    // The sender and a bystander read everything, batch by batch, so their queues never fill.
    let (mut sender, _) = connect(&server, "/ws/chat").await;
    let (mut bystander, _) = connect(&server, "/ws/chat").await;
    const FLOOD: usize = 3000;
    const BATCH: usize = 25;
    let text = "x".repeat(1900);
    let mut sent = 0;
    while sent < FLOOD {
        let batch = (sent..sent + BATCH)
            .map(|i| {
                Message::text(json!({"type":"message","text":format!("{i} {text}")}).to_string())
            })
            .collect();
        send_batch(&mut sender, batch).await;
        sent += BATCH;
        for reader in [&mut sender, &mut bystander] {
            for expected in sent - BATCH..sent {
                let v = recv_json(reader).await;
                assert_eq!(v["type"], "message", "{v}");
                let n: usize = v["text"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(n, expected, "in order, nothing lost");
            }
        }
    }

    // Now the slow client reads: whatever was queued before it was cut off, then the close.
    let (code, skipped) = recv_close(&mut slow, Duration::from_secs(20)).await;
    assert_eq!(code, 1013);
    assert!(
        skipped < FLOOD,
        "the slow client was cut off, not fed everything ({skipped})"
    );
    eprintln!("slow consumer got {skipped} of {FLOOD} messages before its close");

    // Broadcast still flows to everyone else after the slow one is gone.
    send_json(&mut sender, json!({"type":"message","text":"after"})).await;
    assert_eq!(recv_type(&mut bystander, "message").await["text"], "after");
    assert_eq!(recv_type(&mut sender, "message").await["text"], "after");
}

#[tokio::test]
async fn disallowed_origin_is_refused_403_before_the_upgrade() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url("/ws/chat");
    for origin in [
        "https://evil.example",
        "http://localhost.evil.example:8080",
        "null",
    ] {
        assert_eq!(
            refused_status(try_connect(&url, Some(origin)).await),
            403,
            "{origin}"
        );
    }
    for origin in [
        "http://localhost:8080",
        "http://127.0.0.1:3000",
        "https://[::1]:443",
    ] {
        let mut ws = try_connect(&url, Some(origin)).await.expect(origin);
        assert_eq!(recv_json(&mut ws).await["type"], "welcome");
    }
    let mut ws = try_connect(&url, None)
        .await
        .expect("no Origin: a non-browser client");
    assert_eq!(recv_json(&mut ws).await["type"], "welcome");
}

#[tokio::test]
async fn allowed_origins_flag_adds_exact_origins_and_star_allows_all() {
    let listed = TestServer::start(Config {
        allowed_origins: vec!["https://app.example".into()],
        ..test_config()
    })
    .await;
    let url = listed.ws_url("/ws/chat");
    assert!(try_connect(&url, Some("https://app.example")).await.is_ok());
    assert!(try_connect(&url, Some("http://localhost:9")).await.is_ok());
    assert_eq!(
        refused_status(try_connect(&url, Some("https://app.example.evil")).await),
        403
    );

    let open = TestServer::start(Config {
        allowed_origins: vec!["*".into()],
        ..test_config()
    })
    .await;
    assert!(
        try_connect(&open.ws_url("/ws/chat"), Some("https://anyone.example"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_a_freed_slot_is_reusable() {
    let server = TestServer::start(Config {
        max_connections: 2,
        ..test_config()
    })
    .await;
    let (first, _) = connect(&server, "/ws/chat").await;
    let _sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    assert_eq!(
        refused_status(try_connect(&server.ws_url("/ws/presence"), None).await),
        503
    );
    let refused_sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    assert_eq!(refused_sse.head.status, 503);
    // Plain HTTP is not capped.
    assert_eq!(
        http(server.addr, "GET", "/healthz", &[], b"")
            .await
            .0
            .status,
        200
    );

    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match try_connect(&server.ws_url("/ws/chat"), None).await {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("slot never freed: {e}"),
        }
    }
}

#[tokio::test]
async fn injected_raw_frames_reach_every_client_of_that_endpoint_only() {
    let server = TestServer::start(Config {
        test_endpoints: true,
        ..test_config()
    })
    .await;
    let (mut a, _) = connect(&server, "/ws/chat").await;
    let (mut b, _) = connect(&server, "/ws/chat").await;
    let (mut other, _) = connect(&server, "/ws/typed-chat").await;
    let huge = "z".repeat(200_000);
    let frames = vec![
        "{oops".to_string(),
        r#"{"type":"mystery"}"#.to_string(),
        huge.clone(),
    ];
    let (status, reply) = post_json(
        server.addr,
        "/api/test/inject",
        &json!({"endpoint":"chat","frames":frames}),
    )
    .await;
    assert_eq!((status, reply), (202, json!({"frames":3})));
    for ws in [&mut a, &mut b] {
        assert_eq!(recv_text(ws).await, "{oops");
        assert_eq!(recv_text(ws).await, r#"{"type":"mystery"}"#);
        assert_eq!(recv_text(ws).await.len(), huge.len());
        assert_alive_and_quiet(ws).await;
    }
    assert_alive_and_quiet(&mut other).await;

    let (status, reply) = post_json(
        server.addr,
        "/api/test/inject",
        &json!({"endpoint":"binary","frames":[]}),
    )
    .await;
    assert_eq!((status, reply["code"].as_str()), (400, Some("invalid")));
}

#[tokio::test]
async fn test_endpoints_are_absent_unless_enabled() {
    let server = TestServer::start(test_config()).await;
    let (status, _) = post_json(
        server.addr,
        "/api/test/inject",
        &json!({"endpoint":"chat","frames":["x"]}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post_json(server.addr, "/api/test/drop-sse", &json!({})).await;
    assert_eq!(status, 404);
}
