//! The directory's view of the user of an event: their account, groups (directory and identity
//! provider together), and the products to decide.

use super::WorkError;
use crate::directory::{CallLog, Directory, DirectoryError, DirectoryUser, ProductAccess};
use crate::domain::{AuditOutcome, Email, EventUser, Product};

/// Why handling stopped before any decision.
pub enum Stop {
    /// Try again later (the bus redelivers).
    Retry(WorkError),
    /// Record this outcome and stop.
    End(AuditOutcome, String),
}

impl From<DirectoryError> for Stop {
    fn from(e: DirectoryError) -> Stop {
        if e.is_transient() {
            Stop::Retry(e.into())
        } else {
            Stop::End(AuditOutcome::Failed, e.to_string())
        }
    }
}

/// What the directory says about the user of an event.
pub struct LookedUp {
    pub user: DirectoryUser,
    /// Groups from the directory and the identity provider together.
    pub groups: Vec<String>,
    /// The products to decide: the event's, or every product the directory licenses.
    pub targets: Vec<ProductAccess>,
}

/// Finds the user, their groups (directory and identity provider) and the products to decide.
/// `known_account_id` is the account reinstate recorded for this email before: looked up by
/// id (with the groups in the same call), it saves the search; if it no longer exists or now
/// shows another email, the search decides.
pub async fn look_up(
    dir: &dyn Directory,
    event_user: &EventUser,
    email: &Email,
    known_account_id: Option<&str>,
    product: Option<Product>,
    calls: &mut CallLog,
) -> Result<LookedUp, Stop> {
    let mut found = None;
    if event_user.account_id.is_none()
        && let Some(id) = known_account_id
    {
        found = dir.find_user(Some(id), email, calls).await?.filter(|u| {
            u.email
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(email.as_str()))
        });
    }
    if found.is_none() {
        found = dir
            .find_user(event_user.account_id.as_deref(), email, calls)
            .await?;
    }
    let mut user = found.ok_or_else(|| {
        Stop::End(
            AuditOutcome::UnknownUser,
            "no directory account matches this user".into(),
        )
    })?;
    if user.customer {
        return Err(Stop::End(
            AuditOutcome::PortalCustomer,
            "a Jira Service Management portal-only customer: the portal needs no licence, so none \
             is given"
                .into(),
        ));
    }
    if !user.active && !dir.can_reactivate() {
        // A deactivated account cannot use a licence; restoring would only spend a seat.
        return Err(Stop::End(
            AuditOutcome::AccountInactive,
            "the directory account is deactivated; reactivate it first, or let reinstate do it (directory.reactivate)".into(),
        ));
    }
    let mut groups = match user.groups.take() {
        Some(groups) => groups,
        None => dir.user_groups(&user.account_id, calls).await?,
    };
    groups.extend(event_user.groups.iter().cloned());
    let products = dir.products(calls).await?;
    let targets = match product {
        None => products,
        Some(p) => {
            let access = products
                .into_iter()
                .find(|a| a.product == p)
                .ok_or_else(|| {
                    Stop::End(
                        AuditOutcome::UnsupportedProduct,
                        format!("the {} directory does not license {}", dir.kind(), p.key()),
                    )
                })?;
            vec![access]
        }
    };
    Ok(LookedUp {
        user,
        groups,
        targets,
    })
}
