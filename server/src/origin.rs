//! Origin policy (403 before any upgrade) and CORS for the browser pages served elsewhere.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::SharedState;

/// Which `Origin` headers are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    allow_any: bool,
    exact: Vec<String>,
}

impl OriginPolicy {
    /// Loopback origins always, plus `extra` exact origins; `*` in `extra` allows any.
    pub fn new(extra: &[String]) -> Self {
        let extra: Vec<String> = extra
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        Self {
            allow_any: extra.iter().any(|o| o == "*"),
            exact: extra,
        }
    }

    /// Whether a request with this `Origin` (or none: a non-browser client) may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        self.allow_any || is_loopback_origin(origin) || self.exact.iter().any(|o| o == origin)
    }
}

/// `http(s)://localhost|127.0.0.1|[::1]` with any port (or none).
pub fn is_loopback_origin(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return false;
    };
    let host_and_port = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .find_map(|host| rest.strip_prefix(host));
    match host_and_port {
        Some("") => true,
        Some(port) => port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        }),
        None => false,
    }
}

/// Refuses disallowed origins with 403, answers CORS preflights, and tags allowed responses.
pub async fn guard(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let origin = match request.headers().get(header::ORIGIN) {
        None => None,
        // A header that is not even visible ASCII cannot match any allowed origin.
        Some(value) => match value.to_str() {
            Ok(s) => Some(s.to_string()),
            Err(_) => return forbidden(),
        },
    };
    if !state.origins.allows(origin.as_deref()) {
        tracing::debug!(origin = origin.as_deref().unwrap_or(""), "refused origin");
        return forbidden();
    }
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let Ok(origin_value) = HeaderValue::from_str(&origin) else {
        return forbidden();
    };

    let mut response = if request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, last-event-id, authorization"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        preflight
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "origin not allowed\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_on_any_port_are_allowed_by_default() {
        let policy = OriginPolicy::new(&[]);
        for ok in [
            "http://localhost:8080",
            "http://127.0.0.1:1",
            "https://[::1]:65535",
            "http://localhost",
            "HTTP://LOCALHOST:3000",
        ] {
            assert!(policy.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
            "http://localhost:",
            "http://localhost:80a",
            "ws://localhost:8080",
            "null",
            "https://example.com",
        ] {
            assert!(!policy.allows(Some(bad)), "{bad}");
        }
        assert!(policy.allows(None), "non-browser clients send no Origin");
    }

    #[test]
    fn extra_origins_are_exact_and_star_allows_all() {
        let policy = OriginPolicy::new(&["https://app.example".into()]);
        assert!(policy.allows(Some("https://app.example")));
        assert!(!policy.allows(Some("https://app.example:444")));
        assert!(
            policy.allows(Some("http://localhost:1")),
            "loopback stays allowed"
        );
        assert!(OriginPolicy::new(&["*".into()]).allows(Some("https://anything.example")));
    }
}
