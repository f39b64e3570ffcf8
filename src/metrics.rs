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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

/// 0, 1, 2, 3, 5, 8 … calls.
fn calls_histogram() -> Histogram {
    Histogram::new([0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0])
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Declares every metric once: its field (also its name, after the `reinstate_` prefix), its
/// type, how it starts, and its help text.
macro_rules! metrics {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $init:expr, $help:literal;)*) => {
        pub struct Metrics {
            registry: Registry,
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Metrics {
            pub fn new() -> Metrics {
                let mut registry = Registry::with_prefix("reinstate");
                $(
                    let $field: $ty = $init;
                    registry.register(stringify!($field), $help, $field.clone());
                )*
                Metrics { registry, $($field,)* }
            }
        }
    };
}

metrics! {
    http_requests: Family<RouteLabels, Counter> = Family::default(),
        "HTTP requests by route, method and status";
    events: Family<EventLabels, Counter> = Family::default(),
        "Event decisions by source and outcome (one per product decided)";
    publish_seconds: Histogram = latency_histogram(),
        "Time for the bus to acknowledge an accepted event";
    bus_messages: Gauge = Gauge::default(), "Events on the bus, waiting or in flight";
    bus_pending: Gauge = Gauge::default(), "Events not yet delivered to a worker (consumer lag)";
    redeliveries: Counter = Counter::default(), "Deliveries of an event after its first";
    events_failed: Counter = Counter::default(),
        "Events that ran out of deliveries and were recorded as failed";
    directory_calls: Family<DirectoryLabels, Counter> = Family::default(),
        "HTTP attempts to the directory by connector and status";
    directory_retries: Family<ConnectorLabels, Counter> = Family::default(),
        "Directory attempts that were retries";
    directory_rate_limited: Family<ConnectorLabels, Counter> = Family::default(),
        "Directory answers 429 Too Many Requests";
    emails: Family<ResultLabels, Counter> = Family::default(),
        "Emails by result (sent, failed attempt)";
    outbox: Gauge = Gauge::default(), "Emails waiting in the outbox";
    state_owner: Gauge = Gauge::default(),
        "1 while this process owns the state, 0 while it stands by (and in an intake)";
    restore_latency_seconds: Histogram = latency_histogram(),
        "From the event's occurrence to the licence restored";
    calls_per_event: Family<OutcomeLabels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(calls_histogram),
        "Directory calls a login made, by what it came to";
    inventory_sync_pages: Counter = Counter::default(), "Pages of the directory's listing synced";
    inventory_sync_accounts: Counter = Counter::default(), "Accounts written by inventory syncs";
    inventory_sync_seconds: Histogram = latency_histogram(), "Duration of complete inventory syncs";
    inventory_accounts: Family<StatusLabels, Gauge> = Family::default(),
        "Accounts in the inventory by status, at the last sync";
    connections_refused: Counter = Counter::default(),
        "Connections answered 429 because their client address held its cap";
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
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

/// The `method` label: the standard methods, and `other` for any other (a client can send any
/// token as a method; each would otherwise become a label for the life of the process).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// Counts every request by its route template (not the raw path: ids stay out of labels) and
/// its method, both from bounded sets.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method()).to_string();
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
