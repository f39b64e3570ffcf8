//! Builds the application from a configuration and an already-bound listener (tests bind
//! port 0), as its role (`server.role`) makes it, and runs the HTTP server, the workers and the
//! periodic jobs under one cancellation token. `parts` makes the HTTP parts; `work` the state's
//! work and, on NATS, the lease that lets one process own the state.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::bus::lease::Ownership;
use crate::bus::nats::NatsBus;
use crate::bus::once::UseOnce;
use crate::config::Config;
use crate::directory::Connected;
use crate::directory::config::DirectoryKind;
use crate::directory::simulated::SimulatedOrg;
use crate::flows::{Context, Intake, Settings};
use crate::http::api::{Role, TokenHash};
use crate::http::ops::Ops;
use crate::http::server::ProcessRole;
use crate::metrics::Metrics;
use crate::sandbox::{self, SandboxCredentials};
use crate::sources::signature::WebhookSecret;
use crate::store::Store;

mod parts;
mod work;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("event bus: {0}")]
    Bus(#[from] crate::bus::BusError),
    #[error("directory: {0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("sandbox credentials in {path}: {source}")]
    Sandbox {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(#[from] crate::domain::Problems),
    #[error("smtp.url: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("link keys: {0}")]
    LinkKeys(#[from] crate::links::KeyError),
    #[error(transparent)]
    Flow(#[from] crate::flows::FlowError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    addr: std::net::SocketAddr,
    cancel: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    /// The workers, the jobs and the email sender: awaited on the way out.
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
    /// None in an intake process, which keeps nothing.
    store: Option<Store>,
    sandbox: Option<SandboxInUse>,
    bus_kind: &'static str,
    /// The paths the router serves here.
    routes: Vec<&'static str>,
}

/// The sandbox's credentials, and which of them this process accepts: a configured login
/// secret or admin token replaces the sandbox's.
pub struct SandboxInUse {
    pub credentials: SandboxCredentials,
    pub login_secret: bool,
    pub admin_token: bool,
}

/// What the sandbox adds to the configuration: its credentials, and rules to start with.
struct Sandboxed {
    credentials: Option<SandboxCredentials>,
    login_secret: Option<WebhookSecret>,
    admin_token: Option<TokenHash>,
}

/// The sandbox starts with starter rules and policies, unless an admin has saved their own.
async fn seed_sandbox(ctx: &Arc<Context>) -> Result<(), StartError> {
    if ctx.store.rules()?.version == 0 {
        crate::flows::rules::replace(ctx, sandbox::starter_rules(), "sandbox").await?;
    }
    if ctx.store.policies()?.version == 0 {
        let policies = sandbox::starter_policies();
        crate::flows::reclaim::policies::replace(ctx, policies, "sandbox").await?;
    }
    Ok(())
}

impl Application {
    pub async fn build(config: Config, listener: TcpListener) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let cancel = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let look = Arc::new(parts::look(&config));
        let built = match config.server.role {
            ProcessRole::Intake => intake_process(&config, &metrics, &look, &cancel).await?,
            _ => state_process(&config, &metrics, &look, &cancel).await?,
        };
        let addr = listener.local_addr()?;
        let refused = metrics.connections_refused.clone();
        let (router, routes) = crate::http::router(built.parts, metrics);
        let per_client = crate::http::limits::PerClient::new(
            config.server.max_connections_per_client,
            config.portal.clients(),
            refused,
        );
        let server = serve(listener, router, &config.server, per_client, &cancel);
        tracing::info!(%addr, role = config.server.role.key(), bus = built.bus_kind, directory = ?config.directory.kind, "reinstate listening");
        Ok(Application {
            addr,
            cancel,
            server,
            tasks: built.tasks,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            store: built.store,
            sandbox: built.sandbox,
            bus_kind: built.bus_kind,
            routes,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// The paths this process routes (the OpenAPI document is held to them).
    pub fn routes(&self) -> &[&'static str] {
        &self.routes
    }

    pub fn bus_kind(&self) -> &'static str {
        self.bus_kind
    }
    /// The state process's store (none in an intake process).
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }
    /// The sandbox's credentials, when running as the sandbox, and which are in use.
    pub fn sandbox(&self) -> Option<&SandboxInUse> {
        self.sandbox.as_ref()
    }
    /// Cancelling it stops accepting, lets in-flight events finish, then flushes.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Runs until the token is cancelled (SIGTERM in `serve`), then drains and flushes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut server = self.server;
        // The server stops only when cancelled or failed; either way stop the rest.
        let early = tokio::select! {
            result = &mut server => Some(result),
            _ = self.cancel.cancelled() => None,
        };
        self.cancel.cancel();
        let tasks = self.tasks;
        // Stop accepting, let in-flight requests and events finish (the rest is handed back to
        // the bus), finish the email being sent — within the grace period.
        let drain = async move {
            let served = match early {
                Some(result) => result,
                None => server.await,
            };
            for task in tasks {
                let _ = task.await;
            }
            served.unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        let served = match tokio::time::timeout(self.grace, drain).await {
            Ok(served) => served,
            Err(_) => {
                tracing::warn!(
                    grace_secs = self.grace.as_secs(),
                    "grace period over; unfinished events will be delivered again"
                );
                Ok(())
            }
        };
        if let Some(store) = &self.store
            && let Err(e) = store.flush().await
        {
            tracing::error!(error = %e, "final flush failed");
        }
        tracing::info!("stopped");
        served
    }

    /// Stops and waits (for tests and tools).
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.cancel.cancel();
        self.run_until_stopped().await
    }
}

/// What a role's process is made of.
struct Built {
    parts: crate::http::Parts,
    tasks: Vec<JoinHandle<()>>,
    store: Option<Store>,
    sandbox: Option<SandboxInUse>,
    bus_kind: &'static str,
}

/// A receiver: no store, no directory, no work of its own; it publishes onto NATS.
async fn intake_process(
    config: &Arc<Config>,
    metrics: &Arc<Metrics>,
    look: &Arc<crate::http::page::Look>,
    cancel: &CancellationToken,
) -> Result<Built, StartError> {
    let Some(url) = &config.bus.nats_url else {
        return Err(StartError::Config(
            "server.role \"intake\" needs bus.nats_url"
                .to_string()
                .into(),
        ));
    };
    let nats = Arc::new(NatsBus::connect(&config.bus, url, 1, cancel.clone()).await?);
    let bus: Arc<dyn Bus> = nats.clone();
    let intake = Intake::new(bus.clone(), None, metrics.clone());
    let links = parts::link_settings(config, None)?;
    let receiving = parts::Receiving {
        intake: &intake,
        link_uses: link_uses_in_bucket(config, &nats),
        links,
        store: None,
        sandbox_secret: None,
    };
    let parts = crate::http::Parts {
        receivers: Some(parts::receivers(config, receiving, look)?),
        state: None,
        ops: Ops {
            store: None,
            bus,
            metrics: metrics.clone(),
            ownership: Ownership::sole(),
            role: config.server.role.key(),
        },
        state_url: config.server.state_url.clone(),
        intake_url: config.server.intake_url.clone(),
    };
    Ok(Built {
        parts,
        tasks: Vec::new(),
        store: None,
        sandbox: None,
        bus_kind: "nats",
    })
}

/// Link nonces in the JetStream bucket shared by every receiver, kept a day longer than a link
/// lives.
fn link_uses_in_bucket(config: &Config, nats: &Arc<NatsBus>) -> Arc<dyn UseOnce> {
    let keep = Duration::from_secs(config.links.ttl_hours * 3600 + 86_400);
    Arc::new(crate::bus::once::InBucket::new(nats.clone(), keep))
}

/// The state (roles `all` and `state`): the store, the directory, the workers and schedules
/// (while this process owns the state), the admin API and the console; and the receivers too
/// for `all`.
async fn state_process(
    config: &Arc<Config>,
    metrics: &Arc<Metrics>,
    look: &Arc<crate::http::page::Look>,
    cancel: &CancellationToken,
) -> Result<Built, StartError> {
    let store = Store::open_with(&config.store.path, config.store.min_free_mb << 20)?;
    let sandboxed = sandboxed(config)?;
    let (bus, nats) = connect_bus(config, &store, cancel).await?;
    let links = parts::link_settings(config, sandboxed.credentials.as_ref())?;
    let ctx = context(config, &store, metrics, links.clone())?;
    if sandboxed.credentials.is_some() {
        seed_sandbox(&ctx).await?;
    }
    let intake = Intake::new(bus.clone(), Some(store.clone()), metrics.clone());
    let ownership = match nats {
        Some(_) => Ownership::leased(),
        None => Ownership::sole(),
    };
    let work = work::Work {
        config: config.clone(),
        ctx: ctx.clone(),
        intake: intake.clone(),
        bus: bus.clone(),
        metrics: metrics.clone(),
        ownership: ownership.clone(),
        mail: work::mail(config)?,
    };
    let owner = work
        .spawn(nats.clone().map(|n| (n, &store)), cancel)
        .await?;
    let receivers = if config.server.role.receives() {
        let link_uses: Arc<dyn UseOnce> = match &nats {
            Some(nats) => link_uses_in_bucket(config, nats),
            None => Arc::new(crate::bus::once::InStore(store.clone())),
        };
        let receiving = parts::Receiving {
            intake: &intake,
            links,
            link_uses,
            store: Some(store.clone()),
            sandbox_secret: sandboxed.login_secret.clone(),
        };
        Some(parts::receivers(config, receiving, look)?)
    } else {
        None
    };
    let (api, console) = parts::state(config, &ctx, &intake, sandboxed.admin_token.clone(), look);
    // Sessions of a token no longer configured end now, not when they expire.
    let ended = api
        .tokens
        .sessions
        .end_unconfigured(&api.tokens.hashes)
        .await?;
    if ended > 0 {
        tracing::info!(ended, "console sessions of removed tokens ended");
    }
    let parts = crate::http::Parts {
        receivers,
        state: Some((api, console)),
        ops: Ops {
            store: Some(store.clone()),
            bus: bus.clone(),
            metrics: metrics.clone(),
            ownership,
            role: config.server.role.key(),
        },
        state_url: config.server.state_url.clone(),
        intake_url: config.server.intake_url.clone(),
    };
    let sandbox = sandboxed.credentials.map(|credentials| SandboxInUse {
        credentials,
        login_secret: sandboxed.login_secret.is_some(),
        admin_token: sandboxed.admin_token.is_some(),
    });
    Ok(Built {
        parts,
        tasks: vec![owner],
        store: Some(store),
        sandbox,
        bus_kind: bus.kind(),
    })
}

/// What the use-cases work with: the store, the directory (or the sandbox's), the inventory.
fn context(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    links: Option<Arc<crate::links::LinkSettings>>,
) -> Result<Arc<Context>, StartError> {
    let Connected { directory, lister } = match config.directory.kind {
        DirectoryKind::Sandbox => {
            let sandbox = Arc::new(SimulatedOrg::open(store.db())?);
            Connected {
                directory: sandbox.clone(),
                lister: sandbox,
            }
        }
        _ => crate::directory::connect(&config.directory, &config.products)?,
    };
    Ok(Arc::new(Context {
        metrics: metrics.clone(),
        store: store.clone(),
        directory,
        lister,
        inventory: crate::flows::inventory::Inventory {
            config: config.inventory.clone(),
            ..Default::default()
        },
        links,
        settings: settings(config)?,
    }))
}

/// The sandbox's credentials, and the secret and token it adds when none is configured.
fn sandboxed(config: &Config) -> Result<Sandboxed, StartError> {
    if !config.is_sandbox() {
        return Ok(Sandboxed {
            credentials: None,
            login_secret: None,
            admin_token: None,
        });
    }
    let path = &config.store.path;
    let creds = sandbox::load_or_create(path).map_err(|source| StartError::Sandbox {
        path: path.display().to_string(),
        source,
    })?;
    let parsed = config.sources.login.parsed_secrets();
    let login_secret = match parsed {
        Ok([]) => Some(
            WebhookSecret::parse(&creds.login_secret)
                .map_err(|e| StartError::Config(format!("sandbox login secret: {e}").into()))?,
        ),
        _ => None,
    };
    let has_admin = config
        .admin
        .tokens()
        .is_ok_and(|t| t.iter().any(|t| t.role == Role::Admin));
    let admin_token = (!has_admin).then(|| TokenHash::of(&creds.admin_token, Role::Admin));
    Ok(Sandboxed {
        credentials: Some(creds),
        login_secret,
        admin_token,
    })
}

/// The bus: NATS when configured (also returned as itself, for its key-value buckets), else
/// the embedded queue in the store.
async fn connect_bus(
    config: &Config,
    store: &Store,
    cancel: &CancellationToken,
) -> Result<(Arc<dyn Bus>, Option<Arc<NatsBus>>), StartError> {
    Ok(match &config.bus.nats_url {
        Some(url) => {
            let batch = config.worker.concurrency;
            let nats = Arc::new(NatsBus::connect(&config.bus, url, batch, cancel.clone()).await?);
            (nats.clone(), Some(nats))
        }
        None => (Arc::new(EmbeddedBus::open(store, cancel.clone())?), None),
    })
}

/// Okta's Users API, when leavers Okta reports are confirmed there, with the directory's
/// retries and timeouts.
fn okta_users(
    config: &Config,
) -> Result<Option<Arc<crate::directory::okta::OktaUsers>>, StartError> {
    let okta = &config.sources.okta;
    let (true, Some(url), Some(token)) = (okta.confirm_leavers, &okta.api_url, &okta.api_token)
    else {
        return Ok(None);
    };
    let users = crate::directory::okta::OktaUsers::new(url, token.clone(), &config.directory)?;
    Ok(Some(Arc::new(users)))
}

/// Slack's Web API, when the Slack app's bot token is configured: who sent a slash command
/// (`users.info`). A state process has the token and not the signing secret, which only the
/// receivers need.
fn slack_api(
    config: &Config,
) -> Result<Option<Arc<crate::directory::slack::SlackApi>>, StartError> {
    let slack = &config.sources.slack;
    let Some(token) = &slack.bot_token else {
        return Ok(None);
    };
    let api =
        crate::directory::slack::SlackApi::new(&slack.api_url, token.clone(), &config.directory)?;
    Ok(Some(Arc::new(api)))
}

fn teams_api(
    config: &Config,
) -> Result<Option<Arc<crate::directory::botframework::TeamsApi>>, StartError> {
    let teams = &config.sources.teams;
    let Some(secret) = teams
        .app_secret
        .clone()
        .filter(|_| !teams.app_id.is_empty())
    else {
        return Ok(None);
    };
    let api = crate::directory::botframework::TeamsApi::new(
        &teams.login_url,
        &teams.tenant,
        &teams.app_id,
        secret,
        &config.directory,
    )?;
    Ok(Some(Arc::new(api)))
}

fn settings(config: &Config) -> Result<Settings, StartError> {
    let jsm = config.sources.jsm.source();
    Ok(Settings {
        public_url: config.server.public_url.clone(),
        spelling: config.server.spelling(),
        alerts: config.alerts.clone(),
        jsm: jsm.map_err(Clone::clone)?.cloned(),
        jsm_transition_id: config.sources.jsm.transition_id.clone(),
        processed_ttl: time::Duration::days(config.worker.processed_ttl_days as i64),
        login_window: time::Duration::seconds(config.worker.login_dedupe_secs as i64),
        requests: config.requests.clone(),
        identity: config.identity.clone(),
        reclaim: config.reclaim.clone(),
        service_account: config.directory.email.clone(),
        email_on: config.smtp.url.is_some(),
        okta_users: okta_users(config)?,
        slack: slack_api(config)?,
        teams: teams_api(config)?,
        teams_approvers: config
            .sources
            .teams
            .approvers_service_url
            .clone()
            .zip(config.sources.teams.approvers_conversation.clone()),
        slack_approvers_channel: config.sources.slack.approvers_channel.clone(),
        mail_services: [
            (
                "Postmark",
                !config.sources.mail.postmark_credentials.is_empty(),
            ),
            (
                "Mailgun",
                !config.sources.mail.mailgun_signing_keys.is_empty(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect(),
    })
}

fn serve(
    listener: TcpListener,
    router: axum::Router,
    config: &crate::http::server::ServerConfig,
    per_client: crate::http::limits::PerClient,
    cancel: &CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    let max = crate::http::server::connections_within_file_limit(config.max_connections);
    let server = crate::http::server::serve(
        listener,
        router,
        config.clone(),
        max,
        per_client,
        cancel.clone(),
    );
    tokio::spawn(server)
}
