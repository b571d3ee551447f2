//! Property tests for `protocol::decode` on every endpoint's message type: arbitrary input never
//! panics, failures get the documented codes, and every valid message survives
//! encode → decode unchanged. The checks are generic (`common/message_props.rs`), driven by
//! each type's `ClientMessage::types()`; an endpoint is covered by one line here.

#[path = "common/message_props.rs"]
mod message_props;

use message_props::{check, check_refuses, Report};
use realtime_server::chat::ChatMsg;
use realtime_server::presence::PresenceMsg;
use realtime_server::protocol::{ClientMessage, CommonMsg, NoMessages};
use realtime_server::typed_chat::TypedChatMsg;

/// Every built-in type has a valid frame the checks start from, so none is covered by random
/// fields alone.
fn assert_fully_covered(report: &Report, types: &[&str]) {
    assert!(report.without_sample.is_empty(), "{report:?}");
    let covered: Vec<&str> = report.samples.iter().map(|(t, _)| *t).collect();
    for ty in types.iter().chain(CommonMsg::types()) {
        assert!(covered.contains(ty), "{ty} not covered: {report:?}");
    }
}

#[test]
fn chat_messages() {
    assert_fully_covered(&check::<ChatMsg>(), ChatMsg::types());
}

#[test]
fn typed_chat_messages() {
    assert_fully_covered(&check::<TypedChatMsg>(), TypedChatMsg::types());
}

#[test]
fn presence_messages() {
    assert_fully_covered(&check::<PresenceMsg>(), PresenceMsg::types());
}

#[test]
fn binary_takes_only_the_shared_messages() {
    assert_fully_covered(&check::<NoMessages>(), &[]);
}

#[test]
fn each_endpoint_refuses_the_others_types() {
    let all: Vec<&str> = [
        ChatMsg::types(),
        TypedChatMsg::types(),
        PresenceMsg::types(),
        // Server frames a confused client might echo back.
        &["welcome", "pong", "error", "joined"],
    ]
    .concat();
    check_refuses::<ChatMsg>(&all);
    check_refuses::<TypedChatMsg>(&all);
    check_refuses::<PresenceMsg>(&all);
    check_refuses::<NoMessages>(&all);
}

#[test]
fn the_built_in_types_are_the_documented_ones() {
    assert_eq!(CommonMsg::types(), ["ping"]);
    assert_eq!(ChatMsg::types(), ["message"]);
    assert_eq!(
        TypedChatMsg::types(),
        ["join", "leave", "message", "typing"]
    );
    assert_eq!(PresenceMsg::types(), ["presence:update"]);
    assert!(NoMessages::types().is_empty());
}
