//! Builds the application from a configuration and an already-bound listener (tests bind
//! port 0), and runs the HTTP server, the workers and the periodic jobs under one cancellation
//! token.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::bus::nats::NatsBus;
use crate::config::Config;
use crate::directory::Connected;
use crate::directory::config::DirectoryKind;
use crate::directory::sandbox::Sandbox;
use crate::flows::{Context, Intake, Settings};
use crate::http::api::{Api, Role, TokenHash, Tokens};
use crate::http::hooks::Hooks;
use crate::http::ops::Ops;
use crate::http::public::{Public, portal::Portal};
use crate::links::LinkSettings;
use crate::metrics::Metrics;
use crate::sandbox::{self, SandboxCredentials};
use crate::sources::signature::WebhookSecret;
use crate::store::Store;
use crate::worker::{Worker, WorkerSettings};

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
    store: Store,
    sandbox: Option<SandboxInUse>,
    bus_kind: &'static str,
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
        let store = Store::open_with(&config.store.path, config.store.min_free_mb << 20)?;
        let cancel = CancellationToken::new();
        let sandboxed = sandboxed(&config)?;
        let bus = connect_bus(&config, &store, &cancel).await?;
        let Connected { directory, lister } = match config.directory.kind {
            DirectoryKind::Sandbox => {
                let sandbox = Arc::new(Sandbox::open(store.db())?);
                Connected {
                    directory: sandbox.clone(),
                    lister: sandbox,
                }
            }
            _ => crate::directory::connect(&config.directory, &config.products)?,
        };
        let metrics = Arc::new(Metrics::new());
        let links = link_settings(&config, sandboxed.credentials.as_ref())?;
        let ctx = Arc::new(Context {
            metrics: metrics.clone(),
            store: store.clone(),
            directory,
            lister,
            inventory: crate::flows::inventory::Inventory {
                config: config.inventory.clone(),
                ..Default::default()
            },
            links: links.clone(),
            settings: settings(&config)?,
        });
        if sandboxed.credentials.is_some() {
            seed_sandbox(&ctx).await?;
        }
        let intake = Intake::new(bus.clone(), store.clone(), metrics.clone());
        let mut tasks = spawn_work(&config, &ctx, &intake, &bus, &cancel)?;
        if let Some(sender) = spawn_sender(&config, &store, &metrics, &cancel)? {
            tasks.push(sender);
        }
        let sandbox = sandboxed.credentials.map(|credentials| SandboxInUse {
            credentials,
            login_secret: sandboxed.login_secret.is_some(),
            admin_token: sandboxed.admin_token.is_some(),
        });
        let look = Arc::new(look(&config));
        let tokens = tokens(&config, sandboxed.admin_token);
        let parts = crate::http::Parts {
            hooks: hooks(&config, &intake, sandboxed.login_secret)?,
            public: public(&config, &ctx, &intake, links, &look)?,
            api: Api {
                flows: ctx.clone(),
                intake: intake.clone(),
                tokens: tokens.clone(),
            },
            console: crate::http::console::Console {
                flows: ctx.clone(),
                intake: intake.clone(),
                tokens,
                look,
            },
            ops: Ops {
                store: store.clone(),
                bus: bus.clone(),
                metrics: metrics.clone(),
            },
        };
        let addr = listener.local_addr()?;
        let router = crate::http::router(parts, metrics);
        let server = serve(listener, router, &config.server, &cancel);
        tracing::info!(%addr, bus = bus.kind(), directory = ?config.directory.kind, "reinstate listening");
        Ok(Application {
            addr,
            cancel,
            server,
            tasks,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            store,
            sandbox,
            bus_kind: bus.kind(),
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn bus_kind(&self) -> &'static str {
        self.bus_kind
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
        if let Err(e) = self.store.flush().await {
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

async fn connect_bus(
    config: &Config,
    store: &Store,
    cancel: &CancellationToken,
) -> Result<Arc<dyn Bus>, StartError> {
    Ok(match &config.bus.nats_url {
        Some(url) => {
            let batch = config.worker.concurrency;
            Arc::new(NatsBus::connect(&config.bus, url, batch, cancel.clone()).await?)
        }
        None => Arc::new(EmbeddedBus::open(store, cancel.clone())?),
    })
}

/// Email links: the configured keys, else the sandbox's; none without either.
fn link_settings(
    config: &Config,
    sandbox: Option<&SandboxCredentials>,
) -> Result<Option<Arc<LinkSettings>>, StartError> {
    let keys = match config.links.key_ring().map_err(Clone::clone)? {
        Some(ring) => Some(ring.clone()),
        None => match sandbox {
            Some(creds) => Some(creds.link_keys()?),
            None => None,
        },
    };
    let public_url = &config.server.public_url;
    Ok(keys.map(|keys| Arc::new(config.links.settings(keys, public_url))))
}

fn settings(config: &Config) -> Result<Settings, StartError> {
    let jsm = config.sources.jsm.source();
    Ok(Settings {
        public_url: config.server.public_url.clone(),
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
    })
}

/// The workers (unless this process is ingress only), housekeeping and the audit-log poller.
fn spawn_work(
    config: &Config,
    ctx: &Arc<Context>,
    intake: &Intake,
    bus: &Arc<dyn Bus>,
    cancel: &CancellationToken,
) -> Result<Vec<JoinHandle<()>>, StartError> {
    let mut tasks = Vec::new();
    if config.worker.concurrency > 0 {
        let worker = Arc::new(Worker {
            ctx: ctx.clone(),
            settings: WorkerSettings::from(&config.worker),
        });
        let work = crate::worker::run(worker, bus.clone(), cancel.clone());
        tasks.push(tokio::spawn(work));
    }
    let retention = Duration::from_secs(config.worker.processed_ttl_days * 86_400);
    let housekeeping =
        crate::jobs::housekeeping(ctx.clone(), bus.clone(), retention, cancel.clone());
    tasks.push(tokio::spawn(housekeeping));
    let inventory = crate::jobs::inventory::run(ctx.clone(), intake.clone(), cancel.clone());
    tasks.push(tokio::spawn(inventory));
    let reclaim = crate::jobs::reclaim::run(ctx.clone(), intake.clone(), cancel.clone());
    tasks.push(tokio::spawn(reclaim));
    // Stops at the next tick once cancelled; its position is saved only after publishing.
    let audit = &config.sources.atlassian_audit;
    if let Some(poller) = crate::jobs::audit_log::Poller::new(audit, &config.directory)? {
        tokio::spawn(poller.run(ctx.clone(), intake.clone(), cancel.clone()));
    }
    Ok(tasks)
}

/// The outbox sender, when email is configured.
fn spawn_sender(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    cancel: &CancellationToken,
) -> Result<Option<JoinHandle<()>>, StartError> {
    let Some(url) = &config.smtp.url else {
        return Ok(None);
    };
    let mailer = crate::notify::sender::mailer(&config.smtp, url)?;
    let from = config
        .smtp
        .from
        .parse()
        .map_err(|e| StartError::Config(format!("smtp.from: {e}").into()))?;
    let run =
        crate::notify::sender::run(store.clone(), mailer, from, metrics.clone(), cancel.clone());
    Ok(Some(tokio::spawn(run)))
}

/// The receivers that are configured.
fn hooks(
    config: &Config,
    intake: &Intake,
    sandbox_secret: Option<WebhookSecret>,
) -> Result<Hooks, StartError> {
    let sources = &config.sources;
    let problem = |e: &crate::domain::Problems| StartError::Config(e.clone());
    Ok(Hooks {
        intake: intake.clone(),
        login: sources.login.source(sandbox_secret),
        okta: sources.okta.source(),
        keycloak: sources.keycloak.source().map_err(problem)?.cloned(),
        jsm: sources.jsm.source().map_err(problem)?.cloned(),
    })
}

/// The links and the portal (when enabled and links are on).
/// How the console and the public pages look, and where Atlassian administration shows a user.
fn look(config: &Config) -> crate::http::console::Look {
    let d = &config.directory;
    let site = d
        .site_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let edit_user = match (&d.kind, &d.org_id) {
        (DirectoryKind::Sandbox, _) => None,
        (_, Some(org)) => Some(format!(
            "https://admin.atlassian.com/o/{org}/users/{{account}}"
        )),
        (DirectoryKind::JiraDataCenter, None) => Some(format!(
            "{site}/secure/admin/user/ViewUser.jspa?name={{account}}"
        )),
        _ => Some(format!("{site}/jira/people/{{account}}")),
    };
    crate::http::console::Look {
        organisation: config.server.organisation_name.clone(),
        logo_url: config.server.logo_url.clone(),
        edit_user,
    }
}

fn public(
    config: &Config,
    ctx: &Arc<Context>,
    intake: &Intake,
    links: Option<Arc<LinkSettings>>,
    look: &Arc<crate::http::console::Look>,
) -> Result<Public, StartError> {
    let portal = match (&links, config.portal.enabled) {
        (Some(_), true) => Some(Arc::new(Portal::new(
            &config.portal,
            &config.server.public_url,
            look.clone(),
        )?)),
        _ => None,
    };
    Ok(Public {
        flows: ctx.clone(),
        intake: intake.clone(),
        links,
        portal,
        look: look.clone(),
    })
}

/// The admin and viewer tokens, and the sandbox's admin token when none is configured.
fn tokens(config: &Config, sandbox: Option<TokenHash>) -> Tokens {
    let mut tokens = config.admin.tokens().map(<[_]>::to_vec).unwrap_or_default();
    tokens.extend(sandbox);
    let secure = config.server.public_url.starts_with("https://");
    Tokens {
        hashes: tokens.into(),
        sessions: std::sync::Arc::new(crate::http::api::Sessions::new(
            config.server.session_hours as i64 * 3600,
            secure,
        )),
    }
}

fn serve(
    listener: TcpListener,
    router: axum::Router,
    config: &crate::http::server::ServerConfig,
    cancel: &CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    let max = crate::http::server::connections_within_file_limit(config.max_connections);
    let server = crate::http::server::serve(listener, router, config.clone(), max, cancel.clone());
    tokio::spawn(server)
}
