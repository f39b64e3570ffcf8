//! Rules: the ordered list, each rule a set of fields; add, edit, disable, reorder, delete;
//! "Test a user" (explain, with the rules on screen) and "Preview changes" (simulate) before
//! saving; validation errors next to their field; the history of versions.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::layout::page as frame;
use super::table::scroll;
use super::{AdminForm, Console, Signed, failed, when};
use crate::domain::rules::{Conditions, Outcome, Rule, RuleList, RuleSet};
use crate::domain::{AuditOutcome, Email, Product, Source};
use crate::flows::queries;
use crate::http::api::{Role, Session};
use crate::store::AuditFilter;

const SOURCES: [Source; 12] = [
    Source::Login,
    Source::Okta,
    Source::Keycloak,
    Source::Atlassian,
    Source::Jsm,
    Source::Link,
    Source::Portal,
    Source::Slack,
    Source::Teams,
    Source::Mail,
    Source::Admin,
    Source::Reclaim,
];

/// A field's error: (rule index, field name), the message.
pub type FieldError = ((usize, String), String);

/// `GET /console/rules`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    match queries::rules(&console.flows) {
        Ok(doc) => render(&console, &session, &doc.rules, &[], None),
        Err(e) => failed(&console, &session, &e),
    }
}

fn render(
    console: &Console,
    session: &Session,
    rules: &[Rule],
    errors: &[FieldError],
    result: Option<Markup>,
) -> Response {
    let admin = session.role == Role::Admin;
    let history = queries::audit(
        &console.flows,
        &AuditFilter {
            outcome: Some(AuditOutcome::RulesChanged),
            ..AuditFilter::default()
        },
        20,
        None,
    )
    .unwrap_or_default();
    let body = html! {
        @if !errors.is_empty() { div.message.error role="alert" { (errors.len()) " fields need attention; nothing was saved." } }
        @if let Some(result) = result { div.card { (result) } }
        p.muted { "The first enabled rule whose conditions all match decides; no match waits for an admin. Lists are comma-separated." }
        form method="post" action="/console/rules" {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="count" value=(rules.len());
            @for (i, rule) in rules.iter().enumerate() { (editor(i, rule, errors, admin)) }
            @if admin {
                div.row-actions {
                    button type="submit" name="op" value="add" { "Add a rule" }
                }
                fieldset {
                    legend { "Before saving" }
                    div.row-actions {
                        label { "Test a user (email)" input type="email" name="test_email"; }
                        button type="submit" name="op" value="test" { "Test a user" }
                        button type="submit" name="op" value="preview" { "Preview changes" }
                    }
                }
                p { button.primary type="submit" name="op" value="save" { "Save rules" } }
            }
        }
        h2 { "History" }
        ol.timeline {
            @for e in &history { li { strong { (when(e.at)) } " · " (e.actor.as_deref().unwrap_or("")) div.muted { (e.reason) } } }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    frame(console, session, "/console/rules", status, "Rules", body)
}

fn error_for(errors: &[FieldError], i: usize, field: &str) -> Option<String> {
    errors
        .iter()
        .find(|((at, f), _)| *at == i && f == field)
        .map(|(_, m)| m.clone())
}

fn text_field(
    i: usize,
    name: &str,
    label: &str,
    value: &str,
    errors: &[FieldError],
    admin: bool,
) -> Markup {
    let id = format!("r{i}-{name}");
    let error = error_for(errors, i, name);
    html! {
        div {
            label for=(id) { (label) }
            input id=(id) type="text" name={ "r" (i) "." (name) } value=(value) readonly[!admin]
                aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[error.as_ref().map(|_| format!("{id}-error"))];
            @if let Some(e) = error { div.field-error id={ (id) "-error" } { (e) } }
        }
    }
}

fn joined(list: &Option<Vec<String>>) -> String {
    list.as_ref().map(|l| l.join(", ")).unwrap_or_default()
}

fn editor(i: usize, rule: &Rule, errors: &[FieldError], admin: bool) -> Markup {
    let w = &rule.when;
    let users = w
        .users
        .as_ref()
        .map(|u| {
            u.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let products = w.products.clone().unwrap_or_default();
    let sources = w.sources.clone().unwrap_or_default();
    html! {
        fieldset {
            legend { "Rule " (i + 1) ": " (rule.name) @if !rule.enabled { " (disabled)" } }
            div.grid2 {
                (text_field(i, "name", "Name", &rule.name, errors, admin))
                div {
                    label for={ "r" (i) "-then" } { "Then" }
                    select id={ "r" (i) "-then" } name={ "r" (i) ".then" } disabled[!admin] {
                        @for (v, l) in [("restore", "Restore"), ("approve", "Wait for an admin"), ("deny", "Deny")] {
                            option value=(v) selected[outcome_key(rule.then) == v] { (l) }
                        }
                    }
                }
                div { label { input type="checkbox" name={ "r" (i) ".enabled" } value="on" checked[rule.enabled] disabled[!admin]; " Enabled" } }
                (text_field(i, "domains", "Email domains", &joined(&w.domains), errors, admin))
                (text_field(i, "groups_any", "In any of these groups", &joined(&w.groups_any), errors, admin))
                (text_field(i, "groups_all", "In all of these groups", &joined(&w.groups_all), errors, admin))
                (text_field(i, "groups_none", "In none of these groups", &joined(&w.groups_none), errors, admin))
                (text_field(i, "roles_any", "With any of these roles", &joined(&w.roles_any), errors, admin))
                (text_field(i, "users", "These users (emails)", &users, errors, admin))
                div {
                    span.muted { "Products" }
                    @for p in Product::ALL {
                        label { input type="checkbox" name={ "r" (i) ".products" } value=(p.key()) checked[products.contains(&p)] disabled[!admin]; " " (p.name()) }
                    }
                    span.muted { " (the products reinstate gives back; the others the inventory lists, such as Assets, are not restored by rules)" }
                }
                div {
                    span.muted { "Sources" }
                    @for s in SOURCES {
                        label { input type="checkbox" name={ "r" (i) ".sources" } value=(s.key()) checked[sources.contains(&s)] disabled[!admin]; " " (super::words::capital(super::words::source(s))) }
                    }
                }
                div {
                    label for={ "r" (i) "-reclaimed" } { "Previously reclaimed" }
                    select id={ "r" (i) "-reclaimed" } name={ "r" (i) ".reclaimed" } disabled[!admin] {
                        option value="" selected[w.previously_reclaimed.is_none()] { "Either" }
                        option value="yes" selected[w.previously_reclaimed == Some(true)] { "Yes" }
                        option value="no" selected[w.previously_reclaimed == Some(false)] { "No" }
                    }
                }
                (text_field(i, "message", "Message to the user", rule.message.as_deref().unwrap_or(""), errors, admin))
            }
            @if admin {
                div.row-actions {
                    button type="submit" name="op" value={ "up." (i) } { "Move up" }
                    button type="submit" name="op" value={ "down." (i) } { "Move down" }
                    button type="submit" name="op" value={ "delete." (i) } { "Delete" }
                }
            }
        }
    }
}

fn outcome_key(o: Outcome) -> &'static str {
    match o {
        Outcome::Restore => "restore",
        Outcome::Approve => "approve",
        Outcome::Deny => "deny",
    }
}

fn list(text: &str) -> Option<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

/// The rules as the form holds them, and what could not be read, by field.
pub fn read(form: &AdminForm) -> (Vec<Rule>, Vec<FieldError>) {
    // Indexed once: a form of many fields and a large count is read in linear time.
    let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
    for (k, v) in &form.fields {
        by_name.entry(k.as_str()).or_default().push(v.trim());
    }
    let first = |name: &str| {
        by_name
            .get(name)
            .and_then(|v| v.first().copied())
            .unwrap_or("")
    };
    let every = |name: &str| -> Vec<&str> {
        by_name
            .get(name)
            .map(|v| v.iter().copied().filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    };
    let count: usize = first("count").parse().unwrap_or(0).min(10_000);
    let mut errors = Vec::new();
    let mut rules = Vec::with_capacity(count);
    for i in 0..count {
        let f = |name: &str| first(&format!("r{i}.{name}")).to_string();
        let mut users = Vec::new();
        for u in list(&f("users")).unwrap_or_default() {
            match Email::parse(&u) {
                Ok(e) => users.push(e),
                Err(e) => errors.push(((i, "users".to_string()), format!("{u:?}: {e}"))),
            }
        }
        let products: Vec<Product> = every(&format!("r{i}.products"))
            .into_iter()
            .filter_map(Product::from_key)
            .collect();
        let sources: Vec<Source> = every(&format!("r{i}.sources"))
            .into_iter()
            .filter_map(|s| SOURCES.into_iter().find(|k| k.key() == s))
            .collect();
        let then = match f("then").as_str() {
            "restore" => Outcome::Restore,
            "deny" => Outcome::Deny,
            _ => Outcome::Approve,
        };
        rules.push(Rule {
            name: f("name"),
            enabled: f("enabled") == "on",
            when: Conditions {
                domains: list(&f("domains")),
                groups_any: list(&f("groups_any")),
                groups_all: list(&f("groups_all")),
                groups_none: list(&f("groups_none")),
                roles_any: list(&f("roles_any")),
                users: (!users.is_empty()).then_some(users),
                products: (!products.is_empty()).then_some(products),
                sources: (!sources.is_empty()).then_some(sources),
                previously_reclaimed: match f("reclaimed").as_str() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                },
            },
            then,
            message: Some(f("message")).filter(|m| !m.is_empty()),
        });
    }
    (rules, errors)
}

/// A validation error, placed on its rule and field: `rules[1].when.domains[0]` is rule 1's
/// domains.
fn place(field: &str, reason: &str) -> FieldError {
    let rest = field.strip_prefix("rules[").unwrap_or("0]");
    let (i, path) = rest.split_once(']').unwrap_or(("0", ""));
    let name = path
        .trim_start_matches('.')
        .trim_start_matches("when.")
        .split(['.', '['])
        .next()
        .unwrap_or("name");
    (
        (i.parse().unwrap_or(0), name.to_string()),
        reason.to_string(),
    )
}

/// `POST /console/rules`: reorder, add, delete, test, preview or save.
pub async fn submit(State(console): State<Console>, form: AdminForm) -> Response {
    let session = form.session.clone();
    let (mut rules, mut errors) = read(&form);
    let op = form.get("op").to_string();
    let (verb, at) = op
        .split_once('.')
        .map_or((op.as_str(), None), |(v, i)| (v, i.parse::<usize>().ok()));
    match (verb, at) {
        ("add", _) => rules.push(Rule::new("", Conditions::default(), Outcome::Approve)),
        ("up", Some(i)) if i > 0 && i < rules.len() => rules.swap(i, i - 1),
        ("down", Some(i)) if i + 1 < rules.len() => rules.swap(i, i + 1),
        ("delete", Some(i)) if i < rules.len() => {
            rules.remove(i);
        }
        ("test" | "preview" | "save", _) => {
            if errors.is_empty()
                && let Err(e) = (RuleList {
                    rules: rules.clone(),
                })
                .validate()
            {
                errors.push(place(&e.field, &e.reason));
            }
            if !errors.is_empty() {
                return render(&console, &session, &rules, &errors, None);
            }
            return act(&console, &session, verb, rules, form.get("test_email")).await;
        }
        _ => {}
    }
    render(&console, &session, &rules, &errors, None)
}

async fn act(
    console: &Console,
    session: &Session,
    verb: &str,
    rules: Vec<Rule>,
    email: &str,
) -> Response {
    let ctx = &console.flows;
    match verb {
        "save" => match crate::flows::rules::replace(ctx, rules, &session.actor).await {
            Ok(_) => Redirect::to("/console/rules").into_response(),
            Err(e) => failed(console, session, &e),
        },
        "test" => {
            let req = serde_json::from_value(serde_json::json!({"user": {"email": email}}));
            let answer = match req {
                Ok(req) => {
                    crate::flows::rules::explain_with(
                        ctx,
                        req,
                        Some(std::sync::Arc::new(RuleSet::compile(&rules))),
                    )
                    .await
                }
                Err(e) => Err(crate::flows::FlowError::invalid(
                    "invalid_request",
                    e.to_string(),
                )),
            };
            let shown = match answer.map(|a| serde_json::to_value(a).unwrap_or_default()) {
                Ok(a) => html! {
                    h2 { "With these rules, " (email) }
                    @if let Some(r) = a["reason"].as_str() { p { (a["outcome"].as_str().unwrap_or("")) ": " (r) } }
                    @for p in a["products"].as_array().into_iter().flatten() {
                        p { strong { (p["product"].as_str().unwrap_or("")) } ": "
                            @if p["already_licensed"].as_bool() == Some(true) { "already licensed" } @else {
                                (p["decision"]["outcome"].as_str().unwrap_or("")) " — " (p["decision"]["reason"].as_str().unwrap_or("")) } }
                    }
                },
                Err(e) => html! { div.message.error role="alert" { (e.to_string()) } },
            };
            render(console, session, &rules, &[], Some(shown))
        }
        _ => {
            let result = crate::flows::simulate::simulate(ctx, RuleSet::compile(&rules)).await;
            let shown = match result {
                Ok(sim) => {
                    let changes = &sim.changes;
                    html! {
                                            h2 { "Preview: " (super::words::count(sim.users, "user")) ", " (super::words::count(sim.decisions, "decision")) " (a user and a product each), " (changes.len()) " would change" }
                                            p { "With these rules, of " (sim.decisions) ": " @for (i, (k, n)) in sim.proposed_counts.iter().enumerate() { @if i > 0 { ", " } span.badge { (super::words::plain(k)) " " (n) } } }
                                            p.muted { "With the live rules, of " (sim.decisions) ": " @for (i, (k, n)) in sim.live_counts.iter().enumerate() { @if i > 0 { ", " } (super::words::plain(k)) " " (n) } }
                    (scroll("Decisions that change", html! {
                                            table {
                                                thead { tr { th { "User" } th { "Product" } th { "Now" } th { "With these rules" } } }
                                                tbody { @for c in changes.iter().take(200) {
                                                    tr { td { (c.email) } td { (c.product.name()) } td { (super::words::plain(c.live_outcome)) } td { (super::words::plain(c.proposed_outcome)) " " (c.proposed_rule.as_deref().unwrap_or("")) } }
                                                } }
                                            }
                                            }))
                                        }
                }
                Err(e) => html! { div.message.error role="alert" { (e.to_string()) } },
            };
            render(console, session, &rules, &[], Some(shown))
        }
    }
}
