//! Per-client limits and config ranges (issue #17): one address cannot take every connection
//! slot (HTTP 429 past `--max-connections-per-ip`), `X-Forwarded-For` counts only from a trusted
//! proxy, `/readyz` says when to send no new clients, and every numeric flag out of its range
//! exits with status 2 and one line naming the flag, never a panic.

mod common;

use std::process::Command;

use common::*;
use realtime_server::config::RANGES;
use realtime_server::Config;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A WebSocket handshake claiming `forwarded` as the client: the HTTP status it gets (101 when
/// the upgrade succeeds; the socket is returned to keep it open).
async fn connect_as(server: &TestServer, forwarded: Option<&str>) -> (u16, Option<Ws>) {
    let mut request = server.ws_url("/ws/chat").into_client_request().unwrap();
    if let Some(f) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(f).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => (101, Some(ws)),
        Err(e) => (refused_status(Err(e)), None),
    }
}

#[tokio::test]
async fn one_address_gets_429_past_its_share_and_a_forged_header_does_not_help() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 2,
        ..test_config()
    })
    .await;
    let (s1, a) = connect_as(&server, None).await;
    let (s2, _b) = connect_as(&server, None).await;
    assert_eq!((s1, s2), (101, 101));
    // A third from 127.0.0.1, claiming to be someone else: the claim is ignored (no trusted proxy).
    let (s3, _) = connect_as(&server, Some("198.51.100.1")).await;
    assert_eq!(s3, 429);
    // The SSE stream counts against the same share.
    let (head, body) = http(server.addr, "GET", "/sse/notifications", &[], b"").await;
    assert_eq!(head.status, 429, "{}", String::from_utf8_lossy(&body));
    // A closed connection gives its slot back.
    let mut a = a.expect("open");
    close_ws(&mut a).await;
    let mut freed = false;
    for _ in 0..50 {
        if connect_as(&server, None).await.0 == 101 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(freed, "the slot came back after the close");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_share() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 1,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..test_config()
    })
    .await;
    let (a, _keep_a) = connect_as(&server, Some("198.51.100.1")).await;
    let (b, _keep_b) = connect_as(&server, Some("198.51.100.2")).await;
    assert_eq!((a, b), (101, 101), "two clients behind one proxy");
    let (again, _) = connect_as(&server, Some("198.51.100.1")).await;
    assert_eq!(again, 429, "the same client twice");
    // A forged hop at the left does not make a new client: the proxy appended the real one.
    let (forged, _) = connect_as(&server, Some("6.6.6.6, 198.51.100.2")).await;
    assert_eq!(forged, 429);
}

#[tokio::test]
async fn readyz_is_ready_until_shutdown_and_then_not() {
    let mut server = TestServer::start(test_config()).await;
    let (head, body) = http(server.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(head.status, 200);
    assert!(String::from_utf8_lossy(&body).contains("ready"));
    // A socket held open keeps the server draining for a while after the shutdown begins.
    let (_ws, _) = connect(&server, "/ws/chat").await;
    server.begin_shutdown();
    // Not ready from then on: the listener is closed (a balancer's check fails at connect), or,
    // on a request already in flight, 503 "draining".
    let mut not_ready = false;
    for _ in 0..100 {
        match tokio::net::TcpStream::connect(server.addr).await {
            Err(_) => {
                not_ready = true;
                break;
            }
            Ok(stream) => drop(stream),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        not_ready,
        "no new connection is accepted once shutdown began"
    );
}

#[test]
fn every_numeric_flag_out_of_range_exits_2_naming_the_flag() {
    let bin = env!("CARGO_BIN_EXE_realtime-server");
    for (flag, var, min, max) in RANGES {
        let mut bad = vec![max.saturating_add(1).to_string()];
        if *min > 0 {
            bad.push((min - 1).to_string());
        }
        for value in bad {
            let out = Command::new(bin)
                .env_clear()
                .args(["--addr", "127.0.0.1:0", &format!("--{flag}"), &value])
                .output()
                .expect("the server binary runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            // clap's own type check (a value too big for the type) also exits 2 and names it.
            assert_eq!(out.status.code(), Some(2), "--{flag} {value}: {stderr}");
            assert!(
                stderr.contains(&format!("--{flag}")),
                "--{flag} {value}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            if !stderr.contains("invalid value") {
                assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
                assert!(stderr.contains(&format!("{min}..={max}")), "{stderr}");
            }
        }
        // The variable is checked the same way.
        let out = Command::new(bin)
            .env_clear()
            .env(var, max.saturating_add(1).to_string())
            .args(["--addr", "127.0.0.1:0"])
            .output()
            .expect("the server binary runs");
        assert_eq!(out.status.code(), Some(2), "{var}");
    }
    // The largest number there is: refused, no overflow panic.
    let out = Command::new(bin)
        .env_clear()
        .args([
            "--addr",
            "127.0.0.1:0",
            "--presence-ttl-ms",
            &u64::MAX.to_string(),
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--presence-ttl-ms"));
}

#[tokio::test]
async fn a_silent_socket_on_every_endpoint_is_closed_after_the_idle_timeout_and_a_live_one_is_not()
{
    let server = TestServer::start(Config {
        ping_interval_ms: 100,
        idle_timeout_ms: 400,
        ..test_config()
    })
    .await;
    for path in ["/ws/chat", "/ws/typed-chat", "/ws/presence", "/ws/binary"] {
        let (mut silent, _) = connect(&server, path).await;
        let (mut live, _) = connect(&server, path).await;
        // `live` reads (and so answers the server's pings); `silent` reads nothing for 1.2 s.
        let started = tokio::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(1_200) {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                futures_util::StreamExt::next(&mut live),
            )
            .await;
        }
        let (code, _) = recv_close(&mut silent, std::time::Duration::from_secs(2)).await;
        assert_eq!(code, 1001, "{path}: the silent client is closed as idle");
        assert_alive(&mut live).await;
    }
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_at_the_byte_budget_not_at_the_frame_cap() {
    // 40 echoes of 512 KiB (20 MiB) fit the 256-frame cap; the 1 MiB byte budget stops them.
    let server = TestServer::start(test_config()).await;
    let (mut ws, _) = connect(&server, "/ws/binary").await;
    let chunk = vec![7u8; 512 * 1024];
    for _ in 0..40 {
        if futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::Binary(chunk.clone().into()),
        )
        .await
        .is_err()
        {
            break; // already closed by the server
        }
    }
    // Only now read: what was queued, then the slow-consumer close.
    let mut echoes = 0;
    let code = loop {
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            futures_util::StreamExt::next(&mut ws),
        )
        .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))) => echoes += 1,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                break frame.map(|f| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => {}
            other => {
                panic!("expected the slow-consumer close, got {other:?} after {echoes} echoes")
            }
        }
    };
    assert_eq!(
        code,
        Some(1013),
        "closed as a slow consumer after {echoes} echoes"
    );
    assert!(
        echoes < 40,
        "the queue did not hold all 20 MiB ({echoes} echoes came back)"
    );
    // And /metrics says so, for the operator.
    let (_, body) = http(server.addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8_lossy(&body);
    for line in [
        r#"realtime_slow_consumers_total{endpoint="binary"} 1"#,
        r#"realtime_closes_total{endpoint="binary",code="1013"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?}:\n{text}");
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_dropped_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::{sleep, Duration, Instant};
    let server = TestServer::start(Config {
        header_timeout_ms: 400,
        ..test_config()
    })
    .await;
    // Slow-loris: a request line, then one header byte every 100 ms, never the blank line.
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut closed_after = None;
    for _ in 0..30 {
        sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"X").await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => panic!(
                "the server answered a request it never got in full: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => {}
        }
    }
    let closed_after = closed_after.expect("the trickling client was never disconnected");
    assert!(
        closed_after >= Duration::from_millis(300) && closed_after < Duration::from_millis(1500),
        "closed after {closed_after:?}; the header timeout is 400 ms"
    );
    // Everyone else is served as before, WebSockets included.
    let (head, _) = http(server.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(head.status, 200);
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    assert_alive(&mut ws).await;
}

#[tokio::test]
async fn json_logs_have_one_access_line_per_socket_and_never_the_token() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--demo-interval-ms",
            "0",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_string();
    let secret = "tok-NEVER-LOGGED-4711";
    let url = format!("ws://{addr}/ws/chat?name=Ada&token={secret}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    recv_type(&mut ws, "replayed").await;
    close_ws(&mut ws).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["target"] == "access").collect();
    assert_eq!(access.len(), 1, "{logs}");
    assert_eq!(
        (
            access[0]["endpoint"].as_str(),
            access[0]["client"].as_str(),
            access[0]["closed_by"].as_str()
        ),
        (Some("chat"), Some("127.0.0.1"), Some("client"))
    );
    assert!(access[0]["duration_ms"].is_u64());
    assert!(
        !logs.contains(secret),
        "the token never reaches the log: {logs}"
    );
}

#[tokio::test]
async fn metrics_count_connections_messages_closes_and_rate_limits() {
    let server = TestServer::start(Config {
        rate_per_sec: 1,
        rate_burst: 2,
        ..test_config()
    })
    .await;
    let metrics = || async {
        let (head, body) = http(server.addr, "GET", "/metrics", &[], b"").await;
        assert_eq!(head.status, 200);
        assert!(head
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")));
        String::from_utf8(body).expect("text")
    };
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let (mut ws, _) = connect(&server, "/ws/chat").await;
    let text = metrics().await;
    assert_eq!(
        value(&text, r#"realtime_connections{endpoint="chat"}"#),
        Some(1.0),
        "{text}"
    );
    // Two messages within the burst, a third refused (warned), a fourth closes with 1008.
    for i in 0..4 {
        send_json(
            &mut ws,
            serde_json::json!({"type": "message", "text": format!("m{i}")}),
        )
        .await;
    }
    let (code, _) = recv_close(&mut ws, std::time::Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = metrics().await;
    assert_eq!(
        value(&text, r#"realtime_connections{endpoint="chat"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"realtime_messages_in_total{endpoint="chat"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"realtime_rate_limited_total{endpoint="chat"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"realtime_closes_total{endpoint="chat",code="1008"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(&text, r#"realtime_messages_out_total{endpoint="chat"}"#) >= Some(3.0),
        "{text}"
    );
    assert_eq!(value(&text, "realtime_backend_degraded"), Some(0.0));
    // A client whose connection just ends (no close frame: a lost link, a killed tab) is a close
    // by the client, not a protocol violation an operator would be paged for.
    let (gone, _) = connect(&server, "/ws/chat").await;
    drop(gone);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = metrics().await;
    assert_eq!(
        value(
            &text,
            r#"realtime_closes_total{endpoint="chat",code="client"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"realtime_closes_total{endpoint="chat",code="1002"}"#
        ),
        None
    );
}
