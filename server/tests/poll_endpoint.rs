//! Adding a message type to one endpoint without touching any other endpoint's code: a poll,
//! defined entirely in this file — its own client message type (`vote`), its own server frames,
//! a start-up value and a per-instance counter in the extension slot, and the tally in the
//! shared store — mounted with `Server::route` next to the built-in endpoints on the shared
//! socket loop, which gives it `welcome`, `ping`, limits and the error codes for free. It lives
//! at `/ws/test/poll` (topic `test-poll`) so that an app's own `/ws/poll`, as
//! `cargo xtask new-page poll --endpoint` makes it, never collides with it.

mod common;
#[path = "common/message_props.rs"]
mod message_props;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::redis_server::Redis;
use common::*;
use realtime_server::connection::{endpoint_topic, ws_route, Conn, Endpoint};
use realtime_server::protocol::{ClientMessage, ProtocolError};
use realtime_server::{Config, Server};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

// ---------------------------------------------------------------------------------------------
// The endpoint, as an app would write it in `src/poll.rs`.

/// The options; anything else in a `vote` is `invalid` (serde refuses it, no code of ours).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Choice {
    Tea,
    Coffee,
    Water,
}

/// What a poll client sends (besides `ping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
enum PollMsg {
    /// `{type:"vote", option}`.
    #[serde(rename = "vote")]
    Vote { option: Choice },
}

impl ClientMessage for PollMsg {}

/// What the poll sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
enum PollFrame {
    /// To a new client, after `welcome`.
    #[serde(rename = "poll")]
    Poll { question: String },
    /// To everyone after a vote: the option's count over all instances, and how many votes
    /// this instance took (per instance on purpose, to show the difference).
    #[serde(rename = "tally")]
    Tally {
        option: Choice,
        votes: i64,
        votes_here: u64,
    },
}

/// Set at start-up with `Server::extension`.
struct Question(&'static str);

/// Endpoint-wide, per instance: made on first use.
#[derive(Default)]
struct VotesHere(AtomicU64);

#[derive(Default)]
struct Poll;

impl Endpoint for Poll {
    const NAME: &'static str = "test-poll";
    type Msg = PollMsg;

    async fn on_open(&mut self, conn: &mut Conn) {
        let question = conn.state.extensions.get::<Question>();
        let question = question.map_or("?", |q| q.0).to_string();
        conn.send(&PollFrame::Poll { question });
    }

    async fn on_message(&mut self, conn: &mut Conn, msg: PollMsg) -> Result<(), ProtocolError> {
        let PollMsg::Vote { option } = msg;
        let key = format!("poll:votes:{}", json!(option).as_str().unwrap_or_default());
        let votes = match conn.state.backend.store.incr(&key, 1).await {
            Ok(votes) => votes,
            Err(e) => {
                tracing::warn!(error = %e, "vote not counted");
                return Ok(());
            }
        };
        let here = conn.state.extensions.get_or_default::<VotesHere>();
        let votes_here = here.0.fetch_add(1, Ordering::Relaxed) + 1;
        let tally = PollFrame::Tally {
            option,
            votes,
            votes_here,
        };
        conn.broadcast(&endpoint_topic(Self::NAME), &tally).await;
        Ok(())
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}

/// The server with the poll mounted.
fn with_poll(config: Config) -> Server {
    Server::new(config)
        .route("/ws/test/poll", ws_route::<Poll>())
        .extension(Question("Tea, coffee or water?"))
}

// ---------------------------------------------------------------------------------------------

async fn join_poll(server: &TestServer) -> (Ws, Value) {
    let (mut ws, welcome) = connect(server, "/ws/test/poll").await;
    let poll = recv_json(&mut ws).await;
    assert_eq!(
        poll,
        json!({"type": "poll", "question": "Tea, coffee or water?"})
    );
    (ws, welcome)
}

#[test]
fn poll_messages_pass_the_generic_decoder_properties() {
    let report = message_props::check::<PollMsg>();
    assert!(report.without_sample.is_empty(), "{report:?}");
    assert_eq!(PollMsg::types(), ["vote"]);
}

#[tokio::test]
async fn votes_reach_every_poll_client_and_bad_ones_get_the_shared_error_codes() {
    let config = test_config();
    let backend = realtime_server::Backend::in_process(config.sse_buffer);
    let server = TestServer::start_with(with_poll(config).backend(backend)).await;
    let (mut ada, _) = join_poll(&server).await;
    let (mut bob, _) = join_poll(&server).await;

    send_json(&mut ada, json!({"type": "vote", "option": "tea"})).await;
    let first = json!({"type": "tally", "option": "tea", "votes": 1, "votesHere": 1});
    assert_eq!(recv_json(&mut ada).await, first);
    assert_eq!(recv_json(&mut bob).await, first);
    send_json(&mut bob, json!({"type": "vote", "option": "tea"})).await;
    let second = json!({"type": "tally", "option": "tea", "votes": 2, "votesHere": 2});
    assert_eq!(recv_json(&mut ada).await, second);
    assert_eq!(recv_json(&mut bob).await, second);

    for (frame, code) in [
        (json!({"type": "vote"}), "invalid"),
        (json!({"type": "vote", "option": "milk"}), "invalid"),
        (json!({"type": "vote", "option": 1}), "invalid"),
        (json!({"type": "vote", "option": null}), "invalid"),
        (json!({"type": "message", "text": "hi"}), "unknown_type"),
        (json!({"type": "join", "room": "r"}), "unknown_type"),
        (json!({"kind": "vote"}), "malformed"),
    ] {
        send_json(&mut ada, frame.clone()).await;
        let reply = recv_json(&mut ada).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}: {reply}"
        );
    }
    // Nothing reached Bob, and both sockets are open and answer pings.
    assert_alive_and_quiet(&mut bob).await;
    assert_alive_and_quiet(&mut ada).await;

    // The built-in endpoints did not change: chat knows no `vote`, and chats as before.
    let (mut chat, _) = connect(&server, "/ws/chat").await;
    send_json(&mut chat, json!({"type": "vote", "option": "tea"})).await;
    assert_eq!(recv_json(&mut chat).await["code"], "unknown_type");
    send_json(
        &mut chat,
        json!({"type": "message", "text": "still chatting"}),
    )
    .await;
    let echoed = recv_json(&mut chat).await;
    assert_eq!(
        (echoed["type"].as_str(), echoed["text"].as_str()),
        (Some("message"), Some("still chatting"))
    );
    // Chat's broadcast never reached the poll.
    assert_alive_and_quiet(&mut ada).await;
}

/// Waits until `/healthz` says the Redis backend is fully connected.
async fn wait_ok(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http(server.addr, "GET", "/healthz", &[], b"").await;
        let health: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if health["status"] == "ok" && health["broker"]["kind"] == "redis" {
            return;
        }
        assert!(Instant::now() < deadline, "never ok: {health}");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_one_tally() {
    let redis = Redis::start().await;
    let config = Config {
        redis_url: Some(redis.url()),
        redis_prefix: format!("t{}-poll", std::process::id()),
        ..test_config()
    };
    let one = TestServer::start_with(with_poll(config.clone())).await;
    let two = TestServer::start_with(with_poll(config)).await;
    wait_ok(&one).await;
    wait_ok(&two).await;
    let (mut ada, ada_welcome) = join_poll(&one).await;
    let (mut bob, bob_welcome) = join_poll(&two).await;
    assert_ne!(
        ada_welcome["userId"], bob_welcome["userId"],
        "two instances: {ada_welcome} {bob_welcome}"
    );

    send_json(&mut ada, json!({"type": "vote", "option": "coffee"})).await;
    let first = json!({"type": "tally", "option": "coffee", "votes": 1, "votesHere": 1});
    assert_eq!(recv_json(&mut ada).await, first);
    assert_eq!(recv_json(&mut bob).await, first, "across instances");
    send_json(&mut bob, json!({"type": "vote", "option": "coffee"})).await;
    // One tally in Redis; each instance took one vote itself.
    let second = json!({"type": "tally", "option": "coffee", "votes": 2, "votesHere": 1});
    assert_eq!(recv_json(&mut bob).await, second);
    assert_eq!(recv_json(&mut ada).await, second, "across instances");
}
