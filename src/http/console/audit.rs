//! The audit log: filters, pages, and the same as CSV.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::fields::Invalid;
use super::layout::page as frame;
use super::table::{badge, table};
use super::{Console, Signed, failed, when, words};
use crate::domain::{AuditOutcome, Email, Source};
use crate::flows::queries;
use crate::store::AuditFilter;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// The values an enum takes on the wire, from its JSON Schema (one list, kept by the type).
fn choices<T: schemars::JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T).to_value();
    let listed = schema["enum"].as_array().cloned().unwrap_or_default();
    let one_of = schema["oneOf"].as_array().cloned().unwrap_or_default();
    let consts = one_of.iter().flat_map(|v| {
        let listed = v["enum"].as_array().cloned().unwrap_or_default();
        v.get("const").cloned().into_iter().chain(listed)
    });
    listed
        .into_iter()
        .chain(consts)
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// A day typed in a date field, as the start of that day (UTC).
fn day(field: &str, value: &str) -> Result<Option<OffsetDateTime>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    time::Date::parse(value, &time::format_description::well_known::Iso8601::DATE)
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| format!("{field}: {value:?} is not a date (YYYY-MM-DD)"))
}

/// A field's value parsed, or its error added to `bad` (an empty field is no filter).
fn field<T>(
    bad: &mut Invalid,
    name: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<Option<T>, String>,
) -> Option<T> {
    parse(value.trim()).unwrap_or_else(|why| {
        bad.add(name, why);
        None
    })
}

impl AuditQuery {
    /// The filter, or what is wrong with it, by field (nothing is shown then).
    fn filter(&self) -> Result<AuditFilter, Invalid> {
        let mut bad = Invalid::default();
        let user = field(&mut bad, "user", &self.user, |u| match u {
            "" => Ok(None),
            u => Email::parse(u).map(Some).map_err(|_| {
                format!(
                    "User: {u:?} is not a whole email address; type all of it (name@example.com)"
                )
            }),
        });
        let outcome = field(&mut bad, "outcome", &self.outcome, |v| match v {
            "" => Ok(None),
            v => parse::<AuditOutcome>(v)
                .map(Some)
                .ok_or_else(|| format!("Outcome: {v:?} is not an outcome")),
        });
        let source = field(&mut bad, "source", &self.source, |v| match v {
            "" => Ok(None),
            v => parse::<Source>(v)
                .map(Some)
                .ok_or_else(|| format!("Source: {v:?} is not a source")),
        });
        let from = field(&mut bad, "from", &self.from, |v| day("From", v));
        let to = field(&mut bad, "to", &self.to, |v| day("To", v));
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            bad.add("to", "To: the last day is before From");
        }
        if !bad.is_empty() {
            return Err(bad);
        }
        Ok(AuditFilter {
            user,
            from,
            to: to.map(|d| d + time::Duration::days(1)),
            outcome,
            source,
        })
    }

    /// The fields as typed, for this page's own links.
    fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("user", self.user.trim()),
            ("outcome", self.outcome.trim()),
            ("source", self.source.trim()),
            ("from", self.from.trim()),
            ("to", self.to.trim()),
        ]
    }

    /// The same filter for the API's CSV: RFC 3339 times, "to" exclusive (the page's is the
    /// last day included).
    fn csv_query(&self, filter: &AuditFilter) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.fields().iter().take(3).filter(|(_, v)| !v.is_empty()) {
            s.append_pair(k, v);
        }
        for (k, t) in [("from", filter.from), ("to", filter.to)] {
            if let Some(t) = t {
                s.append_pair(k, &rfc3339(t));
            }
        }
        s.finish()
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `GET /console/audit`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(bad) => {
            let body = html! { (bad.summary()) (filters(&q, &bad)) };
            return frame(
                &console,
                &session,
                "/console/audit",
                StatusCode::BAD_REQUEST,
                "Audit",
                body,
            );
        }
    };
    let before = Some(q.before.as_str()).filter(|b| !b.is_empty());
    let entries = match queries::audit(&console.flows, &filter, 50, before) {
        Ok(e) => e,
        Err(e) => return failed(&console, &session, &e),
    };
    let csv = q.csv_query(&filter);
    let next = entries.last().filter(|_| entries.len() == 50).map(|e| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in q.fields().iter().filter(|(_, v)| !v.is_empty()) {
            s.append_pair(k, v);
        }
        s.append_pair("before", &e.id);
        format!("/console/audit?{}", s.finish())
    });
    let body = html! {
        (filters(&q, &Invalid::default()))
        (table("Audit entries", &["When", "Outcome", "User", "Product", "Source", "Why"], Some("No entry matches."), entries.iter().map(|e| html! {
            tr {
                td { (when(e.at)) }
                td { (badge(e.outcome.key())) }
                td { (e.user.as_ref().map(|u| u.to_string()).or(e.identity.clone()).unwrap_or_default()) }
                td { (e.product.map_or("", words::product)) }
                td { (e.source.map_or("", words::source)) }
                td { (console.look.spelling.say(&e.reason)) }
            }
        })))
        div.pager {
            @if let Some(next) = next { a.button href=(next) { "Older entries" } }
            a.button href={ "/api/v1/audit.csv" @if !csv.is_empty() { "?" (csv) } } { "Download CSV" }
        }
    };
    frame(
        &console,
        &session,
        "/console/audit",
        StatusCode::OK,
        "Audit",
        body,
    )
}

fn filters(q: &AuditQuery, bad: &Invalid) -> Markup {
    let any = || ("".to_string(), "Any".to_string());
    let outcomes: Vec<(String, String)> = std::iter::once(any())
        .chain(choices::<AuditOutcome>().into_iter().map(|o| {
            let shown = words::capital(&words::plain(&o));
            (o, shown)
        }))
        .collect();
    let sources: Vec<(String, String)> = std::iter::once(any())
        .chain(choices::<Source>().into_iter().map(|o| {
            let shown = parse::<Source>(&o).map_or(o.clone(), |s| words::capital(words::source(s)));
            (o, shown)
        }))
        .collect();
    html! {
        form.filters.card method="get" action="/console/audit" novalidate {
            (bad.input("user", "User (email)", "text", &q.user))
            (bad.select("outcome", "Outcome", &outcomes, q.outcome.trim()))
            (bad.select("source", "Source", &sources, q.source.trim()))
            (bad.input("from", "From", "date", &q.from))
            (bad.input("to", "To", "date", &q.to))
            button.primary type="submit" { "Filter" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choices_are_every_value_the_api_takes() {
        let outcomes = choices::<AuditOutcome>();
        for o in ["restored", "reclaimed", "failed", "rules_changed"] {
            assert!(outcomes.iter().any(|c| c == o), "{o} in {outcomes:?}");
        }
        for c in &outcomes {
            assert!(parse::<AuditOutcome>(c).is_some(), "{c}");
        }
        let sources = choices::<Source>();
        assert!(
            sources.iter().any(|s| s == "okta")
                && sources.iter().all(|s| parse::<Source>(s).is_some())
        );
    }

    #[test]
    fn a_bad_field_is_named_and_days_become_a_half_open_range() {
        let q = |user: &str, outcome: &str, to: &str| AuditQuery {
            user: user.into(),
            outcome: outcome.into(),
            to: to.into(),
            ..AuditQuery::default()
        };
        assert!(
            q("not-an-email", "", "")
                .filter()
                .expect_err("refused")
                .of("user")
                .is_some_and(|m| m.starts_with("User:"))
        );
        assert!(
            q("", "restroed", "")
                .filter()
                .expect_err("refused")
                .of("outcome")
                .is_some_and(|m| m.starts_with("Outcome:"))
        );
        assert!(
            q("", "", "30/11/2026")
                .filter()
                .expect_err("refused")
                .of("to")
                .is_some_and(|m| m.starts_with("To:"))
        );
        let ok = q("a@example.com", "restored", "2026-11-30");
        let filter = ok.filter().expect("valid");
        assert_eq!(
            filter.to.map(rfc3339).as_deref(),
            Some("2026-12-01T00:00:00Z")
        );
        assert!(
            ok.csv_query(&filter)
                .contains("to=2026-12-01T00%3A00%3A00Z")
        );
    }
}
