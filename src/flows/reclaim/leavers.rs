//! Leavers: a user an identity provider reports deactivated (Okta's `user.lifecycle.deactivate`
//! and `.suspend`, a Standard Webhooks `user.deactivated`) gets the `leavers` policy's action at
//! once, without a warning, recorded in the ledger (run `leavers`) like any reclaim — except for
//! the always protected (administrators, the service account, `reclaim.protect_accounts`) and
//! whom the policy's own `protect` covers, which are audited `protected` with nothing taken.
//! With `sources.okta.confirm_leavers`, a report from Okta about an account the inventory still
//! shows active is acted on only once Okta's Users API confirms the user left.

use time::OffsetDateTime;

use super::super::Context;
use super::super::outcome::{Handled, WorkError, finish_with, processed};
use crate::directory::CallLog;
use crate::domain::reclaim::{LEAVERS, Order, OrderAction, TakeAction};
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
    let admins = super::protect::Admins::by_group(ctx);
    let protected = super::protect::always(ctx, &account, &admins)
        .or_else(|| policy.protects(account.email.as_ref(), &account.groups));
    if let Some(why) = protected {
        let why = format!("a leaver, but {why}: always protected, nothing was taken");
        return finish_with(ctx, event, attempt, AuditOutcome::Protected, why, none).await;
    }
    if let Some(why) = unconfirmed(ctx, event, &account, email).await? {
        return finish_with(ctx, event, attempt, AuditOutcome::Skipped, why, none).await;
    }
    // One order per product (or one for the account), each its own event: idempotent.
    let mut orders: Vec<(Option<Product>, OrderAction)> = match policy.action {
        TakeAction::RemoveProductAccess => policy
            .products
            .iter()
            .map(|p| (Some(*p), super::take_order(policy.action)))
            .collect(),
        _ => vec![(None, super::take_order(policy.action))],
    };
    // Data Center: renamed, so that the name is free and the leaver plain to see.
    if let Some(username) = &account.username
        && ctx.settings.reclaim.rename_leavers
        && ctx.directory.has_usernames()
    {
        let today = OffsetDateTime::now_utc().date();
        let stamp = format!(
            "{:04}{:02}{:02}",
            today.year(),
            today.month() as u8,
            today.day()
        );
        let to = format!("{username}_inactive_{stamp}");
        orders.push((None, OrderAction::Rename { to }));
    }
    let mut outcomes = Vec::new();
    for (seq, (product, action)) in orders.into_iter().enumerate() {
        let key = format!(
            "{}:{}",
            product.map_or("account", |p| p.key()),
            action.key()
        );
        let order = Order {
            run: RUN.into(),
            seq: seq as u32,
            account_id: account.account_id.clone(),
            action,
            policy: Some(LEAVERS.into()),
            planned_at: OffsetDateTime::now_utc(),
            override_protected: false,
        };
        let mut action = super::order_event(order, Some(email.clone()), product);
        // Tied to this leaver event: the same report, delivered again, is the same actions.
        action.id = crate::domain::EventId::new(
            crate::domain::Source::Reclaim,
            &format!("{}:{key}", event.id),
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

/// Why a leaver Okta reports is not confirmed, when `sources.okta.confirm_leavers` asks for it
/// and the inventory still shows the account active: Okta's Users API is read, and anything but
/// deprovisioned, suspended or deleted leaves the account alone.
async fn unconfirmed(
    ctx: &Context,
    event: &Event,
    account: &crate::store::Account,
    email: &crate::domain::Email,
) -> Result<Option<String>, WorkError> {
    let Some(okta) = &ctx.settings.okta_users else {
        return Ok(None);
    };
    if event.source != crate::domain::Source::Okta
        || account.status != crate::domain::AccountStatus::Active
    {
        return Ok(None);
    }
    let login = event.user.username.as_deref().unwrap_or(email.as_str());
    if let Some(why) = crate::directory::okta::unreadable(login) {
        return Ok(Some(format!(
            "a leaver Okta reported, but {why}: not confirmed (sources.okta.confirm_leavers), \
             nothing was taken"
        )));
    }
    let mut calls = ctx.calls();
    let status = okta
        .status(login, &mut calls)
        .await
        .map_err(WorkError::Directory)?;
    if status.left() {
        return Ok(None);
    }
    let crate::directory::okta::OktaStatus::Status { status: s, .. } = status else {
        return Ok(None);
    };
    Ok(Some(format!(
        "a leaver Okta reported, but Okta's Users API says the user is {s}: not confirmed \
         (sources.okta.confirm_leavers), nothing was taken"
    )))
}

/// After a sync: accounts it marked `gone` are leavers too, when a `leavers` policy is on; each
/// is published once (its id names the account and when it went).
pub async fn gone(
    ctx: &Context,
    intake: &super::super::Intake,
    sync: &crate::store::SyncState,
) -> Result<usize, super::super::FlowError> {
    let policies = ctx.store.policies()?;
    if crate::domain::reclaim::leavers(&policies.policies).is_none() {
        return Ok(0);
    }
    let Some(finished) = sync.finished_at else {
        return Ok(0);
    };
    let left: Vec<(String, Option<crate::domain::Email>, OffsetDateTime)> = ctx
        .store
        .accounts()?
        .accounts()
        .filter(|a| a.gone_at == Some(finished))
        .map(|a| (a.account_id.clone(), a.email.clone(), finished))
        .collect();
    for (account_id, email, at) in &left {
        let id = format!(
            "gone:{}:{}",
            crate::domain::short_hash(account_id),
            at.unix_timestamp()
        );
        let user = crate::domain::EventUser {
            email: email.clone(),
            account_id: Some(account_id.clone()),
            ..Default::default()
        };
        let event = Event::new(
            crate::domain::Source::Reclaim,
            &id,
            crate::domain::EventKind::Leaver,
            user,
            None,
            *at,
        );
        intake
            .accept(event)
            .await
            .map_err(|e| super::super::FlowError::Unavailable(e.to_string()))?;
    }
    Ok(left.len())
}
