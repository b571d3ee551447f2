//! `use_presence`: who is here and where their cursors are (the seed's presence system), with a
//! snapshot on every (re)join, latest-wins cursor sends while offline, and a TTL so a user nobody
//! refreshed disappears instead of leaving a ghost cursor.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use yew::prelude::*;

use crate::browser;
use crate::connection::{Connection, ConnectionState, ConnectionStatus, Frame, WebSocketOptions};
use crate::core::outbox::SendPolicy;
use crate::core::presence::{
    Cursor, CursorUpdate, Presence, PresenceEvent, PresenceMap, PresenceWire,
};
use crate::provider::use_connection;
use crate::redraw::use_redraw;
use crate::use_throttled_send::{use_throttled_send, ThrottledSender};
use crate::use_typed_websocket::{decode_object, DecodeError};

/// Options of [`use_presence_with_options`]; every field documents its default.
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceOptions {
    /// Connection behaviour. Default: [`WebSocketOptions::default`] with a 10 s heartbeat, so a
    /// frozen link is noticed well within the TTL.
    pub connection: WebSocketOptions,
    /// A user not refreshed (update, snapshot, or the server's `presence:tick`) for this long
    /// disappears. Default: 30 s, the dev server's TTL.
    pub ttl_ms: u32,
    /// At most one cursor send per interval (the last position is always sent). Default: 50 ms
    /// (20 per second).
    pub cursor_interval_ms: u32,
}

impl Default for PresenceOptions {
    fn default() -> Self {
        let mut connection = WebSocketOptions::default();
        if let Some(heartbeat) = &mut connection.heartbeat {
            heartbeat.interval_ms = 10_000;
            heartbeat.timeout_ms = 5_000;
            // The server's periodic ticks must not postpone our pings: an idle user's pings
            // are what keep it from being dropped after the server's TTL.
            heartbeat.inbound_postpones_ping = false;
        }
        Self {
            connection,
            ttl_ms: 30_000,
            cursor_interval_ms: 50,
        }
    }
}

/// What one presence-endpoint frame means to this hook.
enum Incoming {
    /// Our own id.
    Welcome(String),
    /// A common-protocol frame (`error`) that is not presence data, and not a decode failure.
    Ignore,
    /// A presence change.
    Event(PresenceEvent),
}

/// Sorts a decoded frame (one pass through [`PresenceWire`]) into what the hook does with it.
fn classify(wire: PresenceWire) -> Result<Incoming, String> {
    match wire.kind.as_str() {
        "welcome" => wire
            .user_id
            .map(Incoming::Welcome)
            .ok_or_else(|| "`welcome` without `userId`".to_owned()),
        "error" => Ok(Incoming::Ignore),
        _ => PresenceEvent::try_from(wire).map(Incoming::Event),
    }
}

struct State {
    map: PresenceMap,
    me: Option<String>,
    errors: u64,
    last_error: Option<DecodeError>,
}

impl State {
    /// Forgets who is here and who we are (the link is gone); error counts stay.
    fn clear_board(&mut self) {
        self.map.clear();
        self.me = None;
    }
}

/// Presence state and verbs; cheap to clone.
#[derive(Clone)]
pub struct UsePresenceHandle {
    conn: Connection,
    state: Rc<RefCell<State>>,
    cursor: ThrottledSender,
    status: Rc<ConnectionStatus>,
}

impl PartialEq for UsePresenceHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.state, &other.state) && self.status == other.status
    }
}

impl UsePresenceHandle {
    /// Everyone else here, sorted by name (stable for rendering).
    pub fn others(&self) -> Vec<Presence> {
        let state = self.state.borrow();
        state.map.others().into_iter().cloned().collect()
    }

    /// Everyone here, this user included.
    pub fn users(&self) -> Vec<Presence> {
        self.state
            .borrow()
            .map
            .users()
            .into_iter()
            .cloned()
            .collect()
    }

    /// This user's server-assigned id, once welcomed.
    pub fn me(&self) -> Option<String> {
        self.state.borrow().me.clone()
    }

    /// Sends this user's cursor (throttled; offline only the latest position is kept).
    pub fn update_cursor(&self, x: f64, y: f64) {
        let cursor = Cursor { x, y };
        // Refusals are recorded in the connection status the UI shows.
        let _ = self.cursor.send(&CursorUpdate::new(Some(&cursor)));
    }

    /// Frames that were not valid presence messages, and the last of them.
    pub fn errors(&self) -> (u64, Option<DecodeError>) {
        let state = self.state.borrow();
        (state.errors, state.last_error.clone())
    }

    /// The connection status at the last render.
    pub fn status(&self) -> &ConnectionStatus {
        &self.status
    }

    /// Retries now instead of waiting for the backoff timer.
    pub fn retry_now(&self) {
        self.conn.retry_now();
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.status.state == ConnectionState::Open
    }

    /// Where the connection was at the last render.
    pub fn state(&self) -> ConnectionState {
        self.status.state.clone()
    }

    /// Opens the connection (after `close`, giving up, or in manual mode).
    pub fn open(&self) {
        self.conn.open();
    }

    /// Closes with 1000 and stops reconnecting; the board empties.
    pub fn close(&self) {
        self.conn.close();
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Presence on `url` with the default options.
///
/// # Example
/// ```
/// use realtime_hooks::use_presence;
/// use yew::prelude::*;
///
/// #[component]
/// fn WhoIsHere() -> Html {
///     let presence = use_presence("/ws/presence");
///     html! {
///         <ul>{ for presence.others().iter().map(|user| html! { <li>{ &user.name }</li> }) }</ul>
///     }
/// }
/// ```
#[hook]
pub fn use_presence(url: &str) -> UsePresenceHandle {
    use_presence_with_options(url, PresenceOptions::default())
}

/// Presence with options (TTL, cursor rate, connection). A different `url` or different options
/// start a fresh connection with an empty board; a lost link empties the board until the next
/// welcome and snapshot, so this user's old id never comes back as someone else.
///
/// # Example
/// ```
/// use realtime_hooks::{use_presence_with_options, PresenceOptions};
/// use yew::prelude::*;
///
/// #[component]
/// fn Board() -> Html {
///     // A shorter TTL and 10 cursor sends a second.
///     let presence = use_presence_with_options("/ws/presence", PresenceOptions {
///         ttl_ms: 10_000,
///         cursor_interval_ms: 100,
///         ..Default::default()
///     });
///     let onmousemove = {
///         let presence = presence.clone();
///         Callback::from(move |e: MouseEvent| presence.update_cursor(e.client_x().into(), e.client_y().into()))
///     };
///     html! { <div {onmousemove}>{ format!("{} here", presence.users().len()) }</div> }
/// }
/// ```
#[hook]
pub fn use_presence_with_options(url: &str, options: PresenceOptions) -> UsePresenceHandle {
    let conn = use_connection(url, options.connection);
    // A new connection (URL or options changed) starts with an empty board.
    let state: Rc<RefCell<State>> = use_memo((conn.clone(), options.ttl_ms), |(_, ttl_ms)| {
        RefCell::new(State {
            map: PresenceMap::new(f64::from(*ttl_ms)),
            me: None,
            errors: 0,
            last_error: None,
        })
    });
    let cursor = use_throttled_send(
        &conn,
        options.cursor_interval_ms,
        SendPolicy::LatestWins("cursor".into()),
    );
    let redraw = use_redraw();
    {
        let state = state.clone();
        use_effect_with(conn.clone(), move |conn| {
            let on_frame = {
                let (state, redraw) = (state.clone(), redraw.clone());
                conn.on_frame(move |frame| {
                    apply_frame(&mut state.borrow_mut(), frame, browser::monotonic_ms());
                    redraw.request();
                })
            };
            let on_status = {
                let redraw = redraw.clone();
                conn.on_status(move || redraw.request())
            };
            // Disconnected, the board is unknown: the next welcome brings a new id and a full
            // snapshot. Kept, our old id would come back as someone else (a ghost of ourselves).
            let on_close = {
                let state = state.clone();
                conn.on_close(move |_| state.borrow_mut().clear_board())
            };
            // Expire users nobody refreshed; re-render only when someone disappeared.
            let expiry = Interval::new(1_000, move || {
                let removed = state.borrow_mut().map.expire(browser::monotonic_ms());
                if !removed.is_empty() {
                    redraw.request();
                }
            });
            move || drop((on_frame, on_status, on_close, expiry))
        });
    }
    let status = Rc::new(conn.status().clone());
    UsePresenceHandle {
        conn,
        state,
        cursor,
        status,
    }
}

fn apply_frame(state: &mut State, frame: &Frame, now_ms: f64) {
    let incoming = decode_object::<PresenceWire>(frame)
        .and_then(|wire| classify(wire).map_err(|error| DecodeError::new(frame, &error)));
    match incoming {
        Ok(Incoming::Welcome(user_id)) => {
            state.map.set_self(&user_id);
            state.me = Some(user_id);
        }
        Ok(Incoming::Ignore) => {}
        Ok(Incoming::Event(event)) => state.map.apply(event, now_ms),
        Err(error) => {
            state.errors += 1;
            state.last_error = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            map: PresenceMap::new(30_000.0),
            me: None,
            errors: 0,
            last_error: None,
        }
    }

    fn text(s: &str) -> Frame {
        Frame::Text(s.to_owned())
    }

    #[test]
    fn welcome_snapshot_update_and_leave_drive_the_others_list() {
        let mut s = state();
        apply_frame(
            &mut s,
            &text(r#"{"type":"welcome","userId":"u1","name":"Ada"}"#),
            0.0,
        );
        apply_frame(
            &mut s,
            &text(
                r#"{"type":"presence:snapshot","users":[{"userId":"u1","name":"Ada","lastSeen":1},{"userId":"u2","name":"Bob","lastSeen":1}]}"#,
            ),
            0.0,
        );
        assert_eq!(
            s.map
                .others()
                .iter()
                .map(|p| p.user_id.as_str())
                .collect::<Vec<_>>(),
            ["u2"]
        );
        apply_frame(
            &mut s,
            &text(
                r#"{"type":"presence:update","userId":"u2","name":"Bob","cursor":{"x":0.5,"y":0.25},"lastSeen":2}"#,
            ),
            10.0,
        );
        assert_eq!(
            s.map.others()[0].cursor.as_ref().map(|c| (c.x, c.y)),
            Some((0.5, 0.25))
        );
        apply_frame(
            &mut s,
            &text(r#"{"type":"presence:leave","userId":"u2"}"#),
            20.0,
        );
        assert!(s.map.others().is_empty());
        assert_eq!(s.errors, 0);
    }

    #[test]
    fn garbage_is_counted_and_kept_not_fatal() {
        let mut s = state();
        apply_frame(&mut s, &text("{oops"), 0.0);
        apply_frame(&mut s, &text(r#"{"type":"presence:join","userId":5}"#), 0.0);
        apply_frame(&mut s, &Frame::Binary(vec![1]), 0.0);
        apply_frame(
            &mut s,
            &text(r#"{"type":"error","code":"invalid","message":"x"}"#),
            0.0,
        );
        assert_eq!(s.errors, 3);
        assert_eq!(s.last_error.as_ref().map(|e| e.len), Some(1));
        let unknown = r#"{"type":"presence:teleport","userId":"u9"}"#;
        apply_frame(&mut s, &text(unknown), 0.0);
        apply_frame(&mut s, &text(r#"{"type":"welcome","name":"x"}"#), 0.0);
        apply_frame(&mut s, &text(r#"["presence:leave","u1"]"#), 0.0);
        apply_frame(&mut s, &text(r#"{"type":"presence:snapshot"}"#), 0.0);
        assert_eq!(s.errors, 7);
        assert_eq!(s.me, None);
        let last = s.last_error.expect("an error");
        assert_eq!(last.error, "`presence:snapshot` without `users`");
        assert_eq!(last.raw, r#"{"type":"presence:snapshot"}"#);
    }

    #[test]
    fn item_10d_a_lost_link_forgets_the_board_so_our_old_id_cannot_come_back_as_a_ghost() {
        let mut s = state();
        apply_frame(
            &mut s,
            &text(r#"{"type":"welcome","userId":"u1","name":"Ada"}"#),
            0.0,
        );
        apply_frame(
            &mut s,
            &text(
                r#"{"type":"presence:snapshot","users":[{"userId":"u1","name":"Ada","lastSeen":1},{"userId":"u2","name":"Bob","lastSeen":1}]}"#,
            ),
            0.0,
        );
        s.clear_board();
        apply_frame(
            &mut s,
            &text(r#"{"type":"welcome","userId":"u3","name":"Ada"}"#),
            10.0,
        );
        // The server's update about our old self, sent before it saw us leave.
        apply_frame(
            &mut s,
            &text(
                r#"{"type":"presence:update","userId":"u2","name":"Bob","cursor":null,"lastSeen":2}"#,
            ),
            10.0,
        );
        let others: Vec<_> = s.map.others().iter().map(|p| p.user_id.clone()).collect();
        assert_eq!(others, ["u2"], "no ghost of u1");
        assert_eq!(s.me.as_deref(), Some("u3"));
    }
}
