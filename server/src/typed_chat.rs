//! `/ws/typed-chat`: named rooms with join/leave, messages and typing indicators.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::broker::{presence_now, Envelope};
use crate::connection::{Conn, Endpoint};
use crate::history::Position;
use crate::protocol::{
    ClientId, ClientMessage, ErrorCode, Member, MessageText, ProtocolError, RoomName, ServerMsg,
};
use crate::state::SharedState;
use crate::streams::{plan_for, send_message, send_replay, Stream};

/// Rooms one socket may be in at once; bounds the work a single client can cause.
pub const MAX_ROOMS_PER_CONNECTION: usize = 32;

/// Broker topic (and membership set) of a room.
pub fn room_topic(room: &str) -> String {
    format!("{ROOM_TOPIC_PREFIX}{room}")
}

pub use crate::streams::ROOM_TOPIC_PREFIX;

/// What a `/ws/typed-chat` client sends (besides `ping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum TypedChatMsg {
    /// Enter a room (again: just get the member list), and get its history: what was missed
    /// since `since` (`EPOCH:SEQ`), else the newest messages.
    #[serde(rename = "join")]
    Join {
        /// Room name.
        room: RoomName,
        /// The last position the client has in this room, `EPOCH:SEQ`. Not a string, or
        /// malformed: the newest history with `reason:"invalid"`, never a refused join.
        #[serde(default)]
        since: Option<Value>,
    },
    /// Leave a room.
    #[serde(rename = "leave")]
    Leave {
        /// Room name.
        room: RoomName,
    },
    /// Text for everyone in a room, the sender included.
    #[serde(rename = "message")]
    Message {
        /// Target room.
        room: RoomName,
        /// Trimmed text, 1..=2000 characters.
        text: MessageText,
        /// The sender's id for this message: it gets an `ack`, and a resend is not repeated.
        #[serde(default)]
        client_id: Option<ClientId>,
    },
    /// Typing indicator for the others in a room.
    #[serde(rename = "typing")]
    Typing {
        /// Room name.
        room: RoomName,
        /// Whether the user is typing now.
        is_typing: bool,
    },
}

impl ClientMessage for TypedChatMsg {}

/// The rooms endpoint; remembers which rooms this socket is in.
#[derive(Debug, Default)]
pub struct TypedChat {
    rooms: Vec<String>,
}

impl TypedChat {
    fn require_member(&self, room: &str) -> Result<(), ProtocolError> {
        if self.rooms.iter().any(|r| r == room) {
            Ok(())
        } else {
            Err(ProtocolError {
                code: ErrorCode::NotInRoom,
                message: format!("not in room \"{room}\"; join it first"),
            })
        }
    }

    async fn join(
        &mut self,
        conn: &mut Conn,
        room: String,
        position: Position,
    ) -> Result<(), ProtocolError> {
        let topic = room_topic(&room);
        let newly_joined = !self.rooms.contains(&room);
        // The room's turn from before the subscription until the replay is queued: nothing is
        // appended on this instance meanwhile, so the replay ends where the live messages start.
        let state = conn.state.clone();
        let _turn = state.turns.take(&topic).await;
        if newly_joined {
            if !conn.state.may_join(&conn.user, &room) {
                return Err(ProtocolError {
                    code: ErrorCode::Forbidden,
                    message: format!("you may not join room \"{room}\""),
                });
            }
            if self.rooms.len() >= MAX_ROOMS_PER_CONNECTION {
                return Err(ProtocolError::invalid(format!(
                    "at most {MAX_ROOMS_PER_CONNECTION} rooms per connection"
                )));
            }
            let me = presence_now(&conn.user.id, &conn.user.name);
            if let Err(e) = conn.state.backend.presence.upsert(&topic, me).await {
                tracing::warn!(room, error = %e, "room membership update failed");
            }
            conn.subscribe(topic.clone()).await;
            self.rooms.push(room.clone());
            let joined = ServerMsg::UserJoined {
                room: room.clone(),
                user_id: conn.user.id.to_string(),
                name: conn.user.name.to_string(),
            };
            conn.broadcast_to_others(&topic, &joined).await;
        }
        // Joining again is harmless: the client gets the current member list (and a replay).
        let members = self.members(conn, &room).await;
        let users = members.iter().map(|m| m.user_id.clone()).collect();
        let plan = plan_for(conn, &topic, &position).await;
        conn.send(&ServerMsg::Joined {
            room: room.clone(),
            users,
            members: members.clone(),
            epoch: plan
                .as_ref()
                .map_or_else(String::new, |p| p.epoch.to_string()),
            seq: plan.as_ref().map_or(0, |p| p.to),
        });
        if newly_joined {
            // Someone joining or leaving while the list above was read has their
            // `user:joined`/`user:left` queued *before* our `joined`, which replaces the
            // client's list; so compare with a second reading and send the difference after it.
            // Clients treat these events as idempotent (a repeat changes nothing).
            // Sets, not nested scans: with 1,000 members the scans made every join O(n²), and
            // string compares were 16% of the server's CPU while a room of 1,000 filled up.
            let now = self.members(conn, &room).await;
            let before: HashSet<&Member> = members.iter().collect();
            let now_ids: HashSet<&str> = now.iter().map(|n| n.user_id.as_str()).collect();
            for m in now.iter().filter(|m| !before.contains(m)) {
                conn.send(&ServerMsg::UserJoined {
                    room: room.clone(),
                    user_id: m.user_id.clone(),
                    name: m.name.clone(),
                });
            }
            for m in members
                .iter()
                .filter(|m| !now_ids.contains(m.user_id.as_str()))
            {
                conn.send(&ServerMsg::UserLeft {
                    room: room.clone(),
                    user_id: m.user_id.clone(),
                });
            }
        }
        let stream = Stream {
            name: &topic,
            topic: &topic,
            room: Some(&room),
        };
        send_replay(conn, stream, plan);
        Ok(())
    }

    /// The room's members now (just this user if the store cannot answer).
    async fn members(&self, conn: &Conn, room: &str) -> Vec<Member> {
        match conn.state.backend.presence.list(&room_topic(room)).await {
            Ok(entries) => entries
                .into_iter()
                .map(|p| Member {
                    user_id: p.user_id,
                    name: p.name,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(room, error = %e, "room membership listing failed");
                vec![Member {
                    user_id: conn.user.id.to_string(),
                    name: conn.user.name.to_string(),
                }]
            }
        }
    }

    async fn leave(&mut self, conn: &mut Conn, room: &str) {
        let topic = room_topic(room);
        self.rooms.retain(|r| r != room);
        if let Err(e) = conn
            .state
            .backend
            .presence
            .remove(&topic, &conn.user.id)
            .await
        {
            tracing::warn!(room, error = %e, "room membership removal failed");
        }
        conn.unsubscribe(&topic).await;
        let left = ServerMsg::UserLeft {
            room: room.to_string(),
            user_id: conn.user.id.to_string(),
        };
        conn.broadcast_to_others(&topic, &left).await;
    }
}

impl Endpoint for TypedChat {
    const NAME: &'static str = "typed-chat";
    type Msg = TypedChatMsg;

    async fn on_open(&mut self, _conn: &mut Conn) {}

    async fn on_message(
        &mut self,
        conn: &mut Conn,
        msg: TypedChatMsg,
    ) -> Result<(), ProtocolError> {
        match msg {
            TypedChatMsg::Join { room, since } => {
                let position = match since {
                    None | Some(Value::Null) => Position::Fresh,
                    Some(Value::String(since)) => Position::parse(Some(&since)),
                    Some(_) => Position::Garbled,
                };
                self.join(conn, room.into(), position).await
            }
            TypedChatMsg::Leave { room } => {
                let room = String::from(room);
                self.require_member(&room)?;
                self.leave(conn, &room).await;
                conn.send(&ServerMsg::Left {
                    room,
                    user_id: conn.user.id.to_string(),
                });
                Ok(())
            }
            TypedChatMsg::Message {
                room,
                text,
                client_id,
            } => {
                let room = String::from(room);
                self.require_member(&room)?;
                let topic = room_topic(&room);
                let stream = Stream {
                    name: &topic,
                    topic: &topic,
                    room: Some(&room),
                };
                send_message(conn, stream, text.into(), client_id).await
            }
            TypedChatMsg::Typing { room, is_typing } => {
                let room = String::from(room);
                self.require_member(&room)?;
                let typing = ServerMsg::Typing {
                    room: room.clone(),
                    user_id: conn.user.id.to_string(),
                    is_typing,
                };
                conn.broadcast_to_others(&room_topic(&room), &typing).await;
                Ok(())
            }
        }
    }

    async fn on_close(&mut self, conn: &mut Conn) {
        for room in std::mem::take(&mut self.rooms) {
            self.leave(conn, &room).await;
        }
    }
}

/// With a shared store whose entries expire ([`crate::broker::PresenceStore::entries_expire`]),
/// a member whose instance died vanishes from a room without a `user:left`. Every TTL/3 this
/// lists each room that has members here and sends this instance's members a `user:left` for
/// anyone gone since the last look (after a normal leave that repeats the `user:left` the
/// leaver sent, which clients apply idempotently).
pub async fn sweep_loop(state: SharedState) {
    if !state.backend.presence.entries_expire() {
        return;
    }
    let every = (state.config.presence_ttl() / 3).max(Duration::from_millis(10));
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        // Rooms with a socket on this instance: the broker's local subscriptions say which.
        let rooms: Vec<String> = state
            .backend
            .broker
            .local_topics(ROOM_TOPIC_PREFIX)
            .into_iter()
            .filter_map(|topic| topic.strip_prefix(ROOM_TOPIC_PREFIX).map(str::to_owned))
            .collect();
        known.retain(|room, _| rooms.contains(room));
        for room in rooms {
            let topic = room_topic(&room);
            let Ok(entries) = state.backend.presence.list(&topic).await else {
                continue;
            };
            let now: HashSet<String> = entries.into_iter().map(|p| p.user_id).collect();
            if let Some(before) = known.get(&room) {
                for gone in before.difference(&now) {
                    let left = ServerMsg::UserLeft {
                        room: room.clone(),
                        user_id: gone.clone(),
                    };
                    let _ = state
                        .backend
                        .broker
                        .publish_local(&topic, Envelope::to_all(left.to_json()))
                        .await;
                }
            }
            known.insert(room, now);
        }
    }
}
