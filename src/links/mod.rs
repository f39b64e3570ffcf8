//! Signed email links: the keys (`[links]`), and links made for a user and a purpose. The pages
//! that confirm and redeem them are in `http::public::links`.

use std::sync::OnceLock;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::domain::{Email, Problems, Product};

mod token;
pub use token::{Claims, KeyError, KeyRing, Purpose, TokenError};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Signing keys; every key verifies, `active` signs. Remove a key to revoke its links.
    pub keys: Vec<LinkKey>,
    /// The key id that signs new links.
    pub active: Option<String>,
    /// How long a link stays valid.
    pub ttl_hours: u64,
    #[serde(skip)]
    ring: OnceLock<Result<Option<KeyRing>, Problems>>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            active: None,
            ttl_hours: 72,
            ring: OnceLock::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkKey {
    pub id: String,
    /// At least 32 characters of random secret.
    pub secret: SecretString,
}

impl LinksConfig {
    /// The key ring, built once; `None` when no keys are configured.
    pub fn key_ring(&self) -> Result<Option<&KeyRing>, &Problems> {
        let ring = self.ring.get_or_init(|| self.build_ring());
        ring.as_ref().map(Option::as_ref)
    }

    fn build_ring(&self) -> Result<Option<KeyRing>, Problems> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let keys: Vec<(String, Vec<u8>)> = self
            .keys
            .iter()
            .map(|k| (k.id.clone(), k.secret.expose_secret().as_bytes().to_vec()))
            .collect();
        let mut problems = Problems::default();
        let Some(active) = self.active.as_deref() else {
            problems.add("links.active", "name the key that signs new links");
            return Err(problems);
        };
        KeyRing::new(&keys, active).map(Some).map_err(|e| {
            problems.add("links.keys", e);
            problems
        })
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(e) = self.key_ring() {
            problems.extend(e.clone().into_vec());
        }
        if !(1..=720).contains(&self.ttl_hours) {
            problems.add("links.ttl_hours", "must be 1 to 720");
        }
    }

    /// Link settings with `keys` (the configured ring, or the sandbox's).
    pub fn settings(&self, keys: KeyRing, public_url: &str) -> LinkSettings {
        LinkSettings {
            keys,
            ttl: Duration::from_secs(self.ttl_hours * 3600),
            public_url: public_url.to_string(),
        }
    }
}

/// Links as configured: the keys and how long new links last.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub keys: KeyRing,
    pub ttl: Duration,
    pub public_url: String,
}

impl LinkSettings {
    /// A link for `claims` fields, valid for the configured time.
    pub fn create(
        &self,
        sub: &Email,
        purpose: Purpose,
        product: Option<Product>,
        reason: Option<String>,
    ) -> String {
        let claims = Claims {
            sub: sub.clone(),
            purpose,
            product,
            reason,
            exp: OffsetDateTime::now_utc().unix_timestamp() + self.ttl.as_secs() as i64,
            nonce: KeyRing::nonce(),
        };
        format!(
            "{}/v1/links/{}",
            self.public_url.trim_end_matches('/'),
            self.keys.sign(&claims)
        )
    }
}

/// "g***@example.com": enough for the user to recognise, little for anyone else.
pub fn mask(email: &Email) -> String {
    let (local, domain) = email
        .as_str()
        .split_once('@')
        .unwrap_or((email.as_str(), ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}
