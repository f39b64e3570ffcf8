//! A run's plan: for every account, what each enabled policy says — warn, take, escalate, or
//! leave alone and why (protected, waiting for its warning to run out, cannot be warned). Pure:
//! the caller gathers what reinstate knows of each account.

use time::{Duration, OffsetDateTime};

use super::{Policy, TakeAction, ThenAction};
use crate::domain::{Email, Product};

/// One product's use by one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub product: Product,
    pub licensed: bool,
    /// The later of the directory's last activity and the last login reinstate saw.
    pub last_active: Option<OffsetDateTime>,
    /// Something says how the account used the product (an activity or login seen, or a
    /// directory that reports activity, whose silence means never); else it is unknown.
    pub known: bool,
}

/// What reinstate knows of one account, as the planner reads it.
#[derive(Debug, Clone, Default)]
pub struct Person<'a> {
    pub account_id: &'a str,
    pub email: Option<&'a Email>,
    pub groups: &'a [String],
    /// An active person's account (apps, customers and inactive accounts are never planned).
    pub active: bool,
    pub added_at: Option<OffsetDateTime>,
    pub uses: &'a [Use],
    /// Protected whatever the policies say (an administrator, the service account): why.
    pub always_protected: Option<&'a str>,
    /// The last time reinstate gave this account a licence back.
    pub restored_at: Option<OffsetDateTime>,
    /// The last time the user asked to keep their access.
    pub keep_at: Option<OffsetDateTime>,
    /// Warnings sent: (policy, when, the reclaim not before).
    pub warnings: &'a [(&'a str, OffsetDateTime, OffsetDateTime)],
    /// What was taken and not given back, not yet escalated: (policy, product, when).
    pub taken: &'a [(&'a str, Option<Product>, OffsetDateTime)],
    /// Provisioned by an identity provider: Atlassian refuses to deactivate it.
    pub idp_managed: bool,
    /// Products held through a group an identity provider syncs (product, group): Atlassian
    /// refuses to change the group's members.
    pub synced_access: &'a [(Product, String)],
}

impl Use {
    /// A product's use as known.
    pub fn seen(product: Product, licensed: bool, last_active: Option<OffsetDateTime>) -> Use {
        Use {
            product,
            licensed,
            last_active,
            known: true,
        }
    }
}

/// What the run knows beyond the accounts.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub now: OffsetDateTime,
    pub policies: &'a [Policy],
    /// A user given a licence back within this many days is left alone.
    pub min_days_since_restore: u32,
    /// Whether warnings can be sent at all (email and links configured).
    pub can_warn: bool,
    /// Since when reinstate has seen the logins it receives (its first sync).
    pub watching_since: Option<OffsetDateTime>,
}

/// What a policy says about an account (or one of its products).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Email a warning with a keep link; the reclaim comes not before `due`.
    Warn {
        due: OffsetDateTime,
    },
    Take(TakeAction),
    Escalate(ThenAction),
    /// Left alone (the reason says why).
    Protected,
    /// Warned; the reclaim waits until `until`.
    Waiting {
        until: OffsetDateTime,
    },
    /// Would be reclaimed, but cannot be warned and the policy requires a warning.
    CannotWarn,
    /// Would be reclaimed, but Atlassian refuses the change (the identity provider owns it):
    /// left for the identity provider, and never warned.
    Refused,
}

impl Step {
    pub fn key(self) -> &'static str {
        match self {
            Step::Warn { .. } => "warn",
            Step::Take(a) => a.key(),
            Step::Escalate(a) => a.key(),
            Step::Protected => "protected",
            Step::Waiting { .. } => "waiting",
            Step::CannotWarn => "cannot-warn",
            Step::Refused => "refused",
        }
    }

    /// Whether the step changes something (and becomes an action on the bus).
    pub fn acts(self) -> bool {
        matches!(self, Step::Warn { .. } | Step::Take(_) | Step::Escalate(_))
    }

    /// Whether a step written as `key` (a run entry's) acts: every key but those of the steps
    /// that do nothing.
    pub fn key_acts(key: &str) -> bool {
        !matches!(key, "protected" | "waiting" | "cannot-warn" | "refused")
    }
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub account_id: String,
    pub email: Option<Email>,
    /// `None`: the whole account (suspend, deactivate, their escalations).
    pub product: Option<Product>,
    pub policy: String,
    pub step: Step,
    pub reason: String,
}

/// The plan for every account, in the order given.
pub fn plan<'a>(
    people: impl IntoIterator<Item = Person<'a>>,
    input: &PlanInput<'_>,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for person in people {
        plan_person(&person, input, &mut out);
    }
    out
}

/// One account's plan, added to `out` (a run plans account by account into one list).
pub fn plan_person(person: &Person<'_>, input: &PlanInput<'_>, out: &mut Vec<Planned>) {
    if !person.active {
        return;
    }
    for policy in input
        .policies
        .iter()
        .filter(|p| p.enabled && p.name != super::LEAVERS)
    {
        plan_one(person, policy, input, out);
    }
}

/// How long an account has been inactive in a product: since its last activity, or (never
/// active, when the policy counts that) since it was added; with no activity data at all,
/// since reinstate started watching when the policy says so, else not at all.
fn inactive_since(
    person: &Person<'_>,
    u: &Use,
    policy: &Policy,
    input: &PlanInput<'_>,
) -> Option<OffsetDateTime> {
    match u.last_active {
        Some(at) => Some(at),
        None if !u.known => match policy.unknown_activity {
            super::UnknownActivity::Reclaim => input.watching_since,
            super::UnknownActivity::Skip => None,
        },
        None if policy.include_never_active => {
            Some(person.added_at.unwrap_or(OffsetDateTime::UNIX_EPOCH))
        }
        None => None,
    }
}

fn plan_one(person: &Person<'_>, policy: &Policy, input: &PlanInput<'_>, out: &mut Vec<Planned>) {
    escalations(person, policy, input, out);
    let days = |d: u32| Duration::days(d as i64);
    let warn_from = input.now - days(policy.inactive_after_days - policy.warn_days_before);
    // The products of the policy this account holds and has left unused long enough to warn.
    let idle: Vec<(Product, OffsetDateTime)> = person
        .uses
        .iter()
        .filter(|u| u.licensed && policy.products.contains(&u.product))
        .filter_map(|u| inactive_since(person, u, policy, input).map(|at| (u.product, at)))
        .collect();
    if idle.is_empty() || idle.iter().any(|(_, at)| *at > warn_from) && !per_product(policy) {
        // Nothing, or (for the whole account) still active in one of the products.
        return;
    }
    let targets: Vec<(Option<Product>, OffsetDateTime)> = if per_product(policy) {
        idle.iter()
            .filter(|(_, at)| *at <= warn_from)
            .map(|(p, at)| (Some(*p), *at))
            .collect()
    } else {
        let latest = idle.iter().map(|(_, at)| *at).max();
        latest.map(|at| (None, at)).into_iter().collect()
    };
    for (product, last) in targets {
        let (step, reason) = decide(person, policy, input, product, last);
        out.push(Planned {
            account_id: person.account_id.to_string(),
            email: person.email.cloned(),
            product,
            policy: policy.name.clone(),
            step,
            reason,
        });
    }
}

fn per_product(policy: &Policy) -> bool {
    policy.action == TakeAction::RemoveProductAccess
}

/// The step for an account (or its `product`) inactive since `last`, and why.
fn decide(
    person: &Person<'_>,
    policy: &Policy,
    input: &PlanInput<'_>,
    product: Option<Product>,
    last: OffsetDateTime,
) -> (Step, String) {
    let now = input.now;
    let days = |d: u32| Duration::days(d as i64);
    let idle_days = (now - last).whole_days();
    if let Some(why) = person.always_protected {
        return (Step::Protected, format!("always protected: {why}"));
    }
    if let Some(why) = policy.protects(person.email, person.groups) {
        return (Step::Protected, why);
    }
    if let Some(at) = person.restored_at
        && now - at < days(input.min_days_since_restore)
    {
        let why = format!(
            "given a licence back on {}, within reclaim.min_days_since_restore ({} days)",
            date(at),
            input.min_days_since_restore
        );
        return (Step::Protected, why);
    }
    if let Some(at) = person.keep_at
        && now - at < days(policy.inactive_after_days)
    {
        let why = format!("asked to keep their access on {}", date(at));
        return (Step::Protected, why);
    }
    let inactive = Inactive(idle_days);
    if let Some(why) = refusal(person, policy.action.key(), product) {
        return (Step::Refused, format!("{inactive}, but {why}"));
    }
    let due_by_inactivity = last + days(policy.inactive_after_days);
    if policy.warn_days_before == 0 {
        return take_or_wait(policy, due_by_inactivity, now, inactive.to_string());
    }
    // A warning counts when it came after the last activity.
    let warning = person
        .warnings
        .iter()
        .find(|(p, at, _)| *p == policy.name && *at > last);
    match warning {
        Some((_, at, due)) => {
            let due = (*due).max(due_by_inactivity);
            let why = format!("{inactive}, warned on {}", date(*at));
            take_or_wait(policy, due, now, why)
        }
        None if input.can_warn && person.email.is_some() => {
            let due = due_by_inactivity.max(now + days(policy.warn_days_before));
            let why = format!("{inactive}: reclaimed on {} unless they keep it", date(due));
            (Step::Warn { due }, why)
        }
        None if policy.warning_optional => {
            let why = format!("{inactive}; cannot be warned, and the policy allows that");
            take_or_wait(policy, due_by_inactivity, now, why)
        }
        None => {
            let why = if person.email.is_none() {
                "no email address to warn"
            } else {
                "email is off, so no warning can be sent"
            };
            let why = format!("{inactive}; {why}, and the policy requires a warning");
            (Step::CannotWarn, why)
        }
    }
}

/// "inactive for N days", written straight into the reason that says it.
struct Inactive(i64);

impl std::fmt::Display for Inactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inactive for {} days", self.0)
    }
}

fn take_or_wait(
    policy: &Policy,
    due: OffsetDateTime,
    now: OffsetDateTime,
    why: String,
) -> (Step, String) {
    if due <= now {
        (Step::Take(policy.action), why)
    } else {
        (
            Step::Waiting { until: due },
            format!("{why}; not before {}", date(due)),
        )
    }
}

/// `then`: what was taken by this policy and not given back for `after_days` goes further.
fn escalations(
    person: &Person<'_>,
    policy: &Policy,
    input: &PlanInput<'_>,
    out: &mut Vec<Planned>,
) {
    let Some(then) = &policy.then else {
        return;
    };
    let after = Duration::days(then.after_days as i64);
    let mut seen = false;
    for (name, _product, at) in person.taken {
        if *name != policy.name || input.now - *at < after || seen {
            continue;
        }
        // One escalation per account: it acts on the whole account.
        seen = true;
        let refused = refusal(person, then.action.key(), None);
        let (step, reason) = match (person.always_protected, refused) {
            (Some(why), _) => (Step::Protected, format!("always protected: {why}")),
            (None, Some(why)) => (Step::Refused, format!("not escalated: {why}")),
            (None, None) => (
                Step::Escalate(then.action),
                format!(
                    "reclaimed on {} and not back after {} days",
                    date(*at),
                    then.after_days
                ),
            ),
        };
        out.push(Planned {
            account_id: person.account_id.to_string(),
            email: person.email.cloned(),
            product: None,
            policy: policy.name.clone(),
            step,
            reason,
        });
    }
}

/// Why Atlassian would refuse `action` (a take's or an escalation's key) on the account, or on
/// its `product`: the identity provider owns what it would change.
fn refusal(person: &Person<'_>, action: &str, product: Option<Product>) -> Option<String> {
    match action {
        "deactivate" if person.idp_managed => Some(
            "the account is managed by an identity provider, and Atlassian refuses to \
             deactivate it here: deactivate it in the identity provider"
                .into(),
        ),
        "remove-product-access" => {
            let product = product?;
            let (_, group) = person.synced_access.iter().find(|(p, _)| *p == product)?;
            Some(format!(
                "{} comes through {group}, a group the identity provider syncs, and Atlassian \
                 refuses changes to its members: remove the user there",
                product.key()
            ))
        }
        _ => None,
    }
}

fn date(t: OffsetDateTime) -> String {
    t.date().to_string()
}
