//! Retry policy for directory calls, as Atlassian asks: honour `Retry-After`, otherwise
//! exponential backoff with jitter (×0.7–1.3), capped; retry 429, 5xx, timeouts and
//! connection errors only.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based), given the server's `Retry-After`, if any.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = match retry_after {
            Some(d) => d.min(self.max),
            None => self
                .initial
                .saturating_mul(2u32.saturating_pow(retry))
                .min(self.max),
        };
        let jitter = rand::rng().random_range(0.7..=1.3);
        let jittered = base.mul_f64(jitter);
        // Never retry before the server said we may.
        match retry_after {
            Some(d) => jittered.max(d.min(self.max)),
            None => jittered,
        }
    }
}

/// Whether an HTTP status is worth retrying.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// `Retry-After` as seconds (the form Atlassian sends) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_retries: 4,
            initial: Duration::from_millis(1000),
            max: Duration::from_millis(5000),
        };
        for _ in 0..50 {
            let d0 = p.delay(0, None).as_millis();
            assert!((700..=1300).contains(&d0), "{d0}");
            let d2 = p.delay(2, None).as_millis();
            assert!((2800..=5200).contains(&d2), "{d2}");
            assert!(p.delay(10, None) <= Duration::from_millis(6500));
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_capped() {
        let p = RetryPolicy {
            max_retries: 4,
            initial: Duration::from_millis(10),
            max: Duration::from_secs(30),
        };
        for _ in 0..50 {
            let d = p.delay(0, Some(Duration::from_secs(2)));
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_millis(2600),
                "{d:?}"
            );
            assert!(p.delay(0, Some(Duration::from_secs(3600))) <= Duration::from_secs(39));
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert!(retryable_status(429) && retryable_status(503) && !retryable_status(404));
    }
}
