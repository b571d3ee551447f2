//! Notifications: a live feed over Server-Sent Events (`use_event_source`), newest first, that
//! resumes where it left off and says so when the server could not replay what was missed.

use realtime_hooks::{use_event_source_with_options, EventSourceOptions, SseState};
use serde::Deserialize;
use yew::prelude::*;

use crate::PageProps;

/// One notification as the server sends it.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct Notification {
    /// `run-seq` id.
    pub id: String,
    /// Short title.
    #[serde(default)]
    pub title: String,
    /// The body.
    pub message: String,
    /// `info`, `success`, `warning` or `error`.
    #[serde(default)]
    pub level: String,
    /// ms since the epoch.
    pub timestamp: f64,
}

const SHOWN: usize = 50;

/// The notifications page.
#[component]
pub fn NotificationsPage(props: &PageProps) -> Html {
    let sse = use_event_source_with_options(
        &props.url,
        EventSourceOptions {
            events: vec!["notification".into(), "reset".into()],
            ..Default::default()
        },
    );
    let mut feed = Vec::new();
    let mut bad = Vec::new();
    let mut missed = false;
    for event in sse.events().iter().rev() {
        match event.event.as_str() {
            "reset" => missed = true,
            _ if feed.len() < SHOWN => match event.json::<Notification>() {
                Ok(n) => feed.push(n),
                Err(e) => bad.push(e.to_string()),
            },
            _ => {}
        }
    }
    let (badge_class, badge) = match sse.state() {
        SseState::Open => ("ok", "Live"),
        SseState::Connecting => ("wait", "Connecting…"),
        _ => ("bad", "Disconnected"),
    };
    html! {
        <section class="page notifications">
            <header class="page-head">
                <h1>{ "Notifications" }</h1>
                <div class="status" role="status">
                    <span class={classes!("badge", badge_class)} data-state={sse.state().label()}>{ badge }</span>
                    if let Some(error) = sse.error() {
                        <span class="hint">{ error.to_string() }</span>
                    }
                </div>
            </header>
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
                { for feed.iter().map(|n| html! {
                    <li key={n.id.clone()} class={classes!("notification", level_class(&n.level))} data-id={n.id.clone()}>
                        <span class="level-tag">{ level_class(&n.level) }</span>
                        <strong>{ if n.title.is_empty() { "Notification" } else { &n.title } }</strong>
                        <span class="text">{ &n.message }</span>
                        <time>{ crate::clock(n.timestamp) }</time>
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
