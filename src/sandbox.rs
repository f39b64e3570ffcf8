//! The zero-setup demo: a signing secret and an admin token generated on first start and kept
//! beside the state (so `reinstate send-login` can sign with it), and a starter rule.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::Product;
use crate::domain::rules::{Conditions, Outcome, Rule};

/// Credentials of a sandbox, stored in `<store.path>/sandbox-credentials.json` (mode 0600).
#[derive(Clone, Serialize, Deserialize)]
pub struct SandboxCredentials {
    /// `whsec_…` secret the login receiver accepts.
    pub login_secret: String,
    /// Admin bearer token.
    pub admin_token: String,
    /// Signs the sandbox's email links.
    #[serde(default)]
    pub link_secret: String,
}

impl SandboxCredentials {
    pub fn link_keys(&self) -> Result<crate::links::KeyRing, crate::links::KeyError> {
        crate::links::KeyRing::new(
            &[("sandbox".into(), self.link_secret.as_bytes().to_vec())],
            "sandbox",
        )
    }
}

impl std::fmt::Debug for SandboxCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxCredentials([redacted])")
    }
}

pub fn credentials_path(store_path: &Path) -> PathBuf {
    store_path.join("sandbox-credentials.json")
}

/// Loads the sandbox credentials, creating them on first start.
pub fn load_or_create(store_path: &Path) -> std::io::Result<SandboxCredentials> {
    let path = credentials_path(store_path);
    let mut creds: SandboxCredentials = match std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(c) => c,
        None => generate(),
    };
    if creds.link_secret.is_empty() {
        // Credentials from before links existed: add a link key.
        creds.link_secret = random_hex(32);
    }
    std::fs::create_dir_all(store_path)?;
    write_private(&path, &serde_json::to_vec_pretty(&creds)?)?;
    Ok(creds)
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn generate() -> SandboxCredentials {
    let mut secret = [0u8; 32];
    let mut token = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    rand::rng().fill_bytes(&mut token);
    SandboxCredentials {
        login_secret: format!("whsec_{}", STANDARD.encode(secret)),
        admin_token: format!("sandbox-admin-{}", hex::encode(token)),
        link_secret: random_hex(32),
    }
}

pub fn load(store_path: &Path) -> Option<SandboxCredentials> {
    serde_json::from_slice(&std::fs::read(credentials_path(store_path)).ok()?).ok()
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The sandbox's starter rules: its staff domain gets Jira Software back on login; the rest
/// (another product, another domain) waits for an admin.
pub fn starter_rules() -> Vec<Rule> {
    vec![Rule {
        enabled: true,
        message: None,
        name: "sandbox: example.com staff get Jira Software back".into(),
        when: Conditions {
            domains: Some(vec!["example.com".into()]),
            products: Some(vec![Product::JiraSoftware]),
            ..Default::default()
        },
        then: Outcome::Restore,
    }]
}

/// The sandbox's starter reclaim policy: Jira Software unused for 90 days is removed, after a
/// warning that is optional (the sandbox sends no email, so nobody can be warned).
pub fn starter_policies() -> Vec<crate::domain::reclaim::Policy> {
    use crate::domain::reclaim::{Policy, Protect, TakeAction};
    vec![Policy {
        name: "sandbox: Jira Software unused for 90 days".into(),
        enabled: true,
        products: vec![Product::JiraSoftware],
        inactive_after_days: 90,
        include_never_active: false,
        unknown_activity: Default::default(),
        action: TakeAction::RemoveProductAccess,
        warn_days_before: 14,
        warning_optional: true,
        protect: Protect::default(),
        then: None,
    }]
}
