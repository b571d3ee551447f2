//! Collaborative cursors: `use_presence` (snapshot, join/update/leave, TTL) with throttled sends:
//! at most 20 positions a second, the last one always delivered.

use realtime_hooks::core::decimal::Fixed;
use realtime_hooks::core::presence::color_for;
use realtime_hooks::use_presence;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Element, ResizeObserver};
use yew::prelude::*;

use crate::components::status_badge::StatusBadge;
use crate::PageProps;

/// Above this many cursors on the board they jump to each new position instead of gliding.
///
/// A glide is a 90 ms CSS transition, restarted by every update (20 a second per peer), and
/// Chromium recomputes style for each running one every frame: with 50 moving peers that was
/// about 1.7 ms of a 16.7 ms frame (measured in the yew-realtime benchmarks). In a crowd, 20 Hz jumps look fine.
pub const GLIDE_LIMIT: usize = 20;

/// The cursors page: a shared board showing everyone else's cursor, and a list of who is here.
#[component]
pub fn CursorsPage(props: &PageProps) -> Html {
    let presence = use_presence(&props.url);
    let board = use_node_ref();
    // The board's inner size in px, kept current by a ResizeObserver (window resizes, the
    // connection panel opening). Cursors move by `transform` in px, not by `left`/`top` in %:
    // a transform transition runs on the compositor, while left/top transitions re-ran style and
    // layout on the main thread every frame for every cursor (about 1.7 ms of a 16.7 ms frame
    // with 50 peers, measured in the yew-realtime benchmarks).
    let size = use_state_eq(|| (0.0_f64, 0.0_f64));
    {
        let (board, size) = (board.clone(), size.clone());
        use_effect_with((), move |_| {
            let measure = {
                let board = board.clone();
                Closure::<dyn FnMut()>::new(move || {
                    if let Some(el) = board.cast::<Element>() {
                        size.set((f64::from(el.client_width()), f64::from(el.client_height())));
                    }
                })
            };
            let observer = ResizeObserver::new(measure.as_ref().unchecked_ref()).ok();
            if let (Some(observer), Some(el)) = (&observer, board.cast::<Element>()) {
                // Reports the current size at once, then every change.
                observer.observe(&el);
            }
            move || {
                if let Some(observer) = observer {
                    observer.disconnect();
                }
                drop(measure);
            }
        });
    }
    let (width, height) = *size;
    // Pointer events: a mouse, a pen and a finger alike (the board has `touch-action: none`, so a
    // finger dragging on it moves the cursor instead of scrolling the page away).
    let onpointermove = {
        let (presence, board) = (presence.clone(), board.clone());
        Callback::from(move |e: PointerEvent| {
            let Some(el) = board.cast::<Element>() else {
                return;
            };
            let rect = el.get_bounding_client_rect();
            if rect.width() <= 0.0 || rect.height() <= 0.0 {
                return;
            }
            // Board-relative 0..1 coordinates, so different window sizes agree on the spot.
            let x = ((f64::from(e.client_x()) - rect.left()) / rect.width()).clamp(0.0, 1.0);
            let y = ((f64::from(e.client_y()) - rect.top()) / rect.height()).clamp(0.0, 1.0);
            presence.update_cursor(x, y);
        })
    };
    let on_retry = {
        let presence = presence.clone();
        Callback::from(move |_| presence.retry_now())
    };
    let others = presence.others();
    let everyone = presence.users();
    let (errors, last_error) = presence.errors();
    // Until the board has been measured, a cursor would be drawn at (0, 0) and glide in from there.
    let measured = width > 0.0 && height > 0.0;
    let shown = if measured {
        others.iter().filter(|user| user.cursor.is_some()).count()
    } else {
        0
    };
    // Cursors move by transform (px, above), never by left/top: a transform transition runs on
    // the compositor, a left/top one re-runs style and layout on the main thread every frame. Its
    // own layer (will-change) keeps the board under it from repainting. `.crowded`: no glide.
    let style = crate::scoped!(
        "stylist-cursors",
        r#"
        .cursor-layout { display: grid; grid-template-columns: 1fr 220px; gap: 1rem; }
        .board { position: relative; touch-action: none; height: min(65vh, 560px); background: var(--surface); border: 1px solid var(--border); border-radius: 12px;
            box-shadow: var(--shadow); overflow: hidden; cursor: crosshair;
            background-image: radial-gradient(var(--border) 1px, transparent 1px); background-size: 24px 24px; }
        .board-hint { position: absolute; inset: auto 0 0.8rem 0; text-align: center; color: var(--muted); margin: 0; pointer-events: none; }
        .cursor { position: absolute; left: 0; top: 0; pointer-events: none; color: var(--c); transition: transform 90ms linear; will-change: transform; }
        .board.crowded .cursor { transition: none; }
        .cursor svg { fill: var(--c); stroke: var(--surface); stroke-width: 1; display: block; }
        .cursor .label { position: absolute; left: 14px; top: 14px; background: var(--c); color: #fff; font-size: 0.75rem; font-weight: 700;
            padding: 0.05rem 0.45rem; border-radius: 6px; white-space: nowrap; }
        @media (max-width: 760px) {
            .cursor-layout { grid-template-columns: 1fr; }
        }
        "#
    );
    let board_class = if shown > GLIDE_LIMIT {
        "board crowded"
    } else {
        "board"
    };
    html! {
        <section class={classes!("page", "cursors", crate::styles::page(), style)}>
            <header class="page-head">
                <h1>{ "Cursors" }</h1>
                <StatusBadge status={presence.status().clone()} {on_retry} />
            </header>
            <div class="cursor-layout">
                <div class={board_class} ref={board} onpointermove={onpointermove.clone()}
                    onpointerdown={onpointermove} data-testid="board"
                    aria-label="Shared board: move your pointer here">
                    <p class="board-hint">{ "Move your pointer here. Others see it live." }</p>
                    { for others.iter().filter(|_| measured).filter_map(|user| user.cursor.as_ref().map(|c| html! {
                        <div key={user.user_id.clone()} class="cursor" data-user={user.user_id.clone()}
                            data-x={Fixed(c.x.clamp(0.0, 1.0) * 100.0, 1).to_string()}
                            data-y={Fixed(c.y.clamp(0.0, 1.0) * 100.0, 1).to_string()}
                            style={format!("transform: translate({}px, {}px); --c: {}",
                                Fixed(c.x.clamp(0.0, 1.0) * width, 1), Fixed(c.y.clamp(0.0, 1.0) * height, 1),
                                color_for(&user.user_id))}>
                            <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
                                <path d="M1 1 L1 13 L4.5 9.5 L7 15 L9 14 L6.5 8.5 L11.5 8.5 Z" />
                            </svg>
                            <span class="label">{ &user.name }</span>
                        </div>
                    })) }
                </div>
                <aside class="members" aria-label="Who is here">
                    <h2>{ format!("Here now ({})", everyone.len()) }</h2>
                    <ul data-testid="here">
                        { for everyone.iter().map(|user| html! {
                            <li key={user.user_id.clone()}>
                                <span class="dot" style={format!("background: {}", color_for(&user.user_id))}></span>
                                { &user.name }
                                { if presence.me().as_ref() == Some(&user.user_id) { " (you)" } else { "" } }
                            </li>
                        }) }
                    </ul>
                </aside>
            </div>
            if let Some(error) = last_error {
                <p class="inline-error" role="alert">{ format!("{errors} unreadable presence message(s). Last: {error}") }</p>
            }
        </section>
    }
}
