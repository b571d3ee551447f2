//! The client's address, for per-address limits: the socket's peer, or — when the peer is a
//! trusted proxy (`--trusted-proxies`) — the client `X-Forwarded-For` names. From anyone else the
//! header is ignored, so a client cannot claim another address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::SharedState;

/// The resolved client address of a request (`None` when the server was not told the peer,
/// e.g. a router driven without a socket in a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

/// The client of a request from `peer` carrying `forwarded` (`X-Forwarded-For`, comma-joined).
///
/// Walks the list from the right, as each proxy appends the address it received from: the
/// first hop that is not a trusted proxy is the client. A malformed hop stops the walk at the
/// last good one (what a trusted proxy itself saw).
pub fn resolve(peer: Option<IpAddr>, forwarded: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded.unwrap_or_default().rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// Middleware: puts the request's [`ClientAddr`] into its extensions.
pub async fn layer(State(state): State<SharedState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let client = resolve(peer, forwarded.as_deref(), &state.config.trusted_proxies);
    request.extensions_mut().insert(ClientAddr(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        // A client that is not a proxy cannot claim another address.
        assert_eq!(
            resolve(Some(ip("203.0.113.7")), Some("1.2.3.4"), &trusted),
            Some(ip("203.0.113.7"))
        );
        // Through a trusted proxy: the address it saw.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), Some("198.51.100.9"), &trusted),
            Some(ip("198.51.100.9"))
        );
        // Through two trusted proxies, with a forged hop at the left: the first untrusted from the right.
        assert_eq!(
            resolve(
                Some(ip("127.0.0.1")),
                Some("6.6.6.6, 198.51.100.9, 10.1.2.3"),
                &trusted
            ),
            Some(ip("198.51.100.9"))
        );
        // A trusted proxy without the header, or with garbage: the proxy itself.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), None, &trusted),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), Some("not-an-ip"), &trusted),
            Some(ip("127.0.0.1"))
        );
        // Nothing trusted: always the peer.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), Some("198.51.100.9"), &[]),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(resolve(None, Some("198.51.100.9"), &trusted), None);
    }
}
