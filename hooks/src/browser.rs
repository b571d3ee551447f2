//! The few browser facts the hooks need (clocks, the page's origin, page-level events), in one
//! place so the rest of the crate reads as plain logic.

use gloo_events::EventListener;
use wasm_bindgen::{JsCast, JsValue};

/// Milliseconds since the Unix epoch (`Date.now()`), for timestamps shown to people.
pub fn wall_clock_ms() -> f64 {
    js_sys::Date::now()
}

/// A monotonic clock in milliseconds (`performance.now()`), for durations; falls back to the wall
/// clock where `performance` is missing.
pub fn monotonic_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(wall_clock_ms, |p| p.now())
}

/// The page's origin, e.g. `http://localhost:8080`, which relative endpoints resolve against.
pub fn page_origin() -> Result<String, String> {
    let window = web_sys::window().ok_or("no window (not running in a browser page)")?;
    window
        .location()
        .origin()
        .map_err(|e| describe_js_error(&e))
}

/// A readable message from a thrown JS value.
pub fn describe_js_error(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// Listens for the moments a link may have died unnoticed: the page becomes visible again, or the
/// browser comes back online. Dropping it removes the listeners.
pub struct PageListeners {
    _visibility: EventListener,
    _online: EventListener,
}

impl PageListeners {
    /// Calls `on_wake` on `visibilitychange` (to visible) and `online`; `None` outside a page.
    pub fn new(on_wake: impl Fn() + Clone + 'static) -> Option<Self> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let wake = on_wake.clone();
        let doc = document.clone();
        let visibility = EventListener::new(&document, "visibilitychange", move |_| {
            if doc.visibility_state() == web_sys::VisibilityState::Visible {
                wake();
            }
        });
        let online = EventListener::new(&window, "online", move |_| on_wake());
        Some(Self {
            _visibility: visibility,
            _online: online,
        })
    }
}
