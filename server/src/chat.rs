//! `/ws/chat`: one room, every message to everyone (the sender included), with history.
//!
//! The chat is one history stream ([`CHAT_STREAM`]): `welcome` carries its `epoch` and latest
//! `seq`; a client opening with `?since=EPOCH:SEQ` gets what it missed, anyone else the newest
//! history, then `replayed` (docs/protocol.md, "History and recovery").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::connection::{Conn, Endpoint};
use crate::history::{Position, Read};
use crate::protocol::{ClientId, ClientMessage, MessageText, ProtocolError};
use crate::streams::{plan_for, read_for, send_message, send_replay, Stream, CHAT_STREAM};

pub use crate::streams::CHAT_TOPIC;

const STREAM: Stream<'static> = Stream {
    name: CHAT_STREAM,
    topic: CHAT_TOPIC,
    room: None,
};

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
        /// The sender's id for this message: it gets an `ack`, and a resend is not repeated.
        #[serde(default)]
        client_id: Option<ClientId>,
    },
}

impl ClientMessage for ChatMsg {}

/// The broadcast chat endpoint.
#[derive(Debug, Default)]
pub struct Chat;

impl Endpoint for Chat {
    const NAME: &'static str = "chat";
    type Msg = ChatMsg;

    async fn welcome_fields(&mut self, conn: &mut Conn) -> Map<String, Value> {
        let mut fields = Map::new();
        if let Some(head) = read_for(conn, CHAT_STREAM, Read::Newest(0)).await {
            fields.insert("epoch".into(), Value::from(head.epoch.to_string()));
            fields.insert("seq".into(), Value::from(head.latest));
        }
        fields
    }

    async fn on_open(&mut self, conn: &mut Conn) {
        let position = Position::parse(conn.query_param("since").as_deref());
        let state = conn.state.clone();
        let _turn = state.turns.take(CHAT_STREAM).await;
        conn.subscribe(CHAT_TOPIC.to_string()).await;
        let plan = plan_for(conn, CHAT_STREAM, &position).await;
        send_replay(conn, STREAM, plan);
    }

    async fn on_message(&mut self, conn: &mut Conn, msg: ChatMsg) -> Result<(), ProtocolError> {
        let ChatMsg::Message { text, client_id } = msg;
        send_message(conn, STREAM, text.into(), client_id).await
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}
