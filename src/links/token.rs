//! Signed link tokens: `v1.<key id>.<payload>.<signature>`, the payload base64url JSON naming the
//! user, the purpose, the product, the expiry and a random 128-bit nonce; the signature
//! HMAC-SHA256 under the named key over `v1.<key id>.<payload>`. Several keys verify at once
//! (rotation); one signs. Pure: no I/O, the clock is a parameter.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::{Email, Product};

type HmacSha256 = Hmac<Sha256>;

/// What a link does when redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Keep my licence (before it is reclaimed).
    Keep,
    /// Give my licence back.
    Restore,
    /// Confirm a request made on the portal.
    Request,
    /// Confirm a request mailed to reinstate (its confirmation counts as the mail source's).
    MailedRequest,
}

impl Purpose {
    pub fn parse(s: &str) -> Option<Purpose> {
        match s {
            "keep" => Some(Purpose::Keep),
            "restore" => Some(Purpose::Restore),
            "request" => Some(Purpose::Request),
            "mailed_request" => Some(Purpose::MailedRequest),
            _ => None,
        }
    }
}

/// The signed content of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub sub: Email,
    pub purpose: Purpose,
    /// `None`: every product the rules allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// Why the user asked (portal requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unix seconds.
    pub exp: i64,
    /// 128 random bits, hex: makes the link single-use.
    pub nonce: String,
}

/// Why a token is not accepted. Shown to whoever holds the link, the first three say the
/// same: telling them apart would let anyone try key ids until one is "known".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{NOT_VALID}")]
    Malformed,
    #[error("{NOT_VALID}")]
    UnknownKey,
    #[error("{NOT_VALID}")]
    BadSignature,
    /// Only a link whose signature checked out can have expired.
    #[error("this link has expired")]
    Expired,
}

const NOT_VALID: &str =
    "this link is not valid: it was altered or cut short, or its key was withdrawn";

/// Why a key ring cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key id {0:?} must be letters, digits, '-' or '_'")]
    BadId(String),
    #[error("key {0:?}: the secret needs at least 32 bytes")]
    ShortSecret(String),
    #[error("key id {0:?} appears twice")]
    Twice(String),
    #[error("active key {0:?} is not among the keys")]
    NoActive(String),
}

/// The configured keys.
#[derive(Clone)]
pub struct KeyRing {
    keys: HashMap<String, HmacSha256>,
    active: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyRing(active {:?}, {} keys, [redacted])",
            self.active,
            self.keys.len()
        )
    }
}

impl KeyRing {
    /// `keys`: (id, secret) pairs; `active` signs. Secrets need at least 32 bytes.
    pub fn new(keys: &[(String, Vec<u8>)], active: &str) -> Result<KeyRing, KeyError> {
        let mut map = HashMap::new();
        for (id, secret) in keys {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(KeyError::BadId(id.clone()));
            }
            if secret.len() < 32 {
                return Err(KeyError::ShortSecret(id.clone()));
            }
            let mac = HmacSha256::new_from_slice(secret)
                .map_err(|_| KeyError::ShortSecret(id.clone()))?;
            if map.insert(id.clone(), mac).is_some() {
                return Err(KeyError::Twice(id.clone()));
            }
        }
        if !map.contains_key(active) {
            return Err(KeyError::NoActive(active.to_string()));
        }
        Ok(KeyRing {
            keys: map,
            active: active.to_string(),
        })
    }

    /// A fresh random nonce.
    pub fn nonce() -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// A key for another purpose, derived from the active key: the same in every process that
    /// has the same keys (the portal's form tokens, checked by whichever receiver gets the post).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.keys[&self.active].clone();
        mac.update(b"reinstate derived key: ");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Signs claims with the active key.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let head = format!("v1.{}.{payload}", self.active);
        let mut mac = self.keys[&self.active].clone();
        mac.update(head.as_bytes());
        format!(
            "{head}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// Verifies in order: version, key id, signature (constant time), payload, expiry.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(kid), Some(payload), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        // An unknown key id costs the same work as a known one: its answer comes no sooner.
        let known = self.keys.get(kid);
        let mut mac = known.unwrap_or(&self.keys[&self.active]).clone();
        mac.update(format!("v1.{kid}.{payload}").as_bytes());
        let signed = mac.verify_slice(&sig).is_ok();
        if known.is_none() {
            return Err(TokenError::UnknownKey);
        }
        if !signed {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.nonce.len() != 32 || hex::decode(&claims.nonce).is_err() {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now_unix {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[(&str, &str)], active: &str) -> KeyRing {
        let keys: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|(i, s)| (i.to_string(), s.as_bytes().to_vec()))
            .collect();
        KeyRing::new(&keys, active).expect("ring")
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Email::parse("grace@example.com").expect("email"),
            purpose: Purpose::Restore,
            product: Some(Product::JiraSoftware),
            reason: None,
            exp,
            nonce: KeyRing::nonce(),
        }
    }

    const K1: &str = "k1-secret-0123456789abcdef0123456789";
    const K2: &str = "k2-secret-0123456789abcdef0123456789";

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let r = ring(&[("k1", K1)], "k1");
        let c = claims(1_000);
        let t = r.sign(&c);
        assert!(t.starts_with("v1.k1."));
        assert_eq!(r.verify(&t, 999), Ok(c));
        assert_eq!(r.verify(&t, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_anywhere_is_detected() {
        let r = ring(&[("k1", K1)], "k1");
        let t = r.sign(&claims(1_000));
        let parts: Vec<&str> = t.split('.').collect();
        let mut other = claims(1_000);
        other.sub = Email::parse("mallory@example.com").expect("email");
        let forged_payload = r
            .sign(&other)
            .split('.')
            .nth(2)
            .expect("payload")
            .to_string();
        let forged = format!("{}.{}.{}.{}", parts[0], parts[1], forged_payload, parts[3]);
        assert_eq!(r.verify(&forged, 0), Err(TokenError::BadSignature));
        // A middle character of the signature carries six full bits (the last one only four).
        let at = t.len() - 10;
        let replacement = if &t[at..at + 1] == "A" { "B" } else { "A" };
        let bad_sig = format!("{}{replacement}{}", &t[..at], &t[at + 1..]);
        assert_eq!(r.verify(&bad_sig, 0), Err(TokenError::BadSignature));
        for malformed in [
            "",
            "v1",
            "v2.k1.a.b",
            "v1.k1.a",
            "v1.k1.a.b.c",
            "v1.k1.!!.??",
        ] {
            assert!(r.verify(malformed, 0).is_err(), "{malformed}");
        }
    }

    #[test]
    fn old_keys_verify_until_removed_and_unknown_keys_fail() {
        let old = ring(&[("k1", K1)], "k1");
        let t = old.sign(&claims(1_000));
        let rotated = ring(&[("k1", K1), ("k2", K2)], "k2");
        assert!(rotated.verify(&t, 0).is_ok());
        assert!(rotated.sign(&claims(1_000)).starts_with("v1.k2."));
        let removed = ring(&[("k2", K2)], "k2");
        assert_eq!(removed.verify(&t, 0), Err(TokenError::UnknownKey));
        // The same id with another secret is a bad signature, not a valid link.
        let swapped = ring(&[("k1", K2)], "k1");
        assert_eq!(swapped.verify(&t, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn key_rings_are_validated() {
        assert!(KeyRing::new(&[("k1".into(), b"short".to_vec())], "k1").is_err());
        assert!(KeyRing::new(&[("k1".into(), K1.as_bytes().to_vec())], "k2").is_err());
        assert!(KeyRing::new(&[("k 1".into(), K1.as_bytes().to_vec())], "k 1").is_err());
        assert!(format!("{:?}", ring(&[("k1", K1)], "k1")).contains("redacted"));
    }
}
