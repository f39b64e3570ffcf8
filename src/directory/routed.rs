//! `[[products]]`: each product restored through its own connector, with its own groups. The
//! `directory` connector finds users and answers for Service Management; the others share its
//! user identity (the Atlassian account on Cloud, the username on Data Center).

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Added, CallLog, Directory, DirectoryError, DirectoryUser, JsmRequest, ProductAccess, Removed,
    Standing,
};
use crate::domain::Seats;
use crate::domain::{Email, GroupRef, Product};

/// How one product is restored.
pub struct Route {
    pub product: Product,
    pub connector: Arc<dyn Directory>,
    /// Configured groups, replacing the site's defaults.
    pub groups: Option<Vec<GroupRef>>,
    /// On an instance of its own (its groups are asked there too).
    pub separate: bool,
}

pub struct Routed {
    primary: Arc<dyn Directory>,
    routes: Vec<Route>,
}

impl Routed {
    pub fn new(primary: Arc<dyn Directory>, routes: Vec<Route>) -> Routed {
        Routed { primary, routes }
    }

    /// The user's groups on the instances of their own (`[[products]] site_url`).
    async fn separate_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut groups = Vec::new();
        for route in self.routes.iter().filter(|r| r.separate) {
            groups.extend(route.connector.user_groups(account_id, calls).await?);
        }
        Ok(groups)
    }

    fn connector(&self, product: Product) -> &Arc<dyn Directory> {
        self.routes
            .iter()
            .find(|r| r.product == product)
            .map_or(&self.primary, |r| &r.connector)
    }
}

#[async_trait]
impl Directory for Routed {
    fn kind(&self) -> &'static str {
        self.primary.kind()
    }

    async fn find_user(
        &self,
        account_id: Option<&str>,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let mut user = self.primary.find_user(account_id, email, calls).await?;
        if let Some(u) = &mut user
            && let Some(groups) = &mut u.groups
        {
            groups.extend(self.separate_groups(&u.account_id, calls).await?);
        }
        Ok(user)
    }

    fn has_usernames(&self) -> bool {
        self.primary.has_usernames()
    }

    fn why_unfound(&self) -> Option<&'static str> {
        self.primary.why_unfound()
    }

    async fn group_members(
        &self,
        group: &str,
        calls: &mut CallLog,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        self.primary.group_members(group, calls).await
    }

    async fn admin_roles(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        self.primary.admin_roles(account_id, calls).await
    }

    async fn synced_groups(
        &self,
        groups: &[String],
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        // Groups are the organisation's: the primary's organisation API answers for both.
        self.primary.synced_groups(groups, calls).await
    }

    async fn find_by_username(
        &self,
        username: &str,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.primary.find_by_username(username, calls).await
    }

    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut groups = self.primary.user_groups(account_id, calls).await?;
        groups.extend(self.separate_groups(account_id, calls).await?);
        Ok(groups)
    }

    async fn products(&self, calls: &mut CallLog) -> Result<Vec<ProductAccess>, DirectoryError> {
        let mut out = Vec::with_capacity(self.routes.len());
        for route in &self.routes {
            let found = route
                .connector
                .products(calls)
                .await?
                .into_iter()
                .find(|p| p.product == route.product);
            let mut access = match (found, &route.groups) {
                (Some(access), _) => access,
                (None, Some(_)) => ProductAccess {
                    product: route.product,
                    default_groups: Vec::new(),
                    access_groups: Vec::new(),
                    seats: Seats::default(),
                },
                // The site does not license it: not a product to decide.
                (None, None) => continue,
            };
            if let Some(groups) = &route.groups {
                for g in groups {
                    if !access
                        .access_groups
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&g.name))
                    {
                        access.access_groups.push(g.name.clone());
                    }
                }
                access.default_groups = groups.clone();
            }
            out.push(access);
        }
        Ok(out)
    }

    fn seat_taken(&self, product: Product) -> Option<Seats> {
        self.connector(product).seat_taken(product)
    }

    async fn jsm_request(
        &self,
        issue: &str,
        with_approval: bool,
        calls: &mut CallLog,
    ) -> Result<JsmRequest, DirectoryError> {
        self.primary.jsm_request(issue, with_approval, calls).await
    }

    async fn comment(
        &self,
        issue: &str,
        text: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.primary.comment(issue, text, calls).await
    }

    async fn transition(
        &self,
        issue: &str,
        transition_id: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.primary.transition(issue, transition_id, calls).await
    }

    fn can_reactivate(&self) -> bool {
        self.primary.can_reactivate()
    }

    /// Cloud: the account, once, through the organisation (the primary connector). Data
    /// Center: on the instance that holds the product.
    async fn reactivate(
        &self,
        account_id: &str,
        email: &Email,
        directory: Option<&str>,
        product: Product,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let connector = self.connector(product);
        if connector.can_reactivate() {
            connector
                .reactivate(account_id, email, directory, product, calls)
                .await
        } else {
            self.primary
                .reactivate(account_id, email, directory, product, calls)
                .await
        }
    }

    async fn remove_from_group(
        &self,
        account_id: &str,
        product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Removed, DirectoryError> {
        self.connector(product)
            .remove_from_group(account_id, product, group, calls)
            .await
    }

    /// On the directory's instance, then on each instance of its own (Data Center: another
    /// user base, where the same username is deactivated too).
    async fn set_standing(
        &self,
        account_id: &str,
        directory: Option<&str>,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.primary
            .set_standing(account_id, directory, change, calls)
            .await?;
        for route in self.routes.iter().filter(|r| r.separate) {
            route
                .connector
                .set_standing(account_id, directory, change, calls)
                .await?;
        }
        Ok(())
    }

    async fn change_email(
        &self,
        account_id: &str,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.primary.change_email(account_id, email, calls).await
    }

    async fn rename(
        &self,
        account_id: &str,
        to: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.primary.rename(account_id, to, calls).await
    }

    async fn add_to_group(
        &self,
        account_id: &str,
        product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        self.connector(product)
            .add_to_group(account_id, product, group, calls)
            .await
    }
}
