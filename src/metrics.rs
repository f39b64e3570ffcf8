//! Prometheus metrics, served at `GET /metrics` in the text format.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub source: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectoryLabels {
    pub connector: String,
    /// HTTP status, or `error` when no answer came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    pub connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RouteLabels, Counter>,
    pub events: Family<EventLabels, Counter>,
    pub publish_seconds: Histogram,
    pub bus_messages: Gauge,
    pub bus_pending: Gauge,
    pub redeliveries: Counter,
    pub events_failed: Counter,
    pub directory_calls: Family<DirectoryLabels, Counter>,
    pub directory_retries: Family<ConnectorLabels, Counter>,
    pub directory_rate_limited: Family<ConnectorLabels, Counter>,
    pub emails: Family<ResultLabels, Counter>,
    pub outbox: Gauge,
    pub restore_latency_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("reinstate"),
            http_requests: Family::default(),
            events: Family::default(),
            publish_seconds: latency_histogram(),
            bus_messages: Gauge::default(),
            bus_pending: Gauge::default(),
            redeliveries: Counter::default(),
            events_failed: Counter::default(),
            directory_calls: Family::default(),
            directory_retries: Family::default(),
            directory_rate_limited: Family::default(),
            emails: Family::default(),
            outbox: Gauge::default(),
            restore_latency_seconds: latency_histogram(),
        };
        let r = &mut m.registry;
        r.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.http_requests.clone(),
        );
        r.register(
            "events",
            "Event decisions by source and outcome (one per product decided)",
            m.events.clone(),
        );
        r.register(
            "publish_seconds",
            "Time for the bus to acknowledge an accepted event",
            m.publish_seconds.clone(),
        );
        r.register(
            "bus_messages",
            "Events on the bus, waiting or in flight",
            m.bus_messages.clone(),
        );
        r.register(
            "bus_pending",
            "Events not yet delivered to a worker (consumer lag)",
            m.bus_pending.clone(),
        );
        r.register(
            "redeliveries",
            "Deliveries of an event after its first",
            m.redeliveries.clone(),
        );
        r.register(
            "events_failed",
            "Events that ran out of deliveries and were recorded as failed",
            m.events_failed.clone(),
        );
        r.register(
            "directory_calls",
            "HTTP attempts to the directory by connector and status",
            m.directory_calls.clone(),
        );
        r.register(
            "directory_retries",
            "Directory attempts that were retries",
            m.directory_retries.clone(),
        );
        r.register(
            "directory_rate_limited",
            "Directory answers 429 Too Many Requests",
            m.directory_rate_limited.clone(),
        );
        r.register(
            "emails",
            "Emails by result (sent, failed attempt)",
            m.emails.clone(),
        );
        r.register("outbox", "Emails waiting in the outbox", m.outbox.clone());
        r.register(
            "restore_latency_seconds",
            "From the event's occurrence to the licence restored",
            m.restore_latency_seconds.clone(),
        );
        m
    }

    /// One directory attempt: its status (`None`: no answer), and whether it was a retry.
    pub fn directory_attempt(&self, connector: &str, status: Option<u16>, retry: bool) {
        let status_label = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.directory_calls
            .get_or_create(&DirectoryLabels {
                connector: connector.into(),
                status: status_label,
            })
            .inc();
        let labels = ConnectorLabels {
            connector: connector.into(),
        };
        if retry {
            self.directory_retries.get_or_create(&labels).inc();
        }
        if status == Some(429) {
            self.directory_rate_limited.get_or_create(&labels).inc();
        }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Counts every request by its route template (not the raw path: ids stay out of labels).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    metrics
        .http_requests
        .get_or_create(&RouteLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
