//! Scale-out through Redis: two real `realtime-server` processes sharing one real
//! `redis-server` (Debian's, installed by `scripts/setup.sh`), each started here on a free
//! loopback port and stopped at the end; plus nginx in front of both for the load-balancer
//! example in `server/deploy/nginx.conf`; and the shared store (`Backend::store`) of two
//! backends on one Redis. Every wait is bounded.
//!
//! Without `redis-server` (or nginx) on the machine these tests fail with a message saying how
//! to install it; they are never skipped.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::redis_server::{find_binary, free_port, scratch_dir, Proc, Redis};
use common::*;
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

/// Waits on health states and on things that cross two processes and Redis.
const SLOW_WAIT: Duration = Duration::from_secs(10);

/// nginx and its scratch folder, stopped with SIGTERM and removed on drop (a SIGKILLed master
/// would leave its worker running).
struct Nginx(Proc, PathBuf);

impl Drop for Nginx {
    fn drop(&mut self) {
        self.0.signal("TERM");
        let deadline = std::time::Instant::now() + WAIT;
        while self.0.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// One `realtime-server` process using Redis.
struct Instance {
    addr: SocketAddr,
    proc: Proc,
}

impl Instance {
    fn start(redis_url: &str, prefix: &str, args: &[&str]) -> Instance {
        Self::start_at(redis_url, prefix, "127.0.0.1:0", args)
    }

    fn start_at(redis_url: &str, prefix: &str, addr: &str, args: &[&str]) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-server"))
            .args(["--addr", addr, "--demo-interval-ms", "0"])
            .args(["--redis-prefix", prefix])
            .args(args)
            // The variable most hosts set; the flag form is covered by the config tests.
            .env("REDIS_URL", redis_url)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn realtime-server");
        let stdout = child.stdout.take().expect("stdout");
        let proc = Proc(Some(child));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(WAIT)
            .expect("the server prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Instance { addr, proc }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    async fn health(&self) -> Value {
        let (head, body) = http(self.addr, "GET", "/healthz", &[], b"").await;
        assert_eq!(head.status, 200, "/healthz answers 200 even when degraded");
        serde_json::from_slice(&body).expect("healthz JSON")
    }

    /// Waits until `/healthz` reports `status` (`ok` or `degraded`).
    async fn wait_status(&self, status: &str) -> Value {
        let deadline = Instant::now() + SLOW_WAIT;
        loop {
            let health = self.health().await;
            if health["status"] == status {
                return health;
            }
            assert!(
                Instant::now() < deadline,
                "status never became {status}: {health}"
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ws(&self, path: &str) -> (Ws, Value) {
        let mut ws = try_connect(&self.url(path), None).await.expect("connect");
        let welcome = recv_json(&mut ws).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        (ws, welcome)
    }
}

/// A prefix of its own per test, so tests sharing nothing also share no keys.
fn prefix(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// Receives frames until one matches, failing after `SLOW_WAIT`.
async fn recv_until(ws: &mut Ws, what: &str, mut matches: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SLOW_WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, recv_json(ws))
            .await
            .unwrap_or_else(|_| panic!("never received {what}"));
        if matches(&frame) {
            return frame;
        }
    }
}

/// Texts of the chat messages arriving within `quiet` (the socket is otherwise idle) whose
/// `seq` is not in `seen` — a message re-delivered after an outage (the refill) is one the
/// client already has, dropped by `seq` as clients do — each added to `seen`.
async fn chat_texts_within(ws: &mut Ws, quiet: Duration, seen: &mut Vec<u64>) -> Vec<String> {
    let mut texts = Vec::new();
    while let Ok(frame) = tokio::time::timeout(quiet, recv_json(ws)).await {
        let seq = frame["seq"].as_u64().unwrap_or(0);
        if frame["type"] == "message" && !seen.contains(&seq) {
            seen.push(seq);
            texts.push(frame["text"].as_str().unwrap_or_default().to_string());
        }
    }
    texts
}

async fn post_notification(addr: SocketAddr, message: &str) -> (u16, Value) {
    post_json(
        addr,
        "/api/notifications",
        &json!({"title": "T", "message": message}),
    )
    .await
}

async fn next_notification(sse: &mut Sse) -> SseEvent {
    tokio::time::timeout(SLOW_WAIT, sse.next_event())
        .await
        .expect("an SSE event in time")
        .expect("the stream stays open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_crosses_instances_through_redis() {
    let redis = Redis::start().await;
    let p = prefix("cross");
    let one = Instance::start(&redis.url(), &p, &[]);
    let two = Instance::start(&redis.url(), &p, &[]);
    let health = one.wait_status("ok").await;
    assert_eq!(health["broker"]["kind"], "redis", "{health}");
    two.wait_status("ok").await;

    // Chat: each side sees what the other sent.
    let (mut a, a_welcome) = one.ws("/ws/chat?name=Ada").await;
    let (mut b, b_welcome) = two.ws("/ws/chat?name=Grace").await;
    assert_ne!(
        a_welcome["userId"], b_welcome["userId"],
        "user ids are unique across instances"
    );
    send_json(&mut b, json!({"type": "message", "text": "from two"})).await;
    let got = recv_until(&mut a, "chat from instance 2", |f| f["type"] == "message").await;
    assert_eq!(
        (got["text"].as_str(), got["name"].as_str()),
        (Some("from two"), Some("Grace"))
    );
    send_json(&mut a, json!({"type": "message", "text": "from one"})).await;
    recv_until(&mut b, "chat from instance 1", |f| f["text"] == "from one").await;

    // Typed chat: members across instances, joins, messages and typing.
    let (mut ta, ta_welcome) = one.ws("/ws/typed-chat?name=Ada").await;
    let (mut tb, tb_welcome) = two.ws("/ws/typed-chat?name=Grace").await;
    send_json(&mut ta, json!({"type": "join", "room": "r"})).await;
    recv_until(&mut ta, "joined", |f| f["type"] == "joined").await;
    send_json(&mut tb, json!({"type": "join", "room": "r"})).await;
    let joined = recv_until(&mut tb, "joined", |f| f["type"] == "joined").await;
    assert_eq!(
        joined["users"],
        json!([ta_welcome["userId"], tb_welcome["userId"]]),
        "the member list holds both instances' users in arrival order: {joined}"
    );
    let seen = recv_until(&mut ta, "user:joined", |f| f["type"] == "user:joined").await;
    assert_eq!(seen["userId"], tb_welcome["userId"]);
    send_json(
        &mut tb,
        json!({"type": "typing", "room": "r", "isTyping": true}),
    )
    .await;
    let typing = recv_until(&mut ta, "typing", |f| f["type"] == "typing").await;
    assert_eq!(typing["isTyping"], true);
    send_json(
        &mut tb,
        json!({"type": "message", "room": "r", "text": "hi room"}),
    )
    .await;
    recv_until(&mut ta, "room message", |f| f["text"] == "hi room").await;

    // Presence: the snapshot lists users of both instances; moves and leaves cross too.
    let (mut pa, pa_welcome) = one.ws("/ws/presence?name=Ada").await;
    // Ada's entry is stored by the time her own snapshot comes (welcome comes before that).
    recv_until(&mut pa, "own snapshot", |f| {
        f["type"] == "presence:snapshot"
    })
    .await;
    let (mut pb, pb_welcome) = two.ws("/ws/presence?name=Grace").await;
    let snapshot = recv_until(&mut pb, "snapshot", |f| f["type"] == "presence:snapshot").await;
    let ids: Vec<&Value> = snapshot["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| &u["userId"])
        .collect();
    assert!(
        ids.contains(&&pa_welcome["userId"]) && ids.contains(&&pb_welcome["userId"]),
        "{snapshot}"
    );
    recv_until(&mut pa, "presence:join", |f| {
        f["type"] == "presence:join" && f["userId"] == pb_welcome["userId"]
    })
    .await;
    send_json(
        &mut pb,
        json!({"type": "presence:update", "cursor": {"x": 0.25, "y": 0.75}}),
    )
    .await;
    let moved = recv_until(&mut pa, "presence:update", |f| {
        f["type"] == "presence:update"
    })
    .await;
    assert_eq!(moved["cursor"], json!({"x": 0.25, "y": 0.75}));
    close_ws(&mut pb).await;
    recv_until(&mut pa, "presence:leave", |f| {
        f["type"] == "presence:leave" && f["userId"] == pb_welcome["userId"]
    })
    .await;

    // Notifications: posted on one instance, streamed by the other, id = Redis stream id.
    let mut sse = Sse::connect(one.addr, "/sse/notifications", &[]).await;
    let (status, posted) = post_notification(two.addr, "across").await;
    assert_eq!(status, 202, "{posted}");
    let event = next_notification(&mut sse).await;
    assert_eq!(event.json()["message"], "across");
    assert_eq!(event.id.as_deref(), posted["id"].as_str());
    let id = event.id.unwrap_or_default();
    assert!(
        id.split_once('-')
            .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()),
        "SSE ids are stream ids: {id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_on_the_other_instance_and_after_restarting_both() {
    let redis = Redis::start().await;
    let p = prefix("resume");
    let buffer = ["--sse-buffer", "4"];
    let mut one = Instance::start(&redis.url(), &p, &buffer);
    let mut two = Instance::start(&redis.url(), &p, &buffer);
    one.wait_status("ok").await;
    two.wait_status("ok").await;

    let mut ids = Vec::new();
    for i in 1..=3 {
        let (status, posted) = post_notification(one.addr, &format!("n{i}")).await;
        assert_eq!(status, 202);
        ids.push(posted["id"].as_str().expect("id").to_string());
    }
    // Resume on instance 2 from the first: exactly the two missed, in order.
    let mut sse = Sse::connect(
        two.addr,
        "/sse/notifications",
        &[("Last-Event-ID", ids[0].as_str())],
    )
    .await;
    for want in &ids[1..] {
        let event = next_notification(&mut sse).await;
        assert_eq!(
            (event.event.as_deref(), event.id.as_ref()),
            (Some("notification"), Some(want))
        );
    }
    // A live one after the replay arrives once.
    let (_, fourth) = post_notification(one.addr, "n4").await;
    let live = next_notification(&mut sse).await;
    assert_eq!(live.id.as_deref(), fourth["id"].as_str());
    ids.push(live.id.unwrap_or_default());
    drop(sse);

    // Restart both instances: the stream lives in Redis, so resume still works.
    assert!(one.proc.stop("TERM").success());
    assert!(two.proc.stop("TERM").success());
    let one = Instance::start(&redis.url(), &p, &buffer);
    let two = Instance::start(&redis.url(), &p, &buffer);
    one.wait_status("ok").await;
    two.wait_status("ok").await;
    let mut sse = Sse::connect(
        one.addr,
        "/sse/notifications",
        &[("Last-Event-ID", ids[2].as_str())],
    )
    .await;
    let event = next_notification(&mut sse).await;
    assert_eq!(
        (event.id.as_ref(), event.event.as_deref()),
        (Some(&ids[3]), Some("notification")),
        "exactly the one missed, no reset: {event:?}"
    );
    drop(sse);

    // Two more overflow the 4-entry stream: resuming from the first id is too old.
    for i in 5..=6 {
        post_notification(two.addr, &format!("n{i}")).await;
    }
    let mut sse = Sse::connect(
        two.addr,
        "/sse/notifications",
        &[("Last-Event-ID", ids[0].as_str())],
    )
    .await;
    let reset = next_notification(&mut sse).await;
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(reset.json()["reason"], "too_old");
    let kept: Vec<String> = {
        let mut kept = Vec::new();
        for _ in 0..4 {
            kept.push(
                next_notification(&mut sse).await.json()["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        kept
    };
    assert_eq!(kept, ["n3", "n4", "n5", "n6"]);
    drop(sse);

    // An id this stream never issued (from the future, or not an id at all).
    for unknown in ["99999999999999-0", "abc-1"] {
        let mut sse = Sse::connect(
            one.addr,
            "/sse/notifications",
            &[("Last-Event-ID", unknown)],
        )
        .await;
        let reset = next_notification(&mut sse).await;
        assert_eq!(
            (reset.event.as_deref(), reset.json()["reason"].as_str()),
            (Some("reset"), Some("unknown_run")),
            "{unknown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instances_users_leave_the_presence_list_after_the_ttl() {
    let redis = Redis::start().await;
    let p = prefix("crash");
    let ttl = ["--presence-ttl-ms", "900"];
    let one = Instance::start(&redis.url(), &p, &ttl);
    let mut two = Instance::start(&redis.url(), &p, &ttl);
    one.wait_status("ok").await;
    two.wait_status("ok").await;

    // In a typed-chat room too: the room must learn that the doomed member is gone.
    let (mut room_watcher, _) = one.ws("/ws/typed-chat?name=Watcher").await;
    send_json(&mut room_watcher, json!({"type": "join", "room": "r"})).await;
    recv_until(&mut room_watcher, "joined", |f| f["type"] == "joined").await;
    let (mut room_doomed, room_doomed_welcome) = two.ws("/ws/typed-chat?name=Doomed").await;
    send_json(&mut room_doomed, json!({"type": "join", "room": "r"})).await;
    recv_until(&mut room_watcher, "user:joined", |f| {
        f["type"] == "user:joined"
    })
    .await;

    let (mut watcher, _) = one.ws("/ws/presence?name=Watcher").await;
    let (_doomed, doomed_welcome) = two.ws("/ws/presence?name=Doomed").await;
    let doomed_id = doomed_welcome["userId"].clone();
    recv_until(&mut watcher, "the other instance's user joining", |f| {
        f["type"] == "presence:join" && f["userId"] == doomed_id
    })
    .await;
    // The watcher keeps itself alive (presence sockets must talk within the TTL).
    let crashed_at = Instant::now();
    two.proc.stop("KILL");
    let deadline = crashed_at + SLOW_WAIT;
    let mut next_ping = Instant::now();
    loop {
        if Instant::now() >= next_ping {
            send_json(&mut watcher, json!({"type": "ping"})).await;
            next_ping += Duration::from_millis(200);
        }
        let Ok(frame) =
            tokio::time::timeout(Duration::from_millis(200), recv_json(&mut watcher)).await
        else {
            assert!(
                Instant::now() < deadline,
                "the crashed user is never dropped"
            );
            continue;
        };
        if frame["type"] == "presence:leave" && frame["userId"] == doomed_id {
            break;
        }
    }
    let gone_after = crashed_at.elapsed();
    // Its key expires within one TTL; the next refresh (every TTL/3) announces it.
    assert!(
        gone_after < Duration::from_millis(900 + 300 + 1_000),
        "took {gone_after:?}"
    );
    // The room hears `user:left` for the crashed member from the sweep (same cadence).
    let left = recv_until(&mut room_watcher, "user:left for the crashed member", |f| {
        f["type"] == "user:left"
    })
    .await;
    assert_eq!(left["userId"], room_doomed_welcome["userId"]);
    assert!(
        crashed_at.elapsed() < Duration::from_millis(900 + 300 + 1_500),
        "took {:?}",
        crashed_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopping_and_coming_back_degrades_then_recovers_without_duplicates() {
    let mut redis = Redis::start().await;
    let p = prefix("outage");
    let mut one = Instance::start(&redis.url(), &p, &[]);
    let mut two = Instance::start(&redis.url(), &p, &[]);
    one.wait_status("ok").await;
    two.wait_status("ok").await;
    let (mut a, _) = one.ws("/ws/chat?name=Ada").await;
    let (mut b, _) = two.ws("/ws/chat?name=Grace").await;
    let mut sse = Sse::connect(one.addr, "/sse/notifications", &[]).await;

    send_json(&mut b, json!({"type": "message", "text": "m1"})).await;
    let m1 = recv_until(&mut a, "m1", |f| f["text"] == "m1").await;
    let (mut seen_a, mut seen_b) = (vec![m1["seq"].as_u64().unwrap_or(0)], Vec::new());
    seen_b.extend(seen_a.iter().copied());

    redis.stop();
    let degraded = one.wait_status("degraded").await;
    assert_eq!(degraded["broker"]["state"], "degraded", "{degraded}");
    assert!(degraded["broker"]["lastError"].is_string(), "{degraded}");
    two.wait_status("degraded").await;
    // Alive (/healthz 200) but not ready: a load balancer sends new clients elsewhere.
    let (head, body) = http(one.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(head.status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("degraded"));

    // A chat message cannot get its place in the shared history: a clear `unavailable` (the
    // client keeps it and says so), never a message other instances could not replay.
    send_json(
        &mut b,
        json!({"type": "message", "text": "m2", "clientId": "c-m2"}),
    )
    .await;
    let refused = recv_until(&mut b, "m2 refused", |f| f["type"] == "error").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    // A notification cannot be stored: a clear 503, not a hang.
    let (status, body) = post_notification(two.addr, "during outage").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")));
    // A fresh SSE stream is served from the live tail; only a resume needs Redis (503).
    let mut fresh = Sse::connect(two.addr, "/sse/notifications", &[]).await;
    assert_eq!(
        fresh.head.status, 200,
        "a connect without Last-Event-ID works while degraded"
    );
    let resume = Sse::connect(two.addr, "/sse/notifications", &[("Last-Event-ID", "x-1")]).await;
    assert_eq!(resume.head.status, 503, "a resume needs the stream");

    redis.restart().await;
    let recovered = one.wait_status("ok").await;
    let (head, _) = http(one.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(head.status, 200, "ready again once Redis is back");
    assert!(
        recovered["broker"]["reconnects"].as_u64() >= Some(1),
        "{recovered}"
    );
    two.wait_status("ok").await;
    // The stream opened during the outage gets what is published after it.
    let (status, _) = post_notification(one.addr, "after the outage").await;
    assert_eq!(status, 202);
    let event = next_notification(&mut fresh).await;
    assert_eq!(event.json()["message"], "after the outage");
    let event = next_notification(&mut sse).await;
    assert_eq!(
        event.json()["message"],
        "after the outage",
        "the older stream gets it too"
    );

    send_json(&mut b, json!({"type": "message", "text": "m3"})).await;
    send_json(&mut a, json!({"type": "message", "text": "m4"})).await;
    let mut texts_a = chat_texts_within(&mut a, Duration::from_millis(1_500), &mut seen_a).await;
    // Two senders on two instances: each one's order holds, their interleaving may differ.
    texts_a.sort();
    assert_eq!(
        texts_a,
        ["m3", "m4"],
        "after recovery: m3 once, m4 once, m2 never replayed late"
    );
    let mut texts_b = chat_texts_within(&mut b, Duration::from_millis(300), &mut seen_b).await;
    texts_b.sort();
    assert_eq!(texts_b, ["m3", "m4"]);

    // Notifications flow again, to a stream opened before the outage, and resume still works.
    let (status, posted) = post_notification(two.addr, "after").await;
    assert_eq!(status, 202);
    let event = next_notification(&mut sse).await;
    assert_eq!(
        (event.id.as_deref(), event.json()["message"].as_str()),
        (posted["id"].as_str(), Some("after"))
    );
    assert!(one.proc.is_running() && two.proc.is_running(), "no crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_balances_two_instances_with_websocket_upgrade_and_sse_streaming() {
    let redis = Redis::start().await;
    let p = prefix("nginx");
    let one = Instance::start(&redis.url(), &p, &[]);
    let two = Instance::start(&redis.url(), &p, &[]);
    one.wait_status("ok").await;
    two.wait_status("ok").await;

    let listen = free_port();
    let dir = scratch_dir("nginx");
    let config = include_str!("../deploy/nginx.conf")
        .replace("@PREFIX@", &dir.display().to_string())
        .replace("@LISTEN@", &listen.to_string())
        .replace("@INSTANCE_1@", &one.addr.port().to_string())
        .replace("@INSTANCE_2@", &two.addr.port().to_string());
    for marker in ["@PREFIX@", "@LISTEN@", "@INSTANCE_1@", "@INSTANCE_2@"] {
        assert!(!config.contains(marker), "{marker} replaced");
    }
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config).expect("write nginx.conf");
    let nginx = find_binary("nginx", &["/usr/sbin/nginx"]);
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let _nginx = Nginx(Proc(Some(child)), dir.clone());
    let front = SocketAddr::from(([127, 0, 0, 1], listen));
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(front).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: see {dir:?}/error.log"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let front_ws = |path: &str| format!("ws://{front}{path}");

    // Round robin puts consecutive sockets on different instances (user ids name them).
    let mut sockets = Vec::new();
    let mut instances = std::collections::BTreeSet::new();
    for i in 0..6 {
        let mut ws = try_connect(&front_ws(&format!("/ws/chat?name=P{i}")), None)
            .await
            .expect("WebSocket upgrade through nginx");
        let welcome = recv_json(&mut ws).await;
        let id = welcome["userId"].as_str().unwrap_or_default().to_string();
        instances.insert(id.split_once('@').map(|(_, inst)| inst.to_string()));
        sockets.push(ws);
        if instances.len() == 2 {
            break;
        }
    }
    assert_eq!(instances.len(), 2, "sockets landed on both instances");
    let mut last = sockets.pop().expect("one socket");
    let mut first = sockets.remove(0);
    send_json(
        &mut last,
        json!({"type": "message", "text": "through nginx"}),
    )
    .await;
    recv_until(&mut first, "the message on the other instance", |f| {
        f["text"] == "through nginx"
    })
    .await;

    // SSE through nginx: events arrive as they are published, not when a buffer fills.
    let mut sse = Sse::connect(front, "/sse/notifications", &[]).await;
    assert_eq!(sse.head.status, 200);
    sleep(Duration::from_millis(200)).await;
    let sent_at = Instant::now();
    let (status, posted) = post_notification(front, "streamed").await;
    assert_eq!(status, 202);
    let event = next_notification(&mut sse).await;
    assert_eq!(event.id.as_deref(), posted["id"].as_str());
    assert!(
        sent_at.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_store_keeps_counters_and_values_in_redis_for_every_instance() {
    use realtime_server::redis_backend::{connect, RedisOptions};
    let redis = Redis::start().await;
    let options = |prefix: &str| RedisOptions {
        url: redis.url(),
        prefix: prefix.to_string(),
        stream_maxlen: 16,
        presence_ttl: Duration::from_secs(5),
        history: Default::default(),
        ca_file: None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let p = prefix("store");
    let one = connect(options(&p), stop.clone())
        .await
        .expect("backend one");
    let two = connect(options(&p), stop.clone())
        .await
        .expect("backend two");
    let other_app = connect(options(&format!("{p}-other")), stop.clone())
        .await
        .expect("backend of another app");

    assert_eq!(one.store.incr("poll:a", 1).await.ok(), Some(1));
    assert_eq!(two.store.incr("poll:a", 2).await.ok(), Some(3));
    assert_eq!(one.store.incr("poll:a", -1).await.ok(), Some(2));
    assert_eq!(
        two.store.get("poll:a").await.ok().flatten().as_deref(),
        Some("2")
    );
    two.store.set("poll:title", "Lunch?").await.expect("set");
    assert_eq!(
        one.store.get("poll:title").await.ok().flatten().as_deref(),
        Some("Lunch?")
    );
    assert!(
        one.store.incr("poll:title", 1).await.is_err(),
        "not an integer"
    );
    assert_eq!(one.store.get("poll:none").await.ok(), Some(None));
    // Keys live under the prefix, so another app on the same Redis has its own.
    assert_eq!(other_app.store.get("poll:a").await.ok(), Some(None));
    stop.cancel();
}

/// Reads a chat connection's arrival replay: the history, then `replayed`.
async fn chat_arrival(ws: &mut Ws) -> (Vec<Value>, Value) {
    recv_replay(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_grows_by_exactly_one_under_concurrent_senders_on_two_instances() {
    let redis = Redis::start().await;
    let p = prefix("seq");
    let fast = ["--rate-per-sec", "100000", "--rate-burst", "100000"];
    let one = Instance::start(&redis.url(), &p, &fast);
    let two = Instance::start(&redis.url(), &p, &fast);
    one.wait_status("ok").await;
    two.wait_status("ok").await;
    const SENDERS: usize = 8;
    const EACH: usize = 1_250;
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let url = if s % 2 == 0 {
            one.url("/ws/typed-chat")
        } else {
            two.url("/ws/typed-chat")
        };
        tasks.push(tokio::spawn(async move {
            let mut ws = try_connect(&url, None).await.expect("connect");
            recv_type(&mut ws, "welcome").await;
            join_room(&mut ws, "busy", None).await;
            let mut acked = Vec::with_capacity(EACH);
            // In windows of 50, so no queue ever holds a whole burst.
            for window in 0..EACH / 50 {
                for i in 0..50 {
                    let n = window * 50 + i;
                    send_json(
                        &mut ws,
                        json!({"type": "message", "room": "busy", "text": format!("s{s}-{n}"), "clientId": format!("s{s}-{n}")}),
                    )
                    .await;
                }
                while acked.len() < (window + 1) * 50 {
                    let frame = recv_json(&mut ws).await;
                    if frame["type"] == "ack" {
                        acked.push(frame["seq"].as_u64().expect("ack seq"));
                    }
                }
            }
            acked
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let acked = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("senders finish")
            .expect("sender task");
        // One sender's messages are in its own order.
        assert!(acked.windows(2).all(|w| w[0] < w[1]), "per-sender order");
        all.extend(acked);
    }
    all.sort_unstable();
    let total = (SENDERS * EACH) as u64;
    assert_eq!(all.len() as u64, total);
    assert_eq!(all, (1..=total).collect::<Vec<_>>(), "no gap, no duplicate");
    // A newcomer on either instance sees the same newest history with the same seqs.
    let (mut late, _) = one.ws("/ws/typed-chat").await;
    let (joined, history, _) = join_room(&mut late, "busy", None).await;
    assert_eq!(joined["seq"].as_u64(), Some(total));
    let (mut late2, _) = two.ws("/ws/typed-chat").await;
    let (joined2, history2, _) = join_room(&mut late2, "busy", None).await;
    assert_eq!(
        (joined2["epoch"].as_str(), &history2),
        (joined["epoch"].as_str(), &history)
    );
    assert_eq!(history.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_instance_dies_recovers_everything_on_the_other() {
    let redis = Redis::start().await;
    let p = prefix("recover");
    let one = Instance::start(&redis.url(), &p, &[]);
    let two = Instance::start(&redis.url(), &p, &[]);
    one.wait_status("ok").await;
    two.wait_status("ok").await;
    let (mut ada, _) = one.ws("/ws/chat?name=Ada").await;
    chat_arrival(&mut ada).await;
    let (mut bo, welcome) = two.ws("/ws/chat?name=Bo").await;
    chat_arrival(&mut bo).await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    send_json(&mut ada, json!({"type": "message", "text": "hello"})).await;
    let seen = recv_until(&mut bo, "hello", |f| f["type"] == "message").await;
    let position = format!("{epoch}:{}", seen["seq"]);

    drop(two);
    for i in 1..=20 {
        send_json(
            &mut ada,
            json!({"type": "message", "text": format!("m{i}")}),
        )
        .await;
    }
    for _ in 0..20 {
        recv_until(&mut ada, "own echo", |f| f["type"] == "message").await;
    }
    let (mut bo, welcome) = one.ws(&format!("/ws/chat?since={position}")).await;
    assert_eq!(
        welcome["epoch"].as_str(),
        Some(&*epoch),
        "one epoch for every instance"
    );
    let (missed, replayed) = chat_arrival(&mut bo).await;
    let texts: Vec<&str> = missed.iter().filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(texts, (1..=20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(
        (
            replayed["recovered"].as_bool(),
            replayed["from"].as_u64(),
            replayed["to"].as_u64()
        ),
        (Some(true), Some(2), Some(21))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_its_data_starts_a_new_epoch() {
    let redis = Redis::start().await;
    let p = prefix("lost");
    let one = Instance::start(&redis.url(), &p, &[]);
    one.wait_status("ok").await;
    let (mut ada, welcome) = one.ws("/ws/chat").await;
    chat_arrival(&mut ada).await;
    let epoch = welcome["epoch"].as_str().expect("epoch").to_string();
    send_json(&mut ada, json!({"type": "message", "text": "before"})).await;
    recv_until(&mut ada, "echo", |f| f["type"] == "message").await;
    let flushed = Command::new(find_binary("redis-cli", &[]))
        .args(["-u", &redis.url(), "FLUSHALL"])
        .status()
        .expect("redis-cli");
    assert!(flushed.success());
    let (mut bo, welcome) = one.ws(&format!("/ws/chat?since={epoch}:1")).await;
    assert_ne!(welcome["epoch"].as_str(), Some(&*epoch));
    assert_eq!(welcome["seq"], 0);
    let (history, replayed) = chat_arrival(&mut bo).await;
    assert!(history.is_empty());
    assert_eq!(replayed["reason"], "epoch", "{replayed}");
}

/// A TCP relay to Redis that can go half-open for one connection: once `blackhole` is set, the
/// first connection that subscribed (`PSUBSCRIBE`) keeps its socket but receives nothing more,
/// as when a NAT or a peer forgets a link without resetting it.
struct HalfOpenRelay {
    port: u16,
    blackhole: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HalfOpenRelay {
    async fn start(redis_port: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let blackhole = Arc::new(AtomicBool::new(false));
        let claimed = Arc::new(AtomicBool::new(false));
        let flag = blackhole.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await
                else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let is_pubsub = Arc::new(AtomicBool::new(false));
                let (mark, claimed) = (is_pubsub.clone(), claimed.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
                        if text.contains("PSUBSCRIBE") && !claimed.swap(true, Ordering::AcqRel) {
                            mark.store(true, Ordering::Release);
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let flag = flag.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = server_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if is_pubsub.load(Ordering::Acquire) && flag.load(Ordering::Acquire) {
                            continue; // swallowed: the subscriber hears nothing, and no error
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { port, blackhole }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_subscription_is_noticed_re_established_and_refilled() {
    let redis = Redis::start().await;
    let port: u16 = redis
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("redis port");
    let relay = HalfOpenRelay::start(port).await;
    let p = prefix("silent");
    let one = Instance::start(&format!("redis://127.0.0.1:{}/", relay.port), &p, &[]);
    let two = Instance::start(&redis.url(), &p, &[]);
    one.wait_status("ok").await;
    two.wait_status("ok").await;
    let (mut a, _) = one.ws("/ws/chat?name=Ada").await;
    recv_replay(&mut a).await;
    let (mut b, _) = two.ws("/ws/chat?name=Bo").await;
    recv_replay(&mut b).await;
    send_json(&mut b, json!({"type": "message", "text": "before"})).await;
    recv_until(&mut a, "before, across instances", |f| {
        f["text"] == "before"
    })
    .await;

    // One's subscription goes half-open: its socket stays, nothing arrives on it.
    relay
        .blackhole
        .store(true, std::sync::atomic::Ordering::Release);
    let started = Instant::now();
    // Meanwhile Bo says three things: stored and acked, but one cannot hear them live.
    for i in 1..=3 {
        send_json(
            &mut b,
            json!({"type": "message", "text": format!("during {i}"), "clientId": format!("d-{i}")}),
        )
        .await;
        recv_until(&mut b, "the ack", |f| f["type"] == "ack").await;
    }
    let health = loop {
        let health = one.health().await;
        if health["broker"]["silentSubscriptions"].as_u64() >= Some(1) {
            break health;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the silent subscription was never noticed: {health}"
        );
        sleep(Duration::from_millis(100)).await;
    };
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}: {health}",
        started.elapsed()
    );
    // Re-subscribed on a fresh connection: what was said meanwhile is re-delivered from the
    // history (acked means delivered, to everyone), then live messages flow again.
    one.wait_status("ok").await;
    let mut during = Vec::new();
    while during.len() < 3 {
        let f = recv_until(&mut a, "what Bo said while one was deaf", |f| {
            f["type"] == "message"
        })
        .await;
        let text = f["text"].as_str().unwrap_or_default().to_string();
        if text.starts_with("during") && !during.contains(&text) {
            during.push(text);
        }
    }
    assert_eq!(during, ["during 1", "during 2", "during 3"]);
    send_json(&mut b, json!({"type": "message", "text": "after"})).await;
    recv_until(&mut a, "after, across instances", |f| f["text"] == "after").await;
}

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(find_binary("openssl", &["/usr/bin/openssl"]))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_works_with_a_private_ca() {
    // A throwaway CA and a server certificate for 127.0.0.1, signed by it.
    let dir = scratch_dir("redis-tls");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=realtime test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("san");
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "server.pem",
            "-extfile",
            "san.ext",
        ],
    );
    let port = free_port();
    let child = Command::new(find_binary("redis-server", &["/usr/bin/redis-server"]))
        .current_dir(&dir)
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server with TLS");
    let _redis = Proc(Some(child));
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not listen"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let url = format!("rediss://127.0.0.1:{port}/");
    let ca = dir.join("ca.pem");
    let p = prefix("tls");
    let one = Instance::start(&url, &p, &["--redis-ca-file", ca.to_str().expect("path")]);
    let two = Instance::start(&url, &p, &["--redis-ca-file", ca.to_str().expect("path")]);
    let health = one.wait_status("ok").await;
    assert_eq!(health["broker"]["kind"], "redis", "{health}");
    two.wait_status("ok").await;
    // A message crosses instances through the TLS link and lands in the shared history.
    let (mut a, _) = one.ws("/ws/chat?name=Ada").await;
    recv_replay(&mut a).await;
    let (mut b, _) = two.ws("/ws/chat?name=Bo").await;
    recv_replay(&mut b).await;
    send_json(
        &mut a,
        json!({"type": "message", "text": "over TLS", "clientId": "tls-1"}),
    )
    .await;
    assert_eq!(recv_type(&mut a, "ack").await["seq"], 1);
    recv_until(&mut b, "the message, across instances", |f| {
        f["text"] == "over TLS"
    })
    .await;
    // Without the CA the certificate is refused: degraded, with the reason, never plain text.
    let three = Instance::start(&url, &p, &[]);
    let refused = three.wait_status("degraded").await;
    assert!(
        refused["broker"]["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{refused}"
    );
}
