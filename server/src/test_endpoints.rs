//! `/api/test/*`: hooks for the browser tests to break things on purpose. Only mounted with
//! `--test-endpoints`; never on by default.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::broker::Envelope;
use crate::connection::endpoint_topic;
use crate::notifications::{json_body, json_error};
use crate::state::SharedState;

/// Injected frames may be far over the normal limits (that is the point), within reason.
pub const INJECT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Endpoints whose clients `inject` can reach.
pub const INJECTABLE: [&str; 3] = ["chat", "typed-chat", "presence"];

/// The test-only routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/test/drop-sse", post(drop_sse))
        .route(
            "/api/test/inject",
            post(inject).layer(DefaultBodyLimit::max(INJECT_BODY_LIMIT)),
        )
        .route("/ws/test/silent", get(silent))
}

/// How long a silent socket is held before the server lets it go.
pub const SILENT_HOLD: Duration = Duration::from_secs(60);

/// A WebSocket that opens and then never reads or writes: to the client it looks exactly like a
/// frozen server (pings unanswered), so heartbeat dead-link detection can be tested.
async fn silent(ws: WebSocketUpgrade, State(state): State<SharedState>) -> Response {
    ws.on_upgrade(move |socket| async move {
        let _held = socket;
        tokio::select! {
            () = state.shutdown.cancelled() => {}
            () = tokio::time::sleep(SILENT_HOLD) => {}
        }
    })
}

/// Ends every open SSE stream; answers `{dropped}`, the number of streams that were open.
async fn drop_sse(State(state): State<SharedState>) -> Response {
    let dropped = state.sse_streams.load(Ordering::Acquire);
    state
        .sse_generation
        .send_modify(|generation| *generation += 1);
    json_body(&json!({ "dropped": dropped }))
}

#[derive(Deserialize)]
struct Inject {
    endpoint: String,
    frames: Vec<String>,
}

/// Sends each string as a raw text frame to every client of one endpoint (202 `{frames}`).
async fn inject(State(state): State<SharedState>, body: Bytes) -> Response {
    let request: Inject = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("expected {{endpoint, frames: [string]}}: {e}"),
            )
        }
    };
    if !INJECTABLE.contains(&request.endpoint.as_str()) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "\"endpoint\" must be one of chat, typed-chat, presence",
        );
    }
    let topic = endpoint_topic(&request.endpoint);
    let count = request.frames.len();
    for frame in request.frames {
        if let Err(e) = state
            .backend
            .broker
            .publish(&topic, Envelope::to_all(frame))
            .await
        {
            tracing::warn!(error = %e, "inject publish failed");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "publish failed",
            );
        }
    }
    (StatusCode::ACCEPTED, json_body(&json!({ "frames": count }))).into_response()
}
