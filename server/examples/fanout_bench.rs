//! Fan-out benchmark: starts the server in-process, puts 100 WebSocket clients in one
//! typed-chat room, has them send 2,000 messages in total, and reports deliveries per second
//! and end-to-end latency (send → receipt by each member, the sender included).
//!
//! `cargo run --release -p realtime-server --example fanout_bench`
//!
//! It runs twice, each on a fresh server: paced (messages spread evenly, default limits:
//! latency under a steady load) and burst (everything at once, with an outbound queue large
//! enough for the burst: peak fan-out throughput). Knobs (environment):
//! `BENCH_CLIENTS` (100), `BENCH_MESSAGES` (2000), `BENCH_RATE` for the paced run (2000 msg/s).
//! Clients and server share this machine's cores, so the figures are a floor, not a ceiling.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use realtime_server::{serve, Config};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Each run must finish within this; a run that does not reports what it has and fails.
const DEADLINE: Duration = Duration::from_secs(60);
/// A reader that hears nothing for this long stops waiting.
const IDLE_GAP: Duration = Duration::from_secs(5);

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let clients = env_usize("BENCH_CLIENTS", 100).max(1);
    let messages = env_usize("BENCH_MESSAGES", 2000);
    let rate = env_usize("BENCH_RATE", 2000).max(1);

    println!("fanout_bench: {clients} clients in one typed-chat room, {messages} messages per run");
    // Default limits (queue 256, 50 msg/s, burst 100): each client sends messages/clients
    // messages (20), well inside its burst. Only the demo generator is off.
    let defaults = Config {
        demo_interval_ms: 0,
        ..Config::default()
    };
    let paced = run("paced", defaults.clone(), clients, messages, Some(rate)).await;
    // All at once, the room receives `messages` frames per member in an instant: more than the
    // default queue of 256 holds while 100 readers on the same cores catch up, so that run
    // would mostly measure slow-consumer closes. A queue that fits the burst measures the
    // fan-out itself.
    let burst_queue = Config {
        outbound_queue: messages.max(256) * 2,
        ..defaults
    };
    let burst = run("burst", burst_queue, clients, messages, None).await;
    paced?;
    burst?;
    Ok(())
}

/// One run in a fresh room: connect, join, send, collect, print.
async fn run(
    room: &str,
    config: Config,
    clients: usize,
    messages: usize,
    rate: Option<usize>,
) -> BenchResult<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let queue = config.outbound_queue;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(config, listener, async move {
        let _ = stop_rx.await;
    }));
    let result = measure(addr, room, queue, clients, messages, rate).await;
    let _ = stop_tx.send(());
    let _ = timeout(Duration::from_secs(5), server).await;
    result
}

async fn measure(
    addr: SocketAddr,
    room: &str,
    queue: usize,
    clients: usize,
    messages: usize,
    rate: Option<usize>,
) -> BenchResult<()> {
    // Connect and join one by one so member lists settle before the clock starts.
    let url = format!("ws://{addr}/ws/typed-chat");
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        // Browsers disable Nagle for WebSockets too; without it small frames wait for ACKs.
        let connect = tokio_tungstenite::connect_async_with_config(&url, None, true);
        let (mut ws, _) = timeout(Duration::from_secs(5), connect).await??;
        ws.send(Message::text(format!(
            r#"{{"type":"join","room":"{room}"}}"#
        )))
        .await?;
        loop {
            let frame = timeout(Duration::from_secs(5), ws.next())
                .await?
                .ok_or("closed while joining")??;
            if frame
                .to_text()
                .is_ok_and(|t| t.contains(r#""type":"joined""#))
            {
                break;
            }
        }
        sockets.push(ws);
    }

    let base = Instant::now();
    let start = base + Duration::from_millis(20);
    let deadline = base + DEADLINE;
    let interval = rate.map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r as f64));
    let closed_early = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::with_capacity(clients);
    let mut senders = Vec::with_capacity(clients);

    for (index, ws) in sockets.into_iter().enumerate() {
        let (mut sink, mut stream) = ws.split();
        let closed_early = closed_early.clone();
        readers.push(tokio::spawn(async move {
            // Everyone receives every message, its own included.
            let mut latencies = Vec::with_capacity(messages);
            while latencies.len() < messages {
                // A quiet gap means the senders are gone (closed as slow consumers, say).
                let wait = timeout(IDLE_GAP, stream.next());
                let frame = match timeout_at(deadline, wait).await {
                    Ok(Ok(Some(Ok(frame)))) => frame,
                    Ok(Ok(_)) => {
                        closed_early.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Err(_)) | Err(_) => break,
                };
                if let Message::Close(close) = &frame {
                    let code = close.as_ref().map_or(1005, |c| u16::from(c.code));
                    eprintln!("client {index} closed by the server with {code}");
                }
                let Message::Text(text) = frame else { continue };
                if let Some(sent_at) = sent_micros(&text) {
                    let now = base.elapsed().as_micros() as u64;
                    latencies.push(now.saturating_sub(sent_at));
                }
            }
            (latencies, Instant::now())
        }));
        let room = room.to_string();
        senders.push(tokio::spawn(async move {
            // Client `index` sends message numbers index, index + clients, ...
            for seq in (index..messages).step_by(clients) {
                sleep_until(start + interval * seq as u32).await;
                let sent_at = base.elapsed().as_micros();
                let text =
                    format!(r#"{{"type":"message","room":"{room}","text":"{seq} {sent_at}"}}"#);
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            sink
        }));
    }

    let mut sinks = Vec::new();
    for sender in senders {
        if let Ok(sink) = sender.await {
            sinks.push(sink);
        }
    }
    let mut latencies = Vec::with_capacity(messages * clients);
    let mut last_receipt = start;
    for reader in readers {
        let (mut got, finished) = reader.await?;
        latencies.append(&mut got);
        last_receipt = last_receipt.max(finished);
    }
    for mut sink in sinks {
        let _ = timeout(Duration::from_secs(1), sink.close()).await;
    }

    latencies.sort_unstable();
    let elapsed = last_receipt.saturating_duration_since(start).as_secs_f64();
    let delivered = latencies.len();
    let expected = messages * clients;
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        latencies[rank] as f64 / 1000.0
    };
    let offered = rate.map_or("all at once".to_string(), |r| format!("{r} msg/s"));
    println!("[{room}] offered: {offered}, outbound queue {queue}");
    println!(
        "[{room}] delivered {delivered}/{expected} frames in {elapsed:.3} s ({} clients closed early)",
        closed_early.load(Ordering::Relaxed)
    );
    println!(
        "[{room}] throughput: {:.0} messages delivered/s",
        delivered as f64 / elapsed.max(1e-9)
    );
    println!(
        "[{room}] latency send->receive: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(50.0),
        pct(99.0),
        pct(100.0)
    );
    if delivered < expected {
        return Err(format!("{room}: only {delivered} of {expected} deliveries").into());
    }
    Ok(())
}

/// Pulls the send time (µs since the run's base instant) out of `"text":"<seq> <µs>"`.
fn sent_micros(frame: &str) -> Option<u64> {
    if !frame.contains(r#""type":"message""#) {
        return None;
    }
    let text = frame.split(r#""text":""#).nth(1)?;
    let body = text.split('"').next()?;
    body.split(' ').nth(1)?.parse().ok()
}
