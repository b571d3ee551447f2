//! Endpoint resolution: from a configured endpoint to the absolute URL a `WebSocket` or
//! `EventSource` needs.
//!
//! Relative endpoints resolve against the page **origin**, never the current page path: in a
//! single-page app the path changes with every route, and the endpoint must not. For
//! [`Scheme::WebSocket`] an `http(s)://` URL is converted to `ws(s)://` (the same server, the
//! usual configuration mistake), and a `#fragment` is rejected because the browser's `WebSocket`
//! constructor throws on one.
//!
//! With the page origin `https://app.example:8443`:
//!
//! | endpoint | `Scheme::WebSocket` | `Scheme::Http` |
//! |---|---|---|
//! | `/ws/chat` | `wss://app.example:8443/ws/chat` | `https://app.example:8443/ws/chat` |
//! | `ws/chat` | `wss://app.example:8443/ws/chat` | `https://app.example:8443/ws/chat` |
//! | `//other:9000/ws` | `wss://other:9000/ws` | `https://other:9000/ws` |
//! | ` ws://localhost:3000/ws ` | `ws://localhost:3000/ws` | `UnsupportedScheme("ws")` |
//! | `https://api.example/sse` | `wss://api.example/sse` | `https://api.example/sse` |
//! | `localhost:3000/ws` | `UnsupportedScheme("localhost")` | `UnsupportedScheme("localhost")` |
//! | `javascript:alert(1)` | `UnsupportedScheme("javascript")` | `UnsupportedScheme("javascript")` |
//! | `wss:///ws` | `MissingHost("wss:///ws")` | `UnsupportedScheme("wss")` |
//! | `/ws#top` | `FragmentNotAllowed(..)` | `https://app.example:8443/ws#top` |
//! | `my chat` | `InvalidCharacter(' ')` | `InvalidCharacter(' ')` |
//! | `"   "` | `Empty` | `Empty` |

use std::fmt;

/// Which kind of URL to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `ws://` / `wss://`, for `WebSocket`.
    WebSocket,
    /// `http://` / `https://`, for `EventSource` and `fetch`.
    Http,
}

/// Why an endpoint could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// The endpoint is empty or only whitespace.
    Empty,
    /// The endpoint names a scheme that this kind of connection cannot use.
    UnsupportedScheme(String),
    /// The page origin is not `http(s)://host[:port]` (e.g. `null` for a `file://` page).
    BadOrigin(String),
    /// An absolute or `//` URL without a host.
    MissingHost(String),
    /// Whitespace or a control character inside the endpoint.
    InvalidCharacter(char),
    /// A `#fragment` in a WebSocket URL, which the browser refuses.
    FragmentNotAllowed(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "endpoint is empty"),
            Self::UnsupportedScheme(s) => write!(
                f,
                "unsupported scheme \"{s}:\" (use ws://, wss://, http://, https:// or a path)"
            ),
            Self::BadOrigin(o) => write!(f, "page origin \"{o}\" is not http(s)://host[:port]"),
            Self::MissingHost(u) => write!(f, "URL \"{u}\" has no host"),
            Self::InvalidCharacter(c) => write!(f, "endpoint contains invalid character {c:?}"),
            Self::FragmentNotAllowed(u) => {
                write!(f, "WebSocket URL \"{u}\" must not have a #fragment")
            }
        }
    }
}

impl std::error::Error for UrlError {}

/// Resolve `endpoint` against `page_origin` (`window.location.origin`) into an absolute URL.
pub fn resolve_endpoint(
    endpoint: &str,
    page_origin: &str,
    scheme: Scheme,
) -> Result<String, UrlError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(UrlError::Empty);
    }
    if let Some(c) = endpoint
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(UrlError::InvalidCharacter(c));
    }
    let url = if let Some(authority) = endpoint.strip_prefix("//") {
        let (secure, _) = parse_origin(page_origin)?;
        require_host(authority, endpoint)?;
        format!("{}:{endpoint}", scheme_name(scheme, secure))
    } else if endpoint.starts_with('/') {
        format!("{}{endpoint}", origin_for(page_origin, scheme)?)
    } else if let Some((name, rest)) = split_scheme(endpoint) {
        let converted = match (scheme, name.to_ascii_lowercase().as_str()) {
            (Scheme::WebSocket, "ws" | "wss") | (Scheme::Http, "http" | "https") => {
                endpoint.to_owned()
            }
            (Scheme::WebSocket, "http") => format!("ws:{rest}"),
            (Scheme::WebSocket, "https") => format!("wss:{rest}"),
            _ => return Err(UrlError::UnsupportedScheme(name.to_owned())),
        };
        match rest.strip_prefix("//") {
            Some(authority) => require_host(authority, endpoint)?,
            None => return Err(UrlError::MissingHost(endpoint.to_owned())),
        }
        converted
    } else {
        format!("{}/{endpoint}", origin_for(page_origin, scheme)?)
    };
    if scheme == Scheme::WebSocket && url.contains('#') {
        return Err(UrlError::FragmentNotAllowed(url));
    }
    Ok(url)
}

/// Set `key=value` in the query of `url` (percent-encoded), replacing any existing `key`.
///
/// The replacement takes the position of the first existing `key`; a `#fragment` stays last.
pub fn with_query_param(url: &str, key: &str, value: &str) -> String {
    let (before_fragment, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let (base, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let pair = format!("{}={}", percent_encode(key), percent_encode(value));
    let mut parts: Vec<&str> = Vec::new();
    let mut placed = false;
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let existing = part.split_once('=').map_or(part, |(k, _)| k);
        if percent_decode(existing) != key {
            parts.push(part);
        } else if !placed {
            parts.push(&pair);
            placed = true;
        }
    }
    if !placed {
        parts.push(&pair);
    }
    format!("{base}?{}{fragment}", parts.join("&"))
}

/// `(secure, "host[:port]")` of an `http(s)://host[:port]` origin.
fn parse_origin(origin: &str) -> Result<(bool, &str), UrlError> {
    let trimmed = origin.trim().trim_end_matches('/');
    let bad = || UrlError::BadOrigin(origin.to_owned());
    let (name, rest) = split_scheme(trimmed).ok_or_else(bad)?;
    let secure = match name.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(bad()),
    };
    let authority = rest.strip_prefix("//").ok_or_else(bad)?;
    if authority.is_empty()
        || authority.contains(['/', '?', '#'])
        || authority.contains(char::is_whitespace)
    {
        return Err(bad());
    }
    Ok((secure, authority))
}

fn origin_for(page_origin: &str, scheme: Scheme) -> Result<String, UrlError> {
    let (secure, authority) = parse_origin(page_origin)?;
    Ok(format!("{}://{authority}", scheme_name(scheme, secure)))
}

fn scheme_name(scheme: Scheme, secure: bool) -> &'static str {
    match (scheme, secure) {
        (Scheme::WebSocket, false) => "ws",
        (Scheme::WebSocket, true) => "wss",
        (Scheme::Http, false) => "http",
        (Scheme::Http, true) => "https",
    }
}

/// Split `name:rest` when the text before the first `:` is in scheme position (no `/?#` first).
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let before = &s[..colon];
    (!before.contains(['/', '?', '#'])).then(|| (before, &s[colon + 1..]))
}

fn require_host(authority: &str, url: &str) -> Result<(), UrlError> {
    if authority.starts_with(['/', '?', '#']) || authority.is_empty() {
        return Err(UrlError::MissingHost(url.to_owned()));
    }
    Ok(())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` and `+`, so `a%20b` and `a+b` both match the key `a b`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Checking the digits first: from_str_radix would also accept a sign such as "%+5".
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        let decoded = hex
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], decoded) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b, _) => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A WebSocket endpoint for an app's config, checked when the app compiles: `/path`, `ws://host…`
/// or `wss://host…`, without whitespace or control characters (every such value resolves, see
/// [`resolve_endpoint`]). Used in a `const`, a bad value is a build error naming the rule.
///
/// # Example
/// ```
/// use realtime_hooks::core::url::ws_endpoint;
/// const CHAT: &str = ws_endpoint("/ws/chat");
/// const FEED: &str = ws_endpoint("wss://rt.example.com/feed");
/// assert_eq!(CHAT, "/ws/chat");
/// # let _ = FEED;
/// ```
pub const fn ws_endpoint(url: &'static str) -> &'static str {
    assert!(
        is_ws_endpoint(url),
        "a WebSocket endpoint is /path, ws://host/path or wss://host/path (no spaces)"
    );
    url
}

/// A Server-Sent Events endpoint for an app's config, checked when the app compiles: `/path`,
/// `http://host…` or `https://host…`, without whitespace or control characters.
pub const fn sse_endpoint(url: &'static str) -> &'static str {
    assert!(
        is_http_endpoint(url),
        "an SSE endpoint is /path, http://host/path or https://host/path (no spaces)"
    );
    url
}

/// An HTTP endpoint for an app's config (an API the pages call), checked like
/// [`sse_endpoint`] when the app compiles.
pub const fn http_endpoint(url: &'static str) -> &'static str {
    assert!(
        is_http_endpoint(url),
        "an HTTP endpoint is /path, http://host/path or https://host/path (no spaces)"
    );
    url
}

/// A login endpoint for an app's config: an HTTP endpoint, or empty for an app that signs no
/// one in (it connects without tokens).
pub const fn login_endpoint(url: &'static str) -> &'static str {
    assert!(
        url.is_empty() || is_http_endpoint(url),
        "a login endpoint is empty (no sign-in), /path, http://host/path or https://host/path"
    );
    url
}

/// Whether [`ws_endpoint`] accepts `url`.
pub const fn is_ws_endpoint(url: &str) -> bool {
    clean(url) && (is_path(url) || absolute(url, "ws://") || absolute(url, "wss://"))
}

/// Whether [`sse_endpoint`] accepts `url`.
pub const fn is_http_endpoint(url: &str) -> bool {
    clean(url) && (is_path(url) || absolute(url, "http://") || absolute(url, "https://"))
}

/// `/path`, not `//host` (which would be scheme-relative).
const fn is_path(url: &str) -> bool {
    let b = url.as_bytes();
    !b.is_empty() && b[0] == b'/' && !(b.len() > 1 && b[1] == b'/')
}

/// `url` starts with `scheme` (lower case, as the resolver wants it) and a host follows.
const fn absolute(url: &str, scheme: &str) -> bool {
    let (u, s) = (url.as_bytes(), scheme.as_bytes());
    if u.len() <= s.len() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        if u[i] != s[i] {
            return false;
        }
        i += 1;
    }
    u[s.len()] != b'/'
}

/// No whitespace or control characters.
const fn clean(url: &str) -> bool {
    let b = url.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] <= b' ' || b[i] == 0x7f {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compile_time_endpoint_checks_accept_only_what_resolves() {
        let samples = [
            "/ws/chat",
            "ws://localhost:8081/ws",
            "WSS://example.com/x",
            "http://h/sse",
            "https://h/sse",
            "//evil.example/ws",
            "ws:/x",
            "ws://",
            "ws:///x",
            "/a b",
            "chat",
            "",
            "/sse?token=1",
            "wss://h:8443/rt/chat",
        ];
        for origin in ["http://localhost:8080", "https://app.example.com"] {
            for url in samples {
                let resolves = |scheme, prefixes: [&str; 2]| {
                    resolve_endpoint(url, origin, scheme)
                        .is_ok_and(|u| prefixes.iter().any(|p| u.starts_with(p)))
                };
                if is_ws_endpoint(url) {
                    assert!(
                        resolves(Scheme::WebSocket, ["ws://", "wss://"]),
                        "{url:?} on {origin}"
                    );
                }
                if is_http_endpoint(url) {
                    assert!(
                        resolves(Scheme::Http, ["http://", "https://"]),
                        "{url:?} on {origin}"
                    );
                }
            }
        }
        for good in ["/ws/chat", "ws://localhost:8081/ws", "wss://example.com/x"] {
            assert!(is_ws_endpoint(good), "{good}");
        }
        for bad in [
            "http://h/ws",
            "//evil.example/ws",
            "ws://",
            "/a b",
            "chat",
            "",
            "WSS://h/x",
        ] {
            assert!(!is_ws_endpoint(bad), "{bad}");
        }
        assert!(is_http_endpoint("/sse/notifications") && !is_http_endpoint("ws://h/x"));
    }
    use proptest::prelude::*;

    const ORIGIN: &str = "https://app.example:8443";

    fn ws(e: &str) -> Result<String, UrlError> {
        resolve_endpoint(e, ORIGIN, Scheme::WebSocket)
    }

    fn http(e: &str) -> Result<String, UrlError> {
        resolve_endpoint(e, ORIGIN, Scheme::Http)
    }

    fn ok(s: &str) -> Result<String, UrlError> {
        Ok(s.to_owned())
    }

    #[test]
    fn module_doc_table_holds() {
        use UrlError::*;
        let unsupported = |s: &str| Err(UnsupportedScheme(s.to_owned()));
        assert_eq!(ws("/ws/chat"), ok("wss://app.example:8443/ws/chat"));
        assert_eq!(http("/ws/chat"), ok("https://app.example:8443/ws/chat"));
        assert_eq!(ws("ws/chat"), ok("wss://app.example:8443/ws/chat"));
        assert_eq!(http("ws/chat"), ok("https://app.example:8443/ws/chat"));
        assert_eq!(ws("//other:9000/ws"), ok("wss://other:9000/ws"));
        assert_eq!(http("//other:9000/ws"), ok("https://other:9000/ws"));
        assert_eq!(ws(" ws://localhost:3000/ws "), ok("ws://localhost:3000/ws"));
        assert_eq!(http("ws://localhost:3000/ws"), unsupported("ws"));
        assert_eq!(ws("https://api.example/sse"), ok("wss://api.example/sse"));
        assert_eq!(
            http("https://api.example/sse"),
            ok("https://api.example/sse")
        );
        assert_eq!(ws("localhost:3000/ws"), unsupported("localhost"));
        assert_eq!(http("javascript:alert(1)"), unsupported("javascript"));
        assert_eq!(ws("wss:///ws"), Err(MissingHost("wss:///ws".to_owned())));
        assert_eq!(
            ws("/ws#top"),
            Err(FragmentNotAllowed(
                "wss://app.example:8443/ws#top".to_owned()
            ))
        );
        assert_eq!(http("/ws#top"), ok("https://app.example:8443/ws#top"));
        assert_eq!(ws("my chat"), Err(InvalidCharacter(' ')));
        assert_eq!(http("   "), Err(Empty));
    }

    #[test]
    fn plain_http_origin_gives_plain_ws_and_trailing_slash_is_tolerated() {
        let got = resolve_endpoint("/ws", "http://localhost:8080/", Scheme::WebSocket);
        assert_eq!(got, ok("ws://localhost:8080/ws"));
        assert_eq!(
            resolve_endpoint("HTTP://h/x", ORIGIN, Scheme::WebSocket),
            ok("ws://h/x")
        );
    }

    #[test]
    fn ftp_and_schemes_without_slashes_are_rejected() {
        assert_eq!(
            ws("ftp://files/x"),
            Err(UrlError::UnsupportedScheme("ftp".to_owned()))
        );
        assert_eq!(
            ws("wss:host/x"),
            Err(UrlError::MissingHost("wss:host/x".to_owned()))
        );
    }

    #[test]
    fn opaque_or_malformed_page_origins_are_bad_origins() {
        for origin in ["null", "", "file://", "https://host/path", "ws://host"] {
            let got = resolve_endpoint("/ws", origin, Scheme::WebSocket);
            assert_eq!(
                got,
                Err(UrlError::BadOrigin(origin.to_owned())),
                "origin {origin:?}"
            );
        }
    }

    #[test]
    fn query_param_is_appended_replaced_encoded_and_fragment_kept() {
        assert_eq!(with_query_param("/ws", "name", "Ada L"), "/ws?name=Ada%20L");
        assert_eq!(
            with_query_param("/ws?a=1", "name", "x&y=z"),
            "/ws?a=1&name=x%26y%3Dz"
        );
        assert_eq!(
            with_query_param("/s?lastEventId=1&b=2#f", "lastEventId", "3-9"),
            "/s?lastEventId=3-9&b=2#f"
        );
        assert_eq!(with_query_param("/s?k=1&k=2&c", "k", "é"), "/s?k=%C3%A9&c");
        assert_eq!(with_query_param("/s?a+b=1", "a b", "2"), "/s?a%20b=2");
        assert_eq!(with_query_param("/s?", "k", ""), "/s?k=");
        assert_eq!(percent_decode("%+5%4"), "% 5%4");
    }

    proptest! {
        #[test]
        fn query_param_appears_exactly_once_with_its_value(
            base in "[a-z/]{0,10}(\\?[a-z=&%+]{0,12})?(#[a-z?&]{0,5})?",
            key in "\\PC{1,8}", value in "\\PC{0,8}",
        ) {
            let fragment = base.find('#').map_or("", |i| &base[i..]);
            let url = with_query_param(&base, &key, &value);
            prop_assert!(url.ends_with(fragment));
            let query = url[..url.len() - fragment.len()].split_once('?').map_or("", |(_, q)| q);
            let values: Vec<String> = query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .filter(|(k, _)| percent_decode(k) == key)
                .map(|(_, v)| percent_decode(v))
                .collect();
            prop_assert_eq!(values, vec![value]);
        }

        #[test]
        fn resolved_websocket_urls_are_absolute_ws_urls(endpoint in "\\PC{0,20}") {
            if let Ok(url) = ws(&endpoint) {
                let lower = url.to_ascii_lowercase();
                prop_assert!(lower.starts_with("ws://") || lower.starts_with("wss://"), "{}", url);
                prop_assert!(!url.contains('#'));
            }
        }
    }
}
