//! What Atlassian would refuse to take, known before a run starts where the directory can say:
//! the licence groups an identity provider syncs (with the organisation API, `groups/search`'s
//! `externalSynced`; Atlassian refuses changes to their members), and the accounts an identity
//! provider provisions (`managementSource: synced` in the inventory; Atlassian refuses to
//! deactivate them). Such entries are planned `refused`, with what to do in the identity
//! provider instead; where nothing can say beforehand, the take meets the refusal and reports
//! it per user.

use std::collections::{HashMap, HashSet};

use super::super::Context;
use crate::domain::Product;
use crate::domain::reclaim::{Policy, TakeAction};
use crate::store::Account;

/// The licence groups an identity provider syncs, by product.
#[derive(Debug, Default)]
pub struct Refusing {
    synced: HashMap<Product, Vec<String>>,
}

impl Refusing {
    /// Reads the synced licence groups when an enabled policy removes product access. A
    /// directory that cannot say (or fails to) leaves the takes to meet the refusal.
    pub async fn read(ctx: &Context, policies: &[Policy]) -> Refusing {
        let removes = policies
            .iter()
            .any(|p| p.enabled && p.action == TakeAction::RemoveProductAccess);
        if !removes {
            return Refusing::default();
        }
        let mut calls = ctx.calls();
        let read = async {
            let products = ctx.directory.products(&mut calls).await?;
            let groups: Vec<String> = products
                .iter()
                .flat_map(|p| p.access_groups.iter().cloned())
                .collect();
            let synced: HashSet<String> = ctx
                .directory
                .synced_groups(&groups, &mut calls)
                .await?
                .into_iter()
                .map(|g| g.to_lowercase())
                .collect();
            let mut by_product: HashMap<Product, Vec<String>> = HashMap::new();
            for p in products {
                let held: Vec<String> = p
                    .access_groups
                    .into_iter()
                    .filter(|g| synced.contains(&g.to_lowercase()))
                    .collect();
                if !held.is_empty() {
                    by_product.entry(p.product).or_default().extend(held);
                }
            }
            Ok::<_, crate::directory::DirectoryError>(by_product)
        };
        match read.await {
            Ok(synced) => Refusing { synced },
            Err(e) => {
                tracing::warn!(error = %e, "which licence groups an identity provider syncs could not be read; a removal it refuses is reported when it is tried");
                Refusing::default()
            }
        }
    }

    /// The account's products held through a synced group: (product, that group).
    pub fn synced_access(&self, account: &Account) -> Vec<(Product, String)> {
        let mut out = Vec::new();
        for (product, groups) in &self.synced {
            let through = account
                .groups
                .iter()
                .find(|g| groups.iter().any(|s| s.eq_ignore_ascii_case(g)));
            if let Some(g) = through {
                out.push((*product, g.clone()));
            }
        }
        out
    }
}
