//! The dev server binary: parses flags, binds, prints the address, serves until SIGTERM/Ctrl-C.
//! Its messages and logs carry the app's name ([`realtime_server::APP_NAME`]).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use realtime_server::config::LogFormat;
use realtime_server::{serve_configured, Config, APP_NAME};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(e) = config.validate() {
        // One line naming the flag and its range; status 2 like clap's own usage errors.
        eprintln!("{APP_NAME}: {e}");
        return ExitCode::from(2);
    }
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{APP_NAME}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{APP_NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Connections waiting to be accepted. When an instance dies, every one of its clients comes
/// back at once (to this one, through the load balancer); tokio's default of 1,024 drops the
/// SYNs beyond it, and those clients wait the kernel's 1 s SYN retransmit. The kernel caps it at
/// `net.core.somaxconn` (4,096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as `TcpListener::bind` does, so a
/// restart can take the port back at once).
fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn run(config: Config) -> std::io::Result<()> {
    let listener = bind(config.addr)?;
    let addr = listener.local_addr()?;
    // Handlers go in before the address is printed: a script may signal as soon as it reads it.
    let shutdown = shutdown_signal()?;
    {
        // Scripts wait for exactly this line to learn the port; flush so they see it now.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(app = APP_NAME, %addr, "dev server listening");
    serve_configured(config, listener, shutdown).await
}

/// `RUST_LOG` directives (`info`, `realtime_server=debug,tower=warn`), without regex support
/// so the dev server stays quick to build; logs go to stderr, stdout is for the address.
/// Logs to stderr, filtered by `RUST_LOG` (default `info`): lines for people, or one JSON
/// object per line for a log pipeline (`--log-format json`).
fn init_logging(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C); both are registered before this returns.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
