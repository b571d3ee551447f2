//! `/ws/binary`: binary frames come back byte for byte; text frames follow the common rules.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;

use crate::config::Config;
use crate::connection::{accept, Conn, Endpoint};
use crate::protocol::{ClientMsg, ProtocolError};
use crate::state::SharedState;

/// Upgrades `GET /ws/binary`.
pub async fn handler(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    accept(state, ws, query.as_deref(), BinaryEcho)
}

/// The binary echo endpoint.
#[derive(Debug, Default)]
pub struct BinaryEcho;

impl Endpoint for BinaryEcho {
    const NAME: &'static str = "binary";

    fn max_binary_bytes(config: &Config) -> usize {
        config.max_binary_bytes
    }

    async fn on_open(&mut self, _conn: &mut Conn) {}

    async fn on_message(&mut self, _conn: &mut Conn, msg: ClientMsg) -> Result<(), ProtocolError> {
        Err(ProtocolError::unknown_type(msg.type_name()))
    }

    async fn on_binary(&mut self, conn: &mut Conn, data: Bytes) -> Result<(), ProtocolError> {
        conn.send_binary(data);
        Ok(())
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}
