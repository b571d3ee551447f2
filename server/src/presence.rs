//! `/ws/presence`: who is here and where their cursor is, with a TTL for silent clients.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use crate::broker::{presence_now, Envelope};
use crate::config::Config;
use crate::connection::{endpoint_topic, Conn, Endpoint};
use crate::protocol::{now_ms, ClientMessage, Cursor, Presence, ProtocolError, ServerMsg};
use crate::state::SharedState;

/// The presence set in the [`crate::broker::PresenceStore`].
pub const PRESENCE_SET: &str = "presence";

/// What a `/ws/presence` client sends (besides `ping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum PresenceMsg {
    /// Move (or clear) the user's cursor; a `roomId` (from the seed's protocol) is ignored.
    #[serde(rename = "presence:update")]
    Update {
        /// New cursor; absent or `null` clears it.
        #[serde(default)]
        cursor: Option<Cursor>,
    },
}

impl ClientMessage for PresenceMsg {}

/// The presence endpoint; holds this socket's own entry.
#[derive(Debug, Default)]
pub struct PresenceBoard {
    me: Option<Presence>,
}

impl PresenceBoard {
    async fn store(&self, conn: &Conn) {
        let Some(me) = self.me.clone() else { return };
        if let Err(e) = conn.state.backend.presence.upsert(PRESENCE_SET, me).await {
            tracing::warn!(error = %e, "presence update failed");
        }
    }
}

impl Endpoint for PresenceBoard {
    const NAME: &'static str = "presence";
    type Msg = PresenceMsg;

    fn idle_timeout(&self, config: &Config) -> Option<Duration> {
        Some(config.presence_ttl())
    }

    async fn on_open(&mut self, conn: &mut Conn) {
        let me = presence_now(&conn.user.id, &conn.user.name);
        self.me = Some(me.clone());
        self.store(conn).await;
        let users = match conn.state.backend.presence.list(PRESENCE_SET).await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "presence listing failed");
                vec![me.clone()]
            }
        };
        conn.send(&ServerMsg::PresenceSnapshot { users });
        conn.broadcast_to_others(&endpoint_topic(Self::NAME), &ServerMsg::PresenceJoin(me))
            .await;
    }

    async fn on_activity(&mut self, conn: &mut Conn) {
        if let Some(me) = self.me.as_mut() {
            me.last_seen = now_ms();
        }
        self.store(conn).await;
    }

    async fn on_message(&mut self, conn: &mut Conn, msg: PresenceMsg) -> Result<(), ProtocolError> {
        let PresenceMsg::Update { cursor } = msg;
        let Some(me) = self.me.as_mut() else {
            return Ok(());
        };
        me.cursor = cursor;
        me.last_seen = now_ms();
        let update = ServerMsg::PresenceUpdate(me.clone());
        self.store(conn).await;
        conn.broadcast_to_others(&endpoint_topic(Self::NAME), &update)
            .await;
        Ok(())
    }

    async fn on_close(&mut self, conn: &mut Conn) {
        if let Err(e) = conn
            .state
            .backend
            .presence
            .remove(PRESENCE_SET, &conn.user.id)
            .await
        {
            tracing::warn!(error = %e, "presence removal failed");
        }
        let leave = ServerMsg::PresenceLeave {
            user_id: conn.user.id.to_string(),
        };
        conn.broadcast_to_others(&endpoint_topic(Self::NAME), &leave)
            .await;
    }
}

/// Sends the full snapshot to every presence client each TTL/3, and drops entries whose
/// owner vanished without a goodbye (possible with a shared store when a node dies).
pub async fn snapshot_loop(state: SharedState) {
    let ttl = state.config.presence_ttl();
    let every = (ttl / 3).max(Duration::from_millis(10));
    let mut ticks = interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let topic = endpoint_topic(PresenceBoard::NAME);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let store = &state.backend.presence;
        let broker = &state.backend.broker;
        let users = match store.list(PRESENCE_SET).await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "presence listing failed");
                continue;
            }
        };
        // Live sockets refresh their entry at least every TTL (or are closed), so twice the
        // TTL only catches entries nobody owns any more.
        let stale_before = now_ms().saturating_sub(2 * ttl.as_millis() as u64);
        let (stale, live): (Vec<Presence>, Vec<Presence>) =
            users.into_iter().partition(|p| p.last_seen < stale_before);
        for gone in stale {
            if let Ok(true) = store.remove(PRESENCE_SET, &gone.user_id).await {
                let leave = ServerMsg::PresenceLeave {
                    user_id: gone.user_id,
                };
                let _ = broker
                    .publish(&topic, Envelope::to_all(leave.to_json()))
                    .await;
            }
        }
        if live.is_empty() {
            continue;
        }
        // Every instance sends the same shared snapshot to its own clients.
        let snapshot = ServerMsg::PresenceSnapshot { users: live };
        if let Err(e) = broker
            .publish_local(&topic, Envelope::to_all(snapshot.to_json()))
            .await
        {
            tracing::warn!(error = %e, "presence snapshot publish failed");
        }
    }
}
