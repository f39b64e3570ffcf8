//! Attribute changes for acquisitions and leavers: an account's email address (Cloud managed
//! accounts through user management's `PUT /users/{id}/manage/email`, Data Center), a Data
//! Center username.
//! Recorded in the ledger like the rest, so that an undo puts the old value back.

use super::super::super::Context;
use super::{Done, Fail, ledgered};
use crate::directory::CallLog;
use crate::domain::reclaim::Order;
use crate::domain::{AuditOutcome, Email, Event};
use crate::store::{Change, EntryResult, LedgerEntry, LedgerState};

pub(super) async fn change_email(
    ctx: &Context,
    event: &Event,
    order: &Order,
    to: &Email,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let account = &order.account_id;
    // The same event on every attempt: an entry begun before knew this email too.
    let Some(from) = &event.user.email else {
        return Ok(Done::failed("the account's current email is not known"));
    };
    let change = || {
        Ok(Change::Email {
            from: from.to_string(),
            to: to.to_string(),
        })
    };
    let mut ledger = ledgered(ctx, event, order, change).await?;
    ctx.directory.change_email(account, to, calls).await?;
    set_inventory_email(ctx, account, Some(to.clone()))?;
    Ok(done(&mut ledger, format!("email changed to {to}")))
}

pub(super) async fn rename(
    ctx: &Context,
    event: &Event,
    order: &Order,
    to: &str,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let account = &order.account_id;
    let change = || {
        Ok(Change::Username {
            from: account.clone(),
            to: to.to_string(),
        })
    };
    let mut ledger = ledgered(ctx, event, order, change).await?;
    ctx.directory.rename(account, to, calls).await?;
    Ok(done(&mut ledger, format!("renamed {account} to {to}")))
}

fn done(ledger: &mut LedgerEntry, detail: String) -> Done {
    ledger.state = LedgerState::Open;
    let mut done = Done::new(EntryResult::Done, AuditOutcome::Changed, detail);
    done.ledger.push(ledger.clone());
    done
}

/// Puts an email or a username back (an undo).
pub(super) async fn put_back(
    ctx: &Context,
    entry: &LedgerEntry,
    calls: &mut CallLog,
) -> Result<Result<String, Done>, Fail> {
    match &entry.change {
        Change::Email { from, .. } => {
            let Ok(email) = Email::parse(from) else {
                return Ok(Err(Done::failed(format!("{from:?} is not an email"))));
            };
            ctx.directory
                .change_email(&entry.account_id, &email, calls)
                .await?;
            set_inventory_email(ctx, &entry.account_id, Some(email))?;
            Ok(Ok(format!("email back to {from}")))
        }
        Change::Username { from, to } => {
            ctx.directory.rename(to, from, calls).await?;
            Ok(Ok(format!("renamed {to} back to {from}")))
        }
        _ => Ok(Err(Done::failed("not an attribute change"))),
    }
}

/// The inventory's record shows the new address at once (the next sync confirms it).
fn set_inventory_email(ctx: &Context, account: &str, email: Option<Email>) -> Result<(), Fail> {
    if let Some(mut a) = ctx.store.account(account)? {
        a.email = email;
        ctx.store.write_accounts(&[a], None)?;
    }
    Ok(())
}
