//! The HTTP/1.1 accept loop: `TCP_NODELAY`, the client's address for the handlers, WebSocket
//! upgrades, graceful shutdown, and a header-read timeout.
//!
//! Why not `axum::serve`: it gives hyper no timer, so hyper has no header-read timeout, and a
//! client that opens connections and sends its request headers a byte at a time (slow-loris)
//! holds each one forever — before any of the server's own limits (connection slots, idle
//! timeouts) can see it, since those start with a request. This loop is `axum::serve`'s, with
//! hyper's `header_read_timeout` on a Tokio timer: a client whose headers are not complete
//! within `--header-timeout-ms` of its connection (or of the end of its previous request) is
//! disconnected.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Pause after a failed `accept` (out of file descriptors, say) before the next one, so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` fires, then lets every connection finish its
/// current request (WebSockets are closed by their own loops) and returns once all are gone.
/// Bound the wait from outside: a client that never reads can hold a response open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    header_timeout: Duration,
) {
    let connections = TaskTracker::new();
    loop {
        let (tcp, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Real-time frames are small; Nagle's algorithm would hold them back waiting for ACKs.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                request
            });
        let stop = stop.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
