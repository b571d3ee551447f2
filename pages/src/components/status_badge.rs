//! The connected / reconnecting in Ns / offline badge, with a "retry now" button.

use gloo_timers::callback::Interval;
use realtime_hooks::{ConnectionState, ConnectionStatus};
use yew::prelude::*;

/// The status line's look (`.status` with `.badge`s and a `.hint`), also used by pages that build
/// their own badge (notifications). Parsed at compile time; colours are theme variables.
pub fn status_style() -> &'static str {
    crate::scoped!(
        "stylist-status",
        r#"
        display: flex; align-items: center; gap: 0.5rem; flex-wrap: wrap;
        .badge { display: inline-flex; align-items: center; gap: 0.4rem; padding: 0.2rem 0.65rem; border-radius: 999px; font-size: 0.85rem; font-weight: 700; border: 1px solid currentColor; }
        .badge::before { content: ""; width: 0.5rem; height: 0.5rem; border-radius: 50%; background: currentColor; }
        .badge.ok { color: var(--ok); }
        .badge.wait { color: var(--wait); }
        .badge.bad { color: var(--bad); }
        .badge.queued { color: var(--accent); }
        .hint { color: var(--muted); font-size: 0.85rem; }
        "#
    )
}

/// Props of [`StatusBadge`].
#[derive(Properties, PartialEq)]
pub struct StatusBadgeProps {
    /// The connection to describe.
    pub status: ConnectionStatus,
    /// Called when the user asks to retry now.
    pub on_retry: Callback<()>,
}

/// Shows the connection state in words a user understands, counting down to the next retry.
#[component]
pub fn StatusBadge(props: &StatusBadgeProps) -> Html {
    let status = &props.status;
    // Tick once a second while a countdown is shown.
    let tick = use_force_update();
    let counting = status.retry_at_ms.is_some();
    use_effect_with(counting, move |counting| {
        let interval = counting.then(|| Interval::new(1_000, move || tick.force_update()));
        move || drop(interval)
    });
    let (class, text) = match &status.state {
        ConnectionState::Open => ("ok", "Connected".to_owned()),
        ConnectionState::Connecting => ("wait", "Connecting…".to_owned()),
        ConnectionState::Reconnecting { .. } => {
            let left = status
                .retry_at_ms
                .map_or(0.0, |at| ((at - js_sys::Date::now()) / 1000.0).max(0.0));
            ("wait", format!("Reconnecting in {}s", left.ceil() as u64))
        }
        ConnectionState::GaveUp { attempts } => {
            ("bad", format!("Offline (gave up after {attempts})"))
        }
        ConnectionState::Offline => ("wait", "No network: waiting".to_owned()),
        ConnectionState::Closing | ConnectionState::Closed | ConnectionState::Idle => {
            ("bad", "Offline".to_owned())
        }
    };
    // What a screen reader says: once per state, not once per second of the countdown (the
    // visible badge counts down; this line keeps the delay the retry was scheduled with).
    let announcement = match &status.state {
        ConnectionState::Reconnecting { next_in_ms, .. } => {
            format!("Reconnecting in {} s", next_in_ms.div_ceil(1000))
        }
        _ => text.clone(),
    };
    let can_retry = !matches!(
        status.state,
        ConnectionState::Open | ConnectionState::Connecting
    );
    let on_retry = props.on_retry.reform(|_: MouseEvent| ());
    html! {
        <div class={classes!("status", status_style())}>
            <span class="visually-hidden" role="status" data-testid="announce">{ announcement }</span>
            <span class={classes!("badge", class)} data-state={status.state.label()} aria-hidden="true">{ text }</span>
            if status.queued > 0 {
                <span class="badge queued">{ format!("queued ({})", status.queued) }</span>
            }
            if let Some(error) = &status.last_error {
                <span class="hint" title={error.to_string()}>{ error.to_string() }</span>
            }
            if can_retry {
                <button class="link" onclick={on_retry}>{ "Retry now" }</button>
            }
        </div>
    }
}
