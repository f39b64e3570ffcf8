//! Delivers the outbox: due emails are sent over SMTP with lettre and removed once accepted;
//! failures are retried with growing delays. Nothing leaves the outbox unsent.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use serde::Deserialize;

use crate::domain::Problems;
use crate::store::{OutboxEmail, Store};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain), `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtps://host:465`; absent = no email.
    pub url: Option<String>,
    /// Sender address.
    pub from: String,
    /// Credentials, when the server wants them.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Timeout of one SMTP conversation.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: None,
            from: "reinstate@localhost.localdomain".into(),
            username: None,
            password: None,
            timeout_ms: 10_000,
        }
    }
}

impl SmtpConfig {
    pub fn check(&self, problems: &mut Problems) {
        let Some(url) = &self.url else {
            return;
        };
        if let Err(e) = Mailer::from_url(url) {
            problems.add("smtp.url", format!("{url:?}: {e}"));
        }
        if self.from.parse::<Mailbox>().is_err() {
            problems.add(
                "smtp.from",
                format!("{:?} is not an email address", self.from),
            );
        }
        if self.username.is_some() != self.password.is_some() {
            problems.add_sentence("smtp.username and smtp.password: give both or neither");
        }
        problems.positive(&[("smtp.timeout_ms", self.timeout_ms)]);
    }
}

pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the SMTP transport from `smtp.url` (`smtp://`, `smtps://`, `?tls=required`).
pub fn mailer(config: &SmtpConfig, url: &str) -> Result<Mailer, lettre::transport::smtp::Error> {
    let mut builder = Mailer::from_url(url)?;
    builder = builder.timeout(Some(Duration::from_millis(config.timeout_ms)));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        ));
    }
    Ok(builder.build())
}

/// A `Message-ID` on the sender's own domain (RFC 5322 3.6.4; large mailbox providers penalise
/// mail without one), the same on every attempt to send this outbox entry.
fn message_id(from: &Mailbox, key: &[u8]) -> String {
    format!("<reinstate.{}@{}>", hex::encode(key), from.email.domain())
}

fn message(from: &Mailbox, key: &[u8], email: &OutboxEmail) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(from.clone())
        .message_id(Some(message_id(from, key)))
        .subject(email.subject.clone());
    for to in &email.to {
        builder = builder.to(to
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient {to:?}: {e}"))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s … at most 10 minutes.
fn retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(10)).min(Duration::from_secs(600))
}

/// Sends until cancelled. The attempt in progress when cancelled is finished first.
pub async fn run(
    store: Store,
    mailer: Mailer,
    from: Mailbox,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    cancel: CancellationToken,
) {
    let counted = |result: &str| {
        metrics
            .emails
            .get_or_create(&crate::metrics::ResultLabels {
                result: result.into(),
            })
            .inc()
    };
    let wake = store.outbox_wake();
    loop {
        let notified = wake.notified();
        let now = crate::store::now_ms();
        let due = match store.outbox_due(now, 16) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                Vec::new()
            }
        };
        for (key, mut email) in due {
            let result = match message(&from, &key, &email) {
                Ok(m) => mailer.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let settled = match result {
                Ok(()) => {
                    counted("sent");
                    tracing::info!(kind = %email.kind, attempts = email.attempts + 1, "email sent");
                    store.outbox_sent(&key).await
                }
                Err(error) => {
                    counted("failed");
                    email.attempts += 1;
                    let delay = retry_delay(email.attempts);
                    tracing::warn!(kind = %email.kind, attempts = email.attempts, %error, retry_in_s = delay.as_secs(), "email not sent; will retry");
                    email.last_error = Some(error);
                    email.next_attempt_ms = crate::store::now_ms() + delay.as_millis() as i64;
                    store.outbox_retry(&key, &email).await
                }
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "cannot update the outbox");
            }
            if cancel.is_cancelled() {
                return;
            }
        }
        let wait = match store.outbox_next_due() {
            Ok(Some(at)) => {
                Duration::from_millis((at - crate::store::now_ms()).clamp(10, 60_000) as u64)
            }
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_on_the_senders_domain_and_stable() {
        let from: Mailbox = "reinstate <reinstate@mail.example.com>"
            .parse()
            .expect("from");
        let id = message_id(&from, &[1, 2, 255]);
        assert_eq!(id, "<reinstate.0102ff@mail.example.com>");
        let email = OutboxEmail::new(
            "x",
            &["a@example.com".into()],
            "s".into(),
            "t".into(),
            "h".into(),
        );
        let m = message(&from, &[1, 2, 255], &email).expect("message");
        let raw = String::from_utf8(m.formatted()).expect("utf8");
        assert!(
            raw.contains("Message-ID: <reinstate.0102ff@mail.example.com>"),
            "{raw}"
        );
    }

    #[test]
    fn retries_back_off_to_ten_minutes() {
        assert_eq!(retry_delay(1), Duration::from_secs(2));
        assert_eq!(retry_delay(5), Duration::from_secs(32));
        assert_eq!(retry_delay(40), Duration::from_secs(600));
    }
}
