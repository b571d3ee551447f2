//! `/metrics`: counters and gauges in the Prometheus text format (OpenMetrics), through
//! `prometheus-client`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `realtime_connections` | gauge | `endpoint` (`chat`, `typed-chat`, `presence`, `binary`, `sse`) |
//! | `realtime_messages_in_total` | counter | `endpoint`: data frames received |
//! | `realtime_messages_out_total` | counter | `endpoint`: frames written to clients |
//! | `realtime_closes_total` | counter | `endpoint`, `code` (the server's close code, or `client` when the client went first) |
//! | `realtime_rate_limited_total` | counter | `endpoint`: frames refused by the rate limit |
//! | `realtime_slow_consumers_total` | counter | `endpoint`: clients closed with 1013 |
//! | `realtime_sse_replays_total` | counter | `outcome` (`exact`, `reset`): SSE connects that resumed |
//! | `realtime_backend_degraded` | gauge | 1 while a shared service (Redis) is away |
//! | `realtime_redis_reconnects` | gauge | Redis reconnects so far (0 in-process) |
//!
//! What to alert on: `server/README.md`, "Metrics".

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `endpoint` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// Endpoint name.
    pub endpoint: String,
}

/// The labels of a close.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabel {
    /// Endpoint name.
    pub endpoint: String,
    /// Close code, or `client`.
    pub code: String,
}

/// The label of an SSE replay.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplayLabel {
    /// `exact` or `reset`.
    pub outcome: String,
}

/// Every metric of this instance.
pub struct Metrics {
    registry: Registry,
    connections: Family<EndpointLabel, Gauge>,
    messages_in: Family<EndpointLabel, Counter>,
    messages_out: Family<EndpointLabel, Counter>,
    closes: Family<CloseLabel, Counter>,
    rate_limited: Family<EndpointLabel, Counter>,
    slow_consumers: Family<EndpointLabel, Counter>,
    sse_replays: Family<ReplayLabel, Counter>,
    degraded: Gauge,
    redis_reconnects: Gauge,
}

/// One endpoint's handles, taken once per connection (increments are then plain atomics).
#[derive(Clone, Debug)]
pub struct EndpointMetrics {
    /// Open connections.
    pub connections: Gauge,
    /// Data frames received.
    pub messages_in: Counter,
    /// Frames written.
    pub messages_out: Counter,
    /// Frames refused by the rate limit.
    pub rate_limited: Counter,
    /// Clients closed as slow consumers.
    pub slow_consumers: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            connections: Family::default(),
            messages_in: Family::default(),
            messages_out: Family::default(),
            closes: Family::default(),
            rate_limited: Family::default(),
            slow_consumers: Family::default(),
            sse_replays: Family::default(),
            degraded: Gauge::default(),
            redis_reconnects: Gauge::default(),
            registry: Registry::default(),
        };
        let m = &metrics;
        registry.register(
            "realtime_connections",
            "Open connections",
            m.connections.clone(),
        );
        registry.register(
            "realtime_messages_in",
            "Data frames received from clients",
            m.messages_in.clone(),
        );
        registry.register(
            "realtime_messages_out",
            "Frames written to clients",
            m.messages_out.clone(),
        );
        registry.register(
            "realtime_closes",
            "Connections closed, by the server's close code (or client)",
            m.closes.clone(),
        );
        registry.register(
            "realtime_rate_limited",
            "Frames refused by the rate limit",
            m.rate_limited.clone(),
        );
        registry.register(
            "realtime_slow_consumers",
            "Clients closed with 1013 because their outbound queue filled",
            m.slow_consumers.clone(),
        );
        registry.register(
            "realtime_sse_replays",
            "SSE connects that resumed from Last-Event-ID",
            m.sse_replays.clone(),
        );
        registry.register(
            "realtime_backend_degraded",
            "1 while a shared service (Redis) is unreachable",
            m.degraded.clone(),
        );
        registry.register(
            "realtime_redis_reconnects",
            "Redis reconnects since start (0 in-process)",
            m.redis_reconnects.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// The handles of `endpoint`.
    pub fn endpoint(&self, endpoint: &str) -> EndpointMetrics {
        let label = EndpointLabel {
            endpoint: endpoint.to_owned(),
        };
        EndpointMetrics {
            connections: self.connections.get_or_create(&label).clone(),
            messages_in: self.messages_in.get_or_create(&label).clone(),
            messages_out: self.messages_out.get_or_create(&label).clone(),
            rate_limited: self.rate_limited.get_or_create(&label).clone(),
            slow_consumers: self.slow_consumers.get_or_create(&label).clone(),
        }
    }

    /// A connection of `endpoint` ended: with the server's `code`, or by the client (`None`).
    pub fn closed(&self, endpoint: &str, code: Option<u16>) {
        let label = CloseLabel {
            endpoint: endpoint.to_owned(),
            code: code.map_or_else(|| "client".to_owned(), |c| c.to_string()),
        };
        self.closes.get_or_create(&label).inc();
    }

    /// An SSE connect resumed: exactly, or with a `reset`.
    pub fn sse_replay(&self, exact: bool) {
        let outcome = if exact { "exact" } else { "reset" };
        self.sse_replays
            .get_or_create(&ReplayLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the backend's state read now.
    pub fn render(&self, degraded: bool, redis_reconnects: u64) -> String {
        self.degraded.set(i64::from(degraded));
        self.redis_reconnects
            .set(i64::try_from(redis_reconnects).unwrap_or(i64::MAX));
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_endpoints_codes_and_the_backend() {
        let m = Metrics::default();
        let chat = m.endpoint("chat");
        chat.connections.inc();
        chat.messages_in.inc_by(3);
        m.closed("chat", Some(1013));
        m.closed("chat", None);
        m.sse_replay(false);
        let text = m.render(true, 2);
        for line in [
            r#"realtime_connections{endpoint="chat"} 1"#,
            r#"realtime_messages_in_total{endpoint="chat"} 3"#,
            r#"realtime_closes_total{endpoint="chat",code="1013"} 1"#,
            r#"realtime_closes_total{endpoint="chat",code="client"} 1"#,
            r#"realtime_sse_replays_total{outcome="reset"} 1"#,
            "realtime_backend_degraded 1",
            "realtime_redis_reconnects 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
