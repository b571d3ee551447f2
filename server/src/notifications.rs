//! `/sse/notifications` (resumable Server-Sent Events), `POST /api/notifications` and the demo
//! generator.
//!
//! Ids are `<run>-<seq>`: the run part changes on every server start, so a client resuming
//! with an id from an earlier run is told to `reset` instead of silently missing events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::Message;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::broker::{
    BackendError, Broker, Envelope, EventLog, EventPos, Inbox, NewNotification, Replay, Subscriber,
};
use crate::client_addr::ClientAddr;
use crate::protocol::{Level, Notification, MAX_TEXT_CHARS};
use crate::state::{query_param, AppState, SharedState, SlotGuard};

/// Broker topic carrying every new notification.
pub const TOPIC: &str = "notifications";
/// Longest notification title accepted.
pub const MAX_TITLE_CHARS: usize = 200;

/// Stores a notification and fans it out to live SSE streams.
pub async fn publish(state: &AppState, new: NewNotification) -> Result<Notification, BackendError> {
    // Append and publish under one lock so live streams see ids in increasing order; a stream
    // drops anything at or below the newest id it has sent.
    let _order = state.notification_order.lock().await;
    let notification = state.backend.events.append(new).await?;
    if state.backend.events.delivers_live() {
        return Ok(notification);
    }
    let data = serde_json::to_string(&notification)?;
    state
        .backend
        .broker
        .publish(TOPIC, Envelope::to_all(data))
        .await?;
    Ok(notification)
}

/// `POST /api/notifications` with `{title?, message, level?}` → 202 `{id}`. With auth on it
/// needs `Authorization: Bearer` with a token the [`crate::auth::Authorizer`] lets publish
/// (the `publish` claim by default): 401 without a valid token, 403 without the right.
pub async fn create(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    if state.auth.is_on() {
        // Only the header: a token in a POST's query string would end up in access logs.
        let who = match state.auth.authenticate(&headers, None) {
            Ok(who) => who,
            Err(e) => return e.into_response(),
        };
        if !who.is_some_and(|who| state.auth.authorizer.may_publish(&who)) {
            return json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may not publish",
            );
        }
    }
    let new = match parse_new_notification(&body) {
        Ok(new) => new,
        Err((code, message)) => return json_error(StatusCode::BAD_REQUEST, code, &message),
    };
    match publish(&state, new).await {
        Ok(n) => (StatusCode::ACCEPTED, json_body(&json!({ "id": n.id }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "notification publish failed");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "could not publish",
            )
        }
    }
}

/// Validates a `POST /api/notifications` body; errors carry a protocol error code.
pub fn parse_new_notification(body: &[u8]) -> Result<NewNotification, (&'static str, String)> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ("malformed", format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(("malformed", "expected a JSON object".into()));
    };
    let message = match obj.get("message") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.trim().to_string(),
        _ => return Err(("invalid", "\"message\" must be a non-empty string".into())),
    };
    if message.chars().count() > MAX_TEXT_CHARS {
        return Err((
            "invalid",
            format!("\"message\" is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    let title = match obj.get("title") {
        None | Some(Value::Null) => "Notification".to_string(),
        Some(Value::String(t)) if t.trim().chars().count() <= MAX_TITLE_CHARS => {
            let t = t.trim();
            if t.is_empty() {
                "Notification".to_string()
            } else {
                t.to_string()
            }
        }
        Some(_) => {
            return Err((
                "invalid",
                format!("\"title\" must be a string of at most {MAX_TITLE_CHARS} characters"),
            ))
        }
    };
    let level = match obj.get("level") {
        None | Some(Value::Null) => Level::Info,
        Some(Value::String(l)) => Level::parse(l).ok_or_else(|| {
            (
                "invalid",
                "\"level\" must be one of info, success, warning, error".to_string(),
            )
        })?,
        Some(_) => return Err(("invalid", "\"level\" must be a string".into())),
    };
    Ok(NewNotification {
        title,
        message,
        level,
    })
}

/// `GET /sse/notifications`: optional resume point from `Last-Event-ID` or `?lastEventId=`.
pub async fn stream(
    State(state): State<SharedState>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down\n").into_response();
    }
    let identity = match state.auth.authenticate(&headers, query.as_deref()) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::debug!(reason = %e, "SSE token refused");
            return e.into_response();
        }
    };
    let slot = match state.slots.try_acquire_for(client.0) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    // The header wins: EventSource reconnects to the same URL (whose ?lastEventId= is stale)
    // and sends the newest id it saw in the header.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(query.as_deref(), "lastEventId"));

    let (subscriber, inbox, overflow) = Subscriber::new(
        Arc::from("sse"),
        state.config.outbound_capacity(),
        state.config.outbound_queue_bytes,
    );
    let broker = state.backend.broker.clone();
    // Subscribe before reading the log, so nothing published in between is lost; duplicates
    // are dropped by sequence number instead.
    if let Err(e) = broker.subscribe(TOPIC, subscriber.clone()).await {
        tracing::warn!(error = %e, "SSE subscribe failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "notifications unavailable\n",
        )
            .into_response();
    }
    let subscription = Unsubscribe {
        broker,
        id: subscriber.id(),
    };
    let replay = match state
        .backend
        .events
        .replay_after(last_event_id.as_deref())
        .await
    {
        Ok(replay) => replay,
        // A fresh stream needs no history: while the log (Redis) is away it is served from the
        // live tail, which resumes when the log does. Only a resume needs the log.
        Err(e) if last_event_id.is_none() => {
            tracing::debug!(error = %e, "SSE log unavailable; serving the live tail only");
            Replay {
                reset: None,
                events: Vec::new(),
                newest: (0, 0),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "SSE replay failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "notifications unavailable: cannot resume now\n",
            )
                .into_response();
        }
    };

    if last_event_id.is_some() {
        state.metrics.sse_replay(replay.reset.is_none());
    }
    let replay = within_budget(replay, state.config.outbound_queue_bytes);
    let pending = first_chunks(state.config.sse_retry_ms, last_event_id.as_deref(), &replay);
    let keepalive_every = state.config.sse_keepalive();
    let mut keepalive = interval_at(Instant::now() + keepalive_every, keepalive_every);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    state.sse_streams.fetch_add(1, Ordering::AcqRel);
    let sse = SseStream {
        pending,
        inbox,
        overflow,
        keepalive,
        shutdown: state.shutdown.clone(),
        generation: state.sse_generation.subscribe(),
        events: state.backend.events.clone(),
        newest_sent: replay.newest,
        // Ends at `exp`: the client reconnects with a fresh token and resumes by id.
        expires: identity.map(|who| {
            let left = who.expires_at_ms.saturating_sub(crate::protocol::now_ms());
            Instant::now() + Duration::from_millis(left.min(365 * 24 * 3600 * 1000))
        }),
        _open: OpenStream {
            count: state.sse_streams.clone(),
            _slot: slot,
        },
        _subscription: subscription,
    };
    let body = futures_util::stream::unfold(sse, |mut sse| async move {
        sse.next_chunk()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), sse))
    });

    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) would otherwise buffer the stream and delay every event.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Keeps a replay within a client's byte budget (`--outbound-queue-bytes`), the same bound
/// its live queue has: the oldest events go first, and a replay that lost any says `reset`
/// (`too_old`), so the client knows it missed some instead of being sent more than a slow
/// client may hold.
pub fn within_budget(mut replay: Replay, budget: usize) -> Replay {
    let sizes: Vec<usize> = replay
        .events
        .iter()
        .map(|n| serde_json::to_string(n).map_or(0, |d| d.len() + n.id.len() + 40))
        .collect();
    let mut total: usize = sizes.iter().sum();
    let mut drop = 0;
    while total > budget && drop < sizes.len() {
        total -= sizes[drop];
        drop += 1;
    }
    if drop > 0 {
        replay.events.drain(..drop);
        replay
            .reset
            .get_or_insert(crate::broker::ResetReason::TooOld);
    }
    replay
}

/// The retry hint, an optional reset, and the replayed events, rendered as SSE text.
pub fn first_chunks(
    retry_ms: u64,
    last_event_id: Option<&str>,
    replay: &Replay,
) -> VecDeque<Bytes> {
    let mut chunks = VecDeque::new();
    chunks.push_back(Bytes::from(format!("retry: {retry_ms}\n\n")));
    if let Some(reason) = replay.reset {
        let data = json!({ "reason": reason.as_str(), "lastEventId": last_event_id.unwrap_or("") });
        chunks.push_back(Bytes::from(format!("event: reset\ndata: {data}\n\n")));
    }
    for n in &replay.events {
        if let Ok(data) = serde_json::to_string(n) {
            chunks.push_back(render_event(&n.id, &data));
        }
    }
    chunks
}

fn render_event(id: &str, data: &str) -> Bytes {
    // serde_json never emits raw newlines, so `data` is always a single SSE line.
    Bytes::from(format!("id: {id}\nevent: notification\ndata: {data}\n\n"))
}

struct SseStream {
    pending: VecDeque<Bytes>,
    inbox: Inbox,
    overflow: CancellationToken,
    keepalive: Interval,
    shutdown: CancellationToken,
    generation: watch::Receiver<u64>,
    events: Arc<dyn EventLog>,
    newest_sent: EventPos,
    expires: Option<Instant>,
    _open: OpenStream,
    _subscription: Unsubscribe,
}

impl SseStream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.pending.pop_front() {
            return Some(chunk);
        }
        loop {
            let expires = self.expires;
            let token_expired = async move {
                match expires {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let message = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                _ = token_expired => return None,
                // Ends on a bump (test `drop-sse`) and if the sender is gone alike.
                _ = self.generation.changed() => return None,
                // A stream that cannot keep up ends; the client resumes with Last-Event-ID.
                _ = self.overflow.cancelled() => return None,
                _ = self.keepalive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
                message = self.inbox.recv() => message?,
            };
            let Message::Text(data) = message else {
                continue;
            };
            let Some((id, pos)) = self.live_event(&data) else {
                continue;
            };
            self.newest_sent = pos;
            self.keepalive.reset();
            return Some(render_event(&id, &data));
        }
    }

    /// Id and log position of a live event, if it is new to this stream.
    fn live_event(&self, data: &str) -> Option<(String, EventPos)> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: String,
        }
        let parsed: IdOnly = serde_json::from_str(data).ok()?;
        let pos = self.events.position(&parsed.id)?;
        (pos > self.newest_sent).then_some((parsed.id, pos))
    }
}

struct OpenStream {
    count: Arc<AtomicUsize>,
    _slot: SlotGuard,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Unsubscribes when the stream is dropped (the client went away or the stream ended).
struct Unsubscribe {
    broker: Arc<dyn Broker>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let broker = self.broker.clone();
        let id = self.id;
        // Drop cannot await; outside a runtime (process exit) there is nothing left to clean.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = broker.unsubscribe(TOPIC, id).await;
            });
        }
    }
}

/// Publishes a demo notification every `every` until shutdown.
pub async fn demo_loop(state: SharedState, every: Duration) {
    const DEMO: [(&str, &str); 4] = [
        ("Build finished", "All checks passed on main."),
        ("New follower", "Someone started following your project."),
        ("Disk space", "The shared volume is 85% full."),
        ("Deploy failed", "Rolling back the last release."),
    ];
    let mut ticks = interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0usize.. {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (title, message) = DEMO[n % DEMO.len()];
        let new = NewNotification {
            title: title.to_string(),
            message: message.to_string(),
            level: Level::ALL[n % Level::ALL.len()],
        };
        if let Err(e) = publish(&state, new).await {
            tracing::warn!(error = %e, "demo notification failed");
        }
    }
}

/// A JSON response body with the right content type.
pub fn json_body(value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{type:"error", code, message}` with an HTTP status.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = json_body(&json!({ "type": "error", "code": code, "message": message }));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::ResetReason;

    #[test]
    fn post_bodies_are_validated_with_defaults() {
        let ok = parse_new_notification(br#"{"message":" hi "}"#).unwrap();
        assert_eq!(
            (ok.title.as_str(), ok.message.as_str(), ok.level),
            ("Notification", "hi", Level::Info)
        );
        let full =
            parse_new_notification(br#"{"title":"T","message":"m","level":"warning"}"#).unwrap();
        assert_eq!((full.title.as_str(), full.level), ("T", Level::Warning));
        assert_eq!(parse_new_notification(b"nope").unwrap_err().0, "malformed");
        assert_eq!(parse_new_notification(b"[]").unwrap_err().0, "malformed");
        assert_eq!(
            parse_new_notification(br#"{"message":""}"#).unwrap_err().0,
            "invalid"
        );
        assert_eq!(
            parse_new_notification(br#"{"message":"m","level":"loud"}"#)
                .unwrap_err()
                .0,
            "invalid"
        );
        assert_eq!(
            parse_new_notification(br#"{"message":"m","title":3}"#)
                .unwrap_err()
                .0,
            "invalid"
        );
    }

    #[test]
    fn first_chunks_put_retry_then_reset_then_events() {
        let n = Notification {
            id: "r-1".into(),
            title: "t".into(),
            message: "m".into(),
            level: Level::Success,
            timestamp: 1,
        };
        let replay = Replay {
            reset: Some(ResetReason::TooOld),
            events: vec![n],
            newest: (1, 0),
        };
        let text: String = first_chunks(2000, Some("r-0"), &replay)
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(
            text,
            "retry: 2000\n\n\
             event: reset\ndata: {\"lastEventId\":\"r-0\",\"reason\":\"too_old\"}\n\n\
             id: r-1\nevent: notification\ndata: {\"id\":\"r-1\",\"title\":\"t\",\"message\":\"m\",\"level\":\"success\",\"timestamp\":1}\n\n"
        );
    }

    #[test]
    fn a_replay_over_the_byte_budget_keeps_the_newest_and_says_reset() {
        let event = |i: u64| Notification {
            id: format!("r-{i}"),
            title: "t".into(),
            message: "x".repeat(1000),
            level: Level::Info,
            timestamp: i,
        };
        let replay = || Replay {
            reset: None,
            events: (1..=10).map(event).collect(),
            newest: (10, 0),
        };
        let roomy = within_budget(replay(), 1 << 20);
        assert_eq!(
            (roomy.events.len(), roomy.reset),
            (10, None),
            "fits: untouched"
        );
        let tight = within_budget(replay(), 3_500);
        let ids: Vec<&str> = tight.events.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["r-8", "r-9", "r-10"], "the newest that fit");
        assert_eq!(tight.reset, Some(ResetReason::TooOld));
        let bytes: usize = first_chunks(2000, Some("r-0"), &tight)
            .iter()
            .map(|c| c.len())
            .sum();
        assert!(bytes <= 3_500 + 200, "{bytes} bytes sent at connect");
    }
}
