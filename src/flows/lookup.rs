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

/// What reinstate knew of the user before asking the directory.
#[derive(Debug, Default)]
pub struct Known {
    /// The account reinstate recorded for this email before.
    pub account_id: Option<String>,
    /// The inventory's record, synced recently enough to act on without asking.
    pub trusted: Option<DirectoryUser>,
    /// The email the inventory holds for the event's account id, for when the directory
    /// hides it.
    pub account_email: Option<Email>,
    /// Accounts whose standing reinstate itself changed and has not given back (the ledger):
    /// those are given back whatever `directory.reactivate` says.
    pub standing_taken: Vec<String>,
}

impl Known {
    /// What the store knows of `email` (and of the event's account id, when it names one);
    /// `recorded` is the account id of the user's record.
    pub fn of(
        ctx: &super::Context,
        event_user: &EventUser,
        email: &Email,
        recorded: Option<String>,
    ) -> Result<Known, crate::store::StoreError> {
        use super::inventory::seen;
        let account_email = match &event_user.account_id {
            Some(id) => ctx.store.account(id)?.and_then(|a| a.email),
            None => None,
        };
        // The account reinstate recorded, else the inventory's for this email: found by id, a
        // suspended or deactivated account is found where the search cannot (AX-286).
        let inventory = ctx.store.account_by_email(email)?.map(|a| a.account_id);
        let recorded = recorded.or(inventory.clone());
        let candidates = [event_user.account_id.clone(), recorded.clone(), inventory];
        let mut standing_taken = Vec::new();
        for id in candidates.into_iter().flatten() {
            let taken = ctx
                .store
                .open_ledger(&id)?
                .iter()
                .any(|l| matches!(l.change, crate::store::Change::Standing { .. }));
            if taken && !standing_taken.contains(&id) {
                standing_taken.push(id);
            }
        }
        Ok(Known {
            account_id: recorded,
            trusted: seen::trusted(ctx, email)?.map(|a| seen::as_directory_user(&a)),
            account_email,
            standing_taken,
        })
    }
}

/// The user's account: the inventory's trusted record (no call); else by the account id
/// recorded before (with the groups in the same call), which saves the search, unless it no
/// longer exists or now shows another email; else the search.
async fn find(
    dir: &dyn Directory,
    event_user: &EventUser,
    email: &Email,
    known: Known,
    calls: &mut CallLog,
) -> Result<Option<DirectoryUser>, Stop> {
    let same_account = |u: &DirectoryUser| {
        event_user
            .account_id
            .as_deref()
            .is_none_or(|id| id == u.account_id)
    };
    if let Some(user) = known.trusted.filter(same_account) {
        return Ok(Some(user));
    }
    let same_email = |u: &DirectoryUser| {
        u.email
            .as_deref()
            .is_none_or(|e| e.eq_ignore_ascii_case(email.as_str()))
    };
    if let Some(id) = event_user.account_id.as_deref() {
        // An event naming both: the account must be this email's, or nothing happens.
        let Some(user) = dir.find_user(Some(id), email, calls).await? else {
            return Ok(None);
        };
        let shown = user.email.clone().or(known.account_email.map(String::from));
        return match shown {
            Some(e) if e.eq_ignore_ascii_case(email.as_str()) => Ok(Some(user)),
            Some(e) => Err(Stop::End(
                AuditOutcome::AccountMismatch,
                format!(
                    "account {id} belongs to {e}, not to {email}: the event names both, so nothing is done"
                ),
            )),
            None => Err(Stop::End(
                AuditOutcome::AccountMismatch,
                format!(
                    "account {id} shows no email, so it cannot be confirmed as {email}'s: nothing is done"
                ),
            )),
        };
    }
    if let Some(id) = known.account_id.as_deref()
        && let Some(user) = dir
            .find_user(Some(id), email, calls)
            .await?
            .filter(same_email)
    {
        return Ok(Some(user));
    }
    Ok(dir.find_user(None, email, calls).await?)
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
pub async fn look_up(
    dir: &dyn Directory,
    event_user: &EventUser,
    email: &Email,
    known: Known,
    product: Option<Product>,
    calls: &mut CallLog,
) -> Result<LookedUp, Stop> {
    let standing_taken = known.standing_taken.clone();
    let found = find(dir, event_user, email, known, calls).await?;
    let mut user = found.ok_or_else(|| {
        let why = match dir.why_unfound() {
            Some(gap) => format!("no directory account matches this user; {gap}"),
            None => "no directory account matches this user".into(),
        };
        Stop::End(AuditOutcome::UnknownUser, why)
    })?;
    if user.customer {
        return Err(Stop::End(
            AuditOutcome::PortalCustomer,
            "a Jira Service Management portal-only customer: the portal needs no licence, so none \
             is given"
                .into(),
        ));
    }
    if !user.active && !dir.can_reactivate() && !standing_taken.contains(&user.account_id) {
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
