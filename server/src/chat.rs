//! `/ws/chat`: one room, every message to everyone (the sender included).

use serde::{Deserialize, Serialize};

use crate::connection::{endpoint_topic, Conn, Endpoint};
use crate::protocol::{now_ms, ClientMessage, MessageText, ProtocolError, ServerMsg};

/// What a `/ws/chat` client sends (besides `ping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ChatMsg {
    /// Text for everyone, the sender included. A `room` field is ignored, so one client type
    /// can talk to both chats.
    #[serde(rename = "message")]
    Message {
        /// Trimmed text, 1..=2000 characters.
        text: MessageText,
    },
}

impl ClientMessage for ChatMsg {}

/// The broadcast chat endpoint.
#[derive(Debug, Default)]
pub struct Chat;

impl Endpoint for Chat {
    const NAME: &'static str = "chat";
    type Msg = ChatMsg;

    async fn on_open(&mut self, _conn: &mut Conn) {}

    async fn on_message(&mut self, conn: &mut Conn, msg: ChatMsg) -> Result<(), ProtocolError> {
        let ChatMsg::Message { text } = msg;
        let message = ServerMsg::ChatMessage {
            id: conn.state.next_chat_id(),
            user_id: conn.user.id.to_string(),
            name: conn.user.name.to_string(),
            text: text.into(),
            timestamp: now_ms(),
        };
        conn.broadcast(&endpoint_topic(Self::NAME), &message).await;
        Ok(())
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}
