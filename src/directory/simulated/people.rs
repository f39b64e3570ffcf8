//! The sandbox's people: the four the banner names, then about 300 more, made the same way at
//! every start (a fixed seed) — staff and contractors, a few suspended or deactivated, some
//! apps; products beyond what reinstate restores (Confluence, Assets, Loom, Compass); and last
//! activity from today to never, dated from the moment the sandbox starts.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

use crate::domain::{AccountStatus, AccountType};

/// The people the banner names: (email, account id, groups).
pub const USERS: &[(&str, &str, &[&str])] = &[
    (
        "ada@example.com",
        "sandbox-ada",
        &["jira-software-users", "engineering"],
    ),
    ("grace@example.com", "sandbox-grace", &["engineering"]),
    ("linus@example.com", "sandbox-linus", &[]),
    (
        "mallory@contractor.example.net",
        "sandbox-mallory",
        &["contractors"],
    ),
];

/// How many more the sandbox makes.
const MORE: usize = 300;

/// One simulated account.
#[derive(Debug, Clone)]
pub struct Person {
    pub account_id: String,
    pub email: String,
    pub name: String,
    pub account_type: AccountType,
    pub status: AccountStatus,
    pub groups: Vec<String>,
    /// Products held beyond those granted by groups reinstate restores through, with their
    /// last activity.
    pub other_products: Vec<(&'static str, Option<OffsetDateTime>)>,
    /// Last activity in the group-granted products (Jira Software, Service Management).
    pub last_active: Option<OffsetDateTime>,
    pub added_at: OffsetDateTime,
}

const FIRST: &[&str] = &[
    "alex", "bea", "carl", "dora", "emil", "fay", "gus", "hana", "ines", "jon", "kai", "lea",
    "milo", "nora", "otto", "pia", "quinn", "rosa", "sami", "tara", "ugo", "vera", "wes", "xia",
    "yan", "zoe",
];
const LAST: &[&str] = &[
    "adler", "berg", "costa", "dahl", "ekker", "fox", "gray", "holm", "ito", "jensen", "kern",
    "lund",
];
const TEAMS: &[&str] = &["engineering", "support", "finance", "design", "sales"];

/// The sandbox's groups beyond the products' licence groups: its teams, its contractors and
/// its administrators. A group not among them does not exist, as Atlassian would answer.
pub fn groups() -> impl Iterator<Item = &'static str> {
    TEAMS
        .iter()
        .copied()
        .chain(["contractors", "site-admins", "jira-admins"])
}
const APPS: &[&str] = &[
    "Automation for Jira",
    "Slack integration",
    "Backup service",
    "Statuspage bot",
    "Release pipeline",
];

/// When someone was last active: today, about 30, 60 or 90+ days ago, or never.
fn activity(rng: &mut StdRng, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let days = match rng.random_range(0..10) {
        0..=3 => rng.random_range(0..3),
        4 => rng.random_range(25..40),
        5 => rng.random_range(55..70),
        6 | 7 => rng.random_range(90..400),
        _ => return None,
    };
    Some(now - Duration::days(days) - Duration::minutes(rng.random_range(0..600)))
}

/// Everyone, the named four first.
pub fn people(now: OffsetDateTime) -> Vec<Person> {
    let mut rng = StdRng::seed_from_u64(20261130);
    let mut out: Vec<Person> = USERS
        .iter()
        .map(|(email, id, groups)| Person {
            account_id: id.to_string(),
            email: email.to_string(),
            name: email.split('@').next().unwrap_or_default().to_string(),
            account_type: AccountType::Person,
            status: AccountStatus::Active,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            other_products: vec![("confluence", Some(now - Duration::days(2)))],
            last_active: Some(now - Duration::days(120)),
            added_at: now - Duration::days(700),
        })
        .collect();
    for i in 0..MORE {
        out.push(person(&mut rng, i, now));
    }
    for (i, app) in APPS.iter().enumerate() {
        out.push(Person {
            account_id: format!("sandbox-app-{i}"),
            email: format!("app-{i}@connect.atlassian.com"),
            name: app.to_string(),
            account_type: AccountType::App,
            status: AccountStatus::Active,
            groups: vec!["jira-software-users".into()],
            other_products: Vec::new(),
            last_active: None,
            added_at: now - Duration::days(400),
        });
    }
    out
}

fn person(rng: &mut StdRng, i: usize, now: OffsetDateTime) -> Person {
    let (first, last) = (FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]);
    let contractor = rng.random_range(0..10) == 0;
    let domain = if contractor {
        "contractor.example.net"
    } else {
        "example.com"
    };
    let status = match rng.random_range(0..40) {
        0 | 1 => AccountStatus::Suspended,
        2 | 3 => AccountStatus::Deactivated,
        _ => AccountStatus::Active,
    };
    let mut groups = vec![TEAMS[rng.random_range(0..TEAMS.len())].to_string()];
    if contractor {
        groups.push("contractors".into());
    }
    if rng.random_range(0..10) < 6 {
        groups.push("jira-software-users".into());
    }
    if rng.random_range(0..10) == 0 {
        groups.push("jira-servicedesk-users".into());
    }
    let mut other_products = Vec::new();
    for (product, share) in [
        ("confluence", 7),
        ("assets", 1),
        ("loom", 2),
        ("compass", 1),
    ] {
        if rng.random_range(0..10) < share {
            other_products.push((product, activity(rng, now)));
        }
    }
    Person {
        account_id: format!("sandbox-{i:03}"),
        email: format!("{first}.{last}{i}@{domain}"),
        name: format!(
            "{}{} {}{}",
            &first[..1].to_uppercase(),
            &first[1..],
            &last[..1].to_uppercase(),
            &last[1..]
        ),
        account_type: AccountType::Person,
        status,
        groups,
        other_products,
        last_active: activity(rng, now),
        added_at: now - Duration::days(rng.random_range(30..1100)),
    }
}
