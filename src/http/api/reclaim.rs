//! Reclamation for admins: the policies, runs (a dry run is the preview), their entries and CSV,
//! bulk jobs (JSON, or a CSV of users), and undo.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schemars::generate::SchemaGenerator;
use serde::Deserialize;

use super::csv::attachment;
use super::{Admin, Api, Viewer};
use crate::domain::reclaim::PolicyList;
use crate::flows::queries;
use crate::flows::reclaim::jobs::{self, BulkRequest};
use crate::flows::reclaim::{policies, run, schedules};
use crate::http::body::AdminBody;
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::{PoliciesDoc, RunEntry, RunKind, RunRecord};

/// `GET /api/v1/reclaim/policies`
pub async fn get_policies(
    _: Viewer,
    State(api): State<Api>,
) -> Result<Json<PoliciesDoc>, ApiError> {
    Ok(Json(policies::get(&api.flows)?))
}

/// `PUT /api/v1/reclaim/policies`: replaces the whole list.
pub async fn put_policies(
    admin: Admin,
    State(api): State<Api>,
    body: AdminBody,
) -> Result<Json<PoliciesDoc>, ApiError> {
    let list = PolicyList::parse(body.json_only()?)
        .map_err(|e| ApiError::bad_request("invalid_policies", e.to_string()))?;
    Ok(Json(
        policies::replace(&api.flows, list.policies, &admin.actor).await?,
    ))
}

/// `GET /api/v1/reclaim/schedules`: every schedule with its next run (the configuration's
/// `reclaim.schedule` first, named `configuration`), and the saved ones' version.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct SchedulesPage {
    /// The saved schedules' version (0 before any is saved).
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<time::OffsetDateTime>,
    pub schedules: Vec<schedules::Due>,
}

fn schedules_page(api: &Api) -> Result<SchedulesPage, ApiError> {
    let doc = schedules::get(&api.flows)?;
    Ok(SchedulesPage {
        version: doc.version,
        updated_at: doc.updated_at,
        schedules: schedules::due(&api.flows)?,
    })
}

pub async fn get_schedules(
    _: Viewer,
    State(api): State<Api>,
) -> Result<Json<SchedulesPage>, ApiError> {
    Ok(Json(schedules_page(&api)?))
}

/// `PUT /api/v1/reclaim/schedules`: replaces the saved schedules (the configuration's is set
/// in the configuration only).
pub async fn put_schedules(
    admin: Admin,
    State(api): State<Api>,
    body: AdminBody,
) -> Result<Json<SchedulesPage>, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body.json_only()?);
    let list: schedules::ScheduleList = serde_path_to_error::deserialize(de)
        .map_err(|e| ApiError::bad_request("invalid_schedules", e.to_string()))?;
    schedules::replace(&api.flows, list, &admin.actor).await?;
    Ok(Json(schedules_page(&api)?))
}

/// The body of `POST /api/v1/reclaim/runs`.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// A preview: the plan, and nothing done.
    #[serde(default)]
    pub dry_run: bool,
    /// Runs what this finished preview showed (the same accounts, products and steps that
    /// still apply), less `exclude`; needs `confirm`.
    #[serde(default)]
    pub from_preview: Option<String>,
    /// Account ids or emails taken out of the preview.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// With `from_preview`: the number of accounts the run will change (`409 confirm_mismatch`
    /// naming the number otherwise).
    #[serde(default)]
    pub confirm: Option<usize>,
}

/// `POST /api/v1/reclaim/runs`: plans and starts a run now (`202`).
pub async fn start_run(
    admin: Admin,
    State(api): State<Api>,
    body: AdminBody,
) -> Result<(StatusCode, Json<RunPage>), ApiError> {
    let req: RunBody = body.json_or_default()?;
    let from_preview = match (req.from_preview, req.confirm) {
        (None, None) if req.exclude.is_empty() => None,
        (Some(id), Some(confirm)) => Some(run::FromPreview {
            id,
            exclude: req.exclude,
            confirm,
        }),
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "confirm_required",
                "from_preview needs confirm: the number of accounts the run will change",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_run",
                "exclude and confirm go with from_preview",
            ));
        }
    };
    let request = run::RunRequest {
        dry_run: req.dry_run,
        trigger: admin.actor,
        from_preview,
    };
    let started = run::start(&api.flows, &api.intake, request).await?;
    Ok((StatusCode::ACCEPTED, Json(page(&api, started)?)))
}

/// A run or job with its counts and entries (`GET /api/v1/reclaim/runs/{id}`).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct RunPage {
    pub run: RunRecord,
    pub counts: crate::flows::reclaim::finish::Counts,
    /// Every user flagged (or of the job), in plan order, with what became of them.
    pub entries: Vec<RunEntry>,
}

fn page(api: &Api, run: RunRecord) -> Result<RunPage, ApiError> {
    let entries = queries::run(&api.flows, &run.id)?
        .map(|r| r.1)
        .unwrap_or_default();
    let counts = crate::flows::reclaim::finish::counts(&api.flows, &entries);
    Ok(RunPage {
        run,
        counts,
        entries,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/reclaim/runs`: newest first.
pub async fn list_runs(
    _: Viewer,
    State(api): State<Api>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit: must be 1 to 500",
        ));
    }
    let runs = queries::runs(&api.flows, RunKind::Reclaim, limit)?;
    Ok(Json(RunList { runs }))
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct RunList {
    pub runs: Vec<RunRecord>,
}

/// `GET /api/v1/reclaim/runs/{id}` and `GET /api/v1/reclaim/runs/{id}.csv`.
pub async fn get_run(
    _: Viewer,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    page_or_csv(&api, &id, &[RunKind::Reclaim, RunKind::Undo])
}

/// `GET /api/v1/jobs/{id}`: a bulk job's (or an undo's) progress and per-user results; and
/// `GET /api/v1/jobs/{id}.csv`.
pub async fn get_job(
    _: Viewer,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    page_or_csv(&api, &id, &[RunKind::Job, RunKind::Undo])
}

/// A run's page, or with `.csv` after its id, its entries as CSV.
fn page_or_csv(api: &Api, id: &str, kinds: &[RunKind]) -> Result<Response, ApiError> {
    let (id, csv) = match id.strip_suffix(".csv") {
        Some(id) => (id, true),
        None => (id, false),
    };
    let run = found(api, id, kinds)?;
    if csv {
        return run_csv(api, &run);
    }
    Ok(Json(page(api, run)?).into_response())
}

fn found(api: &Api, id: &str, kinds: &[RunKind]) -> Result<RunRecord, ApiError> {
    queries::run(&api.flows, id)?
        .map(|(run, _)| run)
        .filter(|r| kinds.contains(&r.kind))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such run or job {id:?}"),
            )
        })
}

const COLUMNS: [&str; 11] = [
    "seq",
    "email",
    "account_id",
    "product",
    "policy",
    "step",
    "reason",
    "due",
    "result",
    "detail",
    "at",
];

fn run_csv(api: &Api, run: &RunRecord) -> Result<Response, ApiError> {
    let entries = queries::run(&api.flows, &run.id)?
        .map(|r| r.1)
        .unwrap_or_default();
    let time = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
    };
    let rows = entries.iter().map(|e| {
        [
            e.seq.to_string(),
            e.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
            e.account_id.clone(),
            e.product.map(|p| p.key().to_string()).unwrap_or_default(),
            e.policy.clone().unwrap_or_default(),
            e.step.clone(),
            e.reason.clone(),
            time(e.due),
            serde_json::to_value(e.result)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            e.detail.clone().unwrap_or_default(),
            time(e.at),
        ]
    });
    attachment(&format!("reinstate-{}.csv", run.id), COLUMNS, rows)
}

/// `POST /api/v1/reclaim/runs/{id}/undo` and `POST /api/v1/jobs/{id}/undo` (`202`).
pub async fn undo(
    admin: Admin,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunPage>), ApiError> {
    let started = jobs::undo(&api.flows, &api.intake, &id, &admin.actor).await?;
    Ok((StatusCode::ACCEPTED, Json(page(&api, started)?)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkQuery {
    action: Option<String>,
    group: Option<String>,
    product: Option<crate::domain::Product>,
    confirm: Option<usize>,
    from: Option<String>,
    to: Option<String>,
    confirm_group: Option<String>,
}

/// `POST /api/v1/users/bulk`: a JSON body, or `text/csv` (a column of emails or account ids;
/// `action` and the rest as query parameters). Validated whole before anything runs (`202`).
pub async fn bulk(
    admin: Admin,
    State(api): State<Api>,
    query: Result<Query<BulkQuery>, axum::extract::rejection::QueryRejection>,
    body: AdminBody,
) -> Result<(StatusCode, Json<RunPage>), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let req = if body.is_csv() {
        bulk_of_csv(q, users_of_csv(body.bytes())?)?
    } else {
        if q.action.is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                "query parameters go with a text/csv body; a JSON body carries its own",
            ));
        }
        body.json()?
    };
    let req = every_user_matching(&api, req)?;
    let started = jobs::start(&api.flows, &api.intake, req, &admin.actor).await?;
    Ok((StatusCode::ACCEPTED, Json(page(&api, started)?)))
}

/// A bulk request's `matching` filter resolved by the server into its users (a danger action
/// still needs `confirm`, the number found).
fn every_user_matching(api: &Api, mut req: BulkRequest) -> Result<BulkRequest, ApiError> {
    let Some(filter) = req.matching.take() else {
        return Ok(req);
    };
    if !req.users.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_bulk",
            "users and matching: name the users, or the filter that finds them, not both",
        ));
    }
    let uri: axum::http::Uri = format!("/?{filter}")
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_query", "matching: not a query string"))?;
    let filter = super::inventory::users_filter(&uri)?;
    req.users = crate::flows::inventory::query::matching_ids(&api.flows, &filter)?;
    if req.users.is_empty() {
        return Err(ApiError::bad_request(
            "no_users",
            "matching: no user matches the filter; nothing was done",
        ));
    }
    Ok(req)
}

/// The rows of a bulk CSV: (line number, first cell, second cell when there is one). The first
/// column holds emails or account ids (and, for `rename`, the new username the second); a first
/// row that is neither (a header such as `email`) is skipped. Every row is checked before
/// anything runs.
pub fn users_of_csv(bytes: &[u8]) -> Result<Vec<(usize, String, Option<String>)>, ApiError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut users = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record
            .map_err(|e| ApiError::bad_request("invalid_csv", format!("line {line}: {e}")))?;
        let cell = record.get(0).unwrap_or_default().trim();
        let header = i == 0
            && matches!(
                cell.to_ascii_lowercase().as_str(),
                "email" | "emails" | "user" | "users" | "account_id" | "account id" | "accountid"
            );
        if header || cell.is_empty() {
            continue;
        }
        let second = record
            .get(1)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        users.push((line, cell.to_string(), second));
    }
    if users.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_csv",
            "no users in the first column",
        ));
    }
    Ok(users)
}

/// A bulk request from CSV rows: for `rename`, every row must carry its new username (the
/// second column), so that each name stays with its own user.
fn bulk_of_csv(
    q: BulkQuery,
    rows: Vec<(usize, String, Option<String>)>,
) -> Result<BulkRequest, ApiError> {
    let action = q.action.ok_or_else(|| {
        ApiError::bad_request("invalid_query", "action: a CSV body needs ?action=")
    })?;
    let renames = action == jobs::BulkAction::Rename.key();
    let missing: Vec<String> = rows
        .iter()
        .filter(|(_, _, n)| renames && n.is_none())
        .map(|(line, _, _)| line.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_csv",
            format!(
                "rename needs the new username in the second column; missing on line {} (nothing was done)",
                missing.join(", ")
            ),
        ));
    }
    let mut req = BulkRequest {
        action,
        group: q.group,
        confirm_group: q.confirm_group,
        product: q.product,
        confirm: q.confirm,
        from: q.from,
        to: q.to,
        ..Default::default()
    };
    for (line, user, name) in rows {
        req.lines.push(line);
        req.users.push(user);
        if renames {
            req.new_names.extend(name);
        }
    }
    Ok(req)
}

/// Reclamation: policies, runs, bulk jobs, undo.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let policies = schema::<PoliciesDoc>(g);
    let page = schema::<RunPage>(g);
    let run = "/api/v1/reclaim/runs/{id}";
    vec![
        Operation::new("get", "/api/v1/reclaim/policies", "The reclaim policies, versioned.", Viewer, ("200", "the policies"))
            .returns(policies.clone()),
        Operation::new("put", "/api/v1/reclaim/policies", "Replaces the reclaim policies (audited).", Admin, ("200", "the new policies"))
            .body(schema::<PolicyList>(g))
            .returns(policies),
        Operation::new("get", "/api/v1/reclaim/schedules", "Every schedule with its next run (`reclaim.schedule` as `configuration`), and the saved ones' version.", Viewer, ("200", "the schedules"))
            .returns(schema::<SchedulesPage>(g)),
        Operation::new("put", "/api/v1/reclaim/schedules", "Replaces the saved schedules (versioned, audited).", Admin, ("200", "the schedules"))
            .body(schema::<schedules::ScheduleList>(g))
            .returns(schema::<SchedulesPage>(g)),
        Operation::new("post", "/api/v1/reclaim/runs", "Plans and starts a run of the policies; `dry_run` only previews.", Admin, ("202", "the run's page"))
            .body(schema::<RunBody>(g))
            .returns(page.clone()),
        Operation::new("get", "/api/v1/reclaim/runs", "Runs, newest first (`limit`).", Viewer, ("200", "the runs"))
            .returns(schema::<RunList>(g)),
        Operation::new("get", run, "A run: counts and every user flagged, with the reason and result (`{id}.csv`: the same as CSV).", Viewer, ("200", "the run's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/reclaim/runs/{id}/undo", "Gives back exactly what the run took and is still taken.", Admin, ("202", "the undo's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/users/bulk", "A bulk action as a job (JSON, or `text/csv` with `?action=`); danger actions need `confirm`.", Admin, ("202", "the job's page"))
            .body(schema::<BulkRequest>(g))
            .returns(page.clone()),
        Operation::new("get", "/api/v1/jobs/{id}", "A job's (or an undo's) progress and per-user results (`{id}.csv`: the same as CSV).", Viewer, ("200", "the job's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/jobs/{id}/undo", "Gives back what the job changed.", Admin, ("202", "the undo's page"))
            .returns(page),
    ]
}

/// Reclamation: policies, runs, bulk jobs, undo.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route(
            "/api/v1/reclaim/policies",
            get(get_policies).put(put_policies),
        )
        .route(
            "/api/v1/reclaim/schedules",
            get(get_schedules).put(put_schedules),
        )
        .route("/api/v1/reclaim/runs", get(list_runs).post(start_run))
        .route("/api/v1/reclaim/runs/{id}", get(get_run))
        .route("/api/v1/reclaim/runs/{id}/undo", post(undo))
        .route("/api/v1/users/bulk", post(bulk))
        .route("/api/v1/jobs/{id}", get(get_job))
        .route("/api/v1/jobs/{id}/undo", post(undo))
}
