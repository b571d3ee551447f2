//! Chat: `use_websocket` with reconnect, send queue and heartbeat. Type, press Enter; offline sends
//! are queued and go out in order when the link is back.

use std::collections::VecDeque;

use realtime_hooks::core::heartbeat::HeartbeatPolicy;
use realtime_hooks::core::history::History;
use realtime_hooks::core::presence::color_for;
use realtime_hooks::use_typed_websocket::{decode_object, truncate};
use realtime_hooks::{
    use_websocket_with_options, Frame, UseWebSocketOptions, WebSocketOptions, MAIN_STREAM,
};
use serde::{Deserialize, Serialize};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::message_list::{
    delivery_callbacks, recovery_notice, with_deliveries, LineDelivery, MessageLine, MessageList,
};
use crate::components::status_badge::StatusBadge;
use crate::PageProps;

/// What the chat endpoint sends (see docs/protocol.md). Decoded through [`ChatWire`], with
/// `decode_object`, which refuses a top-level array (a struct derive alone would accept one).
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "ChatWire")]
pub enum ChatIn {
    /// This connection's identity.
    Welcome {
        /// Server-assigned id.
        user_id: String,
        /// Display name.
        name: String,
    },
    /// A chat message from anyone (this user included).
    Message {
        /// Server-side sequence number.
        id: u64,
        /// Author's id.
        user_id: String,
        /// Author's name.
        name: String,
        /// The text.
        text: String,
        /// ms since the epoch.
        timestamp: f64,
        /// The sender's id for it, when it gave one.
        client_id: Option<String>,
    },
    /// Protocol bookkeeping the engine handles (`ack`, `replayed`): nothing to show.
    Control,
    /// The server rejected something.
    Error {
        /// Why.
        message: String,
    },
}

/// Every chat frame in one flat shape, the decoding side of [`ChatIn`].
///
/// Decision: serde's internally tagged enums buffer each frame into a generic tree and decode it
/// again per variant, several KB of wasm per enum; a flat struct decodes in one pass and
/// `TryFrom` checks the fields each `type` needs (same as `realtime_hooks::core::PresenceWire`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatWire {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u64>,
    user_id: Option<String>,
    name: Option<String>,
    text: Option<String>,
    timestamp: Option<f64>,
    message: Option<String>,
    client_id: Option<String>,
}

impl TryFrom<ChatWire> for ChatIn {
    type Error = String;

    fn try_from(wire: ChatWire) -> Result<Self, String> {
        let kind = wire.kind.as_str();
        let missing = |field: &str| format!("`{kind}` without `{field}`");
        match kind {
            "welcome" => Ok(Self::Welcome {
                user_id: wire.user_id.ok_or_else(|| missing("userId"))?,
                name: wire.name.ok_or_else(|| missing("name"))?,
            }),
            "message" => Ok(Self::Message {
                id: wire.id.unwrap_or_default(),
                user_id: wire.user_id.ok_or_else(|| missing("userId"))?,
                name: wire.name.unwrap_or_default(),
                text: wire.text.ok_or_else(|| missing("text"))?,
                timestamp: wire.timestamp.ok_or_else(|| missing("timestamp"))?,
                client_id: wire.client_id,
            }),
            "ack" | "replayed" => Ok(Self::Control),
            "error" => Ok(Self::Error {
                message: wire.message.ok_or_else(|| missing("message"))?,
            }),
            other => Err(format!("unknown chat message type `{other}`")),
        }
    }
}

/// What the page sends: a chat message (the hook adds its `clientId`).
#[derive(Serialize)]
struct Say<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// What the page shows for one received frame.
#[derive(Debug, PartialEq)]
enum Shown {
    Line(MessageLine),
    Me(String),
    Problem(String),
    Nothing,
}

/// What to show for the frame at absolute position `seq` (stable across history eviction, so
/// list keys never repeat, even when a restarted server reuses message ids).
fn show(frame: &Frame, seq: u64, me: Option<&str>) -> Shown {
    match decode_object::<ChatIn>(frame) {
        Ok(ChatIn::Welcome { user_id, .. }) => Shown::Me(user_id),
        Ok(ChatIn::Message {
            user_id,
            name,
            text,
            timestamp,
            client_id,
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
            client_id,
            delivery: LineDelivery::Done,
        }),
        Ok(ChatIn::Control) => Shown::Nothing,
        Ok(ChatIn::Error { message }) => {
            Shown::Problem(format!("server: {}", truncate(&message, 300)))
        }
        Err(e) => Shown::Problem(format!("unreadable message: {e}")),
    }
}

/// The kept history, decoded once per frame (on the first render after it arrived), not on
/// every render.
#[derive(Default)]
struct Decoded {
    /// The newest `welcome`'s id, as of the next frame to decode.
    me: Option<String>,
    /// Absolute position of the next frame to decode.
    next_seq: u64,
    /// (position, what to show), oldest first, for the frames the history still keeps.
    shown: VecDeque<(u64, Shown)>,
}

impl Decoded {
    /// Decodes what arrived since the last call and forgets what the history evicted.
    fn update(&mut self, history: &History<Frame>) {
        let received = history.received();
        let first_seq = received - history.len() as u64;
        let skip = self.next_seq.saturating_sub(first_seq) as usize;
        for (index, frame) in history.iter().enumerate().skip(skip) {
            let seq = first_seq + index as u64;
            let shown = show(frame, seq, self.me.as_deref());
            if let Shown::Me(id) = &shown {
                self.me = Some(id.clone());
            }
            self.shown.push_back((seq, shown));
        }
        self.next_seq = received;
        while self.shown.front().is_some_and(|(seq, _)| *seq < first_seq) {
            self.shown.pop_front();
        }
    }

    /// The lines to list (oldest first), how many frames could not be shown, and the last reason.
    fn lines_and_problems(&self) -> (Vec<MessageLine>, usize, Option<String>) {
        let mut lines = Vec::new();
        let (mut problems, mut last) = (0, None);
        for (_, shown) in &self.shown {
            match shown {
                Shown::Line(line) => lines.push(line.clone()),
                Shown::Me(_) | Shown::Nothing => {}
                Shown::Problem(p) => {
                    problems += 1;
                    last = Some(p);
                }
            }
        }
        (lines, problems, last.cloned())
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
                // Nothing said while away is lost: the hook asks for it on every reconnect.
                resume: true,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let input = use_node_ref();
    let decoded = use_mut_ref(Decoded::default);
    let status = ws.status();
    let (lines, problems, last_problem) = {
        let mut decoded = decoded.borrow_mut();
        decoded.update(&ws.messages());
        let (mut lines, problems, last) = decoded.lines_and_problems();
        let me = status.welcome.as_ref().map_or("You", |w| w.name.as_str());
        with_deliveries(&mut lines, &ws.connection().pending_sends(), None, me);
        (lines, problems, last)
    };
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
            // Kept until the server acknowledges it (shown "sending…" meanwhile), resent after a
            // reconnect; a full queue shows in the status badge, and the text stays.
            if ws
                .send_acked(&Say {
                    kind: "message",
                    text: &text,
                })
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
    let (on_resend, on_dismiss) = delivery_callbacks(ws.connection());
    let notice = recovery_notice(&status, MAIN_STREAM);
    html! {
        <section class={classes!("page", "chat", crate::styles::page())}>
            <header class="page-head">
                <h1>{ "Chat" }</h1>
                <StatusBadge status={status} {on_retry} />
            </header>
            { notice }
            <MessageList lines={lines} empty="No messages yet. Say hello!"
                on_retry={on_resend} on_dismiss={on_dismiss} />
            if let Some(problem) = last_problem {
                <p class="inline-error" role="alert">
                    { format!("{problems} message(s) could not be shown. Last: {problem}") }
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

    fn message(user: &str, text: &str) -> Frame {
        Frame::Text(format!(
            r#"{{"type":"message","userId":"{user}","name":"N{user}","text":"{text}","timestamp":0}}"#
        ))
    }

    #[test]
    fn history_is_decoded_incrementally_and_follows_eviction() {
        let mut history = History::new(3);
        let mut decoded = Decoded::default();
        history.push(Frame::Text(
            r#"{"type":"welcome","userId":"u1","name":"A"}"#.into(),
        ));
        history.push(message("u1", "one"));
        decoded.update(&history);
        let (lines, problems, _) = decoded.lines_and_problems();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].mine);
        assert_eq!(problems, 0);
        // A render with nothing new changes nothing.
        decoded.update(&history);
        assert_eq!(decoded.lines_and_problems().0, lines);

        history.push(Frame::Text("{bad".into()));
        history.push(message("u2", "two"));
        history.push(message("u2", "three"));
        decoded.update(&history);
        let (lines, problems, last) = decoded.lines_and_problems();
        // Capacity 3: the welcome and "one" are gone; "mine" was decided when they were kept.
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["two", "three"]);
        assert!(!lines[0].mine);
        assert_eq!((lines[0].key.as_str(), lines[1].key.as_str()), ("f3", "f4"));
        assert_eq!(problems, 1);
        assert!(last.is_some_and(|p| p.starts_with("unreadable message")));
        assert_eq!(decoded.shown.len(), 3);
    }

    #[test]
    fn a_frame_missing_what_its_type_needs_says_which_field() {
        let frame = Frame::Text(r#"{"type":"message","userId":"u1","timestamp":0}"#.into());
        match show(&frame, 0, None) {
            Shown::Problem(p) => assert!(p.contains("`message` without `text`"), "{p}"),
            other => panic!("{other:?}"),
        }
        let array = Frame::Text(r#"["message",1,"u1","A","hi",0]"#.into());
        match show(&array, 0, None) {
            Shown::Problem(p) => assert!(p.contains("expected a JSON object"), "{p}"),
            other => panic!("{other:?}"),
        }
        match show(&Frame::Text(r#"{"type":"mystery"}"#.into()), 0, None) {
            Shown::Problem(p) => assert!(p.contains("unknown chat message type `mystery`"), "{p}"),
            other => panic!("{other:?}"),
        }
    }
}
