//! Subcommands of the `reinstate` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use crate::config::Config;
use crate::domain::{Email, Product};
use crate::sources::signature::WebhookSecret;

mod rules;

/// Gives Atlassian users their product licence back, without an admin ticket, when the
/// organisation's rules allow it.
#[derive(Parser)]
#[command(name = "reinstate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Prints a signed email link for a user (keep, restore or request), for admins.
    Link {
        #[command(subcommand)]
        command: LinkCommand,
    },
    /// Validates a configuration (file and REINSTATE__ variables) and reports every problem at once.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Measures decisions and simulations, each next to a baseline from the same run (run it
    /// from a release build).
    Bench {
        /// What to measure: `rules`, `ingress`, `pipeline`, `state`, `inventory`, `reclaim`,
        /// `console`, or `all`.
        what: String,
        /// A short run that only proves the benchmark works.
        #[arg(long)]
        quick: bool,
    },
    /// Exports or imports the rules of a running reinstate, for admins who keep rules in git.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Runs the service: webhook receivers, workers and the admin API. With no configuration it
    /// starts the sandbox, a complete single-node demo with a simulated Jira site.
    Serve {
        /// TOML configuration file; `REINSTATE__SECTION__KEY` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Sends a correctly signed login event to a running reinstate (the sandbox by default),
    /// as an identity provider would.
    SendLogin(SendLogin),
}

pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Link {
            command:
                LinkCommand::Create {
                    email,
                    purpose,
                    product,
                    config,
                },
        } => report(
            "link",
            create_link(&email, &purpose, product.as_deref(), config.as_deref()),
        ),
        Command::CheckConfig { config } => check_config(config),
        Command::Rules { command } => run_async("rules", rules::run(command)),
        Command::SendLogin(args) => run_async("send-login", send_login(args)),
        Command::Bench { what, quick } => {
            if !crate::bench::NAMES.contains(&what.as_str()) {
                eprintln!(
                    "reinstate bench: {what:?} is not a benchmark; try one of {}",
                    crate::bench::NAMES.join(", ")
                );
                return ExitCode::from(2);
            }
            report(
                "bench",
                crate::bench::run(&what, crate::bench::Options { quick })
                    .map_err(|e| e.to_string()),
            )
        }
    }
}

/// Runs a subcommand's future on a fresh runtime.
fn run_async(name: &str, work: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    report(name, runtime().and_then(|rt| rt.block_on(work)))
}

fn report(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reinstate {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if config.log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Creates a link with the configured active key (the sandbox's by default).
    Create {
        /// The user the link is for.
        #[arg(long)]
        email: String,
        /// keep, restore or request.
        #[arg(long)]
        purpose: String,
        /// jira-software, confluence or jira-servicedesk; absent = every product the rules allow.
        #[arg(long)]
        product: Option<String>,
        /// Configuration: `[links]` keys, `server.public_url`.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn create_link(
    email: &str,
    purpose: &str,
    product: Option<&str>,
    config: Option<&std::path::Path>,
) -> Result<(), String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let email = Email::parse(email).map_err(|e| e.to_string())?;
    let purpose = crate::links::Purpose::parse(purpose)
        .ok_or_else(|| format!("--purpose {purpose:?}: expected keep, restore or request"))?;
    let product = product
        .map(|p| {
            Product::from_key(p).ok_or_else(|| {
                format!("--product {p:?}: expected jira-software, confluence or jira-servicedesk")
            })
        })
        .transpose()?;
    let keys = match config.links.key_ring().map_err(|e| e.to_string())? {
        Some(keys) => keys.clone(),
        None => crate::sandbox::load(&config.store.path)
            .ok_or("no link keys: configure [links] keys and active, or start the sandbox first")?
            .link_keys()
            .map_err(|e| e.to_string())?,
    };
    let settings = config.links.settings(keys, &config.server.public_url);
    println!("{}", settings.create(&email, purpose, product, None));
    Ok(())
}

fn check_config(path: Option<PathBuf>) -> ExitCode {
    match Config::load(path.as_deref()) {
        Ok(c) => {
            println!(
                "configuration is valid: role {}, directory {:?}, bus {}, {} login secret(s), {} admin and {} viewer token(s), email {}",
                c.server.role.key(),
                c.directory.kind,
                if c.bus.nats_url.is_some() {
                    "nats"
                } else {
                    "embedded"
                },
                c.sources.login.secrets.len(),
                c.admin.token_sha256.len(),
                c.admin.viewer_token_sha256.len(),
                if c.smtp.url.is_some() { "on" } else { "off" },
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reinstate: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reinstate: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let result = runtime().and_then(|rt| rt.block_on(run_server(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reinstate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(config: Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| format!("server.listen {}: {e}", config.server.listen))?;
    let public_url = config.server.public_url.clone();
    let store_path = config.store.path.clone();
    let app = crate::Application::build(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(creds) = app.sandbox() {
        let url = local_url(&public_url, app.addr());
        print_banner(&url, &store_path, app.bus_kind(), creds);
    }
    let cancel = app.cancel_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; draining");
        cancel.cancel();
    });
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Where this process answers on this machine: `server.public_url` when it names the port
/// listened on, else the listening address itself (a changed `server.listen` alone).
fn local_url(public_url: &str, addr: std::net::SocketAddr) -> String {
    let same_port = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        == Some(addr.port());
    if same_port {
        return public_url.trim_end_matches('/').to_string();
    }
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// The sandbox's banner: only the credentials this process accepts (a configured login secret
/// or admin token replaces the sandbox's, which are then not shown).
fn print_banner(url: &str, store: &std::path::Path, bus: &str, sandbox: &crate::SandboxInUse) {
    let creds = &sandbox.credentials;
    let users: Vec<String> = crate::directory::simulated::USERS
        .iter()
        .map(|(email, _, groups)| {
            let licensed = groups.contains(&"jira-software-users");
            format!(
                "      {email:<34} {}",
                if licensed {
                    "has Jira Software"
                } else {
                    "no licence"
                }
            )
        })
        .collect();
    let secret = if sandbox.login_secret {
        creds.login_secret.as_str()
    } else {
        "(the configured sources.login.secrets)"
    };
    let (token, audit) = if sandbox.admin_token {
        let curl = format!(
            "curl -H 'Authorization: Bearer {}' '{url}/api/v1/audit?user=grace@example.com'",
            creds.admin_token
        );
        (creds.admin_token.as_str(), curl)
    } else {
        let curl = format!(
            "curl -H 'Authorization: Bearer <your admin token>' '{url}/api/v1/audit?user=grace@example.com'"
        );
        ("(the configured admin.token_sha256)", curl)
    };
    let send = if sandbox.login_secret {
        "reinstate send-login --email grace@example.com --product jira-software".to_string()
    } else {
        "reinstate send-login --secret <a configured secret> --email grace@example.com --product jira-software"
            .to_string()
    };
    println!(
        "\nreinstate sandbox — a simulated Jira site, {bus} queue, state in {store}\n\
         \n  console          {url}/console   (open it; sign in with the admin token)\n\
         \n  listening on     {url}\n  login secret     {secret}\n  admin token      {token}\n\
         \n  sandbox users:\n{users}\n\
         \n  try it:\n      {send}\n      {audit}\n\
         \n  (sandbox credentials are kept in {creds_path}; never use them outside the sandbox)\n",
        store = store.display(),
        users = users.join("\n"),
        creds_path = crate::sandbox::credentials_path(store).display(),
    );
}

#[derive(clap::Args)]
pub struct SendLogin {
    /// Email of the user who logged in.
    #[arg(long)]
    pub email: String,
    /// Product logged in to (jira-software, confluence, jira-servicedesk); absent = any.
    #[arg(long)]
    pub product: Option<String>,
    /// Atlassian account id, when known.
    #[arg(long)]
    pub account_id: Option<String>,
    /// A role the identity provider reports (repeatable).
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Configuration of the target: its `server.public_url` and first login secret are used.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Base URL of the target, overriding the configuration.
    #[arg(long)]
    pub url: Option<String>,
    /// Signing secret (`whsec_…`), overriding the configuration and the sandbox's.
    #[arg(long, env = "REINSTATE_LOGIN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

async fn send_login(args: SendLogin) -> Result<(), String> {
    let config = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    let email = Email::parse(&args.email).map_err(|e| e.to_string())?;
    if let Some(p) = &args.product {
        Product::from_key(p).ok_or_else(|| {
            format!("--product {p:?}: expected jira-software, confluence or jira-servicedesk")
        })?;
    }
    let secret = match args.secret {
        Some(s) => s,
        None => match config.sources.login.secrets.first() {
            Some(s) => s.expose_secret().to_string(),
            None => crate::sandbox::load(&config.store.path)
                .map(|c| c.login_secret)
                .ok_or_else(|| {
                    format!(
                        "no signing secret: pass --secret, or configure sources.login.secrets, or start the sandbox first (it keeps its secret in {})",
                        crate::sandbox::credentials_path(&config.store.path).display()
                    )
                })?,
        },
    };
    let key = WebhookSecret::parse(&secret).map_err(|e| format!("signing secret: {e}"))?;
    let base = args.url.unwrap_or(config.server.public_url);
    let now = OffsetDateTime::now_utc();
    let mut user = serde_json::json!({ "email": email.as_str(), "roles": args.roles });
    if let Some(id) = args.account_id {
        user["account_id"] = id.into();
    }
    let mut body = serde_json::json!({
        "type": "login.succeeded",
        "user": user,
        "occurred_at": now.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?,
    });
    if let Some(p) = args.product {
        body["product"] = p.into();
    }
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    let id = format!("msg_{}", hex::encode(nonce));
    let ts = now.unix_timestamp();
    let url = format!("{}/v1/hooks/login", base.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header(crate::sources::signature::HEADER_ID, &id)
        .header(crate::sources::signature::HEADER_TIMESTAMP, ts.to_string())
        .header(
            crate::sources::signature::HEADER_SIGNATURE,
            key.sign(&id, ts, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("POST {url} → {status} {text}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the login event was not accepted ({status})"))
    }
}
