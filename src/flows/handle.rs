//! One event, idempotently: a second call with the same id does nothing, and everything it
//! changed is flushed to sled before it returns `Ok`. Dispatched by kind; what the kinds share
//! (the audit entry, the processed record, how an event ends) is in `outcome`, below them.

use super::Context;
use super::outcome::{Handled, WorkError, finish_with};
use crate::directory::CallLog;
use crate::domain::{AuditOutcome, Event, EventKind, Source};

/// Handles one event (the worker's step; tests drive it directly).
pub async fn handle(ctx: &Context, event: &Event, attempt: u32) -> Result<Handled, WorkError> {
    if ctx.store.processed(event.id.as_str())?.is_some() {
        return Ok(Handled::Duplicate);
    }
    if matches!(event.source, Source::Slack | Source::Teams) {
        let handled = if matches!(event.kind, EventKind::Approve | EventKind::Decline) {
            super::decide::decide(ctx, event, attempt).await
        } else {
            by_kind(ctx, event, attempt).await
        };
        note_channel(ctx, event, &handled);
        return handled;
    }
    let handled = by_kind(ctx, event, attempt).await;
    if event.source == Source::Mail {
        note_channel(ctx, event, &handled);
    }
    handled
}

/// What a channel's event came to, for the Overview (a note that cannot be written is only
/// logged: it is not the event's outcome).
fn note_channel(ctx: &Context, event: &Event, handled: &Result<Handled, WorkError>) {
    let noted = match handled {
        Ok(Handled::Done(outcomes)) => {
            let what: Vec<&str> = outcomes.iter().map(|o| o.key()).collect();
            let what = match what.is_empty() {
                true => format!("{}: shown", event.kind.key()),
                false => format!("{}: {}", event.kind.key(), what.join(", ")),
            };
            ctx.store.note_channel(event.source.key(), false, &what)
        }
        Ok(_) => Ok(()),
        Err(e) => ctx
            .store
            .note_channel(event.source.key(), true, &e.to_string()),
    };
    if let Err(e) = noted {
        tracing::warn!(error = %e, "the channel's state could not be noted");
    }
}

async fn by_kind(ctx: &Context, event: &Event, attempt: u32) -> Result<Handled, WorkError> {
    match event.kind {
        EventKind::Keep => super::reclaim::record_keep(ctx, event, attempt).await,
        EventKind::Ask => super::ask::send_confirmation(ctx, event, attempt).await,
        EventKind::Decline => super::jsm::record_decline(ctx, event, attempt).await,
        EventKind::JsmUpdate => super::jsm::complete(ctx, event, attempt).await,
        EventKind::Order => super::reclaim::carry_out(ctx, event, attempt).await,
        EventKind::Leaver => super::reclaim::leavers::handle(ctx, event, attempt).await,
        EventKind::Unusable => {
            let reason = event.problem.clone().unwrap_or_else(|| "unusable".into());
            let outcome = AuditOutcome::UnusableEvent;
            finish_with(ctx, event, attempt, outcome, reason, CallLog::default()).await
        }
        EventKind::Form => super::form::show(ctx, event, attempt).await,
        EventKind::Login | EventKind::Restore | EventKind::Approve => {
            super::restore::run(ctx, event, attempt).await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::directory::simulated::SimulatedOrg;
    use crate::domain::Product;
    use crate::flows::Settings;
    use crate::store::Store;

    fn ctx(dir: &std::path::Path) -> Context {
        Context {
            metrics: Arc::new(crate::metrics::Metrics::new()),
            links: None,
            store: Store::open(dir).expect("store"),
            directory: Arc::new(SimulatedOrg::new()),
            lister: Arc::new(SimulatedOrg::new()),
            inventory: Default::default(),
            settings: Settings::default(),
        }
    }

    /// A worker over a fresh store holding the sandbox's starter rules.
    async fn with_starter_rules(dir: &std::path::Path) -> Context {
        let ctx = ctx(dir);
        crate::flows::rules::replace(&ctx, crate::sandbox::starter_rules(), "test")
            .await
            .expect("rules");
        ctx
    }

    fn login(id: &str, email: &str, product: Option<Product>) -> Event {
        Event::login_for_tests(id, email, product)
    }

    #[tokio::test]
    async fn a_restore_rule_restores_once_and_a_repeat_does_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let event = login("1", "grace@example.com", Some(Product::JiraSoftware));
        assert_eq!(
            handle(&ctx, &event, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::Restored])
        );
        assert_eq!(
            handle(&ctx, &event, 2).await.expect("handled"),
            Handled::Duplicate
        );
        // A new login of the same user finds the licence in place.
        // Two minutes later (closer logins count as the same one).
        let mut again = login("2", "grace@example.com", Some(Product::JiraSoftware));
        again.occurred_at += time::Duration::minutes(2);
        assert_eq!(
            handle(&ctx, &again, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::AlreadyLicensed])
        );
        let user = ctx
            .store
            .user(event.user.email.as_ref().expect("email"))
            .expect("read")
            .expect("user");
        assert_eq!(
            user.products[&Product::JiraSoftware].groups_added,
            vec!["jira-software-users"]
        );
    }

    #[tokio::test]
    async fn the_same_login_from_two_sources_acts_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let first = login("a", "grace@example.com", Some(Product::JiraSoftware));
        let mut second =
            Event::login_for_tests("b", "grace@example.com", Some(Product::JiraSoftware));
        second.source = crate::domain::Source::Okta;
        second.occurred_at = first.occurred_at + time::Duration::seconds(3);
        assert_eq!(
            handle(&ctx, &first, 1).await.expect("first"),
            Handled::Done(vec![AuditOutcome::Restored])
        );
        assert_eq!(
            handle(&ctx, &second, 1).await.expect("second"),
            Handled::Done(vec![AuditOutcome::DuplicateLogin])
        );
        // A redelivery of the first is still the first, not a duplicate of itself.
        assert_eq!(
            handle(&ctx, &first, 2).await.expect("again"),
            Handled::Duplicate
        );
    }

    #[tokio::test]
    async fn outcomes_follow_the_rules_per_product() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let all = login("3", "linus@example.com", None);
        assert_eq!(
            handle(&ctx, &all, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::Restored, AuditOutcome::ApprovalRequired])
        );
        let contractor = login(
            "4",
            "mallory@contractor.example.net",
            Some(Product::JiraSoftware),
        );
        assert_eq!(
            handle(&ctx, &contractor, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::ApprovalRequired])
        );
        let stranger = login("5", "nobody@example.com", None);
        assert_eq!(
            handle(&ctx, &stranger, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::UnknownUser])
        );
        let confluence = login("6", "grace@example.com", Some(Product::Confluence));
        assert_eq!(
            handle(&ctx, &confluence, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::UnsupportedProduct])
        );
        let pending = ctx.store.requests(None).expect("requests");
        assert_eq!(pending.len(), 2, "{pending:?}");
    }
}
