//! The audit log for admins and auditors: filtered JSON pages, and the same as streamed CSV.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schemars::generate::SchemaGenerator;
use serde::Deserialize;
use time::OffsetDateTime;

use super::csv::{safe_cell, writer};
use super::{Api, Viewer};
use crate::domain::{AuditOutcome, Email, Source};
use crate::flows::queries;
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::{AuditEntry, AuditFilter};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user: Option<String>,
    /// RFC 3339, inclusive.
    from: Option<String>,
    /// RFC 3339, exclusive.
    to: Option<String>,
    outcome: Option<AuditOutcome>,
    source: Option<Source>,
    limit: Option<usize>,
    before: Option<String>,
}

type QueryResult = Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>;

fn parse_time(field: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field}: {v:?} is not an RFC 3339 date-time"),
                )
            })
        })
        .transpose()
}

fn filter_of(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let user = q
        .user
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("user: {e}")))?;
    if let Some(b) = &q.before
        && (b.len() != 32 || hex::decode(b).is_err())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "before: not a cursor from a previous page",
        ));
    }
    Ok(AuditFilter {
        user,
        from: parse_time("from", &q.from)?,
        to: parse_time("to", &q.to)?,
        outcome: q.outcome,
        source: q.source,
    })
}

/// `GET /api/v1/audit?user=&from=&to=&outcome=&source=&limit=&before=`: newest first.
pub async fn list(
    _: Viewer,
    State(api): State<Api>,
    query: QueryResult,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let filter = filter_of(&q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit: must be 1 to 1000",
        ));
    }
    let entries = queries::audit(&api.flows, &filter, limit, q.before.as_deref())?;
    let next = if entries.len() == limit {
        entries.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Json(AuditPage { entries, next }))
}

/// A page of `GET /api/v1/audit`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// The `before` of the next page; `null` on the last.
    pub next: Option<String>,
}

const COLUMNS: [&str; 18] = [
    "id",
    "at",
    "outcome",
    "source",
    "event_id",
    "user",
    "identity",
    "account_id",
    "product",
    "rule",
    "reason",
    "message",
    "directory_calls",
    "seats_before_used",
    "seats_before_total",
    "seats_after_used",
    "latency_ms",
    "actor",
];

fn row(e: &AuditEntry) -> [String; 18] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let calls = e
        .directory_calls
        .iter()
        .map(|c| {
            format!(
                "{} {} {} x{}",
                c.method,
                c.path,
                c.status.map_or("-".into(), |s| s.to_string()),
                c.attempts
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    [
        e.id.clone(),
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        e.outcome.key().to_string(),
        opt(e.source.map(|s| s.key().to_string())),
        opt(e.event_id.clone()),
        opt(e.user.as_ref().map(|u| u.to_string())),
        opt(e.identity.clone()),
        opt(e.account_id.clone()),
        opt(e.product.map(|p| p.key().to_string())),
        opt(e.rule.clone()),
        e.reason.clone(),
        opt(e.message.clone()),
        calls,
        num(e.seats_before.and_then(|s| s.used)),
        num(e.seats_before.and_then(|s| s.total)),
        num(e.seats_after.and_then(|s| s.used)),
        e.latency_ms.map(|l| l.to_string()).unwrap_or_default(),
        opt(e.actor.clone()),
    ]
}

fn encode(rows: &[[String; 18]], header: bool) -> Result<bytes::Bytes, std::io::Error> {
    let mut w = writer();
    if header {
        w.write_record(COLUMNS)?;
    }
    for r in rows {
        w.write_record(r.iter().map(|c| safe_cell(c)))?;
    }
    w.into_inner()
        .map(bytes::Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// `GET /api/v1/audit.csv` with the same filters: every matching entry (or the newest `limit`),
/// streamed page by page.
pub async fn csv(
    _: Viewer,
    State(api): State<Api>,
    query: QueryResult,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let filter = filter_of(&q)?;
    // Every matching entry, or the newest `limit` of them.
    const MAX_ROWS: usize = 10_000_000;
    let limit = q.limit.unwrap_or(MAX_ROWS);
    if !(1..=MAX_ROWS).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit: must be 1 to {MAX_ROWS} (absent: every matching entry)"),
        ));
    }
    const PAGE: usize = 500;
    // (cursor, rows still wanted, first page?)
    let pages = futures::stream::unfold(
        (q.before.clone(), limit, true),
        move |(cursor, wanted, first)| {
            let flows = api.flows.clone();
            let filter = filter.clone();
            async move {
                if wanted == 0 {
                    return None;
                }
                let size = wanted.min(PAGE);
                let page = match queries::audit(&flows, &filter, size, cursor.as_deref()) {
                    Ok(p) => p,
                    Err(e) => {
                        return Some((Err(std::io::Error::other(e.to_string())), (None, 0, false)));
                    }
                };
                // A short page is the last one.
                let left = if page.len() < size {
                    0
                } else {
                    wanted - page.len()
                };
                let next = page.last().map(|e| e.id.clone());
                let rows: Vec<[String; 18]> = page.iter().map(row).collect();
                Some((encode(&rows, first), (next, left, false)))
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"reinstate-audit.csv\"",
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

/// The audit log, as JSON pages and as CSV.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    vec![
        Operation::new(
            "get",
            "/api/v1/audit",
            "Audit entries, newest first (`user`, `from`, `to`, `outcome`, `source`, `limit`, `before`).",
            Viewer,
            ("200", "entries and the next cursor"),
        )
        .returns(schema::<AuditPage>(g)),
        Operation::new("get", "/api/v1/audit.csv", "The audit log as CSV, streamed.", Viewer, ("200", "text/csv")),
    ]
}

/// The audit log.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit.csv", get(csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quotes_doubled() {
        let mut e = AuditEntry::new(AuditOutcome::Denied, "=HYPERLINK(\"http://x\")");
        e.rule = Some("+1".into());
        e.message = Some("@SUM(A1)".into());
        e.account_id = Some("-2".into());
        let text =
            String::from_utf8(encode(&[row(&e)], true).expect("csv").to_vec()).expect("utf8");
        assert!(text.starts_with("id,at,outcome,"), "{text}");
        assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
        assert!(
            text.contains(",'+1,") && text.contains(",'@SUM(A1),") && text.contains(",'-2,"),
            "{text}"
        );
        assert!(text.ends_with("\r\n"));
    }
}
