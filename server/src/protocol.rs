//! Wire types of docs/protocol.md and the generic decoder for client frames.
//!
//! Every endpoint owns its client messages: a serde enum tagged by `type` (camelCase fields)
//! that implements [`ClientMessage`] in one line. [`decode`] turns any text frame into the
//! shared [`CommonMsg`] (`ping`) or the endpoint's own message, and every failure into the
//! protocol's error codes with no per-type code: `malformed` (not JSON, not an object, no
//! string `type`), `unknown_type` (a `type` neither the endpoint nor [`CommonMsg`] declares)
//! and `invalid` (a known `type` whose fields do not deserialize). Field rules beyond serde's
//! types live in small validated types ([`MessageText`], [`RoomName`], [`Cursor`]).

use std::sync::OnceLock;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Longest chat text accepted, in characters after trimming.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest room name accepted.
pub const MAX_ROOM_CHARS: usize = 32;
/// Longest display name kept from `?name=`.
pub const MAX_NAME_CHARS: usize = 32;

/// A cursor position; the demo uses 0..1 board coordinates but any finite number is accepted.
/// Only an object `{x, y}` deserializes (serde would otherwise also take `[x, y]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Cursor {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
}

impl TryFrom<Map<String, Value>> for Cursor {
    type Error = String;

    fn try_from(obj: Map<String, Value>) -> Result<Self, String> {
        let coordinate = |key: &str| match obj.get(key).and_then(Value::as_f64) {
            Some(n) if n.is_finite() => Ok(n),
            _ => Err(format!("\"cursor.{key}\" must be a finite number")),
        };
        Ok(Cursor {
            x: coordinate("x")?,
            y: coordinate("y")?,
        })
    }
}

/// Message text: trimmed, then 1..=[`MAX_TEXT_CHARS`] characters; anything else is `invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl TryFrom<String> for MessageText {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        let text = raw.trim();
        match text.chars().count() {
            0 => Err("\"text\" is empty".into()),
            n if n > MAX_TEXT_CHARS => Err(format!(
                "\"text\" is {n} characters; at most {MAX_TEXT_CHARS} allowed"
            )),
            _ if text.len() == raw.len() => Ok(Self(raw)),
            _ => Ok(Self(text.to_string())),
        }
    }
}

impl From<MessageText> for String {
    fn from(text: MessageText) -> String {
        text.0
    }
}

impl MessageText {
    /// The trimmed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room name: 1..=[`MAX_ROOM_CHARS`] of `[A-Za-z0-9_-]`; anything else is `invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl TryFrom<String> for RoomName {
    type Error = String;

    fn try_from(room: String) -> Result<Self, String> {
        if is_valid_room(&room) {
            Ok(Self(room))
        } else {
            Err(format!(
                "\"room\" must be 1..={MAX_ROOM_CHARS} characters of [A-Za-z0-9_-]"
            ))
        }
    }
}

impl From<RoomName> for String {
    fn from(room: RoomName) -> String {
        room.0
    }
}

impl RoomName {
    /// The room name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A sender's id for one message: 1..=[`crate::history::MAX_CLIENT_ID_CHARS`] printable ASCII
/// characters (no spaces); anything else is `invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl TryFrom<String> for ClientId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, String> {
        let max = crate::history::MAX_CLIENT_ID_CHARS;
        if !id.is_empty() && id.len() <= max && id.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(id))
        } else {
            Err(format!(
                "\"clientId\" must be 1..={max} printable ASCII characters without spaces"
            ))
        }
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

impl ClientId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an endpoint accepts from clients: a serde enum tagged by `type`, for example
///
/// ```
/// # use realtime_server::protocol::{ClientMessage, MessageText};
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// #[serde(tag = "type", rename_all_fields = "camelCase")]
/// enum PollMsg {
///     /// `{type:"vote", option}`.
///     #[serde(rename = "vote")]
///     Vote { option: u8 },
/// }
/// impl ClientMessage for PollMsg {}
/// assert_eq!(PollMsg::types(), ["vote"]);
/// ```
///
/// `ping` is answered by the shared loop ([`CommonMsg`]) and never reaches the endpoint; an
/// endpoint variant with that tag is shadowed. Unknown fields are ignored, as the protocol says.
pub trait ClientMessage: DeserializeOwned + Send + 'static {
    /// Every `type` this message type accepts: read from the serde enum itself, so adding a
    /// variant is all it takes. Override only for a type serde cannot list (`#[serde(other)]`).
    fn types() -> &'static [&'static str] {
        tag_names::<Self>()
    }
}

/// The variant tags of a serde enum tagged by `type`, as its derived `Deserialize` lists them
/// when refusing an unknown tag; empty for anything else.
pub fn tag_names<M: DeserializeOwned>() -> &'static [&'static str] {
    /// An error type that keeps the list serde passes to `unknown_variant`.
    #[derive(Debug)]
    struct Probe(&'static [&'static str]);
    impl std::fmt::Display for Probe {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tag probe")
        }
    }
    impl std::error::Error for Probe {}
    impl serde::de::Error for Probe {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Probe(&[])
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Probe(expected)
        }
    }
    // No real tag is a lone NUL, so serde refuses it and names the ones it knows.
    let frame = serde::de::value::MapDeserializer::<_, Probe>::new(std::iter::once(("type", "\0")));
    match M::deserialize(frame) {
        Err(Probe(names)) => names,
        Ok(_) => &[],
    }
}

/// The part of the protocol every endpoint shares, answered by the socket loop itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CommonMsg {
    /// Heartbeat; every other field comes back in the pong.
    #[serde(rename = "ping")]
    Ping {
        /// Fields echoed back verbatim (`id`, `timestamp`, ...).
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

impl ClientMessage for CommonMsg {
    fn types() -> &'static [&'static str] {
        static TYPES: OnceLock<&'static [&'static str]> = OnceLock::new();
        TYPES.get_or_init(tag_names::<Self>)
    }
}

/// For endpoints that take no text messages (only `ping`): every other `type` is unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum NoMessages {}

impl<'de> Deserialize<'de> for NoMessages {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(D::Error::custom("this endpoint takes no text messages"))
    }
}

impl ClientMessage for NoMessages {
    fn types() -> &'static [&'static str] {
        &[]
    }
}

/// A decoded client frame: the shared part, or the endpoint's own message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<M> {
    /// `ping` (see [`CommonMsg`]).
    Common(CommonMsg),
    /// One of the endpoint's own types.
    Endpoint(M),
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
    /// The signed user may not do this (a `join` outside the token's `rooms`).
    Forbidden,
    /// Too many messages; the next excess closes the socket with 1008.
    RateLimited,
    /// A shared service the message needs is unreachable; nothing was sent, try again.
    Unavailable,
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

/// Decodes one client text frame for an endpoint whose messages are `M`, or the error to
/// answer with (see the module docs for which failure gets which code).
pub fn decode<M: ClientMessage>(text: &str) -> Result<Incoming<M>, ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::malformed(format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = &value else {
        return Err(ProtocolError::malformed("expected a JSON object"));
    };
    let Some(Value::String(type_name)) = obj.get("type") else {
        return Err(ProtocolError::malformed("missing string field \"type\""));
    };
    if CommonMsg::types().contains(&type_name.as_str()) {
        return decode_value(&value, type_name).map(Incoming::Common);
    }
    decode_value(&value, type_name).map(Incoming::Endpoint)
}

/// Deserializes an object whose `type` is `type_name` as `M`: `unknown_type` when `M` does not
/// declare that type, else `invalid` with serde's reason.
fn decode_value<M: ClientMessage>(value: &Value, type_name: &str) -> Result<M, ProtocolError> {
    M::deserialize(value).map_err(|e| {
        if M::types().contains(&type_name) {
            ProtocolError::invalid(format!("bad fields for \"{}\": {e}", clip(type_name, 64)))
        } else {
            ProtocolError::unknown_type(type_name)
        }
    })
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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
        /// What the endpoint adds (`/ws/chat`: the stream's `epoch` and latest `seq`).
        #[serde(flatten)]
        extra: Map<String, Value>,
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
        /// The same as `seq` (kept from the seed protocol).
        id: u64,
        /// Position in the chat's stream: one more than the previous message.
        seq: u64,
        /// The sender's id for this message, when it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
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
        /// Position in the room's stream: one more than the previous message.
        seq: u64,
        /// The sender's id for this message, when it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
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
        /// The room stream's epoch.
        epoch: String,
        /// The room stream's latest `seq`.
        seq: u64,
    },
    /// After a (re)join's history: what was replayed and whether it is everything missed.
    #[serde(rename = "replayed")]
    Replayed {
        /// The room (typed chat only).
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The stream's epoch (authoritative: a client keeps positions in this one).
        epoch: String,
        /// First `seq` covered.
        from: u64,
        /// The stream's newest `seq` when replayed.
        to: u64,
        /// Whether every message after the client's position was replayed.
        recovered: bool,
        /// Why not (`new`, `epoch`, `too_old`, `invalid`, `unavailable`).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<crate::history::ReplayReason>,
    },
    /// To the sender: the message with this `clientId` is in the history at `seq`.
    #[serde(rename = "ack")]
    Ack {
        /// The room (typed chat only).
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The sender's id for the message.
        client_id: String,
        /// Its position in the stream.
        seq: u64,
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
    /// The periodic refresh: everyone the client lists is still here (departures are always
    /// announced with `presence:leave`).
    #[serde(rename = "presence:tick")]
    PresenceTick {},
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
        to_json(self)
    }
}

/// Serializes any server frame (an endpoint may have its own) to the JSON text sent.
pub fn to_json<T: Serialize + ?Sized>(msg: &T) -> String {
    // Serializing plain structs cannot fail (string keys, no custom impls), but a fallback
    // keeps the server from panicking should that ever change.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","code":"invalid","message":"server encoding failed: {e}"}}"#)
    })
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

    /// A stand-in endpoint message type, as an endpoint would declare it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all_fields = "camelCase")]
    enum TestMsg {
        #[serde(rename = "say")]
        Say { text: MessageText },
        #[serde(rename = "go:room")]
        GoRoom { room: RoomName, is_fast: bool },
        #[serde(rename = "point")]
        Point {
            #[serde(default)]
            cursor: Option<Cursor>,
        },
    }

    impl ClientMessage for TestMsg {}

    fn code_of(text: &str) -> Option<ErrorCode> {
        decode::<TestMsg>(text).err().map(|e| e.code)
    }

    fn decoded(text: &str) -> TestMsg {
        match decode::<TestMsg>(text) {
            Ok(Incoming::Endpoint(msg)) => msg,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn the_tags_are_read_from_the_serde_enum() {
        assert_eq!(TestMsg::types(), ["say", "go:room", "point"]);
        assert_eq!(CommonMsg::types(), ["ping"]);
        assert!(NoMessages::types().is_empty());
        // Not an enum tagged by `type`: nothing to list.
        assert!(tag_names::<String>().is_empty());
        assert!(tag_names::<Map<String, Value>>().is_empty());
    }

    #[test]
    fn not_json_not_object_and_missing_type_are_malformed() {
        for text in [
            "{",
            "[1,2]",
            "\"ping\"",
            r#"{"text":"hi"}"#,
            r#"{"type":7}"#,
        ] {
            assert_eq!(code_of(text), Some(ErrorCode::Malformed), "{text}");
            let none = decode::<NoMessages>(text).map_err(|e| e.code);
            assert_eq!(none, Err(ErrorCode::Malformed), "{text}");
        }
    }

    #[test]
    fn unknown_type_is_reported_with_its_name() {
        let err = decode::<TestMsg>(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert!(err.message.contains("dance"));
        let err = decode::<NoMessages>(r#"{"type":"say","text":"hi"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert!(err.message.contains("say"));
    }

    #[test]
    fn bad_fields_on_a_known_type_are_invalid_and_name_the_type() {
        for text in [
            r#"{"type":"say"}"#,
            r#"{"type":"say","text":5}"#,
            r#"{"type":"say","text":"   "}"#,
            r#"{"type":"go:room","room":"r"}"#,
            r#"{"type":"go:room","room":"r","isFast":"yes"}"#,
            r#"{"type":"go:room","room":"has space","isFast":true}"#,
            r#"{"type":"point","cursor":[1,2]}"#,
        ] {
            let err = decode::<TestMsg>(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::Invalid, "{text}");
            let ty = text.split('"').nth(3).unwrap_or_default();
            let named = format!("bad fields for \"{ty}\": ");
            assert!(err.message.starts_with(&named), "{text}: {}", err.message);
        }
    }

    #[test]
    fn ping_keeps_every_other_field_on_every_endpoint() {
        let text = r#"{"type":"ping","id":3,"timestamp":12.5,"x":{"y":[1]}}"#;
        let extra = json!({"id":3,"timestamp":12.5,"x":{"y":[1]}});
        let Ok(Incoming::Common(CommonMsg::Ping { extra: got })) = decode::<TestMsg>(text) else {
            panic!("expected ping")
        };
        assert_eq!(Value::Object(got), extra);
        let Ok(Incoming::Common(CommonMsg::Ping { extra: got })) = decode::<NoMessages>(text)
        else {
            panic!("expected ping")
        };
        assert_eq!(Value::Object(got), extra);
    }

    #[test]
    fn fields_are_camel_case_and_unknown_fields_are_ignored() {
        assert_eq!(
            decoded(r#"{"type":"go:room","room":"r","isFast":true,"extra":1}"#),
            TestMsg::GoRoom {
                room: RoomName("r".into()),
                is_fast: true
            }
        );
        assert_eq!(
            code_of(r#"{"type":"go:room","room":"r","is_fast":true}"#),
            Some(ErrorCode::Invalid)
        );
    }

    #[test]
    fn message_text_is_trimmed_and_bounded() {
        assert_eq!(
            decoded(r#"{"type":"say","text":"  hi  "}"#),
            TestMsg::Say {
                text: MessageText("hi".into())
            }
        );
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let max = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(
            code_of(&json!({"type":"say","text":long}).to_string()),
            Some(ErrorCode::Invalid)
        );
        assert!(decode::<TestMsg>(&json!({"type":"say","text":max}).to_string()).is_ok());
    }

    #[test]
    fn rooms_must_match_the_allowed_alphabet() {
        assert!(RoomName::try_from("general-1_a".to_string()).is_ok());
        assert!(RoomName::try_from("x".repeat(MAX_ROOM_CHARS)).is_ok());
        for bad in ["", "has space", "ünï", &"a".repeat(33)] {
            assert!(RoomName::try_from(bad.to_string()).is_err(), "room {bad:?}");
        }
    }

    #[test]
    fn cursors_are_objects_of_finite_numbers_and_may_be_absent_or_null() {
        assert_eq!(
            decoded(r#"{"type":"point","roomId":"board","cursor":{"x":0.25,"y":1}}"#),
            TestMsg::Point {
                cursor: Some(Cursor { x: 0.25, y: 1.0 })
            }
        );
        for text in [r#"{"type":"point","cursor":null}"#, r#"{"type":"point"}"#] {
            assert_eq!(decoded(text), TestMsg::Point { cursor: None });
        }
        for cursor in [
            json!({"x":"1","y":2}),
            json!({"x":1}),
            json!([1, 2]),
            json!("here"),
        ] {
            let text = json!({"type":"point","cursor":cursor}).to_string();
            assert_eq!(code_of(&text), Some(ErrorCode::Invalid), "{cursor}");
        }
        // serde_json refuses numbers outside f64's range, so infinities never get in.
        assert!(decode::<TestMsg>(r#"{"type":"point","cursor":{"x":1e400,"y":0}}"#).is_err());
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
