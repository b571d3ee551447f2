//! Sharing: one connection per endpoint for every component under a [`RealtimeProvider`],
//! reference-counted and closed when the last user unmounts; and the list the connection panel shows.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use yew::prelude::*;

use crate::connection::{Connection, LogEntry, UrlSource, WebSocketOptions};
use crate::token::TokenSource;

/// One row of the connection panel: what a person needs to see about a live connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionRow {
    /// `WebSocket` or `SSE`.
    pub kind: &'static str,
    /// The endpoint as configured.
    pub endpoint: String,
    /// State label (`open`, `reconnecting`, ...).
    pub state: String,
    /// Consecutive failed attempts.
    pub attempt: u32,
    /// `Date.now()` of the next retry, if one is scheduled.
    pub retry_at_ms: Option<f64>,
    /// Messages waiting to be sent.
    pub queued: usize,
    /// Last heartbeat round trip.
    pub rtt_ms: Option<f64>,
    /// How the last socket closed, in words.
    pub last_close: Option<String>,
    /// The last error, in words.
    pub last_error: Option<String>,
    /// Recent events, oldest first.
    pub log: Vec<LogEntry>,
}

impl ConnectionRow {
    /// The row for a WebSocket connection.
    pub fn of(conn: &Connection) -> Self {
        let s = conn.status();
        Self {
            kind: "WebSocket",
            endpoint: s.endpoint.clone(),
            state: s.state.label().to_owned(),
            attempt: s.attempt,
            retry_at_ms: s.retry_at_ms,
            queued: s.queued,
            rtt_ms: s.rtt_ms,
            last_close: s.last_close.as_ref().map(ToString::to_string),
            last_error: s.last_error.as_ref().map(ToString::to_string),
            log: s.log.iter().cloned().collect(),
        }
    }
}

type RowSource = Rc<dyn Fn() -> ConnectionRow>;

/// One shared connection and who uses it.
struct Shared {
    endpoint: String,
    conn: Connection,
    users: usize,
    /// Set when the last user left: the connection shuts down when it fires, unless a new user
    /// leases it first (see [`ConnectionRegistry::acquire`]).
    release: Option<Timeout>,
}

// Decision: sorted `Vec`s, not `BTreeMap`s — an app has a handful of connections, and each
// distinct `BTreeMap<K, V>` costs the wasm bundle several KB of monomorphised tree code.
#[derive(Default)]
struct Registry {
    /// Where connections get their tokens ([`RealtimeProviderProps::token`]).
    token: Option<TokenSource>,
    /// Shared connections, sorted by endpoint.
    shared: Vec<Shared>,
    /// Panel row sources by id, in registration (= id) order.
    sources: Vec<(u64, RowSource)>,
    next_source: u64,
}

impl Registry {
    fn find(&self, endpoint: &str) -> Result<usize, usize> {
        self.shared
            .binary_search_by(|s| s.endpoint.as_str().cmp(endpoint))
    }

    /// The live shared entry for `endpoint`, inserted in endpoint order with `new` if missing
    /// (or if the one there was shut down).
    fn entry(&mut self, endpoint: &str, new: impl FnOnce() -> Connection) -> &mut Shared {
        let at = match self.find(endpoint) {
            Ok(at) if !self.shared[at].conn.is_shut_down() => at,
            Ok(at) => {
                self.shared[at] = Shared::new(endpoint, new());
                at
            }
            Err(at) => {
                self.shared.insert(at, Shared::new(endpoint, new()));
                at
            }
        };
        &mut self.shared[at]
    }
}

impl Shared {
    fn new(endpoint: &str, conn: Connection) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            conn,
            users: 0,
            release: None,
        }
    }
}

/// The shared-connection registry a [`RealtimeProvider`] puts in context.
#[derive(Clone, Default)]
pub struct ConnectionRegistry(Rc<RefCell<Registry>>);

impl PartialEq for ConnectionRegistry {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl ConnectionRegistry {
    /// The URL source a hook without one of its own uses for `endpoint`: from the provider's
    /// token source, if it has one.
    pub fn url_source(&self, endpoint: &str) -> Option<UrlSource> {
        let registry = self.0.borrow();
        registry.token.as_ref().map(|t| t.url_source(endpoint))
    }

    fn set_token(&self, token: Option<TokenSource>) {
        self.0.borrow_mut().token = token;
    }

    /// The shared connection for `endpoint`, created with `options` if there is none yet (the
    /// first user's options win).
    pub fn connection(&self, endpoint: &str, options: WebSocketOptions) -> Connection {
        let mut registry = self.0.borrow_mut();
        registry
            .entry(endpoint, || Connection::new(endpoint, options))
            .conn
            .clone()
    }

    /// Counts a user of `conn`'s endpoint; the first one connects it. The lease releases on drop.
    ///
    /// A component takes its connection while rendering and leases it in an effect; in between,
    /// the previous page's lease may end (a route change between two pages on one endpoint). The
    /// last lease therefore does not shut the connection down at once but at the end of the
    /// current task, and a lease taken before then keeps it. Should `conn` be shut down anyway,
    /// the lease is on a live connection for the same endpoint: [`Lease::connection`] is the one
    /// to use.
    pub fn acquire(&self, conn: &Connection) -> Lease {
        let endpoint = conn.status().endpoint.clone();
        let (leased, first) = {
            let mut registry = self.0.borrow_mut();
            let entry = registry.entry(&endpoint, || {
                if conn.is_shut_down() {
                    Connection::new(&endpoint, conn.options())
                } else {
                    conn.clone()
                }
            });
            entry.release = None;
            entry.users += 1;
            (entry.conn.clone(), entry.users == 1)
        };
        if first {
            leased.start();
        }
        Lease {
            registry: Some(self.clone()),
            conn: leased,
            endpoint,
        }
    }

    /// Adds a row source to the panel (used by the SSE hook); removed when the guard drops.
    pub fn register_row(&self, source: impl Fn() -> ConnectionRow + 'static) -> RowGuard {
        let mut registry = self.0.borrow_mut();
        let id = registry.next_source;
        registry.next_source += 1;
        registry.sources.push((id, Rc::new(source)));
        RowGuard {
            registry: self.clone(),
            id,
        }
    }

    /// The rows the connection panel shows, WebSockets first.
    pub fn rows(&self) -> Vec<ConnectionRow> {
        let (conns, sources): (Vec<Connection>, Vec<RowSource>) = {
            let registry = self.0.borrow();
            (
                registry
                    .shared
                    .iter()
                    .filter(|s| s.users > 0)
                    .map(|s| s.conn.clone())
                    .collect(),
                registry.sources.iter().map(|(_, s)| s.clone()).collect(),
            )
        };
        conns
            .iter()
            .map(ConnectionRow::of)
            .chain(sources.iter().map(|s| s()))
            .collect()
    }

    /// How many shared connections have users (for tests and the panel).
    pub fn live_connections(&self) -> usize {
        self.0
            .borrow()
            .shared
            .iter()
            .filter(|s| s.users > 0)
            .count()
    }

    /// Ends a lease on `conn`; the last one schedules the release.
    fn release(&self, endpoint: &str, conn: &Connection) {
        let Ok(mut registry) = self.0.try_borrow_mut() else {
            conn.shutdown();
            return;
        };
        let Ok(at) = registry.find(endpoint) else {
            // Not (or no longer) shared: this lease was its only user.
            drop(registry);
            conn.shutdown();
            return;
        };
        let entry = &mut registry.shared[at];
        if entry.conn != *conn {
            drop(registry);
            conn.shutdown();
            return;
        }
        entry.users = entry.users.saturating_sub(1);
        if entry.users == 0 {
            let weak = Rc::downgrade(&self.0);
            let endpoint = endpoint.to_owned();
            entry.release = Some(Timeout::new(0, move || {
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                let released = {
                    let Ok(mut registry) = registry.try_borrow_mut() else {
                        return;
                    };
                    match registry.find(&endpoint) {
                        Ok(at) if registry.shared[at].users == 0 => {
                            Some(registry.shared.remove(at).conn)
                        }
                        _ => None,
                    }
                };
                if let Some(conn) = released {
                    let unsent = conn.shutdown();
                    if unsent > 0 {
                        // Nobody is left to show it to: say it where a developer will look.
                        web_sys::console::warn_1(
                            &format!(
                                "{unsent} queued message(s) for {endpoint} were not sent: no component uses the connection any more"
                            )
                            .into(),
                        );
                    }
                }
            }));
        }
    }
}

/// A user's hold on a connection: dropping the last one shuts the connection down.
pub struct Lease {
    registry: Option<ConnectionRegistry>,
    conn: Connection,
    endpoint: String,
}

impl Lease {
    /// A lease on a private connection (no provider): it is the only user.
    pub fn private(conn: Connection) -> Self {
        conn.start();
        let endpoint = conn.status().endpoint.clone();
        Self {
            registry: None,
            conn,
            endpoint,
        }
    }

    /// The connection this lease holds (for a shared one, the live connection of its endpoint).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Ends the lease now; for a private connection, returns how many queued messages were
    /// never sent (shared connections are released at the end of the task: 0 here).
    pub fn release(mut self) -> usize {
        self.end()
    }

    fn end(&mut self) -> usize {
        match self.registry.take() {
            None => self.conn.shutdown(),
            Some(registry) => {
                registry.release(&self.endpoint, &self.conn);
                0
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.registry.is_some() {
            self.end();
        } else if !self.conn.is_shut_down() {
            self.conn.shutdown();
        }
    }
}

/// Removes a panel row when dropped.
pub struct RowGuard {
    registry: ConnectionRegistry,
    id: u64,
}

impl Drop for RowGuard {
    fn drop(&mut self) {
        if let Ok(mut registry) = self.registry.0.try_borrow_mut() {
            registry.sources.retain(|(id, _)| *id != self.id);
        }
    }
}

/// Props of [`RealtimeProvider`].
#[derive(Properties, PartialEq)]
pub struct RealtimeProviderProps {
    /// The components that share connections.
    pub children: Children,
    /// Where every WebSocket and SSE hook below gets its token (`?token=`), asked before every
    /// attempt; see [`crate::token`]. Default: none (connect without tokens).
    #[prop_or_default]
    pub token: Option<TokenSource>,
}

/// Shares one connection per endpoint among the components below it, and gives every WebSocket
/// and SSE hook below it its auth token when `token` is set (see [`crate::token`]).
///
/// # Example
/// ```
/// use realtime_hooks::{use_websocket, RealtimeProvider};
/// use yew::prelude::*;
///
/// #[component]
/// fn Badge() -> Html {
///     // Both badges below use the same socket.
///     let ws = use_websocket("/ws/chat");
///     html! { <span>{ ws.state().label() }</span> }
/// }
///
/// #[component]
/// fn App() -> Html {
///     html! { <RealtimeProvider><Badge /><Badge /></RealtimeProvider> }
/// }
/// ```
#[component]
pub fn RealtimeProvider(props: &RealtimeProviderProps) -> Html {
    let registry = use_memo((), |_| ConnectionRegistry::default());
    // Before the children render: they read it when they create their connections.
    registry.set_token(props.token.clone());
    html! {
        <ContextProvider<ConnectionRegistry> context={(*registry).clone()}>
            { props.children.clone() }
        </ContextProvider<ConnectionRegistry>>
    }
}

/// The registry of the nearest [`RealtimeProvider`], if any.
///
/// # Example
/// ```
/// use realtime_hooks::use_connection_registry;
/// use yew::prelude::*;
///
/// #[component]
/// fn LiveCount() -> Html {
///     let registry = use_connection_registry();
///     let live = registry.map_or(0, |r| r.live_connections());
///     html! { <span>{ format!("{live} live connections") }</span> }
/// }
/// ```
#[hook]
pub fn use_connection_registry() -> Option<ConnectionRegistry> {
    use_context::<ConnectionRegistry>()
}

/// A connection to `endpoint` for the calling component: shared through a [`RealtimeProvider`]
/// when there is one, private otherwise; connected on mount, released on unmount.
///
/// A different `endpoint` or different `options` on a later render is a different connection:
/// the old one is released and the new one starts fresh. Messages still queued on a private old
/// connection are reported on the new one (`WsError::Abandoned` in its status and log). Under a
/// provider the first user's options win for a shared endpoint.
///
/// # Example
/// ```
/// use realtime_hooks::{use_connection, WebSocketOptions};
/// use realtime_hooks::core::outbox::SendPolicy;
/// use yew::prelude::*;
///
/// #[component]
/// fn Raw() -> Html {
///     // The engine itself: listen with `on_frame`, send with `send_text_with`.
///     let conn = use_connection("/ws/chat", WebSocketOptions { manual: true, ..Default::default() });
///     let onclick = {
///         let conn = conn.clone();
///         Callback::from(move |_| conn.open())
///     };
///     let _ = conn.send_text_with(r#"{"type":"message","text":"queued until open"}"#.into(), &SendPolicy::Keep);
///     html! { <button {onclick}>{ format!("Connect ({})", conn.status().state.label()) }</button> }
/// }
/// ```
#[hook]
pub fn use_connection(endpoint: &str, options: WebSocketOptions) -> Connection {
    let registry = use_connection_registry();
    let mut options = options;
    if options.url.is_none() {
        options.url = registry.as_ref().and_then(|r| r.url_source(endpoint));
    }
    let update = use_force_update();
    // (endpoint, options, connection): replaced when either input changes, or when the
    // connection was shut down before this component leased it.
    let slot = use_mut_ref(|| None::<(String, WebSocketOptions, Connection)>);
    let conn = {
        let mut slot = slot.borrow_mut();
        let current = slot.as_ref().and_then(|(e, o, c)| {
            (e == endpoint && *o == options && !c.is_shut_down()).then(|| c.clone())
        });
        current.unwrap_or_else(|| {
            let conn = match &registry {
                Some(registry) => registry.connection(endpoint, options.clone()),
                None => Connection::new(endpoint, options.clone()),
            };
            *slot = Some((endpoint.to_owned(), options, conn.clone()));
            conn
        })
    };
    // Unsent messages of the connection this component just let go of.
    let abandoned = use_mut_ref(|| None::<(usize, String)>);
    use_effect_with(conn.clone(), move |conn| {
        let lease = match &registry {
            Some(registry) => registry.acquire(conn),
            None => Lease::private(conn.clone()),
        };
        if let Some((unsent, endpoint)) = abandoned.borrow_mut().take() {
            lease.connection().report_abandoned(unsent, &endpoint);
        }
        if lease.connection() != conn {
            // Ours was shut down before we leased it: render again with the live one.
            update.force_update();
        }
        let endpoint = conn.status().endpoint.clone();
        move || {
            let unsent = lease.release();
            if unsent > 0 {
                *abandoned.borrow_mut() = Some((unsent, endpoint));
            }
        }
    });
    conn
}
