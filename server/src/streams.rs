//! What the chat endpoints do with a [`crate::history`]: send a message with its `seq` (and
//! `ack` it), and bring a (re)joining client up to date before its live messages.
//!
//! Both run inside the stream's turn ([`crate::history::StreamTurns`]): on one instance, the
//! message appended last is published last, and a joiner subscribes and reads the history
//! while nobody appends, so its replay and its live messages neither overlap nor leave a gap.

use crate::broker::Envelope;
use crate::connection::Conn;
use crate::history::{
    dedupe_key, plan_replay, Entry, NewEntry, Position, Read, ReplayPlan, ReplayReason, Snapshot,
};
use crate::protocol::{now_ms, to_json, ClientId, ErrorCode, ProtocolError, ServerMsg};
use crate::state::SharedState;

/// The history stream of the global chat.
pub const CHAT_STREAM: &str = "chat";

/// The broker topic chat messages are published on (apart from the endpoint-wide topic, so
/// a socket receives them only once its replay is queued).
pub const CHAT_TOPIC: &str = "stream:chat";

/// What every typed-chat room's broker topic (and history stream) starts with.
pub const ROOM_TOPIC_PREFIX: &str = "room:";

/// How far before the moment a subscription was lost [`refill_loop`] re-delivers from: a frame
/// published just before may not have arrived either, and instances' clocks differ a little.
pub const REFILL_MARGIN_MS: u64 = 2_000;

/// Where a stream's messages go: the history stream, the broker topic, and the room the
/// frames name (typed chat).
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a> {
    /// History stream name (`chat`, `room:<name>`).
    pub name: &'a str,
    /// Broker topic its messages are published on.
    pub topic: &'a str,
    /// The room, for typed-chat frames.
    pub room: Option<&'a str>,
}

impl Stream<'_> {
    /// The frame every client receives for `entry`.
    pub fn frame(&self, entry: Entry) -> ServerMsg {
        match self.room {
            Some(room) => ServerMsg::RoomMessage {
                room: room.to_string(),
                seq: entry.seq,
                client_id: entry.client_id,
                user_id: entry.user_id,
                name: entry.name,
                text: entry.text,
                timestamp: entry.timestamp,
            },
            None => ServerMsg::ChatMessage {
                id: entry.seq,
                seq: entry.seq,
                client_id: entry.client_id,
                user_id: entry.user_id,
                name: entry.name,
                text: entry.text,
                timestamp: entry.timestamp,
            },
        }
    }

    /// The `replayed` frame closing a replay.
    pub fn replayed(&self, plan: &ReplayPlan) -> ServerMsg {
        ServerMsg::Replayed {
            room: self.room.map(str::to_string),
            epoch: plan.epoch.to_string(),
            from: plan.from,
            to: plan.to,
            recovered: plan.recovered,
            reason: plan.reason,
        }
    }
}

/// Appends `text` from this client to `stream`, publishes it to everyone (the sender
/// included) and acks its `clientId`. A resend of a `clientId` still in the history is only
/// acked again. A history that cannot be written refuses the message (`unavailable`): a
/// message without its place in the stream could never be replayed.
pub async fn send_message(
    conn: &Conn,
    stream: Stream<'_>,
    text: String,
    client_id: Option<ClientId>,
) -> Result<(), ProtocolError> {
    let state = conn.state.clone();
    let client_id = client_id.map(String::from);
    let new = NewEntry {
        user_id: conn.user.id.to_string(),
        name: conn.user.name.to_string(),
        text,
        timestamp: now_ms(),
        dedupe: client_id
            .as_deref()
            .map(|id| dedupe_key(conn.signed_user(), id)),
        client_id: client_id.clone(),
    };
    let _turn = state.turns.take(stream.name).await;
    let (appended, entry) = state
        .backend
        .history
        .append(stream.name, new)
        .await
        .map_err(|e| {
            tracing::warn!(stream = stream.name, error = %e, "history append failed");
            ProtocolError {
                code: ErrorCode::Unavailable,
                message: "message not sent: the history store is unreachable; try again".into(),
            }
        })?;
    if !appended.duplicate {
        conn.broadcast(stream.topic, &stream.frame(entry)).await;
    }
    if let Some(client_id) = client_id {
        conn.send(&ServerMsg::Ack {
            room: stream.room.map(str::to_string),
            client_id,
            seq: appended.seq,
        });
    }
    Ok(())
}

/// Reads `what` of `stream` (for a client at a position: [`Position::read`]); `None` when the
/// history cannot be read (logged).
pub async fn read_for(conn: &Conn, stream: &str, what: Read) -> Option<Snapshot> {
    match conn.state.backend.history.read(stream, what).await {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            tracing::warn!(stream, error = %e, "history read failed");
            None
        }
    }
}

/// What a client at `position` is replayed on `stream`: what it missed, or, when that cannot be
/// recovered, the newest history with the reason. `None` when the history cannot be read.
pub async fn plan_for(conn: &Conn, stream: &str, position: &Position) -> Option<ReplayPlan> {
    let limits = conn.state.config.history_limits();
    let what = position.read(&limits);
    let plan = plan_replay(read_for(conn, stream, what).await?, position, &limits);
    if plan.recovered || matches!(what, Read::Newest(_)) {
        return Some(plan);
    }
    // Read for a recovery that is not possible: the newest history instead.
    let newest = read_for(conn, stream, Read::Newest(limits.on_join)).await?;
    let mut plan_b = plan_replay(newest, &Position::Fresh, &limits);
    plan_b.reason = plan.reason;
    Some(plan_b)
}

/// Sends a replay: the planned messages, then `replayed`. Without a plan (the history could
/// not be read) only `replayed` with `recovered:false, reason:"unavailable"`.
pub fn send_replay(conn: &Conn, stream: Stream<'_>, plan: Option<ReplayPlan>) {
    let plan = plan.unwrap_or_else(|| ReplayPlan {
        epoch: "".into(),
        entries: Vec::new(),
        from: 0,
        to: 0,
        recovered: false,
        reason: Some(ReplayReason::Unavailable),
    });
    let closing = stream.replayed(&plan);
    for entry in plan.entries {
        conn.send(&stream.frame(entry));
    }
    conn.send(&closing);
}

/// Re-delivers chat messages after the broker's subscription to other instances was lost and is
/// back ([`crate::broker::Broker::resubscriptions`]): whatever another instance published
/// meanwhile never arrived here, although it is in the shared history and was acked to its
/// sender. For every chat stream with a client on this instance, the history's messages from
/// the loss ([`REFILL_MARGIN_MS`] before it) on go to those clients again. Some they already
/// have: clients drop a `seq` they have (docs/protocol.md), and a message is never missed.
pub async fn refill_loop(state: SharedState) {
    let Some(mut changes) = state.backend.broker.resubscriptions() else {
        return;
    };
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let Some(lost_at) = *changes.borrow_and_update() else {
            continue;
        };
        let from = lost_at.saturating_sub(REFILL_MARGIN_MS);
        let max = state.config.history_limits().max_messages;
        let broker = &state.backend.broker;
        let mut topics = broker.local_topics(CHAT_TOPIC);
        topics.extend(broker.local_topics(ROOM_TOPIC_PREFIX));
        for topic in topics {
            let stream = match topic.strip_prefix(ROOM_TOPIC_PREFIX) {
                Some(room) => Stream {
                    name: &topic,
                    topic: &topic,
                    room: Some(room),
                },
                None => Stream {
                    name: CHAT_STREAM,
                    topic: &topic,
                    room: None,
                },
            };
            let snapshot = match state
                .backend
                .history
                .read(stream.name, Read::Newest(max))
                .await
            {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    tracing::warn!(topic, error = %e, "history read for the refill failed");
                    continue;
                }
            };
            let mut sent = 0usize;
            for entry in snapshot.entries.into_iter().filter(|e| e.timestamp >= from) {
                let frame = Envelope::to_all(to_json(&stream.frame(entry)));
                if broker.publish_local(&topic, frame).await.is_ok() {
                    sent += 1;
                }
            }
            tracing::info!(
                topic,
                sent,
                "re-delivered what may have been missed while the subscription was down"
            );
        }
    }
}
