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
    // Looked up once: every inbound frame reads this clock, and `window()` (an `instanceof`
    // check) plus the `performance` getter cost more than `now()` itself (measured: about 2% of
    // a 100,000-frame burst's main-thread time).
    thread_local! {
        static PERFORMANCE: Option<web_sys::Performance> =
            web_sys::window().and_then(|w| w.performance());
    }
    PERFORMANCE.with(|p| {
        p.as_ref()
            .map_or_else(wall_clock_ms, web_sys::Performance::now)
    })
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

/// Whether the browser believes it has a network (`navigator.onLine`); true outside a page.
pub fn is_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// A moment when a link may have died unnoticed, or a waiting connection should try at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The page became visible again.
    Visible,
    /// The browser reports the network back (`online`).
    Online,
    /// The page was restored from the back/forward cache (`pageshow` with `persisted`).
    Restored,
}

impl Wake {
    /// A few words for the connection log.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Visible => "page visible",
            Self::Online => "back online",
            Self::Restored => "page restored",
        }
    }
}

/// Listens for wake-ups ([`Wake`]); dropping it removes the listeners.
pub struct PageListeners {
    _visibility: EventListener,
    _online: EventListener,
    _pageshow: EventListener,
}

impl PageListeners {
    /// Calls `on_wake` on `visibilitychange` (to visible), `online` and `pageshow` from the
    /// back/forward cache; `None` outside a page.
    pub fn new(on_wake: impl Fn(Wake) + Clone + 'static) -> Option<Self> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let wake = on_wake.clone();
        let doc = document.clone();
        let visibility = EventListener::new(&document, "visibilitychange", move |_| {
            if doc.visibility_state() == web_sys::VisibilityState::Visible {
                wake(Wake::Visible);
            }
        });
        let wake = on_wake.clone();
        let online = EventListener::new(&window, "online", move |_| wake(Wake::Online));
        let pageshow = EventListener::new(&window, "pageshow", move |event| {
            let restored = event
                .dyn_ref::<web_sys::PageTransitionEvent>()
                .is_some_and(|e| e.persisted());
            if restored {
                on_wake(Wake::Restored);
            }
        });
        Some(Self {
            _visibility: visibility,
            _online: online,
            _pageshow: pageshow,
        })
    }
}

/// `bytes` random bytes from the browser's cryptographic generator, as lowercase hex; falls back
/// to `Math.random` where `crypto` is missing (no secure context guarantees here: the ids this
/// makes only need to be unguessable by other users).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut buf).is_ok());
    if !filled {
        for b in &mut buf {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
