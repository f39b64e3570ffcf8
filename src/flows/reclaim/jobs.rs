//! Admins' bulk actions, as jobs of bus events like a run's; and undo, which gives back exactly
//! what a run or a job took, through the same workers.

use time::OffsetDateTime;

use super::super::{Context, FlowError, Intake};
use crate::domain::reclaim::{Order, OrderAction, Standing};
use crate::domain::{AccountStatus, Email, GroupRef, Product};
use crate::store::{Account, EntryResult, LedgerState, RunEntry, RunKind, RunRecord, RunState};

/// A bulk action. The danger zone takes access away and needs `confirm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    EnableLicences,
    RestoreSuspended,
    AddToGroup,
    GrantProductAccess,
    DisableLicences,
    RemoveFromGroup,
    RevokeProductAccess,
    RemoveAllAccess,
    ChangeEmailDomain,
    Rename,
}

impl BulkAction {
    pub const ALL: [BulkAction; 10] = [
        BulkAction::EnableLicences,
        BulkAction::RestoreSuspended,
        BulkAction::AddToGroup,
        BulkAction::GrantProductAccess,
        BulkAction::DisableLicences,
        BulkAction::RemoveFromGroup,
        BulkAction::RevokeProductAccess,
        BulkAction::RemoveAllAccess,
        BulkAction::ChangeEmailDomain,
        BulkAction::Rename,
    ];

    pub fn key(self) -> &'static str {
        match self {
            BulkAction::EnableLicences => "enable-licences",
            BulkAction::RestoreSuspended => "restore-suspended",
            BulkAction::AddToGroup => "add-to-group",
            BulkAction::GrantProductAccess => "grant-product-access",
            BulkAction::DisableLicences => "disable-licences",
            BulkAction::RemoveFromGroup => "remove-from-group",
            BulkAction::RevokeProductAccess => "revoke-product-access",
            BulkAction::RemoveAllAccess => "remove-all-access",
            BulkAction::ChangeEmailDomain => "change-email-domain",
            BulkAction::Rename => "rename",
        }
    }

    pub fn parse(key: &str) -> Option<BulkAction> {
        BulkAction::ALL.into_iter().find(|a| a.key() == key)
    }

    /// Takes access away, or changes who accounts are: needs `"confirm": <number of users>`.
    pub fn danger(self) -> bool {
        matches!(
            self,
            BulkAction::DisableLicences
                | BulkAction::RemoveFromGroup
                | BulkAction::RevokeProductAccess
                | BulkAction::RemoveAllAccess
                | BulkAction::ChangeEmailDomain
                | BulkAction::Rename
        )
    }
}

impl BulkAction {
    /// What the confirm step must say besides the count: consequences that cannot be undone.
    pub fn consequence(self) -> Option<&'static str> {
        match self {
            BulkAction::ChangeEmailDomain => Some(
                "Atlassian ends every session of an account whose email changes (the email.set \
                 privilege): each user signs in again with the new address",
            ),
            BulkAction::DisableLicences => Some(
                "Each whole account is suspended (on Data Center, deactivated): every product it \
                 holds stops and its seats are freed, not one product's; Undo gives them back",
            ),
            _ => None,
        }
    }
}

/// `POST /api/v1/users/bulk`
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: String,
    /// Emails or account ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// Instead of `users`: every user matching this inventory filter, found by the server —
    /// the query string `GET /api/v1/inventory/users` takes (`product=jira-software&
    /// inactive_after_days=90&status=active&account_type=person`; its paging and sort ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub product: Option<Product>,
    /// For danger actions: the number of users, repeated.
    #[serde(default)]
    pub confirm: Option<usize>,
    /// `change-email-domain`: the domain the users' addresses are in now, and the new one.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// `rename` (Data Center): the new username of each user named in `users`, in order.
    #[serde(default)]
    pub new_names: Vec<String>,
    /// Danger actions refuse always-protected users (`400 protected_users`) unless each is named
    /// again here (emails or account ids); the override is recorded with every entry it allows.
    #[serde(default)]
    pub override_protected: Vec<String>,
    /// `add-to-group` with a group nobody in the inventory is in and no product's licence
    /// groups name: the group's name repeated, to say it exists (an empty group).
    #[serde(default)]
    pub confirm_group: Option<String>,
    /// Where each user came from (a CSV's line numbers), to name them in errors.
    #[serde(skip)]
    #[schemars(skip)]
    pub lines: Vec<usize>,
}

impl BulkRequest {
    /// Where the `i`th user was named: its CSV line, else its place in `users`.
    fn place(&self, i: usize) -> String {
        match self.lines.get(i) {
            Some(line) => format!("line {line}"),
            None => format!("users[{i}]"),
        }
    }
}

/// Most users one job takes.
pub const MAX_USERS: usize = 10_000;

/// Checks a bulk request whole (action, its parameters, `confirm`, every user known) and starts
/// its job; nothing runs unless all of it is valid.
pub async fn start(
    ctx: &Context,
    intake: &Intake,
    req: BulkRequest,
    actor: &str,
) -> Result<RunRecord, FlowError> {
    let action = check(&req)?;
    let accounts = if action == BulkAction::Rename {
        renamed(ctx, &req)?
    } else {
        resolve(ctx, &req.users)?
    };
    something_to_do(ctx, action, &req, &accounts)?;
    if action == BulkAction::AddToGroup {
        known_group(ctx, &req).await?;
    }
    // Making someone an administrator is confirmed like taking access away.
    let makes_admins = action == BulkAction::AddToGroup
        && req.group.as_deref().is_some_and(|g| {
            let admin_groups = ctx.settings.reclaim.admin_group_names();
            admin_groups
                .iter()
                .any(|a| a.eq_ignore_ascii_case(g.trim()))
        });
    if (action.danger() || makes_admins) && req.confirm != Some(accounts.len()) {
        let what = if makes_admins {
            "makes its users administrators (an administrators' group)".to_string()
        } else {
            let also = action
                .consequence()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            format!("takes access away{also}")
        };
        return Err(FlowError::invalid(
            "confirm_required",
            format!(
                "{} {what}: send \"confirm\": {} (the number of users) to go ahead",
                action.key(),
                accounts.len()
            ),
        ));
    }
    let overridden = if action.danger() {
        overrides(ctx, &req, &accounts).await?
    } else {
        vec![None; accounts.len()]
    };
    let actions = orders(action, &req, &accounts)?;
    let items = accounts
        .into_iter()
        .zip(actions)
        .zip(overridden)
        .map(|((a, order), overridden)| Item {
            action: order,
            account_id: a.account_id,
            email: a.email,
            product: req.product,
            policy: None,
            step: action.key().to_string(),
            reason: match &overridden {
                Some(why) => format!(
                    "an admin's bulk action, overriding the protection of an account always \
                     protected ({why})"
                ),
                None => "an admin's bulk action".into(),
            },
            overridden,
        })
        .collect();
    let run = batch(ctx, intake, Batch::job(action.key(), actor), items).await?;
    tracing::info!(job = %run.id, action = action.key(), users = run.entries, %actor, "bulk job started");
    Ok(run)
}

/// The action, once its parameters are there.
fn check(req: &BulkRequest) -> Result<BulkAction, FlowError> {
    let bad = |code, m: String| FlowError::invalid(code, m);
    let keys = BulkAction::ALL.map(|a| a.key()).join(", ");
    let action = BulkAction::parse(&req.action).ok_or_else(|| {
        bad(
            "invalid_action",
            format!("action: {:?} is not one of {keys}", req.action),
        )
    })?;
    if req.users.is_empty() || req.users.len() > MAX_USERS {
        return Err(bad(
            "invalid_request",
            format!("users: 1 to {MAX_USERS} emails or account ids"),
        ));
    }
    if matches!(action, BulkAction::AddToGroup | BulkAction::RemoveFromGroup) && req.group.is_none()
    {
        return Err(bad(
            "invalid_request",
            format!("group: {} needs the group's name", action.key()),
        ));
    }
    if action == BulkAction::DisableLicences && req.product.is_some() {
        return Err(bad(
            "invalid_request",
            "product: disable-licences suspends whole accounts (every product they hold); leave \
             product out, or revoke-product-access to take one product"
                .into(),
        ));
    }
    if matches!(
        action,
        BulkAction::GrantProductAccess | BulkAction::RevokeProductAccess
    ) && req.product.is_none()
    {
        return Err(bad(
            "invalid_request",
            format!("product: {} needs a product", action.key()),
        ));
    }
    Ok(action)
}

/// A job that could do nothing is refused before it starts.
fn something_to_do(
    ctx: &Context,
    action: BulkAction,
    req: &BulkRequest,
    accounts: &[Account],
) -> Result<(), FlowError> {
    let nothing = |detail: &str| Err(FlowError::invalid("nothing_to_do", detail));
    match action {
        BulkAction::RestoreSuspended
            if accounts.iter().all(|a| a.status == AccountStatus::Active) =>
        {
            nothing("every selected account is already active: restore-suspended has nothing to do")
        }
        BulkAction::EnableLicences if req.product.is_none() => {
            for a in accounts {
                if !ctx.store.open_ledger(&a.account_id)?.is_empty() {
                    return Ok(());
                }
            }
            nothing(
                "reinstate took nothing from these users to give back: name a product to grant \
                 it (grant-product-access)",
            )
        }
        _ => Ok(()),
    }
}

/// An `add-to-group`'s group, checked before the job starts: one reinstate knows exists (an
/// account of the inventory is in it, or a product's licence groups name it), or confirmed by
/// its name repeated in `confirm_group`. Atlassian refuses a group that does not exist, so an
/// unknown one is a typing mistake until said otherwise.
async fn known_group(ctx: &Context, req: &BulkRequest) -> Result<(), FlowError> {
    let Some(group) = req.group.as_deref().map(str::trim) else {
        return Ok(());
    };
    if req
        .confirm_group
        .as_deref()
        .is_some_and(|c| c.trim() == group)
    {
        return Ok(());
    }
    let known = crate::flows::inventory::access::known_groups(ctx).await?;
    if known.iter().any(|k| k.eq_ignore_ascii_case(group)) {
        return Ok(());
    }
    Err(FlowError::invalid(
        "unknown_group",
        format!(
            "group: no account in the inventory is in {group:?} and no product's licence groups name it: check the name (as Atlassian administration writes it); if it exists with nobody in it yet, send \"confirm_group\": {group:?}"
        ),
    ))
}

/// What kind of batch, and who asked.
struct Batch<'a> {
    prefix: &'static str,
    kind: RunKind,
    action: &'a str,
    undo_of: Option<&'a str>,
    actor: &'a str,
}

impl<'a> Batch<'a> {
    fn job(action: &'a str, actor: &'a str) -> Batch<'a> {
        Batch {
            prefix: "job",
            kind: RunKind::Job,
            action,
            undo_of: None,
            actor,
        }
    }
}

/// One action of a batch, for one account.
struct Item {
    account_id: String,
    email: Option<Email>,
    product: Option<Product>,
    policy: Option<String>,
    step: String,
    reason: String,
    action: OrderAction,
    /// Always protected, and overridden by the admin: why it was protected.
    overridden: Option<String>,
}

/// Writes a job or an undo with one entry per item, then publishes its actions.
async fn batch(
    ctx: &Context,
    intake: &Intake,
    what: Batch<'_>,
    items: Vec<Item>,
) -> Result<RunRecord, FlowError> {
    let now = OffsetDateTime::now_utc();
    let id = super::run::new_id(what.prefix);
    let mut run = RunRecord {
        v: 1,
        id: id.clone(),
        kind: what.kind,
        dry_run: false,
        trigger: what.actor.to_string(),
        action: Some(what.action.to_string()),
        undo_of: what.undo_of.map(String::from),
        state: RunState::Planning,
        started_at: now,
        finished_at: None,
        entries: items.len() as u32,
        summary_sent: false,
    };
    let mut entries = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    for (seq, item) in items.into_iter().enumerate() {
        let order = Order {
            run: id.clone(),
            seq: seq as u32,
            account_id: item.account_id.clone(),
            action: item.action,
            policy: None,
            planned_at: now,
            override_protected: item.overridden.is_some(),
        };
        let event = super::order_event(order.clone(), item.email.clone(), item.product);
        entries.push(RunEntry {
            seq: seq as u32,
            account_id: item.account_id,
            email: item.email,
            product: item.product,
            policy: item.policy,
            step: item.step,
            reason: item.reason,
            event_id: Some(event.id.to_string()),
            due: None,
            result: EntryResult::Planned,
            detail: None,
            at: None,
            order: Some(order),
            frees: Vec::new(),
        });
        events.push(event);
    }
    super::finish::note_seats(ctx, &mut entries);
    ctx.store
        .put_run(&run, &entries, Some(events.len() as u64))
        .await?;
    super::run::launch(ctx, intake, &mut run, events).await?;
    Ok(run)
}

/// One order per account; for `change-email-domain` and `rename` every account is checked
/// before anything runs.
fn orders(
    action: BulkAction,
    req: &BulkRequest,
    accounts: &[Account],
) -> Result<Vec<OrderAction>, FlowError> {
    let bad = |m: String| FlowError::invalid("invalid_request", m);
    match action {
        BulkAction::ChangeEmailDomain => {
            let (Some(from), Some(to)) = (&req.from, &req.to) else {
                return Err(bad(
                    "from and to: change-email-domain needs both domains".into()
                ));
            };
            let mut out = Vec::with_capacity(accounts.len());
            let mut outside = Vec::new();
            for a in accounts {
                let local = a
                    .email
                    .as_ref()
                    .filter(|e| e.domain() == from)
                    .map(|e| e.as_str().split('@').next().unwrap_or_default().to_string());
                match local.and_then(|l| Email::parse(&format!("{l}@{to}")).ok()) {
                    Some(to) => out.push(OrderAction::ChangeEmail { to }),
                    None => outside.push(
                        a.email
                            .as_ref()
                            .map_or(a.account_id.clone(), |e| e.to_string()),
                    ),
                }
            }
            if !outside.is_empty() {
                return Err(bad(format!(
                    "{} users have no address at {from} that can move to {to} (nothing was done): {}",
                    outside.len(),
                    outside.join(", ")
                )));
            }
            Ok(out)
        }
        BulkAction::Rename => req
            .new_names
            .iter()
            .enumerate()
            .map(|(i, n)| match crate::domain::parse_username(n) {
                Some(to) => Ok(OrderAction::Rename { to }),
                None => Err(bad(format!(
                    "new_names ({}): {n:?} is not a username",
                    req.place(i)
                ))),
            })
            .collect(),
        _ => Ok(accounts
            .iter()
            .filter_map(|a| order_of(action, a, req.group.clone()))
            .collect()),
    }
}

/// What a bulk action means for one account (the attribute changes come from `orders`).
fn order_of(action: BulkAction, account: &Account, group: Option<String>) -> Option<OrderAction> {
    let group = || GroupRef {
        id: None,
        name: group.clone().unwrap_or_default(),
    };
    Some(match action {
        BulkAction::EnableLicences => OrderAction::GiveBackLicences,
        BulkAction::RestoreSuspended => OrderAction::Standing {
            change: match account.status {
                AccountStatus::Deactivated => Standing::Activate,
                _ => Standing::Unsuspend,
            },
        },
        BulkAction::AddToGroup => OrderAction::AddToGroup { group: group() },
        BulkAction::GrantProductAccess => OrderAction::GrantProductAccess,
        BulkAction::DisableLicences => OrderAction::Standing {
            change: if account.username.is_some() {
                // Data Center accounts have no suspension: they are deactivated.
                Standing::Deactivate
            } else {
                Standing::Suspend
            },
        },
        BulkAction::RemoveFromGroup => OrderAction::RemoveFromGroup { group: group() },
        BulkAction::RevokeProductAccess => OrderAction::RemoveProductAccess,
        BulkAction::RemoveAllAccess => OrderAction::RemoveAllAccess,
        BulkAction::ChangeEmailDomain | BulkAction::Rename => return None,
    })
}

/// For each account, why its protection is overridden (`None`: it is not protected). Every
/// always-protected account must be named in `override_protected`, and every name there must be
/// one of them; otherwise nothing runs and the error lists who is protected and why.
async fn overrides(
    ctx: &Context,
    req: &BulkRequest,
    accounts: &[Account],
) -> Result<Vec<Option<String>>, FlowError> {
    let protected = super::protect::among(ctx, accounts).await?;
    let named = resolve(ctx, &req.override_protected)?;
    let mut out = vec![None; accounts.len()];
    let mut refused = Vec::new();
    for (i, why) in protected {
        let a = &accounts[i];
        if named.iter().any(|n| n.account_id == a.account_id) {
            out[i] = Some(why);
        } else {
            let who = a
                .email
                .as_ref()
                .map_or(a.account_id.clone(), |e| e.to_string());
            refused.push(format!("{who} ({why})"));
        }
    }
    let stray: Vec<String> = named
        .iter()
        .filter(|n| {
            !accounts
                .iter()
                .zip(&out)
                .any(|(a, o)| a.account_id == n.account_id && o.is_some())
        })
        .map(|n| {
            n.email
                .as_ref()
                .map_or(n.account_id.clone(), |e| e.to_string())
        })
        .collect();
    if !refused.is_empty() {
        let shown: Vec<_> = refused.iter().take(50).cloned().collect();
        let more = refused.len() - shown.len();
        return Err(FlowError::invalid(
            "protected_users",
            format!(
                "{} of these users are always protected and nothing was done: {}{}. To act on \
                 them anyway, name them again in \"override_protected\" (recorded in the audit)",
                refused.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    if !stray.is_empty() {
        return Err(FlowError::invalid(
            "invalid_request",
            format!(
                "override_protected names users who are not protected users of this action \
                 (nothing was done): {}",
                stray.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// The users of a `rename`, each with its own new name (`new_names[i]` is `users[i]`'s): a name
/// for every user, no account named twice, no new name given twice — each refusal naming the
/// lines — and every user known.
fn renamed(ctx: &Context, req: &BulkRequest) -> Result<Vec<Account>, FlowError> {
    let bad = |m: String| FlowError::invalid("invalid_request", m);
    if req.new_names.len() != req.users.len() {
        return Err(bad(format!(
            "new_names: one new username per user, in the same order ({} users, {} names; nothing was done)",
            req.users.len(),
            req.new_names.len()
        )));
    }
    let twice = |keys: Vec<String>, what: &str| -> Result<(), FlowError> {
        let mut first: std::collections::HashMap<&str, usize> = Default::default();
        let mut clashes = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(j) = first.insert(k, i) {
                clashes.push(format!("{} and {}", req.place(j), req.place(i)));
                first.insert(k, j);
            }
        }
        match clashes.is_empty() {
            true => Ok(()),
            false => Err(bad(format!(
                "{what} (nothing was done): {}",
                clashes.join("; ")
            ))),
        }
    };
    let names = req
        .new_names
        .iter()
        .map(|n| n.trim().to_lowercase())
        .collect();
    twice(names, "the same new username is given twice")?;
    let accounts = resolve_each(ctx, &req.users)?;
    let ids = accounts.iter().map(|a| a.account_id.clone()).collect();
    twice(ids, "the same account is named twice")?;
    Ok(accounts)
}

/// Every user named, as the inventory knows them; all unknown ones listed in the error.
pub fn resolve(ctx: &Context, users: &[String]) -> Result<Vec<Account>, FlowError> {
    let mut seen = std::collections::HashSet::with_capacity(users.len());
    Ok(resolve_each(ctx, users)?
        .into_iter()
        .filter(|a| seen.insert(a.account_id.clone()))
        .collect())
}

/// Each user named, in order (the same account as often as it is named).
fn resolve_each(ctx: &Context, users: &[String]) -> Result<Vec<Account>, FlowError> {
    let mut found: Vec<Account> = Vec::with_capacity(users.len());
    let mut unknown = Vec::new();
    for (i, name) in users.iter().enumerate() {
        let name = name.trim();
        let account = match Email::parse(name) {
            Ok(email) => ctx.store.account_by_email(&email)?,
            Err(_) => ctx.store.account(name)?,
        };
        match account {
            Some(a) => found.push(a),
            None => unknown.push(format!("users[{i}] {name:?}")),
        }
    }
    if unknown.is_empty() {
        return Ok(found);
    }
    let shown: Vec<_> = unknown.iter().take(50).cloned().collect();
    let more = unknown.len().saturating_sub(shown.len());
    Err(FlowError::invalid(
        "unknown_users",
        format!(
            "{} users are not in the inventory (nothing was done): {}{}",
            unknown.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    ))
}

/// Gives back exactly what a run or job took and has not been given back, as a new run of
/// `give-back` actions (seats permitting).
pub async fn undo(
    ctx: &Context,
    intake: &Intake,
    of: &str,
    actor: &str,
) -> Result<RunRecord, FlowError> {
    let Some(target) = ctx.store.run(of)? else {
        return Err(FlowError::NotFound {
            code: "not_found",
            detail: format!("no run or job {of}"),
        });
    };
    if target.state != RunState::Done && target.state != RunState::Running {
        return Err(FlowError::Conflict {
            code: "not_started",
            detail: format!("{of} has not started its actions yet"),
        });
    }
    let open: Vec<_> = ctx
        .store
        .ledger_of_run(of)?
        .into_iter()
        .filter(|l| l.state == LedgerState::Open)
        .collect();
    if open.is_empty() {
        return Err(FlowError::Conflict {
            code: "nothing_to_undo",
            detail: format!("{of} took nothing that has not been given back"),
        });
    }
    let items = open
        .into_iter()
        .map(|l| Item {
            account_id: l.account_id,
            email: l.email,
            product: l.product,
            policy: l.policy,
            step: "give-back".into(),
            reason: format!("undo of {of}"),
            action: OrderAction::GiveBack { ledger: l.id },
            overridden: None,
        })
        .collect();
    let what = Batch {
        prefix: "undo",
        kind: RunKind::Undo,
        action: "give-back",
        undo_of: Some(of),
        actor,
    };
    let run = batch(ctx, intake, what, items).await?;
    tracing::info!(undo = %run.id, of, actions = run.entries, %actor, "undo started");
    Ok(run)
}
