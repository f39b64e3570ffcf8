//! The connectors a configuration names: `directory.kind` finds users and restores every product
//! `[[products]]` does not give another connector; and the inventory's listing, which shares the
//! site's client (one token bucket, restores first) or uses the organisation API when configured.

use std::sync::Arc;

use secrecy::SecretString;

use super::config::{DirectoryConfig, DirectoryKind as K, ProductConfig};
use super::http::{Auth, Http};
use super::inventory::{Lister, OrgLister, SiteLister};
use super::jira::Jira;
use super::{Directory, DirectoryError, confluence, routed};
use crate::domain::GroupInput;

/// The connectors, and the listing of every account for the inventory.
pub struct Connected {
    pub directory: Arc<dyn Directory>,
    pub lister: Arc<dyn Lister>,
}

pub fn connect(
    config: &DirectoryConfig,
    products: &[ProductConfig],
) -> Result<Connected, DirectoryError> {
    let org = org_client(config)?;
    let primary = Arc::new(match config.kind {
        K::JiraCloud => Jira::cloud(config, org.clone())?,
        K::JiraDataCenter => Jira::data_center(config)?,
        other => {
            return Err(DirectoryError::Permanent(format!(
                "{} cannot be the directory; use jira-cloud or jira-data-center",
                other.key()
            )));
        }
    });
    let mut confluence_dc = None;
    let directory: Arc<dyn Directory> = if products.is_empty() {
        primary.clone()
    } else {
        let mut routes = Vec::with_capacity(products.len());
        for p in products {
            let kind = p.connector.unwrap_or(config.kind);
            let connector: Arc<dyn Directory> = if kind == config.kind && p.site_url.is_none() {
                primary.clone()
            } else if matches!(kind, K::ConfluenceCloud | K::ConfluenceDataCenter) {
                let c = confluence::Confluence::new(
                    &own(config, p),
                    p,
                    kind == K::ConfluenceDataCenter,
                )?;
                if kind == K::ConfluenceDataCenter {
                    confluence_dc = Some(c.http());
                }
                Arc::new(c)
            } else {
                let own = own(config, p);
                Arc::new(match kind {
                    K::JiraCloud => Jira::cloud(&own, None)?,
                    _ => Jira::data_center(&own)?,
                })
            };
            routes.push(routed::Route {
                product: p.key,
                connector,
                groups: (!p.groups.is_empty())
                    .then(|| p.groups.iter().cloned().map(GroupInput::into_ref).collect()),
                separate: p.site_url.is_some(),
            });
        }
        Arc::new(routed::Routed::new(primary.clone(), routes))
    };
    let lister: Arc<dyn Lister> = match (org, &config.org_id) {
        (Some(http), Some(org_id)) => Arc::new(OrgLister::new(http, org_id)),
        _ => {
            let dc = config.kind == K::JiraDataCenter;
            Arc::new(SiteLister::new(
                primary.http(),
                dc,
                directory.clone(),
                confluence_dc,
            ))
        }
    };
    Ok(Connected { directory, lister })
}

/// The directory's settings with a product's own instance and token.
fn own(config: &DirectoryConfig, p: &ProductConfig) -> DirectoryConfig {
    match &p.site_url {
        Some(site) => DirectoryConfig {
            site_url: Some(site.clone()),
            api_token: p.api_token.clone().or_else(|| config.api_token.clone()),
            ..config.clone()
        },
        None => config.clone(),
    }
}

/// The organisation API's client (Cloud with `org_id` and `org_api_key`), shared by the
/// listing and the reactivation of suspended accounts.
fn org_client(config: &DirectoryConfig) -> Result<Option<Arc<Http>>, DirectoryError> {
    match (&config.org_id, &config.org_api_key, config.kind.is_cloud()) {
        (Some(_), Some(key), true) => {
            let auth = Auth::Bearer(SecretString::from(
                secrecy::ExposeSecret::expose_secret(key).to_string(),
            ));
            Ok(Some(Arc::new(Http::new(
                &config.admin_api_url,
                auth,
                config,
            )?)))
        }
        _ => Ok(None),
    }
}
