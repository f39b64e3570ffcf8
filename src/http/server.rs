//! The HTTP server: accepts connections up to `server.max_connections`, and gives every client
//! a deadline for each part of a request — its headers (and, on a kept-alive connection, the
//! wait for the next request), its body, and any silence on the wire — so that slow or silent
//! clients cannot hold connections, file descriptors or workers. Headers are capped in size
//! (`431`). On cancellation it stops accepting, lets requests in flight finish, and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::domain::{LOCALES, Problems, Spelling};

/// What this process does (`server.role`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessRole {
    /// Everything, in one process: the default.
    #[default]
    All,
    /// The receivers only (webhooks, email links, the portal): no store, any number of them.
    Intake,
    /// The workers, the admin API, the console, the schedules and the store: one at a time.
    State,
}

impl ProcessRole {
    pub fn key(self) -> &'static str {
        match self {
            ProcessRole::All => "all",
            ProcessRole::Intake => "intake",
            ProcessRole::State => "state",
        }
    }
    /// Serves the receivers.
    pub fn receives(self) -> bool {
        self != ProcessRole::State
    }
    /// Owns the store: workers, schedules, the admin API and the console.
    pub fn keeps_state(self) -> bool {
        self != ProcessRole::Intake
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// The externally reachable base URL, used to build links.
    pub public_url: String,
    /// On SIGTERM, how long in-flight requests, events and the email being sent may take
    /// before the process exits anyway (unfinished events are delivered again later).
    pub shutdown_grace_secs: u64,
    /// Connections served at once; more wait to be accepted. Kept below the process's limit of
    /// open files, which reinstate raises to its maximum at start.
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are answered `429` and closed,
    /// so that one client cannot take the connections the others (and health probes) need.
    /// Behind a proxy (`portal.client_ip_header`) every connection is the proxy's, and this
    /// is not applied: the proxy limits its clients.
    pub max_connections_per_client: usize,
    /// Time for a new connection's first byte to arrive; a connection that sends nothing is
    /// closed then, well before the header deadline.
    pub first_byte_timeout_secs: u64,
    /// Time for a request's line and headers to arrive, and for the next request on a
    /// kept-alive connection.
    pub header_timeout_secs: u64,
    /// Time for a request's whole body to arrive.
    pub body_timeout_secs: u64,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout_secs: u64,
    /// Largest request line and headers together (`431` beyond).
    pub max_header_bytes: usize,
    /// The organisation's name, shown on the console and the pages people who come back see.
    pub organisation_name: String,
    /// An optional logo (an https URL) shown beside the name.
    pub logo_url: Option<String>,
    /// The organisation's locale: how what reinstate writes to people is spelt (`en-GB`, the
    /// default, "licence"; `en-US`, "license").
    pub locale: String,
    /// How long a console sign-in lasts at most, used or not.
    pub session_hours: u64,
    /// A console session unused for this long ends.
    pub session_idle_minutes: u64,
    /// What this process does: `all`, `intake` or `state` (the last two need NATS).
    pub role: ProcessRole,
    /// Where the state service answers (named by an intake's 404 for the admin API and the
    /// console).
    pub state_url: Option<String>,
    /// Where the intake service answers (named by the state service's 404 for the receivers).
    pub intake_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            shutdown_grace_secs: 25,
            max_connections: 1024,
            max_connections_per_client: 64,
            first_byte_timeout_secs: 3,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 30,
            max_header_bytes: 16 * 1024,
            organisation_name: "reinstate".into(),
            logo_url: None,
            locale: "en-GB".into(),
            session_hours: 8,
            session_idle_minutes: 30,
            role: ProcessRole::All,
            state_url: None,
            intake_url: None,
        }
    }
}

impl ServerConfig {
    /// How reinstate spells for this organisation (British when the locale is not one).
    pub fn spelling(&self) -> Spelling {
        Spelling::from_locale(&self.locale).unwrap_or_default()
    }

    pub fn check(&self, problems: &mut Problems) {
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.add(
                "server.listen",
                format!("{:?} is not an address like 127.0.0.1:8080", self.listen),
            );
        }
        problems.http_url("server.public_url", &self.public_url);
        problems.positive(&[
            ("server.shutdown_grace_secs", self.shutdown_grace_secs),
            ("server.max_connections", self.max_connections as u64),
            (
                "server.max_connections_per_client",
                self.max_connections_per_client as u64,
            ),
            (
                "server.first_byte_timeout_secs",
                self.first_byte_timeout_secs,
            ),
            ("server.header_timeout_secs", self.header_timeout_secs),
            ("server.body_timeout_secs", self.body_timeout_secs),
            ("server.idle_timeout_secs", self.idle_timeout_secs),
        ]);
        if let Some(logo) = &self.logo_url
            && !logo.starts_with("https://")
        {
            problems.add("server.logo_url", "an https URL");
        }
        if self.organisation_name.trim().is_empty() || self.organisation_name.len() > 100 {
            problems.add("server.organisation_name", "1 to 100 characters");
        }
        if Spelling::from_locale(&self.locale).is_none() {
            problems.add(
                "server.locale",
                format!("{:?} is not one of {}", self.locale, LOCALES.join(", ")),
            );
        }
        problems.positive(&[
            ("server.session_hours", self.session_hours),
            ("server.session_idle_minutes", self.session_idle_minutes),
        ]);
        for (key, url) in [
            ("server.state_url", &self.state_url),
            ("server.intake_url", &self.intake_url),
        ] {
            if let Some(url) = url {
                problems.http_url(key, url);
            }
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            problems.add("server.max_header_bytes", "between 1024 and 1048576");
        }
    }
}

/// The body's deadline passed before it all arrived.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Serves `router` on `listener` until `cancel`, then waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    max_connections: usize,
    per_client: crate::http::limits::PerClient,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    let first_byte = Duration::from_secs(config.first_byte_timeout_secs);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            _ = cancel.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or the like: wait for connections to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(held) = per_client.take_connection(peer.ip()) else {
            // Answered and closed at once, its slot given back: the others keep theirs.
            drop(slot);
            let answer = per_client.refusal();
            connections.spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let write = stream.write_all(answer.as_bytes());
                let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let (router, config, cancel) = (router.clone(), config.clone(), cancel.clone());
        let per_client = per_client.clone();
        connections.spawn(async move {
            // A connection that sends nothing is closed soon, not at the header deadline.
            let mut byte = [0u8; 1];
            let first = tokio::time::timeout(first_byte, stream.peek(&mut byte)).await;
            if matches!(first, Ok(Ok(n)) if n > 0) {
                connection(stream, peer, router, &config, per_client, cancel).await;
            }
            drop((held, slot));
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// One connection, HTTP/1.1, until the client or a deadline closes it, or the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: &ServerConfig,
    per_client: crate::http::limits::PerClient,
    cancel: CancellationToken,
) {
    let body_timeout = Duration::from_secs(config.body_timeout_secs);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let (method, path) = (request.method().clone(), request.uri().path().to_string());
        let request = request.map(|body| Body::new(Deadline::new(body, body_timeout)));
        // Behind proxies, a client over its cap is answered at once, the connection kept.
        let held = per_client.take_request(peer, request.headers());
        let answer = router.clone().oneshot(request);
        let per_client = per_client.clone();
        async move {
            use futures::FutureExt;
            let _held = match held {
                Ok(held) => held,
                Err(client) => return Ok(per_client.too_many_requests(client)),
            };
            // A handler that panics is a bug: logged with where it happened, answered with
            // the one error body, and the connection kept.
            match std::panic::AssertUnwindSafe(answer).catch_unwind().await {
                Ok(answered) => answered,
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let cause = format!("{method} {path}: a handler panicked: {why}");
                    Ok(axum::response::IntoResponse::into_response(
                        crate::http::error::ApiError::internal(&cause),
                    ))
                }
            }
        }
    });
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let io = TokioIo::new(Idle::new(stream, idle));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_timeout_secs))
        .max_header_size(config.max_header_bytes);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// A request body that fails with `BodyTimeout` once its deadline has passed.
struct Deadline {
    body: Incoming,
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(body: Incoming, limit: Duration) -> Deadline {
        Deadline {
            body,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(self.sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyTimeout(self.limit).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection that fails once no byte has moved either way for `limit`. Progress only
/// records the time; the timer is re-armed when it fires early, not on every read.
struct Idle {
    stream: TcpStream,
    limit: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(stream: TcpStream, limit: Duration) -> Idle {
        Idle {
            stream,
            limit,
            last: Instant::now(),
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }

    /// On progress, notes the time; while waiting, fails once the silence has lasted `limit`.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if polled.is_ready() {
            self.last = Instant::now();
            return polled;
        }
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last + self.limit;
            if Instant::now() >= due {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no byte moved on the connection for the idle timeout",
                )));
            }
            self.sleep.as_mut().reset(due);
        }
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.watch(cx, polled)
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Raises the soft limit of open files to the hard one, and returns how many connections fit
/// under it (a reserve kept for the store, the bus, the directory and email), at most `wanted`.
pub fn connections_within_file_limit(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const RESERVE: u64 = 256;
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(max)) = (limit.current, limit.maximum)
        && current < max
    {
        limit.current = Some(max);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    match limit.current {
        Some(files) => {
            let fit = files.saturating_sub(RESERVE).max(16) as usize;
            if fit < wanted {
                tracing::warn!(
                    open_files = files,
                    server.max_connections = wanted,
                    serving = fit,
                    "the open-file limit allows fewer connections than server.max_connections"
                );
            }
            fit.min(wanted)
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const LIMIT: usize = 4096;

    /// One server for every case: `GET /` answers 200; headers are capped at 4 KiB.
    fn server() -> &'static (tokio::runtime::Runtime, SocketAddr) {
        static SERVER: OnceLock<(tokio::runtime::Runtime, SocketAddr)> = OnceLock::new();
        SERVER.get_or_init(|| {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let addr = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
                let config = ServerConfig {
                    max_header_bytes: LIMIT,
                    ..Default::default()
                };
                let per_client =
                    crate::http::limits::PerClient::new(64, Default::default(), Default::default());
                let serving = serve(
                    listener,
                    router,
                    config,
                    64,
                    per_client,
                    CancellationToken::new(),
                );
                tokio::spawn(serving);
                addr
            });
            (rt, addr)
        })
    }

    /// The status a request with `padding` bytes in one header gets.
    fn status_with_padding(padding: usize) -> String {
        let (rt, addr) = server();
        rt.block_on(async {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
                "p".repeat(padding)
            );
            // The server may answer and close before reading all of an oversized request.
            let _ = stream.write_all(request.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Headers under the cap are served; over it, `431`, whatever their size.
        #[test]
        fn headers_over_the_cap_get_431_and_under_it_are_served(
            padding in prop_oneof![0usize..LIMIT, 0usize..64 * 1024]
        ) {
            let status = status_with_padding(padding);
            if padding + 100 < LIMIT {
                prop_assert_eq!(status, "HTTP/1.1 200 OK");
            } else if padding > LIMIT {
                prop_assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
            }
        }
    }
}
