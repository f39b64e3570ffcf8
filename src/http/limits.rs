//! The per-client connection cap (`server.max_connections_per_client`): how many connections
//! each client address holds, and the `429` a connection over it gets before it is closed.

use std::sync::Arc;

/// Connections held, by client address.
type HeldBy = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// How many connections each client address holds, against the per-client cap (`None`: not
/// applied, behind a proxy).
#[derive(Clone)]
pub struct PerClient {
    cap: Option<usize>,
    held: HeldBy,
    refused: prometheus_client::metrics::counter::Counter,
}

impl PerClient {
    /// `cap` connections per address (`None`: uncapped), refusals counted in `refused`.
    pub fn new(cap: Option<usize>, refused: prometheus_client::metrics::counter::Counter) -> Self {
        PerClient {
            cap,
            held: Arc::default(),
            refused,
        }
    }

    /// Takes one connection for `ip`, or `None` when it holds its cap already.
    pub(super) fn take(&self, ip: std::net::IpAddr) -> Option<Held> {
        let Some(cap) = self.cap else {
            return Some(Held(None));
        };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(ip).or_default();
        if *n >= cap {
            self.refused.inc();
            return None;
        }
        *n += 1;
        Some(Held(Some((self.held.clone(), ip))))
    }
}

/// A connection counted against its client's cap until dropped.
pub(super) struct Held(Option<(HeldBy, std::net::IpAddr)>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((held, ip)) = self.0.take() {
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = held.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    held.remove(&ip);
                }
            }
        }
    }
}

impl PerClient {
    /// The answer to a connection over its client's cap, written before it is closed.
    pub(super) fn refusal(&self) -> String {
        over_cap(self.cap)
    }
}

fn over_cap(cap: Option<usize>) -> String {
    let body = serde_json::json!({
        "error": "too_many_connections",
        "detail": format!(
            "this address holds {} connections already (server.max_connections_per_client); \
             close some and try again",
            cap.unwrap_or_default()
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
