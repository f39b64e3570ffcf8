//! Admin-defined rules: the document admins write, and its validation. An ordered list; the
//! first enabled rule whose conditions all match decides; no match means *approve* (nothing is
//! restored automatically unless a rule says so). Evaluation lives in `eval`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, Product, Source};

mod eval;
pub use eval::{ConditionTrace, Decision, Explanation, Facts, RuleSet, RuleTrace};

/// What a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Restore the licence at once.
    Restore,
    /// Wait for an admin's approval.
    Approve,
    /// Do not restore.
    Deny,
}

/// Conditions of a rule; every present condition must match, an absent one matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Email domains: `example.com` exactly, or `*.example.com` for its subdomains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// The user is in at least one of these groups (directory or identity provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_any: Option<Vec<String>>,
    /// The user is in every one of these groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_all: Option<Vec<String>>,
    /// The user is in none of these groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_none: Option<Vec<String>>,
    /// The identity provider reports at least one of these roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_any: Option<Vec<String>>,
    /// The product being restored is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<Product>>,
    /// The event came from one of these sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Source>>,
    /// The user is one of these (email addresses): an explicit allow or deny list, by outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<Email>>,
    /// Whether reinstate or an admin recorded this product's licence as reclaimed from the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previously_reclaimed: Option<bool>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, shown in the audit log as the rule that decided.
    pub name: String,
    /// A disabled rule is kept but never matches.
    #[serde(default = "enabled", skip_serializing_if = "is_enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub when: Conditions,
    pub then: Outcome,
    /// Shown to the user with the outcome (for example, whom to ask instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn enabled() -> bool {
    true
}
fn is_enabled(b: &bool) -> bool {
    *b
}

impl Rule {
    pub fn new(name: &str, when: Conditions, then: Outcome) -> Rule {
        Rule {
            name: name.into(),
            enabled: true,
            when,
            then,
            message: None,
        }
    }
}

/// The body of `PUT /api/v1/rules` (documented as schemas/rules.schema.json).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate rules", extend("$id" = "https://reinstate.dev/schemas/rules.schema.json"))]
pub struct RuleList {
    /// Ordered; the first rule whose conditions all match decides.
    pub rules: Vec<Rule>,
}

/// Deserializes `body`, naming the field that fails (under `prefix`, the path of `body`).
fn deserialize<T: serde::de::DeserializeOwned>(
    body: &[u8],
    prefix: &str,
) -> Result<T, InvalidRule> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let field = match (path.as_str(), prefix) {
            ("." | "?", "") => "body".to_string(),
            ("." | "?", prefix) => prefix.to_string(),
            (path, prefix) => format!("{prefix}{path}"),
        };
        InvalidRule {
            field,
            reason: e.inner().to_string(),
        }
    })?;
    // Nothing but whitespace after the document.
    de.end().map_err(|e| InvalidRule {
        field: "body".into(),
        reason: e.to_string(),
    })?;
    Ok(value)
}

/// A rule list that cannot be used; names the rule and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidRule {
    pub field: String,
    pub reason: String,
}

impl RuleList {
    /// Parses and validates a rule document: `{"rules": [...]}`, or the bare list `[...]`.
    pub fn parse(body: &[u8]) -> Result<RuleList, InvalidRule> {
        let bare = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        let list = if bare {
            RuleList {
                rules: deserialize(body, "rules")?,
            }
        } else {
            deserialize(body, "")?
        };
        list.validate()?;
        Ok(list)
    }

    pub fn validate(&self) -> Result<(), InvalidRule> {
        let mut names = std::collections::HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |field: &str, reason: String| InvalidRule {
                field: format!("rules[{i}].{field}"),
                reason: if rule.name.is_empty() {
                    reason
                } else {
                    format!("rule {:?}: {reason}", rule.name)
                },
            };
            if rule.name.trim().is_empty() || rule.name.len() > 200 {
                return Err(at("name", "must be 1 to 200 characters".into()));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(at("name", "another rule has the same name".into()));
            }
            let w = &rule.when;
            let lists: [(&str, Option<usize>); 8] = [
                ("domains", w.domains.as_ref().map(Vec::len)),
                ("groups_any", w.groups_any.as_ref().map(Vec::len)),
                ("groups_all", w.groups_all.as_ref().map(Vec::len)),
                ("users", w.users.as_ref().map(Vec::len)),
                ("groups_none", w.groups_none.as_ref().map(Vec::len)),
                ("roles_any", w.roles_any.as_ref().map(Vec::len)),
                ("products", w.products.as_ref().map(Vec::len)),
                ("sources", w.sources.as_ref().map(Vec::len)),
            ];
            for (field, len) in lists {
                if len == Some(0) {
                    return Err(at(
                        &format!("when.{field}"),
                        "an empty list never matches; omit the condition to match everything"
                            .into(),
                    ));
                }
            }
            for (j, d) in w.domains.iter().flatten().enumerate() {
                if !valid_domain_pattern(d) {
                    return Err(at(
                        &format!("when.domains[{j}]"),
                        format!("{d:?} is not a domain like example.com or *.example.com"),
                    ));
                }
            }
            if rule
                .message
                .as_ref()
                .is_some_and(|m| m.trim().is_empty() || m.len() > 1000)
            {
                return Err(at("message", "must be 1 to 1000 characters".into()));
            }
            for (field, names) in [
                ("groups_any", &w.groups_any),
                ("groups_all", &w.groups_all),
                ("groups_none", &w.groups_none),
                ("roles_any", &w.roles_any),
            ] {
                if let Some(j) = names.iter().flatten().position(|n| n.trim().is_empty()) {
                    return Err(at(
                        &format!("when.{field}[{j}]"),
                        "must not be empty".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `example.com`, or `*.example.com` for its subdomains: lower case, dotted labels.
pub fn valid_domain_pattern(d: &str) -> bool {
    let bare = d.strip_prefix("*.").unwrap_or(d);
    !bare.is_empty()
        && bare.contains('.')
        && bare == bare.to_ascii_lowercase()
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether a domain (lower case) is `pattern`, or under it for `*.example.com`.
pub fn domain_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => domain.ends_with(suffix),
        None => domain == pattern,
    }
}

/// The JSON Schema of a rule list, as committed in `schemas/`.
pub fn rules_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RuleList)).unwrap_or_default()
}

/// Names of rules added, removed and changed from `old` to `new`, for the audit log.
pub fn describe_change(old: &[Rule], new: &[Rule]) -> String {
    let find = |list: &[Rule], name: &str| list.iter().position(|r| r.name == name);
    let added: Vec<&str> = new
        .iter()
        .filter(|r| find(old, &r.name).is_none())
        .map(|r| r.name.as_str())
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .filter(|r| find(new, &r.name).is_none())
        .map(|r| r.name.as_str())
        .collect();
    let changed: Vec<&str> = new
        .iter()
        .filter(|r| find(old, &r.name).is_some_and(|i| old[i] != **r))
        .map(|r| r.name.as_str())
        .collect();
    let order_changed = {
        let kept_old: Vec<&str> = old
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| find(new, n).is_some())
            .collect();
        let kept_new: Vec<&str> = new
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| find(old, n).is_some())
            .collect();
        kept_old != kept_new
    };
    let mut parts = Vec::new();
    for (label, names) in [("added", added), ("removed", removed), ("changed", changed)] {
        if !names.is_empty() {
            parts.push(format!(
                "{label} {}",
                names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if order_changed {
        parts.push("reordered".into());
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests;
