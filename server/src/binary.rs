//! `/ws/binary`: binary frames come back byte for byte; text frames follow the common rules.

use bytes::Bytes;

use crate::config::Config;
use crate::connection::{Conn, Endpoint};
use crate::protocol::{NoMessages, ProtocolError};

/// The binary echo endpoint.
#[derive(Debug, Default)]
pub struct BinaryEcho;

impl Endpoint for BinaryEcho {
    const NAME: &'static str = "binary";
    type Msg = NoMessages;

    fn max_binary_bytes(config: &Config) -> usize {
        config.max_binary_bytes
    }

    async fn on_open(&mut self, _conn: &mut Conn) {}

    async fn on_message(&mut self, _conn: &mut Conn, msg: NoMessages) -> Result<(), ProtocolError> {
        match msg {}
    }

    async fn on_binary(&mut self, conn: &mut Conn, data: Bytes) -> Result<(), ProtocolError> {
        conn.send_binary(data);
        Ok(())
    }

    async fn on_close(&mut self, _conn: &mut Conn) {}
}
