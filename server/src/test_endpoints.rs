//! `/api/test/*`: hooks for the browser tests to break things on purpose. Only mounted with
//! `--test-endpoints`; never on by default.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::broker::Envelope;
use crate::connection::endpoint_topic;
use crate::notifications::{json_body, json_error};
use crate::state::{query_param, DropOrder, SharedState};

/// Injected frames may be far over the normal limits (that is the point), within reason.
pub const INJECT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Endpoints whose clients `inject` can reach.
pub const INJECTABLE: [&str; 3] = ["chat", "typed-chat", "presence"];

/// The test-only routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/test/drop-sse", post(drop_sse))
        .route("/api/test/drop-sockets", post(drop_sockets))
        .route(
            "/api/test/inject",
            post(inject).layer(DefaultBodyLimit::max(INJECT_BODY_LIMIT)),
        )
        .route("/ws/test/silent", get(silent))
        .route("/ws/test/echo", get(echo))
}

/// How long [`echo`] keeps the TCP connection after sending its close frame for `close-me`.
pub const LINGER_AFTER_CLOSE: Duration = Duration::from_millis(1500);

/// A WebSocket that echoes every frame verbatim (pings included, as a third-party echo server
/// would). The text `close-me` makes it send a close frame (1012) and then hold the TCP connection
/// for [`LINGER_AFTER_CLOSE`] without reading: the browser's socket sits in CLOSING meanwhile.
/// With `?require=X`, a connection whose `token` is not `X` is closed at once with 4001 ("token
/// expired"), the way an auth-checking server rejects a stale credential after the upgrade;
/// with `?refuse=X`, it is refused with HTTP 401 before the upgrade, as this server does with
/// auth on.
async fn echo(
    ws: WebSocketUpgrade,
    RawQuery(query): RawQuery,
    State(state): State<SharedState>,
) -> Response {
    let require = query_param(query.as_deref(), "require");
    let token = query_param(query.as_deref(), "token");
    let refuse = query_param(query.as_deref(), "refuse");
    if refuse.is_some() && refuse != token {
        return (StatusCode::UNAUTHORIZED, "token expired\n").into_response();
    }
    ws.on_upgrade(move |mut socket| async move {
        if require.is_some() && require != token {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 4001,
                    reason: "token expired".into(),
                })))
                .await;
            return;
        }
        loop {
            let message = tokio::select! {
                () = state.shutdown.cancelled() => return,
                message = socket.recv() => message,
            };
            let Some(Ok(message)) = message else { return };
            if matches!(&message, Message::Text(text) if text.as_str() == "close-me") {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1012,
                        reason: "closing on request".into(),
                    })))
                    .await;
                tokio::time::sleep(LINGER_AFTER_CLOSE).await;
                return;
            }
            let echo = matches!(message, Message::Text(_) | Message::Binary(_));
            if echo && socket.send(message).await.is_err() {
                return;
            }
        }
    })
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
struct DropSockets {
    endpoint: Option<String>,
    user: Option<String>,
}

/// `POST /api/test/drop-sockets {endpoint?, user?}`: cuts those WebSockets without a close
/// frame (the client sees 1006, as after a crash or a lost link); answers how many sockets
/// were listening for the order.
async fn drop_sockets(State(state): State<SharedState>, body: Bytes) -> Response {
    let order: DropSockets = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
    };
    let listening = state.socket_drops.send(DropOrder {
        endpoint: order.endpoint,
        user: order.user,
    });
    json_body(&json!({ "listening": listening.unwrap_or(0) }))
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
