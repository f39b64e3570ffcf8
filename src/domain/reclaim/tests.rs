use time::{Duration, OffsetDateTime};

use super::*;

fn policy(json: &str) -> Policy {
    let list = PolicyList::parse(format!("{{\"policies\": [{json}]}}").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    list.policies.into_iter().next().expect("one policy")
}

const JSW_90: &str = r#"{"name": "jira 90", "products": ["jira-software"], "inactive_after_days": 90,
    "action": "remove-product-access", "warn_days_before": 7, "protect": {"groups": ["vip"], "domains": ["*.partner.example"]},
    "then": {"after_days": 30, "action": "suspend"}}"#;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("email")
}

#[test]
fn invalid_policies_name_the_policy_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"name": "a", "products": [], "inactive_after_days": 9, "action": "suspend"}"#,
            "policies[0].products",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 0, "action": "suspend"}"#,
            "policies[0].inactive_after_days",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 9, "action": "suspend", "warn_days_before": 9}"#,
            "policies[0].warn_days_before",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 9, "action": "shred"}"#,
            "policies[0].action",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 9, "action": "suspend", "protect": {"domains": ["Not A Domain"]}}"#,
            "policies[0].protect.domains[0]",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 9, "action": "suspend", "then": {"after_days": 0, "action": "delete"}}"#,
            "policies[0].then.after_days",
        ),
        (
            r#"{"name": "a", "products": ["jira-software"], "inactive_after_days": 9, "action": "suspend", "colour": "red"}"#,
            "policies[0]",
        ),
    ];
    for (json, field) in cases {
        let body = format!("{{\"policies\": [{json}]}}");
        let err = PolicyList::parse(body.as_bytes()).expect_err(json);
        assert!(err.field.starts_with(field), "{json}: {err}");
    }
    let twice = format!("{{\"policies\": [{JSW_90}, {JSW_90}]}}");
    let err = PolicyList::parse(twice.as_bytes()).expect_err("twice");
    assert_eq!(err.field, "policies[1].name");
}

struct Account {
    email: Email,
    groups: Vec<String>,
    uses: Vec<Use>,
}

fn account(who: &str, idle_days: Option<i64>) -> Account {
    Account {
        email: email(who),
        groups: vec![],
        uses: vec![Use::seen(
            Product::JiraSoftware,
            true,
            idle_days.map(|d| now() - days(d)),
        )],
    }
}

fn person(a: &Account) -> Person<'_> {
    Person {
        account_id: a.email.as_str(),
        email: Some(&a.email),
        groups: &a.groups,
        active: true,
        added_at: Some(now() - days(400)),
        uses: &a.uses,
        ..Default::default()
    }
}

fn one(p: Person<'_>, policy: &Policy) -> Option<(Step, String)> {
    let input = PlanInput {
        now: now(),
        policies: std::slice::from_ref(policy),
        min_days_since_restore: 14,
        can_warn: true,
        watching_since: Some(now() - days(200) - Duration::hours(1)),
    };
    let planned = plan([p], &input);
    assert!(planned.len() <= 1, "{planned:?}");
    planned.into_iter().next().map(|p| (p.step, p.reason))
}

#[test]
fn the_inactive_are_warned_first_then_taken_once_the_warning_ran_out() {
    let p = policy(JSW_90);
    let active = account("ada@example.com", Some(10));
    assert_eq!(one(person(&active), &p), None, "active: not flagged");
    let nearly = account("bob@example.com", Some(85));
    let (step, reason) = one(person(&nearly), &p).expect("flagged");
    let Step::Warn { due } = step else {
        panic!("{step:?}")
    };
    assert!(
        due >= now() + days(5) - Duration::minutes(1),
        "due at 90 days idle"
    );
    assert!(reason.contains("inactive for 85 days"), "{reason}");
    // Warned 7 days ago, still idle: taken. Warned 2 days ago: waits.
    let old = account("cy@example.com", Some(100));
    let warned = [("jira 90", now() - days(7), now() - Duration::seconds(1))];
    let (step, _) = one(
        Person {
            warnings: &warned,
            ..person(&old)
        },
        &p,
    )
    .expect("flagged");
    assert_eq!(step, Step::Take(TakeAction::RemoveProductAccess));
    let recent = [("jira 90", now() - days(2), now() + days(5))];
    let (step, _) = one(
        Person {
            warnings: &recent,
            ..person(&old)
        },
        &p,
    )
    .expect("flagged");
    assert!(matches!(step, Step::Waiting { .. }), "{step:?}");
    // A warning from before the last activity does not count: warned again.
    let stale = [("jira 90", now() - days(200), now() - days(193))];
    let (step, _) = one(
        Person {
            warnings: &stale,
            ..person(&old)
        },
        &p,
    )
    .expect("flagged");
    assert!(matches!(step, Step::Warn { .. }), "{step:?}");
}

#[test]
fn protected_users_are_listed_with_why_and_never_taken() {
    let p = policy(JSW_90);
    let mut vip = account("vip@example.com", Some(300));
    vip.groups = vec!["VIP".into()];
    let partner = account("pat@eu.partner.example", Some(300));
    let admin = account("root@example.com", Some(300));
    let kept = account("kim@example.com", Some(300));
    let back = account("bea@example.com", Some(300));
    let cases = [
        (person(&vip), "protected group \"vip\""),
        (person(&partner), "protected domain *.partner.example"),
        (
            Person {
                always_protected: Some("a site administrator"),
                ..person(&admin)
            },
            "always protected: a site administrator",
        ),
        (
            Person {
                keep_at: Some(now() - days(3)),
                ..person(&kept)
            },
            "asked to keep",
        ),
        (
            Person {
                restored_at: Some(now() - days(5)),
                ..person(&back)
            },
            "min_days_since_restore",
        ),
    ];
    for (who, why) in cases {
        let (step, reason) = one(who, &p).expect("listed");
        assert_eq!(step, Step::Protected);
        assert!(reason.contains(why), "{reason} lacks {why}");
    }
}

#[test]
fn users_who_cannot_be_warned_wait_unless_warnings_are_optional() {
    let p = policy(JSW_90);
    let old = account("cy@example.com", Some(100));
    let no_email = Person {
        email: None,
        ..person(&old)
    };
    assert_eq!(
        one(no_email.clone(), &p).map(|s| s.0),
        Some(Step::CannotWarn)
    );
    let mut optional = p.clone();
    optional.warning_optional = true;
    assert_eq!(
        one(no_email, &optional).map(|s| s.0),
        Some(Step::Take(TakeAction::RemoveProductAccess))
    );
}

#[test]
fn never_active_accounts_count_only_when_the_policy_says_and_they_are_old_enough() {
    let mut p = policy(JSW_90);
    p.warn_days_before = 0;
    let never = account("new@example.com", None);
    assert_eq!(one(person(&never), &p), None);
    p.include_never_active = true;
    assert_eq!(
        one(person(&never), &p).map(|s| s.0),
        Some(Step::Take(TakeAction::RemoveProductAccess))
    );
    let fresh = Person {
        added_at: Some(now() - days(10)),
        ..person(&never)
    };
    assert_eq!(one(fresh, &p), None, "added 10 days ago");
}

#[test]
fn what_was_taken_and_not_given_back_escalates_after_its_days() {
    let p = policy(JSW_90);
    let gone = Account {
        uses: vec![],
        ..account("old@example.com", None)
    };
    let taken = [("jira 90", Some(Product::JiraSoftware), now() - days(31))];
    let (step, reason) = one(
        Person {
            taken: &taken,
            ..person(&gone)
        },
        &p,
    )
    .expect("escalated");
    assert_eq!(step, Step::Escalate(ThenAction::Suspend));
    assert!(reason.contains("not back after 30 days"), "{reason}");
    let recent = [("jira 90", Some(Product::JiraSoftware), now() - days(3))];
    assert_eq!(
        one(
            Person {
                taken: &recent,
                ..person(&gone)
            },
            &p
        ),
        None
    );
}

#[test]
fn a_standing_goes_back_to_what_it_was() {
    use super::Standing::*;
    assert_eq!(Standing::back("suspended", "active"), [Unsuspend]);
    assert_eq!(Standing::back("deactivated", "active"), [Activate]);
    // A deletion deactivates: cancelled, then enabled again unless it was disabled before.
    assert_eq!(
        Standing::back("deleted", "active"),
        [CancelDelete, Activate]
    );
    assert_eq!(Standing::back("deleted", "deactivated"), [CancelDelete]);
    assert!(Standing::back("active", "suspended").is_empty());
}

#[test]
fn no_activity_data_is_unknown_not_inactive_forever() {
    let mut a = account("quiet@example.com", None);
    a.uses[0].known = false;
    let skip = policy(
        r#"{"name": "p", "products": ["jira-software"], "inactive_after_days": 90,
        "action": "remove-product-access", "include_never_active": true}"#,
    );
    assert_eq!(
        one(person(&a), &skip),
        None,
        "no evidence either way: left alone"
    );
    // Told to, the policy counts it inactive since reinstate started watching (200 days ago).
    let reclaim = policy(
        r#"{"name": "p", "products": ["jira-software"], "inactive_after_days": 90,
        "action": "remove-product-access", "unknown_activity": "reclaim"}"#,
    );
    let (step, reason) = one(person(&a), &reclaim).expect("planned");
    assert_eq!(
        step,
        Step::Take(TakeAction::RemoveProductAccess),
        "{reason}"
    );
    assert!(reason.contains("inactive for 200 days"), "{reason}");
    // Never seen active, and known so (the organisation API says so): the old rule holds.
    a.uses[0].known = true;
    assert!(one(person(&a), &skip).is_some());
}

#[test]
fn what_the_identity_provider_owns_is_planned_refused_and_never_warned() {
    // A licence through a group the identity provider syncs: Atlassian refuses the removal.
    let p = policy(JSW_90);
    let idle = account("ida@example.com", Some(200));
    let synced = [(Product::JiraSoftware, "jira-software-users".to_string())];
    let through_idp = Person {
        synced_access: &synced,
        ..person(&idle)
    };
    let (step, reason) = one(through_idp, &p).expect("flagged");
    assert_eq!(step, Step::Refused, "{reason}");
    assert!(reason.contains("jira-software-users"), "{reason}");
    assert!(reason.contains("remove the user there"), "{reason}");
    assert!(!step.acts());
    // Another product's synced group does not refuse this one.
    let other = [(Product::Confluence, "confluence-users".to_string())];
    let elsewhere = Person {
        synced_access: &other,
        ..person(&idle)
    };
    assert!(matches!(one(elsewhere, &p), Some((Step::Warn { .. }, _))));
    // An account the identity provider provisions cannot be deactivated here; suspended, it can.
    let deactivate = policy(
        r#"{"name": "off", "products": ["jira-software"], "inactive_after_days": 90, "action": "deactivate"}"#,
    );
    let managed = Person {
        idp_managed: true,
        ..person(&idle)
    };
    let (step, reason) = one(managed.clone(), &deactivate).expect("flagged");
    assert_eq!(step, Step::Refused);
    assert!(
        reason.contains("deactivate it in the identity provider"),
        "{reason}"
    );
    let suspend = policy(
        r#"{"name": "off", "products": ["jira-software"], "inactive_after_days": 90, "action": "suspend"}"#,
    );
    assert_eq!(
        one(managed.clone(), &suspend).map(|(s, _)| s),
        Some(Step::Take(TakeAction::Suspend))
    );
    // Protected comes first: an administrator is protected, not refused.
    let admin = Person {
        always_protected: Some("an administrator"),
        ..managed
    };
    assert_eq!(
        one(admin, &deactivate).map(|(s, _)| s),
        Some(Step::Protected)
    );
}

#[test]
fn a_policy_document_followed_by_anything_is_refused() {
    let e = PolicyList::parse(b"{\"policies\": []}}").expect_err("trailing bytes");
    assert_eq!(e.field, "body", "{e}");
    assert!(PolicyList::parse(b"{\"policies\": []}\n").is_ok());
}
