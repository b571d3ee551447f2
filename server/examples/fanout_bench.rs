//! Fan-out load generator: N WebSocket clients in one typed-chat room, one (or a few) of them
//! sending; reports deliveries per second and end-to-end latency (send → receipt by each member,
//! the sender included).
//!
//! ```text
//! cargo run --release -p realtime-server --example fanout_bench               # in-process server
//! cargo run --release -p realtime-server --example fanout_bench -- \
//!     --url ws://127.0.0.1:8081/ws/typed-chat --clients 1000 --messages 200 --reps 5
//! ```
//!
//! Without `--url` it starts this crate's server in-process (demo generator off, an outbound
//! queue that fits the burst) and runs the default scenario. With `--url` it drives any server
//! that speaks the typed-chat subset of `docs/protocol.md` (`welcome` first, `join` → `joined`,
//! `message {room, text}` → `message {room, userId, name, text, timestamp}` to every member): our
//! dev server, the Node `ws` server in `bench/node-ws/`, or several instances behind a broker.
//! With `--protocol socketio` it speaks socket.io 4 instead (Engine.io v4 over its WebSocket
//! transport, written out here: open packet `0{…}`, `40` connect, `421["join",{room}]` and its
//! ack `431[…]`, `42["message",{room,text}]` both ways), for `bench/fanout/socketio-server.mjs`;
//! the URL is then `ws://HOST:PORT/socket.io/?EIO=4&transport=websocket`. It does not answer
//! Engine.io pings, so a run must end within the server's ping interval + timeout (45 s by
//! default) of connecting, which the benchmark's runs do.
//!
//! Flags (all optional):
//! - `--url U[,U…]` (repeatable): where receivers connect, round-robin over the list;
//! - `--sender-url U`: where senders connect (default: the first `--url`), so a multi-instance
//!   run can keep senders on one instance and spread receivers over the others;
//! - `--clients N` (100): members of the room, senders included;
//! - `--senders S` (1): how many of the members send;
//! - `--messages M` (2000): messages per run, spread over the senders;
//! - `--rate R` (0): offered messages/s over all senders; 0 sends everything at once (burst);
//! - `--reps K` (1): runs, each in a fresh room with fresh connections;
//! - `--label L`: a tag echoed in the result lines;
//! - `--protocol typed|socketio` (typed): the wire protocol, as above;
//! - `--server-pid P`: the server's process, for its CPU time during the run (below).
//!
//! Who waited for a core, from Linux's per-thread `schedstat` between the first send and the
//! last receipt: `loadgen_wait_ms`, the time this generator's threads were runnable but not
//! running, and with `--server-pid`, the server's CPU time (`server_cpu_ms`) and its threads'
//! wait (`server_wait_ms`); `null` where /proc has no `schedstat`. Server and generator share
//! this machine's cores: a generator that waits for one reports latency no server caused.
//!
//! Each run prints a human line and one `RESULT {json}` line (for `scripts/bench.sh`). The exit
//! status is 1 when any run lost deliveries or failed. Clients and servers share this machine's
//! cores, so the figures are a floor, not a ceiling.

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
/// Setting a run up (everyone connected and aware of everyone) may take this long.
const SETUP_LIMIT: Duration = Duration::from_secs(60);
/// Join traffic quiet this long (after everyone joined) counts as settled.
const QUIET: Duration = Duration::from_millis(500);
/// Connecting and joining one client may take this long.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections opened at once while setting up a run.
const CONNECT_PARALLELISM: usize = 32;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What one invocation runs.
#[derive(Clone, Debug)]
struct Plan {
    urls: Vec<String>,
    sender_url: Option<String>,
    clients: usize,
    senders: usize,
    messages: usize,
    rate: usize,
    reps: usize,
    label: String,
    protocol: Protocol,
    server_pid: Option<u32>,
}

/// The wire protocol the clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// docs/protocol.md's typed chat (`/ws/typed-chat`).
    Typed,
    /// socket.io 4 over Engine.io v4's WebSocket transport.
    SocketIo,
}

/// Figures of one run.
struct RunResult {
    delivered: usize,
    expected: usize,
    closed_early: usize,
    elapsed_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// This generator's threads' time runnable but not running, ms.
    loadgen_wait_ms: Option<f64>,
    /// The server's CPU time and its threads' wait for a core, ms.
    server: Option<(f64, f64)>,
}

/// Linux's scheduler counters summed over the threads of process `pid` (`self` for this one):
/// `(cpu_ns, wait_ns)`, time run and time runnable but waiting for a core, the first two fields
/// of each `/proc/PID/task/TID/schedstat`; `None` where /proc does not have them.
fn schedstat(pid: &str) -> Option<(u64, u64)> {
    let mut sum = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        // A thread that ended between the listing and the read is skipped.
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            continue;
        };
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(cpu)), Some(Ok(wait))) = (fields.next(), fields.next()) else {
            return None;
        };
        sum.0 += cpu;
        sum.1 += wait;
    }
    Some(sum)
}

/// `schedstat` differences in ms: `(cpu, wait)`.
fn sched_delta(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<(f64, f64)> {
    let ((cpu0, wait0), (cpu1, wait1)) = (before?, after?);
    Some((
        cpu1.saturating_sub(cpu0) as f64 / 1e6,
        wait1.saturating_sub(wait0) as f64 / 1e6,
    ))
}

/// A JSON number with 3 decimals, or `null`.
fn json_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| format!("{v:.3}"))
}

fn parse_args() -> BenchResult<Plan> {
    let mut plan = Plan {
        urls: Vec::new(),
        sender_url: None,
        clients: 100,
        senders: 1,
        messages: 2000,
        rate: 0,
        reps: 1,
        label: String::new(),
        protocol: Protocol::Typed,
        server_pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => plan.urls.extend(
                value()?
                    .split(',')
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            ),
            "--sender-url" => plan.sender_url = Some(value()?),
            "--clients" => plan.clients = value()?.parse()?,
            "--senders" => plan.senders = value()?.parse()?,
            "--messages" => plan.messages = value()?.parse()?,
            "--rate" => plan.rate = value()?.parse()?,
            "--reps" => plan.reps = value()?.parse()?,
            "--label" => plan.label = value()?,
            "--server-pid" => plan.server_pid = Some(value()?.parse()?),
            "--protocol" => {
                plan.protocol = match value()?.as_str() {
                    "typed" => Protocol::Typed,
                    "socketio" => Protocol::SocketIo,
                    other => {
                        return Err(format!("unknown protocol {other} (typed, socketio)").into())
                    }
                }
            }
            "-h" | "--help" => {
                println!("see the header of server/examples/fanout_bench.rs for the flags");
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    plan.clients = plan.clients.max(1);
    plan.senders = plan.senders.clamp(1, plan.clients);
    plan.reps = plan.reps.max(1);
    Ok(plan)
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let mut plan = parse_args()?;
    if !plan.urls.is_empty() {
        return drive(&plan).await;
    }
    // No target given: the historical in-process run, paced then burst, each on a fresh server.
    let clients = env_usize("BENCH_CLIENTS", plan.clients);
    let messages = env_usize("BENCH_MESSAGES", plan.messages);
    plan.clients = clients;
    plan.senders = clients;
    plan.messages = messages;
    let defaults = Config {
        demo_interval_ms: 0,
        ..Config::default()
    };
    // Default limits (queue 256, 50 msg/s, burst 100): each client sends messages/clients
    // messages (20), well inside its burst.
    let paced = Plan {
        rate: env_usize("BENCH_RATE", 2000).max(1),
        label: "paced".into(),
        ..plan.clone()
    };
    let result_paced = in_process(defaults.clone(), &paced).await;
    // All at once the room gets `messages` frames per member in an instant: a queue that fits
    // the burst measures the fan-out itself rather than slow-consumer closes.
    let burst = Plan {
        rate: 0,
        label: "burst".into(),
        ..plan
    };
    let burst_config = Config {
        outbound_queue: messages.max(256) * 2,
        ..defaults
    };
    let result_burst = in_process(burst_config, &burst).await;
    result_paced?;
    result_burst
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts a server in-process on a free port and drives it.
async fn in_process(config: Config, plan: &Plan) -> BenchResult<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(config, listener, async move {
        let _ = stop_rx.await;
    }));
    let plan = Plan {
        urls: vec![format!("ws://{addr}/ws/typed-chat")],
        ..plan.clone()
    };
    let result = drive(&plan).await;
    let _ = stop_tx.send(());
    let _ = timeout(Duration::from_secs(5), server).await;
    result
}

/// Runs `plan.reps` runs against `plan.urls` and prints each.
async fn drive(plan: &Plan) -> BenchResult<()> {
    let mode = if plan.rate == 0 {
        "all at once".to_string()
    } else {
        format!("{} msg/s", plan.rate)
    };
    println!(
        "fanout_bench{}: {} clients ({} sending) over {} URL(s), {} messages per run ({mode}), {} run(s)",
        if plan.label.is_empty() { String::new() } else { format!(" [{}]", plan.label) },
        plan.clients,
        plan.senders,
        plan.urls.len(),
        plan.messages,
        plan.reps
    );
    let mut failed = false;
    for rep in 0..plan.reps {
        let room = format!("bench-{}-{rep}", std::process::id());
        match run(plan, &room).await {
            Ok(r) => {
                let rate = r.delivered as f64 / r.elapsed_s.max(1e-9);
                let waits = match (r.loadgen_wait_ms, r.server) {
                    (Some(wait), Some((cpu, server_wait))) => format!("; load generator waited for a core {wait:.1} ms; server CPU {cpu:.0} ms, waited for a core {server_wait:.1} ms"),
                    (Some(wait), None) => format!("; load generator waited for a core {wait:.1} ms"),
                    _ => String::new(),
                };
                println!(
                    "  run {}: delivered {}/{} in {:.3} s = {rate:.0} msg/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} closed early{waits})",
                    rep + 1, r.delivered, r.expected, r.elapsed_s, r.p50_ms, r.p99_ms, r.max_ms, r.closed_early
                );
                println!(
                    "RESULT {{\"label\":{:?},\"rep\":{},\"clients\":{},\"senders\":{},\"messages\":{},\"rate\":{},\"delivered\":{},\"expected\":{},\"closed_early\":{},\"elapsed_s\":{:.6},\"msgs_per_s\":{rate:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"loadgen_wait_ms\":{},\"server_cpu_ms\":{},\"server_wait_ms\":{}}}",
                    plan.label, rep + 1, plan.clients, plan.senders, plan.messages, plan.rate,
                    r.delivered, r.expected, r.closed_early, r.elapsed_s, r.p50_ms, r.p99_ms, r.max_ms,
                    json_ms(r.loadgen_wait_ms), json_ms(r.server.map(|s| s.0)), json_ms(r.server.map(|s| s.1))
                );
                failed |= r.delivered < r.expected;
            }
            Err(e) => {
                println!("  run {}: failed: {e}", rep + 1);
                println!(
                    "RESULT {{\"label\":{:?},\"rep\":{},\"error\":{:?}}}",
                    plan.label,
                    rep + 1,
                    e.to_string()
                );
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `url`, waits for the welcome, joins `room` and waits for `joined`; returns the
/// socket and how many members the `joined` list named (socket.io announces no joins, so there
/// is nothing to wait for: `usize::MAX`, a member that counts as settled at once).
async fn connect_and_join(
    url: &str,
    room: &str,
    protocol: Protocol,
) -> BenchResult<(Socket, usize)> {
    // Browsers disable Nagle for WebSockets too; without it small frames wait for ACKs.
    let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
    let (mut ws, _) = timeout(JOIN_TIMEOUT, connect)
        .await
        .map_err(|_| format!("connecting to {url} timed out"))??;
    if protocol == Protocol::SocketIo {
        // Engine.io open packet, then a CONNECT to the main namespace and its answer.
        next_text(&mut ws, |t| t.starts_with('0')).await?;
        ws.send(Message::text("40")).await?;
        next_text(&mut ws, |t| t.starts_with("40")).await?;
        ws.send(Message::text(format!(r#"421["join",{{"room":"{room}"}}]"#)))
            .await?;
        next_text(&mut ws, |t| t.starts_with("431")).await?;
        return Ok((ws, usize::MAX));
    }
    ws.send(Message::text(format!(
        r#"{{"type":"join","room":"{room}"}}"#
    )))
    .await?;
    let text = next_text(&mut ws, |t| t.contains(r#""type":"joined""#)).await?;
    Ok((ws, text.matches(r#""userId":"#).count()))
}

/// Reads text frames until one satisfies `wanted` (within [`JOIN_TIMEOUT`] each); returns it.
async fn next_text(ws: &mut Socket, wanted: impl Fn(&str) -> bool) -> BenchResult<String> {
    loop {
        let frame = timeout(JOIN_TIMEOUT, ws.next())
            .await
            .map_err(|_| "no answer in time while joining")?
            .ok_or("closed while joining")??;
        if let Ok(text) = frame.to_text() {
            if wanted(text) {
                return Ok(text.to_owned());
            }
        }
    }
}

/// One run in a fresh room: connect, join, send, collect.
async fn run(plan: &Plan, room: &str) -> BenchResult<RunResult> {
    let clients = plan.clients;
    let messages = plan.messages;
    // Member i connects to: senders → the sender URL; receivers → round-robin over `urls`.
    let sender_url = plan
        .sender_url
        .clone()
        .unwrap_or_else(|| plan.urls[0].clone());
    let url_of = |i: usize| {
        if i < plan.senders {
            sender_url.clone()
        } else {
            plan.urls[(i - plan.senders) % plan.urls.len()].clone()
        }
    };
    let base = Instant::now();
    let deadline = base + SETUP_LIMIT + DEADLINE;
    // Readers start as soon as their client has joined, so the `user:joined` frames of later
    // joiners are drained before the clock starts; `settled` counts clients that have seen the
    // whole room.
    let settled = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(AtomicUsize::new(0));
    let closed_early = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::with_capacity(clients);
    let mut sinks = Vec::with_capacity(clients);
    let indices: Vec<usize> = (0..clients).collect();
    // Connect in small parallel batches.
    for batch in indices.chunks(CONNECT_PARALLELISM) {
        let joins = batch.iter().map(|&i| {
            let url = url_of(i);
            let room = room.to_string();
            let protocol = plan.protocol;
            tokio::spawn(async move { connect_and_join(&url, &room, protocol).await })
        });
        for (offset, join) in futures_util::future::join_all(joins)
            .await
            .into_iter()
            .enumerate()
        {
            let (ws, members) = join??;
            let index = batch[0] + offset;
            let (sink, stream) = ws.split();
            sinks.push(sink);
            readers.push(tokio::spawn(read_member(
                stream,
                Member {
                    index,
                    members,
                    clients,
                    messages,
                    base,
                    deadline,
                },
                [settled.clone(), frames.clone()],
                closed_early.clone(),
            )));
        }
    }
    // Wait until every member has heard of every other one, or (should a server drop a
    // `user:joined` while joins race) until the join traffic has been quiet for a while.
    let setup_end = Instant::now() + SETUP_LIMIT;
    let mut last = (frames.load(Ordering::Acquire), Instant::now());
    loop {
        let done = settled.load(Ordering::Acquire);
        if done >= clients {
            break;
        }
        let now = Instant::now();
        let seen = frames.load(Ordering::Acquire);
        if seen != last.0 {
            last = (seen, now);
        } else if now - last.1 > QUIET {
            eprintln!(
                "warning: {} of {clients} clients never heard of the whole room (missed user:joined frames)",
                clients - done
            );
            break;
        }
        if now > setup_end {
            return Err(format!(
                "only {done} of {clients} clients saw the whole room within {SETUP_LIMIT:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let start = Instant::now() + Duration::from_millis(50);
    let interval = if plan.rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(1.0 / plan.rate as f64)
    };
    let server_pid = plan.server_pid.map(|pid| pid.to_string());
    let sched_before = (schedstat("self"), server_pid.as_deref().and_then(schedstat));
    let mut senders = Vec::with_capacity(plan.senders);
    let mut idle_sinks = Vec::with_capacity(clients);
    for (index, mut sink) in sinks.into_iter().enumerate() {
        if index >= plan.senders {
            idle_sinks.push(sink);
            continue;
        }
        let room = room.to_string();
        let step = plan.senders;
        let protocol = plan.protocol;
        senders.push(tokio::spawn(async move {
            // Sender `index` sends message numbers index, index + senders, ...
            for seq in (index..messages).step_by(step) {
                if !interval.is_zero() {
                    sleep_until(start + interval * seq as u32).await;
                } else if seq == index {
                    sleep_until(start).await;
                }
                let sent_at = base.elapsed().as_micros();
                let text = match protocol {
                    Protocol::Typed => {
                        format!(r#"{{"type":"message","room":"{room}","text":"{seq} {sent_at}"}}"#)
                    }
                    Protocol::SocketIo => {
                        format!(r#"42["message",{{"room":"{room}","text":"{seq} {sent_at}"}}]"#)
                    }
                };
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            sink
        }));
    }

    for sender in senders {
        if let Ok(sink) = sender.await {
            idle_sinks.push(sink);
        }
    }
    let mut latencies = Vec::with_capacity(messages * clients);
    let mut last_receipt = start;
    for reader in readers {
        let (mut got, finished) = reader.await?;
        latencies.append(&mut got);
        last_receipt = last_receipt.max(finished);
    }
    let sched_after = (schedstat("self"), server_pid.as_deref().and_then(schedstat));
    let closes = idle_sinks.into_iter().map(|mut sink| async move {
        let _ = timeout(Duration::from_secs(1), sink.close()).await;
    });
    futures_util::future::join_all(closes).await;
    // Leaving is a broadcast to everyone still there: let that storm pass before the next run.
    tokio::time::sleep(Duration::from_millis(200 + clients as u64)).await;

    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        latencies[rank] as f64 / 1000.0
    };
    Ok(RunResult {
        delivered: latencies.len(),
        expected: messages * clients,
        closed_early: closed_early.load(Ordering::Relaxed),
        elapsed_s: last_receipt.saturating_duration_since(start).as_secs_f64(),
        p50_ms: pct(50.0),
        p99_ms: pct(99.0),
        max_ms: pct(100.0),
        loadgen_wait_ms: sched_delta(sched_before.0, sched_after.0).map(|(_, wait)| wait),
        server: sched_delta(sched_before.1, sched_after.1),
    })
}

/// What a reader needs to know about its member.
struct Member {
    index: usize,
    /// Members named in its `joined` frame (itself included).
    members: usize,
    clients: usize,
    messages: usize,
    base: Instant,
    deadline: Instant,
}

/// Reads one member's frames: counts joins until it has seen the whole room (then bumps
/// `settled`), then collects the latency of each `message` until it has them all.
async fn read_member(
    mut stream: futures_util::stream::SplitStream<Socket>,
    me: Member,
    [settled, frames]: [Arc<AtomicUsize>; 2],
    closed_early: Arc<AtomicUsize>,
) -> (Vec<u64>, Instant) {
    let mut seen = me.members;
    if seen >= me.clients {
        settled.fetch_add(1, Ordering::AcqRel);
    }
    let mut latencies = Vec::with_capacity(me.messages);
    while latencies.len() < me.messages {
        // A quiet gap after the start means the senders are gone (closed as slow consumers).
        let wait = timeout(
            IDLE_GAP.max(SETUP_LIMIT * u32::from(seen < me.clients)),
            stream.next(),
        );
        let frame = match timeout_at(me.deadline, wait).await {
            Ok(Ok(Some(Ok(frame)))) => frame,
            Ok(Ok(_)) => {
                closed_early.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Err(_)) | Err(_) => break,
        };
        if let Message::Close(close) = &frame {
            let code = close.as_ref().map_or(1005, |c| u16::from(c.code));
            eprintln!("client {} closed by the server with {code}", me.index);
        }
        let Message::Text(text) = frame else { continue };
        if let Some(sent_at) = sent_micros(&text) {
            let now = me.base.elapsed().as_micros() as u64;
            latencies.push(now.saturating_sub(sent_at));
        } else if seen < me.clients && text.contains(r#""type":"user:joined""#) {
            frames.fetch_add(1, Ordering::Relaxed);
            seen += 1;
            if seen == me.clients {
                settled.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    (latencies, Instant::now())
}

/// Pulls the send time (µs since the run's base instant) out of `"text":"<seq> <µs>"` in a
/// typed-chat `message` or a socket.io `message` event.
fn sent_micros(frame: &str) -> Option<u64> {
    if !(frame.starts_with(r#"42["message","#) || frame.contains(r#""type":"message""#)) {
        return None;
    }
    let text = frame.split(r#""text":""#).nth(1)?;
    let body = text.split('"').next()?;
    body.split(' ').nth(1)?.parse().ok()
}
