//! The HTTP machinery every connector shares: authentication, retries with `Retry-After`, a
//! token bucket and a concurrency limit per connector, and a connector-wide pause when the
//! server says it is rate limiting (429, or `X-RateLimit-Remaining: 0` until
//! `X-RateLimit-Reset`). Statuses that retrying cannot fix (400, 401, 403, 404, …) are
//! returned at once for the connector to interpret.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::config::DirectoryConfig;
use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::{CallLog, DirectoryError};

/// How requests authenticate.
pub enum Auth {
    /// Atlassian Cloud site APIs: the service account's email and API token.
    Basic { user: String, token: SecretString },
    /// Organisation API keys, Data Center personal access tokens, SCIM tokens.
    Bearer(SecretString),
    /// Okta's API tokens: `Authorization: SSWS <token>`.
    Ssws(SecretString),
    /// A bearer token its owner obtains and renews at run time (the Bot Framework's
    /// client-credentials token); none sent while empty.
    Shared(std::sync::Arc<std::sync::RwLock<Option<SecretString>>>),
}

/// An answer, once the retries are over.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Http {
    client: reqwest::Client,
    base: url::Url,
    auth: Auth,
    retry: RetryPolicy,
    limit: Semaphore,
    bucket: DefaultDirectRateLimiter,
    /// No request leaves before this instant (the server asked us to slow down).
    paused_until: Mutex<Option<Instant>>,
    /// Calls (not background ones) waiting for a token now.
    waiting: AtomicUsize,
}

impl Http {
    /// A client for `base` (a site URL, or `https://api.atlassian.com`), with the limits of
    /// `config`.
    pub fn new(base: &str, auth: Auth, config: &DirectoryConfig) -> Result<Http, DirectoryError> {
        let bad = |m: String| DirectoryError::Permanent(m);
        let mut base = url::Url::parse(base).map_err(|_| bad(format!("{base} is not a URL")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .user_agent(concat!("reinstate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        let per_sec = NonZeroU32::new(config.rate_limit_per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(Http {
            client,
            base,
            auth,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial: Duration::from_millis(config.retry_initial_ms),
                max: Duration::from_millis(config.retry_max_ms),
            },
            limit: Semaphore::new(config.max_concurrency),
            bucket: RateLimiter::direct(Quota::per_second(per_sec).allow_burst(burst)),
            paused_until: Mutex::new(None),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A client whose bucket lets `per_minute` requests through a minute (an API whose limit
    /// is per minute).
    pub fn per_minute(
        base: &str,
        auth: Auth,
        config: &DirectoryConfig,
        per_minute: u32,
    ) -> Result<Http, DirectoryError> {
        let mut http = Http::new(base, auth, config)?;
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        http.bucket = RateLimiter::direct(Quota::per_minute(n).allow_burst(n));
        Ok(http)
    }

    /// Waits until the connector may send: the server's pause, then a token, then a slot. A
    /// background call (a sync) also waits while any other call waits for a token: restores go
    /// first.
    async fn admit(
        &self,
        background: bool,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, DirectoryError> {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        if background {
            while self.waiting.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.bucket.until_ready().await;
        } else {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            self.bucket.until_ready().await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.limit
            .acquire()
            .await
            .map_err(|_| DirectoryError::Transient("shutting down".into()))
    }

    /// Holds every request of this connector back until `t`.
    fn pause_until(&self, t: Instant) {
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < t) {
            *paused = Some(t);
        }
    }

    /// One call with retries; returns the final answer, or `Transient` when the retries ran out.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<Answer, DirectoryError> {
        self.call_with(method, path, query, &[], body, calls).await
    }

    /// `call`, with headers of the operation's own (e.g. `X-ExperimentalApi`).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&'static str, &'static str)],
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<Answer, DirectoryError> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| DirectoryError::Permanent(format!("bad path {path}: {e}")))?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = {
                let _permit = self.admit(calls.background).await?;
                let mut request = self
                    .client
                    .request(method.clone(), url.clone())
                    .query(query)
                    .header("Accept", "application/json")
                    // Atlassian's XSRF check would refuse writes without it (Confluence).
                    .header("X-Atlassian-Token", "no-check");
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request = match &self.auth {
                    Auth::Basic { user, token } => {
                        request.basic_auth(user, Some(token.expose_secret()))
                    }
                    Auth::Bearer(token) => request.bearer_auth(token.expose_secret()),
                    Auth::Ssws(token) => request.header(
                        reqwest::header::AUTHORIZATION,
                        format!("SSWS {}", token.expose_secret()),
                    ),
                    Auth::Shared(slot) => {
                        let token = slot.read().ok().and_then(|t| t.clone());
                        match token {
                            Some(token) => request.bearer_auth(token.expose_secret()),
                            None => request,
                        }
                    }
                };
                if let Some(b) = &body {
                    request = request.json(b);
                }
                match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        let limits = RateLimitHeaders::read(response.headers());
                        match response.bytes().await {
                            Ok(body) => Ok((status, limits, body)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            calls.attempt(
                result.as_ref().ok().map(|(s, _, _)| s.as_u16()),
                attempts > 1,
            );
            if let Ok((status, limits, _)) = &result {
                self.obey(*status, limits);
            }
            let (retry_after, failure, last_status) = match result {
                Ok((status, _, body)) if !retryable_status(status.as_u16()) => {
                    calls.push(method.as_str(), path, Some(status.as_u16()), attempts);
                    return Ok(Answer { status, body });
                }
                Ok((status, limits, _)) => (
                    match status {
                        StatusCode::TOO_MANY_REQUESTS => limits.retry_after.or(limits.reset),
                        _ => limits.retry_after,
                    },
                    format!("{method} {path} answered {status}"),
                    Some(status.as_u16()),
                ),
                Err(e) => (None, format!("{method} {path}: {}", describe(&e)), None),
            };
            if attempts > self.retry.max_retries {
                calls.push(method.as_str(), path, last_status, attempts);
                return Err(DirectoryError::Transient(format!(
                    "{failure} after {attempts} attempts"
                )));
            }
            let delay = self.retry.delay(attempts - 1, retry_after);
            tracing::debug!(%failure, delay_ms = delay.as_millis() as u64, "directory call will be retried");
            tokio::time::sleep(delay).await;
        }
    }

    /// Slows the whole connector down when the server says so, so that one 429 does not
    /// become a storm of them from the other requests in flight.
    fn obey(&self, status: StatusCode, limits: &RateLimitHeaders) {
        let cap = |d: Duration| d.min(self.retry.max);
        if status == StatusCode::TOO_MANY_REQUESTS {
            // `Retry-After` when sent; else until the counter resets.
            let wait = limits
                .retry_after
                .or(limits.reset)
                .unwrap_or(self.retry.initial);
            self.pause_until(Instant::now() + cap(wait));
        } else if limits.remaining == Some(0)
            && let Some(reset) = limits.reset
        {
            self.pause_until(Instant::now() + cap(reset));
        }
    }

    /// A GET that must succeed, its body parsed.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        calls: &mut CallLog,
    ) -> Result<T, DirectoryError> {
        let answer = self.call(Method::GET, path, query, None, calls).await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("GET {path}"), &answer));
        }
        Self::json(&answer, &format!("GET {path}"))
    }

    /// The body of a successful answer, parsed.
    pub fn json<T: for<'de> Deserialize<'de>>(
        answer: &Answer,
        what: &str,
    ) -> Result<T, DirectoryError> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            DirectoryError::Transient(format!("{what}: unexpected response body: {e}"))
        })
    }

    /// A call that must succeed; its body is not needed.
    pub async fn send_ok(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let what = format!("{method} {path}");
        let answer = self.call(method, path, query, body, calls).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&what, &answer))
        }
    }
}

/// What the server said about its rate limit.
#[derive(Debug, Default)]
struct RateLimitHeaders {
    retry_after: Option<Duration>,
    remaining: Option<u64>,
    /// Time left until the counter resets.
    reset: Option<Duration>,
}

impl RateLimitHeaders {
    fn read(headers: &reqwest::header::HeaderMap) -> RateLimitHeaders {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        RateLimitHeaders {
            retry_after: get("retry-after").and_then(parse_retry_after),
            remaining: get("x-ratelimit-remaining")
                .or(get("x-rate-limit-remaining"))
                .and_then(|v| v.trim().parse().ok()),
            reset: get("x-ratelimit-reset")
                .and_then(parse_reset)
                .or_else(|| get("x-rate-limit-reset").and_then(parse_epoch)),
        }
    }
}

/// Okta's `X-Rate-Limit-Reset`: when the limit resets, in seconds since the epoch (UTC).
fn parse_epoch(value: &str) -> Option<Duration> {
    let at = time::OffsetDateTime::from_unix_timestamp(value.trim().parse().ok()?).ok()?;
    Some(Duration::try_from(at - time::OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO))
}

/// `X-RateLimit-Reset`: an ISO 8601 instant — RFC 3339, or Jira Cloud's `yyyy-MM-ddTHH:mmZ`
/// with no seconds (JRACLOUD-69262) — or seconds to wait.
fn parse_reset(value: &str) -> Option<Duration> {
    let value = value.trim();
    let rfc3339 = time::format_description::well_known::Rfc3339;
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    let at = time::OffsetDateTime::parse(value, &rfc3339)
        .ok()
        .or_else(|| {
            time::PrimitiveDateTime::parse(value, &minutes)
                .ok()
                .map(|t| t.assume_utc())
        });
    if let Some(at) = at {
        let wait = at - time::OffsetDateTime::now_utc();
        return Some(Duration::try_from(wait).unwrap_or(Duration::ZERO));
    }
    parse_retry_after(value)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "connection failed".into()
    }
}

/// A configured secret (empty when absent: the configuration's checks say which are required).
pub fn token(t: &Option<SecretString>) -> SecretString {
    t.clone().unwrap_or_else(|| SecretString::from(""))
}

/// A refusal that retrying will not fix, with what the server said. 401 and 403 name the
/// credentials, so the audit entry and the admin alert say what to fix.
pub fn refused(what: &str, answer: &Answer) -> DirectoryError {
    let text = answer.text();
    let snippet: String = text.chars().take(200).collect();
    let hint = match answer.status.as_u16() {
        401 => " (the credentials were rejected: check the token)",
        403 if text.contains("identity provider") => {
            " (an identity provider manages this: change it there)"
        }
        403 => " (the account lacks a permission this call needs)",
        _ => "",
    };
    DirectoryError::Permanent(format!(
        "{what} answered {}{hint}: {snippet}",
        answer.status
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_parses_instants_and_seconds() {
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let text = soon
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let d = parse_reset(&text).expect("instant");
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_reset("2000-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(parse_reset("5"), Some(Duration::from_secs(5)));
        // Jira Cloud's own form, to the minute.
        let next = time::OffsetDateTime::now_utc() + time::Duration::minutes(2);
        let minute = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}Z",
            next.year(),
            next.month() as u8,
            next.day(),
            next.hour(),
            next.minute()
        );
        let d = parse_reset(&minute).expect("Jira's form");
        assert!(
            d > Duration::from_secs(59) && d <= Duration::from_secs(120),
            "{minute}: {d:?}"
        );
        assert_eq!(parse_reset("2000-01-01T00:00Z"), Some(Duration::ZERO));
        assert_eq!(parse_reset("later"), None);
    }

    #[test]
    fn the_server_pauses_the_whole_connector() {
        let config = DirectoryConfig {
            retry_initial_ms: 1_000,
            retry_max_ms: 10_000,
            ..Default::default()
        };
        let http = Http::new(
            "https://example.atlassian.net",
            Auth::Basic {
                user: "u".into(),
                token: "t".into(),
            },
            &config,
        )
        .expect("client");
        let paused = || {
            http.paused_until
                .lock()
                .expect("lock")
                .map(|t| t - Instant::now())
        };
        http.obey(StatusCode::OK, &RateLimitHeaders::default());
        assert_eq!(paused(), None);
        // Out of budget until the reset (capped at retry_max_ms).
        let limits = RateLimitHeaders {
            remaining: Some(0),
            reset: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        http.obey(StatusCode::OK, &limits);
        let p = paused().expect("paused");
        assert!(
            p > Duration::from_secs(9) && p <= Duration::from_secs(10),
            "{p:?}"
        );
        // A shorter 429 does not shorten the pause.
        let limits = RateLimitHeaders {
            retry_after: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        http.obey(StatusCode::TOO_MANY_REQUESTS, &limits);
        assert!(paused().expect("paused") > Duration::from_secs(9));
    }
}
