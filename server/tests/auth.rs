//! Signed identity (issue #15) against the real server: bad tokens refused with 401 before the
//! upgrade, the signed name everywhere, 4001 at `exp`, `forbidden` joins, the guarded publish
//! API, the dev login, per-user rate limits, and no token text in the logs.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use realtime_server::auth::{sign, Claims, Secret};
use realtime_server::Config;
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

fn secret() -> Secret {
    SECRET.parse().expect("a long enough secret")
}

fn now_secs() -> u64 {
    realtime_server::auth::now_secs()
}

fn claims(sub: &str, name: &str, ttl_s: u64) -> Claims {
    Claims {
        sub: Some(sub.into()),
        name: Some(name.into()),
        exp: now_secs() + ttl_s,
        rooms: None,
        publish: None,
    }
}

fn token(c: &Claims) -> String {
    sign(&secret(), c).expect("sign")
}

fn auth_config() -> Config {
    Config {
        auth_secret: Some(secret()),
        ..test_config()
    }
}

/// Every log line of this test binary, at every level (the server runs in-process).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_not_logged(secret_texts: &[&str]) {
    let logs = logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        !text.is_empty(),
        "the capture works: the server logged something"
    );
    for s in secret_texts {
        assert!(!text.contains(s), "{s:?} appears in the logs");
    }
    // `token=` followed by a value (the 401 reason "pass ?token= or …" names the parameter).
    let leaks = |l: &str| {
        l.match_indices("token=")
            .any(|(i, _)| !l[i + 6..].starts_with([' ', '"']) && i + 6 < l.len())
    };
    if let Some(line) = text.lines().find(|l| leaks(l)) {
        panic!("a query string appears in the logs: {line}");
    }
}

async fn connections(server: &TestServer) -> u64 {
    let (_, body) = http(server.addr, "GET", "/healthz", &[], b"").await;
    let health: Value = serde_json::from_slice(&body).expect("healthz JSON");
    health["connections"].as_u64().expect("a count")
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_before_the_upgrade() {
    let _logs = logs();
    let server = TestServer::start(auth_config()).await;
    let other: Secret = "another-secret-0123456789-0123456789".parse().unwrap();
    let unsigned_payload = b64(json!({"sub": "eve", "name": "Eve", "exp": now_secs() + 60})
        .to_string()
        .as_bytes());
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        unsigned_payload
    );
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "eve", "name": "Eve"}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let expired = token(&Claims {
        exp: now_secs() - 1,
        ..claims("eve", "Eve", 0)
    });
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "token required"),
        ("malformed", Some("not-a-jwt".into()), "malformed"),
        ("alg none", Some(alg_none), "malformed"),
        (
            "other secret",
            Some(sign(&other, &claims("eve", "Eve", 60)).unwrap()),
            "signature",
        ),
        ("expired", Some(expired), "expired"),
        ("no exp", Some(no_exp), "exp"),
        (
            "no name",
            Some(token(&Claims {
                name: None,
                ..claims("eve", "Eve", 60)
            })),
            "name",
        ),
    ];
    for (what, tok, reason) in &cases {
        for path in ["/ws/chat", "/ws/typed-chat", "/ws/presence", "/ws/binary"] {
            let query = match tok {
                Some(t) => format!("{path}?token={t}&name=Ana"),
                None => format!("{path}?name=Ana"),
            };
            let status = refused_status(try_connect(&server.ws_url(&query), None).await);
            assert_eq!(status, 401, "{what} on {path}");
        }
        let path = match tok {
            Some(t) => format!("/sse/notifications?token={t}"),
            None => "/sse/notifications".to_string(),
        };
        let (head, body) = http(server.addr, "GET", &path, &[], b"").await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(head.status, 401, "{what} on SSE");
        assert!(
            body.contains(reason),
            "{what}: the reason names it: {body:?}"
        );
        assert_eq!(body.trim().lines().count(), 1, "one line: {body:?}");
    }
    assert_eq!(connections(&server).await, 0, "nothing joined");
    let texts: Vec<&str> = cases.iter().filter_map(|(_, t, _)| t.as_deref()).collect();
    assert_not_logged(&texts);
}

#[tokio::test]
async fn the_signed_name_is_used_and_query_names_are_ignored() {
    let _logs = logs();
    let server = TestServer::start(auth_config()).await;
    let ana = token(&claims("u-ana", "ana", 60));
    let (mut a, welcome) =
        connect(&server, &format!("/ws/typed-chat?token={ana}&name=Mallory")).await;
    assert_eq!(welcome["userId"], "u-ana");
    assert_eq!(welcome["name"], "ana");
    // Other clients present it in a header.
    let bo = token(&claims("u-bo", "bo", 60));
    let mut request = server
        .ws_url("/ws/typed-chat")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {bo}")).unwrap(),
    );
    let (mut b, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("bearer accepted");
    let welcome = recv_json(&mut b).await;
    assert_eq!(
        (welcome["userId"].as_str(), welcome["name"].as_str()),
        (Some("u-bo"), Some("bo"))
    );

    send_json(&mut a, json!({"type": "join", "room": "general"})).await;
    recv_type(&mut a, "joined").await;
    send_json(&mut b, json!({"type": "join", "room": "general"})).await;
    let joined = recv_type(&mut b, "joined").await;
    let names: Vec<&str> = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"ana") && names.contains(&"bo"), "{joined}");
    let seen = recv_type(&mut a, "user:joined").await;
    assert_eq!(seen["name"], "bo");
    send_json(
        &mut b,
        json!({"type": "message", "room": "general", "text": "hi"}),
    )
    .await;
    let message = recv_type(&mut a, "message").await;
    assert_eq!(
        (message["userId"].as_str(), message["name"].as_str()),
        (Some("u-bo"), Some("bo"))
    );

    // Presence and chat show the signed name too.
    let (mut p, _) = connect(&server, &format!("/ws/presence?token={ana}&name=Mallory")).await;
    send_json(&mut p, json!({"type": "presence", "status": "online"})).await;
    let (mut c, _) = connect(&server, &format!("/ws/chat?token={ana}&name=Mallory")).await;
    send_json(&mut c, json!({"type": "message", "text": "from ana"})).await;
    let chat = recv_type(&mut c, "message").await;
    assert_eq!(chat["name"], "ana");
    let _ = p;
    assert_not_logged(&[&ana, &bo]);
}

#[tokio::test]
async fn an_expiring_token_closes_the_socket_with_4001_at_exp() {
    let _logs = logs();
    let server = TestServer::start(auth_config()).await;
    let exp = now_secs() + 2;
    let short = token(&Claims {
        exp,
        ..claims("u-ana", "ana", 0)
    });
    let (mut ws, _) = connect(&server, &format!("/ws/chat?token={short}")).await;
    let (code, _) = recv_close(&mut ws, Duration::from_secs(5)).await;
    let closed_at_ms = realtime_server::protocol::now_ms();
    assert_eq!(code, 4001);
    let exp_ms = exp * 1000;
    assert!(
        closed_at_ms >= exp_ms && closed_at_ms < exp_ms + 1000,
        "closed {} ms after exp",
        closed_at_ms as i64 - exp_ms as i64
    );
    // A message in flight at `exp` (sent before the client saw the close) is not dropped: the
    // server still handles what arrives during the close handshake.
    let exp = now_secs() + 2;
    let typing = token(&Claims {
        exp,
        ..claims("u-ana", "ana", 0)
    });
    let bo = token(&claims("u-bo", "bo", 60));
    let (mut listener, _) = connect(&server, &format!("/ws/chat?token={bo}")).await;
    let (mut ana, _) = connect(&server, &format!("/ws/chat?token={typing}")).await;
    let wait = (exp * 1000 + 150).saturating_sub(realtime_server::protocol::now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    // The 4001 is on its way or here, unread: this frame crosses it.
    send_json(
        &mut ana,
        json!({"type": "message", "text": "typed at the last moment"}),
    )
    .await;
    let (code, _) = recv_close(&mut ana, Duration::from_secs(3)).await;
    assert_eq!(code, 4001);
    let heard = recv_type(&mut listener, "message").await;
    assert_eq!(heard["text"], "typed at the last moment");
    assert_eq!(heard["name"], "ana");

    // The SSE stream with the same token ends by then too.
    let fresh_exp = now_secs() + 2;
    let sse_token = token(&Claims {
        exp: fresh_exp,
        ..claims("u-ana", "ana", 0)
    });
    let started = Instant::now();
    let mut sse = Sse::connect(
        server.addr,
        &format!("/sse/notifications?token={sse_token}"),
        &[],
    )
    .await;
    assert_eq!(sse.head.status, 200);
    sse.expect_end().await;
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn joins_outside_the_rooms_claim_are_forbidden_and_join_nothing() {
    let _logs = logs();
    let server = TestServer::start(auth_config()).await;
    let only_general = token(&Claims {
        rooms: Some(vec!["general".into()]),
        ..claims("u-ana", "ana", 60)
    });
    let none = token(&Claims {
        rooms: Some(vec![]),
        ..claims("u-bo", "bo", 60)
    });
    let (mut a, _) = connect(&server, &format!("/ws/typed-chat?token={only_general}")).await;
    send_json(&mut a, json!({"type": "join", "room": "random"})).await;
    let error = recv_type(&mut a, "error").await;
    assert_eq!(error["code"], "forbidden", "{error}");
    send_json(
        &mut a,
        json!({"type": "message", "room": "random", "text": "sneaky"}),
    )
    .await;
    assert_eq!(recv_type(&mut a, "error").await["code"], "not_in_room");
    join_room(&mut a, "general", None).await;

    let (mut b, _) = connect(&server, &format!("/ws/typed-chat?token={none}")).await;
    send_json(&mut b, json!({"type": "join", "room": "general"})).await;
    assert_eq!(recv_type(&mut b, "error").await["code"], "forbidden");
    // Ana, in general, never hears of Bo.
    assert_alive_and_quiet(&mut a).await;
}

#[tokio::test]
async fn the_publish_api_needs_a_bearer_with_the_publish_claim() {
    let _logs = logs();
    let server = TestServer::start(auth_config()).await;
    let body = json!({"message": "deploy done"}).to_string();
    let post = |headers: Vec<(&'static str, String)>| {
        let body = body.clone();
        let addr = server.addr;
        async move {
            let mut all: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            http(addr, "POST", "/api/notifications", &all, body.as_bytes())
                .await
                .0
                .status
        }
    };
    let reader = token(&claims("u-reader", "reader", 60));
    let publisher = token(&Claims {
        publish: Some(true),
        ..claims("u-pub", "pub", 60)
    });
    assert_eq!(post(vec![]).await, 401);
    assert_eq!(
        post(vec![("Authorization", "Bearer nope".into())]).await,
        401
    );
    assert_eq!(
        post(vec![("Authorization", format!("Bearer {reader}"))]).await,
        403
    );
    assert_eq!(
        post(vec![("Authorization", format!("Bearer {publisher}"))]).await,
        202
    );
    assert_not_logged(&[&reader, &publisher]);
}

#[tokio::test]
async fn a_signed_user_shares_one_rate_limit_across_sockets() {
    let _logs = logs();
    let server = TestServer::start(Config {
        rate_per_sec: 1,
        rate_burst: 10,
        ..auth_config()
    })
    .await;
    let ana = token(&claims("u-ana", "ana", 60));
    let (mut a, _) = connect(&server, &format!("/ws/chat?token={ana}")).await;
    let (mut b, _) = connect(&server, &format!("/ws/chat?token={ana}")).await;
    for i in 0..6 {
        send_json(&mut a, json!({"type": "message", "text": format!("a{i}")})).await;
    }
    for _ in 0..6 {
        recv_type(&mut a, "message").await;
    }
    for i in 0..4 {
        send_json(&mut b, json!({"type": "message", "text": format!("b{i}")})).await;
    }
    // Ten messages used the shared burst: the eleventh, on either socket, is refused.
    send_json(&mut b, json!({"type": "message", "text": "one too many"})).await;
    let error = recv_type(&mut b, "error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    // An anonymous-looking second user has a bucket of their own.
    let bo = token(&claims("u-bo", "bo", 60));
    let (mut c, _) = connect(&server, &format!("/ws/chat?token={bo}")).await;
    send_json(&mut c, json!({"type": "message", "text": "bo here"})).await;
    let echoed = recv_type(&mut c, "message").await;
    assert_eq!(echoed["text"], "bo here");
}

#[tokio::test]
async fn the_dev_login_signs_short_lived_tokens_and_renewal_keeps_the_id() {
    let _logs = logs();
    let off = TestServer::start(auth_config()).await;
    let (status, _) = post_json(off.addr, "/api/dev/login", &json!({"name": "ana"})).await;
    assert_eq!(status, 404, "no dev login without --dev-login");

    // --dev-login without a secret: a random per-run one.
    let server = TestServer::start(Config {
        dev_login: true,
        dev_token_ttl_s: 120,
        ..test_config()
    })
    .await;
    let (status, _) = post_json(server.addr, "/api/dev/login", &json!({"name": ""})).await;
    assert_eq!(status, 400);
    let (status, login) = post_json(server.addr, "/api/dev/login", &json!({"name": " ana "})).await;
    assert_eq!(status, 200, "{login}");
    let t = login["token"].as_str().expect("a token");
    let expires = login["expiresAt"].as_u64().expect("expiresAt");
    let now_ms = realtime_server::protocol::now_ms();
    assert!(
        expires > now_ms + 110_000 && expires <= now_ms + 121_000,
        "{login}"
    );
    let (_ws, welcome) = connect(&server, &format!("/ws/chat?token={t}")).await;
    assert_eq!(welcome["name"], "ana");
    assert_eq!(welcome["userId"], login["userId"]);
    // Without a token the server refuses: auth is on.
    let status = refused_status(try_connect(&server.ws_url("/ws/chat?name=ana"), None).await);
    assert_eq!(status, 401);
    // Renewing with the current token keeps the user id; a fresh login gets a new one.
    let bearer = format!("Bearer {t}");
    let (head, body) = http(
        server.addr,
        "POST",
        "/api/dev/login",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
        ],
        br#"{"name":"ana"}"#,
    )
    .await;
    assert_eq!(head.status, 200);
    let renewed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(renewed["userId"], login["userId"]);
    let (_, again) = post_json(server.addr, "/api/dev/login", &json!({"name": "ana"})).await;
    assert_ne!(again["userId"], login["userId"]);
    // The dev token may publish.
    let (head, _) = http(
        server.addr,
        "POST",
        "/api/notifications",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
        ],
        br#"{"message":"hello"}"#,
    )
    .await;
    assert_eq!(head.status, 202);
    assert_not_logged(&[t]);
}
