//! State shared by every handler: config, backend, shutdown signal and connection accounting.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use tokio::sync::{broadcast, watch, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, ClaimsAuthorizer, Identity};
use crate::broker::Backend;
use crate::config::Config;
use crate::connection::RateLimiter;
use crate::history::StreamTurns;
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
    /// Endpoint-wide values of this instance, one per type (see [`Extensions`]).
    pub extensions: Extensions,
    /// Token verification and the room/publish decisions (see [`crate::auth`]).
    pub auth: Auth,
    /// Rate-limit buckets of signed users, shared by all their sockets.
    pub user_limits: UserLimits,
    /// One turn per chat stream: append-and-publish and join-and-replay take it (see
    /// [`crate::history`]).
    pub turns: StreamTurns,
    /// Orders to drop WebSockets without a close frame (test endpoint `drop-sockets`).
    pub socket_drops: broadcast::Sender<DropOrder>,
    /// Counters and gauges for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    next_user: AtomicU64,
}

/// Which WebSockets a `drop-sockets` order cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropOrder {
    /// Only this endpoint's sockets (`chat`, `typed-chat`, ...); `None`: every endpoint.
    pub endpoint: Option<String>,
    /// Only this user's sockets; `None`: everyone's.
    pub user: Option<String>,
}

impl DropOrder {
    /// Whether a socket of `endpoint` for `user` is cut.
    pub fn matches(&self, endpoint: &str, user: &str) -> bool {
        self.endpoint.as_deref().is_none_or(|e| e == endpoint)
            && self.user.as_deref().is_none_or(|u| u == user)
    }
}

impl AppState {
    /// Fresh state for one server run.
    pub fn new(config: Config, backend: Backend) -> SharedState {
        Self::with_extensions(config, backend, Extensions::default())
    }

    /// Fresh state for one server run, with values already in [`AppState::extensions`].
    pub fn with_extensions(
        config: Config,
        backend: Backend,
        extensions: Extensions,
    ) -> SharedState {
        let auth = Auth::new(config.effective_auth_secret(), Arc::new(ClaimsAuthorizer));
        Self::with_parts(config, backend, extensions, auth)
    }

    /// Fresh state from all its parts (what [`crate::Server`] builds).
    pub fn with_parts(
        config: Config,
        backend: Backend,
        extensions: Extensions,
        auth: Auth,
    ) -> SharedState {
        let origins = OriginPolicy::new(&config.allowed_origins);
        let slots =
            ConnectionSlots::with_per_ip(config.max_connections, config.max_connections_per_ip);
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
            extensions,
            auth,
            user_limits: UserLimits::default(),
            turns: StreamTurns::default(),
            socket_drops: broadcast::Sender::new(16),
            metrics: crate::metrics::Metrics::default(),
            next_user: AtomicU64::new(0),
        })
    }

    /// The user of a new connection: the signed one when there is a token (its `sub` and
    /// `name`; `?name=` is ignored), else a fresh id and the requested name, cleaned, or
    /// `Guest N`.
    pub fn new_user(&self, requested_name: Option<&str>, identity: Option<Identity>) -> User {
        if let Some(identity) = identity {
            return User {
                id: identity.sub.clone(),
                name: identity.name.clone(),
                identity: Some(Arc::new(identity)),
            };
        }
        let n = self.next_user.fetch_add(1, Ordering::Relaxed) + 1;
        let name = requested_name
            .and_then(sanitize_name)
            .unwrap_or_else(|| format!("Guest {n}"));
        User {
            id: format!("u{n}{}", self.backend.user_tag).into(),
            name: name.into(),
            identity: None,
        }
    }

    /// Whether `user` may join typed-chat room `room` (always, when the server runs open).
    pub fn may_join(&self, user: &User, room: &str) -> bool {
        user.identity
            .as_deref()
            .is_none_or(|who| self.auth.authorizer.may_join(who, room))
    }
}

/// Values keyed by their type: the home of state that belongs to an endpoint as a whole (a
/// poll's options, a cache) rather than to one socket, without a field in [`AppState`].
///
/// Values are shared by every socket of this instance, so they use interior mutability
/// (atomics, a `Mutex`). They are per instance: data every instance must agree on (a vote
/// tally) goes through [`crate::broker::SharedStore`] (`state.backend.store`), which is Redis
/// when several instances share one.
#[derive(Default)]
pub struct Extensions {
    values: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The value of type `T`, if there is one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let values = self.values.read().unwrap_or_else(PoisonError::into_inner);
        let value = values.get(&TypeId::of::<T>())?.clone();
        value.downcast().ok()
    }

    /// Puts `value` in, replacing the value of type `T` there was (sockets holding the old
    /// `Arc` keep it).
    pub fn insert<T: Any + Send + Sync>(&self, value: T) {
        let mut values = self.values.write().unwrap_or_else(PoisonError::into_inner);
        values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, made by `init` if there is none yet (once, even under races).
    pub fn get_or_insert_with<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        if let Some(value) = self.get::<T>() {
            return value;
        }
        let mut values = self.values.write().unwrap_or_else(PoisonError::into_inner);
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(init()))
            .clone();
        value
            .downcast()
            .unwrap_or_else(|_| unreachable!("stored under its own TypeId"))
    }

    /// The value of type `T`, its `Default` if there is none yet.
    pub fn get_or_default<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        self.get_or_insert_with(T::default)
    }
}

/// The identity of one connection.
///
/// With auth on, `id` is the token's `sub`: every socket of one signed user shares it (one
/// presence entry, one room membership, one rate-limit bucket), as one person in two tabs is
/// one person to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `sub` of the token, or a server-assigned id (`u<N>`, plus `@<instance>` with a
    /// shared broker) when the server runs open.
    pub id: Arc<str>,
    /// Display name.
    pub name: Arc<str>,
    /// The verified token, when auth is on.
    pub identity: Option<Arc<Identity>>,
}

/// Rate-limit buckets keyed by `sub`: a signed user's sockets share one, so opening more
/// sockets does not buy more messages. Buckets live as long as a socket holds them.
#[derive(Debug, Default)]
pub struct UserLimits {
    buckets: std::sync::Mutex<HashMap<Arc<str>, Weak<std::sync::Mutex<RateLimiter>>>>,
}

impl UserLimits {
    /// The bucket of `sub`, made by `make` when none of its sockets is open.
    pub fn bucket(
        &self,
        sub: &Arc<str>,
        make: impl FnOnce() -> RateLimiter,
    ) -> Arc<std::sync::Mutex<RateLimiter>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get(sub).and_then(Weak::upgrade) {
            return bucket;
        }
        // Forget users with no open socket now and then: amortized O(1) per call.
        if buckets.len() >= 64 && buckets.len().is_power_of_two() {
            buckets.retain(|_, b| b.strong_count() > 0);
        }
        let bucket = Arc::new(std::sync::Mutex::new(make()));
        buckets.insert(sub.clone(), Arc::downgrade(&bucket));
        bucket
    }

    /// Users with a remembered bucket (tests).
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no bucket is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts long-lived connections against `--max-connections`.
///
/// Also counts per client address against `--max-connections-per-ip`, so one address cannot
/// take every slot.
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    open: Arc<AtomicUsize>,
    max: usize,
    per_ip: PerIp,
    max_per_ip: usize,
}

/// Open connections per client address.
type PerIp = Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>;

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// `--max-connections` reached: HTTP 503.
    Full,
    /// This address holds `--max-connections-per-ip` already: HTTP 429.
    TooManyFromAddress,
}

impl NoSlot {
    /// The HTTP answer: status and one-line body.
    pub fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        match self {
            Self::Full => {
                (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response()
            }
            Self::TooManyFromAddress => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address\n",
            )
                .into_response(),
        }
    }
}

impl ConnectionSlots {
    /// Room for `max` connections, no per-address limit.
    pub fn new(max: usize) -> Self {
        Self::with_per_ip(max, usize::MAX)
    }

    /// Room for `max` connections, at most `max_per_ip` from one address.
    pub fn with_per_ip(max: usize, max_per_ip: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
            per_ip: Arc::default(),
            max_per_ip,
        }
    }

    /// Takes a slot, or `None` when full; the slot is returned when the guard drops.
    pub fn try_acquire(&self) -> Option<SlotGuard> {
        self.try_acquire_for(None).ok()
    }

    /// Takes a slot for a client at `ip` (unknown: only the global cap applies).
    pub fn try_acquire_for(&self, ip: Option<IpAddr>) -> Result<SlotGuard, NoSlot> {
        if let Some(ip) = ip {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
            let held = per_ip.entry(ip).or_insert(0);
            if *held >= self.max_per_ip {
                return Err(NoSlot::TooManyFromAddress);
            }
            *held += 1;
        }
        let global = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        let guard = SlotGuard {
            open: self.open.clone(),
            ip: ip.map(|ip| (ip, self.per_ip.clone())),
            counted: global.is_ok(),
        };
        if global.is_err() {
            // Dropping the guard gives the address's count back.
            drop(guard);
            return Err(NoSlot::Full);
        }
        Ok(guard)
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
    ip: Option<(IpAddr, PerIp)>,
    counted: bool,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.counted {
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some((ip, per_ip)) = &self.ip {
            let mut per_ip = per_ip.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(held) = per_ip.get_mut(ip) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    per_ip.remove(ip);
                }
            }
        }
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
    fn one_address_cannot_take_every_slot() {
        let slots = ConnectionSlots::with_per_ip(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = slots.try_acquire_for(Some(a)).unwrap();
        let _a2 = slots.try_acquire_for(Some(a)).unwrap();
        assert_eq!(
            slots.try_acquire_for(Some(a)).unwrap_err(),
            NoSlot::TooManyFromAddress
        );
        let _b1 = slots.try_acquire_for(Some(b)).unwrap();
        assert_eq!(slots.try_acquire_for(Some(b)).unwrap_err(), NoSlot::Full);
        assert_eq!(slots.open(), 3);
        drop(a1);
        // The refused global attempt gave b's count back: b may take the freed slot.
        let b2 = slots.try_acquire_for(Some(b));
        assert!(b2.is_ok());
        assert_eq!(slots.open(), 3);
    }

    #[test]
    fn extensions_hold_one_value_per_type() {
        #[derive(Default)]
        struct Tally(AtomicU64);
        struct Options(Vec<&'static str>);

        let ext = Extensions::default();
        assert!(ext.get::<Tally>().is_none());
        ext.get_or_default::<Tally>()
            .0
            .fetch_add(2, Ordering::Relaxed);
        ext.get_or_default::<Tally>()
            .0
            .fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            ext.get::<Tally>().map(|t| t.0.load(Ordering::Relaxed)),
            Some(3)
        );
        ext.insert(Options(vec!["a", "b"]));
        let made = ext.get_or_insert_with(|| Options(vec!["never"]));
        assert_eq!(made.0, ["a", "b"]);
        ext.insert(Options(vec!["c"]));
        assert_eq!(ext.get::<Options>().map(|o| o.0.clone()), Some(vec!["c"]));
        assert_eq!(made.0, ["a", "b"], "a held Arc keeps the old value");
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
