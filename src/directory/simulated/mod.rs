//! A simulated Atlassian organisation inside the process, so that `reinstate serve` with no
//! configuration is a complete demo: about 300 people with varied statuses, products, groups and
//! last activity (`people`), licences by group for Jira Software and Service Management, and a
//! listing for the inventory as the organisation API gives it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use time::OffsetDateTime;

use super::inventory::{Listed, Lister, Page};
use super::{
    Added, CallLog, Directory, DirectoryError, DirectoryUser, ProductAccess, Removed, Standing,
};
use crate::domain::{AccountStatus, Email, GroupRef, Product, Seats};

mod people;
pub use people::{Person, USERS, people};

struct SandboxUser {
    account_id: String,
    groups: Vec<String>,
    active: bool,
    /// The rest of what the sandbox's listing reports.
    person: Person,
}

struct SandboxProduct {
    product: Product,
    group: GroupRef,
    seats: u64,
}

pub struct SimulatedOrg {
    users: Mutex<BTreeMap<String, SandboxUser>>,
    products: Vec<SandboxProduct>,
    /// Where memberships are kept, so a restarted sandbox remembers what was restored.
    tree: Option<sled::Tree>,
}

impl Default for SimulatedOrg {
    fn default() -> Self {
        Self::new()
    }
}

impl SimulatedOrg {
    /// A sandbox whose memberships persist in the `sandbox_directory` tree of `db`.
    pub fn open(db: &sled::Db) -> Result<SimulatedOrg, DirectoryError> {
        let fail = |e: sled::Error| DirectoryError::Permanent(format!("sandbox state: {e}"));
        let tree = db.open_tree("sandbox_directory").map_err(fail)?;
        let mut sandbox = SimulatedOrg::new();
        if let Ok(users) = sandbox.users.get_mut() {
            for user in users.values_mut() {
                let Some(saved) = tree.get(&user.account_id).map_err(fail)? else {
                    continue;
                };
                if let Ok(saved) = serde_json::from_slice::<Saved>(&saved) {
                    user.groups = saved.groups;
                    user.active = saved.active;
                } else if let Ok(groups) = serde_json::from_slice(&saved) {
                    // Kept before standings were: the groups alone.
                    user.groups = groups;
                }
            }
        }
        sandbox.tree = Some(tree);
        Ok(sandbox)
    }

    /// A sandbox in memory only.
    pub fn new() -> SimulatedOrg {
        let users = people(OffsetDateTime::now_utc())
            .into_iter()
            .map(|person| {
                let user = SandboxUser {
                    account_id: person.account_id.clone(),
                    groups: person.groups.clone(),
                    active: person.status == AccountStatus::Active,
                    person,
                };
                (user.person.email.clone(), user)
            })
            .collect();
        SimulatedOrg {
            users: Mutex::new(users),
            products: vec![
                SandboxProduct {
                    product: Product::JiraSoftware,
                    group: GroupRef {
                        id: Some("sandbox-group-jsw".into()),
                        name: "jira-software-users".into(),
                    },
                    seats: 250,
                },
                SandboxProduct {
                    product: Product::JiraServicedesk,
                    group: GroupRef {
                        id: Some("sandbox-group-jsm".into()),
                        name: "jira-servicedesk-users".into(),
                    },
                    seats: 50,
                },
            ],
            tree: None,
        }
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, SandboxUser>>, DirectoryError> {
        self.users
            .lock()
            .map_err(|_| DirectoryError::Transient("sandbox lock poisoned".into()))
    }
}

/// Records a simulated call (audit and metrics alike).
fn log(calls: &mut CallLog, method: &str, path: &str, status: u16) {
    calls.attempt(Some(status), false);
    calls.push(method, path, Some(status), 1);
}

#[async_trait]
impl Directory for SimulatedOrg {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    async fn find_user(
        &self,
        account_id: Option<&str>,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        log(calls, "GET", "sandbox:/user", 200);
        let users = self.lock()?;
        let found = match account_id {
            Some(id) => users.values().find(|u| u.account_id == id),
            None => users.get(email.as_str()),
        };
        Ok(found.map(|u| DirectoryUser {
            account_id: u.account_id.clone(),
            active: u.active,
            email: None,
            groups: Some(u.groups.clone()),
            customer: false,
        }))
    }

    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        log(calls, "GET", "sandbox:/user/groups", 200);
        let users = self.lock()?;
        Ok(users
            .values()
            .find(|u| u.account_id == account_id)
            .map(|u| u.groups.clone())
            .unwrap_or_default())
    }

    async fn group_members(
        &self,
        group: &str,
        calls: &mut CallLog,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        log(calls, "GET", "sandbox:/group/member", 200);
        let users = self.lock()?;
        Ok(Some(
            users
                .values()
                .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
                .map(|u| u.account_id.clone())
                .collect(),
        ))
    }

    async fn products(&self, calls: &mut CallLog) -> Result<Vec<ProductAccess>, DirectoryError> {
        log(calls, "GET", "sandbox:/applicationrole", 200);
        let users = self.lock()?;
        Ok(self
            .products
            .iter()
            .map(|p| {
                let used = users
                    .values()
                    .filter(|u| u.groups.contains(&p.group.name))
                    .count() as u64;
                ProductAccess {
                    product: p.product,
                    default_groups: vec![p.group.clone()],
                    access_groups: vec![p.group.name.clone()],
                    seats: Seats {
                        total: Some(p.seats),
                        used: Some(used),
                        remaining: Some(p.seats.saturating_sub(used)),
                        unlimited: false,
                    },
                }
            })
            .collect())
    }

    fn seat_taken(&self, _product: Product) -> Option<Seats> {
        None // nothing cached: every read counts the members
    }

    async fn jsm_request(
        &self,
        _issue: &str,
        _with_approval: bool,
        _calls: &mut CallLog,
    ) -> Result<super::JsmRequest, DirectoryError> {
        Err(DirectoryError::Permanent(
            "the sandbox has no Service Management requests".into(),
        ))
    }

    async fn comment(
        &self,
        _issue: &str,
        _text: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        log(calls, "POST", "sandbox:/request/comment", 201);
        Ok(())
    }

    async fn transition(
        &self,
        _issue: &str,
        _transition_id: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        log(calls, "POST", "sandbox:/issue/transitions", 204);
        Ok(())
    }

    async fn add_to_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        let exists = people::groups().any(|g| g == group.name)
            || self.products.iter().any(|p| p.group.name == group.name);
        if !exists {
            // As Jira Cloud answers it (404, "Specified group does not exist.").
            log(calls, "POST", "sandbox:/group/user", 404);
            return Err(DirectoryError::Permanent(format!(
                "no such group {:?}: Specified group does not exist.",
                group.name
            )));
        }
        let mut users = self.lock()?;
        let Some(user) = users.values_mut().find(|u| u.account_id == account_id) else {
            log(calls, "POST", "sandbox:/group/user", 404);
            return Err(DirectoryError::Permanent(format!(
                "no sandbox user {account_id}"
            )));
        };
        if user.groups.contains(&group.name) {
            log(calls, "POST", "sandbox:/group/user", 400);
            return Ok(Added::AlreadyMember);
        }
        user.groups.push(group.name.clone());
        self.save(user)?;
        log(calls, "POST", "sandbox:/group/user", 201);
        Ok(Added::Added)
    }

    async fn remove_from_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Removed, DirectoryError> {
        let mut users = self.lock()?;
        let user = users
            .values_mut()
            .find(|u| u.account_id == account_id)
            .ok_or_else(|| DirectoryError::Permanent(format!("no sandbox user {account_id}")))?;
        let before = user.groups.len();
        user.groups.retain(|g| g != &group.name);
        if user.groups.len() == before {
            log(calls, "DELETE", "sandbox:/group/user", 404);
            return Ok(Removed::NotMember);
        }
        self.save(user)?;
        log(calls, "DELETE", "sandbox:/group/user", 200);
        Ok(Removed::Removed)
    }

    async fn set_standing(
        &self,
        account_id: &str,
        _directory: Option<&str>,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let mut users = self.lock()?;
        let user = users
            .values_mut()
            .find(|u| u.account_id == account_id)
            .ok_or_else(|| DirectoryError::Permanent(format!("no sandbox user {account_id}")))?;
        user.active = change.to() == "active";
        self.save(user)?;
        log(
            calls,
            "POST",
            &format!("sandbox:/lifecycle/{}", change.to()),
            204,
        );
        Ok(())
    }
}

/// What the sandbox keeps of a user across restarts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    groups: Vec<String>,
    active: bool,
}

impl SimulatedOrg {
    /// Keeps the user's groups and standing, when the sandbox persists.
    fn save(&self, user: &SandboxUser) -> Result<(), DirectoryError> {
        if let Some(tree) = &self.tree {
            let saved = Saved {
                groups: user.groups.clone(),
                active: user.active,
            };
            tree.insert(
                &user.account_id,
                serde_json::to_vec(&saved).unwrap_or_default(),
            )
            .map_err(|e| DirectoryError::Transient(format!("sandbox state: {e}")))?;
        }
        Ok(())
    }
}

/// Accounts per page of the sandbox's listing.
const LIST_PAGE: usize = 100;

#[async_trait]
impl Lister for SimulatedOrg {
    fn source(&self) -> &'static str {
        "sandbox"
    }

    /// Pages of 100 accounts, in account-id order; the cursor is the offset.
    async fn page(
        &self,
        cursor: Option<&str>,
        calls: &mut CallLog,
    ) -> Result<Page, DirectoryError> {
        log(calls, "POST", "sandbox:/users/search", 200);
        let offset: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let users = self.lock()?;
        let mut all: Vec<&SandboxUser> = users.values().collect();
        all.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        let accounts: Vec<Listed> = all
            .iter()
            .skip(offset)
            .take(LIST_PAGE)
            .map(|u| self.listed(u))
            .collect();
        let next = offset + accounts.len();
        let done = next >= all.len();
        Ok(Page {
            accounts,
            holders: Vec::new(),
            next: (!done).then(|| next.to_string()),
            to_do: format!("{} accounts to list", all.len().saturating_sub(next)),
            incomplete: None,
        })
    }
}

impl SimulatedOrg {
    /// A user as the listing reports them: the products their groups grant, and the others.
    fn listed(&self, u: &SandboxUser) -> Listed {
        let p = &u.person;
        let mut products: Vec<(String, Option<OffsetDateTime>)> = self
            .products
            .iter()
            .filter(|sp| u.groups.contains(&sp.group.name))
            .map(|sp| (sp.product.key().to_string(), p.last_active))
            .collect();
        products.extend(p.other_products.iter().map(|(k, at)| (k.to_string(), *at)));
        let status = if u.active {
            AccountStatus::Active
        } else {
            p.status
        };
        // As the organisation API lists: every product's activity reported.
        Listed {
            email: Some(p.email.clone()),
            name: Some(p.name.clone()),
            groups: Some(u.groups.clone()),
            products: Some(products),
            added_at: Some(p.added_at),
            reports_activity: true,
            ..Listed::new(u.account_id.clone(), p.account_type, status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_the_sandbox_does_not_have_is_refused_as_atlassian_refuses_it() {
        let sandbox = SimulatedOrg::new();
        let group = |name: &str| GroupRef {
            id: None,
            name: name.into(),
        };
        let mut calls = CallLog::default();
        let refused = sandbox
            .add_to_group(
                "sandbox-grace",
                Product::JiraSoftware,
                &group("enginering"),
                &mut calls,
            )
            .await
            .expect_err("no such group");
        assert!(refused.to_string().contains("does not exist"), "{refused}");
        let added = sandbox
            .add_to_group(
                "sandbox-grace",
                Product::JiraSoftware,
                &group("support"),
                &mut calls,
            )
            .await
            .expect("a team");
        assert_eq!(added, Added::Added);
    }

    #[tokio::test]
    async fn a_restored_sandbox_membership_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = GroupRef {
            id: Some("sandbox-group-jsw".into()),
            name: "jira-software-users".into(),
        };
        {
            let db = sled::open(dir.path()).expect("db");
            let sandbox = SimulatedOrg::open(&db).expect("sandbox");
            let added = sandbox
                .add_to_group(
                    "sandbox-grace",
                    Product::JiraSoftware,
                    &group,
                    &mut CallLog::default(),
                )
                .await
                .expect("add");
            assert_eq!(added, Added::Added);
            db.flush().expect("flush");
        }
        let db = sled::open(dir.path()).expect("db");
        let sandbox = SimulatedOrg::open(&db).expect("sandbox");
        let groups = sandbox
            .user_groups("sandbox-grace", &mut CallLog::default())
            .await
            .expect("groups");
        assert!(
            groups.contains(&"jira-software-users".to_string()),
            "{groups:?}"
        );
        let again = sandbox
            .add_to_group(
                "sandbox-grace",
                Product::JiraSoftware,
                &group,
                &mut CallLog::default(),
            )
            .await
            .expect("add");
        assert_eq!(again, Added::AlreadyMember);
    }
}
