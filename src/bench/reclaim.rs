//! `reinstate bench reclaim`:
//!
//! 1. **Planning** a run over 100,000 accounts (every account, every policy: protected, warned,
//!    taken, and why), next to a plain scan of the same inventory reading each account's
//!    activity. Medians of interleaved rounds.
//! 2. **A run of 5,000 reclaims** by a real `reinstate serve` against a simulated site that allows
//!    100 requests a second (429 beyond): its time next to the rate limit's floor, and the 429s
//!    it met.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use super::inventory::{Org, Service, simulator};
use super::{Options, ms};
use crate::domain::reclaim::Policy;
use crate::domain::{AccountStatus, AccountType, Email, Product};
use crate::flows::{Context, Settings};
use crate::store::{Account, ProductUse, Store};

/// Requests a second the simulated site allows, and reinstate's budget.
const RATE: u32 = 100;

fn policies() -> Vec<Policy> {
    let json = json!([{"name": "jira 90", "products": ["jira-software"], "inactive_after_days": 90,
        "action": "remove-product-access", "warn_days_before": 7, "protect": {"groups": ["vip"]}},
        {"name": "confluence 60", "products": ["confluence"], "inactive_after_days": 60,
        "action": "remove-product-access"}]);
    serde_json::from_value(json).unwrap_or_default()
}

/// Account `i` of the planning benchmark: activity spread over 200 days, most holding Jira
/// Software, half Confluence, a few protected.
fn account(i: usize, now: OffsetDateTime) -> Account {
    let email = Email::parse(&format!("u{i}@example.com")).ok();
    let mut a = Account::new(&format!("acc-{i}"), email);
    a.account_type = AccountType::Person;
    a.status = AccountStatus::Active;
    a.groups = if i.is_multiple_of(50) {
        vec!["vip".into()]
    } else {
        vec![]
    };
    let last = now - time::Duration::days(((i * 7919) % 200) as i64);
    for (product, holds) in [
        (Product::JiraSoftware, !i.is_multiple_of(3)),
        (Product::Confluence, i.is_multiple_of(2)),
    ] {
        a.products.insert(
            product.key().to_string(),
            ProductUse {
                licensed: holds,
                last_active: Some(last),
                ..ProductUse::default()
            },
        );
    }
    a
}

/// Plans over `n` accounts; returns (plan, plain scan) medians and the plan's size.
async fn planning(n: usize, rounds: usize) -> Result<(Duration, Duration, usize), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Store::open(dir.path()).map_err(|e| e.to_string())?;
    let now = OffsetDateTime::now_utc();
    let accounts: Vec<Account> = (0..n).map(|i| account(i, now)).collect();
    store
        .put_accounts(&accounts, None)
        .await
        .map_err(|e| e.to_string())?;
    let sandbox = Arc::new(crate::directory::simulated::SimulatedOrg::new());
    let ctx = Context {
        metrics: Arc::new(crate::metrics::Metrics::new()),
        store,
        directory: sandbox.clone(),
        lister: sandbox,
        inventory: Default::default(),
        links: None,
        settings: Settings::default(),
    };
    let policies = policies();
    let (mut plans, mut scans, mut size) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        let started = Instant::now();
        let plan = crate::flows::reclaim::run::plan_now(
            &ctx,
            &policies,
            now,
            &crate::flows::reclaim::protect::Admins::by_group(&ctx),
            &Default::default(),
        )
        .map_err(|e| e.to_string())?;
        plans.push(started.elapsed());
        size = plan.len();
        let started = Instant::now();
        let inventory = ctx.store.accounts().map_err(|e| e.to_string())?;
        let idle = inventory
            .accounts()
            .filter(|a| {
                a.last_active(Product::JiraSoftware.key())
                    .is_some_and(|t| now - t > time::Duration::days(90))
            })
            .count();
        std::hint::black_box(idle);
        scans.push(started.elapsed());
    }
    plans.sort();
    scans.sort();
    Ok((plans[rounds / 2], scans[rounds / 2], size))
}

/// A real run of `reclaims` removals at `RATE` requests a second.
async fn run_at_the_rate_limit(users: usize) -> Result<(), String> {
    let org = Arc::new(Org::new(users, RATE));
    let sim = simulator(org.clone()).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let service = Service::start(&dir.path().join("state"), &sim, 3600, RATE).await?;
    service.sync().await?;
    let body = json!({"policies": [{"name": "jira 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    service
        .send(reqwest::Method::PUT, "/api/v1/reclaim/policies", &body)
        .await?;
    let before = (org.admin.answered(), org.site.answered());
    let (_, limited_before) = org.totals();
    let started = Instant::now();
    let page = service
        .send(
            reqwest::Method::POST,
            "/api/v1/reclaim/runs",
            &json!({"dry_run": false}),
        )
        .await?;
    let id = page["run"]["id"].as_str().unwrap_or_default().to_string();
    let page = loop {
        let page = service.get(&format!("/api/v1/reclaim/runs/{id}")).await?;
        if page["run"]["state"] == "done" {
            break page;
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(format!("the run did not finish: {}", page["counts"]));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = started.elapsed();
    service.stop();
    let done = page["counts"]["results"]["done"].as_u64().unwrap_or(0);
    let (admin, site) = (
        org.admin.answered() - before.0,
        org.site.answered() - before.1,
    );
    let calls = admin + site;
    let limited = org.totals().1 - limited_before;
    // The organisation API and the site are limited apart: the floor is the busier one's.
    let floor = Duration::from_secs_f64(admin.max(site) as f64 / RATE as f64);
    println!("reclaim run: {done} licences taken back from a site allowing {RATE} requests/s");
    println!(
        "  run                 {:>9}  {calls} calls ({site} to the site, {admin} to the organisation API), {limited} answered 429",
        ms(took)
    );
    println!(
        "  baseline, the rate limit's floor (the busier API's calls / rate) {:>9}  ratio {:.2}",
        ms(floor),
        took.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
    Ok(())
}

pub async fn run(options: Options) -> Result<(), String> {
    let (n, rounds) = if options.quick {
        (10_000, 3)
    } else {
        (100_000, 5)
    };
    let (plan, scan, size) = planning(n, rounds).await?;
    println!("reclaim planning: {n} accounts, two policies, {size} flagged (median of {rounds})");
    println!(
        "  plan                {:>9}  (target <= 1 s at 100,000)",
        ms(plan)
    );
    println!(
        "  baseline, a plain scan of the inventory's activity {:>9}  ratio {:.1}",
        ms(scan),
        plan.as_secs_f64() / scan.as_secs_f64().max(1e-9)
    );
    // Account i is idle past 90 days and holds Jira Software for about 11 in 30 of them.
    let users = if options.quick { 1_000 } else { 13_640 };
    run_at_the_rate_limit(users).await
}
