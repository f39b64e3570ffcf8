//! Taking: removing groups (exactly those that give the product, recorded before they go),
//! changing an account's standing, and the groups an admin's job adds.

use time::OffsetDateTime;

use super::super::super::Context;
use super::super::super::inventory::seen::{self, Changed};
use super::{Done, Fail, Scope, access_of, begin, begun, in_scope, ledgered};
use crate::directory::{CallLog, DirectoryError, Removed};
use crate::domain::reclaim::{Order, Standing};
use crate::domain::{AccountStatus, AuditOutcome, Event, GroupRef, Product};
use crate::store::{Change, EntryResult, LedgerEntry, LedgerState, Reclaimed, UserRecord};

/// Groups, each with the product it gives (when known).
type Taken = Vec<(Option<Product>, GroupRef)>;

/// What this order removes: what an earlier attempt began, else the groups in scope, written to
/// the ledger before anything is removed. `Err(done)`: nothing to take.
async fn planned_removal(
    ctx: &Context,
    event: &Event,
    order: &Order,
    scope: &Scope,
    member: &[String],
    calls: &mut CallLog,
) -> Result<Result<(LedgerEntry, Taken), Done>, Fail> {
    if let Some(l) = begun(ctx, event)? {
        let Change::GroupsRemoved { groups } = &l.change else {
            return Ok(Err(Done::failed(
                "the ledger holds another change for this order",
            )));
        };
        let groups = groups.iter().map(|g| (l.product, g.clone())).collect();
        return Ok(Ok((l, groups)));
    }
    let groups = in_scope(ctx, member, scope, calls).await?;
    if groups.is_empty() {
        return Ok(Err(Done::skipped(match scope {
            Scope::Product(p) => format!("in no group that gives {}: nothing to take", p.key()),
            Scope::All => "in no group that gives a product: nothing to take".into(),
            Scope::Group(g) => format!("not in the group {:?}", g.name),
        })));
    }
    let change = Change::GroupsRemoved {
        groups: groups.iter().map(|(_, g)| g.clone()).collect(),
    };
    let entry = begin(ctx, event, order, change).await?;
    Ok(Ok((entry, groups)))
}

/// Removes the user from each group, in order, until the directory refuses one; a transient
/// failure hands the order back to the bus (the ledger says what to finish).
async fn remove_each(
    ctx: &Context,
    event: &Event,
    account: &str,
    groups: &Taken,
    calls: &mut CallLog,
) -> Result<(Taken, Option<DirectoryError>), Fail> {
    let mut removed = Vec::new();
    for (product, group) in groups {
        let product_for_call = product.or(event.product).unwrap_or(Product::JiraSoftware);
        match ctx
            .directory
            .remove_from_group(account, product_for_call, group, calls)
            .await
        {
            Ok(Removed::Removed | Removed::NotMember) => removed.push((*product, group.clone())),
            Err(e) if e.is_transient() => return Err(Fail::Retry(e.into())),
            Err(e) => return Ok((removed, Some(e))),
        }
    }
    Ok((removed, None))
}

/// Takes the groups in `scope` of the user's groups (`member`, read just now).
pub(super) async fn take_groups(
    ctx: &Context,
    event: &Event,
    order: &Order,
    scope: Scope,
    member: &[String],
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let account = &order.account_id;
    let planned = planned_removal(ctx, event, order, &scope, member, calls).await?;
    let (mut ledger, groups) = match planned {
        Ok(planned) => planned,
        Err(done) => return Ok(done),
    };
    let (removed, refused) = remove_each(ctx, event, account, &groups, calls).await?;
    let names: Vec<String> = removed.iter().map(|(_, g)| g.name.clone()).collect();
    ledger.change = Change::GroupsRemoved {
        groups: removed.iter().map(|(_, g)| g.clone()).collect(),
    };
    ledger.state = if removed.is_empty() {
        LedgerState::Closed
    } else {
        LedgerState::Open
    };
    ledger.at = OffsetDateTime::now_utc();
    let taken: Vec<Product> = {
        let mut p: Vec<Product> = removed.iter().filter_map(|(p, _)| *p).collect();
        p.dedup();
        p
    };
    let licences: Vec<(Product, bool)> = taken.iter().map(|p| (*p, false)).collect();
    seen::changed(
        ctx,
        Changed {
            account_id: account,
            removed: &names,
            added: &[],
            licences: &licences,
            status: None,
        },
    )?;
    let mut done = match &refused {
        Some(e) => Done::failed(format!("removed from {names:?}, then refused: {e}")),
        None => Done::new(
            EntryResult::Done,
            if order.policy.is_some() {
                AuditOutcome::Reclaimed
            } else {
                AuditOutcome::Changed
            },
            format!("removed from {names:?}"),
        ),
    };
    done.user = reclaimed_user(ctx, event, order, &removed)?;
    done.ledger.push(ledger);
    Ok(done)
}

/// The user's record with what was taken per product: a restore puts back exactly that.
fn reclaimed_user(
    ctx: &Context,
    event: &Event,
    order: &Order,
    removed: &[(Option<Product>, GroupRef)],
) -> Result<Option<UserRecord>, Fail> {
    let Some(email) = &event.user.email else {
        return Ok(None);
    };
    let mut user = ctx
        .store
        .user(email)?
        .unwrap_or_else(|| UserRecord::new(email));
    user.account_id
        .get_or_insert_with(|| order.account_id.clone());
    let now = OffsetDateTime::now_utc();
    for product in Product::ALL {
        let groups: Vec<GroupRef> = removed
            .iter()
            .filter(|(p, _)| *p == Some(product))
            .map(|(_, g)| g.clone())
            .collect();
        if groups.is_empty() {
            continue;
        }
        let state = user.products.entry(product).or_default();
        state.licensed = false;
        state.reclaimed = Some(Reclaimed {
            at: now,
            groups,
            recorded_by: format!("run {}", order.run),
        });
    }
    Ok(Some(user))
}

pub(super) async fn standing(
    ctx: &Context,
    event: &Event,
    order: &Order,
    change: Standing,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let account = &order.account_id;
    let taking = matches!(
        change,
        Standing::Suspend | Standing::Deactivate | Standing::Delete
    );
    // Giving back what is there already changes nothing: said so, not "done".
    let status = ctx.store.account(account)?.map(|a| a.status);
    if !taking && status.is_some_and(|s| s.key() == change.to()) {
        return Ok(Done::skipped(format!(
            "already {}: nothing to do",
            change.to()
        )));
    }
    let from = || -> Result<Change, Fail> {
        let now = ctx.store.account(account)?;
        Ok(Change::Standing {
            from: now.map_or("active", |a| a.status.key()).to_string(),
            to: change.to().to_string(),
        })
    };
    let mut ledger = ledgered(ctx, event, order, from).await?;
    let directory = crate::flows::inventory::directory_of(ctx, account)?;
    let set = ctx
        .directory
        .set_standing(account, directory.as_deref(), change, calls)
        .await;
    if let Err(e) = set {
        if e.is_transient() {
            return Err(Fail::Retry(e.into()));
        }
        ledger.state = LedgerState::Closed;
        ledger.closed_by = Some(format!("refused: {e}"));
        let mut done = Done::failed(e.to_string());
        done.ledger.push(ledger);
        return Ok(done);
    }
    ledger.state = LedgerState::Open;
    ledger.at = OffsetDateTime::now_utc();
    let status = match change.to() {
        "suspended" => AccountStatus::Suspended,
        "deactivated" | "deleted" => AccountStatus::Deactivated,
        _ => AccountStatus::Active,
    };
    seen::changed(
        ctx,
        Changed {
            account_id: account,
            removed: &[],
            added: &[],
            licences: &[],
            status: Some(status),
        },
    )?;
    let outcome = if taking && order.policy.is_some() {
        AuditOutcome::Reclaimed
    } else {
        AuditOutcome::Changed
    };
    let mut detail = format!("the account is now {}", change.to());
    if change == Standing::Delete {
        detail.push_str("; Atlassian deletes it after 14 days unless the deletion is undone");
    }
    let mut done = Done::new(EntryResult::Done, outcome, detail);
    done.ledger.push(ledger);
    // An escalation: what it follows is marked, so that it is not escalated again.
    if let Some(policy) = &order.policy {
        for mut earlier in ctx.store.open_ledger(account)? {
            if earlier.policy.as_deref() == Some(policy.as_str()) && earlier.id != event.id.as_str()
            {
                earlier.escalated = true;
                done.ledger.push(earlier);
            }
        }
    }
    Ok(done)
}

pub(super) async fn add_groups(
    ctx: &Context,
    event: &Event,
    order: &Order,
    product: Option<Product>,
    groups: Vec<GroupRef>,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let account = &order.account_id;
    if let Some(p) = product {
        let access = access_of(ctx, p, calls).await?;
        if access.seats.full() {
            return Ok(Done::failed(format!("{} has no seat left", p.key())));
        }
    }
    let change = || {
        Ok(Change::GroupsAdded {
            groups: groups.clone(),
        })
    };
    let mut ledger = ledgered(ctx, event, order, change).await?;
    let mut added = Vec::new();
    let product_for_call = product.unwrap_or(Product::JiraSoftware);
    for group in &groups {
        match ctx
            .directory
            .add_to_group(account, product_for_call, group, calls)
            .await
        {
            Ok(crate::directory::Added::Added) => added.push(group.clone()),
            Ok(crate::directory::Added::AlreadyMember) => {}
            Err(e) if e.is_transient() => return Err(Fail::Retry(e.into())),
            Err(e) => return Ok(Done::failed(e.to_string())),
        }
    }
    let names: Vec<String> = added.iter().map(|g| g.name.clone()).collect();
    ledger.change = Change::GroupsAdded { groups: added };
    ledger.state = if names.is_empty() {
        LedgerState::Closed
    } else {
        LedgerState::Open
    };
    let licences: Vec<(Product, bool)> = product.map(|p| (p, true)).into_iter().collect();
    seen::changed(
        ctx,
        Changed {
            account_id: account,
            removed: &[],
            added: &names,
            licences: &licences,
            status: None,
        },
    )?;
    let mut done = if names.is_empty() {
        Done::skipped("already in every group: nothing added")
    } else {
        Done::new(
            EntryResult::Done,
            AuditOutcome::Changed,
            format!("added to {names:?}"),
        )
    };
    done.ledger.push(ledger);
    Ok(done)
}
