//! Wire types of docs/protocol.md and the decoder for client frames.
//!
//! Decoding goes through `serde_json::Value` by hand rather than a derived `Deserialize` so that
//! each failure maps onto the protocol's error codes (`malformed`, `unknown_type`, `invalid`)
//! with a message naming the field, instead of serde's generic "data did not match" text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest chat text accepted, in characters after trimming.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest room name accepted.
pub const MAX_ROOM_CHARS: usize = 32;
/// Longest display name kept from `?name=`.
pub const MAX_NAME_CHARS: usize = 32;

/// A cursor position; the demo uses 0..1 board coordinates but any finite number is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
}

/// A frame a client may send, on any endpoint (each endpoint accepts its own subset).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Heartbeat; every other field comes back in the pong.
    #[serde(rename = "ping")]
    Ping {
        /// Fields echoed back verbatim (`id`, `timestamp`, ...).
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// Chat text; `room` is required on /ws/typed-chat and ignored on /ws/chat.
    #[serde(rename = "message")]
    Message {
        /// Target room (typed chat only).
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Trimmed text, 1..=2000 characters.
        text: String,
    },
    /// Enter a room.
    #[serde(rename = "join")]
    Join {
        /// Room name.
        room: String,
    },
    /// Leave a room.
    #[serde(rename = "leave")]
    Leave {
        /// Room name.
        room: String,
    },
    /// Typing indicator for a room.
    #[serde(rename = "typing")]
    Typing {
        /// Room name.
        room: String,
        /// Whether the user is typing now.
        is_typing: bool,
    },
    /// Move (or clear, with `None`) the user's cursor.
    #[serde(rename = "presence:update")]
    PresenceUpdate {
        /// New cursor; absent or `null` clears it.
        cursor: Option<Cursor>,
    },
}

impl ClientMsg {
    /// The `type` tag as it appears on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Ping { .. } => "ping",
            ClientMsg::Message { .. } => "message",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::Typing { .. } => "typing",
            ClientMsg::PresenceUpdate { .. } => "presence:update",
        }
    }
}

/// The `code` of an error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or no string `type`.
    Malformed,
    /// A `type` this endpoint does not handle.
    UnknownType,
    /// A known type with a missing or bad field.
    Invalid,
    /// `message`/`typing`/`leave` for a room the client has not joined.
    NotInRoom,
    /// Too many messages; the next excess closes the socket with 1008.
    RateLimited,
}

/// Why a client frame was refused; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ProtocolError {
    /// A `malformed` error.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Malformed,
            message: message.into(),
        }
    }

    /// An `unknown_type` error for the given tag.
    pub fn unknown_type(type_name: &str) -> Self {
        Self {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type \"{}\"", clip(type_name, 64)),
        }
    }

    /// An `invalid` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Invalid,
            message: message.into(),
        }
    }

    /// The error frame to send back.
    pub fn to_server_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// Decodes one client text frame into a message, or the error to answer with.
pub fn decode(text: &str) -> Result<ClientMsg, ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::malformed(format!("not valid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(ProtocolError::malformed("expected a JSON object"));
    };
    let type_name = match obj.remove("type") {
        Some(Value::String(t)) => t,
        _ => return Err(ProtocolError::malformed("missing string field \"type\"")),
    };
    match type_name.as_str() {
        "ping" => Ok(ClientMsg::Ping { extra: obj }),
        "message" => {
            let room = match obj.get("room") {
                None | Some(Value::Null) => None,
                Some(_) => Some(room_field(&obj)?),
            };
            Ok(ClientMsg::Message {
                room,
                text: text_field(&obj)?,
            })
        }
        "join" => Ok(ClientMsg::Join {
            room: room_field(&obj)?,
        }),
        "leave" => Ok(ClientMsg::Leave {
            room: room_field(&obj)?,
        }),
        "typing" => {
            let room = room_field(&obj)?;
            let is_typing = match obj.get("isTyping") {
                Some(Value::Bool(b)) => *b,
                _ => return Err(ProtocolError::invalid("\"isTyping\" must be a boolean")),
            };
            Ok(ClientMsg::Typing { room, is_typing })
        }
        "presence:update" => {
            // `roomId` (from the seed's protocol) is accepted and ignored.
            let cursor = match obj.get("cursor") {
                None | Some(Value::Null) => None,
                Some(Value::Object(c)) => Some(Cursor {
                    x: finite_field(c, "x")?,
                    y: finite_field(c, "y")?,
                }),
                Some(_) => return Err(ProtocolError::invalid("\"cursor\" must be {x, y} or null")),
            };
            Ok(ClientMsg::PresenceUpdate { cursor })
        }
        other => Err(ProtocolError::unknown_type(other)),
    }
}

fn text_field(obj: &Map<String, Value>) -> Result<String, ProtocolError> {
    let Some(Value::String(raw)) = obj.get("text") else {
        return Err(ProtocolError::invalid("\"text\" must be a string"));
    };
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(ProtocolError::invalid("\"text\" is empty"));
    }
    if chars > MAX_TEXT_CHARS {
        return Err(ProtocolError::invalid(format!(
            "\"text\" is {chars} characters; at most {MAX_TEXT_CHARS} allowed"
        )));
    }
    Ok(text.to_string())
}

fn room_field(obj: &Map<String, Value>) -> Result<String, ProtocolError> {
    match obj.get("room") {
        Some(Value::String(room)) if is_valid_room(room) => Ok(room.clone()),
        _ => Err(ProtocolError::invalid(format!(
            "\"room\" must be 1..={MAX_ROOM_CHARS} characters of [A-Za-z0-9_-]"
        ))),
    }
}

fn finite_field(obj: &Map<String, Value>, key: &str) -> Result<f64, ProtocolError> {
    match obj.get(key).and_then(Value::as_f64) {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(ProtocolError::invalid(format!(
            "\"cursor.{key}\" must be a finite number"
        ))),
    }
}

/// Whether `room` is a legal room name (1..=32 of `[A-Za-z0-9_-]`).
pub fn is_valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_CHARS
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Cleans a requested display name: no control characters, trimmed, at most 32 characters.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let clipped: String = cleaned.trim().chars().take(MAX_NAME_CHARS).collect();
    let name = clipped.trim_end();
    (!name.is_empty()).then(|| name.to_string())
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// A room member as listed in `joined`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Server-assigned user id.
    pub user_id: String,
    /// Display name.
    pub name: String,
}

/// A presence entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// Server-assigned user id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Last known cursor, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// When the user last sent anything, ms since the Unix epoch.
    pub last_seen: u64,
}

/// A frame the server sends on a WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// First frame of every connection.
    #[serde(rename = "welcome")]
    Welcome {
        /// Server-assigned id of this connection's user.
        user_id: String,
        /// Display name in use.
        name: String,
        /// The app's name ([`crate::APP_NAME`]), so a client can tell which backend it reached.
        server: &'static str,
    },
    /// Reply to a ping, carrying the ping's other fields.
    #[serde(rename = "pong")]
    Pong {
        /// The ping's fields except `type`.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// A refused frame; the connection stays open.
    #[serde(rename = "error")]
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
    /// A /ws/chat message.
    #[serde(rename = "message")]
    ChatMessage {
        /// Increases within one server run.
        id: u64,
        /// Sender's user id.
        user_id: String,
        /// Sender's name.
        name: String,
        /// Message text.
        text: String,
        /// ms since the Unix epoch.
        timestamp: u64,
    },
    /// A /ws/typed-chat room message.
    #[serde(rename = "message")]
    RoomMessage {
        /// Room it was sent to.
        room: String,
        /// Sender's user id.
        user_id: String,
        /// Sender's name.
        name: String,
        /// Message text.
        text: String,
        /// ms since the Unix epoch.
        timestamp: u64,
    },
    /// To the joiner: who is in the room now (the joiner included).
    #[serde(rename = "joined")]
    Joined {
        /// Room joined.
        room: String,
        /// Member ids, as in the seed protocol.
        users: Vec<String>,
        /// Members with names.
        members: Vec<Member>,
    },
    /// To the others: someone joined.
    #[serde(rename = "user:joined")]
    UserJoined {
        /// Room.
        room: String,
        /// Who joined.
        user_id: String,
        /// Their name.
        name: String,
    },
    /// To the leaver.
    #[serde(rename = "left")]
    Left {
        /// Room left.
        room: String,
        /// The leaver's id.
        user_id: String,
    },
    /// To the others: someone left (or dropped).
    #[serde(rename = "user:left")]
    UserLeft {
        /// Room.
        room: String,
        /// Who left.
        user_id: String,
    },
    /// To the others in a room: typing indicator.
    #[serde(rename = "typing")]
    Typing {
        /// Room.
        room: String,
        /// Who is typing.
        user_id: String,
        /// Whether they are typing now.
        is_typing: bool,
    },
    /// Everyone present, the receiver included.
    #[serde(rename = "presence:snapshot")]
    PresenceSnapshot {
        /// Present users.
        users: Vec<Presence>,
    },
    /// Someone arrived.
    #[serde(rename = "presence:join")]
    PresenceJoin(Presence),
    /// Someone moved their cursor.
    #[serde(rename = "presence:update")]
    PresenceUpdate(Presence),
    /// Someone left or was dropped.
    #[serde(rename = "presence:leave")]
    PresenceLeave {
        /// Who left.
        user_id: String,
    },
}

impl ServerMsg {
    /// Serializes to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (string keys, no custom impls), but a
        // fallback keeps the server from panicking should that ever change.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"type":"error","code":"invalid","message":"server encoding failed: {e}"}}"#
            )
        })
    }
}

/// Severity of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Neutral news.
    Info,
    /// Something worked.
    Success,
    /// Needs attention.
    Warning,
    /// Something failed.
    Error,
}

impl Level {
    /// Every level, in display order.
    pub const ALL: [Level; 4] = [Level::Info, Level::Success, Level::Warning, Level::Error];

    /// Parses the wire name (`info | success | warning | error`).
    pub fn parse(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// The `data` of an SSE `notification` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// `<run>-<seq>`, the same as the SSE event id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Body text.
    pub message: String,
    /// Severity.
    pub level: Level,
    /// ms since the Unix epoch.
    pub timestamp: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(text: &str) -> Option<ErrorCode> {
        decode(text).err().map(|e| e.code)
    }

    #[test]
    fn not_json_not_object_and_missing_type_are_malformed() {
        assert_eq!(code_of("{"), Some(ErrorCode::Malformed));
        assert_eq!(code_of("[1,2]"), Some(ErrorCode::Malformed));
        assert_eq!(code_of("\"ping\""), Some(ErrorCode::Malformed));
        assert_eq!(code_of(r#"{"text":"hi"}"#), Some(ErrorCode::Malformed));
        assert_eq!(code_of(r#"{"type":7}"#), Some(ErrorCode::Malformed));
    }

    #[test]
    fn unknown_type_is_reported_with_its_name() {
        let err = decode(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert!(err.message.contains("dance"));
    }

    #[test]
    fn ping_keeps_every_other_field() {
        let msg = decode(r#"{"type":"ping","id":3,"timestamp":12.5,"x":{"y":[1]}}"#).unwrap();
        let ClientMsg::Ping { extra } = msg else {
            panic!("expected ping")
        };
        assert_eq!(
            Value::Object(extra),
            json!({"id":3,"timestamp":12.5,"x":{"y":[1]}})
        );
    }

    #[test]
    fn message_text_is_trimmed_and_bounded() {
        assert_eq!(
            decode(r#"{"type":"message","text":"  hi  "}"#),
            Ok(ClientMsg::Message {
                room: None,
                text: "hi".into()
            })
        );
        assert_eq!(
            code_of(r#"{"type":"message","text":"   "}"#),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(
            code_of(r#"{"type":"message","text":5}"#),
            Some(ErrorCode::Invalid)
        );
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let max = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(
            code_of(&json!({"type":"message","text":long}).to_string()),
            Some(ErrorCode::Invalid)
        );
        assert!(decode(&json!({"type":"message","text":max}).to_string()).is_ok());
    }

    #[test]
    fn rooms_must_match_the_allowed_alphabet() {
        assert!(decode(r#"{"type":"join","room":"general-1_a"}"#).is_ok());
        for bad in ["", "has space", "ünï", &"a".repeat(33)] {
            let text = json!({"type":"join","room":bad}).to_string();
            assert_eq!(code_of(&text), Some(ErrorCode::Invalid), "room {bad:?}");
        }
        assert_eq!(code_of(r#"{"type":"leave"}"#), Some(ErrorCode::Invalid));
    }

    #[test]
    fn typing_needs_a_boolean() {
        assert_eq!(
            decode(r#"{"type":"typing","room":"r","isTyping":true}"#),
            Ok(ClientMsg::Typing {
                room: "r".into(),
                is_typing: true
            })
        );
        assert_eq!(
            code_of(r#"{"type":"typing","room":"r","isTyping":"yes"}"#),
            Some(ErrorCode::Invalid)
        );
    }

    #[test]
    fn presence_cursor_is_optional_finite_and_room_id_is_ignored() {
        assert_eq!(
            decode(r#"{"type":"presence:update","roomId":"board","cursor":{"x":0.25,"y":1}}"#),
            Ok(ClientMsg::PresenceUpdate {
                cursor: Some(Cursor { x: 0.25, y: 1.0 })
            })
        );
        assert_eq!(
            decode(r#"{"type":"presence:update","cursor":null}"#),
            Ok(ClientMsg::PresenceUpdate { cursor: None })
        );
        assert_eq!(
            code_of(r#"{"type":"presence:update","cursor":{"x":"1","y":2}}"#),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(
            code_of(r#"{"type":"presence:update","cursor":[1,2]}"#),
            Some(ErrorCode::Invalid)
        );
        // serde_json refuses numbers outside f64's range, so infinities never get in.
        assert!(decode(r#"{"type":"presence:update","cursor":{"x":1e400,"y":0}}"#).is_err());
    }

    #[test]
    fn names_are_cleaned_trimmed_and_clipped() {
        assert_eq!(
            sanitize_name("  Ada \u{7}Lovelace\n "),
            Some("Ada Lovelace".into())
        );
        assert_eq!(sanitize_name(" \t\u{0} "), None);
        let long = "x".repeat(40);
        assert_eq!(
            sanitize_name(&long).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn server_messages_use_the_documented_field_names() {
        let v: Value = serde_json::from_str(
            &ServerMsg::Typing {
                room: "r".into(),
                user_id: "u1".into(),
                is_typing: true,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"type":"typing","room":"r","userId":"u1","isTyping":true})
        );
        let v: Value = serde_json::from_str(
            &ServerMsg::PresenceJoin(Presence {
                user_id: "u2".into(),
                name: "B".into(),
                cursor: None,
                last_seen: 5,
            })
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"type":"presence:join","userId":"u2","name":"B","lastSeen":5})
        );
        let v: Value =
            serde_json::from_str(&ProtocolError::invalid("x").to_server_msg().to_json()).unwrap();
        assert_eq!(v, json!({"type":"error","code":"invalid","message":"x"}));
    }
}
