//! The HTTP surface's parts, as this process's role serves them: the receivers (hooks, links,
//! the portal) and the state's (admin API, console), and how they look.

use std::sync::Arc;

use super::StartError;
use crate::bus::once::UseOnce;
use crate::config::Config;
use crate::directory::config::DirectoryKind;
use crate::flows::{Context, Intake};
use crate::http::api::{Api, TokenHash, Tokens};
use crate::http::console::Console;
use crate::http::hooks::Hooks;
use crate::http::page::Look;
use crate::http::public::{Public, portal::Portal};
use crate::links::LinkSettings;
use crate::sandbox::SandboxCredentials;
use crate::sources::signature::WebhookSecret;
use crate::store::Store;

/// What the receivers need.
pub(super) struct Receiving<'a> {
    pub intake: &'a Intake,
    pub links: Option<Arc<LinkSettings>>,
    pub link_uses: Arc<dyn UseOnce>,
    /// The store, where this process keeps the state (a link's page then shows the outcome).
    pub store: Option<Store>,
    /// The sandbox's signing secret, when the sandbox adds one.
    pub sandbox_secret: Option<WebhookSecret>,
}

/// The receivers: webhooks, email links and the portal.
pub(super) fn receivers(
    config: &Config,
    r: Receiving<'_>,
    look: &Arc<Look>,
) -> Result<(Hooks, Public), StartError> {
    let sources = &config.sources;
    let problem = |e: &crate::domain::Problems| StartError::Config(e.clone());
    let hooks = Hooks {
        intake: r.intake.clone(),
        login: sources.login.source(r.sandbox_secret),
        okta: sources.okta.source(),
        keycloak: sources.keycloak.source().map_err(problem)?.cloned(),
        slack: sources.slack.source().map_err(problem)?.cloned(),
        mail: sources.mail.source().map_err(problem)?.cloned(),
        teams: match sources.teams.source().map_err(problem)? {
            Some(source) => {
                let timeout = std::time::Duration::from_millis(config.directory.request_timeout_ms);
                let keys = crate::directory::botframework::BotKeys::new(
                    &sources.teams.openid_metadata_url,
                    timeout,
                )?;
                Some(crate::flows::teams::Verifier::new(source.clone(), keys))
            }
            None => None,
        },
        jsm: sources.jsm.source().map_err(problem)?.cloned(),
    };
    let portal = match (&r.links, config.portal.enabled) {
        (Some(links), true) => Some(Arc::new(Portal::new(
            &config.portal,
            &config.server.public_url,
            look.clone(),
            links.keys.derive("portal form tokens"),
        )?)),
        _ => None,
    };
    let public = Public {
        intake: r.intake.clone(),
        link_uses: r.link_uses,
        store: r.store,
        links: r.links,
        portal,
        look: look.clone(),
    };
    Ok((hooks, public))
}

/// The admin API and the console.
pub(super) fn state(
    config: &Config,
    ctx: &Arc<Context>,
    intake: &Intake,
    sandbox_token: Option<TokenHash>,
    look: &Arc<Look>,
) -> (Api, Console) {
    let tokens = tokens(config, &ctx.store, sandbox_token);
    let api = Api {
        flows: ctx.clone(),
        intake: intake.clone(),
        tokens: tokens.clone(),
    };
    let console = Console {
        flows: ctx.clone(),
        intake: intake.clone(),
        tokens,
        look: look.clone(),
    };
    (api, console)
}

/// Email links: the configured keys, else the sandbox's; none without either.
pub(super) fn link_settings(
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

/// How the console and the public pages look, and where Atlassian administration shows a user.
pub(super) fn look(config: &Config) -> Look {
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
    Look {
        organisation: config.server.organisation_name.clone(),
        logo_url: config.server.logo_url.clone(),
        edit_user,
        spelling: config.server.spelling(),
    }
}

/// The admin and viewer tokens, and the sandbox's admin token when none is configured.
fn tokens(config: &Config, store: &Store, sandbox: Option<TokenHash>) -> Tokens {
    let mut tokens = config.admin.tokens().map(<[_]>::to_vec).unwrap_or_default();
    tokens.extend(sandbox);
    let secure = config.server.public_url.starts_with("https://");
    let lifetimes = crate::http::api::Lifetimes {
        ttl_secs: config.server.session_hours as i64 * 3600,
        idle_secs: config.server.session_idle_minutes as i64 * 60,
    };
    Tokens {
        hashes: tokens.into(),
        sessions: Arc::new(crate::http::api::Sessions::new(
            store.clone(),
            lifetimes,
            secure,
            config.portal.clients(),
        )),
    }
}
