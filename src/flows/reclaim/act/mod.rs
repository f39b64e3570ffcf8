//! The worker's side of an order: warn, take (groups or the account's standing), add, or give
//! back exactly what the ledger says was taken. Before anything changes in the directory the
//! ledger holds what the action is about to take (`in_progress`), so that a crash or a retry
//! finishes the same change, never another; then one transaction records the ledger, the run's
//! entry, the user, the audit entry and the processed id.

use time::OffsetDateTime;

use super::super::Context;

mod attributes;
mod give;
mod take;

use super::super::outcome::{Handled, WorkError, base_entry, finish_with, processed};
use crate::directory::{CallLog, DirectoryError, ProductAccess};
use crate::domain::reclaim::{Order, OrderAction};
use crate::domain::{AuditOutcome, Event, GroupRef, Product};
use crate::links::Purpose;
use crate::store::{
    Change, EntryResult, EventOutcome, LedgerEntry, LedgerState, OutboxEmail, UserRecord, Warning,
    entry_write, ledger_writes,
};
use give::{give_back, give_back_licences};
use take::{add_groups, standing, take_groups};

/// What an order came to.
struct Done {
    result: EntryResult,
    outcome: AuditOutcome,
    detail: String,
    ledger: Vec<LedgerEntry>,
    user: Option<UserRecord>,
    emails: Vec<OutboxEmail>,
    /// Slack messages (a warning's direct message).
    posts: Vec<crate::store::OutboxPost>,
}

impl Done {
    fn new(result: EntryResult, outcome: AuditOutcome, detail: impl Into<String>) -> Done {
        Done {
            result,
            outcome,
            detail: detail.into(),
            ledger: Vec::new(),
            user: None,
            emails: Vec::new(),
            posts: Vec::new(),
        }
    }
    fn skipped(detail: impl Into<String>) -> Done {
        Done::new(EntryResult::Skipped, AuditOutcome::Skipped, detail)
    }
    fn failed(detail: impl Into<String>) -> Done {
        Done::new(EntryResult::Failed, AuditOutcome::Failed, detail)
    }
}

/// Carries out one order (the worker's step for `order` events).
pub async fn carry_out(ctx: &Context, event: &Event, attempt: u32) -> Result<Handled, WorkError> {
    let Some(order) = event.order.clone() else {
        let reason = "an order event without its order".to_string();
        let calls = CallLog::default();
        return finish_with(ctx, event, attempt, AuditOutcome::Failed, reason, calls).await;
    };
    let mut calls = ctx.calls();
    let done = match came_back(ctx, &order)? {
        Some(why) => Done::skipped(why),
        None => match act(ctx, event, &order, &mut calls).await {
            Ok(done) => done,
            Err(Fail::Retry(e)) => return Err(e),
            Err(Fail::Refused(e)) => Done::failed(e.to_string()),
        },
    };
    settle(ctx, event, &order, attempt, done, calls).await
}

/// Why an order stops short.
enum Fail {
    Retry(WorkError),
    Refused(DirectoryError),
}

impl From<DirectoryError> for Fail {
    fn from(e: DirectoryError) -> Fail {
        if e.is_transient() {
            Fail::Retry(e.into())
        } else {
            Fail::Refused(e)
        }
    }
}

impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        Fail::Retry(e.into())
    }
}

/// A policy's action is not carried out for a user seen active, or who asked to keep their
/// access, since the plan.
fn came_back(ctx: &Context, order: &Order) -> Result<Option<String>, WorkError> {
    if order.policy.is_none() || matches!(order.action, OrderAction::Warn { .. }) {
        return Ok(None);
    }
    let account = ctx.store.account(&order.account_id)?;
    if let Some(seen) = account.as_ref().and_then(|a| a.last_seen())
        && seen > order.planned_at
    {
        return Ok(Some(format!(
            "active again on {} since the plan: left alone",
            seen.date()
        )));
    }
    let email = account.and_then(|a| a.email);
    if let Some(user) = email.map(|e| ctx.store.user(&e)).transpose()?.flatten()
        && user.keep_requested_at.is_some_and(|k| k > order.planned_at)
    {
        return Ok(Some(
            "asked to keep their access since the plan: left alone".into(),
        ));
    }
    Ok(None)
}

async fn act(
    ctx: &Context,
    event: &Event,
    order: &Order,
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    let product = event.product;
    // Checked now, against the directory: a sync can be hours old, and a group can be joined.
    let mut member = Vec::new();
    let mut overridden = None;
    if order.action.takes() {
        let email = event.user.email.as_ref();
        let checked = super::protect::now(ctx, &order.account_id, email, calls).await?;
        match checked.protected {
            Some(why) if order.override_protected => overridden = Some(why),
            Some(why) => {
                let detail = format!("always protected: {why}; nothing was taken");
                return Ok(Done::new(
                    EntryResult::Skipped,
                    AuditOutcome::Protected,
                    detail,
                ));
            }
            None => {}
        }
        member = checked.groups;
    }
    let mut done = carry(ctx, event, order, product, &member, calls).await?;
    if let Some(why) = overridden {
        done.detail = format!(
            "{} (always protected — {why} — and overridden by the admin's override_protected)",
            done.detail
        );
    }
    Ok(done)
}

/// The order's action itself, once its account may be acted on.
async fn carry(
    ctx: &Context,
    event: &Event,
    order: &Order,
    product: Option<Product>,
    member: &[String],
    calls: &mut CallLog,
) -> Result<Done, Fail> {
    match &order.action {
        OrderAction::Warn { due } => warn(ctx, event, order, *due),
        OrderAction::RemoveProductAccess
        | OrderAction::RemoveAllAccess
        | OrderAction::RemoveFromGroup { .. } => {
            let scope = match &order.action {
                OrderAction::RemoveFromGroup { group } => Scope::Group(group.clone()),
                OrderAction::RemoveProductAccess => product.map_or(Scope::All, Scope::Product),
                _ => Scope::All,
            };
            take_groups(ctx, event, order, scope, member, calls).await
        }
        OrderAction::Standing { change } => standing(ctx, event, order, *change, calls).await,
        OrderAction::AddToGroup { group } => {
            add_groups(ctx, event, order, product, vec![group.clone()], calls).await
        }
        OrderAction::GrantProductAccess => {
            let Some(product) = product else {
                return Ok(Done::failed("grant-product-access needs a product"));
            };
            let access = access_of(ctx, product, calls).await?;
            add_groups(
                ctx,
                event,
                order,
                Some(product),
                access.default_groups,
                calls,
            )
            .await
        }
        OrderAction::GiveBackLicences => give_back_licences(ctx, event, order, calls).await,
        OrderAction::ChangeEmail { to } => {
            attributes::change_email(ctx, event, order, to, calls).await
        }
        OrderAction::Rename { to } => attributes::rename(ctx, event, order, to, calls).await,
        OrderAction::GiveBack { ledger } => {
            let Some(entry) = ctx.store.ledger(ledger)? else {
                return Ok(Done::failed(format!("no ledger entry {ledger}")));
            };
            give_back(ctx, event, entry, calls).await
        }
    }
}

/// Records what an order came to, in one transaction; the run's last action finishes it.
async fn settle(
    ctx: &Context,
    event: &Event,
    order: &Order,
    attempt: u32,
    done: Done,
    mut calls: CallLog,
) -> Result<Handled, WorkError> {
    let now = OffsetDateTime::now_utc();
    let mut outcome = EventOutcome::default();
    if let Some(mut entry) = ctx.store.run_entry(&order.run, order.seq)? {
        if entry.result == EntryResult::Planned {
            outcome.settles_run = Some(order.run.clone());
        }
        entry.result = done.result;
        entry.detail = Some(done.detail.clone());
        entry.at = Some(now);
        outcome.reclaim.push(entry_write(&order.run, &entry)?);
    }
    for l in &done.ledger {
        outcome.reclaim.extend(ledger_writes(l)?);
    }
    let why = match &order.policy {
        Some(policy) => format!("{} (policy {policy:?}, run {})", done.detail, order.run),
        None => format!("{} ({})", done.detail, order.run),
    };
    let mut entry = base_entry(event, attempt, done.outcome, why);
    entry.product = event.product;
    entry.account_id = Some(order.account_id.clone());
    entry.directory_calls = calls.take();
    outcome.audit.push(entry);
    outcome.user = done.user;
    outcome.emails = done.emails;
    outcome.posts = done.posts;
    outcome.processed = processed(ctx, event, done.outcome.key());
    let settles = outcome.settles_run.clone();
    ctx.store.record(outcome).await?;
    if let Some(run) = settles
        && ctx.store.run_pending(&run)? == 0
    {
        super::finish::finish(ctx, &run).await?;
    }
    Ok(Handled::Done(vec![done.outcome]))
}

/// The warning: an email with a keep link, and the date on the user's record.
fn warn(ctx: &Context, event: &Event, order: &Order, due: OffsetDateTime) -> Result<Done, Fail> {
    let (Some(email), Some(links)) = (event.user.email.as_ref(), ctx.links.as_ref()) else {
        return Ok(Done::skipped(
            "cannot be warned: no email address, or links are off",
        ));
    };
    let policy = order.policy.clone().unwrap_or_default();
    let mut user = ctx
        .store
        .user(email)?
        .unwrap_or_else(|| UserRecord::new(email));
    let now = OffsetDateTime::now_utc();
    user.warnings.insert(
        policy.clone(),
        Warning {
            at: now,
            due,
            run: order.run.clone(),
        },
    );
    let what = event
        .product
        .map_or("your Atlassian access".to_string(), |p| {
            format!("your {} licence", p.name())
        });
    let link = links.create(email, Purpose::Keep, event.product, None);
    let portal = format!("{}/portal", ctx.settings.public_url.trim_end_matches('/'));
    let text = format!(
        "You have not used {what} for a while, so it will be taken back on {date} to free the \
         seat for others.\n\nTo keep it, open this link and press the button (valid until then):\n\
         {link}\n\nIf it is taken back, you get it again by logging in through your company's \
         sign-in, or by asking: {portal}",
        date = due.date()
    );
    let subject = format!("[reinstate] {what} will be taken back on {}", due.date());
    let notify = &ctx.settings.reclaim;
    let by_slack = notify.notifies("slack") && ctx.settings.slack.is_some();
    let mut done = Done::new(
        EntryResult::Done,
        AuditOutcome::Warned,
        format!(
            "warned{}: taken back on {} unless kept",
            match (notify.notifies("email"), by_slack) {
                (true, true) => " by email and in Slack",
                (false, true) => " in Slack",
                _ => "",
            },
            due.date()
        ),
    );
    if by_slack {
        let said = format!(
            "You have not used {what} for a while, so it will be taken back on {} to free the \
             seat for others. To keep it, open the link and press the button (valid until then). \
             If it is taken back, you get it again by logging in, or by asking: {portal}",
            due.date()
        );
        let post = super::super::chat::warning_dm(ctx, email, &said, &link);
        done.posts.push(post);
    }
    if notify.notifies("email") {
        done.emails.push(crate::notify::email_with_button(
            ctx.settings.spelling,
            "reclaim_warning",
            &[email.to_string()],
            subject,
            text,
            crate::notify::Button {
                label: "Keep my access",
                url: &link,
            },
        ));
    }
    done.user = Some(user);
    Ok(done)
}

/// Which groups an order takes.
enum Scope {
    Product(Product),
    All,
    Group(GroupRef),
}

async fn access_of(
    ctx: &Context,
    product: Product,
    calls: &mut CallLog,
) -> Result<ProductAccess, Fail> {
    ctx.directory
        .products(calls)
        .await?
        .into_iter()
        .find(|a| a.product == product)
        .ok_or_else(|| {
            Fail::Refused(DirectoryError::Permanent(format!(
                "the {} directory does not license {}",
                ctx.directory.kind(),
                product.key()
            )))
        })
}

/// The groups in scope among `member` (the user's groups, read just now), with the product
/// each gives.
async fn in_scope(
    ctx: &Context,
    member: &[String],
    scope: &Scope,
    calls: &mut CallLog,
) -> Result<Vec<(Option<Product>, GroupRef)>, Fail> {
    let is_member = |name: &str| member.iter().any(|g| g.eq_ignore_ascii_case(name));
    if let Scope::Group(g) = scope {
        return Ok(is_member(&g.name)
            .then(|| (None, g.clone()))
            .into_iter()
            .collect());
    }
    let mut out = Vec::new();
    for access in ctx.directory.products(calls).await? {
        if matches!(scope, Scope::Product(p) if *p != access.product) {
            continue;
        }
        for name in access.access_groups.iter().filter(|n| is_member(n)) {
            // By id when the product's defaults name it (names can be renamed).
            let group = access
                .default_groups
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(name))
                .cloned()
                .unwrap_or_else(|| GroupRef {
                    id: None,
                    name: name.clone(),
                });
            out.push((Some(access.product), group));
        }
    }
    Ok(out)
}

/// Begins this order's ledger entry, `in_progress` with what it is about to change, and writes
/// it down before the directory changes anything.
async fn begin(
    ctx: &Context,
    event: &Event,
    order: &Order,
    change: Change,
) -> Result<LedgerEntry, Fail> {
    let entry = LedgerEntry {
        v: 1,
        id: event.id.to_string(),
        run: order.run.clone(),
        seq: order.seq,
        account_id: order.account_id.clone(),
        email: event.user.email.clone(),
        product: event.product,
        policy: order.policy.clone(),
        change,
        at: OffsetDateTime::now_utc(),
        state: LedgerState::InProgress,
        closed_by: None,
        closed_at: None,
        escalated: false,
    };
    let outcome = EventOutcome {
        reclaim: ledger_writes(&entry)?,
        ..Default::default()
    };
    ctx.store.record(outcome).await?;
    Ok(entry)
}

/// This order's ledger entry: the one an earlier attempt began, else one begun now with the
/// change `change` names.
async fn ledgered(
    ctx: &Context,
    event: &Event,
    order: &Order,
    change: impl FnOnce() -> Result<Change, Fail>,
) -> Result<LedgerEntry, Fail> {
    match begun(ctx, event)? {
        Some(entry) => Ok(entry),
        None => begin(ctx, event, order, change()?).await,
    }
}

/// The ledger entry already begun by an earlier attempt of this order, if any.
fn begun(ctx: &Context, event: &Event) -> Result<Option<LedgerEntry>, Fail> {
    Ok(ctx
        .store
        .ledger(event.id.as_str())?
        .filter(|l| l.state == LedgerState::InProgress))
}
