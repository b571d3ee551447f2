//! `/ws/chat`: one room, every message to everyone (the sender included).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::Response;

use crate::connection::{accept, endpoint_topic, Conn, Endpoint};
use crate::protocol::{now_ms, ClientMsg, ProtocolError, ServerMsg};
use crate::state::SharedState;

/// Upgrades `GET /ws/chat`.
pub async fn handler(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    accept(state, ws, query.as_deref(), Chat)
}

/// The broadcast chat endpoint.
#[derive(Debug, Default)]
pub struct Chat;

impl Endpoint for Chat {
    const NAME: &'static str = "chat";

    async fn on_open(&mut self, _conn: &mut Conn) {}

    async fn on_message(&mut self, conn: &mut Conn, msg: ClientMsg) -> Result<(), ProtocolError> {
        match msg {
            // A `room` field is tolerated here so one client type can talk to both chats.
            ClientMsg::Message { text, .. } => {
                let message = ServerMsg::ChatMessage {
                    id: conn.state.next_chat_id(),
                    user_id: conn.user.id.to_string(),
                    name: conn.user.name.to_string(),
                    text,
                    timestamp: now_ms(),
                };
                conn.broadcast(&endpoint_topic(Self::NAME), &message).await;
                Ok(())
            }
            other => Err(ProtocolError::unknown_type(other.type_name())),
        }
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}
