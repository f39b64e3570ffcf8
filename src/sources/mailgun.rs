//! Mailgun's inbound routes (<https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http>):
//! a route's `forward("https://…/v1/hooks/mail/mailgun")` POSTs the parsed message as
//! `application/x-www-form-urlencoded`, or `multipart/form-data` when it has attachments, with
//! `from`, `sender`, `subject`, `body-plain`, `stripped-text`, … and the signature fields
//! `timestamp`, `token` (50 random characters) and `signature`: the hex HMAC-SHA256 of
//! `timestamp` and `token` concatenated, under the domain's HTTP webhook signing key
//! (<https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>).
//!
//! The signature does not cover the message: whoever holds one signed triple could attach it
//! to any mail. So the token is the delivery — the event's id is its hash, and a token seen
//! before is acted on once, whatever message comes with it (the receiver answers it `406`,
//! which stops Mailgun's retries). Mailgun answers `200` and `406` by stopping; anything else
//! it retries for 8 hours; it does not document whether a retry is signed anew, so a
//! timestamp up to [`TOLERANCE_SECS`] old is taken.

use hmac::digest::KeyInit;
use time::OffsetDateTime;

use super::Rejected;
use super::signature::BodySecrets;
use crate::domain::Problems;

/// How old a signed timestamp may be: Mailgun's retries span 8 hours.
pub const TOLERANCE_SECS: i64 = 8 * 3600 + 15 * 60;

/// Largest part of a form read (an attachment is skipped, not read).
const MAX_FIELD: u64 = 256 * 1024;

/// The form fields of one POST, in order; attachments (parts with a file name) left out.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads a urlencoded form (a mail without attachments).
    pub fn urlencoded(body: &[u8]) -> Result<Fields, Rejected> {
        serde_urlencoded::from_bytes(body)
            .map(Fields)
            .map_err(|e| Rejected::invalid(format!("not a urlencoded form: {e}")))
    }

    /// Reads the body as Mailgun sends it: urlencoded, or multipart with attachments.
    pub async fn read(content_type: Option<&str>, body: bytes::Bytes) -> Result<Fields, Rejected> {
        let content_type = content_type.unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Fields::urlencoded(&body),
            "multipart/form-data" => multipart(content_type, body).await,
            _ => Err(Rejected::invalid(format!(
                "Content-Type {content_type:?}: Mailgun posts application/x-www-form-urlencoded \
                 or multipart/form-data"
            ))),
        }
    }
}

async fn multipart(content_type: &str, body: bytes::Bytes) -> Result<Fields, Rejected> {
    let bad = |e: multer::Error| Rejected::invalid(format!("not a multipart form: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let limits =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().per_field(MAX_FIELD));
    let mut form = multer::Multipart::with_constraints(stream, boundary, limits);
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        fields.push((name, value));
    }
    Ok(Fields(fields))
}

/// The webhook signing keys of the Mailgun domains that forward to reinstate.
#[derive(Debug, Clone)]
pub struct MailgunKeys(BodySecrets);

impl MailgunKeys {
    pub fn new(keys: &[secrecy::SecretString]) -> Result<MailgunKeys, Problems> {
        BodySecrets::new("sources.mail.mailgun_signing_keys", keys).map(MailgunKeys)
    }

    /// Checks `signature` against `timestamp` + `token`, the timestamp within
    /// [`TOLERANCE_SECS`]; returns the token, which names the delivery.
    pub fn verify<'f>(&self, fields: &'f Fields, now: OffsetDateTime) -> Result<&'f str, Rejected> {
        let unsigned = || {
            Rejected::unauthenticated(
                "invalid_signature",
                "signature is missing or is not the hex HMAC-SHA256 of timestamp and token \
                 under a configured Mailgun webhook signing key (sources.mail.mailgun_signing_keys)",
            )
        };
        let timestamp = fields.get("timestamp").ok_or_else(|| {
            Rejected::unauthenticated("missing_timestamp", "the form has no timestamp")
        })?;
        let ts = super::unix_seconds(timestamp).ok_or_else(|| {
            Rejected::unauthenticated("invalid_timestamp", "timestamp is not Unix seconds")
        })?;
        let age = now.unix_timestamp() - ts;
        if !(-300..=TOLERANCE_SECS).contains(&age) {
            return Err(Rejected::unauthenticated(
                "timestamp_out_of_tolerance",
                format!(
                    "timestamp is {age} s old; Mailgun's deliveries are taken up to \
                     {TOLERANCE_SECS} s old (its retries span 8 hours)"
                ),
            ));
        }
        let token = fields
            .get("token")
            .filter(|t| (20..=200).contains(&t.len()))
            .ok_or_else(|| {
                Rejected::unauthenticated("missing_token", "the form has no usable token")
            })?;
        let tag = fields
            .get("signature")
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(unsigned)?;
        let signed = format!("{timestamp}{token}");
        if self.0.verify(&[tag], signed.as_bytes()) {
            Ok(token)
        } else {
            Err(unsigned())
        }
    }
}

/// The hex signature Mailgun would send (for tests and the sandbox).
pub fn sign(key: &str, timestamp: i64, token: &str) -> String {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC takes any key");
    mac.update(format!("{timestamp}{token}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The address of a `From` header such as `Bob <bob@example.com>`, or the header itself.
pub fn address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> MailgunKeys {
        MailgunKeys::new(&["key-0123456789abcdef0123".to_string().into()]).expect("keys")
    }

    fn form(timestamp: i64, token: &str, signature: &str) -> Fields {
        Fields(vec![
            ("timestamp".into(), timestamp.to_string()),
            ("token".into(), token.into()),
            ("signature".into(), signature.into()),
        ])
    }

    #[test]
    fn a_signature_over_timestamp_and_token_names_the_delivery() {
        let now = OffsetDateTime::now_utc();
        let ts = now.unix_timestamp() - 60;
        let token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";
        let good = sign("key-0123456789abcdef0123", ts, token);
        assert_eq!(keys().verify(&form(ts, token, &good), now), Ok(token));
        let other = sign("key-another-key-0000000000", ts, token);
        let refused = keys().verify(&form(ts, token, &other), now).err();
        assert_eq!(refused.map(|r| r.code), Some("invalid_signature"));
        let old = now.unix_timestamp() - TOLERANCE_SECS - 1;
        let stale = sign("key-0123456789abcdef0123", old, token);
        let refused = keys().verify(&form(old, token, &stale), now).err();
        assert_eq!(refused.map(|r| r.code), Some("timestamp_out_of_tolerance"));
    }

    #[test]
    fn a_from_header_gives_its_address() {
        assert_eq!(address("Bob Lee <blee@mailgun.net>"), "blee@mailgun.net");
        assert_eq!(address(" zed@example.com "), "zed@example.com");
    }
}
