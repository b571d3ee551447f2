//! The four WebSocket endpoints doing what docs/protocol.md says, with real clients.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ENDPOINTS: [&str; 4] = ["/ws/chat", "/ws/typed-chat", "/ws/presence", "/ws/binary"];

#[tokio::test]
async fn every_socket_starts_with_welcome_carrying_a_unique_user_id_and_name() {
    let server = TestServer::start(test_config()).await;
    let mut ids = Vec::new();
    for path in ENDPOINTS {
        let (_ws, named) = connect(&server, &format!("{path}?name=%20Ada%07%20Lovelace%0A")).await;
        assert_eq!(
            named["name"], "Ada Lovelace",
            "{path}: name is trimmed, controls removed"
        );
        let (_ws, guest) = connect(&server, path).await;
        let id = guest["userId"]
            .as_str()
            .expect("userId is a string")
            .to_string();
        let n = id.trim_start_matches('u');
        assert_eq!(guest["name"], format!("Guest {n}"), "{path}: default name");
        ids.push(named["userId"].as_str().unwrap().to_string());
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "user ids are unique: {ids:?}");
}

#[tokio::test]
async fn long_names_are_clipped_to_32_characters_and_blank_names_become_guests() {
    let server = TestServer::start(test_config()).await;
    let long = "é".repeat(40);
    let (_ws, welcome) = connect(&server, &format!("/ws/chat?name={long}")).await;
    assert_eq!(welcome["name"].as_str().unwrap().chars().count(), 32);
    let (_ws, welcome) = connect(&server, "/ws/chat?name=%20%20%09").await;
    assert!(welcome["name"].as_str().unwrap().starts_with("Guest "));
}

#[tokio::test]
async fn ping_is_answered_with_a_pong_echoing_every_extra_field_on_every_endpoint() {
    let server = TestServer::start(test_config()).await;
    for path in ENDPOINTS {
        let (mut ws, _) = connect(&server, path).await;
        if path == "/ws/presence" {
            recv_type(&mut ws, "presence:snapshot").await;
        }
        send_json(
            &mut ws,
            json!({"type":"ping","id":7,"timestamp":1234.5,"extra":{"a":[1,"b"]}}),
        )
        .await;
        let pong = recv_json(&mut ws).await;
        assert_eq!(
            pong,
            json!({"type":"pong","id":7,"timestamp":1234.5,"extra":{"a":[1,"b"]}}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn chat_message_reaches_everyone_including_the_sender_with_increasing_ids() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/chat?name=Alice").await;
    let (mut bob, b) = connect(&server, "/ws/chat?name=Bob").await;

    send_json(&mut alice, json!({"type":"message","text":"  hello  "})).await;
    let for_alice = recv_json(&mut alice).await;
    let for_bob = recv_json(&mut bob).await;
    assert_eq!(for_alice, for_bob, "everyone gets the same frame");
    assert_eq!(for_bob["type"], "message");
    assert_eq!(for_bob["userId"], a["userId"]);
    assert_eq!(for_bob["name"], "Alice");
    assert_eq!(for_bob["text"], "hello", "text is trimmed");
    let ts = for_bob["timestamp"].as_u64().expect("timestamp in ms");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now.abs_diff(ts) < 60_000,
        "timestamp is ms since the epoch: {ts}"
    );

    send_json(&mut bob, json!({"type":"message","text":"hi"})).await;
    let second = recv_json(&mut alice).await;
    assert_eq!(second["userId"], b["userId"]);
    assert!(second["id"].as_u64().unwrap() > for_bob["id"].as_u64().unwrap());
    assert_eq!(recv_json(&mut bob).await, second);
}

#[tokio::test]
async fn chat_text_must_be_1_to_2000_characters_after_trimming() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    for bad in [json!("   "), json!(""), json!("x".repeat(2001)), json!(5)] {
        send_json(&mut ws, json!({"type":"message","text":bad})).await;
        let reply = recv_json(&mut ws).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some("invalid"))
        );
        assert!(reply["message"].is_string());
    }
    send_json(&mut ws, json!({"type":"message","text":"é".repeat(2000)})).await;
    assert_eq!(recv_json(&mut ws).await["type"], "message");
}

#[tokio::test]
async fn each_endpoint_answers_types_it_does_not_handle_with_unknown_type() {
    let server = TestServer::start(test_config()).await;
    let cases = [
        ("/ws/chat", json!({"type":"join","room":"a"})),
        (
            "/ws/typed-chat",
            json!({"type":"presence:update","cursor":null}),
        ),
        ("/ws/presence", json!({"type":"message","text":"hi"})),
        ("/ws/binary", json!({"type":"message","text":"hi"})),
    ];
    for (path, msg) in cases {
        let (mut ws, _) = connect(&server, path).await;
        if path == "/ws/presence" {
            recv_type(&mut ws, "presence:snapshot").await;
        }
        send_json(&mut ws, msg).await;
        let reply = recv_json(&mut ws).await;
        assert_eq!(reply["code"], "unknown_type", "{path}: {reply}");
        assert_alive_and_quiet(&mut ws).await;
    }
}

async fn join(ws: &mut Ws, room: &str) -> Value {
    join_room(ws, room, None).await.0
}

#[tokio::test]
async fn typed_chat_join_lists_members_and_tells_the_others() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/typed-chat?name=Alice").await;
    let (mut bob, b) = connect(&server, "/ws/typed-chat?name=Bob").await;

    let joined = join(&mut alice, "lobby").await;
    assert!(
        joined["epoch"].as_str().is_some_and(|e| !e.is_empty()),
        "{joined}"
    );
    assert_eq!(
        joined,
        json!({"type":"joined","room":"lobby","users":[a["userId"]],
               "members":[{"userId":a["userId"],"name":"Alice"}],
               "epoch":joined["epoch"],"seq":0})
    );
    let joined = join(&mut bob, "lobby").await;
    assert_eq!(joined["users"], json!([a["userId"], b["userId"]]));
    assert_eq!(
        joined["members"][1],
        json!({"userId":b["userId"],"name":"Bob"})
    );
    let told = recv_json(&mut alice).await;
    assert_eq!(
        told,
        json!({"type":"user:joined","room":"lobby","userId":b["userId"],"name":"Bob"})
    );
    // Bob is not told about himself.
    assert_alive_and_quiet(&mut bob).await;

    // Joining again just repeats the member list; nobody is told twice.
    let again = join(&mut bob, "lobby").await;
    assert_eq!(again["users"], json!([a["userId"], b["userId"]]));
    assert_alive_and_quiet(&mut alice).await;
}

#[tokio::test]
async fn typed_chat_messages_go_to_the_room_only_sender_included() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/typed-chat?name=Alice").await;
    let (mut bob, _) = connect(&server, "/ws/typed-chat").await;
    let (mut carol, c) = connect(&server, "/ws/typed-chat").await;
    join(&mut alice, "lobby").await;
    join(&mut bob, "lobby").await;
    recv_type(&mut alice, "user:joined").await;
    join(&mut carol, "kitchen").await;

    send_json(
        &mut alice,
        json!({"type":"message","room":"lobby","text":" hi all "}),
    )
    .await;
    let for_alice = recv_json(&mut alice).await;
    assert_eq!(for_alice["type"], "message");
    assert_eq!(for_alice["room"], "lobby");
    assert_eq!(for_alice["userId"], a["userId"]);
    assert_eq!(for_alice["name"], "Alice");
    assert_eq!(for_alice["text"], "hi all");
    assert!(for_alice["timestamp"].is_u64());
    assert_eq!(recv_json(&mut bob).await, for_alice);

    // Had Carol been subscribed to the lobby, Alice's message would be queued before this.
    send_json(
        &mut carol,
        json!({"type":"message","room":"kitchen","text":"only here"}),
    )
    .await;
    let first_for_carol = recv_json(&mut carol).await;
    assert_eq!(first_for_carol["userId"], c["userId"]);
    assert_eq!(first_for_carol["room"], "kitchen");
}

#[tokio::test]
async fn typing_goes_to_the_others_in_the_room_not_the_sender() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/typed-chat").await;
    let (mut bob, _) = connect(&server, "/ws/typed-chat").await;
    join(&mut alice, "r1").await;
    join(&mut bob, "r1").await;
    recv_type(&mut alice, "user:joined").await;

    send_json(
        &mut alice,
        json!({"type":"typing","room":"r1","isTyping":true}),
    )
    .await;
    assert_eq!(
        recv_json(&mut bob).await,
        json!({"type":"typing","room":"r1","userId":a["userId"],"isTyping":true})
    );
    assert_alive_and_quiet(&mut alice).await;
    send_json(
        &mut alice,
        json!({"type":"typing","room":"r1","isTyping":false}),
    )
    .await;
    assert_eq!(recv_json(&mut bob).await["isTyping"], false);
}

#[tokio::test]
async fn leave_tells_the_leaver_and_the_others_and_stops_delivery() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/typed-chat").await;
    let (mut bob, _) = connect(&server, "/ws/typed-chat").await;
    join(&mut alice, "r1").await;
    join(&mut bob, "r1").await;
    recv_type(&mut alice, "user:joined").await;

    send_json(&mut alice, json!({"type":"leave","room":"r1"})).await;
    assert_eq!(
        recv_json(&mut alice).await,
        json!({"type":"left","room":"r1","userId":a["userId"]})
    );
    assert_eq!(
        recv_json(&mut bob).await,
        json!({"type":"user:left","room":"r1","userId":a["userId"]})
    );

    send_json(
        &mut bob,
        json!({"type":"message","room":"r1","text":"anyone?"}),
    )
    .await;
    recv_type(&mut bob, "message").await;
    assert_alive_and_quiet(&mut alice).await;
    let joined = join(&mut bob, "r1").await;
    assert_eq!(
        joined["users"].as_array().unwrap().len(),
        1,
        "Alice is no longer a member"
    );
}

#[tokio::test]
async fn a_dropped_connection_leaves_every_room_it_was_in() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/typed-chat").await;
    let (mut bob, _) = connect(&server, "/ws/typed-chat").await;
    let (mut carol, _) = connect(&server, "/ws/typed-chat").await;
    join(&mut bob, "r1").await;
    join(&mut carol, "r2").await;
    join(&mut alice, "r1").await;
    join(&mut alice, "r2").await;
    recv_type(&mut bob, "user:joined").await;
    recv_type(&mut carol, "user:joined").await;

    drop(alice); // no close frame: the TCP connection just goes away
    let left = recv_type(&mut bob, "user:left").await;
    assert_eq!(
        left,
        json!({"type":"user:left","room":"r1","userId":a["userId"]})
    );
    let left = recv_type(&mut carol, "user:left").await;
    assert_eq!(
        left,
        json!({"type":"user:left","room":"r2","userId":a["userId"]})
    );
}

#[tokio::test]
async fn room_commands_for_rooms_not_joined_are_refused_with_not_in_room() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/typed-chat").await;
    for msg in [
        json!({"type":"message","room":"r9","text":"hi"}),
        json!({"type":"typing","room":"r9","isTyping":true}),
        json!({"type":"leave","room":"r9"}),
    ] {
        send_json(&mut ws, msg.clone()).await;
        let reply = recv_json(&mut ws).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some("not_in_room")),
            "{msg}"
        );
    }
    assert_alive_and_quiet(&mut ws).await;
}

#[tokio::test]
async fn bad_room_fields_are_invalid() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/typed-chat").await;
    for msg in [
        json!({"type":"join","room":"has space"}),
        json!({"type":"join","room":"x".repeat(33)}),
        json!({"type":"join"}),
        json!({"type":"message","text":"no room"}),
        json!({"type":"typing","room":"r","isTyping":"yes"}),
    ] {
        send_json(&mut ws, msg.clone()).await;
        assert_eq!(recv_json(&mut ws).await["code"], "invalid", "{msg}");
    }
    let joined = join(&mut ws, &"x".repeat(32)).await;
    assert_eq!(joined["room"], "x".repeat(32));
}

#[tokio::test]
async fn presence_snapshot_includes_self_and_the_others_hear_the_join() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, a) = connect(&server, "/ws/presence?name=Alice").await;
    let snapshot = recv_json(&mut alice).await;
    assert_eq!(snapshot["type"], "presence:snapshot");
    let users = snapshot["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["userId"], a["userId"]);
    assert_eq!(users[0]["name"], "Alice");
    assert!(users[0]["lastSeen"].is_u64());
    assert!(
        users[0].get("cursor").is_none(),
        "no cursor until one is sent"
    );

    let (mut bob, b) = connect(&server, "/ws/presence?name=Bob").await;
    let snapshot = recv_json(&mut bob).await;
    let ids: Vec<&Value> = snapshot["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["userId"])
        .collect();
    assert_eq!(ids, vec![&a["userId"], &b["userId"]]);
    let join = recv_json(&mut alice).await;
    assert_eq!(join["type"], "presence:join");
    assert_eq!(join["userId"], b["userId"]);
    assert_eq!(join["name"], "Bob");
    assert!(join["lastSeen"].is_u64());
    assert_alive_and_quiet(&mut bob).await;
}

#[tokio::test]
async fn presence_update_goes_to_the_others_with_the_cursor() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, _) = connect(&server, "/ws/presence").await;
    recv_type(&mut alice, "presence:snapshot").await;
    let (mut bob, b) = connect(&server, "/ws/presence").await;
    recv_type(&mut bob, "presence:snapshot").await;
    recv_type(&mut alice, "presence:join").await;

    // The seed's `roomId` naming the room Bob is in changes nothing but the cursor.
    send_json(
        &mut bob,
        json!({"type":"presence:update","roomId":"lobby","cursor":{"x":0.5,"y":0.25}}),
    )
    .await;
    let update = recv_json(&mut alice).await;
    assert_eq!(update["type"], "presence:update");
    assert_eq!(update["userId"], b["userId"]);
    assert_eq!(update["cursor"], json!({"x":0.5,"y":0.25}));
    assert!(update["lastSeen"].is_u64());
    assert_alive_and_quiet(&mut bob).await;

    // A new arrival sees the cursor in its snapshot.
    let (mut carol, _) = connect(&server, "/ws/presence").await;
    let snapshot = recv_json(&mut carol).await;
    let bob_entry = snapshot["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userId"] == b["userId"])
        .cloned();
    assert_eq!(bob_entry.unwrap()["cursor"], json!({"x":0.5,"y":0.25}));

    send_json(&mut bob, json!({"type":"presence:update","cursor":null})).await;
    let cleared = recv_type(&mut alice, "presence:update").await;
    assert!(
        cleared.get("cursor").is_none(),
        "a null cursor clears it: {cleared}"
    );
}

#[tokio::test]
async fn presence_cursor_must_be_finite_numbers() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/presence").await;
    recv_type(&mut ws, "presence:snapshot").await;
    for cursor in [
        json!({"x":"1","y":2}),
        json!({"x":1}),
        json!([0.1, 0.2]),
        json!("here"),
    ] {
        send_json(&mut ws, json!({"type":"presence:update","cursor":cursor})).await;
        assert_eq!(recv_json(&mut ws).await["code"], "invalid", "{cursor}");
    }
    send_text(
        &mut ws,
        r#"{"type":"presence:update","cursor":{"x":1e999,"y":0}}"#,
    )
    .await;
    assert_eq!(recv_json(&mut ws).await["type"], "error");
    assert_alive_and_quiet(&mut ws).await;
}

#[tokio::test]
async fn presence_closed_connection_leaves_at_once() {
    let server = TestServer::start(test_config()).await;
    let (mut alice, _) = connect(&server, "/ws/presence").await;
    recv_type(&mut alice, "presence:snapshot").await;
    let (mut bob, b) = connect(&server, "/ws/presence").await;
    recv_type(&mut alice, "presence:join").await;
    close_ws(&mut bob).await;
    let leave = recv_json(&mut alice).await;
    assert_eq!(leave, json!({"type":"presence:leave","userId":b["userId"]}));
    let (mut carol, _) = connect(&server, "/ws/presence").await;
    let snapshot = recv_json(&mut carol).await;
    assert_eq!(
        snapshot["users"].as_array().unwrap().len(),
        2,
        "Bob is gone: {snapshot}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_presence_client_is_dropped_after_the_ttl_while_a_pinging_one_stays() {
    let config = realtime_server::Config {
        presence_ttl_ms: 600,
        ..test_config()
    };
    let server = TestServer::start(config).await;
    let (mut talker, _) = connect(&server, "/ws/presence").await;
    let (mut silent, s) = connect(&server, "/ws/presence").await;
    let started = tokio::time::Instant::now();

    let heartbeat = async {
        // Keep pinging through two TTLs; collect what arrives meanwhile.
        let mut seen = Vec::new();
        while started.elapsed() < Duration::from_millis(1500) {
            send_json(&mut talker, json!({"type":"ping"})).await;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
            while let Ok(v) = tokio::time::timeout_at(deadline, recv_json(&mut talker)).await {
                seen.push(v);
            }
        }
        seen
    };
    let (seen, (code, _)) = tokio::join!(heartbeat, recv_close(&mut silent, WAIT));
    assert_eq!(
        code, 1001,
        "the silent client is told to go away (and may reconnect)"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500),
        "not before the TTL: {elapsed:?}"
    );
    assert!(
        seen.iter()
            .any(|v| v["type"] == "presence:leave" && v["userId"] == s["userId"]),
        "the others see the silent client leave: {seen:?}"
    );
    let ticks = seen.iter().filter(|v| v["type"] == "presence:tick").count();
    assert!(
        ticks >= 3,
        "a tick every TTL/3 (200 ms) over 1.5 s, got {ticks}: {seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|v| v["type"] == "presence:snapshot")
            .count()
            <= 1,
        "only the arrival snapshot, no periodic one: the refresh is one small frame"
    );
    assert_alive(&mut talker).await;
}

#[tokio::test]
async fn binary_frames_are_echoed_byte_for_byte_up_to_one_mebibyte() {
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/binary").await;
    for size in [0usize, 1, 125, 65_536, 300_000, 1_048_576] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        send_msg(&mut ws, Message::binary(payload.clone())).await;
        assert_eq!(recv_binary(&mut ws).await, payload, "size {size}");
    }
    // Text frames on the binary endpoint follow the common rules.
    send_json(&mut ws, json!({"type":"ping","n":1})).await;
    assert_eq!(recv_json(&mut ws).await, json!({"type":"pong","n":1}));
}

#[tokio::test]
async fn healthz_answers_200_with_status_ok_and_counts_open_connections() {
    let server = TestServer::start(test_config()).await;
    let (head, body) = http(server.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"status":"ok","connections":0,"broker":{"kind":"in-process","state":"ok"}})
    );
    assert_eq!(head.header("content-type"), Some("application/json"));

    let (ws, _welcome) = connect(&server, "/ws/chat").await;
    let (_, body) = http(server.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["connections"],
        1
    );
    drop(ws);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = http(server.addr, "GET", "/healthz", &[], b"").await;
        if serde_json::from_slice::<Value>(&body).unwrap()["connections"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 5 s for the closed socket to be counted out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client's member list the way the typed-chat page keeps it: `joined` replaces it, then
/// `user:joined` / `user:left` edit it; events before `joined` are for a room it is not in yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_joins_leave_every_client_with_the_full_member_list() {
    const CLIENTS: usize = 40;
    let server = TestServer::start(test_config()).await;
    let mut sockets = Vec::new();
    let mut ids = Vec::new();
    for i in 0..CLIENTS {
        let (ws, welcome) = connect(&server, &format!("/ws/typed-chat?name=P{i}")).await;
        ids.push(welcome["userId"].as_str().unwrap().to_string());
        sockets.push(ws);
    }
    let everyone: std::collections::BTreeSet<String> = ids.into_iter().collect();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let start = start.clone();
        let everyone = everyone.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            send_json(&mut ws, json!({"type": "join", "room": "crowd"})).await;
            let mut view: Option<std::collections::BTreeSet<String>> = None;
            let deadline = tokio::time::Instant::now() + WAIT;
            while view.as_ref() != Some(&everyone) {
                let Ok(frame) = tokio::time::timeout_at(deadline, recv_json(&mut ws)).await else {
                    return view.map_or(0, |v| v.len());
                };
                let id = frame["userId"].as_str().unwrap_or_default().to_string();
                match (frame["type"].as_str(), view.as_mut()) {
                    (Some("joined"), _) => {
                        view = Some(
                            frame["users"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|u| u.as_str().unwrap().to_string())
                                .collect(),
                        )
                    }
                    (Some("user:joined"), Some(v)) => {
                        v.insert(id);
                    }
                    (Some("user:left"), Some(v)) => {
                        v.remove(&id);
                    }
                    _ => {}
                }
            }
            CLIENTS
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            CLIENTS,
            "a client's member list missed someone who joined at the same moment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_rooms_keep_their_traffic_and_the_refresh_is_not_n_squared() {
    const ROOMS: usize = 10;
    const PER_ROOM: usize = 20;
    let config = realtime_server::Config {
        presence_ttl_ms: 900,
        max_connections_per_ip: 1000,
        ..test_config()
    };
    let server = TestServer::start(config).await;
    let mut clients = Vec::new();
    for room in 0..ROOMS {
        for i in 0..PER_ROOM {
            let (mut ws, welcome) =
                connect(&server, &format!("/ws/presence?room=r{room}&name=P{i}")).await;
            let arrival = recv_type(&mut ws, "presence:snapshot").await;
            assert_eq!(
                arrival["users"].as_array().map(Vec::len),
                Some(i + 1),
                "this room only"
            );
            clients.push((
                room,
                welcome["userId"].as_str().unwrap_or_default().to_string(),
                ws,
            ));
        }
    }
    // Everyone moves once; then everyone reads for 1.5 s (five refreshes), pinging to stay.
    for (_, _, ws) in clients.iter_mut() {
        send_json(
            ws,
            json!({"type": "presence:update", "cursor": {"x": 0.5, "y": 0.5}}),
        )
        .await;
    }
    let members: Vec<(usize, String)> = clients.iter().map(|(r, id, _)| (*r, id.clone())).collect();
    let reads = clients.into_iter().map(|(room, _, mut ws)| {
        let members = members.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let (mut foreign, mut tick_bytes, mut ticks) = (0, 0, 0);
            let mut next_ping = started;
            while started.elapsed() < Duration::from_millis(1500) {
                if tokio::time::Instant::now() >= next_ping {
                    send_json(&mut ws, json!({"type": "ping"})).await;
                    next_ping += Duration::from_millis(250);
                }
                let Ok(text) =
                    tokio::time::timeout(Duration::from_millis(50), recv_text(&mut ws)).await
                else {
                    continue;
                };
                let v: Value = serde_json::from_str(&text).expect("JSON");
                let about = v["userId"].as_str().unwrap_or_default();
                if !about.is_empty() && v["type"] != "welcome" {
                    let theirs = members.iter().find(|(_, id)| id == about).map(|(r, _)| *r);
                    if theirs != Some(room) {
                        foreign += 1;
                    }
                }
                if v["type"] == "presence:tick" {
                    ticks += 1;
                    tick_bytes += text.len();
                }
                assert_ne!(v["type"], "presence:snapshot", "no periodic snapshot");
            }
            (foreign, ticks, tick_bytes)
        })
    });
    let mut total_tick_bytes = 0;
    for read in reads.collect::<Vec<_>>() {
        let (foreign, ticks, tick_bytes) = read.await.expect("reader");
        assert_eq!(foreign, 0, "a client heard about someone from another room");
        assert!(
            ticks >= 3,
            "the refresh reached every client ({ticks} ticks)"
        );
        total_tick_bytes += tick_bytes;
    }
    // The old refresh sent every client the whole board (200 entries of ~90 bytes) each time:
    // ~3.6 MB per refresh here. Now one small frame per client.
    let per_refresh = total_tick_bytes / 5;
    assert!(
        per_refresh < ROOMS * PER_ROOM * 40,
        "refresh bytes per round {per_refresh} (O(clients), not O(clients²))"
    );
}
