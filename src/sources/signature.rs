//! Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, `v1,<base64>` entries,
//! secrets `whsec_<base64>`, a timestamp tolerance, several secrets at once for rotation.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Header names of the scheme.
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Secrets as senders show them: padding optional, trailing bits tolerated (as the reference
/// libraries accept them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// One signing secret, with its HMAC key built once and cloned per request.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: HmacSha256,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (the prefix is optional; padding is optional).
    pub fn parse(secret: &str) -> Result<WebhookSecret, &'static str> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = LENIENT
            .decode(encoded)
            .map_err(|_| "not a whsec_<base64> secret")?;
        if key.len() < 16 {
            return Err("secret too short: a Standard Webhooks secret has 24 to 64 random bytes");
        }
        let mac = HmacSha256::new_from_slice(&key).map_err(|_| "unusable key")?;
        Ok(WebhookSecret { mac })
    }

    fn mac_for(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `v1,<base64>` signature of a message (used by `send-login` and tests).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac_for(id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// The HMAC a body-signing sender uses, named as the senders name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub enum Algorithm {
    #[default]
    #[serde(rename = "HmacSHA256")]
    HmacSha256,
    /// Weaker; offered only for senders configured with it (p2-inc `keycloak-events`).
    #[serde(rename = "HmacSHA1")]
    HmacSha1,
}

#[derive(Clone)]
enum Keys {
    Sha256(Vec<HmacSha256>),
    Sha1(Vec<Hmac<sha1::Sha1>>),
}

/// Shared secrets of senders that sign the raw body with an HMAC (Jira's `X-Hub-Signature`,
/// Keycloak): several at once while rotating.
#[derive(Clone)]
pub struct BodySecrets(Keys);

impl std::fmt::Debug for BodySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = match &self.0 {
            Keys::Sha256(k) => k.len(),
            Keys::Sha1(k) => k.len(),
        };
        write!(f, "BodySecrets({n} [redacted])")
    }
}

/// Each secret as an HMAC key; `key` names the configuration key in errors.
fn keys<M: Mac + hmac::digest::KeyInit>(
    key: &str,
    secrets: &[secrecy::SecretString],
) -> Result<Vec<M>, crate::domain::Problems> {
    use secrecy::ExposeSecret;
    let mut problems = crate::domain::Problems::default();
    let mut keys = Vec::with_capacity(secrets.len());
    for (i, s) in secrets.iter().enumerate() {
        let s = s.expose_secret();
        match <M as Mac>::new_from_slice(s.as_bytes()) {
            Ok(mac) if s.len() >= 16 => keys.push(mac),
            _ => problems.add(&format!("{key}[{i}]"), "at least 16 characters"),
        }
    }
    problems.or(keys)
}

/// Whether any candidate is the HMAC of `body` under any key (constant time per comparison).
fn any_matches<M: Mac + Clone>(keys: &[M], candidates: &[Vec<u8>], body: &[u8]) -> bool {
    keys.iter().any(|key| {
        let mut mac = key.clone();
        mac.update(body);
        candidates
            .iter()
            .any(|c| mac.clone().verify_slice(c).is_ok())
    })
}

impl BodySecrets {
    /// HMAC-SHA256 secrets; each needs 16 characters or more.
    pub fn new(
        key: &str,
        secrets: &[secrecy::SecretString],
    ) -> Result<BodySecrets, crate::domain::Problems> {
        BodySecrets::with(key, secrets, Algorithm::HmacSha256)
    }

    /// Secrets of the given HMAC.
    pub fn with(
        key: &str,
        secrets: &[secrecy::SecretString],
        algorithm: Algorithm,
    ) -> Result<BodySecrets, crate::domain::Problems> {
        Ok(BodySecrets(match algorithm {
            Algorithm::HmacSha256 => Keys::Sha256(keys(key, secrets)?),
            Algorithm::HmacSha1 => Keys::Sha1(keys(key, secrets)?),
        }))
    }

    /// Length in bytes of a signature.
    pub fn tag_len(&self) -> usize {
        match &self.0 {
            Keys::Sha256(_) => 32,
            Keys::Sha1(_) => 20,
        }
    }

    /// Whether any candidate signature is the HMAC of `body` under any secret (constant time).
    pub fn verify(&self, candidates: &[Vec<u8>], body: &[u8]) -> bool {
        match &self.0 {
            Keys::Sha256(keys) => any_matches(keys, candidates, body),
            Keys::Sha1(keys) => any_matches(keys, candidates, body),
        }
    }
}

/// Secrets a sender presents as they are (a header's value, a bearer token): several at once
/// while rotating. Only their SHA-256 digests are kept, compared in constant time whatever
/// their lengths.
#[derive(Clone)]
pub struct SharedTokens(Vec<[u8; 32]>);

impl std::fmt::Debug for SharedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedTokens({} [redacted])", self.0.len())
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(s).into()
}

impl SharedTokens {
    pub fn new(tokens: &[secrecy::SecretString]) -> SharedTokens {
        use secrecy::ExposeSecret;
        SharedTokens(
            tokens
                .iter()
                .map(|t| digest(t.expose_secret().as_bytes()))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `presented` is one of the tokens; every token is compared, in constant time.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let got = digest(presented);
        self.0
            .iter()
            .fold(false, |ok, t| ok | bool::from(t.ct_eq(&got)))
    }
}

/// Why a delivery was not accepted as authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header (or svix-{short}) is missing", short = .0.trim_start_matches("webhook-"))]
    MissingHeader(&'static str),
    #[error("the {0} header is not valid")]
    MalformedHeader(&'static str),
    #[error("the webhook-timestamp is {0} seconds away from now, outside the tolerance")]
    OutsideTolerance(i64),
    #[error("no v1 signature in webhook-signature matches any configured secret")]
    NoMatch,
}

/// The three headers of a delivery, as received.
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verifies a delivery over the raw body bytes; returns the validated message id.
pub fn verify<'a>(
    secrets: &[WebhookSecret],
    headers: &SignedHeaders<'a>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<&'a str, SignatureError> {
    let id = headers.id.ok_or(SignatureError::MissingHeader(HEADER_ID))?;
    let timestamp = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader(HEADER_TIMESTAMP))?;
    let signature = headers
        .signature
        .ok_or(SignatureError::MissingHeader(HEADER_SIGNATURE))?;
    if !is_valid_id(id) {
        return Err(SignatureError::MalformedHeader(HEADER_ID));
    }
    let ts: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(SignatureError::MalformedHeader(HEADER_TIMESTAMP))?;
    let skew = now_unix - ts;
    if skew.abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        .collect();
    for secret in secrets {
        let mac = secret.mac_for(id, timestamp, body);
        if candidates
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
        {
            return Ok(id);
        }
    }
    Err(SignatureError::NoMatch)
}

/// Message ids become event ids, NATS message ids and sled keys: keep them short and plain.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).expect("valid secret")
    }

    #[test]
    fn official_vector_a_signs_and_verifies() {
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let sig = s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig);
        assert_eq!(
            verify(&[s], &h, body, 1614265330, 300),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
    }

    #[test]
    fn the_readme_worked_example_holds() {
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"type":"login.succeeded","user":{"email":"ada@example.com","roles":["engineer"]},"product":"jira-software","occurred_at":"2026-11-22T09:00:00Z"}"#;
        assert_eq!(
            s.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1795338000, body),
            "v1,uGm6ZSP9KJvGB1B+1VgRLoe1r7aR5C8xozhvwqQdskY="
        );
    }

    #[test]
    fn official_vector_b_signs() {
        let s = secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            s.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn wrong_partial_and_other_version_signatures_fail() {
        let s = secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        for bad in [
            "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
            "v1,",
            "v1",
            "",
            "v1a,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ] {
            let h = headers(id, "1649367553", bad);
            assert_eq!(
                verify(std::slice::from_ref(&s), &h, body, 1649367553, 300),
                Err(SignatureError::NoMatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_matching_entry_among_several_passes() {
        let s = secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        let others = "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=";
        let good = format!("{others} v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        assert!(
            verify(
                std::slice::from_ref(&s),
                &headers(id, "1649367553", &good),
                body,
                1649367553,
                300
            )
            .is_ok()
        );
        assert!(
            verify(
                &[s],
                &headers(id, "1649367553", others),
                body,
                1649367553,
                300
            )
            .is_err()
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let old = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let new = secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let sig = old.sign("msg_1", 1000, b"{}");
        assert!(
            verify(
                &[new.clone(), old],
                &headers("msg_1", "1000", &sig),
                b"{}",
                1000,
                300
            )
            .is_ok()
        );
        assert!(verify(&[new], &headers("msg_1", "1000", &sig), b"{}", 1000, 300).is_err());
    }

    #[test]
    fn timestamps_outside_five_minutes_fail_both_ways() {
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = s.sign("msg_1", 10_000, b"{}");
        let h = headers("msg_1", "10000", &sig);
        assert!(verify(std::slice::from_ref(&s), &h, b"{}", 10_300, 300).is_ok());
        assert_eq!(
            verify(std::slice::from_ref(&s), &h, b"{}", 10_301, 300),
            Err(SignatureError::OutsideTolerance(301))
        );
        assert_eq!(
            verify(&[s], &h, b"{}", 9_699, 300),
            Err(SignatureError::OutsideTolerance(-301))
        );
    }

    #[test]
    fn missing_or_malformed_headers_fail() {
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let missing = SignedHeaders {
            id: None,
            timestamp: Some("1"),
            signature: Some("v1,x"),
        };
        assert_eq!(
            verify(std::slice::from_ref(&s), &missing, b"", 1, 300),
            Err(SignatureError::MissingHeader(HEADER_ID))
        );
        let bad_ts = headers("msg_1", "+12", "v1,x");
        assert_eq!(
            verify(std::slice::from_ref(&s), &bad_ts, b"", 12, 300),
            Err(SignatureError::MalformedHeader(HEADER_TIMESTAMP))
        );
        let bad_id = headers("msg.1", "12", "v1,x");
        assert_eq!(
            verify(&[s], &bad_id, b"", 12, 300),
            Err(SignatureError::MalformedHeader(HEADER_ID))
        );
    }

    #[test]
    fn secrets_with_or_without_padding_parse_and_short_ones_fail() {
        assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").is_ok());
        assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==").is_ok());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
    }
}
