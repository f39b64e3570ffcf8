use proptest::prelude::*;

use super::*;
use crate::domain::Seats;

fn facts(email: &str, groups: &[&str], roles: &[&str], product: Product) -> Facts {
    Facts::new(
        &Email::parse(email).expect("email"),
        groups,
        roles,
        product,
        Source::Login,
        false,
    )
}

fn decide_for(
    email: &str,
    groups: &[&str],
    roles: &[&str],
    product: Product,
    rules: &[Rule],
) -> Decision {
    RuleSet::compile(rules).decide(&facts(email, groups, roles, product), None)
}

fn when() -> Conditions {
    Conditions::default()
}

#[test]
fn no_rules_means_approve() {
    let d = decide_for("a@example.com", &[], &[], Product::JiraSoftware, &[]);
    assert_eq!(d.outcome, Outcome::Approve);
    assert_eq!(d.rule, None);
}

#[test]
fn first_match_wins_and_names_the_rule() {
    let rules = vec![
        Rule::new(
            "contractors denied",
            Conditions {
                groups_any: Some(vec!["Contractors".into()]),
                ..when()
            },
            Outcome::Deny,
        ),
        Rule::new(
            "staff restore",
            Conditions {
                domains: Some(vec!["example.com".into()]),
                ..when()
            },
            Outcome::Restore,
        ),
    ];
    let d = decide_for(
        "a@example.com",
        &["contractors"],
        &[],
        Product::JiraSoftware,
        &rules,
    );
    assert_eq!(
        (d.outcome, d.rule.as_deref()),
        (Outcome::Deny, Some("contractors denied"))
    );
    let d = decide_for(
        "a@example.com",
        &["eng"],
        &[],
        Product::JiraSoftware,
        &rules,
    );
    assert_eq!(
        (d.outcome, d.rule.as_deref()),
        (Outcome::Restore, Some("staff restore"))
    );
    assert_eq!(
        decide_for("a@other.org", &["eng"], &[], Product::JiraSoftware, &rules).outcome,
        Outcome::Approve
    );
}

#[test]
fn every_condition_must_hold() {
    let w = Conditions {
        domains: Some(vec!["*.example.com".into()]),
        groups_all: Some(vec!["eng".into(), "staff".into()]),
        groups_none: Some(vec!["suspended".into()]),
        roles_any: Some(vec!["engineer".into()]),
        products: Some(vec![Product::JiraSoftware]),
        sources: Some(vec![Source::Login]),
        ..when()
    };
    let rules = vec![Rule::new("r", w, Outcome::Restore)];
    let ok =
        |e, g: &[&str], r: &[&str], p| decide_for(e, g, r, p, &rules).outcome == Outcome::Restore;
    assert!(ok(
        "a@eu.example.com",
        &["Eng", "staff"],
        &["Engineer"],
        Product::JiraSoftware
    ));
    assert!(ok(
        "a@x.eu.example.com",
        &["eng", "staff"],
        &["engineer"],
        Product::JiraSoftware
    ));
    assert!(
        !ok(
            "a@example.com",
            &["eng", "staff"],
            &["engineer"],
            Product::JiraSoftware
        ),
        "bare parent is not a subdomain"
    );
    assert!(!ok(
        "a@badexample.com",
        &["eng", "staff"],
        &["engineer"],
        Product::JiraSoftware
    ));
    assert!(
        !ok(
            "a@eu.example.com",
            &["eng"],
            &["engineer"],
            Product::JiraSoftware
        ),
        "groups_all needs both"
    );
    assert!(!ok(
        "a@eu.example.com",
        &["eng", "staff", "suspended"],
        &["engineer"],
        Product::JiraSoftware
    ));
    assert!(!ok(
        "a@eu.example.com",
        &["eng", "staff"],
        &["sales"],
        Product::JiraSoftware
    ));
    assert!(!ok(
        "a@eu.example.com",
        &["eng", "staff"],
        &["engineer"],
        Product::Confluence
    ));
}

#[test]
fn user_lists_reclaimed_records_and_disabled_rules() {
    let vip = Email::parse("boss@example.com").expect("email");
    let mut disabled = Rule::new("off", when(), Outcome::Deny);
    disabled.enabled = false;
    let mut vip_rule = Rule::new(
        "vips",
        Conditions {
            users: Some(vec![vip.clone()]),
            ..when()
        },
        Outcome::Restore,
    );
    vip_rule.message = Some("welcome back".into());
    let rules = vec![
        disabled,
        vip_rule,
        Rule::new(
            "returning",
            Conditions {
                previously_reclaimed: Some(true),
                ..when()
            },
            Outcome::Restore,
        ),
    ];
    let set = RuleSet::compile(&rules);
    let d = set.decide(
        &facts("boss@example.com", &[], &[], Product::JiraSoftware),
        None,
    );
    assert_eq!(
        (d.rule.as_deref(), d.message.as_deref()),
        (Some("vips"), Some("welcome back"))
    );
    let returning = Facts::new(
        &Email::parse("x@example.com").expect("email"),
        [""; 0],
        [""; 0],
        Product::Confluence,
        Source::Login,
        true,
    );
    assert_eq!(
        set.decide(&returning, None).rule.as_deref(),
        Some("returning")
    );
    let d = set.decide(
        &facts("x@example.com", &[], &[], Product::JiraSoftware),
        None,
    );
    assert_eq!(
        d.outcome,
        Outcome::Approve,
        "the disabled catch-all never matches"
    );
}

#[test]
fn a_full_product_turns_restore_into_approve() {
    let set = RuleSet::compile(&[Rule::new("all", when(), Outcome::Restore)]);
    let f = facts("a@example.com", &[], &[], Product::JiraSoftware);
    let full = Seats {
        total: Some(10),
        used: Some(10),
        remaining: Some(0),
        unlimited: false,
    };
    let d = set.decide(&f, Some(full));
    assert_eq!(d.outcome, Outcome::Approve);
    assert!(
        d.reason.contains("no seats left (10 of 10 used)"),
        "{}",
        d.reason
    );
    assert_eq!(
        set.decide(
            &f,
            Some(Seats {
                unlimited: true,
                ..full
            })
        )
        .outcome,
        Outcome::Restore
    );
}

#[test]
fn explain_shows_each_condition_up_to_the_deciding_rule() {
    let rules = vec![
        Rule::new(
            "contractors",
            Conditions {
                groups_any: Some(vec!["contractors".into()]),
                ..when()
            },
            Outcome::Deny,
        ),
        Rule::new(
            "staff jira",
            Conditions {
                domains: Some(vec!["example.com".into()]),
                products: Some(vec![Product::JiraSoftware]),
                ..when()
            },
            Outcome::Restore,
        ),
        Rule::new("never reached", when(), Outcome::Deny),
    ];
    let e = RuleSet::compile(&rules).explain(
        &facts("a@example.com", &["eng"], &[], Product::JiraSoftware),
        None,
    );
    assert_eq!(e.decision.rule.as_deref(), Some("staff jira"));
    assert_eq!(e.rules.len(), 2);
    assert!(!e.rules[0].matched);
    assert_eq!(e.rules[0].conditions[0].condition, "groups_any");
    assert!(
        e.rules[0].conditions[0].detail.contains("contractors"),
        "{:?}",
        e.rules[0]
    );
    assert!(e.rules[1].matched && e.rules[1].conditions.iter().all(|c| c.matched));
    let e = RuleSet::compile(&rules)
        .explain(&facts("a@other.org", &[], &[], Product::Confluence), None);
    let staff = &e.rules[1];
    assert_eq!(
        staff.conditions.iter().filter(|c| !c.matched).count(),
        2,
        "every failing condition is shown: {staff:?}"
    );
}

#[test]
fn invalid_rule_lists_name_the_rule_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"rules":[{"name":"a","when":{"grups_any":["x"]},"then":"restore"}]}"#,
            "rules[0].when",
        ),
        (
            r#"{"rules":[{"name":"a","then":"maybe"}]}"#,
            "rules[0].then",
        ),
        (
            r#"{"rules":[{"name":"a","then":"deny"},{"name":"a","then":"deny"}]}"#,
            "rules[1].name",
        ),
        (
            r#"{"rules":[{"name":"a","when":{"domains":["not a domain"]},"then":"deny"}]}"#,
            "rules[0].when.domains[0]",
        ),
        (
            r#"{"rules":[{"name":"a","when":{"products":[]},"then":"deny"}]}"#,
            "rules[0].when.products",
        ),
        (
            r#"{"rules":[{"name":"a","when":{"users":["nobody"]},"then":"deny"}]}"#,
            "rules[0].when.users",
        ),
        (
            r#"{"rules":[{"name":"a","then":"deny","message":" "}]}"#,
            "rules[0].message",
        ),
        (r#"{"rules":[{"name":"","then":"deny"}]}"#, "rules[0].name"),
        // A bare list is the list (`[]` clears the rules): its errors are named the same way.
        (r#"[1]"#, "rules[0]"),
        (r#"[{"name":"a","then":"maybe"}]"#, "rules[0].then"),
        (r#"7"#, "body"),
    ];
    for (body, field) in cases {
        let err = RuleList::parse(body.as_bytes()).expect_err(body);
        assert!(err.field.starts_with(field), "{body}: {err}");
    }
    assert!(RuleList::parse(br#"{"rules":[{"name":"a","enabled":false,"when":{"domains":["*.example.com"]},"then":"restore"}]}"#).is_ok());
    assert_eq!(RuleList::parse(b" [] ").map(|l| l.rules.len()), Ok(0));
}

#[test]
fn changes_are_described_by_rule_name() {
    let a = Rule::new("a", when(), Outcome::Deny);
    let b = Rule::new("b", when(), Outcome::Deny);
    let b2 = Rule::new("b", when(), Outcome::Restore);
    let c = Rule::new("c", when(), Outcome::Deny);
    assert_eq!(
        describe_change(&[a.clone(), b.clone()], &[b2, c]),
        "added \"c\"; removed \"a\"; changed \"b\""
    );
    assert_eq!(
        describe_change(&[a.clone(), b.clone()], &[b, a]),
        "reordered"
    );
}

// ---- properties ----

const EMAILS: &[&str] = &[
    "a@example.com",
    "b@eu.example.com",
    "c@other.org",
    "d@x.eu.example.com",
];
const GROUPS: &[&str] = &["eng", "Staff", "contractors", "ops"];

fn subset<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Option<Vec<T>>> {
    proptest::option::of(proptest::sample::subsequence(
        items.to_vec(),
        1..=items.len(),
    ))
}

fn conditions() -> impl Strategy<Value = Conditions> {
    (
        subset(&[
            "example.com",
            "*.example.com",
            "other.org",
            "eu.example.com",
        ]),
        subset(GROUPS),
        subset(GROUPS),
        subset(GROUPS),
        subset(&["engineer", "sales"]),
        subset(&[
            Product::JiraSoftware,
            Product::Confluence,
            Product::JiraServicedesk,
        ]),
        subset(EMAILS),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(domains, any, all, none, roles, products, users, reclaimed)| Conditions {
                domains: domains.map(|v| v.into_iter().map(String::from).collect()),
                groups_any: any.map(|v| v.into_iter().map(String::from).collect()),
                groups_all: all.map(|v| v.into_iter().map(String::from).collect()),
                groups_none: none.map(|v| v.into_iter().map(String::from).collect()),
                roles_any: roles.map(|v| v.into_iter().map(String::from).collect()),
                products,
                sources: None,
                users: users.map(|v| {
                    v.into_iter()
                        .map(|e| Email::parse(e).expect("email"))
                        .collect()
                }),
                previously_reclaimed: reclaimed,
            },
        )
}

fn rule_list() -> impl Strategy<Value = Vec<Rule>> {
    proptest::collection::vec(
        (
            conditions(),
            prop_oneof![
                Just(Outcome::Restore),
                Just(Outcome::Approve),
                Just(Outcome::Deny)
            ],
            any::<bool>(),
        ),
        0..12,
    )
    .prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, (when, then, enabled))| Rule {
                enabled: enabled || i % 3 != 0,
                ..Rule::new(&format!("r{i}"), when, then)
            })
            .collect()
    })
}

fn any_facts() -> impl Strategy<Value = Facts> {
    (
        proptest::sample::select(EMAILS),
        proptest::sample::subsequence(GROUPS.to_vec(), 0..=GROUPS.len()),
        proptest::sample::subsequence(vec!["engineer", "sales", "ENGINEER"], 0..=3),
        proptest::sample::select(vec![
            Product::JiraSoftware,
            Product::Confluence,
            Product::JiraServicedesk,
        ]),
        any::<bool>(),
    )
        .prop_map(|(email, groups, roles, product, reclaimed)| {
            Facts::new(
                &Email::parse(email).expect("email"),
                groups,
                roles,
                product,
                Source::Login,
                reclaimed,
            )
        })
}

proptest! {
    #[test]
    fn decide_is_deterministic_and_agrees_with_the_rule_by_rule_explanation(rules in rule_list(), f in any_facts()) {
        let set = RuleSet::compile(&rules);
        let first = set.decide(&f, None);
        prop_assert_eq!(&first, &set.decide(&f, None));
        prop_assert_eq!(&first, &RuleSet::compile(&rules).decide(&f, None));
        // The index never skips a rule that matches: the linear walk gives the same answer.
        let explained = set.explain(&f, None);
        prop_assert_eq!(&first, &explained.decision);
        prop_assert_eq!(&first, &set.decide_unindexed(&f, None));
    }

    #[test]
    fn the_first_matching_rule_in_order_decides(rules in rule_list(), f in any_facts()) {
        let e = RuleSet::compile(&rules).explain(&f, None);
        match &e.decision.rule {
            Some(name) => {
                let (last, earlier) = e.rules.split_last().expect("a trace");
                prop_assert_eq!(&last.rule, name);
                prop_assert!(last.matched && last.enabled);
                prop_assert!(earlier.iter().all(|t| !t.matched));
                let rule = rules.iter().find(|r| &r.name == name).expect("rule");
                prop_assert_eq!(rule.then, e.decision.outcome);
            }
            None => prop_assert!(e.rules.iter().all(|t| !t.matched)),
        }
    }

    #[test]
    fn without_a_matching_rule_nothing_is_restored(rules in rule_list(), f in any_facts()) {
        let d = RuleSet::compile(&rules).decide(&f, None);
        if d.rule.is_none() {
            prop_assert_eq!(d.outcome, Outcome::Approve);
        }
        let no_restore: Vec<Rule> = rules.into_iter().filter(|r| r.then != Outcome::Restore).collect();
        prop_assert_ne!(RuleSet::compile(&no_restore).decide(&f, None).outcome, Outcome::Restore);
    }
}

#[test]
fn a_document_followed_by_anything_is_refused() {
    for body in [&b"[]\x0e"[..], b"{\"rules\": []} {}", b"[] x"] {
        let e = RuleList::parse(body).expect_err("trailing bytes");
        assert_eq!(e.field, "body", "{e}");
    }
    assert!(
        RuleList::parse(b" [] \n").is_ok(),
        "whitespace around it is fine"
    );
}
