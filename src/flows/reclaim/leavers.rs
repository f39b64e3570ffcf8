//! Leavers: a user an identity provider reports deactivated (Okta's `user.lifecycle.deactivate`
//! and `.suspend`, a Standard Webhooks `user.deactivated`) gets the `leavers` policy's action at
//! once, without a warning, recorded in the ledger (run `leavers`) like any reclaim.

use time::OffsetDateTime;

use super::super::Context;
use super::super::handle::{Handled, WorkError, finish_with, processed};
use crate::directory::CallLog;
use crate::domain::reclaim::{LEAVERS, Order, TakeAction};
use crate::domain::{AuditOutcome, Event, Product};
use crate::store::EventOutcome;

/// The ledger's run for leavers.
pub const RUN: &str = "leavers";

pub(crate) async fn handle(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let none = CallLog::default();
    let Some(email) = &event.user.email else {
        let why = "a leaver named by no email".to_string();
        return finish_with(ctx, event, attempt, AuditOutcome::UnknownUser, why, none).await;
    };
    let Some(account) = ctx.store.account_by_email(email)? else {
        let why = "a leaver the inventory does not know: nothing to take".to_string();
        return finish_with(ctx, event, attempt, AuditOutcome::UnknownUser, why, none).await;
    };
    let policies = ctx.store.policies()?;
    let Some(policy) = crate::domain::reclaim::leavers(&policies.policies) else {
        let why = format!("a leaver, but no enabled `{LEAVERS}` policy: nothing was taken");
        return finish_with(ctx, event, attempt, AuditOutcome::Skipped, why, none).await;
    };
    // One order per product (or one for the account), each its own event: idempotent.
    let products: Vec<Option<Product>> = match policy.action {
        TakeAction::RemoveProductAccess => policy.products.iter().copied().map(Some).collect(),
        _ => vec![None],
    };
    let mut outcomes = Vec::new();
    for (seq, product) in products.into_iter().enumerate() {
        let order = Order {
            run: RUN.into(),
            seq: seq as u32,
            account_id: account.account_id.clone(),
            action: super::take_order(policy.action),
            policy: Some(LEAVERS.into()),
            planned_at: OffsetDateTime::now_utc(),
        };
        let mut action = super::order_event(order, Some(email.clone()), product);
        // Tied to this leaver event: the same report, delivered again, is the same actions.
        action.id = crate::domain::EventId::new(
            crate::domain::Source::Reclaim,
            &format!("{}:{}", event.id, product.map_or("account", |p| p.key())),
        );
        if ctx.store.processed(action.id.as_str())?.is_some() {
            continue;
        }
        if let Handled::Done(o) = super::carry_out(ctx, &action, attempt).await? {
            outcomes.extend(o);
        }
    }
    ctx.store
        .record(EventOutcome {
            processed: processed(ctx, event, "leaver"),
            ..Default::default()
        })
        .await?;
    Ok(Handled::Done(outcomes))
}
