//! Chat history, recovery after a reconnect and acknowledged sends (docs/protocol.md, "History
//! and recovery"), against the in-process backend; the Redis variants are in `tests/redis.rs`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["seq"].as_u64()).collect()
}

fn texts(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| f["text"].as_str().map(str::to_string))
        .collect()
}

/// Sends `texts` on `ws` and waits for each to come back (the chat echoes to the sender).
async fn say(ws: &mut Ws, texts: &[String]) -> Vec<Value> {
    for text in texts {
        send_json(ws, json!({"type": "message", "text": text})).await;
    }
    let mut echoed = Vec::new();
    for _ in texts {
        echoed.push(recv_type(ws, "message").await);
    }
    echoed
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn a_newcomer_gets_the_newest_history_and_the_welcome_names_the_stream() {
    let mut config = test_config();
    config.history_on_join = 5;
    let server = TestServer::start(config).await;
    let (mut ada, welcome, history, replayed) = connect_chat(&server, "/ws/chat?name=Ada").await;
    assert_eq!((welcome["seq"].as_u64(), history.len()), (Some(0), 0));
    let epoch = welcome["epoch"]
        .as_str()
        .expect("welcome has the epoch")
        .to_string();
    assert_eq!(replayed["reason"], "new", "{replayed}");
    let sent = say(&mut ada, &numbered("m", 8)).await;
    assert_eq!(
        seqs(&sent),
        (1..=8).collect::<Vec<_>>(),
        "seq grows by exactly 1"
    );

    let (_bo, welcome, history, replayed) = connect_chat(&server, "/ws/chat?name=Bo").await;
    assert_eq!(
        (welcome["epoch"].as_str(), welcome["seq"].as_u64()),
        (Some(&*epoch), Some(8))
    );
    assert_eq!(
        texts(&history),
        ["m4", "m5", "m6", "m7", "m8"],
        "the newest five, in order"
    );
    assert_eq!(seqs(&history), [4, 5, 6, 7, 8], "with their original seq");
    assert_eq!(
        replayed,
        json!({"type": "replayed", "epoch": epoch, "from": 4, "to": 8, "recovered": false, "reason": "new"})
    );
}

#[tokio::test]
async fn a_reconnect_with_its_position_gets_exactly_what_it_missed() {
    let server = TestServer::start(test_config()).await;
    let (mut ada, ..) = connect_chat(&server, "/ws/chat?name=Ada").await;
    let (bo, welcome, ..) = connect_chat(&server, "/ws/chat?name=Bo").await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    say(&mut ada, &numbered("before", 3)).await;
    drop(bo);
    // Bo saw up to 3 (say, he read them); 20 more while he is away.
    say(&mut ada, &numbered("away", 20)).await;
    let (mut bo, _, missed, replayed) =
        connect_chat(&server, &format!("/ws/chat?since={epoch}:3")).await;
    assert_eq!(
        texts(&missed),
        numbered("away", 20),
        "exactly those 20, in order"
    );
    assert_eq!(seqs(&missed), (4..=23).collect::<Vec<_>>());
    assert_eq!(
        replayed,
        json!({"type": "replayed", "epoch": epoch, "from": 4, "to": 23, "recovered": true})
    );
    // Live messages continue right after the replay.
    say(&mut ada, &["after".to_string()]).await;
    let live = recv_type(&mut bo, "message").await;
    assert_eq!(
        (live["text"].as_str(), live["seq"].as_u64()),
        (Some("after"), Some(24))
    );

    // Already up to date: nothing replayed, still recovered.
    let (_, _, none, replayed) = connect_chat(&server, &format!("/ws/chat?since={epoch}:24")).await;
    assert!(none.is_empty());
    assert_eq!(
        (replayed["recovered"].as_bool(), replayed["from"].as_u64()),
        (Some(true), Some(25))
    );
}

#[tokio::test]
async fn a_resent_client_id_is_acked_again_and_never_broadcast_twice() {
    let server = TestServer::start(test_config()).await;
    let (mut ada, ..) = connect_chat(&server, "/ws/chat?name=Ada").await;
    let (mut bo, ..) = connect_chat(&server, "/ws/chat?name=Bo").await;
    let message = json!({"type": "message", "text": "only once", "clientId": "k7Qx-1"});
    send_json(&mut ada, message.clone()).await;
    let ack = recv_type(&mut ada, "ack").await;
    assert_eq!(ack, json!({"type": "ack", "clientId": "k7Qx-1", "seq": 1}));
    // Ada's link drops before she sees the ack; she reconnects and resends.
    drop(ada);
    let (mut ada, ..) = connect(&server, "/ws/chat?name=Ada").await;
    send_json(&mut ada, message).await;
    assert_eq!(
        recv_type(&mut ada, "ack").await,
        ack,
        "the same ack, the same seq"
    );
    send_json(
        &mut ada,
        json!({"type": "message", "text": "next", "clientId": "k7Qx-2"}),
    )
    .await;
    let first = recv_type(&mut bo, "message").await;
    let second = recv_type(&mut bo, "message").await;
    assert_eq!(
        (
            first["text"].as_str(),
            first["clientId"].as_str(),
            second["text"].as_str()
        ),
        (Some("only once"), Some("k7Qx-1"), Some("next")),
        "Bo sees the message once"
    );
    assert_eq!(second["seq"], 2);
    // A bad clientId is refused as invalid; the socket stays open.
    for bad in [
        json!(""),
        json!("has space"),
        json!("x".repeat(65)),
        json!(5),
    ] {
        send_json(
            &mut ada,
            json!({"type": "message", "text": "t", "clientId": bad}),
        )
        .await;
        assert_eq!(
            recv_type(&mut ada, "error").await["code"],
            "invalid",
            "{bad}"
        );
    }
    assert_alive(&mut ada).await;
}

#[tokio::test]
async fn bad_positions_get_the_newest_history_with_a_reason_never_a_panic() {
    let mut config = test_config();
    config.history_on_join = 2;
    let server = TestServer::start(config).await;
    let (mut ada, welcome, ..) = connect_chat(&server, "/ws/chat").await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    say(&mut ada, &numbered("m", 4)).await;
    // A room's position is another stream's: its epoch is not the chat's.
    let (mut room, _) = connect(&server, "/ws/typed-chat").await;
    let (joined, ..) = join_room(&mut room, "r1", None).await;
    let room_epoch = joined["epoch"].as_str().expect("joined has the epoch");
    assert_ne!(room_epoch, epoch);
    let cases = [
        (format!("{room_epoch}:1"), "epoch"),
        ("another-run.1:2".to_string(), "epoch"),
        ("garbage".to_string(), "invalid"),
        (format!("{epoch}:-1"), "invalid"),
        (format!("{epoch}:99999999999999999999999"), "invalid"),
        (format!("{epoch}:{}", u64::MAX), "invalid"),
        (format!("{epoch}:5"), "invalid"),
    ];
    for (since, reason) in cases {
        let path = format!("/ws/chat?since={}", urlencoding(&since));
        let (mut ws, _, history, replayed) = connect_chat(&server, &path).await;
        assert_eq!(
            (replayed["recovered"].as_bool(), replayed["reason"].as_str()),
            (Some(false), Some(reason)),
            "{since}: {replayed}"
        );
        assert_eq!(
            texts(&history),
            ["m3", "m4"],
            "{since}: the newest history instead"
        );
        assert_alive(&mut ws).await;
    }
    // The same in a typed join, where `since` may not even be a string.
    for since in [
        json!(12),
        json!({"epoch": 1}),
        json!("nope"),
        json!(format!("{room_epoch}:7")),
    ] {
        send_json(
            &mut room,
            json!({"type": "join", "room": "r1", "since": since}),
        )
        .await;
        recv_type(&mut room, "joined").await;
        let (_, replayed) = recv_replay(&mut room).await;
        assert_eq!(replayed["reason"], "invalid", "{since}: {replayed}");
    }
    assert_alive(&mut room).await;
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_history_bound_turns_a_long_absence_into_too_old() {
    let mut config = test_config();
    config.history_messages = 10;
    config.history_on_join = 3;
    let server = TestServer::start(config).await;
    let (mut ada, welcome, ..) = connect_chat(&server, "/ws/chat").await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    say(&mut ada, &numbered("m", 25)).await;
    // Kept: 16..=25. At 15 the next one needed is kept: exact. At 14, 15 is gone.
    let (_, _, missed, replayed) =
        connect_chat(&server, &format!("/ws/chat?since={epoch}:15")).await;
    assert_eq!(
        (seqs(&missed).len(), replayed["recovered"].as_bool()),
        (10, Some(true))
    );
    let (_, _, newest, replayed) =
        connect_chat(&server, &format!("/ws/chat?since={epoch}:14")).await;
    assert_eq!(replayed["reason"], "too_old", "{replayed}");
    assert_eq!(seqs(&newest), [23, 24, 25]);
}

#[tokio::test]
async fn a_restart_without_redis_starts_a_new_epoch() {
    let mut server = TestServer::start(test_config()).await;
    let (mut ada, welcome, ..) = connect_chat(&server, "/ws/chat").await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    say(&mut ada, &numbered("m", 3)).await;
    drop(ada);
    server.begin_shutdown();
    server
        .finished(Duration::from_secs(5))
        .await
        .expect("stopped");
    let server = TestServer::start(test_config()).await;
    let (_, welcome, history, replayed) =
        connect_chat(&server, &format!("/ws/chat?since={epoch}:3")).await;
    assert_ne!(welcome["epoch"].as_str(), Some(&*epoch));
    assert!(history.is_empty());
    assert_eq!(
        (replayed["recovered"].as_bool(), replayed["reason"].as_str()),
        (Some(false), Some("epoch"))
    );
}

#[tokio::test]
async fn a_room_member_cut_off_rejoins_with_its_position_and_recovers() {
    let mut config = test_config();
    config.test_endpoints = true;
    let server = TestServer::start(config).await;
    let (mut ada, _) = connect(&server, "/ws/typed-chat?name=Ada").await;
    let (mut bo, bo_welcome) = connect(&server, "/ws/typed-chat?name=Bo").await;
    join_room(&mut ada, "ops", None).await;
    send_json(
        &mut ada,
        json!({"type": "message", "room": "ops", "text": "context", "clientId": "a-1"}),
    )
    .await;
    assert_eq!(recv_type(&mut ada, "ack").await["room"], "ops");
    // A newcomer sees the room's last messages.
    let (joined, history, _) = join_room(&mut bo, "ops", None).await;
    assert_eq!(texts(&history), ["context"]);
    let position = format!(
        "{}:{}",
        joined["epoch"].as_str().expect("epoch"),
        joined["seq"]
    );

    let (status, _) = post_json(
        server.addr,
        "/api/test/drop-sockets",
        &json!({"endpoint": "typed-chat", "user": bo_welcome["userId"]}),
    )
    .await;
    assert_eq!(status, 200);
    // Bo's socket ends without a close frame.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match futures_util::StreamExt::next(&mut bo).await {
                None | Some(Err(_)) => return None,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                    return Some(frame)
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("dropped in time");
    assert!(ended.is_none(), "no close frame: {ended:?}");

    for i in 1..=20 {
        send_json(
            &mut ada,
            json!({"type": "message", "room": "ops", "text": format!("a{i}")}),
        )
        .await;
    }
    for _ in 0..20 {
        recv_type(&mut ada, "message").await;
    }
    let (mut bo, _) = connect(&server, "/ws/typed-chat?name=Bo").await;
    let (_, missed, replayed) = join_room(&mut bo, "ops", Some(&position)).await;
    assert_eq!(texts(&missed), numbered("a", 20));
    assert_eq!(
        (
            replayed["room"].as_str(),
            replayed["recovered"].as_bool(),
            replayed["from"].as_u64(),
            replayed["to"].as_u64()
        ),
        (Some("ops"), Some(true), Some(2), Some(21))
    );
}
