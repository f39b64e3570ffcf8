//! `reinstate rules export|import`: rules as a file, for admins who keep them in git. Both go
//! through the admin API of a running reinstate (which owns the state).

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Config;
use crate::domain::rules::RuleList;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Prints the live rules as JSON (`{"rules": [...]}`), to save and keep in git.
    Export {
        #[command(flatten)]
        target: Target,
    },
    /// Replaces the live rules with those in a file, after the same validation as the API.
    Import {
        /// The rules file (`{"rules": [...]}`).
        file: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

/// Which reinstate, and with which token.
#[derive(clap::Args)]
pub struct Target {
    /// Configuration of the target: its `server.public_url` is used.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Base URL of the target, overriding the configuration.
    #[arg(long)]
    url: Option<String>,
    /// Admin token (viewer tokens may export); the sandbox's by default.
    #[arg(long, env = "REINSTATE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Target {
    fn resolve(self) -> Result<(String, String), String> {
        let config = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        let token = match self.token {
            Some(t) => t,
            None => crate::sandbox::load(&config.store.path)
                .map(|c| c.admin_token)
                .ok_or("no token: pass --token or set REINSTATE_ADMIN_TOKEN")?,
        };
        let url = self.url.unwrap_or(config.server.public_url);
        Ok((format!("{}/api/v1/rules", url.trim_end_matches('/')), token))
    }
}

pub async fn run(command: RulesCommand) -> Result<(), String> {
    let http = reqwest::Client::new();
    match command {
        RulesCommand::Export { target } => {
            let (url, token) = target.resolve()?;
            let response = http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = response.status();
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!(
                    "GET {url} → {status}: {}",
                    body["detail"].as_str().unwrap_or_default()
                ));
            }
            let list = serde_json::json!({ "rules": body["rules"] });
            println!(
                "{}",
                serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
            );
            eprintln!(
                "exported version {} ({} rules)",
                body["version"],
                body["rules"].as_array().map_or(0, Vec::len)
            );
            Ok(())
        }
        RulesCommand::Import { file, target } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            // Same validation as the API, before anything is sent.
            let list = RuleList::parse(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
            let (url, token) = target.resolve()?;
            let response = http
                .put(&url)
                .bearer_auth(token)
                .json(&list)
                .send()
                .await
                .map_err(|e| format!("PUT {url}: {e}"))?;
            let status = response.status();
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("PUT {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!(
                    "PUT {url} → {status}: {}",
                    body["detail"].as_str().unwrap_or_default()
                ));
            }
            eprintln!(
                "imported {} rules as version {}",
                list.rules.len(),
                body["version"]
            );
            Ok(())
        }
    }
}
