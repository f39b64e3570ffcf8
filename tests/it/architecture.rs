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

/// A cycle in a dependency graph, named from where it starts back to it, if there is one
/// (depth-first).
fn find_cycle<T: Ord + Clone>(deps: &BTreeMap<T, BTreeSet<T>>) -> Option<Vec<T>> {
    fn visit<T: Ord + Clone>(
        m: &T,
        deps: &BTreeMap<T, BTreeSet<T>>,
        path: &mut Vec<T>,
        done: &mut BTreeSet<T>,
    ) -> Option<Vec<T>> {
        if let Some(start) = path.iter().position(|p| p == m) {
            let mut cycle = path[start..].to_vec();
            cycle.push(m.clone());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.clone());
        for next in deps.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, deps, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.clone());
        None
    }
    let mut done = BTreeSet::new();
    deps.keys()
        .find_map(|m| visit(m, deps, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_depend_on_each_other_one_way_only() {
    let deps = dependencies();
    if let Some(cycle) = find_cycle(&deps) {
        panic!("modules import each other: {}", cycle.join(" → "));
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

/// A file's module path (`src/flows/restore/mod.rs` → `["flows", "restore"]`).
fn module_path(path: &Path) -> Vec<String> {
    let rel = path
        .strip_prefix(src())
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a `crate::`, `super::` or `self::` reference names, from where it starts in
/// `code` (`crate::{a, b::{c, d}}` names `a`, `b::c` and `b::d`).
fn paths_named(code: &str) -> Vec<Vec<String>> {
    fn ident(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (&s[..end], &s[end..])
    }
    /// A path and, after `::{`, the paths of its group; returns what follows.
    fn path<'a>(mut s: &'a str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> &'a str {
        let mut segs = prefix;
        loop {
            let (name, rest) = ident(s.trim_start());
            if name.is_empty() {
                break;
            }
            if name != "self" {
                segs.push(name.to_string());
            }
            s = rest;
            match s.strip_prefix("::") {
                Some(rest) if rest.trim_start().starts_with('{') => {
                    let mut inner = &rest.trim_start()[1..];
                    loop {
                        inner = path(inner, segs.clone(), out).trim_start();
                        if let Some(after) = inner.strip_prefix(',') {
                            inner = after;
                        } else if let Some(after) = inner.strip_prefix('}') {
                            return after;
                        } else if inner.is_empty() {
                            return inner;
                        } else {
                            // `as name`, `*`: skip to the next item.
                            let next = inner.find([',', '}']).unwrap_or(inner.len());
                            inner = &inner[next..];
                        }
                    }
                }
                Some(rest) => s = rest,
                None => break,
            }
        }
        out.push(segs);
        s
    }
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let head = start.trim_end_matches("::").to_string();
            path(&code[i + start.len()..], vec![head], &mut out);
        }
    }
    out
}

/// Which module files each one imports: a reference resolves to the longest module it names.
/// A module naming its own submodules (declaring, re-exporting) is its facade, not an import.
fn file_dependencies() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files: Vec<(Vec<String>, String)> = sources(&src())
        .into_iter()
        .map(|(p, code)| {
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (module_path(&p), code)
        })
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut deps = BTreeMap::new();
    for (m, code) in &files {
        let mut to = BTreeSet::new();
        for named in paths_named(code) {
            let mut absolute: Vec<String> = match named[0].as_str() {
                "crate" => Vec::new(),
                "super" => m[..m.len().saturating_sub(1)].to_vec(),
                _ => m.clone(),
            };
            let mut rest = named[1..].iter().peekable();
            while rest.peek().is_some_and(|s| *s == "super") {
                absolute.pop();
                rest.next();
            }
            absolute.extend(rest.cloned());
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(t) = target
                && !t.starts_with(m)
            {
                to.insert(t);
            }
        }
        deps.insert(m.clone(), to);
    }
    deps
}

#[test]
fn no_module_file_imports_one_that_imports_it_back() {
    let deps = file_dependencies();
    let name = |m: &Vec<String>| {
        if m.is_empty() {
            "crate".to_string()
        } else {
            m.join("::")
        }
    };
    if let Some(cycle) = find_cycle(&deps) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        panic!("module files import each other: {}", names.join(" → "));
    }
    // The check sees real imports: these are known to exist.
    let imports = |from: &[&str], to: &[&str]| {
        let (from, to): (Vec<String>, Vec<String>) = (
            from.iter().map(|s| s.to_string()).collect(),
            to.iter().map(|s| s.to_string()).collect(),
        );
        deps.get(&from).is_some_and(|d| d.contains(&to))
    };
    assert!(imports(&["flows", "jsm"], &["flows", "restore"]));
    assert!(imports(&["flows", "reclaim", "act"], &["flows", "outcome"]));
    assert!(imports(&["directory", "jira"], &["directory", "http"]));
}

fn architecture_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    std::fs::read_to_string(path).expect("ARCHITECTURE.md")
}

#[test]
fn every_module_file_is_named_in_the_map() {
    let map = architecture_md();
    let mut missing = Vec::new();
    for (path, _) in sources(&src()) {
        let rel = path
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if !map.contains(&format!("`{rel}`")) {
            missing.push(rel);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name these files: {missing:?}"
    );
}

/// The floors ARCHITECTURE.md lists, lowest first: each top-level module on one, and every
/// import going to a floor below the importer's.
#[test]
fn top_level_modules_import_only_from_lower_floors() {
    let map = architecture_md();
    let section = map
        .split("## Floors")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Floors section");
    let mut floor_of: BTreeMap<String, usize> = BTreeMap::new();
    for line in section.lines() {
        let Some((n, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(n) = n.trim().parse::<usize>() else {
            continue;
        };
        for name in rest.split('`').skip(1).step_by(2) {
            assert!(
                floor_of.insert(name.to_string(), n).is_none(),
                "{name} is on two floors"
            );
        }
    }
    let deps = dependencies();
    let modules: BTreeSet<String> = sources(&src())
        .iter()
        .map(|(p, _)| module(p))
        .filter(|m| !matches!(m.as_str(), "lib" | "main" | "parse_props"))
        .collect();
    for m in &modules {
        let Some(floor) = floor_of.get(m) else {
            panic!("{m} is on no floor of ARCHITECTURE.md");
        };
        for d in deps.get(m).into_iter().flatten() {
            let below = floor_of.get(d).is_some_and(|f| f < floor);
            assert!(
                below,
                "{m} (floor {floor}) imports {d} (floor {:?}); floors go down only",
                floor_of.get(d)
            );
        }
    }
    let unknown: Vec<_> = floor_of.keys().filter(|k| !modules.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "floors name no such module: {unknown:?}"
    );
}
