//! The app's dev server: the backend `trunk serve` talks to.
//!
//! Endpoints and messages are specified in `docs/protocol.md`; this crate implements them.
//! Start it in-process with [`serve`] (tests do, on `127.0.0.1:0`) or run the
//! `realtime-server` binary. Fan-out and shared state go through the small traits in
//! [`broker`], so another backend can be plugged in with [`serve_with`].

#![warn(missing_docs)]

pub mod binary;
pub mod broker;
pub mod chat;
pub mod config;
pub mod connection;
pub mod notifications;
pub mod origin;
pub mod presence;
pub mod protocol;
pub mod redis_backend;
pub mod state;
pub mod static_files;
pub mod test_endpoints;
pub mod typed_chat;

/// The app's name (`APP_NAME` from `.cargo/config.toml`, set when the app was generated): the
/// server sends it in every `welcome` and logs under it. `realtime-server` when built without it.
pub const APP_NAME: &str = match option_env!("APP_NAME") {
    Some(name) => name,
    None => "realtime-server",
};

use std::future::{Future, IntoFuture};
use std::io;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde_json::json;
use tokio::net::TcpListener;

pub use broker::Backend;
pub use config::Config;
pub use state::{AppState, SharedState};

/// After shutdown starts, how long open sockets and streams get to finish their goodbyes.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Runs the server on `listener` with the in-process backend until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let backend = Backend::in_process(config.sse_buffer);
    serve_with(config, backend, listener, shutdown).await
}

/// Runs the server with the backend its config asks for: Redis when a Redis URL is set
/// ([`Config::redis_url`]), else in-process. The Redis tasks stop after the server does.
pub async fn serve_configured(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Some(url) = config.redis_url() else {
        return serve(config, listener, shutdown).await;
    };
    let stop_backend = tokio_util::sync::CancellationToken::new();
    let options = redis_backend::RedisOptions {
        url,
        prefix: config.redis_prefix.clone(),
        stream_maxlen: config.sse_buffer,
        presence_ttl: config.presence_ttl(),
    };
    let backend = redis_backend::connect(options, stop_backend.clone())
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("redis: {e}")))?;
    let result = serve_with(config, backend, listener, shutdown).await;
    stop_backend.cancel();
    result
}

/// Runs the server on `listener` with a chosen backend until `shutdown` completes; then every
/// socket is closed with 1001, SSE streams end, and this returns within [`SHUTDOWN_GRACE`].
pub async fn serve_with(
    config: Config,
    backend: Backend,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state = AppState::new(config, backend);
    if let Some(every) = state.config.demo_interval() {
        state
            .tracker
            .spawn(notifications::demo_loop(state.clone(), every));
    }
    state.tracker.spawn(presence::snapshot_loop(state.clone()));
    state.tracker.spawn(typed_chat::sweep_loop(state.clone()));

    let stop = state.shutdown.clone();
    // Real-time frames are small; Nagle's algorithm would hold them back waiting for ACKs.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let server = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = shutdown => {
            tracing::info!("shutting down");
            stop.cancel();
            // A client that never reads could hold a response open forever; cap the wait.
            tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.unwrap_or(Ok(()))
        }
    };
    stop.cancel();
    state.tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, state.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    result
}

/// All routes, with the origin guard around them.
pub fn router(state: SharedState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz).with_state(state.clone()))
        .route("/ws/chat", get(chat::handler))
        .route("/ws/typed-chat", get(typed_chat::handler))
        .route("/ws/presence", get(presence::handler))
        .route("/ws/binary", get(binary::handler))
        .route("/sse/notifications", get(notifications::stream))
        .route(
            "/api/notifications",
            post(notifications::create).layer(DefaultBodyLimit::max(state.config.max_text_bytes)),
        );
    if state.config.test_endpoints {
        router = router.merge(test_endpoints::routes());
    }
    if let Some(dir) = state.config.static_dir.clone() {
        router = router.fallback(move |uri: axum::http::Uri| static_files::serve(dir.clone(), uri));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ))
        .with_state(state)
}

/// Liveness, the open connection count (tests use it to prove unmounts close sockets) and the
/// backend's state. Always 200: a `degraded` instance still serves its own clients, so a load
/// balancer should keep sending it traffic; operators alert on `status`.
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
