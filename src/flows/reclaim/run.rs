//! A run of the policies: the plan over every account the inventory knows, written whole with
//! one entry per user flagged, then one `order` event per action published through the intake
//! (ids derived from the run, account, product and action, so that publishing again after a
//! crash is the same events). Workers carry them out; the last one settled finishes the run.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::super::{Context, FlowError, Intake};
use crate::domain::reclaim::{
    Order, OrderAction, Person, PlanInput, Planned, Step, Use, plan_person,
};
use crate::domain::{AccountStatus, AccountType, EventUser, Product};
use crate::store::{
    Account, EntryResult, LedgerEntry, RunEntry, RunKind, RunRecord, RunState, StoreError,
    UserRecord,
};

/// Who asked for a run, and whether it only previews.
pub struct RunRequest {
    pub dry_run: bool,
    /// `schedule`, or `admin:<hash>`.
    pub trigger: String,
    /// A run made from a preview an admin checked (the console's only way to run).
    pub from_preview: Option<FromPreview>,
}

/// A real run made from a finished preview: only the accounts the preview showed with the same
/// step, less those excluded, and only when `confirm` is the number of accounts it will change
/// (so that nothing changes that the admin did not see counted).
#[derive(Debug, Clone, Default)]
pub struct FromPreview {
    /// The preview's run id.
    pub id: String,
    /// Account ids (or emails) the admin took out of the preview.
    pub exclude: Vec<String>,
    pub confirm: usize,
}

/// A new run (or job) id: time-ordered, plain.
pub fn new_id(prefix: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let mut nonce = [0u8; 3];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    format!(
        "{prefix}-{:04}{:02}{:02}t{:02}{:02}{:02}-{}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        hex::encode(nonce)
    )
}

/// Plans a run over the inventory and starts it: a dry run is complete at once.
pub async fn start(
    ctx: &Context,
    intake: &Intake,
    req: RunRequest,
) -> Result<RunRecord, FlowError> {
    let policies = ctx.store.policies()?.policies;
    if !policies
        .iter()
        .any(|p| p.enabled && p.name != crate::domain::reclaim::LEAVERS)
    {
        return Err(FlowError::invalid(
            "no_policies",
            "no enabled policy: PUT /api/v1/reclaim/policies first",
        ));
    }
    // Whoever is in an administrators' group now is never planned, whatever the listing said.
    let admins = super::protect::Admins::read(ctx).await?;
    // What Atlassian would refuse (the identity provider's), said per user before the run.
    let refusing = super::refused::Refusing::read(ctx, &policies).await;
    let now = OffsetDateTime::now_utc();
    let mut planned = plan_now(ctx, &policies, now, &admins, &refusing)?;
    if let Some(from) = &req.from_preview {
        if req.dry_run {
            return Err(FlowError::invalid(
                "invalid_run",
                "from_preview makes a real run: dry_run must be false",
            ));
        }
        planned = as_previewed(ctx, planned, from)?;
    }
    let id = new_id("run");
    let mut run = RunRecord {
        v: 1,
        id: id.clone(),
        kind: RunKind::Reclaim,
        dry_run: req.dry_run,
        trigger: req.trigger,
        action: None,
        undo_of: None,
        state: RunState::Planning,
        started_at: now,
        finished_at: None,
        entries: planned.len() as u32,
        summary_sent: false,
    };
    let (mut entries, orders) = entries_of(&id, &planned, req.dry_run, now);
    super::finish::note_seats(ctx, &mut entries);
    tracing::info!(run = %id, flagged = entries.len(), actions = orders.len(), dry_run = req.dry_run, "reclaim run planned");
    ctx.store
        .put_run(&run, &entries, Some(orders.len() as u64))
        .await?;
    launch(ctx, intake, &mut run, orders).await?;
    Ok(run)
}

/// What is planned now, kept to what the preview showed (same account, product and step) less
/// what the admin excluded; refused unless `confirm` is the number of accounts it will change.
fn as_previewed(
    ctx: &Context,
    planned: Vec<Planned>,
    from: &FromPreview,
) -> Result<Vec<Planned>, FlowError> {
    let preview = match ctx.store.run(&from.id)? {
        Some(r) if r.kind == RunKind::Reclaim && r.dry_run => r,
        _ => {
            return Err(FlowError::NotFound {
                code: "not_found",
                detail: format!("no preview {}", from.id),
            });
        }
    };
    if preview.state != RunState::Done {
        return Err(FlowError::Conflict {
            code: "preview_running",
            detail: format!("the preview {} has not finished", preview.id),
        });
    }
    let shown: std::collections::HashSet<(String, Option<Product>, String)> = ctx
        .store
        .run_entries(&preview.id)?
        .into_iter()
        .map(|e| (e.account_id, e.product, e.step))
        .collect();
    let excluded = |p: &Planned| {
        from.exclude.iter().any(|x| {
            x == &p.account_id
                || p.email
                    .as_ref()
                    .is_some_and(|e| e.as_str().eq_ignore_ascii_case(x))
        })
    };
    let kept: Vec<Planned> = planned
        .into_iter()
        .filter(|p| shown.contains(&(p.account_id.clone(), p.product, p.step.key().to_string())))
        .filter(|p| !excluded(p))
        .collect();
    let changing = kept
        .iter()
        .filter(|p| p.step.acts())
        .map(|p| p.account_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    if changing == 0 {
        return Err(FlowError::invalid(
            "nothing_to_run",
            "nothing the preview showed would change now: no run started",
        ));
    }
    if changing != from.confirm {
        return Err(FlowError::Conflict {
            code: "confirm_mismatch",
            detail: format!(
                "this run would change {changing} accounts, not {}: check the preview (or preview \
                 again) and type {changing}",
                from.confirm
            ),
        });
    }
    Ok(kept)
}

/// Publishes a run's actions and marks it running (done at once when it has none).
pub(crate) async fn launch(
    ctx: &Context,
    intake: &Intake,
    run: &mut RunRecord,
    orders: Vec<crate::domain::Event>,
) -> Result<(), FlowError> {
    let none = orders.is_empty();
    for event in orders {
        intake
            .accept(event)
            .await
            .map_err(|e| FlowError::Unavailable(format!("the run's actions: {e}")))?;
    }
    // Not a plain write: the actions may have settled, and finished the run, meanwhile.
    if let Some(now) = ctx.store.mark_running(&run.id).await? {
        *run = now;
    }
    if none {
        super::finish::finish(ctx, &run.id).await?;
        if let Some(done) = ctx.store.run(&run.id)? {
            *run = done;
        }
    }
    Ok(())
}

/// Publishes again the actions of a run that stopped while planning (the same ids: nothing is
/// done twice), and finishes runs whose actions were all settled.
pub async fn resume(ctx: &Context, intake: &Intake) -> Result<usize, FlowError> {
    let mut resumed = 0;
    for mut run in ctx.store.unfinished_runs()? {
        if run.state == RunState::Planning {
            let orders: Vec<_> = ctx
                .store
                .run_entries(&run.id)?
                .into_iter()
                .filter(|e| e.result == EntryResult::Planned)
                .filter_map(super::event_of_entry)
                .collect();
            tracing::info!(run = %run.id, actions = orders.len(), "resuming a run stopped while planning");
            launch(ctx, intake, &mut run, orders).await?;
            resumed += 1;
        } else if ctx.store.run_pending(&run.id)? == 0 {
            super::finish::finish(ctx, &run.id).await?;
        }
    }
    Ok(resumed)
}

/// The plan as of `now`, over every account of the inventory.
pub fn plan_now(
    ctx: &Context,
    policies: &[crate::domain::reclaim::Policy],
    now: OffsetDateTime,
    admins: &super::protect::Admins,
    refusing: &super::refused::Refusing,
) -> Result<Vec<Planned>, StoreError> {
    // By the email itself: an account's record is found without hashing its address.
    let users: HashMap<String, UserRecord> = ctx
        .store
        .users()
        .filter_map(Result::ok)
        .map(|u| (u.email.as_str().to_string(), u))
        .collect();
    let mut taken: HashMap<String, Vec<LedgerEntry>> = HashMap::new();
    for entry in ctx.store.all_open_ledger()? {
        if !entry.escalated {
            taken
                .entry(entry.account_id.clone())
                .or_default()
                .push(entry);
        }
    }
    let accounts = ctx.store.accounts()?;
    let input = PlanInput {
        now,
        policies,
        min_days_since_restore: ctx.settings.reclaim.min_days_since_restore,
        can_warn: ctx.links.is_some() && ctx.settings.email_on,
        watching_since: ctx.store.sync_state()?.watching_since,
    };
    let mut out = Vec::new();
    // Per account, the planner borrows what it reads; gathered one account at a time.
    for account in accounts.accounts() {
        let user = account
            .email
            .as_ref()
            .filter(|_| !users.is_empty())
            .and_then(|e| users.get(e.as_str()));
        let mut facts = Facts::of(ctx, account, user, taken.get(&account.account_id), admins);
        facts.synced_access = refusing.synced_access(account);
        plan_person(&facts.person(account), &input, &mut out);
    }
    Ok(out)
}

/// What one account's plan reads, owned.
struct Facts<'a> {
    uses: [Use; 3],
    always: Option<String>,
    restored_at: Option<OffsetDateTime>,
    keep_at: Option<OffsetDateTime>,
    warnings: Vec<(&'a str, OffsetDateTime, OffsetDateTime)>,
    taken: Vec<(&'a str, Option<Product>, OffsetDateTime)>,
    synced_access: Vec<(Product, String)>,
}

impl<'a> Facts<'a> {
    fn of(
        ctx: &Context,
        account: &Account,
        user: Option<&'a UserRecord>,
        taken: Option<&'a Vec<LedgerEntry>>,
        admins: &super::protect::Admins,
    ) -> Facts<'a> {
        let uses = Product::ALL.map(|product| {
            // Read once: whether it is known follows from it (or the directory's report).
            let (used, last_active) = account.activity(product.key());
            Use {
                product,
                licensed: used.is_some_and(|u| u.licensed),
                last_active,
                known: last_active.is_some() || used.is_some_and(|u| u.reported),
            }
        });
        Facts {
            uses,
            always: super::protect::always(ctx, account, admins),
            restored_at: user.and_then(|u| u.products.values().filter_map(|p| p.restored_at).max()),
            keep_at: user.and_then(|u| u.keep_requested_at),
            warnings: user
                .map(|u| {
                    u.warnings
                        .iter()
                        .map(|(p, w)| (p.as_str(), w.at, w.due))
                        .collect()
                })
                .unwrap_or_default(),
            taken: taken
                .map(|t| {
                    t.iter()
                        .filter_map(|e| Some((e.policy.as_deref()?, e.product, e.at)))
                        .collect()
                })
                .unwrap_or_default(),
            synced_access: Vec::new(),
        }
    }

    fn person<'b>(&'b self, account: &'b Account) -> Person<'b> {
        Person {
            account_id: &account.account_id,
            email: account.email.as_ref(),
            groups: &account.groups,
            active: account.status == AccountStatus::Active
                && account.account_type == AccountType::Person,
            added_at: account.added_at,
            uses: &self.uses,
            always_protected: self.always.as_deref(),
            restored_at: self.restored_at,
            keep_at: self.keep_at,
            warnings: &self.warnings,
            taken: &self.taken,
            idp_managed: account.synced,
            synced_access: &self.synced_access,
        }
    }
}

/// The run's entries, and the events of those that act (none for a dry run).
fn entries_of(
    run: &str,
    planned: &[Planned],
    dry_run: bool,
    now: OffsetDateTime,
) -> (Vec<RunEntry>, Vec<crate::domain::Event>) {
    let mut entries = Vec::with_capacity(planned.len());
    let mut orders = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let seq = i as u32;
        let action = match p.step {
            Step::Warn { due } => Some(OrderAction::Warn { due }),
            Step::Take(a) => Some(super::take_order(a)),
            Step::Escalate(a) => Some(super::escalate_order(a)),
            _ => None,
        };
        let due = match p.step {
            Step::Warn { due } => Some(due),
            Step::Waiting { until } => Some(until),
            _ => None,
        };
        let mut entry = RunEntry {
            seq,
            account_id: p.account_id.clone(),
            email: p.email.clone(),
            product: p.product,
            policy: Some(p.policy.clone()),
            step: p.step.key().to_string(),
            reason: p.reason.clone(),
            event_id: None,
            due,
            result: if dry_run {
                EntryResult::Preview
            } else {
                EntryResult::Skipped
            },
            detail: None,
            at: None,
            order: None,
            frees: Vec::new(),
        };
        if let (Some(action), false) = (action, dry_run) {
            let order = Order {
                run: run.to_string(),
                seq,
                account_id: p.account_id.clone(),
                action,
                policy: Some(p.policy.clone()),
                planned_at: now,
                override_protected: false,
            };
            let event = super::order_event(order.clone(), p.email.clone(), p.product);
            entry.event_id = Some(event.id.to_string());
            entry.order = Some(order);
            entry.result = EntryResult::Planned;
            orders.push(event);
        }
        entries.push(entry);
    }
    (entries, orders)
}

/// The user of an order: by email when known, else by account id.
pub(super) fn order_user(email: Option<crate::domain::Email>, account_id: &str) -> EventUser {
    EventUser {
        email,
        account_id: Some(account_id.to_string()),
        ..EventUser::default()
    }
}
