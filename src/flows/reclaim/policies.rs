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
    let mut entry = AuditEntry::new(
        AuditOutcome::RulesChanged,
        format!(
            "reclaim policies version {} → {}: {:?} (were {:?})",
            old.version,
            doc.version,
            names(&doc.policies),
            names(&old.policies),
        ),
    );
    entry.actor = Some(actor.to_string());
    ctx.store
        .record(EventOutcome {
            audit: vec![entry],
            ..Default::default()
        })
        .await?;
    tracing::info!(%actor, version = doc.version, "reclaim policies replaced");
    Ok(doc)
}
