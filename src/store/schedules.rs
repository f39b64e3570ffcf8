//! Reclamation's named schedules, set in the console or the API: versioned like the policies,
//! each with when it last fired (so that a time missed while the process was down fires at the
//! next start, and a new schedule does not fire for times before it existed).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, enc};

/// One named schedule: a cron expression read in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedSchedule {
    /// Unique; 1 to 100 characters.
    pub name: String,
    /// Five crontab fields (`0 2 * * 1-5`), or six or seven with seconds first.
    pub cron: String,
    /// An IANA time zone (`Europe/Paris`); `UTC` when not given.
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}

/// The schedules as saved, with their version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SchedulesDoc {
    pub v: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
    pub schedules: Vec<NamedSchedule>,
}

#[derive(Serialize, Deserialize)]
struct Fired(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

fn fired_key(name: &str) -> Vec<u8> {
    format!("schedule/{}", name.to_lowercase()).into_bytes()
}

impl Store {
    pub fn schedules(&self) -> Result<SchedulesDoc, StoreError> {
        match self.reclaim.get(b"schedules")? {
            Some(v) => dec(&v),
            None => Ok(SchedulesDoc::default()),
        }
    }

    /// Saves the schedules, durably; a schedule new by its name counts as fired `now` (it
    /// fires at its first time after that).
    pub async fn put_schedules(
        &self,
        doc: &SchedulesDoc,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for s in &doc.schedules {
            if self.reclaim.get(fired_key(&s.name))?.is_none() {
                self.reclaim.insert(fired_key(&s.name), enc(&Fired(now))?)?;
            }
        }
        self.reclaim.insert(b"schedules", enc(doc)?)?;
        self.flush().await?;
        self.schedules_wake.notify_one();
        Ok(())
    }

    /// When the named schedule last fired.
    pub fn schedule_fired(&self, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(match self.reclaim.get(fired_key(name))? {
            Some(v) => Some(dec::<Fired>(&v)?.0),
            None => None,
        })
    }

    pub async fn set_schedule_fired(
        &self,
        name: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.reclaim.insert(fired_key(name), enc(&Fired(at))?)?;
        self.flush().await
    }

    /// Signalled whenever the schedules are saved.
    pub fn schedules_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.schedules_wake.clone()
    }
}
