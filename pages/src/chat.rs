//! Chat: `use_websocket` with reconnect, send queue and heartbeat. Type, press Enter; offline sends
//! are queued and go out in order when the link is back.

use realtime_hooks::core::heartbeat::HeartbeatPolicy;
use realtime_hooks::core::presence::color_for;
use realtime_hooks::use_typed_websocket::{decode_frame, truncate};
use realtime_hooks::{use_websocket_with_options, Frame, UseWebSocketOptions, WebSocketOptions};
use serde::Deserialize;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::message_list::{MessageLine, MessageList};
use crate::components::status_badge::StatusBadge;
use crate::PageProps;

/// What the chat endpoint sends (see docs/protocol.md).
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ChatIn {
    /// This connection's identity.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// Server-assigned id.
        user_id: String,
        /// Display name.
        name: String,
    },
    /// A chat message from anyone (this user included).
    #[serde(rename_all = "camelCase")]
    Message {
        /// Server-side sequence number.
        #[serde(default)]
        id: u64,
        /// Author's id.
        user_id: String,
        /// Author's name.
        #[serde(default)]
        name: String,
        /// The text.
        text: String,
        /// ms since the epoch.
        timestamp: f64,
    },
    /// The server rejected something.
    Error {
        /// Why.
        message: String,
    },
}

/// What the page shows for one received frame.
#[derive(Debug, PartialEq)]
enum Shown {
    Line(MessageLine),
    Me(String),
    Problem(String),
}

/// What to show for the frame at absolute position `seq` (stable across history eviction, so
/// list keys never repeat, even when a restarted server reuses message ids).
fn show(frame: &Frame, seq: u64, me: Option<&str>) -> Shown {
    match decode_frame::<ChatIn>(frame) {
        Ok(ChatIn::Welcome { user_id, .. }) => Shown::Me(user_id),
        Ok(ChatIn::Message {
            user_id,
            name,
            text,
            timestamp,
            ..
        }) => Shown::Line(MessageLine {
            key: format!("f{seq}"),
            author: if name.is_empty() {
                user_id.clone()
            } else {
                name
            },
            color: color_for(&user_id),
            mine: me == Some(user_id.as_str()),
            text,
            timestamp,
        }),
        Ok(ChatIn::Error { message }) => {
            Shown::Problem(format!("server: {}", truncate(&message, 300)))
        }
        Err(e) => Shown::Problem(format!("unreadable message: {e}")),
    }
}

/// The broadcast chat page.
#[component]
pub fn ChatPage(props: &PageProps) -> Html {
    // A dead link shows within 20 s (ping after 15 s of silence, 5 s for the pong) rather than
    // the 40 s of the seed's 30 s heartbeat.
    let ws = use_websocket_with_options(
        &props.url,
        UseWebSocketOptions {
            connection: WebSocketOptions {
                heartbeat: Some(HeartbeatPolicy {
                    interval_ms: 15_000,
                    timeout_ms: 5_000,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let input = use_node_ref();
    let mut me: Option<String> = None;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let history = ws.messages();
    let first_seq = history.received() - history.len() as u64;
    for (index, frame) in history.iter().enumerate() {
        match show(frame, first_seq + index as u64, me.as_deref()) {
            Shown::Line(line) => lines.push(line),
            Shown::Me(id) => me = Some(id),
            Shown::Problem(p) => problems.push(p),
        }
    }
    drop(history);
    let send = {
        let (ws, input) = (ws.clone(), input.clone());
        Callback::from(move |_: ()| {
            let Some(field) = input.cast::<HtmlInputElement>() else {
                return;
            };
            let text = field.value();
            if text.trim().is_empty() {
                return;
            }
            // Queued while offline; a full queue shows in the status badge, and the text stays.
            if ws
                .send(&serde_json::json!({ "type": "message", "text": text }))
                .is_ok()
            {
                field.set_value("");
            }
        })
    };
    // Enter in the field submits the form.
    let onsubmit = send.reform(|e: SubmitEvent| e.prevent_default());
    let on_retry = {
        let ws = ws.clone();
        Callback::from(move |_| ws.retry_now())
    };
    let status = ws.status();
    html! {
        <section class="page chat">
            <header class="page-head">
                <h1>{ "Chat" }</h1>
                <StatusBadge status={status} {on_retry} />
            </header>
            <MessageList lines={lines} empty="No messages yet. Say hello!" />
            if let Some(problem) = problems.last() {
                <p class="inline-error" role="alert">
                    { format!("{} message(s) could not be shown. Last: {problem}", problems.len()) }
                </p>
            }
            <form class="composer" {onsubmit}>
                <label for="chat-input" class="visually-hidden">{ "Message" }</label>
                <input id="chat-input" ref={input} type="text" placeholder="Write a message and press Enter"
                    autocomplete="off" maxlength="2000" />
                <button type="submit">{ "Send" }</button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_message_stays_text_and_bad_frames_become_problems() {
        let xss = Frame::Text(r#"{"type":"message","id":1,"userId":"u1","name":"A","text":"<img src=x onerror=alert(1)>","timestamp":0}"#.into());
        match show(&xss, 0, Some("u1")) {
            Shown::Line(line) => {
                assert_eq!(line.text, "<img src=x onerror=alert(1)>");
                assert!(line.mine);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            show(&Frame::Text("{bad".into()), 0, None),
            Shown::Problem(_)
        ));
        assert!(matches!(
            show(&Frame::Text(r#"{"type":"mystery"}"#.into()), 0, None),
            Shown::Problem(_)
        ));
        assert!(matches!(
            show(&Frame::Binary(vec![1]), 0, None),
            Shown::Problem(_)
        ));
    }
}
