//! Server settings: every flag also reads a `REALTIME_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::auth::Secret;

/// Everything the server can be told at start-up; `Default` equals running with no flags.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "realtime-server",
    version,
    about = "Dev server of the app: WebSocket chat, rooms, presence, binary echo and SSE notifications"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, env = "REALTIME_ADDR", default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,

    /// Extra exact origins allowed besides loopback ones (comma separated); `*` allows any.
    #[arg(long, env = "REALTIME_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Largest text frame accepted, in bytes; larger closes the socket with 1009.
    #[arg(long, env = "REALTIME_MAX_TEXT_BYTES", default_value_t = 65_536)]
    pub max_text_bytes: usize,

    /// Largest binary frame accepted on /ws/binary, in bytes; larger closes with 1009.
    #[arg(long, env = "REALTIME_MAX_BINARY_BYTES", default_value_t = 1_048_576)]
    pub max_binary_bytes: usize,

    /// Sustained messages per second one client may send.
    #[arg(long, env = "REALTIME_RATE_PER_SEC", default_value_t = 50)]
    pub rate_per_sec: u32,

    /// Messages one client may send in a burst before the per-second rate applies.
    #[arg(long, env = "REALTIME_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,

    /// Open WebSocket and SSE connections allowed at once; more get HTTP 503.
    #[arg(long, env = "REALTIME_MAX_CONNECTIONS", default_value_t = 1000)]
    pub max_connections: usize,

    /// Open WebSocket and SSE connections one client address may hold; more get HTTP 429.
    #[arg(long, env = "REALTIME_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Proxies whose `X-Forwarded-For` names the client (comma-separated CIDRs, e.g.
    /// `127.0.0.1/32,10.0.0.0/8`); from anyone else the header is ignored.
    #[arg(long, env = "REALTIME_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Frames queued for one client before it counts as a slow consumer (close 1013).
    #[arg(long, env = "REALTIME_OUTBOUND_QUEUE", default_value_t = 256)]
    pub outbound_queue: usize,

    /// Bytes queued for one client before it counts as a slow consumer (close 1013); a frame is
    /// taken while less than this is queued, so the largest frame still fits.
    #[arg(
        long,
        env = "REALTIME_OUTBOUND_QUEUE_BYTES",
        default_value_t = 1_048_576
    )]
    pub outbound_queue_bytes: usize,

    /// A client whose request headers are not complete this long after it connected (or after
    /// its previous request) is disconnected: slow-loris protection, in milliseconds.
    #[arg(long, env = "REALTIME_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Interval of the server's WebSocket pings (protocol pings: browsers answer them by
    /// themselves), in milliseconds.
    #[arg(long, env = "REALTIME_PING_INTERVAL_MS", default_value_t = 20_000)]
    pub ping_interval_ms: u64,

    /// A WebSocket client from which nothing (not even a pong) arrives for this long is closed
    /// with 1001, in milliseconds; must exceed `--ping-interval-ms`.
    #[arg(long, env = "REALTIME_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Presence entries not refreshed for this long are dropped, in milliseconds.
    #[arg(long, env = "REALTIME_PRESENCE_TTL_MS", default_value_t = 30_000)]
    pub presence_ttl_ms: u64,

    /// Interval between SSE keep-alive comments, in milliseconds.
    #[arg(long, env = "REALTIME_SSE_KEEPALIVE_MS", default_value_t = 15_000)]
    pub sse_keepalive_ms: u64,

    /// Reconnect delay suggested to EventSource clients, in milliseconds.
    #[arg(long, env = "REALTIME_SSE_RETRY_MS", default_value_t = 2_000)]
    pub sse_retry_ms: u64,

    /// Notifications kept for resuming with Last-Event-ID.
    #[arg(long, env = "REALTIME_SSE_BUFFER", default_value_t = 256)]
    pub sse_buffer: usize,

    /// Chat messages kept per stream (the global chat, each room) for replay after a
    /// reconnect and for newcomers.
    #[arg(long, env = "REALTIME_HISTORY_MESSAGES", default_value_t = 1_000)]
    pub history_messages: usize,

    /// Chat messages older than this many seconds leave the history.
    #[arg(long, env = "REALTIME_HISTORY_AGE_S", default_value_t = 600)]
    pub history_age_s: u64,

    /// Newest messages a client without a usable position gets on arrival.
    #[arg(long, env = "REALTIME_HISTORY_ON_JOIN", default_value_t = 50)]
    pub history_on_join: usize,

    /// Interval of the demo notification generator in milliseconds; 0 turns it off.
    #[arg(long, env = "REALTIME_DEMO_INTERVAL_MS", default_value_t = 5_000)]
    pub demo_interval_ms: u64,

    /// Mount /api/test/* (drop SSE streams, inject raw frames); never for production.
    #[arg(long, env = "REALTIME_TEST_ENDPOINTS", default_value_t = false)]
    pub test_endpoints: bool,

    /// Also serve a built app (e.g. trunk's `dist/`) from this folder, with `index.html` for
    /// unknown paths so client-side routes load; the page then shares the server's origin.
    #[arg(long, env = "REALTIME_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Share chat, presence and notifications with other instances through this Redis
    /// (`redis://127.0.0.1:6379/0`); `REDIS_URL` is read too. Unset: everything in-process.
    #[arg(long, env = "REALTIME_REDIS_URL")]
    pub redis_url: Option<String>,

    /// A PEM file of the CA to trust for a `rediss://` (TLS) Redis URL, instead of the system's
    /// roots (a self-signed or private CA).
    #[arg(long, env = "REALTIME_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Prefix of every Redis key and channel, so several apps can share one Redis.
    #[arg(long, env = "REALTIME_REDIS_PREFIX", default_value = "realtime")]
    pub redis_prefix: String,

    /// Require a JWT signed HS256 with this secret (at least 32 bytes) on every connection
    /// and on the publish API; unset: the server runs open (see `auth`).
    #[arg(long, env = "REALTIME_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<Secret>,

    /// Mount `POST /api/dev/login {name}`, which signs a short-lived token for anyone who
    /// asks; for previews only. Without `--auth-secret`, a random per-run secret is used.
    #[arg(long, env = "REALTIME_DEV_LOGIN", default_value_t = false)]
    pub dev_login: bool,

    /// Log lines for people (`text`) or one JSON object per line (`json`), with one `access`
    /// line per WebSocket connection (endpoint, user, client, duration, close code).
    #[arg(long, env = "REALTIME_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Lifetime of a dev-login token, in seconds (1..=86400).
    #[arg(long, env = "REALTIME_DEV_TOKEN_TTL_S", default_value_t = 600)]
    pub dev_token_ttl_s: u64,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (fields flattened), for a log pipeline.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            allowed_origins: Vec::new(),
            max_text_bytes: 65_536,
            max_binary_bytes: 1_048_576,
            rate_per_sec: 50,
            rate_burst: 100,
            max_connections: 1000,
            max_connections_per_ip: 256,
            trusted_proxies: Vec::new(),
            outbound_queue: 256,
            outbound_queue_bytes: 1_048_576,
            header_timeout_ms: 10_000,
            ping_interval_ms: 20_000,
            idle_timeout_ms: 60_000,
            presence_ttl_ms: 30_000,
            sse_keepalive_ms: 15_000,
            sse_retry_ms: 2_000,
            sse_buffer: 256,
            history_messages: 1_000,
            history_age_s: 600,
            history_on_join: 50,
            demo_interval_ms: 5_000,
            test_endpoints: false,
            static_dir: None,
            redis_url: None,
            redis_prefix: "realtime".to_string(),
            redis_ca_file: None,
            auth_secret: None,
            dev_login: false,
            dev_token_ttl_s: 600,
            log_format: LogFormat::Text,
        }
    }
}

impl Config {
    /// How much chat history each stream keeps.
    pub fn history_limits(&self) -> crate::history::HistoryLimits {
        crate::history::HistoryLimits {
            max_messages: self.history_messages.max(1),
            max_age: Duration::from_secs(self.history_age_s.max(1)),
            on_join: self.history_on_join,
        }
    }

    /// How long a client may take to send its request headers.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// How long a presence client may stay silent before it is dropped.
    pub fn presence_ttl(&self) -> Duration {
        Duration::from_millis(self.presence_ttl_ms.max(1))
    }

    /// Interval of the server's WebSocket pings.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(1))
    }

    /// How long a WebSocket client may stay silent (no frame, no pong) before it is closed.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }

    /// Interval between SSE keep-alive comments.
    pub fn sse_keepalive(&self) -> Duration {
        Duration::from_millis(self.sse_keepalive_ms.max(1))
    }

    /// Interval of the demo generator, or `None` when it is off.
    pub fn demo_interval(&self) -> Option<Duration> {
        (self.demo_interval_ms > 0).then(|| Duration::from_millis(self.demo_interval_ms))
    }

    /// The Redis to share state through: `--redis-url`, `REALTIME_REDIS_URL`, else
    /// `REDIS_URL` (the name most hosts and tools use); empty means none.
    pub fn redis_url(&self) -> Option<String> {
        self.redis_url
            .clone()
            .or_else(|| std::env::var("REDIS_URL").ok())
            .filter(|url| !url.trim().is_empty())
    }

    /// The signing secret in force: `--auth-secret`, else a random one for the dev login,
    /// else none (the server runs open). Call once per run: the random one differs each time.
    pub fn effective_auth_secret(&self) -> Option<Secret> {
        self.auth_secret
            .clone()
            .or_else(|| self.dev_login.then(Secret::random))
    }

    /// Checks every numeric setting against its range ([`RANGES`]); the error is one line
    /// naming the flag, its variable, the range and the value given.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, value) in self.numbers() {
            let Some((_, var, min, max)) = RANGES.iter().find(|(f, ..)| *f == flag) else {
                continue;
            };
            if value < *min || value > *max {
                return Err(format!(
                    "--{flag} ({var}) must be in {min}..={max}; got {value}"
                ));
            }
        }
        if self.idle_timeout_ms <= self.ping_interval_ms {
            return Err(format!(
                "--idle-timeout-ms (REALTIME_IDLE_TIMEOUT_MS) must exceed --ping-interval-ms ({}): a quiet client only answers pings; got {}",
                self.ping_interval_ms, self.idle_timeout_ms
            ));
        }
        Ok(())
    }

    /// Every numeric setting by flag name, widened to u64 (a `usize` always fits here).
    fn numbers(&self) -> [(&'static str, u64); 20] {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        [
            ("max-text-bytes", wide(self.max_text_bytes)),
            ("max-binary-bytes", wide(self.max_binary_bytes)),
            ("rate-per-sec", u64::from(self.rate_per_sec)),
            ("rate-burst", u64::from(self.rate_burst)),
            ("max-connections", wide(self.max_connections)),
            ("max-connections-per-ip", wide(self.max_connections_per_ip)),
            ("outbound-queue", wide(self.outbound_queue)),
            ("outbound-queue-bytes", wide(self.outbound_queue_bytes)),
            ("header-timeout-ms", self.header_timeout_ms),
            ("ping-interval-ms", self.ping_interval_ms),
            ("idle-timeout-ms", self.idle_timeout_ms),
            ("presence-ttl-ms", self.presence_ttl_ms),
            ("sse-keepalive-ms", self.sse_keepalive_ms),
            ("sse-retry-ms", self.sse_retry_ms),
            ("sse-buffer", wide(self.sse_buffer)),
            ("history-messages", wide(self.history_messages)),
            ("history-age-s", self.history_age_s),
            ("history-on-join", wide(self.history_on_join)),
            ("demo-interval-ms", self.demo_interval_ms),
            ("dev-token-ttl-s", self.dev_token_ttl_s),
        ]
    }

    /// Outbound queue capacity; a zero-sized channel cannot exist, so at least 1.
    pub fn outbound_capacity(&self) -> usize {
        self.outbound_queue.max(1)
    }
}

/// The range of every numeric flag: (flag, variable, min, max). Out of range, the server exits
/// with status 2 before binding (see [`Config::validate`]); inside them no duration or size
/// arithmetic can overflow.
pub const RANGES: &[(&str, &str, u64, u64)] = &[
    (
        "max-text-bytes",
        "REALTIME_MAX_TEXT_BYTES",
        1,
        16 * 1024 * 1024,
    ),
    (
        "max-binary-bytes",
        "REALTIME_MAX_BINARY_BYTES",
        1,
        64 * 1024 * 1024,
    ),
    ("rate-per-sec", "REALTIME_RATE_PER_SEC", 1, 1_000_000),
    ("rate-burst", "REALTIME_RATE_BURST", 1, 1_000_000),
    ("max-connections", "REALTIME_MAX_CONNECTIONS", 1, 1_000_000),
    (
        "max-connections-per-ip",
        "REALTIME_MAX_CONNECTIONS_PER_IP",
        1,
        1_000_000,
    ),
    ("outbound-queue", "REALTIME_OUTBOUND_QUEUE", 1, 1_000_000),
    (
        "outbound-queue-bytes",
        "REALTIME_OUTBOUND_QUEUE_BYTES",
        1024,
        1024 * 1024 * 1024,
    ),
    (
        "ping-interval-ms",
        "REALTIME_PING_INTERVAL_MS",
        100,
        3_600_000,
    ),
    (
        "idle-timeout-ms",
        "REALTIME_IDLE_TIMEOUT_MS",
        200,
        86_400_000,
    ),
    (
        "presence-ttl-ms",
        "REALTIME_PRESENCE_TTL_MS",
        100,
        86_400_000,
    ),
    (
        "sse-keepalive-ms",
        "REALTIME_SSE_KEEPALIVE_MS",
        100,
        86_400_000,
    ),
    ("sse-retry-ms", "REALTIME_SSE_RETRY_MS", 0, 86_400_000),
    ("sse-buffer", "REALTIME_SSE_BUFFER", 1, 1_000_000),
    (
        "demo-interval-ms",
        "REALTIME_DEMO_INTERVAL_MS",
        0,
        86_400_000,
    ),
    ("dev-token-ttl-s", "REALTIME_DEV_TOKEN_TTL_S", 1, 86_400),
    ("history-messages", "REALTIME_HISTORY_MESSAGES", 1, 100_000),
    ("history-age-s", "REALTIME_HISTORY_AGE_S", 1, 7 * 86_400),
    ("history-on-join", "REALTIME_HISTORY_ON_JOIN", 0, 1_000),
    (
        "header-timeout-ms",
        "REALTIME_HEADER_TIMEOUT_MS",
        100,
        600_000,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_in_range_and_every_bound_is_checked() {
        assert_eq!(Config::default().validate(), Ok(()));
        let flags: Vec<&str> = Config::default()
            .numbers()
            .iter()
            .map(|(f, _)| *f)
            .collect();
        for (flag, var, min, max) in RANGES {
            assert!(flags.contains(flag), "{flag} has a value to check");
            assert!(var.starts_with("REALTIME_"));
            assert!(min <= max);
        }
        let too_long = Config {
            presence_ttl_ms: u64::MAX,
            ..Config::default()
        };
        let error = too_long.validate().unwrap_err();
        assert!(
            error.starts_with(
                "--presence-ttl-ms (REALTIME_PRESENCE_TTL_MS) must be in 100..=86400000"
            ),
            "{error}"
        );
        let none = Config {
            outbound_queue: 0,
            ..Config::default()
        };
        assert!(none.validate().unwrap_err().contains("--outbound-queue"));
    }

    #[test]
    fn parsing_no_flags_gives_the_default_config() {
        use clap::{CommandFactory, FromArgMatches};
        let command = Config::command();
        let vars: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        let flags = command
            .get_arguments()
            .filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version"))
            .count();
        assert_eq!(
            vars.len(),
            flags,
            "every flag has a REALTIME_* variable: {vars:?}"
        );
        assert!(vars.iter().all(|e| e.starts_with("REALTIME_")), "{vars:?}");
        // Without the env fallbacks, so a developer's exported REALTIME_* cannot interfere.
        let no_env = command.mut_args(|a| a.env(None::<&str>));
        let parsed = no_env
            .try_get_matches_from(["realtime-server"])
            .and_then(|m| Config::from_arg_matches(&m))
            .map_err(|e| e.to_string());
        assert_eq!(parsed, Ok(Config::default()));
    }

    #[test]
    fn flags_override_defaults_and_origins_split_on_commas() {
        let parsed = Config::try_parse_from([
            "realtime-server",
            "--addr",
            "127.0.0.1:0",
            "--allowed-origins",
            "https://a.example,https://b.example",
            "--rate-per-sec",
            "5",
            "--demo-interval-ms",
            "0",
            "--test-endpoints",
        ])
        .map_err(|e| e.to_string());
        let config = parsed.unwrap_or_else(|e| panic!("flags should parse: {e}"));
        assert_eq!(config.addr.port(), 0);
        assert_eq!(
            config.allowed_origins,
            vec![
                "https://a.example".to_string(),
                "https://b.example".to_string()
            ]
        );
        assert_eq!(config.rate_per_sec, 5);
        assert_eq!(config.demo_interval(), None);
        assert!(config.test_endpoints);
    }
}
