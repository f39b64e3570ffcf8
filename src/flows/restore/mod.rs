//! Restoring licences — on a login, a restore asked through a link or the portal, or an approval
//! (an admin's, or in Service Management). In stages: look the user up in the directory; per
//! product, decide (the rules, or the approval) and act (reactivate, add to exactly the groups
//! that were reclaimed, else the defaults); settle what the outcome means for requests, the
//! requester and alerts; record it all in one transaction; then answer a JSM request.

use time::OffsetDateTime;

use super::identify::identify;
use super::inventory::seen::{self, Seen};
use super::lookup::{Known, LookedUp, Stop, look_up};
use super::outcome::{Handled, WorkError, base_entry, finish_with, processed};
use super::{Context, requests};
use crate::directory::{CallLog, DirectoryError, ProductAccess};
use crate::domain::rules::{Decision, Facts, Outcome, RuleSet};
use crate::domain::{AuditOutcome, Email, Event, EventKind, Product};
use crate::store::{AuditEntry, EventOutcome, ProductState, RequestState, UserRecord};

mod answer;
mod seats;

pub(super) async fn run(ctx: &Context, event: &Event, attempt: u32) -> Result<Handled, WorkError> {
    let mut calls = ctx.calls();
    // Asked in a chat app: the person is who the app says, by the email it holds.
    let asked;
    let event = match super::chat::who_asked(ctx, event, &mut calls).await {
        Ok(Some(e)) => {
            asked = e;
            &asked
        }
        Ok(None) => event,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };
    let identified = match identify(ctx, &event.user, &mut calls).await {
        Ok(identified) => identified,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };
    // A login name resolved: the event goes on as if it had named the email (and account).
    let resolved;
    let event = if event.user.email.is_none() {
        let mut e = event.clone();
        e.user.email = Some(identified.email.clone());
        e.user.account_id = e.user.account_id.take().or(identified.account_id);
        resolved = e;
        &resolved
    } else {
        event
    };
    let email = identified.email;
    if let Some(first) = duplicate_login(ctx, event, &email)? {
        let reason = format!("the same login was already handled as {first}");
        let outcome = AuditOutcome::DuplicateLogin;
        return finish_with(ctx, event, attempt, outcome, reason, calls).await;
    }
    let user = ctx
        .store
        .user(&email)?
        .unwrap_or_else(|| UserRecord::new(&email));
    let known = Known::of(ctx, &event.user, &email, user.account_id.clone())?;
    let dir = ctx.directory.as_ref();
    let mut found = match look_up(dir, &event.user, &email, known, event.product, &mut calls).await
    {
        Ok(found) => found,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            // Nothing to restore (a product this directory does not license, say), but a login
            // is a login: the inventory sees it at once all the same.
            if event.kind == EventKind::Login
                && let Some(account) = ctx.store.account_by_email(&email)?
            {
                let seen = Seen {
                    account_id: &account.account_id,
                    email: &email,
                    login: Some((event.occurred_at, event.product)),
                    added: &[],
                    reactivated: false,
                };
                seen::record(ctx, seen)?;
            }
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };
    // An approval in Service Management settles the requests its issue opened, no others.
    if let (EventKind::Approve, Some(issue)) = (event.kind, &event.issue) {
        let opened = requests::opened_by(ctx, &email, issue)?;
        if !opened.is_empty() {
            found.targets.retain(|a| opened.contains(&a.product));
        }
    }
    let rules = ctx.store.compiled_rules()?;
    let mut run = Run::new(ctx, event, attempt, email, user, found, calls);
    for access in run.found.targets.clone() {
        run.product(&rules, &access).await?;
    }
    run.finish().await
}

/// The same login reported twice (two sources, or twice by one): the first event that claimed
/// it, when this one is not it.
fn duplicate_login(
    ctx: &Context,
    event: &Event,
    email: &Email,
) -> Result<Option<String>, WorkError> {
    let window = ctx.settings.login_window.whole_milliseconds() as i64;
    if event.kind != EventKind::Login || window <= 0 {
        return Ok(None);
    }
    let occurred = (event.occurred_at.unix_timestamp_nanos() / 1_000_000) as i64;
    Ok(ctx
        .store
        .claim_login(email, event.id.as_str(), occurred, window)?)
}

/// One event's restore in progress: what was found, decided and done so far.
struct Run<'a> {
    ctx: &'a Context,
    event: &'a Event,
    attempt: u32,
    email: Email,
    user: UserRecord,
    found: LookedUp,
    calls: CallLog,
    outcome: EventOutcome,
    outcomes: Vec<AuditOutcome>,
    /// Groups added, per product restored.
    added: Vec<(Product, Vec<String>)>,
    /// HTTP calls to the directory so far, for the calls-per-login metric.
    call_count: usize,
    /// The account was given its access back.
    reactivated: bool,
}

/// What to do about one product.
enum Verdict {
    /// The user holds the licence already.
    Holds,
    Decided(Decision),
}

impl<'a> Run<'a> {
    fn new(
        ctx: &'a Context,
        event: &'a Event,
        attempt: u32,
        email: Email,
        mut user: UserRecord,
        found: LookedUp,
        calls: CallLog,
    ) -> Run<'a> {
        user.account_id = Some(found.user.account_id.clone());
        user.last_login = Some(latest(user.last_login, event.occurred_at));
        user.groups = found.groups.clone();
        user.roles = event.user.roles.clone();
        Run {
            ctx,
            event,
            attempt,
            email,
            user,
            found,
            calls,
            outcome: EventOutcome::default(),
            outcomes: Vec::new(),
            added: Vec::new(),
            call_count: 0,
            reactivated: false,
        }
    }

    fn state(&mut self, product: Product) -> &mut ProductState {
        self.user.products.entry(product).or_default()
    }

    /// Decides one product, acts on the decision and settles what it means.
    async fn product(&mut self, rules: &RuleSet, access: &ProductAccess) -> Result<(), WorkError> {
        let product = access.product;
        let occurred = self.event.occurred_at;
        let state = self.state(product);
        state.last_login = Some(latest(state.last_login, occurred));
        let mut entry = base_entry(self.event, self.attempt, AuditOutcome::AlreadyLicensed, "");
        entry.account_id = Some(self.found.user.account_id.clone());
        entry.product = Some(product);
        entry.seats_before = Some(access.seats);
        let mut capped = false;
        match self.verdict(rules, access) {
            Verdict::Holds => {
                self.close_ledger(product)?;
                let state = self.state(product);
                state.licensed = true;
                state.reclaimed = None;
                entry.reason = format!("already holds a {} licence", product.key());
            }
            Verdict::Decided(mut decision) => {
                let held = decision.outcome == Outcome::Restore && decision.rule.is_some();
                if held && !seats::hold(self.ctx, self.event, access)? {
                    decision = seats::all_held(decision, access);
                }
                capped = decision.seat_capped;
                entry = entry.with_decision(&decision);
                entry.outcome = AuditOutcome::from_rule(decision.outcome);
                entry.reason = decision.reason.clone();
                match decision.outcome {
                    Outcome::Restore => {
                        let restored = self.restore(access, &decision, &mut entry).await;
                        if held {
                            seats::release(self.ctx, self.event, product)?;
                        }
                        restored?
                    }
                    Outcome::Approve => {
                        let account = self.found.user.account_id.clone();
                        let event = self.event;
                        let outcome = &mut self.outcome;
                        requests::open(self.ctx, event, &account, product, &decision, outcome)?;
                    }
                    Outcome::Deny => {}
                }
            }
        }
        self.settle(access, entry, capped)
    }

    /// Holds the licence already, or what the rules (or an approval) decide. A suspended or
    /// deactivated account holds nothing it can use, whatever its groups.
    fn verdict(&self, rules: &RuleSet, access: &ProductAccess) -> Verdict {
        let groups = &self.found.groups;
        let holds = self.found.user.active
            && groups.iter().any(|g| {
                access
                    .access_groups
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(g))
            });
        if holds {
            return Verdict::Holds;
        }
        let reclaimed = self
            .user
            .products
            .get(&access.product)
            .is_some_and(|s| s.reclaimed.is_some());
        let event = self.event;
        // An admin's approval decides by itself: the rules already left it to them.
        let approved_by = match (&event.request, &event.issue) {
            (Some(id), _) => Some(format!("approved by an admin (request {id})")),
            (None, Some(issue)) if event.kind == EventKind::Approve => {
                Some(format!("approved in Jira Service Management ({issue})"))
            }
            _ => None,
        };
        Verdict::Decided(match approved_by {
            Some(reason) => Decision {
                outcome: Outcome::Restore,
                rule: None,
                reason,
                message: None,
                seat_capped: false,
            },
            None => {
                let facts = Facts::new(
                    &self.email,
                    groups,
                    &event.user.roles,
                    access.product,
                    event.source,
                    reclaimed,
                );
                rules.decide(&facts, Some(access.seats))
            }
        })
    }

    /// Gives the licence back: reactivates the account when it must, then adds the user to
    /// exactly the groups that were reclaimed (when recorded), else the product's defaults. A
    /// transient failure records what was done so far and hands the event back to the bus.
    async fn restore(
        &mut self,
        access: &ProductAccess,
        decision: &Decision,
        entry: &mut AuditEntry,
    ) -> Result<(), WorkError> {
        let product = access.product;
        let to_add = match &self.state(product).reclaimed {
            Some(r) if !r.groups.is_empty() => r.groups.clone(),
            _ => access.default_groups.clone(),
        };
        let (added, result) = self.add_groups(product, &to_add, entry).await;
        let failure = match result {
            Err(e) if e.is_transient() => {
                // Keep the audit of what was already done; the retry finds it done.
                let calls = self.calls.take();
                self.outcome.audit.push(entry_failed(entry, &e, calls));
                self.outcome.user = Some(self.user.clone());
                self.ctx
                    .store
                    .record(std::mem::take(&mut self.outcome))
                    .await?;
                return Err(e.into());
            }
            Err(e) => Some(e),
            Ok(()) if to_add.is_empty() => Some(DirectoryError::Permanent(format!(
                "{} has no default access group to add the user to",
                product.key()
            ))),
            Ok(()) => None,
        };
        match failure {
            None => {
                self.close_ledger(product)?;
                self.added.push((product, added.clone()));
                let state = self.state(product);
                state.licensed = true;
                state.restored_at = Some(OffsetDateTime::now_utc());
                state.groups_added = added;
                state.reclaimed = None;
                let directory = &self.ctx.directory;
                let after = directory.seat_taken(product);
                entry.seats_after = Some(after.unwrap_or_else(|| access.seats.plus_one()));
            }
            Some(e) => {
                entry.outcome = AuditOutcome::Failed;
                entry.reason = format!("{}; restore failed: {e}", decision.reason);
            }
        }
        Ok(())
    }

    /// Reactivates (when the account is not active) and adds the groups, stopping at the first
    /// failure; returns the groups added and how it ended.
    async fn add_groups(
        &mut self,
        product: Product,
        groups: &[crate::domain::GroupRef],
        entry: &mut AuditEntry,
    ) -> (Vec<String>, Result<(), DirectoryError>) {
        if !self.found.user.active {
            match self.reactivate(product).await {
                Ok(how) => entry.reason = format!("{}; {how}", entry.reason),
                Err(e) => return (Vec::new(), Err(e)),
            }
        }
        let dir = &self.ctx.directory;
        let account = &self.found.user.account_id;
        let calls = &mut self.calls;
        let mut added = Vec::new();
        for group in groups {
            if let Err(e) = dir.add_to_group(account, product, group, calls).await {
                return (added, Err(e));
            }
            added.push(group.name.clone());
        }
        (added, Ok(()))
    }

    /// Gives the account its access back before its licence: exactly what reinstate itself
    /// changed (the ledger: a suspension restored, a deactivation enabled, a deletion in its
    /// grace cancelled), else as the directory says the account is (only with
    /// `directory.reactivate`, see `look_up`). Once per event.
    async fn reactivate(&mut self, product: Product) -> Result<String, DirectoryError> {
        let ctx = self.ctx;
        let account = self.found.user.account_id.clone();
        let store = |e: crate::store::StoreError| DirectoryError::Transient(e.to_string());
        let directory = super::inventory::directory_of(ctx, &account).map_err(store)?;
        let mut taken: Vec<crate::store::LedgerEntry> = ctx
            .store
            .open_ledger(&account)
            .map_err(store)?
            .into_iter()
            .filter(|l| matches!(l.change, crate::store::Change::Standing { .. }))
            .collect();
        let how = if taken.is_empty() {
            ctx.directory
                .reactivate(
                    &account,
                    &self.email,
                    directory.as_deref(),
                    product,
                    &mut self.calls,
                )
                .await?;
            "the account was reactivated".to_string()
        } else {
            // The latest change first: a deletion is cancelled before the account is enabled.
            taken.sort_by_key(|l| std::cmp::Reverse(l.at));
            let mut done = Vec::new();
            for mut entry in taken {
                let crate::store::Change::Standing { from, to } = entry.change.clone() else {
                    continue;
                };
                for back in crate::domain::reclaim::Standing::back(&to, &from) {
                    ctx.directory
                        .set_standing(&account, directory.as_deref(), back, &mut self.calls)
                        .await?;
                }
                done.push(format!("{to} → {from}"));
                entry.state = crate::store::LedgerState::Closed;
                entry.closed_by = Some(self.event.id.to_string());
                entry.closed_at = Some(OffsetDateTime::now_utc());
                self.outcome
                    .reclaim
                    .extend(crate::store::ledger_writes(&entry).map_err(store)?);
            }
            format!("what reinstate changed was given back: {}", done.join(", "))
        };
        self.found.user.active = true;
        self.reactivated = true;
        Ok(how)
    }

    /// What the product's outcome means: its open request closes, the requester is told, admins
    /// are alerted of a failure or of seats; then its audit entry joins the outcome.
    fn settle(
        &mut self,
        access: &ProductAccess,
        mut entry: AuditEntry,
        capped: bool,
    ) -> Result<(), WorkError> {
        let (ctx, event, product) = (self.ctx, self.event, access.product);
        let out = &mut self.outcome;
        let close = |state, by: &str, note: &str, out: &mut EventOutcome| {
            requests::close(ctx, &self.email, product, state, by, note, out)
        };
        match entry.outcome {
            AuditOutcome::Restored => {
                let by = if event.request.is_some() {
                    "admin approval"
                } else {
                    "rules"
                };
                close(RequestState::Restored, by, "licence restored", out)?;
            }
            AuditOutcome::Failed if event.request.is_some() => {
                close(RequestState::Failed, "worker", &entry.reason, out)?;
            }
            _ => {}
        }
        if requests::is_ask(event) {
            let message = entry.message.as_deref();
            requests::tell_requester(
                ctx.settings.spelling,
                &self.email,
                product,
                entry.outcome,
                message,
                out,
            );
        }
        if entry.outcome == AuditOutcome::Failed {
            super::alerts::failure_alert(ctx, event, Some(product), &entry.reason, out)?;
        }
        let seats = entry.seats_after.unwrap_or(access.seats);
        let capped = capped.then_some(&self.email);
        super::alerts::seat_alerts(ctx, product, seats, capped, out)?;
        entry.directory_calls = self.calls.take();
        self.call_count += entry.directory_calls.len();
        self.outcomes.push(entry.outcome);
        self.outcome.audit.push(entry);
        Ok(())
    }

    /// Answers a JSM request on its issue, writes what was seen into the inventory, then
    /// records everything in one transaction.
    async fn finish(mut self) -> Result<Handled, WorkError> {
        let (ctx, event) = (self.ctx, self.event);
        if let Some(issue) = &event.issue {
            let (outcomes, calls, out) = (&self.outcomes, &mut self.calls, &mut self.outcome);
            answer::answer(ctx, event, issue, outcomes, calls, out).await;
        }
        let login = (event.kind == EventKind::Login).then_some((event.occurred_at, event.product));
        seen::record(
            ctx,
            Seen {
                account_id: &self.found.user.account_id,
                email: &self.email,
                login,
                added: &self.added,
                reactivated: self.reactivated,
            },
        )?;
        self.count_calls();
        let summary = self
            .outcomes
            .iter()
            .map(|o| o.key())
            .collect::<Vec<_>>()
            .join(",");
        self.outcome.user = Some(self.user);
        self.outcome.processed = processed(ctx, event, &summary);
        super::chat::reply(ctx, event, &mut self.outcome);
        ctx.store.record(self.outcome).await?;
        Ok(Handled::Done(self.outcomes))
    }

    /// What a reclaim took of this product is back: its ledger entries close, naming this event.
    fn close_ledger(&mut self, product: Product) -> Result<(), WorkError> {
        if self.state(product).reclaimed.is_none() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let account = self.found.user.account_id.clone();
        for mut entry in self.ctx.store.open_ledger(&account)? {
            if entry.product == Some(product)
                && matches!(entry.change, crate::store::Change::GroupsRemoved { .. })
            {
                entry.state = crate::store::LedgerState::Closed;
                entry.closed_by = Some(self.event.id.to_string());
                entry.closed_at = Some(now);
                self.outcome
                    .reclaim
                    .extend(crate::store::ledger_writes(&entry)?);
            }
        }
        Ok(())
    }

    /// The directory calls a login made, by what it came to (a restore when any product was
    /// restored).
    fn count_calls(&self) {
        if self.event.kind != EventKind::Login {
            return;
        }
        let outcome = if self.outcomes.contains(&AuditOutcome::Restored) {
            AuditOutcome::Restored
        } else {
            self.outcomes
                .first()
                .copied()
                .unwrap_or(AuditOutcome::AlreadyLicensed)
        };
        let labels = crate::metrics::OutcomeLabels {
            outcome: outcome.key().into(),
        };
        let calls = (self.call_count + self.calls.calls.len()) as f64;
        self.ctx
            .metrics
            .calls_per_event
            .get_or_create(&labels)
            .observe(calls);
    }
}

fn latest(known: Option<OffsetDateTime>, seen: OffsetDateTime) -> OffsetDateTime {
    known.map_or(seen, |k| k.max(seen))
}

fn entry_failed(
    entry: &AuditEntry,
    e: &DirectoryError,
    calls: Vec<crate::domain::DirectoryCall>,
) -> AuditEntry {
    let mut failed = entry.clone();
    failed.outcome = AuditOutcome::Failed;
    failed.reason = format!("{}; will retry: {e}", entry.reason);
    failed.directory_calls = calls;
    failed
}
