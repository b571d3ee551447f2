//! Shutdown in-process and via SIGTERM on the real binary, and the binary's start-up contract.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_socket_with_1001_and_ends_sse_streams() {
    let mut server = TestServer::start(test_config()).await;
    let mut sockets = Vec::new();
    for path in ["/ws/chat", "/ws/typed-chat", "/ws/presence", "/ws/binary"] {
        sockets.push(connect(&server, path).await.0);
    }
    let mut sse = Sse::connect(server.addr, "/sse/notifications", &[]).await;
    assert!(sse.next_block().await.unwrap().retry.is_some());

    let started = tokio::time::Instant::now();
    server.begin_shutdown();
    for ws in &mut sockets {
        assert_eq!(recv_close(ws, WAIT).await.0, 1001);
    }
    sse.expect_end().await;
    server.finished(WAIT).await.expect("serve returns Ok");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "prompt: {:?}",
        started.elapsed()
    );
    assert!(
        try_connect(&format!("ws://{}/ws/chat", server.addr), None)
            .await
            .is_err(),
        "nothing listens after shutdown"
    );
}

/// Kills the child if a test fails half-way, so no server outlives the suite.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the real binary and reads its one stdout line.
fn spawn_binary(
    envs: &[(&str, &str)],
    args: &[&str],
) -> (ChildGuard, SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_realtime-server"));
    command
        .args(args)
        .env("REALTIME_ADDR", "127.0.0.1:0")
        .env("REALTIME_DEMO_INTERVAL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn the server binary");
    let stdout = child.stdout.take().expect("stdout");
    let guard = ChildGuard(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send((line, reader));
    });
    let (line, reader) = rx
        .recv_timeout(WAIT)
        .expect("the binary prints its address in time");
    let port = line
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('\n'))
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert_ne!(port, 0, "the real bound port is printed");
    (guard, SocketAddr::from(([127, 0, 0, 1], port)), reader)
}

fn wait_exit(guard: &mut ChildGuard, within: Duration) -> std::process::ExitStatus {
    let child = guard.0.as_mut().expect("child");
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            guard.0 = None;
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1001_ends_sse_and_exits_0() {
    let (mut guard, addr, mut stdout) = spawn_binary(&[], &[]);
    let (health, body) = http(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        json!({"status":"ok","connections":0,"broker":{"kind":"in-process","state":"ok"}})
    );

    let mut chat = try_connect(&format!("ws://{addr}/ws/chat"), None)
        .await
        .expect("connect");
    assert_eq!(recv_json(&mut chat).await["type"], "welcome");
    let mut presence = try_connect(&format!("ws://{addr}/ws/presence"), None)
        .await
        .expect("connect");
    assert_eq!(recv_json(&mut presence).await["type"], "welcome");
    let mut sse = Sse::connect(addr, "/sse/notifications", &[]).await;
    assert!(sse.next_block().await.unwrap().retry.is_some());

    let pid = guard.0.as_ref().unwrap().id().to_string();
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());

    assert_eq!(recv_close(&mut chat, WAIT).await.0, 1001);
    assert_eq!(recv_close(&mut presence, WAIT).await.0, 1001);
    sse.expect_end().await;
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut guard, WAIT))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status 0 on SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "prompt exit: {:?}",
        started.elapsed()
    );

    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("read the rest of stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_its_limits_and_origins_from_realtime_env_vars() {
    let (mut guard, addr, _stdout) = spawn_binary(
        &[
            ("REALTIME_MAX_CONNECTIONS", "1"),
            ("REALTIME_ALLOWED_ORIGINS", "https://app.example"),
        ],
        &[],
    );
    let url = format!("ws://{addr}/ws/chat");
    let mut first = try_connect(&url, Some("https://app.example"))
        .await
        .expect("listed origin");
    assert_eq!(recv_json(&mut first).await["type"], "welcome");
    assert_eq!(
        refused_status(try_connect(&url, None).await),
        503,
        "cap of 1 from the env"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &guard.0.as_ref().unwrap().id().to_string()])
        .status();
    assert!(killed.expect("run kill").success());
    assert_eq!(recv_close(&mut first, WAIT).await.0, 1001);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut guard, WAIT))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_binary_flag_beats_the_env_and_bad_flags_fail_fast() {
    let (mut guard, _addr, _stdout) = spawn_binary(
        &[("REALTIME_ADDR", "not-an-address")],
        &["--addr", "127.0.0.1:0"],
    );
    let pid = guard.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill")
        .success());
    assert_eq!(
        wait_exit(&mut guard, WAIT).code(),
        Some(0),
        "Ctrl-C (SIGINT) also exits 0"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_realtime-server"))
        .args(["--rate-per-sec", "lots"])
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    assert!(!output.status.success());
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout when it cannot start"
    );
    let mut stderr = String::new();
    output
        .stderr
        .as_slice()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("rate-per-sec"), "{stderr}");
}
