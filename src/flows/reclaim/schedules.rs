//! Reclamation's schedules: `reclaim.schedule` from the configuration (named `configuration`,
//! changed only there) and the named schedules set in the console or the API — checked (cron
//! and time zone), versioned and audited like the policies; each with its next run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::super::{Context, FlowError};
use super::config::Schedule;
use crate::store::{NamedSchedule, SchedulesDoc};

/// The name `reclaim.schedule` goes by.
pub const CONFIGURED: &str = "configuration";

/// The body of `PUT /api/v1/reclaim/schedules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate reclaim schedules", extend("$id" = "https://reinstate.dev/schemas/reclaim-schedules.schema.json"))]
pub struct ScheduleList {
    pub schedules: Vec<NamedSchedule>,
}

impl ScheduleList {
    /// What is wrong, naming the schedule and its field (`schedules[1].cron: …`).
    pub fn validate(&self) -> Result<(), FlowError> {
        let bad = |i: usize, field: &str, why: String| {
            FlowError::invalid(
                "invalid_schedules",
                format!("schedules[{i}].{field}: {why}"),
            )
        };
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let name = s.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(bad(i, "name", "must be 1 to 100 characters".into()));
            }
            if name.eq_ignore_ascii_case(CONFIGURED) {
                return Err(bad(
                    i,
                    "name",
                    format!("{CONFIGURED:?} is reclaim.schedule's, set in the configuration"),
                ));
            }
            if !names.insert(name.to_lowercase()) {
                return Err(bad(
                    i,
                    "name",
                    format!("another schedule is named {name:?}"),
                ));
            }
            if let Err(why) = Schedule::parse(&s.cron, "UTC") {
                return Err(bad(i, "cron", why));
            }
            if let Err(why) = Schedule::parse(&s.cron, &s.timezone) {
                return Err(bad(i, "timezone", why));
            }
        }
        Ok(())
    }
}

pub fn get(ctx: &Context) -> Result<SchedulesDoc, FlowError> {
    Ok(ctx.store.schedules()?)
}

/// Replaces the named schedules (validated here), audited with who did it and what changed.
pub async fn replace(
    ctx: &Context,
    list: ScheduleList,
    actor: &str,
) -> Result<SchedulesDoc, FlowError> {
    list.validate()?;
    let old = ctx.store.schedules()?;
    let now = OffsetDateTime::now_utc();
    let schedules: Vec<NamedSchedule> = list
        .schedules
        .into_iter()
        .map(|s| NamedSchedule {
            name: s.name.trim().to_string(),
            cron: s.cron.trim().to_string(),
            timezone: s.timezone.trim().to_string(),
            ..s
        })
        .collect();
    let doc = SchedulesDoc {
        v: 1,
        version: old.version + 1,
        updated_at: Some(now),
        schedules,
    };
    ctx.store.put_schedules(&doc, now).await?;
    let names = |list: &[NamedSchedule]| {
        list.iter()
            .map(|s| format!("{} ({})", s.name, s.cron))
            .collect::<Vec<_>>()
    };
    let (from, to) = (names(&old.schedules), names(&doc.schedules));
    let change = super::policies::Versioned::new("schedules", actor, (old.version, doc.version));
    change.record(ctx, &to, &from).await?;
    Ok(doc)
}

/// A schedule that can fire: its name, where it is set, and when it fires next.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Due {
    pub name: String,
    /// `configuration` (`reclaim.schedule`) or `console` (saved here).
    pub set_in: &'static str,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    /// The first time after it last fired (after it was saved, the first time ever); `null`
    /// when disabled or when it names no time to come.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub next_run: Option<OffsetDateTime>,
}

/// Every schedule with its next run: the configuration's first, then the saved ones in order.
pub fn due(ctx: &Context) -> Result<Vec<Due>, FlowError> {
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    let config = &ctx.settings.reclaim;
    if let (Some(expr), Some(schedule)) = (&config.schedule, config.schedule()) {
        let from = ctx.store.last_scheduled()?.unwrap_or(now);
        out.push(Due {
            name: CONFIGURED.into(),
            set_in: "configuration",
            cron: expr.clone(),
            timezone: config.timezone.clone(),
            enabled: true,
            next_run: schedule.next_after(from),
        });
    }
    for s in ctx.store.schedules()?.schedules {
        let next_run = if s.enabled {
            let from = ctx.store.schedule_fired(&s.name)?.unwrap_or(now);
            Schedule::parse(&s.cron, &s.timezone)
                .ok()
                .and_then(|c| c.next_after(from))
        } else {
            None
        };
        out.push(Due {
            name: s.name,
            set_in: "console",
            cron: s.cron,
            timezone: s.timezone,
            enabled: s.enabled,
            next_run,
        });
    }
    Ok(out)
}

/// Records that the schedule `name` fired for the time `at`.
pub async fn fired(ctx: &Context, name: &str, at: OffsetDateTime) -> Result<(), FlowError> {
    if name == CONFIGURED {
        ctx.store.set_last_scheduled(at).await?;
    } else {
        ctx.store.set_schedule_fired(name, at).await?;
    }
    Ok(())
}

/// The JSON Schema of a schedule list (`schemas/reclaim-schedules.schema.json`).
pub fn schedules_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScheduleList)).unwrap_or_default()
}
