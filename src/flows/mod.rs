//! Use-cases: the code that combines the rules, the directory, the store, the bus and email.
//! The HTTP handlers, the worker loop and the periodic jobs only call into here.
//!
//! * `intake` — the one way an event enters: disk check, publish, 202 only once durable.
//! * `handle` — one event, idempotently, dispatched by kind to `restore`, `ask`, `reclaim`
//!   (keep, orders, leavers) or `jsm`; `outcome`, below those, is how each of them ends.
//! * `requests`, `rules`, `simulate`, `queries` — what admins do and read.

use std::sync::Arc;

use crate::directory::inventory::Lister;
use crate::directory::{Directory, DirectoryError};
use crate::links::LinkSettings;
use crate::metrics::Metrics;
use crate::sources::jsm::JsmSource;
use crate::store::{Store, StoreError};

pub mod alerts;
pub mod ask;
pub mod atlassian_audit;
mod chat;
mod decide;
mod form;
pub mod handle;
pub mod identify;
pub mod intake;
pub mod inventory;
pub mod jsm;
pub mod links;
mod lookup;
mod outcome;
pub mod queries;
pub mod reclaim;
pub mod requests;
mod restore;
pub mod rules;
pub mod simulate;
pub mod teams;

pub use handle::handle;
pub use intake::{Accepted, Intake, IntakeError};
pub use outcome::{Handled, WorkError, record_exhausted};

/// What every use-case may use.
pub struct Context {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    /// Lists every account of the directory, for the inventory.
    pub lister: Arc<dyn Lister>,
    pub inventory: inventory::Inventory,
    /// Signs the confirmation links of portal asks, when links are on.
    pub links: Option<Arc<LinkSettings>>,
    pub settings: Settings,
}

/// Settings the use-cases read, from their sections of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL for links in emails.
    pub public_url: String,
    /// How the emails reinstate writes are spelt (`server.locale`).
    pub spelling: crate::domain::Spelling,
    /// Admins who receive alerts, and the seat-use percentage that alerts them (0: never).
    pub alerts: alerts::AlertsConfig,
    /// The Service Management source: completes `jsm_update` events, and its transition.
    pub jsm: Option<JsmSource>,
    pub jsm_transition_id: Option<String>,
    /// How long handled event ids are remembered.
    pub processed_ttl: time::Duration,
    /// Logins of one user closer together than this act once.
    pub login_window: time::Duration,
    /// Waiting requests: expiry and reminders.
    pub requests: requests::RequestsConfig,
    /// How login names resolve to accounts.
    pub identity: identify::IdentityConfig,
    /// Reclamation: schedule, protections, prices.
    pub reclaim: reclaim::ReclaimConfig,
    /// The account reinstate acts as (never reclaimed).
    pub service_account: Option<String>,
    /// Whether emails can be sent (SMTP configured).
    pub email_on: bool,
    /// Okta's Users API, when a leaver Okta reports must be confirmed there before reinstate
    /// acts (`sources.okta.confirm_leavers`).
    pub okta_users: Option<Arc<crate::directory::okta::OktaUsers>>,
    /// Slack's Web API, when the Slack app's bot token is configured (`sources.slack`).
    pub slack: Option<Arc<crate::directory::slack::SlackApi>>,
    /// Where requests left to an admin are posted with *Approve* and *Deny* in Slack.
    pub slack_approvers_channel: Option<String>,
    /// The Teams bot's Connector API calls, when its app id and secret are configured.
    pub teams: Option<Arc<crate::directory::botframework::TeamsApi>>,
    /// Where requests left to an admin are posted as cards in Teams: (`serviceUrl`,
    /// conversation id).
    pub teams_approvers: Option<(String, String)>,
    /// The mail services whose inbound webhooks are configured (`sources.mail`), by name.
    pub mail_services: Vec<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: String::new(),
            spelling: crate::domain::Spelling::default(),
            alerts: alerts::AlertsConfig::default(),
            jsm: None,
            jsm_transition_id: None,
            processed_ttl: time::Duration::days(30),
            login_window: time::Duration::seconds(60),
            requests: requests::RequestsConfig::default(),
            identity: identify::IdentityConfig::default(),
            reclaim: reclaim::ReclaimConfig::default(),
            service_account: None,
            email_on: false,
            okta_users: None,
            slack: None,
            slack_approvers_channel: None,
            teams: None,
            teams_approvers: None,
            mail_services: Vec::new(),
        }
    }
}

impl Context {
    /// A call log counted in the metrics under the directory's connector.
    pub fn calls(&self) -> crate::directory::CallLog {
        crate::directory::CallLog::with_metrics(self.metrics.clone(), self.directory.kind())
    }
}

/// Why a use-case an admin called did not happen; http answers each with its status.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The body or a parameter is not valid (400); `code` is stable, `detail` names the field.
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    /// No such thing (404).
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// The thing is not in a state that allows this (409).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Worth trying again later (503).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FlowError {
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> FlowError {
        FlowError::Invalid {
            code,
            detail: detail.into(),
        }
    }
}

impl From<IntakeError> for FlowError {
    fn from(e: IntakeError) -> FlowError {
        match e {
            IntakeError::Unavailable(why) => FlowError::Unavailable(why),
            IntakeError::Store(e) => FlowError::Store(e),
        }
    }
}

impl From<DirectoryError> for FlowError {
    fn from(e: DirectoryError) -> FlowError {
        FlowError::Unavailable(format!("the directory could not be asked: {e}"))
    }
}
