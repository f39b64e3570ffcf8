//! The reclaim policies: read, and replaced whole — versioned and audited like the rules.

use time::OffsetDateTime;

use super::super::{Context, FlowError};
use crate::domain::AuditOutcome;
use crate::domain::reclaim::Policy;
use crate::store::{AuditEntry, EventOutcome, PoliciesDoc};

pub fn get(ctx: &Context) -> Result<PoliciesDoc, FlowError> {
    Ok(ctx.store.policies()?)
}

/// Replaces the policies (already validated), audited with who did it and what changed.
pub async fn replace(
    ctx: &Context,
    policies: Vec<Policy>,
    actor: &str,
) -> Result<PoliciesDoc, FlowError> {
    let old = ctx.store.policies()?;
    let doc = PoliciesDoc {
        v: 1,
        version: old.version + 1,
        updated_at: Some(OffsetDateTime::now_utc()),
        policies,
    };
    ctx.store.put_policies(&doc)?;
    let names = |list: &[Policy]| list.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let (from, to) = (names(&old.policies), names(&doc.policies));
    let change = Versioned::new("policies", actor, (old.version, doc.version));
    change.record(ctx, &to, &from).await?;
    Ok(doc)
}

/// A versioned document of reclamation replaced (policies, schedules): what the audit says.
pub(super) struct Versioned<'a> {
    what: &'static str,
    actor: &'a str,
    versions: (u64, u64),
}

impl<'a> Versioned<'a> {
    pub(super) fn new(what: &'static str, actor: &'a str, versions: (u64, u64)) -> Self {
        Versioned {
            what,
            actor,
            versions,
        }
    }

    /// Audits the change with who made it, the versions, and the items now and before.
    pub(super) async fn record(
        &self,
        ctx: &Context,
        now: &[String],
        were: &[String],
    ) -> Result<(), FlowError> {
        let (old, new) = self.versions;
        let mut entry = AuditEntry::new(
            AuditOutcome::RulesChanged,
            format!(
                "reclaim {} version {old} → {new}: {now:?} (were {were:?})",
                self.what
            ),
        );
        entry.actor = Some(self.actor.to_string());
        ctx.store
            .record(EventOutcome {
                audit: vec![entry],
                ..Default::default()
            })
            .await?;
        tracing::info!(actor = %self.actor, version = new, "reclaim {} replaced", self.what);
        Ok(())
    }
}
