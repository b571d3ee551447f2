//! Sharing: one connection per endpoint for every component under a [`RealtimeProvider`],
//! reference-counted and closed when the last user unmounts; and the list the connection panel shows.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::connection::{Connection, LogEntry, WebSocketOptions};

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

// Decision: sorted `Vec`s, not `BTreeMap`s — an app has a handful of connections, and each
// distinct `BTreeMap<K, V>` costs the wasm bundle several KB of monomorphised tree code.
#[derive(Default)]
struct Registry {
    /// Shared connections and their user counts, sorted by endpoint.
    shared: Vec<(String, Connection, usize)>,
    /// Panel row sources by id, in registration (= id) order.
    sources: Vec<(u64, RowSource)>,
    next_source: u64,
}

impl Registry {
    /// The shared entry for `endpoint`, inserted in endpoint order with `new` if missing.
    fn entry(
        &mut self,
        endpoint: &str,
        new: impl FnOnce() -> Connection,
    ) -> &mut (String, Connection, usize) {
        let at = match self.find(endpoint) {
            Ok(at) => at,
            Err(at) => {
                self.shared.insert(at, (endpoint.to_owned(), new(), 0));
                at
            }
        };
        &mut self.shared[at]
    }

    fn find(&self, endpoint: &str) -> Result<usize, usize> {
        self.shared
            .binary_search_by(|(e, _, _)| e.as_str().cmp(endpoint))
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
    /// The shared connection for `endpoint`, created with `options` if there is none yet (the
    /// first user's options win).
    pub fn connection(&self, endpoint: &str, options: WebSocketOptions) -> Connection {
        let mut registry = self.0.borrow_mut();
        let entry = registry.entry(endpoint, || Connection::new(endpoint, options));
        entry.1.clone()
    }

    /// Counts a user of `conn`; the first one connects it. The lease releases on drop.
    pub fn acquire(&self, conn: &Connection) -> Lease {
        let endpoint = conn.status().endpoint.clone();
        let first = {
            let mut registry = self.0.borrow_mut();
            let entry = registry.entry(&endpoint, || conn.clone());
            entry.2 += 1;
            entry.2 == 1
        };
        if first {
            conn.start();
        }
        Lease {
            registry: Some(self.clone()),
            conn: conn.clone(),
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
                    .filter(|(_, _, users)| *users > 0)
                    .map(|(_, c, _)| c.clone())
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
            .filter(|(_, _, users)| *users > 0)
            .count()
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
}

impl Drop for Lease {
    fn drop(&mut self) {
        let last = match &self.registry {
            None => true,
            Some(registry) => {
                let mut registry = registry.0.borrow_mut();
                let found = registry.find(&self.endpoint).ok();
                let remaining = match found.map(|at| &mut registry.shared[at]) {
                    Some(entry) if entry.1 == self.conn => {
                        entry.2 = entry.2.saturating_sub(1);
                        Some(entry.2)
                    }
                    // Not (or no longer) the shared one: this lease is its only user.
                    _ => None,
                };
                if let (Some(0), Some(at)) = (remaining, found) {
                    registry.shared.remove(at);
                }
                remaining.is_none_or(|users| users == 0)
            }
        };
        if last {
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
}

/// Shares one connection per endpoint among the components below it.
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
/// Options are read when the connection is created; change the endpoint to start over.
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
    let conn = {
        let registry = registry.clone();
        use_memo(endpoint.to_owned(), move |endpoint| match &registry {
            Some(registry) => registry.connection(endpoint, options),
            None => Connection::new(endpoint, options),
        })
    };
    {
        let conn = (*conn).clone();
        use_effect_with(conn.clone(), move |_| {
            let lease = match &registry {
                Some(registry) => registry.acquire(&conn),
                None => Lease::private(conn),
            };
            move || drop(lease)
        });
    }
    (*conn).clone()
}
