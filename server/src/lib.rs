//! The app's dev server: the backend `trunk serve` talks to.
//!
//! Endpoints and messages are specified in `docs/protocol.md`; this crate implements them.
//! Start it in-process with [`serve`] (tests do, on `127.0.0.1:0`) or run the
//! `realtime-server` binary. Fan-out and shared state go through the small traits in
//! [`broker`], so another backend can be plugged in with [`serve_with`].
//!
//! # Add an endpoint
//!
//! A WebSocket endpoint is one file; the shared socket loop ([`connection`]) already sends
//! `welcome`, answers `ping`, enforces frame sizes and the rate limit, closes with the
//! documented codes, and answers every bad frame: `malformed` (not JSON, not an object, no
//! string `type`), `unknown_type` (a `type` the endpoint's enum lacks), `invalid` (fields that
//! do not deserialize). `tests/poll_endpoint.rs` is a worked example. For `/ws/poll`:
//!
//! 1. Write `src/poll.rs` (below): the client messages as a serde enum tagged by `type`
//!    (`rename_all_fields = "camelCase"`: `rename_all` would rename the variants, not the
//!    fields) with `impl ClientMessage for PollMsg {}`, and a struct with the per-socket state
//!    implementing [`connection::Endpoint`]. A later message type is one more variant and one
//!    more `match` arm: its tag list ([`protocol::ClientMessage::types`]) is read from the enum.
//!    Field rules beyond serde's types go into field types ([`protocol::MessageText`],
//!    [`protocol::RoomName`], an enum of allowed values, your own `#[serde(try_from)]`).
//! 2. Keep state where it belongs: per socket in the struct; per instance in
//!    [`AppState::extensions`] (`conn.state.extensions.get_or_default::<T>()`, or a start-up
//!    value from [`Server::extension`]); across instances in the shared store
//!    (`conn.state.backend.store.incr(key, 1)`, Redis when `REDIS_URL` is set).
//! 3. Mount it: `pub mod poll;` in this file and
//!    `.route("/ws/poll", ws_route::<poll::Poll>())` in [`router_with`]; or, from outside the
//!    crate, `Server::new(config).route("/ws/poll", ws_route::<Poll>()).serve(listener, stop)`.
//! 4. Test it: one line in `tests/decoder_props.rs` (`check::<poll::PollMsg>()`: the decoder
//!    properties are generic), and integration tests with the real clients in `tests/common`.
//! 5. Document its messages in `docs/protocol.md` (the browser client is written against it).
//!
//! ```
//! use realtime_server::connection::{endpoint_topic, ws_route, Conn, Endpoint};
//! use realtime_server::protocol::{ClientMessage, ProtocolError};
//! use serde::{Deserialize, Serialize};
//!
//! /// What a poll client sends (besides `ping`).
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[serde(tag = "type", rename_all_fields = "camelCase")]
//! pub enum PollMsg {
//!     /// `{type:"vote", option}`; an `option` that is not a string is `invalid`.
//!     #[serde(rename = "vote")]
//!     Vote { option: String },
//! }
//!
//! impl ClientMessage for PollMsg {}
//!
//! /// What the poll sends: `{type:"tally", option, votes}`.
//! #[derive(Serialize)]
//! #[serde(tag = "type", rename = "tally")]
//! struct Tally { option: String, votes: i64 }
//!
//! /// The poll endpoint (nothing per socket).
//! #[derive(Default)]
//! pub struct Poll;
//!
//! impl Endpoint for Poll {
//!     const NAME: &'static str = "poll";
//!     type Msg = PollMsg;
//!
//!     async fn on_open(&mut self, _conn: &mut Conn) {}
//!
//!     async fn on_message(&mut self, conn: &mut Conn, msg: PollMsg) -> Result<(), ProtocolError> {
//!         let PollMsg::Vote { option } = msg;
//!         if !["a", "b", "c"].contains(&option.as_str()) {
//!             return Err(ProtocolError::invalid("\"option\" must be a, b or c"));
//!         }
//!         let key = format!("poll:votes:{option}");
//!         let Ok(votes) = conn.state.backend.store.incr(&key, 1).await else {
//!             return Ok(()); // Redis away: the vote is not counted anywhere.
//!         };
//!         conn.broadcast(&endpoint_topic(Self::NAME), &Tally { option, votes }).await;
//!         Ok(())
//!     }
//!
//!     async fn on_close(&mut self, _conn: &mut Conn) {}
//! }
//!
//! let server = realtime_server::Server::new(realtime_server::Config::default())
//!     .route("/ws/poll", ws_route::<Poll>());
//! # drop(server);
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod binary;
pub mod broker;
pub mod chat;
pub mod client_addr;
pub mod config;
pub mod connection;
pub mod history;
pub mod http;
pub mod metrics;
pub mod notifications;
pub mod origin;
pub mod presence;
pub mod protocol;
pub mod redis_backend;
pub mod socket_writer;
pub mod state;
pub mod static_files;
pub mod streams;
pub mod test_endpoints;
pub mod typed_chat;

/// The app's name (`APP_NAME` from `.cargo/config.toml`, set when the app was generated): the
/// server sends it in every `welcome` and logs under it. `realtime-server` when built without it.
pub const APP_NAME: &str = match option_env!("APP_NAME") {
    Some(name) => name,
    None => "realtime-server",
};

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde_json::json;
use tokio::net::TcpListener;

pub use broker::Backend;
pub use config::Config;
use connection::ws_route;
pub use state::{AppState, SharedState};

/// After shutdown starts, how long open sockets and streams get to finish their goodbyes.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Runs the server on `listener` with the in-process backend until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let backend = Backend::in_process_with(config.sse_buffer, config.history_limits());
    Server::new(config)
        .backend(backend)
        .serve(listener, shutdown)
        .await
}

/// Runs the server with the backend its config asks for: Redis when a Redis URL is set
/// ([`Config::redis_url`]), else in-process. The Redis tasks stop after the server does.
pub async fn serve_configured(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    Server::new(config).serve(listener, shutdown).await
}

/// Runs the server on `listener` with a chosen backend until `shutdown` completes; then every
/// socket is closed with 1001, SSE streams end, and this returns within [`SHUTDOWN_GRACE`].
pub async fn serve_with(
    config: Config,
    backend: Backend,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    Server::new(config)
        .backend(backend)
        .serve(listener, shutdown)
        .await
}

/// The server with what an app adds to the built-in endpoints: routes (a new endpoint) and
/// start-up values in [`AppState::extensions`]. `serve`, `serve_configured` and `serve_with`
/// are this without additions.
pub struct Server {
    config: Config,
    backend: Option<Backend>,
    routes: Router<SharedState>,
    extensions: state::Extensions,
    authorizer: std::sync::Arc<dyn auth::Authorizer>,
}

impl Server {
    /// The built-in routes on the backend the config asks for (see [`serve_configured`]).
    pub fn new(config: Config) -> Self {
        Self {
            config,
            backend: None,
            routes: Router::new(),
            extensions: state::Extensions::default(),
            authorizer: std::sync::Arc::new(auth::ClaimsAuthorizer),
        }
    }

    /// Decides joins and publishing with `authorizer` instead of the token's claims alone
    /// (see [`auth::Authorizer`]). Only matters with auth on.
    pub fn authorizer(mut self, authorizer: impl auth::Authorizer) -> Self {
        self.authorizer = std::sync::Arc::new(authorizer);
        self
    }

    /// Runs on `backend` instead of the configured one.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Adds a route next to the built-in ones, behind the same origin guard; for an endpoint,
    /// `.route("/ws/poll", connection::ws_route::<Poll>())`. A path already taken panics.
    pub fn route(mut self, path: &str, method_router: MethodRouter<SharedState>) -> Self {
        self.routes = self.routes.route(path, method_router);
        self
    }

    /// Puts `value` in [`AppState::extensions`] before the first connection.
    pub fn extension<T: std::any::Any + Send + Sync>(self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// Serves on `listener` until `shutdown` completes; then every socket is closed with 1001,
    /// SSE streams end, and this returns within [`SHUTDOWN_GRACE`].
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        self.config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // The backend asked for: given, else Redis when a URL is set, else in-process.
        let (backend, stop_backend) = match (self.backend, self.config.redis_url()) {
            (Some(backend), _) => (backend, None),
            (None, None) => (
                Backend::in_process_with(self.config.sse_buffer, self.config.history_limits()),
                None,
            ),
            (None, Some(url)) => {
                let stop = tokio_util::sync::CancellationToken::new();
                let options = redis_backend::RedisOptions {
                    url,
                    prefix: self.config.redis_prefix.clone(),
                    stream_maxlen: self.config.sse_buffer,
                    presence_ttl: self.config.presence_ttl(),
                    history: self.config.history_limits(),
                    ca_file: self.config.redis_ca_file.clone(),
                };
                let backend = redis_backend::connect(options, stop.clone())
                    .await
                    .map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("redis: {e}"))
                    })?;
                (backend, Some(stop))
            }
        };
        let result = run(
            self.config,
            backend,
            self.routes,
            self.extensions,
            self.authorizer,
            listener,
            shutdown,
        )
        .await;
        // The Redis tasks stop after the server does.
        if let Some(stop) = stop_backend {
            stop.cancel();
        }
        result
    }
}

async fn run(
    config: Config,
    backend: Backend,
    routes: Router<SharedState>,
    extensions: state::Extensions,
    authorizer: std::sync::Arc<dyn auth::Authorizer>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let secret = config.effective_auth_secret();
    match (&config.auth_secret, config.dev_login) {
        (None, false) => tracing::warn!(
            "auth off: anyone who reaches this server can connect under any name and publish; \
             set --auth-secret (REALTIME_AUTH_SECRET) to require signed tokens"
        ),
        (None, true) => {
            tracing::info!("auth on with a random per-run secret; dev login at POST /api/dev/login")
        }
        (Some(_), true) => tracing::info!(
            "auth on; dev login at POST /api/dev/login (previews only: anyone can be anyone)"
        ),
        (Some(_), false) => tracing::info!("auth on"),
    }
    let auth = auth::Auth::new(secret, authorizer);
    let state = AppState::with_parts(config, backend, extensions, auth);
    if let Some(every) = state.config.demo_interval() {
        state
            .tracker
            .spawn(notifications::demo_loop(state.clone(), every));
    }
    state.tracker.spawn(presence::refresh_loop(state.clone()));
    state.tracker.spawn(typed_chat::sweep_loop(state.clone()));
    state.tracker.spawn(streams::refill_loop(state.clone()));

    let stop = state.shutdown.clone();
    let app = router_with(state.clone(), routes);
    let server = http::serve(listener, app, stop.clone(), state.config.header_timeout());
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        () = shutdown => {
            tracing::info!("shutting down");
            stop.cancel();
            // A client that never reads could hold a response open forever; cap the wait.
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await;
        }
    }
    stop.cancel();
    state.tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, state.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    Ok(())
}

/// All built-in routes, with the origin guard around them.
pub fn router(state: SharedState) -> Router {
    router_with(state, Router::new())
}

/// The built-in routes plus `extra`, with the origin guard around them all.
pub fn router_with(state: SharedState, extra: Router<SharedState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz).with_state(state.clone()))
        .route("/readyz", get(readyz).with_state(state.clone()))
        .route("/metrics", get(metrics_text).with_state(state.clone()))
        .route("/ws/chat", ws_route::<chat::Chat>())
        .route("/ws/typed-chat", ws_route::<typed_chat::TypedChat>())
        .route("/ws/presence", ws_route::<presence::PresenceBoard>())
        .route("/ws/binary", ws_route::<binary::BinaryEcho>())
        .route("/sse/notifications", get(notifications::stream))
        .route(
            "/api/notifications",
            post(notifications::create).layer(DefaultBodyLimit::max(state.config.max_text_bytes)),
        )
        .merge(extra);
    if state.config.dev_login {
        router = router.route(
            "/api/dev/login",
            post(auth::dev_login).layer(DefaultBodyLimit::max(4096)),
        );
    }
    if state.config.test_endpoints {
        router = router.merge(test_endpoints::routes());
    }
    if let Some(dir) = state.config.static_dir.clone() {
        router = router.fallback(move |method: axum::http::Method, uri: axum::http::Uri| {
            static_files::serve(dir.clone(), method, uri)
        });
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_addr::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ))
        .with_state(state)
}

/// Readiness, for a load balancer deciding where to send new connections: 200 `ready`, or 503
/// `degraded` while the shared broker (Redis) is unreachable, when this instance's clients would
/// miss everyone else's messages (`draining` for a request in flight when shutdown began).
/// Before it is ready the server does not listen (`serve` connects its backend first), and
/// after SIGTERM it stops listening at once, so a balancer's check fails at connect then.
async fn readyz(
    axum::extract::State(state): axum::extract::State<SharedState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = if state.shutdown.is_cancelled() {
        "draining"
    } else if state.backend.health.degraded() {
        "degraded"
    } else {
        "ready"
    };
    let code = if status == "ready" {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (code, notifications::json_body(&json!({ "status": status }))).into_response()
}

/// Liveness, the open connection count (tests use it to prove unmounts close sockets) and the
/// backend's state. Always 200: a `degraded` instance still serves its own clients, so a load
/// balancer should keep sending it traffic; operators alert on `status`.
/// `GET /metrics`: the Prometheus text exposition ([`metrics`]).
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<SharedState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let health = &state.backend.health;
    let reconnects = health.report()["reconnects"].as_u64().unwrap_or(0);
    let sse = state.sse_streams.load(std::sync::atomic::Ordering::Acquire);
    state
        .metrics
        .endpoint("sse")
        .connections
        .set(i64::try_from(sse).unwrap_or(i64::MAX));
    let body = state.metrics.render(health.degraded(), reconnects);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<SharedState>,
) -> axum::response::Response {
    let health = &state.backend.health;
    notifications::json_body(&json!({
        "status": if health.degraded() { "degraded" } else { "ok" },
        "connections": state.slots.open(),
        "broker": health.report(),
    }))
}
