//! Property checks for any endpoint's message type, driven by its `ClientMessage::types()`:
//! nothing here names a type or a field, so a new endpoint (or a new message on an old one) is
//! covered by calling [`check`] with its type. Included with `#[path]` by the tests that use it.
#![allow(dead_code)]

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use realtime_server::protocol::{decode, ClientMessage, CommonMsg, ErrorCode, Incoming};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Cases per property (per type, for the per-type ones).
const CASES: u32 = 256;

/// Arbitrary JSON. Floats are limited to values with short decimal forms (n / 1000), which
/// serde_json parses back exactly; integers and strings are unrestricted.
pub fn json_value() -> impl Strategy<Value = Value> {
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

/// What [`check`] found out about a message type.
#[derive(Debug, Default)]
pub struct Report {
    /// Types for which a valid frame was found (so round trips and one-field mutations of a
    /// valid frame were checked), with that frame.
    pub samples: Vec<(&'static str, Value)>,
    /// Types for which none was found: only checked with random fields.
    pub without_sample: Vec<&'static str>,
}

/// Every `type` a socket of an endpoint with messages `M` knows: its own and the shared ones.
pub fn known_types<M: ClientMessage>() -> Vec<&'static str> {
    let common = CommonMsg::types();
    let own = M::types().iter().filter(|t| !common.contains(t));
    common.iter().chain(own).copied().collect()
}

/// Checks the decoder's contract for an endpoint whose messages are `M`:
/// - no input panics; not JSON, not an object or no string `type` is `malformed`;
/// - a `type` that is not known is `unknown_type` and the error names it;
/// - a known `type` with any fields decodes to a message of that type or is `invalid` (never
///   another code), and whatever decodes re-encodes to a frame that decodes to the same value.
pub fn check<M>() -> Report
where
    M: ClientMessage + Serialize + PartialEq + Debug,
{
    assert!(
        !M::types().iter().any(|t| CommonMsg::types().contains(t)),
        "{:?} shadows a shared type ({:?}), which the socket loop answers itself",
        M::types(),
        CommonMsg::types()
    );
    let known = known_types::<M>();
    run("arbitrary strings never panic", any::<String>(), |s| {
        let _ = decode::<M>(&s);
        Ok(())
    });
    run(
        "bytes read lossily never panic",
        prop::collection::vec(any::<u8>(), 0..512),
        |b| {
            let _ = decode::<M>(&String::from_utf8_lossy(&b));
            Ok(())
        },
    );
    run("arbitrary JSON", json_value(), |value| {
        let result = decode::<M>(&value.to_string()).map(|_| ());
        let has_string_type = value.get("type").is_some_and(Value::is_string);
        if !has_string_type {
            prop_assert_eq!(result.map_err(|e| e.code), Err(ErrorCode::Malformed));
        } else if let Err(e) = result {
            prop_assert_ne!(e.code, ErrorCode::Malformed);
        }
        Ok(())
    });
    let unknown = ".{0,80}".prop_filter("not a known type", {
        let known = known.clone();
        move |t: &String| !known.contains(&t.as_str())
    });
    run(
        "unknown types",
        (unknown, fields(Vec::new())),
        |(ty, fields)| {
            let err = decode::<M>(&frame(&ty, fields)).err();
            let named: String = ty.chars().take(64).collect();
            prop_assert_eq!(err.as_ref().map(|e| e.code), Some(ErrorCode::UnknownType));
            prop_assert!(err.is_some_and(|e| e.message.contains(&named)));
            Ok(())
        },
    );

    let mut report = Report::default();
    for &ty in &known {
        let sample = sample::<M>(ty);
        let base: Vec<(String, Value)> = match &sample {
            Some(Value::Object(obj)) => obj
                .iter()
                .filter(|(k, _)| *k != "type")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => Vec::new(),
        };
        match sample {
            Some(frame) => {
                assert_decodes_as::<M>(ty, &frame.to_string())
                    .unwrap_or_else(|e| panic!("{ty}: its sample {frame} does not decode: {e}"));
                report.samples.push((ty, frame));
            }
            None => report.without_sample.push(ty),
        }
        run(ty, fields(base), |fields| {
            let text = frame(ty, fields);
            match decode::<M>(&text) {
                Ok(_) => assert_decodes_as::<M>(ty, &text),
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::Invalid, "{}: {}", text, e.message);
                    prop_assert!(!e.message.is_empty());
                    Ok(())
                }
            }
        });
    }
    report
}

/// Checks that every type in `types` that `M` does not know is `unknown_type` on its socket.
pub fn check_refuses<M: ClientMessage>(types: &[&str]) {
    let known = known_types::<M>();
    for &ty in types.iter().filter(|t| !known.contains(t)) {
        run(ty, fields(Vec::new()), |fields| {
            let code = decode::<M>(&frame(ty, fields)).err().map(|e| e.code);
            prop_assert_eq!(code, Some(ErrorCode::UnknownType));
            Ok(())
        });
    }
}

fn run<S: Strategy>(what: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{what}: {e}");
    }
}

fn frame(ty: &str, fields: Map<String, Value>) -> String {
    let mut obj = fields;
    obj.insert("type".into(), Value::from(ty));
    Value::Object(obj).to_string()
}

/// Fields for a frame: each of `base` kept (usually), dropped or replaced by random JSON, plus
/// up to three more under one of the same names or a random one.
fn fields(base: Vec<(String, Value)>) -> impl Strategy<Value = Map<String, Value>> {
    let names: Vec<String> = base.iter().map(|(k, _)| k.clone()).collect();
    let extra_name = if names.is_empty() {
        "[a-zA-Z]{1,10}".boxed()
    } else {
        prop_oneof!["[a-zA-Z]{1,10}", prop::sample::select(names)].boxed()
    };
    let n = base.len();
    (
        prop::collection::vec((0u8..10, json_value()), n),
        prop::collection::btree_map(extra_name, json_value(), 0..3),
    )
        .prop_map(move |(choices, extra)| {
            let mut obj: Map<String, Value> =
                extra.into_iter().filter(|(k, _)| k != "type").collect();
            for ((name, value), (choice, random)) in base.iter().zip(choices) {
                match choice {
                    0..=5 => obj.insert(name.clone(), value.clone()),
                    6 => obj.remove(name),
                    _ => obj.insert(name.clone(), random),
                };
            }
            obj
        })
}

/// Decodes `text` and checks that it is a message of type `ty` that re-encodes to itself.
fn assert_decodes_as<M>(ty: &str, text: &str) -> Result<(), TestCaseError>
where
    M: ClientMessage + Serialize + PartialEq + Debug,
{
    let decoded = decode::<M>(text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (encoded, tag) = match &decoded {
        Incoming::Common(msg) => encode(msg),
        Incoming::Endpoint(msg) => encode(msg),
    };
    prop_assert_eq!(
        tag.as_deref(),
        Some(ty),
        "{} decoded as {:?}",
        text,
        decoded
    );
    let again = decode::<M>(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(again, decoded, "{} re-encoded as {}", text, encoded);
    Ok(())
}

fn encode(msg: &impl Serialize) -> (String, Option<String>) {
    let value = serde_json::to_value(msg).expect("client messages serialize");
    let tag = value.get("type").and_then(Value::as_str).map(str::to_owned);
    (value.to_string(), tag)
}

/// Values tried for a missing field while looking for a valid frame.
fn candidates() -> [Value; 9] {
    [
        json!("a"),
        json!(true),
        json!(1),
        json!(0.5),
        json!({"x": 0.5, "y": 0.5}),
        json!([]),
        json!({}),
        json!("a-1"),
        json!(null),
    ]
}

/// A valid frame of type `ty`, found by filling each field serde reports missing with the first
/// candidate value it accepts; re-encoded, so optional fields show up too. `None` if no luck.
pub fn sample<M>(ty: &str) -> Option<Value>
where
    M: ClientMessage + Serialize + PartialEq + Debug,
{
    let mut obj = Map::new();
    for _ in 0..32 {
        let missing = match decode::<M>(&frame(ty, obj.clone())) {
            Ok(Incoming::Common(msg)) => return serde_json::to_value(msg).ok(),
            Ok(Incoming::Endpoint(msg)) => return Some(fill_optional::<M>(ty, encode(&msg).0)),
            Err(e) => missing_field(&e.message)?,
        };
        let mut hint = None;
        let value = candidates().into_iter().find(|candidate| {
            let mut next = obj.clone();
            next.insert(missing.clone(), candidate.clone());
            match decode::<M>(&frame(ty, next)) {
                Ok(_) => true,
                Err(e) => {
                    hint = hint.take().or_else(|| expected_variant(&e.message));
                    missing_field(&e.message).is_some_and(|f| f != missing)
                }
            }
        });
        // A field of a unit-variant enum names its values when refusing one: take the first.
        let value = value.or_else(|| hint.map(Value::from))?;
        obj.insert(missing, value);
    }
    None
}

/// `sample` with each optional field that encoded as `null` set to the first candidate that
/// still decodes, so the checks start from a frame with every field present.
fn fill_optional<M: ClientMessage>(ty: &str, encoded: String) -> Value {
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&encoded) else {
        return Value::Null;
    };
    let optional: Vec<String> = obj
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    for name in optional {
        let accepted = candidates().into_iter().find(|candidate| {
            let mut next = obj.clone();
            next.insert(name.clone(), candidate.clone());
            !candidate.is_null() && decode::<M>(&Value::Object(next).to_string()).is_ok()
        });
        if let Some(value) = accepted {
            obj.insert(name, value);
        }
    }
    obj.insert("type".into(), Value::from(ty));
    Value::Object(obj)
}

/// The first value serde's "unknown variant `x`, expected one of `a`, `b`" error offers.
fn expected_variant(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("unknown variant `")?;
    let (_, rest) = rest.split_once("expected ")?;
    let rest = rest
        .strip_prefix("one of ")
        .unwrap_or(rest)
        .strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}

/// The field named by serde's "missing field `name`" error, if that is the error.
fn missing_field(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("missing field `")?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}
