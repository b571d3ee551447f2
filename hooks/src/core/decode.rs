//! Decoding received frames: typed messages out of text frames, and a typed error (with the raw
//! text, cut to a displayable size) for everything else. Never a panic on network input.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// One received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame, as bytes.
    Binary(Vec<u8>),
}

/// Whether `text` starts (after whitespace) like a JSON object; a cheap check before decoding
/// into a struct, whose serde derive would also accept an array of its fields in order.
pub fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The `type` of a frame that starts exactly `{"type":"…"` (every frame our server sends does),
/// read without parsing; `None` when the frame starts any other way (whitespace included) or
/// the type has an escape: then only a parse can tell. The engine's per-frame checks use it to
/// skip frames that cannot be theirs: a 100,000-message burst otherwise paid a substring scan
/// per check per frame.
pub fn leading_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    let end = rest.bytes().position(|c| c == b'"' || c == b'\\')?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// Whether the frame's leading `type` is known and is none of `kinds`: such a frame can be
/// skipped by a check that only wants `kinds`.
pub fn surely_not(text: &str, kinds: &[&str]) -> bool {
    leading_type(text).is_some_and(|kind| !kinds.contains(&kind))
}

/// The server's `welcome` (first frame on every connection, `docs/protocol.md`): who this
/// connection is. The engine keeps the latest in `ConnectionStatus::welcome`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// The server-assigned user id.
    #[serde(default)]
    pub user_id: String,
    /// The display name the server shows to others.
    #[serde(default)]
    pub name: String,
    /// The app's name, as the server announces it.
    #[serde(default)]
    pub server: String,
}

#[derive(Deserialize)]
struct WelcomeFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    welcome: Welcome,
}

/// The `welcome` in `frame`, or `None` for any other frame.
pub fn welcome(frame: &str) -> Option<Welcome> {
    // Every inbound frame passes through here: skip the parse for ordinary traffic.
    if surely_not(frame, &["welcome"]) || !frame.contains("welcome") || !is_json_object(frame) {
        return None;
    }
    let parsed: WelcomeFrame = serde_json::from_str(frame).ok()?;
    (parsed.kind == "welcome").then_some(parsed.welcome)
}

/// A received frame that is not a valid message of the expected type.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError {
    /// What was wrong (serde's message, or "binary frame").
    pub error: String,
    /// The frame as received (text frames only; truncated to 2 KiB for display).
    pub raw: String,
    /// The frame's length in bytes.
    pub len: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.error, self.len)
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// `frame` was refused because of `error` (cut to 300 bytes; the raw text to 2 KiB).
    pub fn new(frame: &Frame, error: &str) -> Self {
        match frame {
            Frame::Text(text) => Self {
                // serde quotes the offending value in full: a 1 MB frame must not become a
                // 1 MB message.
                error: truncate(error, 300),
                raw: truncate(text, 2048),
                len: text.len(),
            },
            Frame::Binary(bytes) => Self {
                error: truncate(error, 300),
                raw: String::new(),
                len: bytes.len(),
            },
        }
    }
}

/// Decodes one frame as `In`: the pure part of the typed hook, usable anywhere.
pub fn decode_frame<In: DeserializeOwned>(frame: &Frame) -> Result<In, DecodeError> {
    match frame {
        Frame::Text(text) => {
            serde_json::from_str(text).map_err(|e| DecodeError::new(frame, &e.to_string()))
        }
        Frame::Binary(_) => Err(DecodeError::new(
            frame,
            "binary frame where a text message was expected",
        )),
    }
}

/// Like [`decode_frame`], but only a JSON object is accepted at the top level.
///
/// serde's derive for a struct also accepts an array of its fields in order; for a protocol of
/// `type`-tagged objects, `["presence:leave","u2"]` must be an error, not a leave.
pub fn decode_object<In: DeserializeOwned>(frame: &Frame) -> Result<In, DecodeError> {
    match frame {
        Frame::Text(text) if !is_json_object(text) => {
            Err(DecodeError::new(frame, "expected a JSON object"))
        }
        _ => decode_frame(frame),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[test]
    fn the_leading_type_is_read_only_when_it_comes_first_and_plain() {
        assert_eq!(
            leading_type(r#"{"type":"message","seq":1}"#),
            Some("message")
        );
        assert_eq!(leading_type(r#"{"type":""}"#), Some(""));
        // Not first, spaced, escaped, not a string, not an object, cut short: only a parse can tell.
        assert_eq!(leading_type(r#" {"type":"pong"}"#), None);
        assert_eq!(leading_type(r#"{ "type" : "pong" }"#), None);
        assert_eq!(leading_type(r#"{"seq":1,"type":"message"}"#), None);
        assert_eq!(leading_type(r#"{"type":"mess\u0061ge"}"#), None);
        assert_eq!(leading_type(r#"{"type":7}"#), None);
        assert_eq!(leading_type(r#"["type","message"]"#), None);
        assert_eq!(leading_type(r#"{"type":"message"#), None);
        assert_eq!(leading_type(""), None);
        assert!(surely_not(r#"{"type":"message"}"#, &["pong"]));
        assert!(!surely_not(r#"{"type":"pong"}"#, &["pong"]));
        assert!(!surely_not(r#"{"id":1,"type":"message"}"#, &["pong"]));
    }

    #[derive(Deserialize)]
    struct TypeField {
        #[serde(rename = "type")]
        kind: String,
    }

    proptest! {
        /// Skipping is safe: whenever `surely_not` says a frame is none of `kinds`, a full parse
        /// never finds one of `kinds` in it either.
        #[test]
        fn surely_not_never_skips_a_frame_a_parse_would_take(
            kind in "[a-z:\"\\\\ ]{0,8}",
            tail in "[a-z0-9,:\"{}\\[\\] ]{0,24}",
            wanted in "[a-z: ]{0,8}",
        ) {
            for text in [
                format!(r#"{{"type":"{kind}"{tail}"#),
                format!(r#"{{"type":{}{tail}"#, serde_json::Value::from(kind.clone())),
                format!(r#"{{"type":{}}}"#, serde_json::Value::from(kind.clone())),
            ] {
                let kinds = [wanted.as_str(), "pong"];
                if surely_not(&text, &kinds) {
                    if let Ok(parsed) = serde_json::from_str::<TypeField>(&text) {
                        prop_assert!(!kinds.contains(&parsed.kind.as_str()), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_welcome_is_recognised_and_nothing_else() {
        assert_eq!(
            welcome(r#"{"type":"welcome","userId":"u1","name":"Ada","server":"acme"}"#),
            Some(Welcome {
                user_id: "u1".into(),
                name: "Ada".into(),
                server: "acme".into()
            })
        );
        assert_eq!(welcome(r#"{"type":"message","text":"welcome"}"#), None);
        assert_eq!(welcome(r#"["welcome"]"#), None);
        assert_eq!(welcome("welcome"), None);
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(tag = "type", rename_all = "camelCase")]
    enum ServerMessage {
        Error { message: String },
    }

    #[test]
    fn malformed_unknown_and_binary_frames_become_typed_errors_with_the_raw_text() {
        let bad = decode_frame::<ServerMessage>(&Frame::Text("{not json".into())).unwrap_err();
        assert_eq!(bad.raw, "{not json");
        let unknown = decode_frame::<ServerMessage>(&Frame::Text(r#"{"type":"mystery"}"#.into()))
            .unwrap_err();
        assert!(unknown.error.contains("mystery"), "{}", unknown.error);
        let binary = decode_frame::<ServerMessage>(&Frame::Binary(vec![1, 2, 3])).unwrap_err();
        assert_eq!(binary.len, 3);
        let ok =
            decode_frame::<ServerMessage>(&Frame::Text(r#"{"type":"error","message":"x"}"#.into()));
        assert_eq!(
            ok,
            Ok(ServerMessage::Error {
                message: "x".into()
            })
        );
    }

    #[test]
    fn a_huge_frame_keeps_its_length_but_not_its_whole_text() {
        let huge = format!("\"{}é\"", "x".repeat(1 << 20));
        let error = decode_frame::<ServerMessage>(&Frame::Text(huge.clone())).unwrap_err();
        assert_eq!(error.len, huge.len());
        assert!(error.raw.len() <= 2048 + '…'.len_utf8());
        assert!(
            error.error.len() <= 300 + '…'.len_utf8(),
            "{} bytes of error text",
            error.error.len()
        );
    }
}
