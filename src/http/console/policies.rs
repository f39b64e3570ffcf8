//! Reclamation's policies as a form: one block of fields per policy (products, days, action,
//! warning, what follows, who is protected), a blank one to add, a tick to delete; read back
//! into the same `PolicyList` the API takes and checked by the same validation, each problem
//! named under its field. The JSON document stays as the advanced view.

use maud::{Markup, html};

use super::AdminForm;
use crate::domain::Product;
use crate::domain::reclaim::{
    InvalidPolicy, Policy, PolicyList, Protect, TakeAction, Then, ThenAction, UnknownActivity,
};

/// What is wrong with the form, by field key (`p0.inactive_after_days`).
#[derive(Debug, Default)]
pub struct Problems(Vec<(String, String)>);

impl Problems {
    fn add(&mut self, key: String, why: String) {
        self.0.push((key, why));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn of(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, w)| w.as_str())
    }

    /// The summary above the form.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.message.error role="alert" {
                    "Nothing was saved: "
                    @for (i, (_, why)) in self.0.iter().enumerate() { @if i > 0 { "; " } (why) }
                    "."
                }
            }
        }
    }
}

/// One policy block as typed (strings, so that a wrong value is shown back as typed).
#[derive(Debug, Clone, Default)]
pub struct Draft {
    name: String,
    enabled: bool,
    products: Vec<String>,
    inactive_after_days: String,
    include_never_active: bool,
    unknown_activity: String,
    action: String,
    warn_days_before: String,
    warning_optional: bool,
    protect_groups: String,
    protect_users: String,
    protect_domains: String,
    then_action: String,
    then_after_days: String,
    delete: bool,
}

/// A value's key as its JSON writes it (`remove-product-access`).
fn key_of<T: serde::Serialize>(value: &T) -> String {
    super::table::slug(value)
}

/// A key read as its value, as the JSON would read it.
fn from_key<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(key.to_string())).ok()
}

fn lines(items: &[String]) -> String {
    items.join("\n")
}

/// Items one per line or separated by commas, blanks dropped.
fn items(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Draft {
    pub fn of(p: &Policy) -> Draft {
        Draft {
            name: p.name.clone(),
            enabled: p.enabled,
            products: p.products.iter().map(|p| p.key().to_string()).collect(),
            inactive_after_days: p.inactive_after_days.to_string(),
            include_never_active: p.include_never_active,
            unknown_activity: key_of(&p.unknown_activity),
            action: key_of(&p.action),
            warn_days_before: p.warn_days_before.to_string(),
            warning_optional: p.warning_optional,
            protect_groups: lines(&p.protect.groups),
            protect_users: p
                .protect
                .users
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            protect_domains: lines(&p.protect.domains),
            then_action: p
                .then
                .as_ref()
                .map(|t| key_of(&t.action))
                .unwrap_or_default(),
            then_after_days: p
                .then
                .as_ref()
                .map(|t| t.after_days.to_string())
                .unwrap_or_default(),
            delete: false,
        }
    }

    /// A new policy's block: enabled, 90 days, a warning a week ahead.
    pub fn blank() -> Draft {
        Draft {
            enabled: true,
            inactive_after_days: "90".into(),
            warn_days_before: "7".into(),
            action: key_of(&TakeAction::RemoveProductAccess),
            unknown_activity: key_of(&UnknownActivity::Skip),
            ..Draft::default()
        }
    }

    fn read(form: &AdminForm, i: usize) -> Draft {
        let f = |name: &str| form.get(&format!("p{i}.{name}")).to_string();
        let ticked = |name: &str| form.get(&format!("p{i}.{name}")) == "yes";
        Draft {
            name: f("name"),
            enabled: ticked("enabled"),
            products: form.all(&format!("p{i}.products")),
            inactive_after_days: f("inactive_after_days"),
            include_never_active: ticked("include_never_active"),
            unknown_activity: f("unknown_activity"),
            action: f("action"),
            warn_days_before: f("warn_days_before"),
            warning_optional: ticked("warning_optional"),
            protect_groups: f("protect_groups"),
            protect_users: f("protect_users"),
            protect_domains: f("protect_domains"),
            then_action: f("then_action"),
            then_after_days: f("then_after_days"),
            delete: ticked("delete"),
        }
    }

    /// The policy it says, or what is wrong with a field (key, why).
    fn policy(&self, i: usize) -> Result<Policy, (String, String)> {
        let named = |field: &str, why: String| (format!("p{i}.{field}"), why);
        let label = if self.name.trim().is_empty() {
            format!("policy {}", i + 1)
        } else {
            format!("policy {:?}", self.name.trim())
        };
        let days = |field: &str, text: &str, what: &str| {
            text.trim().parse::<u32>().map_err(|_| {
                named(
                    field,
                    format!("{label}: {what} {:?} is not a number of days", text.trim()),
                )
            })
        };
        let mut products = Vec::new();
        for key in &self.products {
            let p = Product::from_key(key)
                .ok_or_else(|| named("products", format!("{label}: {key:?} is not a product")))?;
            products.push(p);
        }
        let action: TakeAction = from_key(&self.action).ok_or_else(|| {
            named(
                "action",
                format!("{label}: {:?} is not an action", self.action),
            )
        })?;
        let unknown_activity: UnknownActivity =
            from_key(&self.unknown_activity).ok_or_else(|| {
                named(
                    "unknown_activity",
                    format!("{label}: {:?} is not a choice", self.unknown_activity),
                )
            })?;
        let mut users = Vec::new();
        for u in items(&self.protect_users) {
            let email = crate::domain::Email::parse(&u).map_err(|_| {
                named(
                    "protect_users",
                    format!("{label}: protected user {u:?} is not an email address"),
                )
            })?;
            users.push(email);
        }
        let then = match self.then_action.as_str() {
            "" => None,
            key => {
                let action: ThenAction = from_key(key).ok_or_else(|| {
                    named("then_action", format!("{label}: {key:?} is not an action"))
                })?;
                let after_days = days(
                    "then_after_days",
                    &self.then_after_days,
                    "what follows, after",
                )?;
                Some(Then { after_days, action })
            }
        };
        Ok(Policy {
            name: self.name.trim().to_string(),
            enabled: self.enabled,
            products,
            inactive_after_days: days(
                "inactive_after_days",
                &self.inactive_after_days,
                "inactive after",
            )?,
            include_never_active: self.include_never_active,
            unknown_activity,
            action,
            warn_days_before: days("warn_days_before", &self.warn_days_before, "warn")?,
            warning_optional: self.warning_optional,
            protect: Protect {
                groups: items(&self.protect_groups),
                users,
                domains: items(&self.protect_domains),
            },
            then,
        })
    }
}

/// The form's blocks as typed (`count` of them).
pub fn drafts(form: &AdminForm) -> Vec<Draft> {
    let count: usize = form.get("count").parse().unwrap_or(0).min(200);
    (0..count).map(|i| Draft::read(form, i)).collect()
}

/// The policies the blocks say (a block ticked for deletion, or left blank, is none), checked
/// as the API checks them; or every problem, each named at its field.
pub fn policies(drafts: &[Draft]) -> Result<PolicyList, Problems> {
    let mut problems = Problems::default();
    let mut kept: Vec<(usize, Policy)> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let untouched_blank = d.name.trim().is_empty() && d.products.is_empty();
        if d.delete || untouched_blank {
            continue;
        }
        match d.policy(i) {
            Ok(p) => kept.push((i, p)),
            Err((key, why)) => problems.add(key, why),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let places: Vec<usize> = kept.iter().map(|(i, _)| *i).collect();
    let list = PolicyList {
        policies: kept.into_iter().map(|(_, p)| p).collect(),
    };
    match list.validate() {
        Ok(()) => Ok(list),
        Err(e) => {
            problems.add(field_key(&e, &places), e.reason.clone());
            Err(problems)
        }
    }
}

/// The form's key of the field a validation error names (`policies[1].protect.domains[0]`
/// → `p3.protect_domains` when the second policy kept is the form's fourth block).
fn field_key(e: &InvalidPolicy, places: &[usize]) -> String {
    let rest = e.field.strip_prefix("policies[").unwrap_or(&e.field);
    let Some((n, field)) = rest.split_once("].") else {
        return e.field.clone();
    };
    let block = n
        .parse::<usize>()
        .ok()
        .and_then(|n| places.get(n).copied())
        .unwrap_or(0);
    let field = field.split('[').next().unwrap_or(field);
    let field = match field {
        "protect.groups" => "protect_groups",
        "protect.users" => "protect_users",
        "protect.domains" => "protect_domains",
        "then.after_days" => "then_after_days",
        "then.action" => "then_action",
        f => f,
    };
    format!("p{block}.{field}")
}

/// The form: every block, *Add a policy*, *Save policies*.
pub fn form(drafts: &[Draft], problems: &Problems, csrf: &str, admin: bool) -> Markup {
    html! {
        form.policies method="post" action="/console/reclaim" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="count" value=(drafts.len());
            @for (i, d) in drafts.iter().enumerate() { (block(i, d, problems, admin)) }
            @if admin {
                p.row-actions {
                    button.primary type="submit" name="op" value="save_form" { "Save policies" }
                    button type="submit" name="op" value="add_policy" { "Add a policy" }
                }
            }
        }
    }
}

/// An input's `id`: the key with its dot made a dash.
fn id(key: &str) -> String {
    key.replace('.', "-")
}

fn under(problems: &Problems, key: &str) -> Markup {
    html! { @if let Some(why) = problems.of(key) { span.field-error id={ (id(key)) "-error" } { (why) } } }
}

fn text(key: &str, label: &str, value: &str, problems: &Problems, admin: bool) -> Markup {
    let bad = problems.of(key).is_some();
    html! {
        div.field {
            label for=(id(key)) { (label) }
            input id=(id(key)) type="text" name=(key) value=(value) readonly[!admin]
                aria-invalid=[bad.then_some("true")] aria-describedby=[bad.then(|| format!("{}-error", id(key)))];
            (under(problems, key))
        }
    }
}

fn area(key: &str, label: &str, value: &str, problems: &Problems, admin: bool) -> Markup {
    let bad = problems.of(key).is_some();
    html! {
        div.field {
            label for=(id(key)) { (label) }
            textarea.short id=(id(key)) name=(key) readonly[!admin]
                aria-invalid=[bad.then_some("true")] aria-describedby=[bad.then(|| format!("{}-error", id(key)))] { (value) }
            (under(problems, key))
        }
    }
}

fn choice(
    key: &str,
    label: &str,
    options: &[(String, &str)],
    chosen: &str,
    problems: &Problems,
) -> Markup {
    let bad = problems.of(key).is_some();
    html! {
        div.field {
            label for=(id(key)) { (label) }
            select id=(id(key)) name=(key)
                aria-invalid=[bad.then_some("true")] aria-describedby=[bad.then(|| format!("{}-error", id(key)))] {
                @for (value, shown) in options { option value=(value) selected[value == chosen] { (shown) } }
            }
            (under(problems, key))
        }
    }
}

fn tick(key: &str, label: &str, on: bool) -> Markup {
    html! { div.field.check { label { input type="checkbox" name=(key) value="yes" checked[on]; " " (label) } } }
}

fn block(i: usize, d: &Draft, problems: &Problems, admin: bool) -> Markup {
    let k = |f: &str| format!("p{i}.{f}");
    let title = if d.name.is_empty() {
        "New policy".to_string()
    } else {
        d.name.clone()
    };
    let actions = [
        (
            key_of(&TakeAction::RemoveProductAccess),
            "Remove product access (the groups that give it)",
        ),
        (
            key_of(&TakeAction::Suspend),
            "Suspend the account (every product)",
        ),
        (key_of(&TakeAction::Deactivate), "Deactivate the account"),
    ];
    let then = [
        (String::new(), "Nothing"),
        (key_of(&ThenAction::Suspend), "Suspend the account"),
        (key_of(&ThenAction::Deactivate), "Deactivate the account"),
        (key_of(&ThenAction::RemoveAllAccess), "Remove all access"),
        (
            key_of(&ThenAction::Delete),
            "Delete the account (Cloud, 14 days' grace)",
        ),
    ];
    let unknown = [
        (key_of(&UnknownActivity::Skip), "Leave them alone"),
        (
            key_of(&UnknownActivity::Reclaim),
            "Count them inactive since reinstate started watching",
        ),
    ];
    let products_key = k("products");
    html! {
        fieldset.policy {
            legend { (title) }
            div.grid2 {
                (text(&k("name"), "Name", &d.name, problems, admin))
                div.field {
                    span.label #{ (id(&products_key)) "-label" } { "Products" }
                    div.checks role="group" aria-labelledby={ (id(&products_key)) "-label" } {
                        @for p in Product::ALL {
                            label { input type="checkbox" name=(products_key) value=(p.key()) checked[d.products.iter().any(|k| k == p.key())]; " " (p.name()) }
                        }
                    }
                    (under(problems, &products_key))
                }
                (text(&k("inactive_after_days"), "Inactive after (days)", &d.inactive_after_days, problems, admin))
                (choice(&k("action"), "Then take", &actions, &d.action, problems))
                (text(&k("warn_days_before"), "Warn this many days before (0: no warning)", &d.warn_days_before, problems, admin))
                (choice(&k("unknown_activity"), "Accounts with no activity data", &unknown, &d.unknown_activity, problems))
                (choice(&k("then_action"), "Second stage: if they have not come back", &then, &d.then_action, problems))
                (text(&k("then_after_days"), "…this many days after", &d.then_after_days, problems, admin))
                (area(&k("protect_groups"), "Protected groups (one a line)", &d.protect_groups, problems, admin))
                (area(&k("protect_users"), "Protected users (emails, one a line)", &d.protect_users, problems, admin))
                (area(&k("protect_domains"), "Protected domains (example.com, *.example.com)", &d.protect_domains, problems, admin))
            }
            div.row-actions {
                (tick(&k("enabled"), "Enabled", d.enabled))
                (tick(&k("include_never_active"), "Also users never active, once their account is that old", d.include_never_active))
                (tick(&k("warning_optional"), "Reclaim users who cannot be warned", d.warning_optional))
                @if admin && !d.name.is_empty() { (tick(&k("delete"), "Delete this policy", d.delete)) }
            }
        }
    }
}
