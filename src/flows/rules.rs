//! The admins' rules: replacing them (versioned and audited with who changed what), and
//! explaining the decision they make for a user, with the directory's view of them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::lookup::{Known, LookedUp, Stop, look_up};
use super::{Context, FlowError};
use crate::directory::ProductAccess;
use crate::domain::rules::{Facts, Rule, RuleSet, describe_change};
use crate::domain::{AuditOutcome, Email, EventUser, Product, Source};
use crate::store::{AuditEntry, EventOutcome, RulesDoc, UserRecord};

/// Replaces the whole ordered list (already validated), audits the change, flushes.
pub async fn replace(ctx: &Context, rules: Vec<Rule>, actor: &str) -> Result<RulesDoc, FlowError> {
    let old = ctx.store.rules()?;
    let doc = RulesDoc {
        v: 1,
        version: old.version + 1,
        updated_at: Some(OffsetDateTime::now_utc()),
        rules,
    };
    ctx.store.put_rules(&doc)?;
    let mut entry = AuditEntry::new(
        AuditOutcome::RulesChanged,
        format!(
            "rules version {} → {} ({} rules): {}",
            old.version,
            doc.version,
            doc.rules.len(),
            describe_change(&old.rules, &doc.rules),
        ),
    );
    entry.actor = Some(actor.to_string());
    let audit = vec![entry];
    ctx.store
        .record(EventOutcome {
            audit,
            ..Default::default()
        })
        .await?;
    tracing::info!(%actor, version = doc.version, "rules replaced");
    Ok(doc)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainUser {
    pub email: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// A user, or a login event body as sent (its `type` and `occurred_at` are ignored).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub user: ExplainUser,
    #[serde(default)]
    pub product: Option<Product>,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default, rename = "type")]
    _type: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ProductExplanation {
    product: Product,
    already_licensed: bool,
    previously_reclaimed: bool,
    seats: crate::domain::Seats,
    #[serde(flatten)]
    explanation: crate::domain::rules::Explanation,
}

/// The decision the live rules make for a user, with the directory's view of them, and rule by
/// rule which condition matched or failed. Acts on nothing.
pub async fn explain(ctx: &Context, req: ExplainRequest) -> Result<ExplainAnswer, FlowError> {
    explain_with(ctx, req, None).await
}

/// As `explain`, with `proposed` rules instead of the live ones (to test before saving).
pub async fn explain_with(
    ctx: &Context,
    req: ExplainRequest,
    proposed: Option<std::sync::Arc<RuleSet>>,
) -> Result<ExplainAnswer, FlowError> {
    let _ = (req._type, req.occurred_at);
    let email = Email::parse(&req.user.email)
        .map_err(|e| FlowError::invalid("invalid_request", format!("user.email: {e}")))?;
    let source = req.source.unwrap_or(Source::Login);
    let event_user = EventUser {
        email: Some(email.clone()),
        account_id: req.user.account_id,
        username: None,
        roles: req.user.roles,
        groups: req.user.groups,
    };
    let known = ctx.store.user(&email)?;
    let recorded = known.as_ref().and_then(|u| u.account_id.clone());
    let before = Known::of(ctx, &event_user, &email, recorded)?;
    let mut calls = ctx.calls();
    let dir = ctx.directory.as_ref();
    let found = match look_up(dir, &event_user, &email, before, req.product, &mut calls).await {
        Ok(found) => found,
        Err(Stop::Retry(e)) => {
            return Err(FlowError::Unavailable(format!(
                "the directory could not be asked: {e}"
            )));
        }
        Err(Stop::End(outcome, reason)) => {
            return Ok(ExplainAnswer::undecided(email, outcome, reason));
        }
    };
    let rules = match proposed {
        Some(rules) => rules,
        None => ctx.store.compiled_rules()?,
    };
    let LookedUp {
        user,
        groups,
        targets,
    } = found;
    let products = targets
        .iter()
        .map(|access| {
            let facts = (
                &email,
                groups.as_slice(),
                event_user.roles.as_slice(),
                source,
            );
            product_explanation(&rules, known.as_ref(), access, facts)
        })
        .collect();
    Ok(ExplainAnswer {
        email,
        outcome: None,
        reason: None,
        account_id: Some(user.account_id),
        groups: Some(groups),
        roles: Some(event_user.roles),
        source: Some(source),
        products,
    })
}

/// One product's explanation: whether the user holds it, and the rules' trace.
fn product_explanation(
    rules: &RuleSet,
    known: Option<&UserRecord>,
    access: &ProductAccess,
    (email, groups, roles, source): (&Email, &[String], &[String], Source),
) -> ProductExplanation {
    let reclaimed = known
        .and_then(|u| u.products.get(&access.product))
        .is_some_and(|p| p.reclaimed.is_some());
    let facts = Facts::new(email, groups, roles, access.product, source, reclaimed);
    let already = groups.iter().any(|g| {
        access
            .access_groups
            .iter()
            .any(|a| a.eq_ignore_ascii_case(g))
    });
    ProductExplanation {
        product: access.product,
        already_licensed: already,
        previously_reclaimed: reclaimed,
        seats: access.seats,
        explanation: rules.explain(&facts, Some(access.seats)),
    }
}

/// The answer of `POST /api/v1/rules/explain`. When the user cannot be decided for (unknown,
/// deactivated, …) it carries `outcome` and `reason` and no products.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ExplainAnswer {
    email: Email,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<AuditOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    /// Groups from the directory and the identity provider together.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    products: Vec<ProductExplanation>,
}

impl ExplainAnswer {
    /// A user who cannot be decided for (unknown, deactivated, …).
    fn undecided(email: Email, outcome: AuditOutcome, reason: String) -> ExplainAnswer {
        ExplainAnswer {
            email,
            outcome: Some(outcome),
            reason: Some(reason),
            account_id: None,
            groups: None,
            roles: None,
            source: None,
            products: Vec::new(),
        }
    }
}
