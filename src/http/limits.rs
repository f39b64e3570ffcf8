//! The per-client cap (`server.max_connections_per_client`): how many connections each client
//! address holds, and the `429` a connection over it gets before it is closed. Behind proxies
//! every connection is a proxy's, so there the cap counts each real client's requests in
//! progress instead (its address from the proxies' header), and one over it is answered `429`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::client::ClientAddress;
use crate::http::error::ApiError;

/// Connections held, by client address.
type HeldBy = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// How many connections (or, behind proxies, requests) each client holds, against the cap.
#[derive(Clone)]
pub struct PerClient {
    cap: usize,
    clients: ClientAddress,
    held: HeldBy,
    refused: prometheus_client::metrics::counter::Counter,
}

impl PerClient {
    /// `cap` per client, found as `clients` says; refusals counted in `refused`.
    pub fn new(
        cap: usize,
        clients: ClientAddress,
        refused: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        PerClient {
            cap,
            clients,
            held: Arc::default(),
            refused,
        }
    }

    /// Takes one connection from `peer`, or `None` when it holds its cap already (always
    /// taken behind proxies: there requests are counted).
    pub(super) fn take_connection(&self, peer: IpAddr) -> Option<Held> {
        if self.clients.behind_proxy() {
            return Some(Held(None));
        }
        self.take(peer)
    }

    /// Behind proxies, takes one request in progress for the request's client, or names the
    /// client when it holds its cap already.
    pub(super) fn take_request(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Held, IpAddr> {
        if !self.clients.behind_proxy() {
            return Ok(Held(None));
        }
        let client = self.clients.of(peer, headers);
        self.take(client).ok_or(client)
    }

    /// The answer to a request over its client's cap (behind proxies; the connection is kept).
    pub(super) fn too_many_requests(&self, client: IpAddr) -> Response {
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            format!(
                "this client ({client}) has {} requests in progress already \
                 (server.max_connections_per_client); wait for them and try again",
                self.cap
            ),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }

    fn take(&self, ip: IpAddr) -> Option<Held> {
        let cap = self.cap;
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
pub(super) struct Held(Option<(HeldBy, IpAddr)>);

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

fn over_cap(cap: usize) -> String {
    let body = serde_json::json!({
        "error": "too_many_connections",
        "detail": format!(
            "this address holds {} connections already (server.max_connections_per_client); \
             close some and try again",
            cap
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
