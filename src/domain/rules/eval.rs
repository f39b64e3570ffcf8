//! Evaluation: a rule list compiled once (lower-cased sets, and an index from users, domains,
//! groups and roles to the rules that need them), then pure decisions and explanations over it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Conditions, Outcome, Rule};
use crate::domain::{Email, Product, Seats, Source};

/// What is known about the user and the request when deciding (names lower-cased).
#[derive(Debug, Clone)]
pub struct Facts {
    pub email: Email,
    /// Groups from the directory and the identity provider together.
    pub groups: HashSet<String>,
    pub roles: HashSet<String>,
    pub product: Product,
    pub source: Source,
    pub previously_reclaimed: bool,
}

impl Facts {
    pub fn new<G: AsRef<str>, R: AsRef<str>>(
        email: &Email,
        groups: impl IntoIterator<Item = G>,
        roles: impl IntoIterator<Item = R>,
        product: Product,
        source: Source,
        previously_reclaimed: bool,
    ) -> Facts {
        Facts {
            email: email.clone(),
            groups: groups
                .into_iter()
                .map(|g| g.as_ref().to_lowercase())
                .collect(),
            roles: roles
                .into_iter()
                .map(|r| r.as_ref().to_lowercase())
                .collect(),
            product,
            source,
            previously_reclaimed,
        }
    }
}

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub outcome: Outcome,
    /// The rule that decided, if any matched.
    pub rule: Option<String>,
    pub reason: String,
    /// The deciding rule's message for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A rule said restore, but the product had no seat left.
    #[serde(default)]
    pub seat_capped: bool,
}

/// One condition of one rule, as evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ConditionTrace {
    pub condition: &'static str,
    pub matched: bool,
    pub detail: String,
}

/// One rule, as evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RuleTrace {
    pub rule: String,
    pub enabled: bool,
    pub matched: bool,
    pub conditions: Vec<ConditionTrace>,
}

/// The answer to "why?": the decision and every rule up to the one that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Explanation {
    pub decision: Decision,
    pub rules: Vec<RuleTrace>,
}

struct Compiled {
    rule: Rule,
    domains: Option<(HashSet<String>, Vec<String>)>,
    groups_any: Option<HashSet<String>>,
    groups_all: Option<Vec<String>>,
    groups_none: Option<Vec<String>>,
    roles_any: Option<HashSet<String>>,
    users: Option<HashSet<String>>,
}

fn lower(list: &Option<Vec<String>>) -> Option<Vec<String>> {
    list.as_ref()
        .map(|l| l.iter().map(|s| s.to_lowercase()).collect())
}

impl Compiled {
    fn new(rule: &Rule) -> Compiled {
        let w = &rule.when;
        let domains = w.domains.as_ref().map(|ds| {
            let exact = ds
                .iter()
                .filter(|d| !d.starts_with("*."))
                .cloned()
                .collect();
            // "*.example.com" matches any domain ending in ".example.com".
            let suffixes = ds
                .iter()
                .filter_map(|d| d.strip_prefix('*'))
                .map(String::from)
                .collect();
            (exact, suffixes)
        });
        Compiled {
            rule: rule.clone(),
            domains,
            groups_any: lower(&w.groups_any).map(|v| v.into_iter().collect()),
            groups_all: lower(&w.groups_all),
            groups_none: lower(&w.groups_none),
            roles_any: lower(&w.roles_any).map(|v| v.into_iter().collect()),
            users: w
                .users
                .as_ref()
                .map(|us| us.iter().map(|u| u.as_str().to_string()).collect()),
        }
    }

    /// Each present condition with whether it holds, in a fixed order; evaluation stops at the
    /// first that fails unless `all` is set (explanations show every condition).
    fn evaluate(&self, f: &Facts, all: bool, mut seen: impl FnMut(&'static str, bool)) -> bool {
        let w = &self.rule.when;
        let domain = f.email.domain();
        let checks: [(&'static str, Option<bool>); 10] = [
            (
                "users",
                self.users.as_ref().map(|u| u.contains(f.email.as_str())),
            ),
            (
                "domains",
                self.domains.as_ref().map(|(exact, suffixes)| {
                    exact.contains(domain) || suffixes.iter().any(|s| domain.ends_with(s.as_str()))
                }),
            ),
            (
                "products",
                w.products.as_ref().map(|p| p.contains(&f.product)),
            ),
            ("sources", w.sources.as_ref().map(|s| s.contains(&f.source))),
            (
                "previously_reclaimed",
                w.previously_reclaimed
                    .map(|want| want == f.previously_reclaimed),
            ),
            (
                "groups_any",
                self.groups_any
                    .as_ref()
                    .map(|g| g.iter().any(|x| f.groups.contains(x))),
            ),
            (
                "groups_all",
                self.groups_all
                    .as_ref()
                    .map(|g| g.iter().all(|x| f.groups.contains(x))),
            ),
            (
                "groups_none",
                self.groups_none
                    .as_ref()
                    .map(|g| !g.iter().any(|x| f.groups.contains(x))),
            ),
            (
                "roles_any",
                self.roles_any
                    .as_ref()
                    .map(|r| r.iter().any(|x| f.roles.contains(x))),
            ),
            ("enabled", Some(self.rule.enabled)),
        ];
        let mut ok = true;
        for (name, result) in checks {
            if let Some(holds) = result {
                seen(name, holds);
                ok &= holds;
                if !ok && !all {
                    return false;
                }
            }
        }
        ok
    }
}

/// A rule list ready for evaluation.
pub struct RuleSet {
    compiled: Vec<Compiled>,
    /// Rules that must be tried for every decision (no indexable condition).
    always: Vec<u32>,
    by_user: HashMap<String, Vec<u32>>,
    by_domain: HashMap<String, Vec<u32>>,
    by_parent_domain: HashMap<String, Vec<u32>>,
    by_group: HashMap<String, Vec<u32>>,
    by_role: HashMap<String, Vec<u32>>,
}

impl RuleSet {
    pub fn compile(rules: &[Rule]) -> RuleSet {
        let mut set = RuleSet {
            compiled: rules.iter().map(Compiled::new).collect(),
            always: Vec::new(),
            by_user: HashMap::new(),
            by_domain: HashMap::new(),
            by_parent_domain: HashMap::new(),
            by_group: HashMap::new(),
            by_role: HashMap::new(),
        };
        for (i, c) in set.compiled.iter().enumerate() {
            let i = i as u32;
            if !c.rule.enabled {
                continue;
            }
            // Index each rule under one condition it cannot match without.
            let push = |map: &mut HashMap<String, Vec<u32>>,
                        keys: &mut dyn Iterator<Item = String>| {
                for k in keys {
                    map.entry(k).or_default().push(i);
                }
            };
            if let Some(users) = &c.users {
                push(&mut set.by_user, &mut users.iter().cloned());
            } else if let Some((exact, suffixes)) = &c.domains {
                push(&mut set.by_domain, &mut exact.iter().cloned());
                push(
                    &mut set.by_parent_domain,
                    &mut suffixes
                        .iter()
                        .map(|s| s.trim_start_matches('.').to_string()),
                );
            } else if let Some(groups) = &c.groups_any {
                push(&mut set.by_group, &mut groups.iter().cloned());
            } else if let Some(first) = c.groups_all.as_ref().and_then(|g| g.first()) {
                push(&mut set.by_group, &mut std::iter::once(first.clone()));
            } else if let Some(roles) = &c.roles_any {
                push(&mut set.by_role, &mut roles.iter().cloned());
            } else {
                set.always.push(i);
            }
        }
        set
    }

    /// The rules, as written.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.compiled.iter().map(|c| &c.rule)
    }

    fn candidates(&self, f: &Facts) -> Vec<u32> {
        let mut out = self.always.clone();
        let mut add = |hit: Option<&Vec<u32>>| {
            if let Some(v) = hit {
                out.extend_from_slice(v);
            }
        };
        add(self.by_user.get(f.email.as_str()));
        let domain = f.email.domain();
        add(self.by_domain.get(domain));
        // Every parent of the domain: "a.eu.example.com" → "eu.example.com", "example.com", "com".
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            add(self.by_parent_domain.get(parent));
            rest = parent;
        }
        for g in &f.groups {
            add(self.by_group.get(g));
        }
        for r in &f.roles {
            add(self.by_role.get(r));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Decides for one product. Pure: the same input always gives the same answer.
    pub fn decide(&self, facts: &Facts, seats: Option<Seats>) -> Decision {
        let hit = self
            .candidates(facts)
            .into_iter()
            .map(|i| &self.compiled[i as usize])
            .find(|c| c.evaluate(facts, false, |_, _| {}));
        finish(hit.map(|c| &c.rule), facts.product, seats)
    }

    /// The same decision by walking every rule in order, without the index: the reference the
    /// index is checked against (property tests) and the baseline of the benchmark.
    pub fn decide_unindexed(&self, facts: &Facts, seats: Option<Seats>) -> Decision {
        let hit = self
            .compiled
            .iter()
            .find(|c| c.evaluate(facts, false, |_, _| {}));
        finish(hit.map(|c| &c.rule), facts.product, seats)
    }

    /// Decides, and shows rule by rule which condition matched or failed.
    pub fn explain(&self, facts: &Facts, seats: Option<Seats>) -> Explanation {
        let mut traces = Vec::new();
        let mut hit = None;
        for c in &self.compiled {
            let mut conditions = Vec::new();
            let matched = c.evaluate(facts, true, |name, holds| {
                if name != "enabled" {
                    conditions.push(ConditionTrace {
                        condition: name,
                        matched: holds,
                        detail: describe(&c.rule.when, name, facts),
                    });
                }
            });
            traces.push(RuleTrace {
                rule: c.rule.name.clone(),
                enabled: c.rule.enabled,
                matched,
                conditions,
            });
            if matched {
                hit = Some(&c.rule);
                break;
            }
        }
        Explanation {
            decision: finish(hit, facts.product, seats),
            rules: traces,
        }
    }
}

fn finish(rule: Option<&Rule>, product: Product, seats: Option<Seats>) -> Decision {
    let Some(rule) = rule else {
        return Decision {
            outcome: Outcome::Approve,
            rule: None,
            reason: "no rule matched; an admin must approve".into(),
            message: None,
            seat_capped: false,
        };
    };
    let mut decision = Decision {
        outcome: rule.then,
        rule: Some(rule.name.clone()),
        reason: format!("rule {:?} matched", rule.name),
        message: rule.message.clone(),
        seat_capped: false,
    };
    // Restoring costs a seat: a full product waits for an admin instead of overrunning.
    if decision.outcome == Outcome::Restore
        && let Some(s) = seats.filter(Seats::full)
    {
        decision.outcome = Outcome::Approve;
        decision.seat_capped = true;
        decision.reason = format!(
            "rule {:?} would restore, but {} has no seats left ({} of {} used); an admin must approve",
            rule.name,
            product.key(),
            s.used.map_or("?".into(), |u| u.to_string()),
            s.total.map_or("?".into(), |t| t.to_string()),
        );
    }
    decision
}

fn list<T: std::fmt::Debug>(v: &Option<Vec<T>>) -> String {
    v.as_ref().map(|v| format!("{v:?}")).unwrap_or_default()
}

/// A sentence for one condition: what the rule wants and what the user has.
fn describe(w: &Conditions, name: &str, f: &Facts) -> String {
    let mut groups: Vec<&str> = f.groups.iter().map(String::as_str).collect();
    groups.sort_unstable();
    match name {
        "users" => format!(
            "user {} in {}",
            f.email,
            list(
                &w.users
                    .as_ref()
                    .map(|u| u.iter().map(Email::as_str).collect::<Vec<_>>())
            )
        ),
        "domains" => format!("domain {} in {}", f.email.domain(), list(&w.domains)),
        "products" => format!(
            "product {} in {}",
            f.product.key(),
            list(
                &w.products
                    .as_ref()
                    .map(|p| p.iter().map(|p| p.key()).collect::<Vec<_>>())
            )
        ),
        "sources" => format!(
            "source {} in {}",
            f.source.key(),
            list(
                &w.sources
                    .as_ref()
                    .map(|s| s.iter().map(|s| s.key()).collect::<Vec<_>>())
            )
        ),
        "previously_reclaimed" => format!(
            "previously reclaimed is {}, rule wants {}",
            f.previously_reclaimed,
            w.previously_reclaimed.unwrap_or_default()
        ),
        "groups_any" => format!(
            "any of {} among the user's groups {groups:?}",
            list(&w.groups_any)
        ),
        "groups_all" => format!(
            "all of {} among the user's groups {groups:?}",
            list(&w.groups_all)
        ),
        "groups_none" => format!(
            "none of {} among the user's groups {groups:?}",
            list(&w.groups_none)
        ),
        "roles_any" => {
            let mut roles: Vec<&str> = f.roles.iter().map(String::as_str).collect();
            roles.sort_unstable();
            format!(
                "any of {} among the user's roles {roles:?}",
                list(&w.roles_any)
            )
        }
        _ => String::new(),
    }
}
