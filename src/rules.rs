//! Admin-defined rules and the pure decision over them: no I/O, so it can be tested
//! exhaustively and explained. An ordered list; the first matching rule wins; no match means
//! *approve* (nothing is restored automatically unless a rule says so).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{Email, Product, Source};

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
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, shown in the audit log as the rule that decided.
    pub name: String,
    #[serde(default)]
    pub when: Conditions,
    pub then: Outcome,
}

/// The body of `PUT /api/v1/rules` (documented as schemas/rules.schema.json).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate rules", extend("$id" = "https://reinstate.dev/schemas/rules.schema.json"))]
pub struct RuleList {
    /// Ordered; the first rule whose conditions all match decides.
    pub rules: Vec<Rule>,
}

/// A rule list that cannot be used; names the rule and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidRule {
    pub field: String,
    pub reason: String,
}

impl RuleList {
    /// Parses and validates a rule document.
    pub fn parse(body: &[u8]) -> Result<RuleList, InvalidRule> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let list: RuleList = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            InvalidRule {
                field: if path == "." || path == "?" {
                    "body".into()
                } else {
                    path
                },
                reason: e.inner().to_string(),
            }
        })?;
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
            let lists: [(&str, Option<usize>); 6] = [
                ("domains", w.domains.as_ref().map(Vec::len)),
                ("groups_any", w.groups_any.as_ref().map(Vec::len)),
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
            for (field, names) in [
                ("groups_any", &w.groups_any),
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

fn valid_domain_pattern(d: &str) -> bool {
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

/// What is known about the user and the request when deciding.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub email: &'a Email,
    /// Groups from the directory and the identity provider together.
    pub groups: &'a [String],
    pub roles: &'a [String],
    pub product: Product,
    pub source: Source,
}

/// A product's seats, as the directory reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub remaining: Option<u64>,
    pub unlimited: bool,
}

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The rule that decided, if any matched.
    pub rule: Option<String>,
    pub reason: String,
}

/// Decides for one product. Pure: the same input always gives the same answer.
pub fn decide(facts: &Facts<'_>, rules: &[Rule], seats: Option<Seats>) -> Decision {
    let Some(rule) = rules.iter().find(|r| matches(&r.when, facts)) else {
        return Decision {
            outcome: Outcome::Approve,
            rule: None,
            reason: "no rule matched; an admin must approve".into(),
        };
    };
    let mut decision = Decision {
        outcome: rule.then,
        rule: Some(rule.name.clone()),
        reason: format!("rule {:?} matched", rule.name),
    };
    // Restoring costs a seat: a full product waits for an admin instead of failing or overrunning.
    if decision.outcome == Outcome::Restore
        && let Some(s) = seats.filter(|s| !s.unlimited && s.remaining == Some(0))
    {
        decision.outcome = Outcome::Approve;
        decision.reason = format!(
            "rule {:?} would restore, but {} has no seats left ({} of {} used); an admin must approve",
            rule.name,
            facts.product.key(),
            s.used.map_or("?".into(), |u| u.to_string()),
            s.total.map_or("?".into(), |t| t.to_string()),
        );
    }
    decision
}

fn matches(c: &Conditions, f: &Facts<'_>) -> bool {
    let has_group = |g: &String| f.groups.iter().any(|x| x.eq_ignore_ascii_case(g));
    c.domains
        .as_ref()
        .is_none_or(|ds| ds.iter().any(|d| domain_matches(d, f.email.domain())))
        && c.groups_any
            .as_ref()
            .is_none_or(|gs| gs.iter().any(has_group))
        && c.groups_none
            .as_ref()
            .is_none_or(|gs| !gs.iter().any(has_group))
        && c.roles_any.as_ref().is_none_or(|rs| {
            rs.iter()
                .any(|r| f.roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
        })
        && c.products.as_ref().is_none_or(|ps| ps.contains(&f.product))
        && c.sources.as_ref().is_none_or(|ss| ss.contains(&f.source))
}

fn domain_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            domain.len() > parent.len() + 1
                && domain.ends_with(parent)
                && domain[..domain.len() - parent.len()].ends_with('.')
        }
        None => pattern == domain,
    }
}

/// The JSON Schema of a rule list, as committed in `schemas/`.
pub fn rules_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RuleList)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, when: Conditions, then: Outcome) -> Rule {
        Rule {
            name: name.into(),
            when,
            then,
        }
    }

    fn decide_for(
        email: &str,
        groups: &[&str],
        roles: &[&str],
        product: Product,
        rules: &[Rule],
    ) -> Decision {
        let email = Email::parse(email).expect("email");
        let groups: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        let roles: Vec<String> = roles.iter().map(|s| s.to_string()).collect();
        let facts = Facts {
            email: &email,
            groups: &groups,
            roles: &roles,
            product,
            source: Source::Login,
        };
        decide(&facts, rules, None)
    }

    #[test]
    fn no_rules_means_approve() {
        let d = decide_for("a@example.com", &[], &[], Product::JiraSoftware, &[]);
        assert_eq!(d.outcome, Outcome::Approve);
        assert_eq!(d.rule, None);
    }

    #[test]
    fn first_match_wins_and_names_the_rule() {
        let rules = vec![
            rule(
                "contractors denied",
                Conditions {
                    groups_any: Some(vec!["Contractors".into()]),
                    ..Default::default()
                },
                Outcome::Deny,
            ),
            rule(
                "staff restore",
                Conditions {
                    domains: Some(vec!["example.com".into()]),
                    ..Default::default()
                },
                Outcome::Restore,
            ),
        ];
        let d = decide_for(
            "a@example.com",
            &["contractors"],
            &[],
            Product::JiraSoftware,
            &rules,
        );
        assert_eq!(
            (d.outcome, d.rule.as_deref()),
            (Outcome::Deny, Some("contractors denied"))
        );
        let d = decide_for(
            "a@example.com",
            &["eng"],
            &[],
            Product::JiraSoftware,
            &rules,
        );
        assert_eq!(
            (d.outcome, d.rule.as_deref()),
            (Outcome::Restore, Some("staff restore"))
        );
        let d = decide_for("a@other.org", &["eng"], &[], Product::JiraSoftware, &rules);
        assert_eq!(d.outcome, Outcome::Approve);
    }

    #[test]
    fn every_condition_must_hold() {
        let when = Conditions {
            domains: Some(vec!["*.example.com".into()]),
            groups_none: Some(vec!["suspended".into()]),
            roles_any: Some(vec!["engineer".into()]),
            products: Some(vec![Product::JiraSoftware]),
            sources: Some(vec![Source::Login]),
            ..Default::default()
        };
        let rules = vec![rule("r", when, Outcome::Restore)];
        let ok = |e, g: &[&str], r: &[&str], p| {
            decide_for(e, g, r, p, &rules).outcome == Outcome::Restore
        };
        assert!(ok(
            "a@eu.example.com",
            &[],
            &["Engineer"],
            Product::JiraSoftware
        ));
        assert!(
            !ok("a@example.com", &[], &["engineer"], Product::JiraSoftware),
            "bare parent is not a subdomain"
        );
        assert!(!ok(
            "a@badexample.com",
            &[],
            &["engineer"],
            Product::JiraSoftware
        ));
        assert!(!ok(
            "a@eu.example.com",
            &["suspended"],
            &["engineer"],
            Product::JiraSoftware
        ));
        assert!(!ok(
            "a@eu.example.com",
            &[],
            &["sales"],
            Product::JiraSoftware
        ));
        assert!(!ok(
            "a@eu.example.com",
            &[],
            &["engineer"],
            Product::Confluence
        ));
    }

    #[test]
    fn a_full_product_turns_restore_into_approve() {
        let rules = vec![rule("all", Conditions::default(), Outcome::Restore)];
        let email = Email::parse("a@example.com").expect("email");
        let facts = Facts {
            email: &email,
            groups: &[],
            roles: &[],
            product: Product::JiraSoftware,
            source: Source::Login,
        };
        let full = Seats {
            total: Some(10),
            used: Some(10),
            remaining: Some(0),
            unlimited: false,
        };
        let d = decide(&facts, &rules, Some(full));
        assert_eq!(d.outcome, Outcome::Approve);
        assert!(d.reason.contains("no seats left"), "{}", d.reason);
        let unlimited = Seats {
            unlimited: true,
            ..full
        };
        assert_eq!(
            decide(&facts, &rules, Some(unlimited)).outcome,
            Outcome::Restore
        );
    }

    #[test]
    fn invalid_rule_lists_name_the_rule_and_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"rules":[{"name":"a","when":{"grups_any":["x"]},"then":"restore"}]}"#,
                "rules[0].when",
            ),
            (
                r#"{"rules":[{"name":"a","then":"maybe"}]}"#,
                "rules[0].then",
            ),
            (
                r#"{"rules":[{"name":"a","then":"deny"},{"name":"a","then":"deny"}]}"#,
                "rules[1].name",
            ),
            (
                r#"{"rules":[{"name":"a","when":{"domains":["not a domain"]},"then":"deny"}]}"#,
                "rules[0].when.domains[0]",
            ),
            (
                r#"{"rules":[{"name":"a","when":{"products":[]},"then":"deny"}]}"#,
                "rules[0].when.products",
            ),
            (r#"{"rules":[{"name":"","then":"deny"}]}"#, "rules[0].name"),
            (r#"[]"#, "body"),
        ];
        for (body, field) in cases {
            let err = RuleList::parse(body.as_bytes()).expect_err(body);
            assert!(err.field.starts_with(field), "{body}: {err}");
        }
        assert!(RuleList::parse(br#"{"rules":[{"name":"a","when":{"domains":["*.example.com"]},"then":"restore"}]}"#).is_ok());
    }
}
