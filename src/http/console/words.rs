//! What the console says instead of the API's slugs: products by their names, actions and
//! steps as an admin names them, counts with their nouns. Spelt as the organisation spells
//! (`Spelling`: British "licence" unless `server.locale` says otherwise).

use crate::domain::Product;
use crate::domain::{Source, Spelling};

/// A product's name ("Jira Service Management").
pub fn product(p: Product) -> &'static str {
    p.name()
}

/// A product the inventory names by key, including those reinstate does not restore
/// (`jira-product-discovery` → "Jira Product Discovery").
pub fn product_key(key: &str) -> String {
    match Product::from_key(key) {
        Some(p) => product(p).to_string(),
        None if key == crate::flows::inventory::query::OTHER => "Other products".into(),
        None => key
            .split(['-', '_'])
            .filter(|w| !w.is_empty())
            .map(capital)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Where a request, login or decision came from.
pub fn source(s: Source) -> &'static str {
    match s {
        Source::Login => "a signed login",
        Source::Link => "an emailed link",
        Source::Portal => "reinstate's portal",
        Source::Jsm => "a Service Management request",
        Source::Admin => "an admin",
        Source::Okta => "Okta",
        Source::Keycloak => "Keycloak",
        Source::Atlassian => "Atlassian's audit log",
        Source::Reclaim => "a reclaim run",
        Source::Slack => "Slack",
        Source::Mail => "a mailed request",
        Source::Teams => "Microsoft Teams",
    }
}

/// What saw a product's last activity (`ProductRow::seen_by`).
pub fn seen_by(by: &str) -> &'static str {
    match by {
        "activity" => "Atlassian's activity data",
        "product_login" => "a login reinstate received for it",
        "login" => "a login reinstate received (naming no product, or another)",
        "site_login" => "the Jira site's last login",
        _ => "reinstate's records",
    }
}

/// A run entry's step or a job's action, by its key (`remove-product-access`), spelt `sp`.
pub fn step(key: &str, sp: Spelling) -> String {
    let named = match key {
        "warn" => "Warning",
        "remove-product-access" => "Remove product access",
        "remove-all-access" => "Remove all access",
        "suspend" => "Suspend account",
        "unsuspend" => "Restore suspended account",
        "deactivate" => "Deactivate account",
        "activate" => "Activate account",
        "delete" => "Delete account",
        "cancel-delete" => "Cancel deletion",
        "add-to-group" => "Add to group",
        "remove-from-group" => "Remove from group",
        "grant-product-access" => "Grant product access",
        "revoke-product-access" => "Revoke product access",
        "enable-licences" => "Enable licences",
        "restore-suspended" => "Restore suspended accounts",
        "disable-licences" => "Suspend accounts (every product)",
        "give-back" => "Give back",
        "change-email" | "change-email-domain" => "Change email domain",
        "rename" => "Rename",
        "protected" => "Protected: left alone",
        "waiting" => "Warned: waiting",
        "cannot-warn" => "Cannot be warned",
        "refused" => "Left to the identity provider",
        other => return sp.say(&capital(&plain(other))).into_owned(),
    };
    sp.say(named).into_owned()
}

/// A slug as words (`pending_approval` → "pending approval").
pub fn plain(slug: &str) -> String {
    slug.replace(['_', '-'], " ")
}

/// A count with its noun: "1 user", "3 users".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The first letter in capitals.
pub fn capital(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_words() {
        assert_eq!(product_key("jira-servicedesk"), "Jira Service Management");
        assert_eq!(
            product_key("jira-product-discovery"),
            "Jira Product Discovery"
        );
        let gb = Spelling::British;
        assert_eq!(
            step("disable-licences", gb),
            "Suspend accounts (every product)"
        );
        assert_eq!(step("enable-licences", gb), "Enable licences");
        assert_eq!(
            step("enable-licences", Spelling::American),
            "Enable licenses"
        );
        assert_eq!(step("something-new", gb), "Something new");
        assert_eq!(plain("approval_required"), "approval required");
        assert_eq!(count(1, "user"), "1 user");
        assert_eq!(count(0, "account"), "0 accounts");
    }
}
