//! `/ws/presence`: who is here and where their cursor is, per room, with a TTL for silent
//! clients.
//!
//! A socket is in one room: `?room=` when it connects (default [`DEFAULT_ROOM`]), or the
//! `roomId` of a `presence:update` (the seed's field), which moves it. Joins, updates and leaves
//! go to that room only; a newcomer gets the room's snapshot once. The periodic refresh is one
//! small `presence:tick` per client ("everyone you have is still here"), not the whole board:
//! every departure is announced (`presence:leave` on close, on the idle timeout, and from the
//! refresh for entries that vanished without a goodbye when another instance died), so the
//! refresh costs O(clients) bytes per tick instead of O(clients²).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use crate::broker::{presence_now, Envelope};
use crate::config::Config;
use crate::connection::{Conn, Endpoint};
use crate::protocol::{
    is_valid_room, now_ms, ClientMessage, Cursor, Presence, ProtocolError, RoomName, ServerMsg,
};
use crate::state::SharedState;

/// The room of a socket that names none.
pub const DEFAULT_ROOM: &str = "lobby";

/// What every presence room's broker topic (and presence set) starts with.
pub const PRESENCE_PREFIX: &str = "presence:";

/// The broker topic and presence set of `room`.
pub fn presence_topic(room: &str) -> String {
    format!("{PRESENCE_PREFIX}{room}")
}

/// What a `/ws/presence` client sends (besides `ping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum PresenceMsg {
    /// Move (or clear) the user's cursor; a `roomId` other than the socket's room moves the
    /// socket there first (leave, join, snapshot of the new room).
    #[serde(rename = "presence:update")]
    Update {
        /// New cursor; absent or `null` clears it.
        #[serde(default)]
        cursor: Option<Cursor>,
        /// The room (the seed's field); absent: the socket's room.
        #[serde(default)]
        room_id: Option<RoomName>,
    },
}

impl ClientMessage for PresenceMsg {}

/// The presence endpoint; holds this socket's own entry and room.
#[derive(Debug, Default)]
pub struct PresenceBoard {
    me: Option<Presence>,
    room: Option<String>,
}

impl PresenceBoard {
    async fn store(&self, conn: &Conn) {
        let (Some(me), Some(room)) = (self.me.clone(), self.room.as_deref()) else {
            return;
        };
        if let Err(e) = conn
            .state
            .backend
            .presence
            .upsert(&presence_topic(room), me)
            .await
        {
            tracing::warn!(error = %e, "presence update failed");
        }
    }

    /// Enters `room`: stored, subscribed, the snapshot to this client, a join to the others.
    async fn enter(&mut self, conn: &mut Conn, room: String) {
        let topic = presence_topic(&room);
        self.room = Some(room);
        self.store(conn).await;
        conn.subscribe(topic.clone()).await;
        let Some(me) = self.me.clone() else { return };
        let users = match conn.state.backend.presence.list(&topic).await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "presence listing failed");
                vec![me.clone()]
            }
        };
        conn.send(&ServerMsg::PresenceSnapshot { users });
        conn.broadcast_to_others(&topic, &ServerMsg::PresenceJoin(me))
            .await;
    }

    /// Leaves the current room: removed, a leave to the others, unsubscribed.
    async fn leave(&mut self, conn: &mut Conn) {
        let Some(room) = self.room.take() else { return };
        let topic = presence_topic(&room);
        if let Err(e) = conn
            .state
            .backend
            .presence
            .remove(&topic, &conn.user.id)
            .await
        {
            tracing::warn!(error = %e, "presence removal failed");
        }
        let leave = ServerMsg::PresenceLeave {
            user_id: conn.user.id.to_string(),
        };
        conn.broadcast_to_others(&topic, &leave).await;
        conn.unsubscribe(&topic).await;
    }
}

impl Endpoint for PresenceBoard {
    const NAME: &'static str = "presence";
    type Msg = PresenceMsg;

    fn idle_timeout(&self, config: &Config) -> Option<Duration> {
        Some(config.presence_ttl())
    }

    async fn on_open(&mut self, conn: &mut Conn) {
        self.me = Some(presence_now(&conn.user.id, &conn.user.name));
        let asked = conn.query_param("room");
        let room = match asked.as_deref() {
            Some(room) if is_valid_room(room) => room.to_string(),
            Some(_) => {
                conn.send(
                    &ProtocolError::invalid(format!(
                        "\"room\" must be 1..=32 characters of [A-Za-z0-9_-]; joined \"{DEFAULT_ROOM}\""
                    ))
                    .to_server_msg(),
                );
                DEFAULT_ROOM.to_string()
            }
            None => DEFAULT_ROOM.to_string(),
        };
        self.enter(conn, room).await;
    }

    async fn on_activity(&mut self, conn: &mut Conn) {
        if let Some(me) = self.me.as_mut() {
            me.last_seen = now_ms();
        }
        self.store(conn).await;
    }

    async fn on_message(&mut self, conn: &mut Conn, msg: PresenceMsg) -> Result<(), ProtocolError> {
        let PresenceMsg::Update { cursor, room_id } = msg;
        if let Some(room) = room_id.map(String::from) {
            if self.room.as_deref() != Some(room.as_str()) {
                self.leave(conn).await;
                self.enter(conn, room).await;
            }
        }
        let (Some(me), Some(room)) = (self.me.as_mut(), self.room.as_deref()) else {
            return Ok(());
        };
        me.cursor = cursor;
        me.last_seen = now_ms();
        let update = ServerMsg::PresenceUpdate(me.clone());
        let topic = presence_topic(room);
        self.store(conn).await;
        conn.broadcast_to_others(&topic, &update).await;
        Ok(())
    }

    async fn on_close(&mut self, conn: &mut Conn) {
        self.leave(conn).await;
    }
}

/// Every TTL/3, for each room with a client on this instance: announces departures nobody
/// announced (entries older than twice the TTL are removed; entries that vanished from a shared
/// store because their instance died are noticed by comparing with the last look), then sends
/// the room's clients one `presence:tick`: everyone else they list is still here.
pub async fn refresh_loop(state: SharedState) {
    let ttl = state.config.presence_ttl();
    let every = (ttl / 3).max(Duration::from_millis(10));
    let mut ticks = interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    let tick = Envelope::to_all(ServerMsg::PresenceTick {}.to_json());
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let store = &state.backend.presence;
        let broker = &state.backend.broker;
        let topics = broker.local_topics(PRESENCE_PREFIX);
        known.retain(|topic, _| topics.contains(topic));
        for topic in topics {
            let users = match store.list(&topic).await {
                Ok(users) => users,
                Err(e) => {
                    tracing::warn!(error = %e, "presence listing failed");
                    continue;
                }
            };
            // Live sockets refresh their entry at least every TTL (or are closed), so twice the
            // TTL only catches entries nobody owns any more.
            let stale_before = now_ms().saturating_sub(2 * ttl.as_millis() as u64);
            let mut now = HashSet::new();
            for user in users {
                if user.last_seen < stale_before {
                    if let Ok(true) = store.remove(&topic, &user.user_id).await {
                        let leave = ServerMsg::PresenceLeave {
                            user_id: user.user_id,
                        };
                        let _ = broker
                            .publish(&topic, Envelope::to_all(leave.to_json()))
                            .await;
                    }
                } else {
                    now.insert(user.user_id);
                }
            }
            // Only a shared store loses entries without a goodbye (its TTL, when their instance
            // died); in one process every departure was announced when it happened.
            if let Some(before) = known.get(&topic).filter(|_| store.entries_expire()) {
                for gone in before.difference(&now) {
                    let leave = ServerMsg::PresenceLeave {
                        user_id: gone.clone(),
                    };
                    let _ = broker
                        .publish_local(&topic, Envelope::to_all(leave.to_json()))
                        .await;
                }
            }
            known.insert(topic.clone(), now);
            if let Err(e) = broker.publish_local(&topic, tick.clone()).await {
                tracing::warn!(error = %e, "presence tick publish failed");
            }
        }
    }
}
