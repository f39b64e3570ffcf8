//! `reinstate bench rules`: how fast decisions and simulations are.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::rules::{Conditions, Facts, Outcome, Rule, RuleSet};
use crate::domain::{Email, Product, Source};
use crate::store::{ProductState, Store, UserRecord};

use super::{Options, median, percentile};

fn rule_list(rng: &mut StdRng, n: usize) -> Vec<Rule> {
    let products = [
        Product::JiraSoftware,
        Product::Confluence,
        Product::JiraServicedesk,
    ];
    (0..n)
        .map(|i| {
            let g = |rng: &mut StdRng| format!("group-{}", rng.random_range(0..5000));
            let when = match i % 6 {
                0 => Conditions {
                    domains: Some(vec![format!("d{}.example.com", rng.random_range(0..2000))]),
                    ..Default::default()
                },
                1 => Conditions {
                    groups_any: Some(vec![g(rng), g(rng)]),
                    products: Some(vec![products[i % 3]]),
                    ..Default::default()
                },
                2 => Conditions {
                    users: Some(vec![
                        Email::parse(&format!(
                            "user{}@d{}.example.com",
                            rng.random_range(0..100_000),
                            i % 2000
                        ))
                        .unwrap_or_else(|_| unreachable!()),
                    ]),
                    ..Default::default()
                },
                3 => Conditions {
                    roles_any: Some(vec![format!("role-{}", rng.random_range(0..300))]),
                    ..Default::default()
                },
                4 => Conditions {
                    groups_all: Some(vec![g(rng), g(rng)]),
                    groups_none: Some(vec!["blocked".into()]),
                    ..Default::default()
                },
                _ => Conditions {
                    domains: Some(vec![format!("*.r{}.example.org", i)]),
                    sources: Some(vec![Source::Login]),
                    ..Default::default()
                },
            };
            let then = [Outcome::Restore, Outcome::Approve, Outcome::Deny][i % 3];
            Rule::new(&format!("rule {i}"), when, then)
        })
        .collect()
}

fn user(rng: &mut StdRng, i: usize, groups: usize) -> (Email, Vec<String>, Vec<String>) {
    let email = Email::parse(&format!(
        "user{i}@d{}.example.com",
        rng.random_range(0..2000)
    ))
    .unwrap_or_else(|_| unreachable!());
    let groups = (0..groups)
        .map(|_| format!("group-{}", rng.random_range(0..5000)))
        .collect();
    let roles = vec![format!("role-{}", rng.random_range(0..300))];
    (email, groups, roles)
}

/// p50 and p99 of one decision per facts, timed one by one.
fn time_decisions(facts: &[Facts], decide: impl Fn(&Facts) -> Outcome) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = facts
        .iter()
        .map(|f| {
            let start = Instant::now();
            black_box(decide(black_box(f)));
            start.elapsed()
        })
        .collect();
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn micros(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

pub fn run(options: Options) -> Result<(), String> {
    let rounds = if options.quick { 3 } else { 7 };
    let mut rng = StdRng::seed_from_u64(7);
    decide(options, rounds, &mut rng);
    simulate(options, rounds, &mut rng)
}

/// One decision: 1,000 rules, users in 50 groups. Baseline: the same rules walked in order.
fn decide(options: Options, rounds: usize, rng: &mut StdRng) {
    let rules = RuleSet::compile(&rule_list(rng, 1000));
    let facts: Vec<Facts> = (0..if options.quick { 2_000 } else { 20_000 })
        .map(|i| {
            let (email, groups, roles) = user(rng, i, 50);
            Facts::new(
                &email,
                &groups,
                &roles,
                Product::JiraSoftware,
                Source::Login,
                i % 4 == 0,
            )
        })
        .collect();
    let (mut idx50, mut idx99, mut lin50, mut lin99) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (a, b) = time_decisions(&facts, |f| rules.decide(f, None).outcome);
        idx50.push(a);
        idx99.push(b);
        let (a, b) = time_decisions(&facts, |f| rules.decide_unindexed(f, None).outcome);
        lin50.push(a);
        lin99.push(b);
    }
    let (i50, i99, l50, l99) = (median(idx50), median(idx99), median(lin50), median(lin99));
    println!(
        "decide: 1,000 rules, a user in 50 groups, {} users, median of {rounds} interleaved rounds",
        facts.len()
    );
    println!(
        "  indexed          p50 {:>10}   p99 {:>10}",
        micros(i50),
        micros(i99)
    );
    println!(
        "  baseline, linear p50 {:>10}   p99 {:>10}",
        micros(l50),
        micros(l99)
    );
    println!(
        "  ratio linear/indexed at p99: {:.1}x (target: indexed p99 <= 5 µs)",
        l99.as_secs_f64() / i99.as_secs_f64()
    );
}

/// Simulate: every known user against 100 proposed rules next to 100 live ones. Baseline:
/// reading and decoding every user.
fn simulate(options: Options, rounds: usize, rng: &mut StdRng) -> Result<(), String> {
    let users = if options.quick { 10_000 } else { 100_000 };
    let dir = std::env::temp_dir().join(format!("reinstate-bench-{}", std::process::id()));
    let store = Store::open(&dir).map_err(|e| e.to_string())?;
    for i in 0..users {
        let (email, groups, roles) = user(rng, i, 20);
        let mut record = UserRecord::new(&email);
        record.groups = groups;
        record.roles = roles;
        record
            .products
            .insert(Product::JiraSoftware, ProductState::default());
        store.put_user(&record).map_err(|e| e.to_string())?;
    }
    let live = RuleSet::compile(&rule_list(rng, 100));
    let proposed = RuleSet::compile(&rule_list(rng, 100));
    let (mut sim, mut scan) = (vec![], vec![]);
    let mut changed = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let s = crate::flows::simulate::run_simulation(&store, &live, &proposed)
            .map_err(|e| e.to_string())?;
        sim.push(start.elapsed());
        changed = s.changes.len();
        // Baseline: reading and decoding every user, deciding nothing.
        let start = Instant::now();
        let mut n = 0usize;
        for u in store.users() {
            n += black_box(u.map_err(|e| e.to_string())?).products.len();
        }
        black_box(n);
        scan.push(start.elapsed());
    }
    let (s, b) = (median(sim), median(scan));
    println!(
        "simulate: {users} users, 100 live and 100 proposed rules, median of {rounds} interleaved rounds"
    );
    println!(
        "  simulate             {:>8.0} ms  ({changed} outcomes change)",
        s.as_secs_f64() * 1e3
    );
    println!("  baseline, read users {:>8.0} ms", b.as_secs_f64() * 1e3);
    println!(
        "  ratio simulate/read: {:.2}x (target: simulate <= 2 s at 100,000 users)",
        s.as_secs_f64() / b.as_secs_f64()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
