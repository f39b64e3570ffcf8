//! Reclaimed licences: what a reclaim took, recorded so that a restore puts back exactly that;
//! and a user's wish to keep their licence ("keep my access"), remembered for the reclaim that
//! would take it.

use time::OffsetDateTime;

use super::handle::{Handled, WorkError, base_entry, processed};
use super::{Context, FlowError};
use crate::domain::{AuditOutcome, Email, Event, GroupRef, Product};
use crate::store::{AuditEntry, EventOutcome, Reclaimed, UserRecord};

/// "Keep my licence": remembered on the user; no directory call is needed.
pub(super) async fn record_keep(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let what = event.product.map_or("their licences".to_string(), |p| {
        format!("their {} licence", p.key())
    });
    let reason = format!("the user asked to keep {what}");
    let mut entry = base_entry(event, attempt, AuditOutcome::KeepRecorded, reason);
    entry.product = event.product;
    let user = match &event.user.email {
        Some(email) => {
            let mut user = ctx
                .store
                .user(email)?
                .unwrap_or_else(|| UserRecord::new(email));
            user.keep_requested_at = Some(event.occurred_at);
            Some(user)
        }
        None => None,
    };
    let outcome = EventOutcome {
        user,
        audit: vec![entry],
        processed: processed(ctx, event, AuditOutcome::KeepRecorded.key()),
        ..Default::default()
    };
    ctx.store.record(outcome).await?;
    Ok(Handled::Done(vec![AuditOutcome::KeepRecorded]))
}

/// A reclaim done elsewhere (a tool, a script), as an admin reports it.
pub struct ReportedReclaim {
    pub email: Email,
    pub account_id: Option<String>,
    pub product: Product,
    /// The groups that were removed, exactly; a restore puts these back.
    pub groups: Vec<GroupRef>,
    /// When it happened; now when absent.
    pub at: Option<OffsetDateTime>,
}

/// Records that a user's licence was reclaimed and which groups were removed. Audited; flushed.
pub async fn record_reclaimed(
    ctx: &Context,
    reclaim: ReportedReclaim,
    actor: &str,
) -> Result<UserRecord, FlowError> {
    let bad = |m: String| FlowError::invalid("invalid_request", m);
    if reclaim.groups.is_empty() {
        return Err(bad(
            "groups: list the groups that were removed (at least one)".into(),
        ));
    }
    for (i, g) in reclaim.groups.iter().enumerate() {
        if g.name.trim().is_empty()
            || g.name.len() > 256
            || g.id.as_ref().is_some_and(|id| id.trim().is_empty())
        {
            return Err(bad(format!(
                "groups[{i}]: a group needs a non-empty name (and id, when given)"
            )));
        }
    }
    let email = &reclaim.email;
    let mut user = ctx
        .store
        .user(email)?
        .unwrap_or_else(|| UserRecord::new(email));
    if reclaim.account_id.is_some() {
        user.account_id = reclaim.account_id;
    }
    let names: Vec<&str> = reclaim.groups.iter().map(|g| g.name.as_str()).collect();
    let mut entry = AuditEntry::new(
        AuditOutcome::ReclaimRecorded,
        format!(
            "{} licence recorded as reclaimed; groups removed: {names:?}",
            reclaim.product.key()
        ),
    );
    entry.user = Some(email.clone());
    entry.account_id = user.account_id.clone();
    entry.product = Some(reclaim.product);
    entry.actor = Some(actor.to_string());
    let state = user.products.entry(reclaim.product).or_default();
    state.licensed = false;
    state.reclaimed = Some(Reclaimed {
        at: reclaim.at.unwrap_or_else(OffsetDateTime::now_utc),
        groups: reclaim.groups,
        recorded_by: actor.to_string(),
    });
    ctx.store
        .record(EventOutcome {
            user: Some(user.clone()),
            audit: vec![entry],
            ..Default::default()
        })
        .await?;
    Ok(user)
}
