//! Which group gives which product: the directory's licence groups held against an account's
//! groups. It is the one definition the console shows beside the inventory's *licensed* and the
//! one the actions take by (`flows::reclaim::act` removes exactly these groups), so that a page
//! never offers to take what no action can.

use super::super::{Context, FlowError};
use crate::directory::CallLog;
use crate::domain::Product;
use crate::store::Account;

/// One product of an account: whether the inventory lists its licence, the account's groups
/// that give it, and whether reinstate can take it back (and why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub key: String,
    pub licensed: bool,
    pub groups: Vec<String>,
    /// Why reinstate cannot take it back by group; `None` when it can (or nothing is held).
    pub cannot: Option<String>,
}

/// Every product the account holds or is in a licence group of.
pub async fn of(ctx: &Context, account: &Account) -> Result<Vec<Access>, FlowError> {
    Ok(Products::read(ctx).await?.of(account))
}

/// The directory's products and their licence groups, read once for many accounts.
pub struct Products {
    known: Vec<crate::directory::ProductAccess>,
    kind: &'static str,
}

impl Products {
    pub async fn read(ctx: &Context) -> Result<Products, FlowError> {
        let mut calls = CallLog::background(ctx.metrics.clone(), "inventory");
        Ok(Products {
            known: ctx.directory.products(&mut calls).await?,
            kind: ctx.directory.kind(),
        })
    }

    /// Every product the account holds or is in a licence group of.
    pub fn of(&self, account: &Account) -> Vec<Access> {
        given(&self.known, self.kind, account)
    }
}

fn given(known: &[crate::directory::ProductAccess], kind: &str, account: &Account) -> Vec<Access> {
    let member = |name: &str| account.groups.iter().any(|g| g.eq_ignore_ascii_case(name));
    let mut out: Vec<Access> = Vec::new();
    for access in known {
        let key = access.product.key().to_string();
        let groups: Vec<String> = access
            .access_groups
            .iter()
            .filter(|g| member(g))
            .cloned()
            .collect();
        let licensed = account.products.get(&key).is_some_and(|u| u.licensed);
        if !licensed && groups.is_empty() {
            continue;
        }
        let cannot = (licensed && groups.is_empty()).then(|| {
            format!(
                "in none of the groups that give {} ({}): its licence comes some other way, or the directory's listing is older than its groups; reinstate cannot take it back by group",
                access.product.name(),
                access
                    .access_groups
                    .iter()
                    .map(|g| format!("{g:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        out.push(Access {
            key,
            licensed,
            groups,
            cannot,
        });
    }
    for (key, used) in account.products.iter().filter(|(_, u)| u.licensed) {
        if out.iter().any(|a| a.key == *key) {
            continue;
        }
        out.push(Access {
            key: key.clone(),
            licensed: used.licensed,
            groups: Vec::new(),
            cannot: Some(format!(
                "the {} directory does not say which groups give {}: reinstate cannot take it back (a [[products]] entry for it would)",
                kind,
                Product::from_key(key).map_or(key.clone(), |p| p.name().to_string())
            )),
        });
    }
    out
}

/// Why an action on `product` (every product when `None`) cannot act on the account, when it
/// cannot: it holds nothing there that reinstate can take back.
pub fn cannot_take(access: &[Access], product: Option<Product>) -> Option<String> {
    let concerned: Vec<&Access> = access
        .iter()
        .filter(|a| product.is_none_or(|p| p.key() == a.key))
        .collect();
    if concerned.iter().any(|a| !a.groups.is_empty()) {
        return None;
    }
    let why: Vec<String> = concerned.iter().filter_map(|a| a.cannot.clone()).collect();
    Some(if why.is_empty() {
        match product {
            Some(p) => format!("holds no {} licence", p.name()),
            None => "holds no licence reinstate can take".into(),
        }
    } else {
        why.join("; ")
    })
}

/// The groups reinstate knows exist: those the inventory's accounts are in, the administrators'
/// groups of the configuration and the products' licence groups, sorted (for a group picker, and to check a group typed before a job starts).
pub async fn known_groups(ctx: &Context) -> Result<Vec<String>, FlowError> {
    let mut names: std::collections::BTreeMap<String, String> = Default::default();
    {
        // Borrowed while the inventory is walked (tens of thousands of accounts, a few
        // distinct groups): one allocation per distinct name, not per membership.
        let accounts = ctx.store.accounts()?;
        let distinct: std::collections::BTreeSet<&str> = accounts
            .accounts()
            .filter(|a| a.status != crate::domain::AccountStatus::Gone)
            .flat_map(|a| a.groups.iter().map(String::as_str))
            .collect();
        for g in distinct {
            names
                .entry(g.to_lowercase())
                .or_insert_with(|| g.to_string());
        }
    }
    // The administrators' groups the configuration names exist too.
    for g in ctx.settings.reclaim.admin_group_names() {
        names.entry(g.to_lowercase()).or_insert(g);
    }
    let mut calls = CallLog::background(ctx.metrics.clone(), "inventory");
    // The licence groups are a help, not a need: a directory that cannot say leaves the rest.
    if let Ok(products) = ctx.directory.products(&mut calls).await {
        for g in products.iter().flat_map(|p| &p.access_groups) {
            names.entry(g.to_lowercase()).or_insert_with(|| g.clone());
        }
    }
    Ok(names.into_values().collect())
}

/// Groups, and when they were walked.
type Walked = Option<(std::time::Instant, Vec<String>)>;

/// The known groups as last walked, and when (shared by the clones of the inventory).
#[derive(Debug, Default, Clone)]
pub struct GroupsCache(std::sync::Arc<std::sync::Mutex<Walked>>);

/// How long the picker's groups are kept: walking every account for every page would cost as
/// much as the page's own query.
const SUGGESTED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// The groups the console offers in its group field: `known_groups`, at most a minute old (the
/// check before a job starts reads them fresh).
pub async fn suggested_groups(ctx: &Context) -> Vec<String> {
    let cache = &ctx.inventory.groups.0;
    if let Ok(held) = cache.lock()
        && let Some((at, groups)) = held.as_ref()
        && at.elapsed() < SUGGESTED_FOR
    {
        return groups.clone();
    }
    let groups = known_groups(ctx).await.unwrap_or_default();
    if let Ok(mut held) = cache.lock() {
        *held = Some((std::time::Instant::now(), groups.clone()));
    }
    groups
}
