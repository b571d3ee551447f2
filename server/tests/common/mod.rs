//! Shared test harness: an in-process server on 127.0.0.1:0, a real WebSocket client
//! (tokio-tungstenite), and a hand-written SSE/HTTP client over a plain TcpStream.
//! Every wait here is bounded, so a hang fails the test instead of stalling the suite.
//! `redis_server` starts a real Redis; `message_props.rs` (generic decoder properties) is
//! included with `#[path]` by the tests that use it.
#![allow(dead_code)]

pub mod redis_server;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use realtime_server::{Backend, Config, Server};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for any single expected event.
pub const WAIT: Duration = Duration::from_secs(5);

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Defaults, minus the demo generator (tests publish their own notifications).
pub fn test_config() -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        demo_interval_ms: 0,
        ..Config::default()
    }
}

/// An in-process server; `shutdown` stops it the way SIGTERM would.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let backend = Backend::in_process_with(config.sse_buffer, config.history_limits());
        Self::start_with(Server::new(config).backend(backend)).await
    }

    /// Runs a server with additions (routes, extensions, another backend).
    pub async fn start_with(server: Server) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Triggers shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (bounded) for `serve` to return after `begin_shutdown`.
    pub async fn finished(&mut self, within: Duration) -> std::io::Result<()> {
        let handle = self.handle.take().expect("already awaited");
        timeout(within, handle)
            .await
            .expect("serve did not return in time")
            .expect("serve panicked")
    }
}

/// Connects to `path` with an optional Origin header.
pub async fn try_connect(
    url: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")
        .map(|(ws, _)| ws)
}

/// Connects and returns the socket plus its welcome frame. On `/ws/chat`, the history sent on
/// arrival is read through its `replayed` frame (see [`connect_chat`] to look at it).
pub async fn connect(server: &TestServer, path: &str) -> (Ws, Value) {
    if path.starts_with("/ws/chat") {
        let (ws, welcome, _, _) = connect_chat(server, path).await;
        return (ws, welcome);
    }
    connect_raw(server, path).await
}

/// Connects to `/ws/chat` (any query) and returns the socket, its welcome, the history
/// messages replayed and the `replayed` frame that ends them.
pub async fn connect_chat(server: &TestServer, path: &str) -> (Ws, Value, Vec<Value>, Value) {
    let (mut ws, welcome) = connect_raw(server, path).await;
    let (history, replayed) = recv_replay(&mut ws).await;
    (ws, welcome, history, replayed)
}

/// Reads a replay: `message` frames until `replayed`; any other frame before it is a bug.
pub async fn recv_replay(ws: &mut Ws) -> (Vec<Value>, Value) {
    let mut history = Vec::new();
    loop {
        let frame = recv_json(ws).await;
        match frame["type"].as_str() {
            Some("message") => history.push(frame),
            Some("replayed") => return (history, frame),
            // A join's member list may be corrected right after `joined`.
            Some("user:joined" | "user:left") => {}
            _ => panic!("expected history then replayed, got {frame}"),
        }
    }
}

/// Joins a typed-chat room (with `since`, if given) and returns `joined`, the replayed
/// history and `replayed`.
pub async fn join_room(ws: &mut Ws, room: &str, since: Option<&str>) -> (Value, Vec<Value>, Value) {
    let mut join = serde_json::json!({"type": "join", "room": room});
    if let Some(since) = since {
        join["since"] = since.into();
    }
    send_json(ws, join).await;
    let joined = recv_type(ws, "joined").await;
    let (history, replayed) = recv_replay(ws).await;
    (joined, history, replayed)
}

/// Connects and returns the socket plus its welcome frame, reading nothing more.
pub async fn connect_raw(server: &TestServer, path: &str) -> (Ws, Value) {
    let mut ws = try_connect(&server.ws_url(path), None)
        .await
        .expect("connect");
    let welcome = recv_json(&mut ws).await;
    assert_eq!(
        welcome["type"], "welcome",
        "first frame must be welcome: {welcome}"
    );
    assert_eq!(
        welcome["server"],
        realtime_server::APP_NAME,
        "the welcome names the app: {welcome}"
    );
    (ws, welcome)
}

/// The HTTP status of a refused WebSocket upgrade.
pub fn refused_status(result: Result<Ws, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
        Ok(_) => panic!("expected an HTTP refusal, but the upgrade succeeded"),
    }
}

pub async fn send_json(ws: &mut Ws, value: Value) {
    send_text(ws, &value.to_string()).await;
}

/// Sends any frame (binary, raw), bounded.
pub async fn send_msg(ws: &mut Ws, message: Message) {
    timeout(WAIT, ws.send(message))
        .await
        .expect("send timed out")
        .expect("send");
}

/// Queues several frames and flushes them together, bounded.
pub async fn send_batch(ws: &mut Ws, messages: Vec<Message>) {
    timeout(WAIT, async {
        for message in messages {
            ws.feed(message).await.expect("feed");
        }
        ws.flush().await.expect("flush");
    })
    .await
    .expect("batch send timed out");
}

/// Starts a clean close from the client side, bounded.
pub async fn close_ws(ws: &mut Ws) {
    timeout(WAIT, ws.close(None))
        .await
        .expect("close timed out")
        .expect("close");
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    timeout(WAIT, ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send");
}

/// Next text frame as raw text; control frames are skipped; a close or EOF fails the test.
pub async fn recv_text(ws: &mut Ws) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no frame in time");
        match next {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn recv_json(ws: &mut Ws) -> Value {
    let text = recv_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Skips frames until one of type `ty` arrives.
pub async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = tokio::time::timeout_at(deadline, recv_json(ws))
            .await
            .expect("type never came");
        if value["type"] == ty {
            return value;
        }
    }
}

/// Next frame, which must be binary.
pub async fn recv_binary(ws: &mut Ws) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no frame in time")
        {
            Some(Ok(Message::Binary(data))) => return data.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code; data frames before it are
/// skipped (counted in the second value).
pub async fn recv_close(ws: &mut Ws, within: Duration) -> (u16, usize) {
    let deadline = Instant::now() + within;
    let mut skipped = 0;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no close frame in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                // Like a browser, answer the close: reading on flushes tungstenite's reply.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
                return (u16::from(frame.code), skipped);
            }
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => skipped += 1,
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

/// Proves the socket is open and in order: a ping with a nonce comes back as the next pong,
/// and nothing unexpected (a frame meant for others) arrives before it.
pub async fn assert_alive_and_quiet(ws: &mut Ws) {
    let nonce = rand_nonce();
    send_json(ws, serde_json::json!({"type":"ping","nonce":nonce})).await;
    let reply = recv_json(ws).await;
    assert_eq!(reply["type"], "pong", "expected only our pong, got {reply}");
    assert_eq!(reply["nonce"], nonce);
}

/// Proves the socket is open, skipping whatever else arrives first.
pub async fn assert_alive(ws: &mut Ws) {
    let nonce = rand_nonce();
    send_json(ws, serde_json::json!({"type":"ping","nonce":nonce})).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = tokio::time::timeout_at(deadline, recv_json(ws))
            .await
            .expect("no pong");
        if reply["type"] == "pong" && reply["nonce"] == nonce {
            return;
        }
    }
}

fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    h.finish() >> 12
}

// ---------------------------------------------------------------------------------------------
// HTTP and SSE over a raw TcpStream.

/// A parsed HTTP response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn read_head(reader: &mut BufReader<TcpStream>) -> Head {
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .await
        .expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Head { status, headers }
}

async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> BufReader<TcpStream> {
    let mut stream = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close {
        request.push_str("Connection: close\r\n");
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    stream.write_all(body).await.expect("write body");
    BufReader::new(stream)
}

/// One HTTP request; returns the head and the whole (de-chunked) body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (Head, Vec<u8>) {
    timeout(WAIT, async {
        let mut reader = open(addr, method, path, headers, body, true).await;
        let head = read_head(&mut reader).await;
        let mut body = Vec::new();
        if head
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            let mut body_reader = BodyReader {
                reader,
                chunked: true,
                ended: false,
            };
            while let Some(chunk) = body_reader.next_chunk().await {
                body.extend_from_slice(&chunk);
            }
        } else {
            reader.read_to_end(&mut body).await.expect("read body");
        }
        (head, body)
    })
    .await
    .expect("HTTP request timed out")
}

/// POSTs JSON and parses the JSON reply.
pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (head, bytes) = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (head.status, value)
}

struct BodyReader {
    reader: BufReader<TcpStream>,
    chunked: bool,
    ended: bool,
}

impl BodyReader {
    /// Next piece of the body; `None` once the stream ended (last chunk or EOF).
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.ended {
            return None;
        }
        if !self.chunked {
            let mut buf = vec![0; 8192];
            let n = self.reader.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                self.ended = true;
                return None;
            }
            buf.truncate(n);
            return Some(buf);
        }
        let mut size_line = String::new();
        let n = self.reader.read_line(&mut size_line).await.unwrap_or(0);
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16);
        match (n, size) {
            (0, _) | (_, Err(_)) | (_, Ok(0)) => {
                self.ended = true;
                None
            }
            (_, Ok(size)) => {
                let mut chunk = vec![0; size + 2];
                if self.reader.read_exact(&mut chunk).await.is_err() {
                    self.ended = true;
                    return None;
                }
                chunk.truncate(size);
                Some(chunk)
            }
        }
    }
}

/// One SSE block: an event, a retry hint or a comment (keep-alive).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("")).expect("data is JSON")
    }
}

/// A Server-Sent Events client: reads the HTTP head, then parses `id:`/`event:`/`data:` lines.
pub struct Sse {
    pub head: Head,
    body: BodyReader,
    buffer: String,
}

impl Sse {
    pub async fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut all = vec![("Accept", "text/event-stream")];
        all.extend_from_slice(headers);
        timeout(WAIT, async {
            let mut reader = open(addr, "GET", path, &all, b"", false).await;
            let head = read_head(&mut reader).await;
            let chunked = head
                .header("transfer-encoding")
                .is_some_and(|v| v.contains("chunked"));
            Sse {
                head,
                body: BodyReader {
                    reader,
                    chunked,
                    ended: false,
                },
                buffer: String::new(),
            }
        })
        .await
        .expect("SSE connect timed out")
    }

    /// Next block, or `None` when the stream ended; fails the test after `WAIT`.
    pub async fn next_block(&mut self) -> Option<SseEvent> {
        timeout(WAIT, self.next_block_unbounded())
            .await
            .expect("no SSE block in time")
    }

    async fn next_block_unbounded(&mut self) -> Option<SseEvent> {
        loop {
            let normalized = self.buffer.replace("\r\n", "\n");
            if let Some(end) = normalized.find("\n\n") {
                let block = normalized[..end].to_string();
                self.buffer = normalized[end + 2..].to_string();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        event.comments.push(comment.trim().to_string());
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                    match field {
                        "id" => event.id = Some(value),
                        "event" => event.event = Some(value),
                        "data" => {
                            event.data = Some(match event.data.take() {
                                Some(prev) => format!("{prev}\n{value}"),
                                None => value,
                            })
                        }
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                return Some(event);
            }
            let chunk = self.body.next_chunk().await?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Next block that carries data (skips retry hints and keep-alives).
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let block = self.next_block().await?;
            if block.data.is_some() {
                return Some(block);
            }
        }
    }

    /// Asserts the stream ends (cleanly, with the last chunk or EOF) within `WAIT`.
    pub async fn expect_end(&mut self) {
        while let Some(block) = self.next_block().await {
            assert!(
                block.data.is_none(),
                "expected the stream to end, got {block:?}"
            );
        }
    }
}
