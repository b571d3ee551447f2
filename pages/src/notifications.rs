//! Notifications: a live feed over Server-Sent Events (`use_event_source`), newest first, that
//! resumes where it left off and says so when the server could not replay what was missed.

use std::fmt;

use realtime_hooks::use_typed_websocket::decode_object;
use realtime_hooks::{
    use_event_source_with_options, DecodeError, EventSourceOptions, Frame, SseEvent, SseState,
};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use yew::prelude::*;

use crate::components::publish_form::PublishForm;
use crate::components::status_badge::status_style;
use crate::session::SessionContext;
use crate::PageProps;

/// One notification, as shown.
///
/// Our dev server sends `event: notification` with `{id, title, message, level, timestamp}`; the
/// seed's feed (`onmessage`, unnamed events) may send `{message}` alone. Only `message` is
/// required; see [`Notification::from_event`] for what stands in for the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The JSON `id` (a string, or a number written as one); else the event's SSE id
    /// (`lastEventId`); else `#<position in the stream>`. Not necessarily unique: a stream whose
    /// events carry no `id:` line repeats the last one (the browser keeps it), so list keys come
    /// from the position instead.
    pub id: String,
    /// Short title (empty when absent).
    pub title: String,
    /// The body.
    pub message: String,
    /// `info`, `success`, `warning` or `error` (empty when absent: shown as `info`).
    pub level: String,
    /// ms since the epoch; `None` when absent (no time is shown: the page does not invent one).
    pub timestamp: Option<f64>,
}

/// The `data:` of a notification event as it may arrive: every field but `message` optional,
/// `null` counting as absent.
#[derive(Deserialize)]
struct NotificationWire {
    #[serde(default, deserialize_with = "opaque_id")]
    id: Option<String>,
    title: Option<String>,
    message: String,
    level: Option<String>,
    timestamp: Option<f64>,
}

/// An id is opaque: a string, or a number (a seed-style server may count), kept as its text.
fn opaque_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Id;
    impl Visitor<'_> for Id {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Id)
}

impl Notification {
    /// Decodes the notification carried by `event`, the `seq`-th event of the stream (counted
    /// from the first one ever received, so it stays put when older events are evicted).
    ///
    /// A frame that is not a JSON object, or has no string `message`, is a typed error.
    pub fn from_event(event: &SseEvent, seq: u64) -> Result<Self, DecodeError> {
        let wire: NotificationWire = decode_object(&Frame::Text(event.data.clone()))?;
        let id = match wire.id {
            Some(id) if !id.is_empty() => id,
            _ if !event.id.is_empty() => event.id.clone(),
            _ => format!("#{seq}"),
        };
        Ok(Self {
            id,
            title: wire.title.unwrap_or_default(),
            message: wire.message,
            level: wire.level.unwrap_or_default(),
            timestamp: wire.timestamp,
        })
    }
}

/// What the feed shows, newest first: up to `shown` notifications with their list keys, whether
/// a `reset` said events were missed, and the errors of unreadable events (newest first).
///
/// Named `notification` events (our server) and unnamed ones (`message`, the seed's `onmessage`)
/// are read alike. List keys are `e<position>`: unique even when ids repeat.
fn read_feed<'a>(
    events: impl DoubleEndedIterator<Item = &'a SseEvent> + ExactSizeIterator,
    first_seq: u64,
    shown: usize,
) -> (Vec<(String, Notification)>, bool, Vec<String>) {
    let mut feed = Vec::new();
    let mut bad = Vec::new();
    let mut missed = false;
    for (index, event) in events.enumerate().rev() {
        let seq = first_seq + index as u64;
        match event.event.as_str() {
            "reset" => missed = true,
            _ if feed.len() < shown => match Notification::from_event(event, seq) {
                Ok(n) => feed.push((format!("e{seq}"), n)),
                Err(e) => bad.push(e.to_string()),
            },
            _ => {}
        }
    }
    (feed, missed, bad)
}

const SHOWN: usize = 50;

/// The SSE event names the page listens to: `notification` (our server), `message` (unnamed
/// events, what the seed's feed reads with `onmessage`) and `reset` (our server's "you missed
/// some").
const LISTENED: [&str; 3] = ["notification", "message", "reset"];

/// The notifications page.
#[component]
pub fn NotificationsPage(props: &PageProps) -> Html {
    // Signed in with the `publish` right: a form to post one (see `PublishForm`).
    let publisher = use_context::<SessionContext>().and_then(|ctx| {
        let session = ctx.session.filter(|s| s.publish)?;
        Some((ctx.publish_url, AttrValue::from(session.token)))
    });
    let sse = use_event_source_with_options(
        &props.url,
        EventSourceOptions {
            events: LISTENED.iter().map(|name| (*name).to_owned()).collect(),
            ..Default::default()
        },
    );
    let (feed, missed, bad) = {
        let events = sse.events();
        let first_seq = events.received() - events.len() as u64;
        read_feed(events.iter(), first_seq, SHOWN)
    };
    let style = crate::scoped!(
        "stylist-notifications",
        r#"
        .notice { margin: 0; padding: 0.6rem 0.8rem; border-radius: 8px; border: 1px solid var(--wait); color: var(--wait); background: var(--surface); }
        .feed { list-style: none; margin: 0; padding: 0.5rem; display: flex; flex-direction: column; gap: 0.4rem; max-height: 70vh; overflow-y: auto;
            background: var(--surface); border: 1px solid var(--border); border-radius: 12px; box-shadow: var(--shadow); }
        .empty { color: var(--muted); padding: 1rem; text-align: center; }
        .notification { display: grid; grid-template-columns: 4.5rem 9rem 1fr auto; align-items: baseline; gap: 0.8rem; padding: 0.6rem 0.8rem;
            border-radius: 8px; border-left: 4px solid var(--accent); background: var(--bg); }
        .notification time { color: var(--muted); font-size: 0.8rem; }
        .level-tag { font-size: 0.7rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.05em; color: var(--accent); }
        .notification.success .level-tag { color: var(--ok); }
        .notification.warning .level-tag { color: var(--wait); }
        .notification.error .level-tag { color: var(--bad); }
        .notification.success { border-color: var(--ok); }
        .notification.warning { border-color: var(--wait); }
        .notification.error { border-color: var(--bad); }
        "#
    );
    let (badge_class, badge) = match sse.state() {
        SseState::Open => ("ok", "Live"),
        SseState::Connecting => ("wait", "Connecting…"),
        _ => ("bad", "Disconnected"),
    };
    html! {
        <section class={classes!("page", "notifications", crate::styles::page(), style)}>
            <header class="page-head">
                <h1>{ "Notifications" }</h1>
                <div class={classes!("status", status_style())} role="status">
                    <span class={classes!("badge", badge_class)} data-state={sse.state().label()}>{ badge }</span>
                    if let Some(error) = sse.error() {
                        <span class="hint">{ error.to_string() }</span>
                    }
                </div>
            </header>
            if let Some((url, token)) = publisher {
                <PublishForm {url} {token} />
            }
            if missed {
                <p class="notice" role="alert" data-testid="missed">
                    { "The server restarted or fell too far behind: some notifications may have been missed." }
                </p>
            }
            if let Some(error) = bad.first() {
                <p class="inline-error" role="alert">{ format!("{} notification(s) could not be read: {error}", bad.len()) }</p>
            }
            <ol class="feed" aria-live="polite">
                if feed.is_empty() {
                    <li class="empty">{ "Waiting for notifications…" }</li>
                }
                { for feed.iter().map(|(key, n)| html! {
                    <li key={key.clone()} class={classes!("notification", level_class(&n.level))} data-id={n.id.clone()}>
                        <span class="level-tag">{ level_class(&n.level) }</span>
                        <strong>{ if n.title.is_empty() { "Notification" } else { &n.title } }</strong>
                        <span class="text">{ &n.message }</span>
                        if let Some(timestamp) = n.timestamp {
                            <time>{ crate::clock(timestamp) }</time>
                        }
                    </li>
                }) }
            </ol>
        </section>
    }
}

fn level_class(level: &str) -> &'static str {
    match level {
        "success" => "success",
        "warning" => "warning",
        "error" => "error",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, id: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            data: data.to_owned(),
            id: id.to_owned(),
        }
    }

    fn unnamed(data: &str) -> SseEvent {
        event("message", "", data)
    }

    #[test]
    fn the_page_listens_to_unnamed_events_too() {
        assert!(
            LISTENED.contains(&"message"),
            "the seed's feed sends unnamed events"
        );
        assert!(LISTENED.contains(&"notification"));
        assert!(LISTENED.contains(&"reset"));
    }

    #[test]
    fn a_seed_frame_with_only_a_message_is_a_notification() {
        let n = Notification::from_event(&unnamed(r#"{"message":"Deploy done"}"#), 3)
            .expect("{message} alone is enough");
        assert_eq!(
            n,
            Notification {
                id: "#3".into(),
                title: String::new(),
                message: "Deploy done".into(),
                level: String::new(),
                timestamp: None,
            }
        );
        // null counts as absent.
        let n = Notification::from_event(
            &unnamed(r#"{"id":null,"title":null,"message":"m","level":null,"timestamp":null}"#),
            0,
        )
        .expect("nulls are absent fields");
        assert_eq!(
            (n.id.as_str(), n.title.as_str(), n.timestamp),
            ("#0", "", None)
        );
    }

    #[test]
    fn the_id_is_the_json_id_else_the_sse_id_else_the_position() {
        let id = |e: SseEvent| Notification::from_event(&e, 9).map(|n| n.id);
        assert_eq!(
            id(event("message", "7", r#"{"message":"m"}"#)),
            Ok("7".into())
        );
        assert_eq!(
            id(event("message", "7", r#"{"id":"","message":"m"}"#)),
            Ok("7".into())
        );
        assert_eq!(
            id(event("message", "7", r#"{"id":"a-1","message":"m"}"#)),
            Ok("a-1".into())
        );
        assert_eq!(
            id(event("message", "", r#"{"id":42,"message":"m"}"#)),
            Ok("42".into())
        );
        assert_eq!(
            id(event("message", "", r#"{"message":"m"}"#)),
            Ok("#9".into())
        );
    }

    #[test]
    fn our_servers_notification_decodes_in_full() {
        let data = r#"{"id":"r1-4","title":"Deploy","message":"green","level":"success","timestamp":1764136000124}"#;
        let n =
            Notification::from_event(&event("notification", "r1-4", data), 0).expect("full frame");
        assert_eq!(
            n,
            Notification {
                id: "r1-4".into(),
                title: "Deploy".into(),
                message: "green".into(),
                level: "success".into(),
                timestamp: Some(1_764_136_000_124.0),
            }
        );
    }

    #[test]
    fn broken_frames_are_typed_errors() {
        let error = |data: &str| Notification::from_event(&unnamed(data), 0).map_err(|e| e.error);
        assert!(error("not json").is_err());
        assert!(error(r#"{"title":"no body"}"#).is_err_and(|e| e.contains("message")));
        assert!(error(r#"{"message":42}"#).is_err());
        assert!(error(r#"{"message":"m","timestamp":"yesterday"}"#).is_err());
        assert!(error(r#"{"message":"m","id":{"x":1}}"#).is_err());
        assert_eq!(error(r#"["m"]"#), Err("expected a JSON object".into()));
    }

    #[test]
    fn the_feed_reads_named_and_unnamed_events_newest_first_with_unique_keys() {
        let events = [
            event(
                "notification",
                "r1-1",
                r#"{"id":"r1-1","message":"ours","timestamp":1}"#,
            ),
            unnamed(r#"{"message":"no id at all"}"#),
            event("message", "7", r#"{"message":"with an id line"}"#),
            // No `id:` line: the browser repeats the last id.
            event("message", "7", r#"{"message":"after it"}"#),
            unnamed("garbage"),
            event("reset", "", r#"{"reason":"too_old","lastEventId":"r0-1"}"#),
        ];
        let (feed, missed, bad) = read_feed(events.iter(), 100, 50);
        let shown: Vec<(&str, &str, &str)> = feed
            .iter()
            .map(|(key, n)| (key.as_str(), n.id.as_str(), n.message.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("e103", "7", "after it"),
                ("e102", "7", "with an id line"),
                ("e101", "#101", "no id at all"),
                ("e100", "r1-1", "ours"),
            ]
        );
        assert!(missed);
        assert_eq!(bad.len(), 1);
        // Bounded to the newest `shown`.
        let (feed, _, _) = read_feed(events.iter(), 0, 2);
        assert_eq!(feed.len(), 2);
        assert_eq!(feed[1].1.message, "with an id line");
    }
}
