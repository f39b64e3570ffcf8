//! Giving back, exactly: what one ledger entry took (groups, a standing), or everything the
//! ledger holds for a user.

use time::{Duration, OffsetDateTime};

use super::super::super::Context;
use super::super::super::inventory::seen::{self, Changed};
use super::take::add_groups;
use super::{Done, Fail, access_of};
use crate::directory::CallLog;
use crate::domain::reclaim::{Order, Standing};
use crate::domain::{AccountStatus, AuditOutcome, Event, GroupRef, Product};
use crate::store::{Change, EntryResult, LedgerEntry, LedgerState, UserRecord};

/// `enable-licences`: gives back what the ledger says was taken from the user (for the
/// order's product, or all), else the product's default groups.
pub(super) async fn give_back_licences(
    ctx: &Context,
    event: &Event,
    order: &Order,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let open: Vec<LedgerEntry> = ctx
        .store
        .open_ledger(&order.account_id)?
        .into_iter()
        .filter(|l| event.product.is_none() || l.product == event.product || l.product.is_none())
        .collect();
    if open.is_empty() {
        return match event.product {
            Some(p) => {
                let access = access_of(ctx, p, calls).await?;
                add_groups(ctx, event, order, Some(p), access.default_groups, calls).await
            }
            None => Ok(Done::skipped(
                "nothing taken to give back; name a product to grant",
            )),
        };
    }
    let mut all = Done::new(EntryResult::Done, AuditOutcome::Changed, "");
    let mut details = Vec::new();
    for entry in open {
        let done = give_back(ctx, event, entry, calls).await?;
        if done.result == EntryResult::Failed {
            all.result = EntryResult::Failed;
            all.outcome = AuditOutcome::Failed;
        }
        details.push(done.detail);
        all.ledger.extend(done.ledger);
        if done.user.is_some() {
            all.user = done.user;
        }
    }
    all.detail = details.join("; ");
    Ok(all)
}

/// Gives back exactly what one ledger entry took, seats permitting.
pub(super) async fn give_back(
    ctx: &Context,
    event: &Event,
    mut entry: LedgerEntry,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    match entry.state {
        LedgerState::Closed => {
            return Ok(Done::skipped(format!(
                "{} was given back already",
                entry.id
            )));
        }
        LedgerState::Final => {
            let why = entry.closed_by.clone().unwrap_or_default();
            return Ok(Done::failed(format!(
                "{} cannot be given back: {why}",
                entry.id
            )));
        }
        LedgerState::InProgress | LedgerState::Open => {}
    }
    let undone = match entry.change.clone() {
        Change::GroupsRemoved { groups } => add_back(ctx, &entry, &groups, calls).await?,
        Change::GroupsAdded { groups } => remove_again(ctx, &entry, &groups, calls).await?,
        Change::Standing { from, to } => {
            restore_standing(ctx, &mut entry, &from, &to, calls).await?
        }
        Change::Email { .. } | Change::Username { .. } => {
            super::attributes::put_back(ctx, &entry, calls).await?
        }
    };
    let detail = match undone {
        Ok(detail) => detail,
        Err(mut done) => {
            if entry.state == LedgerState::Final {
                done.ledger.push(entry);
            }
            return Ok(done);
        }
    };
    let mut done = Done::new(EntryResult::Done, AuditOutcome::Changed, detail);
    done.user = given_back_user(ctx, &entry)?;
    entry.state = LedgerState::Closed;
    entry.closed_by = Some(event.id.to_string());
    entry.closed_at = Some(OffsetDateTime::now_utc());
    done.ledger.push(entry);
    Ok(done)
}

/// What an undo step came to: what it did, or why it stopped.
type Undone = Result<String, Done>;

/// Adds the user back to exactly the groups removed, when the product has a seat.
async fn add_back(
    ctx: &Context,
    entry: &LedgerEntry,
    groups: &[GroupRef],
    calls: &mut CallLog,
) -> Result<Undone, Fail> {
    if let Some(p) = entry.product
        && access_of(ctx, p, calls).await?.seats.full()
    {
        let why = format!(
            "{} has no seat left: free or buy one, then undo again",
            p.key()
        );
        return Ok(Err(Done::failed(why)));
    }
    let product = entry.product.unwrap_or(Product::JiraSoftware);
    for g in groups {
        ctx.directory
            .add_to_group(&entry.account_id, product, g, calls)
            .await?;
    }
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let licences: Vec<(Product, bool)> = entry.product.map(|p| (p, true)).into_iter().collect();
    let change = Changed {
        account_id: &entry.account_id,
        removed: &[],
        added: &names,
        licences: &licences,
        status: None,
    };
    seen::changed(ctx, change)?;
    Ok(Ok(format!("added back to {names:?}")))
}

/// Removes the user again from the groups an admin's job added.
async fn remove_again(
    ctx: &Context,
    entry: &LedgerEntry,
    groups: &[GroupRef],
    calls: &mut CallLog,
) -> Result<Undone, Fail> {
    let product = entry.product.unwrap_or(Product::JiraSoftware);
    for g in groups {
        ctx.directory
            .remove_from_group(&entry.account_id, product, g, calls)
            .await?;
    }
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let change = Changed {
        account_id: &entry.account_id,
        removed: &names,
        added: &[],
        licences: &[],
        status: None,
    };
    seen::changed(ctx, change)?;
    Ok(Ok(format!("removed again from {names:?}")))
}

/// Puts the account's standing back; a deletion past its 14-day grace is final.
async fn restore_standing(
    ctx: &Context,
    entry: &mut LedgerEntry,
    from: &str,
    to: &str,
    calls: &mut CallLog,
) -> Result<Undone, Fail> {
    let Some(change) = Standing::from_to(to) else {
        return Ok(Err(Done::skipped(format!(
            "the account was made {to}: nothing to undo"
        ))));
    };
    let grace = Duration::days(14);
    if change == Standing::Delete && OffsetDateTime::now_utc() - entry.at > grace {
        let why = format!(
            "the deletion's 14-day grace ended on {}",
            (entry.at + grace).date()
        );
        entry.state = LedgerState::Final;
        entry.closed_by = Some(why.clone());
        return Ok(Err(Done::failed(format!("{why}: it cannot be undone"))));
    }
    let directory = crate::flows::inventory::directory_of(ctx, &entry.account_id)?;
    for back in Standing::back(to, from) {
        ctx.directory
            .set_standing(&entry.account_id, directory.as_deref(), back, calls)
            .await?;
    }
    let status = match from {
        "suspended" => AccountStatus::Suspended,
        "deactivated" => AccountStatus::Deactivated,
        _ => AccountStatus::Active,
    };
    let change = Changed {
        account_id: &entry.account_id,
        removed: &[],
        added: &[],
        licences: &[],
        status: Some(status),
    };
    seen::changed(ctx, change)?;
    Ok(Ok(format!("the account is {from} again")))
}

/// The user's record once a licence is back: licensed, nothing recorded as reclaimed.
fn given_back_user(ctx: &Context, entry: &LedgerEntry) -> Result<Option<UserRecord>, Fail> {
    let (Some(email), Change::GroupsRemoved { .. }) = (&entry.email, &entry.change) else {
        return Ok(None);
    };
    let mut user = ctx
        .store
        .user(email)?
        .unwrap_or_else(|| UserRecord::new(email));
    let now = OffsetDateTime::now_utc();
    for product in Product::ALL {
        if entry.product.is_some_and(|p| p != product) {
            continue;
        }
        if let Some(state) = user.products.get_mut(&product)
            && state.reclaimed.is_some()
        {
            state.reclaimed = None;
            state.licensed = true;
            state.restored_at = Some(now);
        }
    }
    Ok(Some(user))
}
