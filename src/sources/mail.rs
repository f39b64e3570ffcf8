//! Requests mailed to an address such as `access@…`, through the inbound webhook a mail
//! service offers. Postmark's (<https://postmarkapp.com/developer/webhooks/inbound-webhook>):
//! the message parsed into JSON (`FromFull.Email`, `Subject`, `TextBody`, `MessageID`, …),
//! POSTed to the URL configured for the inbound stream, authenticated only by the Basic
//! credentials that URL carries (`https://user:password@…`, as Postmark documents for its
//! webhooks). A mail's From can be forged, so a mailed request is an *ask*, answered exactly as
//! the portal answers one: a confirmation link to the directory's address of that person, the
//! same answer whether or not the address is known, at most so many per sender an hour.
//! Mailgun's routes are the other service (`sources::mailgun`: signed form posts).

use std::sync::OnceLock;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::mailgun::{self, Fields, MailgunKeys};
use super::signature::SharedTokens;
use super::{Rejected, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Product, Source};

/// `[sources.mail]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSourceConfig {
    /// The Basic credentials of Postmark's inbound webhook URL, as `user:password`; several
    /// while rotating. Postmark's receiver (`POST /v1/hooks/mail/postmark`) is off while empty.
    pub postmark_credentials: Vec<SecretString>,
    /// The HTTP webhook signing keys of the Mailgun domains whose routes forward to
    /// `POST /v1/hooks/mail/mailgun`; several while rotating. That receiver is off while empty.
    pub mailgun_signing_keys: Vec<SecretString>,
    /// The product a mail that names none asks for; such a mail is ignored when unset.
    pub default_product: Option<Product>,
    /// Confirmation emails per sender an hour (more are not sent; the answer is the same).
    pub per_sender_per_hour: u32,
    #[serde(skip)]
    built: OnceLock<Result<MailSource, Problems>>,
}

impl Default for MailSourceConfig {
    fn default() -> Self {
        MailSourceConfig {
            postmark_credentials: Vec::new(),
            mailgun_signing_keys: Vec::new(),
            default_product: None,
            per_sender_per_hour: 3,
            built: OnceLock::new(),
        }
    }
}

impl MailSourceConfig {
    /// The receivers, built once; `None` while neither service is configured.
    pub fn source(&self) -> Result<Option<&MailSource>, &Problems> {
        if self.postmark_credentials.is_empty() && self.mailgun_signing_keys.is_empty() {
            return Ok(None);
        }
        let built = self.built.get_or_init(|| MailSource::new(self));
        built.as_ref().map(Some)
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(e) = self.source() {
            problems.extend(e.clone().into_vec());
        }
    }
}

/// The inbound receivers: Postmark's, Mailgun's, or both.
#[derive(Clone, Debug)]
pub struct MailSource {
    /// Postmark's Basic credentials; `None` while Postmark is not configured.
    pub postmark: Option<SharedTokens>,
    /// Mailgun's signing keys; `None` while Mailgun is not configured.
    pub mailgun: Option<MailgunKeys>,
    default_product: Option<Product>,
    /// Confirmation emails per sender an hour.
    pub per_sender_per_hour: u32,
}

/// The fields of Postmark's inbound JSON reinstate reads (Postmark sends many more).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inbound {
    from_full: Option<Address>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text_body: String,
    #[serde(rename = "MessageID")]
    message_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Address {
    email: String,
}

/// What a mail asks, once authenticated.
#[derive(Debug)]
pub enum Mailed {
    /// An ask for the sender: the event to publish.
    Ask(Box<Event>),
    /// Nothing to ask (no product named and no default, or no usable sender), and why.
    Nothing(String),
}

impl MailSource {
    pub fn new(config: &MailSourceConfig) -> Result<MailSource, Problems> {
        let mut problems = Problems::default();
        for (i, c) in config.postmark_credentials.iter().enumerate() {
            use secrecy::ExposeSecret;
            let c = c.expose_secret();
            if !c.contains(':') || c.len() < 17 {
                problems.add(
                    &format!("sources.mail.postmark_credentials[{i}]"),
                    "user:password, the password at least 16 characters",
                );
            }
        }
        if config.per_sender_per_hour == 0 {
            problems.add("sources.mail.per_sender_per_hour", "at least 1");
        }
        let mailgun = match &config.mailgun_signing_keys[..] {
            [] => None,
            keys => MailgunKeys::new(keys)
                .map_err(|e| problems.extend(e.into_vec()))
                .ok(),
        };
        let postmark = (!config.postmark_credentials.is_empty())
            .then(|| SharedTokens::new(&config.postmark_credentials));
        problems.or(MailSource {
            postmark,
            mailgun,
            default_product: config.default_product,
            per_sender_per_hour: config.per_sender_per_hour,
        })
    }

    /// Checks `Authorization: Basic` against the configured credentials, in constant time.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), Rejected> {
        let presented = header(headers, "authorization")
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok());
        let credentials = self.postmark.as_ref();
        match presented {
            Some(p) if credentials.is_some_and(|c| c.accepts(&p)) => Ok(()),
            _ => Err(Rejected::unauthenticated(
                "invalid_credentials",
                "Authorization is not Basic with the credentials of the inbound webhook's URL \
                 (sources.mail.postmark_credentials)",
            )),
        }
    }

    /// Decodes an authenticated inbound message into an ask for its sender.
    pub fn decode(&self, body: &[u8], now: OffsetDateTime) -> Result<Mailed, Rejected> {
        let mail: Inbound = serde_json::from_slice(body)
            .map_err(|e| Rejected::invalid(format!("not Postmark's inbound JSON: {e}")))?;
        if mail.message_id.is_empty() || mail.message_id.len() > 128 {
            return Err(Rejected::invalid("MessageID: 1 to 128 characters"));
        }
        let from = mail.from_full.map(|a| a.email).unwrap_or(mail.from);
        let text = format!("{}\n{}", mail.subject, mail.text_body);
        Ok(self.ask(&mail.message_id, &from, &mail.subject, &text, now))
    }

    /// Decodes a Mailgun route's form: the signature first (nothing else is read before it
    /// holds), then an ask for the sender of the `From` header (else the envelope's). The
    /// event's id is the token's: a token seen before is the same delivery, acted on once.
    pub fn decode_mailgun(&self, fields: &Fields, now: OffsetDateTime) -> Result<Mailed, Rejected> {
        let keys = self.mailgun.as_ref().ok_or_else(|| {
            Rejected::unauthenticated(
                "not_configured",
                "sources.mail.mailgun_signing_keys is empty",
            )
        })?;
        let token = keys.verify(fields, now)?;
        let from = fields
            .get("from")
            .or(fields.get("sender"))
            .map(mailgun::address)
            .unwrap_or_default();
        let subject = fields.get("subject").unwrap_or_default();
        let body = fields
            .get("stripped-text")
            .or(fields.get("body-plain"))
            .unwrap_or_default();
        let text = format!("{subject}\n{body}");
        Ok(self.ask(&format!("mailgun:{token}"), from, subject, &text, now))
    }

    /// An ask for the sender of a mail, the product named by its words or the default.
    fn ask(&self, id: &str, from: &str, subject: &str, text: &str, now: OffsetDateTime) -> Mailed {
        let Ok(sender) = Email::parse(from.trim()) else {
            return Mailed::Nothing(format!("the sender {from:?} is not an address"));
        };
        let Some(product) = named(text).or(self.default_product) else {
            return Mailed::Nothing(
                "the mail names no product (jira, confluence, jsm) and sources.mail has no \
                 default_product"
                    .into(),
            );
        };
        let mut event = Event::new(
            Source::Mail,
            &super::body_hash(id.as_bytes()),
            EventKind::Ask,
            EventUser::new(sender, None),
            Some(product),
            now,
        );
        event.reason = super::reason(subject);
        Mailed::Ask(Box::new(event))
    }
}

/// The product a mail's words name first: "jira" (Software), "confluence", "jsm" or "service
/// management".
fn named(text: &str) -> Option<Product> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        match *w {
            "confluence" | "wiki" => return Some(Product::Confluence),
            "jsm" | "jira-servicedesk" | "servicedesk" => return Some(Product::JiraServicedesk),
            "service" if words.get(i + 1) == Some(&"management") => {
                return Some(Product::JiraServicedesk);
            }
            "jira" | "jira-software" => {
                let next = words.get(i + 1).copied();
                return Some(if next == Some("service") {
                    Product::JiraServicedesk
                } else {
                    Product::JiraSoftware
                });
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_names_its_product_in_words() {
        assert_eq!(named("Access to Jira please"), Some(Product::JiraSoftware));
        assert_eq!(
            named("jira service management"),
            Some(Product::JiraServicedesk)
        );
        assert_eq!(named("Re: our wiki"), Some(Product::Confluence));
        assert_eq!(named("back from leave"), None);
    }
}
