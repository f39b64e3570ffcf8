//! The rules ARCHITECTURE.md states about the code, checked on the source: dependencies between
//! top-level modules point one way, only the intake publishes, and receivers never reach a
//! connector.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text up to its unit tests (test code may reach anywhere).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read file");
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                out.push((path, code));
            }
        }
    }
    out
}

/// The top-level module a file belongs to (`src/flows/restore.rs` → `flows`).
fn module(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// Which top-level modules each one names as `crate::<module>`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources(&src());
    let modules: BTreeSet<String> = files.iter().map(|(p, _)| module(p)).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in &files {
        let from = module(path);
        if from == "lib" || from == "main" || from == "parse_props" {
            continue;
        }
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                // `crate::{a, b::c}`
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|part| part.trim().split("::").next())
                    .collect(),
                None => vec![
                    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap_or_default(),
                ],
            };
            for name in names {
                if name != from && modules.contains(name) {
                    deps.entry(from.clone())
                        .or_default()
                        .insert(name.to_string());
                }
            }
        }
    }
    deps
}

#[test]
fn top_level_modules_depend_on_each_other_one_way_only() {
    let deps = dependencies();
    // Depth-first search for a cycle, naming it.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == m) {
            let mut cycle = path[start..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in deps.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, deps, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        if let Some(cycle) = visit(m, &deps, &mut Vec::new(), &mut done) {
            panic!("modules import each other: {}", cycle.join(" → "));
        }
    }
    // The layers ARCHITECTURE.md names: the domain depends on nothing else.
    assert!(
        deps.get("domain").is_none_or(BTreeSet::is_empty),
        "{deps:?}"
    );
}

#[test]
fn only_the_intake_publishes_and_receivers_reach_no_connector() {
    for (path, code) in sources(&src()) {
        let rel = path
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .to_string();
        let may_publish =
            rel.starts_with("bus/") || rel.starts_with("bench/") || rel == "flows/intake.rs";
        assert!(
            may_publish || !code.contains("publish("),
            "{rel} publishes to the bus; only flows/intake.rs may"
        );
        if rel.starts_with("http/") || rel.starts_with("sources/") {
            assert!(
                !code.contains("crate::directory"),
                "{rel} reaches a connector; receivers and pages go through flows"
            );
        }
    }
}
