//! `use_throttled_send`: the seed's "throttle messages" (e.g. cursor moves at most 20 per second),
//! with a trailing edge, so the last value of a burst is always sent — the seed's version dropped it.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use serde::Serialize;
use yew::prelude::*;

use crate::browser;
use crate::connection::{Connection, Delivery, WsError};
use crate::core::outbox::SendPolicy;
use crate::core::throttle::{Offer, Throttle};

/// Sends at most once per interval on a connection; cheap to clone.
#[derive(Clone)]
pub struct ThrottledSender {
    conn: Connection,
    policy: SendPolicy,
    throttle: Rc<RefCell<Throttle<String>>>,
    timer: Rc<RefCell<Option<Timeout>>>,
}

impl PartialEq for ThrottledSender {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.throttle, &other.throttle)
    }
}

impl ThrottledSender {
    /// A sender on `conn` allowing one send per `interval_ms`; `policy` applies while offline.
    pub fn new(conn: Connection, interval_ms: u32, policy: SendPolicy) -> Self {
        Self {
            conn,
            policy,
            throttle: Rc::new(RefCell::new(Throttle::new(f64::from(interval_ms)))),
            timer: Rc::new(RefCell::new(None)),
        }
    }

    /// Sends `value` as JSON now, or later as the trailing value of this interval.
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<Option<Delivery>, WsError> {
        let text = serde_json::to_string(value).map_err(|e| WsError::Send(e.to_string()))?;
        self.send_text(text)
    }

    /// Sends `text` now (`Some`), or keeps it as the pending trailing value (`None`).
    pub fn send_text(&self, text: String) -> Result<Option<Delivery>, WsError> {
        let now = browser::monotonic_ms();
        let offer = self.throttle.borrow_mut().offer(now, text);
        match offer {
            Offer::SendNow(text) => self.conn.send_text_with(text, &self.policy).map(Some),
            Offer::Deferred { flush_at_ms } => {
                if self.timer.borrow().is_none() {
                    let this = self.clone();
                    let wait = (flush_at_ms - now).clamp(0.0, f64::from(u32::MAX)) as u32;
                    *self.timer.borrow_mut() = Some(Timeout::new(wait, move || this.flush()));
                }
                Ok(None)
            }
        }
    }

    fn flush(&self) {
        self.timer.borrow_mut().take();
        let due = self
            .throttle
            .borrow_mut()
            .flush_due(browser::monotonic_ms());
        if let Some(text) = due {
            // A refused trailing send is already recorded in the connection status.
            let _ = self.conn.send_text_with(text, &self.policy);
        } else if self.throttle.borrow().pending().is_some() {
            // Woken a little early: try again shortly.
            let this = self.clone();
            *self.timer.borrow_mut() = Some(Timeout::new(5, move || this.flush()));
        }
    }

    /// Stops the trailing timer; a pending value is dropped (used on unmount).
    pub fn cancel(&self) {
        self.timer.borrow_mut().take();
        self.throttle.borrow_mut().take_pending();
    }
}

/// A [`ThrottledSender`] on `conn` for the calling component; its timer stops on unmount.
///
/// # Example
/// ```
/// use realtime_hooks::{use_throttled_send, use_websocket};
/// use realtime_hooks::core::outbox::SendPolicy;
/// use yew::prelude::*;
///
/// #[component]
/// fn Canvas() -> Html {
///     let ws = use_websocket("/ws/presence");
///     // At most 20 sends a second; offline, only the latest position is kept.
///     let cursor = use_throttled_send(ws.connection(), 50, SendPolicy::LatestWins("cursor".into()));
///     let onmousemove = Callback::from(move |e: MouseEvent| {
///         let _ = cursor.send(&serde_json::json!({
///             "type": "presence:update",
///             "cursor": { "x": e.client_x(), "y": e.client_y() },
///         }));
///     });
///     html! { <div {onmousemove} style="height: 200px" /> }
/// }
/// ```
#[hook]
pub fn use_throttled_send(
    conn: &Connection,
    interval_ms: u32,
    policy: SendPolicy,
) -> ThrottledSender {
    let sender = {
        let conn = conn.clone();
        use_memo(
            (conn.clone(), interval_ms, policy),
            move |(_, _, policy)| ThrottledSender::new(conn, interval_ms, policy.clone()),
        )
    };
    let sender: ThrottledSender = (*sender).clone();
    {
        let sender = sender.clone();
        use_effect_with(sender.clone(), move |_| move || sender.cancel());
    }
    sender
}
