//! Who an event is about. Most senders name an email; some name only a login name (Keycloak's
//! `details.username`, an Okta `alternateId` that is not an address). A login name resolves
//! through the inventory's username index, then the directory's own usernames (Data Center),
//! then `[identity] default_domain`; when nothing matches, the event is audited as
//! `unknown_user` with the name it gave.

use serde::Deserialize;

use super::Context;
use super::lookup::Stop;
use crate::directory::CallLog;
use crate::domain::{AccountStatus, AuditOutcome, Email, Problems};

/// `[identity]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// The mail domain of login names nothing else resolves: `jdoe` is `jdoe@<domain>`.
    pub default_domain: Option<String>,
}

impl IdentityConfig {
    pub fn check(&self, problems: &mut Problems) {
        if let Some(domain) = &self.default_domain
            && (domain.contains('@') || Email::parse(&format!("user@{domain}")).is_err())
        {
            problems.add(
                "identity.default_domain",
                format!("{domain:?} is not a mail domain like example.com"),
            );
        }
    }
}

/// The user an event is about, once named by email.
#[derive(Debug)]
pub struct Identified {
    pub email: Email,
    /// The account the login name resolved to, when it resolved to one.
    pub account_id: Option<String>,
}

/// The event's email, or a login name resolved to one; `unknown_user` when nothing matches.
pub async fn identify(
    ctx: &Context,
    user: &crate::domain::EventUser,
    calls: &mut CallLog,
) -> Result<Identified, Stop> {
    if let Some(email) = &user.email {
        return Ok(Identified {
            email: email.clone(),
            account_id: None,
        });
    }
    let unknown = |reason: String| Stop::End(AuditOutcome::UnknownUser, reason);
    let Some(name) = user.username.as_deref() else {
        return Err(unknown(
            "the event names no email or login name to find the user by".into(),
        ));
    };
    let indexed = ctx
        .store
        .account_by_username(name)
        .map_err(|e| Stop::Retry(e.into()))?;
    if let Some(account) = indexed
        && account.status != AccountStatus::Gone
        && let Some(email) = account.email
    {
        return Ok(Identified {
            email,
            account_id: Some(account.account_id),
        });
    }
    let directory = ctx.directory.as_ref();
    if let Some(found) = directory.find_by_username(name, calls).await?
        && let Some(email) = found.email.as_deref().and_then(|e| Email::parse(e).ok())
    {
        return Ok(Identified {
            email,
            account_id: Some(found.account_id),
        });
    }
    if let Some(domain) = &ctx.settings.identity.default_domain
        && !name.contains('@')
        && let Ok(email) = Email::parse(&format!("{name}@{domain}"))
    {
        return Ok(Identified {
            email,
            account_id: None,
        });
    }
    let directory_said = if directory.has_usernames() {
        "the directory has no user by that name"
    } else {
        "the directory names users by email"
    };
    Err(unknown(format!(
        "no account has the login name {name:?}: not in the inventory, {directory_said}, and \
         identity.default_domain {}",
        if ctx.settings.identity.default_domain.is_some() {
            "does not apply to it"
        } else {
            "is not set"
        }
    )))
}
