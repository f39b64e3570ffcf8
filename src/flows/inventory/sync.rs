//! Syncing the directory into the inventory, page by page. Each page's accounts and the sync's
//! position are written in one transaction, so a crash or a restart resumes from the page after
//! the last one written, and applying a page twice changes nothing. A sync that reaches its end
//! marks the accounts it did not see `gone` (never deleting them), and drops the licences and
//! groups it no longer found. Its calls are background calls: restores go first.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::super::{Context, FlowError};
use crate::directory::CallLog;
use crate::directory::inventory::{Holder, Listed, Lister, Page};
use crate::domain::{AccountStatus, Email};
use crate::store::{Account, ProductSeats, SyncPhase, SyncState};

/// Where the sync is.
pub fn state(ctx: &Context) -> Result<SyncState, FlowError> {
    Ok(ctx.store.sync_state()?)
}

/// `GET /api/v1/inventory/sync`: where the sync is, for admins.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "reinstate inventory sync", extend("$id" = "https://reinstate.dev/schemas/inventory-sync.schema.json"))]
pub struct SyncStatus {
    /// `never`, `requested`, `running`, `finished` or `failed`.
    pub state: SyncPhase,
    /// What is listed: the organisation API, a site, Data Center, the sandbox.
    pub source: &'static str,
    /// Pages and accounts of the sync under way (or the last one).
    pub pages: u64,
    pub users_seen: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub requested_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub finished_at: Option<OffsetDateTime>,
    /// When the last complete sync finished.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub synced_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    /// What is still to do, in words.
    pub to_do: Option<String>,
    /// Why the sync could not list everyone, when it could not (a cap of the directory's);
    /// it then marks nobody it did not see as gone.
    pub incomplete: Option<String>,
}

/// The sync's state, for admins.
pub fn status(ctx: &Context) -> Result<SyncStatus, FlowError> {
    let s = state(ctx)?;
    Ok(SyncStatus {
        state: s.phase,
        source: ctx.lister.source(),
        pages: s.pages,
        users_seen: s.users_seen,
        requested_at: s.requested_at,
        started_at: s.started_at,
        finished_at: s.finished_at,
        synced_at: s.synced_at,
        last_error: s.last_error,
        to_do: s.to_do,
        incomplete: s.incomplete,
    })
}

/// Asks for a sync now (the sync job runs it); a running one goes on. Durable before it returns.
pub async fn request(ctx: &Context) -> Result<SyncState, FlowError> {
    let mut state = ctx.store.sync_state()?;
    if !matches!(state.phase, SyncPhase::Running | SyncPhase::Failed) {
        state.phase = SyncPhase::Requested;
        state.requested_at = Some(OffsetDateTime::now_utc());
        ctx.store.save_sync_state(&state).await?;
    }
    ctx.inventory.wake.notify_one();
    Ok(state)
}

/// Runs a sync to its end: resumes the one under way, else starts the next.
pub async fn run(ctx: &Context, lister: &dyn Lister) -> Result<SyncState, FlowError> {
    let mut state = ctx.store.sync_state()?;
    // A sync that stopped (a crash, an error) goes on from its saved position.
    if !matches!(state.phase, SyncPhase::Running | SyncPhase::Failed) || state.generation == 0 {
        state = start(ctx, state).await?;
    }
    let started = std::time::Instant::now();
    loop {
        let mut calls = CallLog::background(ctx.metrics.clone(), "inventory");
        let page = match lister.page(state.cursor.as_deref(), &mut calls).await {
            Ok(page) => page,
            Err(e) => {
                state.phase = SyncPhase::Failed;
                state.last_error = Some(e.to_string());
                ctx.store.save_sync_state(&state).await?;
                tracing::warn!(error = %e, pages = state.pages, "inventory sync stopped; it resumes from where it was");
                return Err(e.into());
            }
        };
        let last = page.next.is_none();
        apply(ctx, page, &mut state).await?;
        if last {
            break;
        }
    }
    finish(ctx, &mut state).await?;
    let m = &ctx.metrics;
    m.inventory_sync_seconds
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        pages = state.pages,
        accounts = state.users_seen,
        "inventory synced"
    );
    Ok(state)
}

/// A new sync: the next generation, from the first page; the products' seats read now.
async fn start(ctx: &Context, previous: SyncState) -> Result<SyncState, FlowError> {
    let mut calls = CallLog::background(ctx.metrics.clone(), "inventory");
    let seats = match ctx.directory.products(&mut calls).await {
        Ok(products) => products
            .iter()
            .map(|p| ProductSeats {
                key: p.product.key().to_string(),
                total: p.seats.total,
                used: p.seats.used,
                held_at_sync: None,
            })
            .collect(),
        // The seats are for the summary; the sync itself can go on without them.
        Err(e) => {
            tracing::warn!(error = %e, "product seats not read for the inventory");
            previous.seats.clone()
        }
    };
    let state = SyncState {
        phase: SyncPhase::Running,
        generation: previous.generation + 1,
        cursor: None,
        pages: 0,
        users_seen: 0,
        to_do: None,
        started_at: Some(OffsetDateTime::now_utc()),
        finished_at: None,
        last_error: None,
        seats,
        incomplete: None,
        watching_since: previous.watching_since.or(Some(OffsetDateTime::now_utc())),
        ..previous
    };
    ctx.store.save_sync_state(&state).await?;
    Ok(state)
}

/// Merges one page into the inventory and saves the position after it, in one transaction.
async fn apply(ctx: &Context, page: Page, state: &mut SyncState) -> Result<(), FlowError> {
    let now = OffsetDateTime::now_utc();
    let generation = state.generation;
    let mut changed: BTreeMap<String, Account> = BTreeMap::new();
    {
        let known = ctx.store.accounts()?;
        for listed in page.accounts {
            let old = changed
                .remove(&listed.account_id)
                .or_else(|| known.get(&listed.account_id).cloned());
            let account = merge_listed(old, listed, generation, now);
            changed.insert(account.account_id.clone(), account);
        }
        for holder in page.holders {
            let old = changed
                .remove(&holder.account_id)
                .or_else(|| known.get(&holder.account_id).cloned());
            let account = merge_holder(old, holder, generation, now);
            changed.insert(account.account_id.clone(), account);
        }
    }
    state.cursor = page.next;
    if page.incomplete.is_some() {
        state.incomplete = page.incomplete;
    }
    state.pages += 1;
    state.users_seen += changed.len() as u64;
    state.to_do = Some(page.to_do);
    let accounts: Vec<Account> = changed.into_values().collect();
    ctx.store.put_accounts(&accounts, Some(state)).await?;
    ctx.metrics.inventory_sync_pages.inc();
    ctx.metrics
        .inventory_sync_accounts
        .inc_by(accounts.len() as u64);
    Ok(())
}

/// One listed account, merged into what was known. The first report of an account in a sync
/// replaces its groups and licences; a second (another directory) adds to them.
pub fn merge_listed(
    old: Option<Account>,
    l: Listed,
    generation: u64,
    now: OffsetDateTime,
) -> Account {
    let mut a = old.unwrap_or_else(|| Account::new(&l.account_id, None));
    if let Some(email) = l.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        a.email = Some(email);
    }
    a.name = l.name.or(a.name.take());
    a.username = l.username.or(a.username.take());
    a.account_type = l.account_type;
    a.gone_at = (l.status == AccountStatus::Gone).then(|| a.gone_at.unwrap_or(now));
    a.status = l.status;
    a.added_at = l.added_at.or(a.added_at);
    a.directory = l.directory.or(a.directory.take());
    a.site_login = a.site_login.max(l.site_login);
    if l.reports_activity {
        // The organisation's listing: it also says who is an admin and who the identity
        // provider provisions.
        a.admin_roles = l.admin_roles;
        a.synced = l.synced;
    }
    if let Some(groups) = l.groups {
        if a.groups_generation != generation {
            a.groups.clear();
        }
        for g in groups {
            if !a.groups.contains(&g) {
                a.groups.push(g);
            }
        }
        a.groups_generation = generation;
    }
    if let Some(products) = l.products {
        for (key, last_active) in products {
            let p = a.products.entry(key).or_default();
            p.licensed = true;
            p.seen = generation;
            p.last_active = p.last_active.max(last_active);
            p.reported = l.reports_activity;
        }
        // What this report does not name, the account no longer holds.
        for p in a.products.values_mut().filter(|p| p.seen != generation) {
            p.licensed = false;
        }
    }
    a.synced_at = Some(now);
    a.generation = generation;
    a
}

/// An account found holding a product (a licence group's member, or a product's licensed user).
pub fn merge_holder(
    old: Option<Account>,
    h: Holder,
    generation: u64,
    now: OffsetDateTime,
) -> Account {
    let mut a = old.unwrap_or_else(|| {
        // Listed by no user listing (yet): known by the product alone.
        let mut a = Account::new(&h.account_id, None);
        a.synced_at = Some(now);
        a.generation = generation;
        a
    });
    if let Some(group) = h.group {
        if a.groups_generation != generation {
            a.groups.clear();
            a.groups_generation = generation;
        }
        if !a.groups.contains(&group) {
            a.groups.push(group);
        }
    }
    let p = a.products.entry(h.product).or_default();
    p.licensed = true;
    p.seen = generation;
    p.last_active = p.last_active.max(h.last_active);
    a
}

/// What the end of a sync means for the accounts it did not see, or saw without a licence or a
/// group it had: gone, or no longer holding it. A listing that could not see everyone
/// (`complete` false) says nothing of those it did not see. Pure.
pub fn settle(
    a: &Account,
    generation: u64,
    now: OffsetDateTime,
    complete: bool,
) -> Option<Account> {
    let mut next = a.clone();
    if a.generation != generation && !complete {
        return None;
    }
    if a.generation != generation {
        if a.status != AccountStatus::Gone {
            next.status = AccountStatus::Gone;
            next.gone_at = Some(now);
        }
        for p in next.products.values_mut() {
            p.licensed = false;
        }
    } else {
        if a.groups_generation != generation {
            next.groups.clear();
        }
        for p in next.products.values_mut().filter(|p| p.seen != generation) {
            p.licensed = false;
        }
    }
    (next != *a).then_some(next)
}

/// The end of a complete sync: leavers are marked gone, stale licences dropped, the inventory
/// dated.
async fn finish(ctx: &Context, state: &mut SyncState) -> Result<(), FlowError> {
    let now = OffsetDateTime::now_utc();
    let changed: Vec<Account> = {
        let known = ctx.store.accounts()?;
        known
            .accounts()
            .filter_map(|a| settle(a, state.generation, now, state.incomplete.is_none()))
            .collect()
    };
    for batch in changed.chunks(1000) {
        ctx.store.put_accounts(batch, None).await?;
    }
    {
        let accounts = ctx.store.accounts()?;
        let held = super::query::holders(&accounts);
        for seats in &mut state.seats {
            seats.held_at_sync = Some(held.get(seats.key.as_str()).copied().unwrap_or(0) as u64);
        }
    }
    state.phase = SyncPhase::Finished;
    state.cursor = None;
    state.finished_at = Some(now);
    state.synced_at = Some(now);
    state.to_do = None;
    state.last_error = None;
    ctx.store.save_sync_state(state).await?;
    if let Some(why) = &state.incomplete {
        tracing::warn!(%why, listed = state.users_seen, "inventory sync could not list everyone: nobody it did not see was marked gone");
    }
    let accounts = ctx.store.accounts()?;
    for status in [
        AccountStatus::Active,
        AccountStatus::Suspended,
        AccountStatus::Deactivated,
        AccountStatus::Gone,
    ] {
        let n = accounts.accounts().filter(|a| a.status == status).count();
        let labels = crate::metrics::StatusLabels {
            status: status.key().into(),
        };
        ctx.metrics
            .inventory_accounts
            .get_or_create(&labels)
            .set(n as i64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountType;

    fn listed(id: &str, groups: &[&str], products: &[&str]) -> Listed {
        Listed {
            email: Some(format!("{id}@example.com")),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            products: Some(products.iter().map(|p| (p.to_string(), None)).collect()),
            ..Listed::new(id.into(), AccountType::Person, AccountStatus::Active)
        }
    }

    #[test]
    fn a_new_sync_replaces_groups_and_licences_and_a_second_directory_adds() {
        let now = OffsetDateTime::now_utc();
        let a = merge_listed(
            None,
            listed("a", &["g1"], &["jira-software", "loom"]),
            1,
            now,
        );
        let a = merge_listed(Some(a), listed("a", &["g2"], &["confluence"]), 2, now);
        assert_eq!(a.groups, ["g2"]);
        assert!(!a.products["jira-software"].licensed && a.products["confluence"].licensed);
        let a = merge_listed(Some(a), listed("a", &["g3"], &[]), 2, now);
        assert_eq!(a.groups, ["g2", "g3"], "the same sync's second report adds");
    }

    #[test]
    fn a_complete_sync_marks_the_unseen_gone_and_drops_what_it_did_not_find() {
        let now = OffsetDateTime::now_utc();
        let seen = merge_listed(None, listed("a", &["g1"], &["confluence"]), 3, now);
        assert_eq!(settle(&seen, 3, now, true), None, "seen and unchanged");
        let left = merge_listed(None, listed("b", &["g1"], &["confluence"]), 2, now);
        assert_eq!(
            settle(&left, 3, now, false),
            None,
            "an incomplete listing says nothing of it"
        );
        let gone = settle(&left, 3, now, true).expect("changed");
        assert_eq!(
            (gone.status, gone.gone_at),
            (AccountStatus::Gone, Some(now))
        );
        assert!(!gone.products["confluence"].licensed);
        let holder = Holder {
            account_id: "c".into(),
            product: "jira-software".into(),
            group: Some("jira-software-users".into()),
            last_active: None,
        };
        let mut site = merge_listed(
            None,
            Listed {
                groups: None,
                products: None,
                ..listed("c", &[], &[])
            },
            3,
            now,
        );
        site.products
            .entry("confluence".into())
            .or_default()
            .licensed = true;
        let site = merge_holder(Some(site), holder, 3, now);
        let settled = settle(&site, 3, now, true).expect("a licence not found again");
        assert!(
            settled.products["jira-software"].licensed && !settled.products["confluence"].licensed
        );
    }
}
