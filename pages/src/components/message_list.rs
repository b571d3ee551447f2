//! A chat message list that stays scrolled to the newest message unless the reader scrolled up,
//! with this user's own messages marked "sending…" until the server acknowledges them.

use realtime_hooks::{Connection, ConnectionStatus, PendingSend};
use serde::Deserialize;
use web_sys::Element;
use yew::prelude::*;

/// Where one of this user's messages is.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LineDelivery {
    /// Received from the server (or acknowledged): nothing to say.
    #[default]
    Done,
    /// Sent or queued, not acknowledged yet.
    Sending,
    /// Given up on, with the reason; the user can retry or dismiss it.
    Failed(String),
}

/// One line of a message list (`..Default::default()` for the fields a page does not use).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MessageLine {
    /// Stable key (server id, or position).
    pub key: String,
    /// Who wrote it.
    pub author: String,
    /// Colour of the author's name.
    pub color: String,
    /// The text, rendered as text.
    pub text: String,
    /// ms since the epoch (shown as local `HH:MM`).
    pub timestamp: f64,
    /// Written by this user.
    pub mine: bool,
    /// The sender's id for the message, when it gave one.
    pub client_id: Option<String>,
    /// Whether the server has it yet (this user's messages).
    pub delivery: LineDelivery,
}

/// The fields of a sent message the list shows while it waits for its ack.
#[derive(Deserialize)]
struct SentMessage {
    text: String,
    #[serde(default)]
    room: Option<String>,
}

/// Marks `lines` whose `clientId` still waits for an ack (or failed), and appends a line for each
/// pending send of `room` (`None`: the chat) that has not come back from the server yet.
pub fn with_deliveries(
    lines: &mut Vec<MessageLine>,
    pending: &[PendingSend],
    room: Option<&str>,
    author: &str,
) {
    for send in pending {
        let delivery = match &send.failed {
            Some(failure) => LineDelivery::Failed(failure.to_string()),
            None => LineDelivery::Sending,
        };
        if let Some(line) = lines
            .iter_mut()
            .rev()
            .find(|l| l.client_id.as_deref() == Some(send.client_id.as_str()))
        {
            line.delivery = delivery;
            continue;
        }
        let Ok(sent) = serde_json::from_str::<SentMessage>(&send.text) else {
            continue;
        };
        if sent.room.as_deref() != room {
            continue;
        }
        lines.push(MessageLine {
            key: format!("p{}", send.client_id),
            author: author.to_owned(),
            color: "var(--muted)".to_owned(),
            text: sent.text,
            timestamp: 0.0,
            mine: true,
            client_id: Some(send.client_id.clone()),
            delivery,
        });
    }
}

/// Props of [`MessageList`].
#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    /// Lines, oldest first.
    pub lines: Vec<MessageLine>,
    /// Shown when there are no lines.
    #[prop_or_default]
    pub empty: AttrValue,
    /// Send a failed message again (its `clientId`).
    #[prop_or_default]
    pub on_retry: Option<Callback<String>>,
    /// Drop a failed message (its `clientId`).
    #[prop_or_default]
    pub on_dismiss: Option<Callback<String>>,
}

/// The scrolling list; new lines are announced to screen readers (`aria-live`).
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    // Scoped to this list and parsed at compile time (see crate::styles); colours are the theme's
    // CSS variables, so light and dark both apply.
    let style = crate::scoped!(
        "stylist-messages",
        r#"
        list-style: none; margin: 0; padding: 0.5rem; height: min(60vh, 520px); overflow-y: auto;
        background: var(--surface); border: 1px solid var(--border); border-radius: 12px; box-shadow: var(--shadow);
        @media (max-width: 760px) { height: 45vh; }
        .message { display: grid; grid-template-columns: auto 1fr auto; gap: 0.6rem; padding: 0.45rem 0.6rem; border-radius: 8px; align-items: baseline; }
        .message.mine { background: var(--mine); }
        .author { font-weight: 700; white-space: nowrap; }
        .text { overflow-wrap: anywhere; white-space: pre-wrap; }
        time { color: var(--muted); font-size: 0.8rem; }
        .delivery { display: block; color: var(--muted); font-size: 0.8rem; font-style: italic; }
        .delivery.failed { color: var(--bad); font-style: normal; }
        .delivery button { margin-left: 0.4rem; font-size: 0.8rem; padding: 0.1rem 0.5rem; }
        .empty { color: var(--muted); padding: 1rem; text-align: center; }
        "#
    );
    let list = use_node_ref();
    let pinned = use_mut_ref(|| true);
    let onscroll = {
        let (list, pinned) = (list.clone(), pinned.clone());
        Callback::from(move |_: Event| {
            if let Some(el) = list.cast::<Element>() {
                *pinned.borrow_mut() =
                    el.scroll_height() - el.scroll_top() - el.client_height() < 40;
            }
        })
    };
    {
        let (list, pinned) = (list.clone(), pinned.clone());
        use_effect_with(props.lines.len(), move |_| {
            if *pinned.borrow() {
                if let Some(el) = list.cast::<Element>() {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    html! {
        <ol class={classes!("messages", style)} ref={list} {onscroll} aria-live="polite" aria-relevant="additions">
            if props.lines.is_empty() {
                <li class="empty">{ props.empty.clone() }</li>
            }
            { for props.lines.iter().map(|line| html! {
                <li key={line.key.clone()} class={classes!("message", line.mine.then_some("mine"))}
                    data-delivery={delivery_attr(&line.delivery)}>
                    <span class="author" style={format!("color: {}", line.color)}>{ &line.author }</span>
                    <span class="text">{ &line.text }{ delivery_note(line, props) }</span>
                    <time>{ if line.timestamp > 0.0 { crate::clock(line.timestamp) } else { String::new() } }</time>
                </li>
            }) }
        </ol>
    }
}

fn delivery_attr(delivery: &LineDelivery) -> Option<&'static str> {
    match delivery {
        LineDelivery::Done => None,
        LineDelivery::Sending => Some("sending"),
        LineDelivery::Failed(_) => Some("failed"),
    }
}

/// "sending…", or why it failed with Retry and Dismiss.
fn delivery_note(line: &MessageLine, props: &MessageListProps) -> Html {
    let id = line.client_id.clone().unwrap_or_default();
    match &line.delivery {
        LineDelivery::Done => Html::default(),
        LineDelivery::Sending => html! { <small class="delivery">{ "sending…" }</small> },
        LineDelivery::Failed(why) => {
            let retry = props.on_retry.clone().map(|cb| {
                let id = id.clone();
                Callback::from(move |_: MouseEvent| cb.emit(id.clone()))
            });
            let dismiss = props.on_dismiss.clone().map(|cb| {
                let id = id.clone();
                Callback::from(move |_: MouseEvent| cb.emit(id.clone()))
            });
            html! {
                <small class="delivery failed" role="alert">
                    { format!("Not delivered: {why}.") }
                    if let Some(onclick) = retry { <button type="button" {onclick}>{ "Retry" }</button> }
                    if let Some(onclick) = dismiss { <button type="button" class="secondary" {onclick}>{ "Dismiss" }</button> }
                </small>
            }
        }
    }
}

/// The list's `on_retry` and `on_dismiss` for failed sends on `conn`: send again under the same
/// `clientId`, or drop it.
pub fn delivery_callbacks(conn: &Connection) -> (Callback<String>, Callback<String>) {
    let retry = {
        let conn = conn.clone();
        Callback::from(move |id: String| {
            conn.retry_send(&id);
        })
    };
    let conn = conn.clone();
    (
        retry,
        Callback::from(move |id: String| conn.forget_send(&id)),
    )
}

/// The line about the latest replay of `stream`: "12 missed messages recovered", or a warning
/// that some may be missing; nothing for a newcomer or a reconnect that missed nothing.
pub fn recovery_notice(status: &ConnectionStatus, stream: &str) -> Html {
    let Some(recovery) = status.recovery(stream) else {
        return Html::default();
    };
    let Some(text) = recovery.notice() else {
        return Html::default();
    };
    let class = if recovery.is_warning() {
        "recovery warning"
    } else {
        "recovery"
    };
    html! { <p class={class} role="status" data-testid="recovery">{ text }</p> }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_hooks::AckFailure;

    fn line(text: &str, client_id: Option<&str>) -> MessageLine {
        MessageLine {
            key: text.to_owned(),
            author: "Ada".into(),
            color: String::new(),
            text: text.to_owned(),
            timestamp: 1.0,
            mine: true,
            client_id: client_id.map(str::to_owned),
            delivery: LineDelivery::Done,
        }
    }

    fn pending(id: &str, text: &str, failed: bool) -> PendingSend {
        PendingSend {
            client_id: id.to_owned(),
            text: text.to_owned(),
            sends: 1,
            sent_at: None,
            failed: failed.then_some(AckFailure::TooManySends { sends: 4 }),
        }
    }

    #[test]
    fn own_messages_show_sending_until_acked_and_failures_say_why() {
        let mut lines = vec![line("echoed", Some("c1")), line("theirs", None)];
        let sends = [
            pending(
                "c1",
                r#"{"clientId":"c1","type":"message","text":"echoed"}"#,
                false,
            ),
            pending(
                "c2",
                r#"{"clientId":"c2","type":"message","text":"not back yet"}"#,
                false,
            ),
            pending(
                "c3",
                r#"{"clientId":"c3","type":"message","text":"gave up"}"#,
                true,
            ),
            pending(
                "c4",
                r#"{"clientId":"c4","type":"message","room":"help","text":"elsewhere"}"#,
                false,
            ),
        ];
        with_deliveries(&mut lines, &sends, None, "Ada");
        let shown: Vec<(&str, &LineDelivery)> = lines
            .iter()
            .map(|l| (l.text.as_str(), &l.delivery))
            .collect();
        assert_eq!(
            shown,
            [
                ("echoed", &LineDelivery::Sending),
                ("theirs", &LineDelivery::Done),
                ("not back yet", &LineDelivery::Sending),
                (
                    "gave up",
                    &LineDelivery::Failed("not confirmed after 4 attempts".into())
                ),
            ],
            "the other room's send is not listed here"
        );
    }
}
