//! Property tests for `protocol::decode`: arbitrary input never panics, and every valid
//! client message survives encode → decode unchanged.

use proptest::prelude::*;
use realtime_server::protocol::{decode, ClientMsg, Cursor, ErrorCode, MAX_TEXT_CHARS};
use serde_json::{Map, Value};

/// Arbitrary JSON. Floats are limited to values with short decimal forms (n / 1000), which
/// serde_json parses back exactly; integers and strings are unrestricted.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 1000.0)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn room() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,32}"
}

/// Text the decoder keeps as-is: already trimmed, 1..=2000 characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\s]{1}",
        "[^\\s][^\\u{0}]{0,60}[^\\s]",
        prop::collection::vec(any::<char>(), 1..200).prop_map(|cs| cs.into_iter().collect()),
    ]
    .prop_map(|s: String| s.trim().chars().take(MAX_TEXT_CHARS).collect::<String>())
    .prop_filter("non-empty after trimming", |s| {
        !s.trim().is_empty() && s.trim() == s
    })
}

fn coordinate() -> impl Strategy<Value = f64> {
    (-2_000_000i64..2_000_000).prop_map(|n| n as f64 / 1000.0)
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        prop::collection::btree_map("[a-zA-Z]{1,10}", json_value(), 0..5).prop_map(|m| {
            let mut extra: Map<String, Value> = m.into_iter().collect();
            extra.remove("type");
            ClientMsg::Ping { extra }
        }),
        (prop::option::of(room()), text())
            .prop_map(|(room, text)| ClientMsg::Message { room, text }),
        room().prop_map(|room| ClientMsg::Join { room }),
        room().prop_map(|room| ClientMsg::Leave { room }),
        (room(), any::<bool>()).prop_map(|(room, is_typing)| ClientMsg::Typing { room, is_typing }),
        prop::option::of((coordinate(), coordinate())).prop_map(|c| ClientMsg::PresenceUpdate {
            cursor: c.map(|(x, y)| Cursor { x, y })
        }),
    ]
}

const TYPES: [&str; 7] = [
    "ping",
    "message",
    "join",
    "leave",
    "typing",
    "presence:update",
    "welcome",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let _ = decode(&input);
    }

    #[test]
    fn bytes_read_lossily_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_json_never_panics_and_non_objects_are_malformed(value in json_value()) {
        let result = decode(&value.to_string());
        if !value.is_object() {
            prop_assert_eq!(result.map_err(|e| e.code), Err(ErrorCode::Malformed));
        }
    }

    #[test]
    fn known_types_with_random_fields_never_panic_and_errors_have_codes(
        ty in prop::sample::select(TYPES.to_vec()),
        fields in prop::collection::btree_map(
            prop::sample::select(vec!["text", "room", "isTyping", "cursor", "x", "y", "roomId"]),
            json_value(),
            0..5,
        ),
    ) {
        let mut obj: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        obj.insert("type".into(), Value::from(ty));
        match decode(&Value::Object(obj).to_string()) {
            Ok(msg) => prop_assert_eq!(msg.type_name(), ty),
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                if ty == "welcome" {
                    prop_assert_eq!(e.code, ErrorCode::UnknownType);
                } else {
                    prop_assert_eq!(e.code, ErrorCode::Invalid);
                }
            }
        }
    }

    #[test]
    fn valid_messages_round_trip(msg in client_msg()) {
        let encoded = serde_json::to_string(&msg).expect("client messages serialize");
        prop_assert_eq!(decode(&encoded), Ok(msg));
    }
}
