//! Builds the application from a configuration and an already-bound listener (tests bind
//! port 0), and runs the HTTP server and the workers under one cancellation token.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Role, TokenHash};
use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::bus::nats::NatsBus;
use crate::config::{Config, DirectoryKind};
use crate::directory::Directory;
use crate::directory::sandbox::Sandbox;
use crate::http_error::{self, ApiError};
use crate::ingress::{self, LoginSource};
use crate::sandbox::{self, SandboxCredentials};
use crate::signature::WebhookSecret;
use crate::store::Store;
use crate::worker::{self, WorkerContext, WorkerSettings};

/// Shared by every handler.
pub struct AppState {
    pub metrics: Arc<crate::metrics::Metrics>,
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub directory: Arc<dyn Directory>,
    pub login: LoginSource,
    pub tokens: Vec<TokenHash>,
    /// Email links, when keys are configured (or in the sandbox).
    pub links: Option<Arc<crate::links::LinkSettings>>,
    /// The portal, when enabled and links are available.
    pub portal: Option<Arc<crate::portal::Portal>>,
    /// Jira Service Management requests, when configured.
    pub jsm: Option<crate::jsm::JsmSource>,
    /// Okta Event Hooks, when configured.
    pub okta: Option<crate::ingress::okta::OktaSource>,
    /// Keycloak webhooks, when configured.
    pub keycloak: Option<crate::ingress::keycloak::KeycloakSource>,
}

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
    #[error("{0}")]
    Config(String),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    addr: std::net::SocketAddr,
    cancel: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    workers: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    sender: Option<JoinHandle<()>>,
    grace: Duration,
    store: Store,
    sandbox: Option<SandboxCredentials>,
    bus_kind: &'static str,
}

impl Application {
    pub async fn build(config: Config, listener: TcpListener) -> Result<Application, StartError> {
        let store = Store::open_with(&config.store.path, config.store.min_free_mb << 20)?;
        let cancel = CancellationToken::new();

        let mut secrets = config
            .sources
            .login
            .secrets
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect::<Vec<_>>();
        let hashes = |key: &str, list: &[String], role: Role| {
            list.iter()
                .map(|h| {
                    let bytes = hex::decode(h)
                        .map_err(|_| StartError::Config(format!("{key}: not hex")))?;
                    let sha256 = <[u8; 32]>::try_from(bytes)
                        .map_err(|_| StartError::Config(format!("{key}: not 32 bytes")))?;
                    Ok(TokenHash { sha256, role })
                })
                .collect::<Result<Vec<_>, StartError>>()
        };
        let mut tokens = hashes(
            "admin.token_sha256",
            &config.admin.token_sha256,
            Role::Admin,
        )?;
        tokens.extend(hashes(
            "admin.viewer_token_sha256",
            &config.admin.viewer_token_sha256,
            Role::Viewer,
        )?);
        let sandbox = if config.is_sandbox() {
            let creds = sandbox::load_or_create(&config.store.path).map_err(|source| {
                StartError::Sandbox {
                    path: config.store.path.display().to_string(),
                    source,
                }
            })?;
            if secrets.is_empty() {
                secrets.push(creds.login_secret.clone());
            }
            if !tokens.iter().any(|t| t.role == Role::Admin) {
                tokens.push(TokenHash {
                    sha256: Sha256::digest(creds.admin_token.as_bytes()).into(),
                    role: Role::Admin,
                });
            }
            if store.rules()?.version == 0 {
                store
                    .replace_rules(sandbox::starter_rules(), "sandbox")
                    .await?;
            }
            Some(creds)
        } else {
            None
        };
        let secrets = secrets
            .iter()
            .map(|s| {
                WebhookSecret::parse(s)
                    .map_err(|e| StartError::Config(format!("sources.login.secrets: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let ring = match config.links.key_ring().map_err(StartError::Config)? {
            Some(ring) => Some(ring),
            None => match &sandbox {
                Some(creds) => Some(creds.link_keys().map_err(StartError::Config)?),
                None => None,
            },
        };
        let links = ring.map(|keys| {
            Arc::new(crate::links::LinkSettings {
                keys,
                ttl: Duration::from_secs(config.links.ttl_hours * 3600),
                public_url: config.server.public_url.clone(),
            })
        });
        let portal = match (&links, config.portal.enabled) {
            (Some(_), true) => Some(Arc::new(
                crate::portal::Portal::new(&config.portal, &config.server.public_url)
                    .map_err(StartError::Config)?,
            )),
            _ => None,
        };
        let bus: Arc<dyn Bus> = match &config.bus.nats_url {
            Some(url) => Arc::new(
                NatsBus::connect(&config.bus, url, config.worker.concurrency, cancel.clone())
                    .await?,
            ),
            None => Arc::new(EmbeddedBus::open(&store, cancel.clone())?),
        };
        let directory: Arc<dyn Directory> = match config.directory.kind {
            DirectoryKind::Sandbox => Arc::new(Sandbox::open(store.db())?),
            _ => crate::directory::connect(&config.directory, &config.products)?,
        };

        let metrics = Arc::new(crate::metrics::Metrics::new());
        let state = Arc::new(AppState {
            metrics: metrics.clone(),
            store: store.clone(),
            bus: bus.clone(),
            directory: directory.clone(),
            login: LoginSource {
                secrets,
                tolerance_secs: config.sources.login.tolerance_secs as i64,
            },
            tokens,
            links: links.clone(),
            portal: portal.clone(),
            jsm: match config.sources.jsm.secrets.is_empty() {
                true => None,
                false => Some(
                    crate::jsm::JsmSource::new(&config.sources.jsm).map_err(StartError::Config)?,
                ),
            },
            okta: (!config.sources.okta.secrets.is_empty())
                .then(|| crate::ingress::okta::OktaSource::new(&config.sources.okta)),
            keycloak: match config.sources.keycloak.secrets.is_empty() {
                true => None,
                false => Some(
                    crate::ingress::keycloak::KeycloakSource::new(&config.sources.keycloak)
                        .map_err(StartError::Config)?,
                ),
            },
        });
        let ctx = Arc::new(WorkerContext {
            metrics: metrics.clone(),
            links: links.clone(),
            store: store.clone(),
            directory,
            config: WorkerSettings::new(&config),
        });
        let workers = match config.worker.concurrency {
            0 => tokio::spawn(async {}),
            _ => tokio::spawn(worker::run(ctx, bus.clone(), cancel.clone())),
        };
        // Stops at the next tick once cancelled; its position is saved only after publishing.
        if let Some(poller) = crate::ingress::atlassian_audit::Poller::new(
            &config.sources.atlassian_audit,
            &config.directory,
        )
        .map_err(StartError::Config)?
        {
            tokio::spawn(poller.run(state.clone(), cancel.clone()));
        }
        let retention = Duration::from_secs(config.worker.processed_ttl_days * 86_400);
        let request_sweep = RequestSweep {
            portal: portal.clone(),
            config: config.requests.clone(),
            admins: config.alerts.emails.clone(),
            public_url: config.server.public_url.clone(),
        };
        let sweeper = tokio::spawn(sweep(
            store.clone(),
            bus.clone(),
            retention,
            request_sweep,
            cancel.clone(),
        ));
        let sender = match &config.smtp.url {
            Some(url) => {
                let mailer =
                    crate::notify::sender::mailer(&config.smtp, url).map_err(StartError::Config)?;
                let from = config
                    .smtp
                    .from
                    .parse()
                    .map_err(|e| StartError::Config(format!("smtp.from: {e}")))?;
                Some(tokio::spawn(crate::notify::sender::run(
                    store.clone(),
                    mailer,
                    from,
                    metrics.clone(),
                    cancel.clone(),
                )))
            }
            None => None,
        };

        let addr = listener.local_addr()?;
        let shutdown = cancel.clone();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
        });
        tracing::info!(%addr, bus = bus.kind(), directory = ?config.directory.kind, "reinstate listening");
        Ok(Application {
            addr,
            cancel,
            server,
            workers,
            sweeper,
            sender,
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
    /// The sandbox's credentials, when running as the sandbox.
    pub fn sandbox(&self) -> Option<&SandboxCredentials> {
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
        let (workers, sweeper, sender) = (self.workers, self.sweeper, self.sender);
        // Stop accepting, let in-flight requests and events finish (the rest is handed back to
        // the bus), finish the email being sent — within the grace period.
        let drain = async move {
            let served = match early {
                Some(result) => result,
                None => server.await,
            };
            let _ = workers.await;
            let _ = sweeper.await;
            if let Some(sender) = sender {
                let _ = sender.await;
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

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::serve))
        .route("/api/v1/openapi.json", get(crate::openapi::serve))
        .route("/v1/hooks/login", post(ingress::login))
        .route(
            "/v1/links/{token}",
            get(crate::links::confirm).post(crate::links::redeem),
        )
        .route("/portal", get(crate::portal::show).post(crate::portal::ask))
        .route("/v1/hooks/jira", post(crate::jsm::hook))
        .route(
            "/v1/hooks/okta",
            get(crate::ingress::okta::verify).post(crate::ingress::okta::hook),
        )
        .route("/v1/hooks/keycloak", post(crate::ingress::keycloak::hook))
        .route(
            "/api/v1/rules",
            get(admin::rules::get).put(admin::rules::put),
        )
        .route("/api/v1/rules/explain", post(admin::rules::explain))
        .route("/api/v1/rules/simulate", post(admin::rules::simulate))
        .route("/api/v1/audit", get(admin::audit::list))
        .route("/api/v1/audit.csv", get(admin::audit::csv))
        .route("/api/v1/requests", get(admin::requests::list))
        .route(
            "/api/v1/requests/{id}/approve",
            post(admin::requests::approve),
        )
        .route("/api/v1/requests/{id}/deny", post(admin::requests::deny))
        .route("/api/v1/users/{email}", get(admin::users::user))
        .route("/api/v1/reclaimed", post(admin::users::reclaimed))
        .fallback(http_error::not_found)
        .method_not_allowed_fallback(http_error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(
    State(state): State<Arc<AppState>>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let probe = async {
        state
            .store
            .probe()
            .await
            .map_err(|e| format!("store: {e}"))?;
        state.bus.ready().await.map_err(|e| format!("bus: {e}"))
    };
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(())) => Ok(axum::Json(
            serde_json::json!({ "status": "ready", "bus": state.bus.kind(), "outbox": state.store.outbox_len() }),
        )),
        Ok(Err(detail)) => Err(ApiError {
            retry_after: None,
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail)
        }),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "readiness probe timed out",
        )),
    }
}

/// Housekeeping: waiting requests every `requests.check_every` (expiry, reminders); hourly,
/// processed-event ids past their expiry and the bus's old dedupe records.
async fn sweep(
    store: Store,
    bus: Arc<dyn Bus>,
    retention: Duration,
    requests: RequestSweep,
    cancel: CancellationToken,
) {
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        match crate::worker::requests::sweep(
            &store,
            &requests.config,
            &requests.admins,
            &requests.public_url,
        )
        .await
        {
            Ok((0, 0)) => {}
            Ok((expired, reminded)) => {
                tracing::info!(expired, reminded, "waiting requests checked")
            }
            Err(e) => tracing::warn!(error = %e, "could not check waiting requests"),
        }
        if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_purge = Some(std::time::Instant::now());
            if let Some(portal) = &requests.portal {
                portal.shrink();
            }
            match bus.sweep(retention) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired bus dedupe records removed"),
                Err(e) => tracing::warn!(error = %e, "could not purge bus dedupe records"),
            }
            match store.purge_expired_processed(time::OffsetDateTime::now_utc()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired processed-event records removed"),
                Err(e) => tracing::warn!(error = %e, "could not purge processed-event records"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(requests.config.check_every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// What the request sweep needs.
struct RequestSweep {
    portal: Option<Arc<crate::portal::Portal>>,
    config: crate::config::RequestsConfig,
    admins: Vec<String>,
    public_url: String,
}
