//! Reclamation: the policies (`policies`), runs that plan over the inventory and publish one
//! action per user (`run`), the workers' side of an action (`act`: warn, take, give back, with
//! the ledger of exactly what was taken), a run's end and its summary (`finish`), admins' bulk
//! jobs and undo (`jobs`), leavers (`leavers`), who is always protected (`protect`), the
//! schedule's configuration (`config`) and the named schedules (`schedules`).
//! Also here: what a reclaim done elsewhere took, recorded so that a restore puts back exactly
//! that; and a user's wish to keep their licence ("keep my access").

use time::OffsetDateTime;

use super::outcome::{Handled, WorkError, base_entry, processed};
use super::{Context, FlowError};
use crate::domain::reclaim::{Order, OrderAction, Standing, TakeAction, ThenAction};
use crate::domain::{AuditOutcome, Email, Event, EventKind, GroupRef, Product, Source};
use crate::store::{AuditEntry, EventOutcome, Reclaimed, RunEntry, UserRecord};

mod act;
pub mod config;
pub mod finish;
pub mod jobs;
pub mod leavers;
pub mod policies;
pub mod protect;
pub mod refused;
pub mod run;
pub mod schedules;

pub use act::carry_out;
pub use config::ReclaimConfig;

/// The action a policy's `action` means.
pub(crate) fn take_order(action: TakeAction) -> OrderAction {
    match action {
        TakeAction::RemoveProductAccess => OrderAction::RemoveProductAccess,
        TakeAction::Suspend => OrderAction::Standing {
            change: Standing::Suspend,
        },
        TakeAction::Deactivate => OrderAction::Standing {
            change: Standing::Deactivate,
        },
    }
}

/// The action a policy's `then` means.
pub(crate) fn escalate_order(action: ThenAction) -> OrderAction {
    match action {
        ThenAction::Suspend => OrderAction::Standing {
            change: Standing::Suspend,
        },
        ThenAction::Deactivate => OrderAction::Standing {
            change: Standing::Deactivate,
        },
        ThenAction::Delete => OrderAction::Standing {
            change: Standing::Delete,
        },
        ThenAction::RemoveAllAccess => OrderAction::RemoveAllAccess,
    }
}

/// The event that carries an order: its id is derived from the run, account, product and
/// action, so publishing it again is the same event.
pub(crate) fn order_event(order: Order, email: Option<Email>, product: Option<Product>) -> Event {
    let source = if order.policy.is_some() {
        Source::Reclaim
    } else {
        Source::Admin
    };
    let sender = order.sender_id(product);
    let user = run::order_user(email, &order.account_id);
    Event {
        order: Some(order),
        ..Event::new(
            source,
            &sender,
            EventKind::Order,
            user,
            product,
            OffsetDateTime::now_utc(),
        )
    }
}

/// The event of an entry that acts (a run stopped while publishing publishes it again).
pub(crate) fn event_of_entry(entry: RunEntry) -> Option<Event> {
    let order = entry.order?;
    Some(order_event(order, entry.email, entry.product))
}

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
