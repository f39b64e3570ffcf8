//! The contract with Atlassian (`tests/contract/atlassian.toml`), held three ways: every
//! simulator route is an entry and every entry is simulated; every route answers the fields the
//! code reads; and every entry citing a generated client (jira.js, confluence.js, pinned, from
//! npm) is an operation of that client with those query and body fields. The simulators check
//! every request of the whole suite against the same table (`support/jira_sim`).
//!
//! Then what real Atlassian does that is inconvenient, as the simulators must do it too.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::contract::{contract, path_matches, reads, templates_overlap};
use crate::support::jira_sim::simulated_routes;
use crate::support::*;

#[test]
fn every_simulated_route_is_in_the_contract_and_every_entry_is_simulated() {
    let c = contract();
    let routes = simulated_routes();
    for (method, path) in &routes {
        let held = c
            .operations
            .iter()
            .any(|o| o.method.eq_ignore_ascii_case(method) && templates_overlap(&o.path, path));
        assert!(
            held,
            "the simulator serves {method} {path}, which the contract does not hold"
        );
    }
    for op in &c.operations {
        assert!(
            routes
                .iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(&op.method) && templates_overlap(p, &op.path)),
            "{} ({} {}) is not simulated",
            op.id,
            op.method,
            op.path
        );
        assert!(
            !op.documented.trim().is_empty(),
            "{} says nowhere where it is documented",
            op.id
        );
    }
    let mut ids: Vec<&str> = c.operations.iter().map(|o| o.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), c.operations.len(), "operation ids repeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulated_route_answers_the_fields_the_contract_reads() {
    let sim = JiraSim::start().await;
    // What the samples read exists: a Confluence user, an identity provider's account, an
    // audit event.
    sim.add_member_of("acc-cora", "cora@example.com", &["confluence-users"]);
    sim.set_last_active("acc-cora", "confluence", "2026-05-01T08:12:44.000+0100");
    sim.set_synced("acc-ada");
    sim.push_audit_event("e1", "user_logged_in", Some("ada@example.com"), "acc-ada");
    let http = reqwest::Client::new();
    let mut checked = 0;
    for op in &contract().operations {
        if op.reads.is_empty() {
            continue;
        }
        let sample = op
            .sample
            .as_ref()
            .unwrap_or_else(|| panic!("{} reads fields but has no sample to check them on", op.id));
        let mut url = format!("{}{}", sim.url, sample.path);
        if let Some(q) = &sample.query {
            url = format!("{url}?{q}");
        }
        let mut request = http
            .request(
                reqwest::Method::from_bytes(op.method.as_bytes()).expect("method"),
                url,
            )
            .bearer_auth(SIM_TOKEN);
        for h in &op.headers {
            request = request.header(h.as_str(), "true");
        }
        if let Some(body) = &sample.body {
            request = request
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let r = request.send().await.expect("sample");
        assert!(r.status().is_success(), "{}: {}", op.id, r.status());
        let answer: Value = r.json().await.expect("json");
        for read in &op.reads {
            assert!(
                reads(&answer, read),
                "{}: the answer has no {read}: {answer}",
                op.id
            );
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// An operation as a generated client declares it.
#[derive(Debug)]
struct ClientOperation {
    method: String,
    url: String,
    query: Vec<String>,
    body: Vec<String>,
}

/// The `const config = { url, method, searchParams: {…}, body: {…} }` of each exported
/// function of a jira.js (TypeScript) or confluence.js (JavaScript) API file.
fn client_operations(source: &str) -> BTreeMap<String, ClientOperation> {
    let mut out = BTreeMap::new();
    for chunk in source.split("export async function ").skip(1) {
        let name: String = chunk
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(config) = chunk.split("sendRequest").next() else {
            continue;
        };
        let field = |key: &str| -> Option<String> {
            let at = config.find(&format!("{key}: "))? + key.len() + 2;
            let rest = &config[at..];
            let quote = rest.chars().next()?;
            let end = rest[1..].find(quote)? + 1;
            Some(rest[1..end].to_string())
        };
        let keys = |key: &str| -> Vec<String> {
            let Some(at) = config.find(&format!("{key}: {{")) else {
                return Vec::new();
            };
            let block = &config[at + key.len() + 3..];
            let block = &block[..block.find('}').unwrap_or(block.len())];
            block
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .split_once(':')
                        .map(|(k, _)| k.trim().trim_matches('\'').to_string())
                })
                .filter(|k| !k.is_empty())
                .collect()
        };
        let (Some(url), Some(method)) = (field("url"), field("method")) else {
            continue;
        };
        // `${parameters.issueIdOrKey}` → `{issueIdOrKey}`
        let mut template = String::new();
        let mut rest = url.as_str();
        while let Some(i) = rest.find("${") {
            template.push_str(&rest[..i]);
            let end = rest[i..].find('}').map_or(rest.len(), |e| i + e);
            let name = rest[i + 2..end].rsplit('.').next().unwrap_or_default();
            template.push_str(&format!("{{{name}}}"));
            rest = &rest[(end + 1).min(rest.len())..];
        }
        template.push_str(rest);
        out.insert(
            name,
            ClientOperation {
                method,
                url: template,
                query: keys("searchParams"),
                body: keys("body"),
            },
        );
    }
    out
}

/// Where scripts/test unpacked a pinned client (`JIRA_JS_DIR`, `CONFLUENCE_JS_DIR`).
fn client_dir(package: &str, version: &str) -> PathBuf {
    let var = match package {
        "jira.js" => "JIRA_JS_DIR",
        "confluence.js" => "CONFLUENCE_JS_DIR",
        other => panic!("no generated client {other} is known"),
    };
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run scripts/test, which unpacks {package}@{version} from npm")
    });
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("package.json"))
            .unwrap_or_else(|e| panic!("{package} at {}: {e}; run scripts/test", dir.display())),
    )
    .expect("package.json");
    assert_eq!(
        manifest["version"], version,
        "{package} is not the pinned version"
    );
    dir
}

#[test]
fn every_entry_citing_a_generated_client_is_that_clients_operation() {
    let c = contract();
    let mut files: BTreeMap<PathBuf, BTreeMap<String, ClientOperation>> = BTreeMap::new();
    let mut checked = 0;
    for op in &c.operations {
        let Some(client) = &op.client else {
            continue;
        };
        let parts: Vec<&str> = client.split_whitespace().collect();
        let [package, file, function] = parts[..] else {
            panic!(
                "{}: client is `<package> <file> <function>`: {client}",
                op.id
            );
        };
        let version = c
            .clients
            .get(package)
            .unwrap_or_else(|| panic!("{package} has no pinned version"));
        let path = client_dir(package, version).join(file);
        let operations = files.entry(path.clone()).or_insert_with(|| {
            client_operations(
                &std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        });
        let found = operations
            .get(function)
            .unwrap_or_else(|| panic!("{}: {package}@{version} {file} has no {function}", op.id));
        assert!(
            found.method.eq_ignore_ascii_case(&op.method),
            "{}: {found:?}",
            op.id
        );
        assert!(
            path_matches(&found.url, &op.path) || found.url == op.path,
            "{}: the client's path is {}, the contract's {}",
            op.id,
            found.url,
            op.path
        );
        for q in &op.query {
            assert!(
                found.query.contains(q),
                "{}: {package} has no query parameter {q}: {found:?}",
                op.id
            );
        }
        for b in &op.body {
            assert!(
                found.body.contains(b),
                "{}: {package} has no body field {b}: {found:?}",
                op.id
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");
}

#[test]
fn a_client_file_reads_as_its_operations() {
    let source = "export async function doTransition(client: Client, parameters: DoTransition): Promise<void> {\n  const config: SendRequestOptions<void> = {\n    url: `/rest/api/3/issue/${parameters.issueIdOrKey}/transitions`,\n    method: 'POST',\n    searchParams: {\n      expand: parameters.expand,\n    },\n    body: {\n      fields: parameters.fields,\n      transition: parameters.transition,\n    },\n  };\n  return await client.sendRequest(config);\n}\n";
    let ops = client_operations(source);
    let t = &ops["doTransition"];
    assert_eq!(
        (t.method.as_str(), t.url.as_str()),
        ("POST", "/rest/api/3/issue/{issueIdOrKey}/transitions")
    );
    assert_eq!(t.query, ["expand"]);
    assert_eq!(t.body, ["fields", "transition"]);
}

// --- What real Atlassian does that is inconvenient ---------------------------------------------

async fn get(sim: &JiraSim, path_and_query: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.url))
        .bearer_auth(SIM_TOKEN)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_clouds_user_search_finds_neither_suspended_users_nor_hidden_emails() {
    let sim = JiraSim::start().await;
    sim.suspend("acc-zed");
    sim.hide_email("acc-grace");
    let (_, zed) = get(&sim, "/rest/api/3/user/search?query=zed%40example.com").await;
    assert_eq!(zed, json!([]), "suspended users are not found (AX-286)");
    let (_, ivy) = get(&sim, "/rest/api/3/user/search?query=ivy%40example.com").await;
    assert_eq!(ivy, json!([]), "nor deactivated ones");
    let (_, grace) = get(&sim, "/rest/api/3/user/search?query=grace%40example.com").await;
    assert_eq!(grace, json!([]), "a hidden email is not matched");
    let (_, by_id) = get(&sim, "/rest/api/3/user?accountId=acc-grace").await;
    assert!(
        by_id.get("emailAddress").is_none() && by_id["accountId"] == "acc-grace",
        "{by_id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_data_center_10_answers_no_user_search_past_100_and_has_no_user_list_before_10_3() {
    let sim = JiraSim::start().await;
    sim.add_users("many", 250);
    sim.set_dc_version(10, 1, 0);
    let (_, info) = get(&sim, "/rest/api/2/serverInfo").await;
    assert_eq!(info["versionNumbers"], json!([10, 1, 0]));
    let (_, first) = get(
        &sim,
        "/rest/api/2/user/search?username=.&startAt=0&maxResults=1000",
    )
    .await;
    assert_eq!(
        first.as_array().map(Vec::len),
        Some(100),
        "maxResults capped at 100"
    );
    let (_, past) = get(
        &sim,
        "/rest/api/2/user/search?username=.&startAt=100&maxResults=100",
    )
    .await;
    assert_eq!(
        past,
        json!([]),
        "nothing past the first 100 (JRASERVER-78660)"
    );
    let (status, _) = get(&sim, "/rest/api/2/user/list?maxResults=2000").await;
    assert_eq!(status, 404, "user/list arrived in 10.3");
    sim.set_dc_version(9, 12, 0);
    let (_, nine) = get(
        &sim,
        "/rest/api/2/user/search?username=.&includeInactive=true&startAt=0&maxResults=1000",
    )
    .await;
    assert_eq!(
        nine.as_array().map(Vec::len),
        Some(256),
        "Jira 9: up to 1,000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_answer_carries_jiras_headers_with_the_reset_to_the_minute() {
    let sim = JiraSim::start().await;
    sim.set_rate_limit(1);
    let http = reqwest::Client::new();
    let mut limited = None;
    for _ in 0..5 {
        let r = http
            .get(format!("{}/rest/api/3/applicationrole", sim.url))
            .bearer_auth(SIM_TOKEN)
            .send()
            .await
            .expect("get");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429");
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(h("retry-after").as_deref(), Some("1"));
    assert_eq!(h("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset = h("x-ratelimit-reset").expect("reset");
    // yyyy-MM-ddTHH:mmZ (JRACLOUD-69262): no seconds.
    assert_eq!(reset.len(), 17, "{reset}");
    assert!(
        reset.ends_with('Z') && reset.as_bytes()[10] == b'T' && reset.as_bytes()[13] == b':',
        "{reset}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_an_identity_provider_syncs_refuses_changes_and_v2_suspend_wants_json() {
    let sim = JiraSim::start().await;
    sim.sync_group("jira-software-users");
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/rest/api/3/group/user?groupname=jira-software-users",
            sim.url
        ))
        .bearer_auth(SIM_TOKEN)
        .json(&json!({"accountId": "acc-zed"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let text = r.text().await.expect("text");
    assert!(
        text.contains("identity provider"),
        "the refusal names its reason: {text}"
    );
    let r = http
        .post(format!(
            "{}/admin/v2/orgs/org-1/directories/dir-1/users/acc-zed/suspend",
            sim.url
        ))
        .bearer_auth(SIM_TOKEN)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415, "a body-less POST");
    let r = http
        .post(format!(
            "{}/admin/v1/orgs/org-1/directory/users/acc-zed/suspend-access",
            sim.url
        ))
        .bearer_auth(SIM_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404, "v1 suspend-access is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outside_the_contract_is_refused_and_named() {
    let sim = JiraSim::start().await;
    let r = reqwest::Client::new()
        .patch(format!("{}/users/acc-zed/manage/profile", sim.url))
        .bearer_auth(SIM_TOKEN)
        .json(&json!({"email": "z@example.com"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 501);
    let violations = sim.forget_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("/users/acc-zed/manage/profile"),
        "{violations:?}"
    );
}

/// The README's table of every call, from the contract: rewritten with `UPDATE_README=1`.
fn readme_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let fields = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut out = String::from(
        "| operation | sends | reads | Data Center | documented |\n|---|---|---|---|---|\n",
    );
    for op in &contract().operations {
        let mut sends: Vec<String> = op.query.clone();
        sends.extend(op.body.iter().map(|b| format!("{b} (body)")));
        sends.extend(op.headers.iter().map(|h| format!("{h} (header)")));
        let mut documented = cell(&op.documented);
        if let Some(n) = &op.notes {
            documented.push_str(&format!(" — {}", cell(n)));
        }
        if !op.confirmed {
            documented.push_str(" — **unconfirmed**");
        }
        out.push_str(&format!(
            "| `{} {}` | {} | {} | {} | {} |\n",
            op.method,
            op.path,
            fields(&sends),
            fields(&op.reads),
            op.since
                .as_deref()
                .map_or("—".to_string(), |s| format!("{s} and later")),
            documented
        ));
    }
    out
}

#[test]
fn the_readme_lists_every_call_with_where_it_is_documented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (begin, end) = (
        "<!-- atlassian-calls:begin -->\n",
        "<!-- atlassian-calls:end -->",
    );
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {begin:?} … {end:?} block");
    };
    let table = readme_table();
    let current = &readme[a + begin.len()..b];
    if std::env::var_os("UPDATE_README").is_some() && current != table {
        let updated = format!("{}{table}{}", &readme[..a + begin.len()], &readme[b..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        current, table,
        "the README's table of calls drifted from tests/contract/atlassian.toml; run UPDATE_README=1 cargo test --test it contract"
    );
}
