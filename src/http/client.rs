//! What a request says about its client: the value of one of its cookies; and where it comes
//! from: the connection's address, or behind `portal.trusted_proxies`
//! proxies the entry that many from the right of `portal.client_ip_header` (what the outermost
//! proxy saw); entries further left are whatever the client wrote. The portal's rate limits,
//! the per-client cap behind a proxy and the console's sessions all use it.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

/// The value of the request's cookie `name`, when it sent one.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// How to find a request's client.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    /// The header's name, lower case; `None`: the connection's address.
    header: Option<String>,
    trusted_proxies: usize,
}

impl ClientAddress {
    pub fn new(header: Option<&str>, trusted_proxies: usize) -> ClientAddress {
        ClientAddress {
            header: header.map(str::to_ascii_lowercase),
            trusted_proxies,
        }
    }

    /// Whether requests come through proxies (every connection is then a proxy's).
    pub fn behind_proxy(&self) -> bool {
        self.header.is_some()
    }

    /// The client of a request that came over a connection from `peer`.
    pub fn of(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let Some(name) = self.header.as_deref() else {
            return peer.ip();
        };
        let entries: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        entries
            .len()
            .checked_sub(self.trusted_proxies)
            .and_then(|i| entries[i].parse().ok())
            .unwrap_or(peer.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_taken_a_trusted_hop_count_from_the_right() {
        let peer: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
        let xff = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", v.parse().expect("value"));
            h
        };
        let one = ClientAddress::new(Some("X-Forwarded-For"), 1);
        // The client wrote the first two; the proxy appended what it saw.
        let forged = xff("1.1.1.1, 2.2.2.2, 203.0.113.9");
        assert_eq!(one.of(peer, &forged).to_string(), "203.0.113.9");
        let two = ClientAddress::new(Some("X-Forwarded-For"), 2);
        assert_eq!(two.of(peer, &forged).to_string(), "2.2.2.2");
        assert_eq!(two.of(peer, &xff("203.0.113.9")).to_string(), "10.0.0.1");
        assert_eq!(one.of(peer, &HeaderMap::new()).to_string(), "10.0.0.1");
        assert_eq!(
            ClientAddress::default().of(peer, &forged).to_string(),
            "10.0.0.1"
        );
    }
}
