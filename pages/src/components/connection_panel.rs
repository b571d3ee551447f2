//! The connection panel: every live connection's state, retries, queue, RTT, last close and log.

use gloo_timers::callback::Interval;
use realtime_hooks::core::decimal::Fixed;
use realtime_hooks::{use_connection_registry, ConnectionRow};
use yew::prelude::*;

/// Lists the connections of the surrounding `RealtimeProvider`, refreshed twice a second.
#[component]
pub fn ConnectionPanel() -> Html {
    let registry = use_connection_registry();
    let rows = use_state(Vec::<ConnectionRow>::new);
    let style = crate::scoped!(
        "stylist-panel",
        r#"
        width: 340px; border-left: 1px solid var(--border); background: var(--surface); padding: 1rem; overflow-y: auto; max-height: calc(100vh - 56px);
        h2 { margin: 0 0 0.8rem; font-size: 1rem; }
        .empty { color: var(--muted); padding: 1rem; text-align: center; }
        .conn { border: 1px solid var(--border); border-radius: 10px; padding: 0.6rem 0.8rem; margin-bottom: 0.8rem; }
        .conn h3 { margin: 0 0 0.4rem; font-size: 0.9rem; }
        .kind { font-size: 0.7rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
        dl { display: grid; grid-template-columns: auto 1fr; gap: 0.1rem 0.8rem; margin: 0; font-size: 0.85rem; }
        dt { color: var(--muted); }
        dd { margin: 0; overflow-wrap: anywhere; }
        .log { list-style: none; margin: 0.5rem 0 0; padding: 0; font-size: 0.78rem; color: var(--muted); font-family: ui-monospace, monospace; }
        @media (max-width: 760px) {
            /* A sheet over the page's lower half: the page stays where it was underneath. */
            position: fixed; inset: auto 0 0 0; z-index: 10; width: auto; max-height: 60vh;
            overflow-y: auto; border-left: 0; border-top: 1px solid var(--border);
            border-radius: 14px 14px 0 0; box-shadow: 0 -8px 24px rgba(0, 0, 0, 0.18);
        }
        "#
    );
    {
        let rows = rows.clone();
        use_effect_with(registry.clone(), move |registry| {
            let registry = registry.clone();
            let refresh = move || {
                if let Some(registry) = &registry {
                    let now = registry.rows();
                    if *rows != now {
                        rows.set(now);
                    }
                }
            };
            refresh();
            let interval = Interval::new(500, refresh);
            move || drop(interval)
        });
    }
    html! {
        <aside id="connection-panel" class={classes!("panel", style)} aria-label="Connections">
            <h2>{ "Connections" }</h2>
            if rows.is_empty() {
                <p class="empty">{ "No live connection on this page." }</p>
            }
            { for rows.iter().map(row) }
        </aside>
    }
}

fn row(row: &ConnectionRow) -> Html {
    let retry = row.retry_at_ms.map(|at| {
        format!(
            "{} s",
            Fixed(((at - js_sys::Date::now()) / 1000.0).max(0.0), 0)
        )
    });
    html! {
        <section class="conn" key={format!("{}{}", row.kind, row.endpoint)}>
            <h3><span class="kind">{ row.kind }</span>{ " " }<code>{ &row.endpoint }</code></h3>
            <dl>
                <dt>{ "state" }</dt><dd data-field="state">{ &row.state }</dd>
                <dt>{ "attempt" }</dt><dd>{ row.attempt }</dd>
                <dt>{ "next retry" }</dt><dd>{ retry.unwrap_or_else(|| "—".into()) }</dd>
                <dt>{ "queued" }</dt><dd data-field="queued">{ row.queued }</dd>
                <dt>{ "RTT" }</dt><dd data-field="rtt">{ row.rtt_ms.map_or("—".into(), |ms| format!("{} ms", Fixed(ms, 0))) }</dd>
                <dt>{ "last close" }</dt><dd>{ row.last_close.clone().unwrap_or_else(|| "—".into()) }</dd>
                <dt>{ "error" }</dt><dd>{ row.last_error.clone().unwrap_or_else(|| "—".into()) }</dd>
            </dl>
            <ol class="log">
                { for row.log.iter().rev().take(8).map(|entry| html! {
                    <li><time>{ crate::clock(entry.at_ms) }</time>{ " " }{ &entry.text }</li>
                }) }
            </ol>
        </section>
    }
}
