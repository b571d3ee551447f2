//! State shared by every handler: config, backend, shutdown signal and connection accounting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Backend;
use crate::config::Config;
use crate::origin::OriginPolicy;
use crate::protocol::sanitize_name;

/// Handle to the shared state, cloned into every handler.
pub type SharedState = Arc<AppState>;

/// Everything handlers share.
pub struct AppState {
    /// Settings in force.
    pub config: Config,
    /// Fan-out and storage.
    pub backend: Backend,
    /// Which `Origin`s may connect.
    pub origins: OriginPolicy,
    /// Fires once when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Tracks upgraded sockets and background tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Open WebSocket + SSE connections.
    pub slots: ConnectionSlots,
    /// Bumped to end every SSE stream (test endpoint `drop-sse`).
    pub sse_generation: watch::Sender<u64>,
    /// Open SSE streams (reported by `drop-sse`).
    pub sse_streams: Arc<AtomicUsize>,
    /// Serializes append-then-publish so live SSE clients see ids in increasing order.
    pub notification_order: Mutex<()>,
    next_user: AtomicU64,
    next_chat_id: AtomicU64,
}

impl AppState {
    /// Fresh state for one server run.
    pub fn new(config: Config, backend: Backend) -> SharedState {
        let origins = OriginPolicy::new(&config.allowed_origins);
        let slots = ConnectionSlots::new(config.max_connections);
        Arc::new(Self {
            config,
            backend,
            origins,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            slots,
            sse_generation: watch::Sender::new(0),
            sse_streams: Arc::new(AtomicUsize::new(0)),
            notification_order: Mutex::new(()),
            next_user: AtomicU64::new(0),
            next_chat_id: AtomicU64::new(0),
        })
    }

    /// Assigns a user id and a display name (the requested one, cleaned, or `Guest N`).
    pub fn new_user(&self, requested_name: Option<&str>) -> User {
        let n = self.next_user.fetch_add(1, Ordering::Relaxed) + 1;
        let name = requested_name
            .and_then(sanitize_name)
            .unwrap_or_else(|| format!("Guest {n}"));
        User {
            id: format!("u{n}{}", self.backend.user_tag).into(),
            name: name.into(),
        }
    }

    /// Next chat message id; increases for the lifetime of the process.
    pub fn next_chat_id(&self) -> u64 {
        self.next_chat_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The identity of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Server-assigned id (`u<N>`, plus `@<instance>` with a shared broker).
    pub id: Arc<str>,
    /// Display name.
    pub name: Arc<str>,
}

/// Counts long-lived connections against `--max-connections`.
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl ConnectionSlots {
    /// Room for `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Takes a slot, or `None` when full; the slot is returned when the guard drops.
    pub fn try_acquire(&self) -> Option<SlotGuard> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| SlotGuard {
                open: self.open.clone(),
            })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One taken connection slot.
#[derive(Debug)]
pub struct SlotGuard {
    open: Arc<AtomicUsize>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Extracts the first `key` from a raw query string, percent-decoded.
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_refuse_past_the_cap_and_free_on_drop() {
        let slots = ConnectionSlots::new(2);
        let a = slots.try_acquire();
        let b = slots.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(slots.try_acquire().is_none());
        drop(a);
        assert!(slots.try_acquire().is_some());
    }

    #[test]
    fn query_params_are_percent_decoded() {
        assert_eq!(
            query_param(Some("a=1&name=Ada%20L+x"), "name").as_deref(),
            Some("Ada L x")
        );
        assert_eq!(query_param(Some("a=1"), "name"), None);
        assert_eq!(query_param(None, "name"), None);
    }
}
