//! The fuzz targets' kept inputs, replayed without a fuzzer: every file in
//! `tests/fixtures/fuzz/<target>/` (the seeds, and each input a fuzzer found that crashed a
//! target, kept there as its regression case) through the target's own function, and the
//! senders' fixtures through `idp_bodies`. `scripts/fuzz` runs the targets themselves.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read")))
        .collect()
}

#[test]
fn every_kept_fuzz_input_is_replayed_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for (name, target) in reinstate::fuzzing::TARGETS {
        let dirs: Vec<_> = match name {
            "idp_bodies" => vec![
                root.join("tests/fixtures/okta"),
                root.join("tests/fixtures/keycloak"),
                root.join("tests/fixtures/slack"),
                root.join("tests/fixtures/postmark"),
                root.join("tests/fixtures/mailgun"),
                root.join("tests/fixtures/teams"),
            ],
            _ => vec![root.join("tests/fixtures/fuzz").join(name)],
        };
        for dir in dirs {
            let kept = inputs(&dir);
            assert!(!kept.is_empty(), "{}: no inputs for {name}", dir.display());
            for (path, bytes) in kept {
                let caught = std::panic::catch_unwind(|| target(&bytes));
                assert!(caught.is_ok(), "{name} panicked on {path}");
                replayed += 1;
            }
        }
    }
    assert!(replayed >= reinstate::fuzzing::TARGETS.len());
    std::fs::remove_dir_all(reinstate::fuzzing::scratch_dir()).ok();
}

/// Each target of `fuzz/` is one call into `reinstate::fuzzing`, and each function there has
/// its target: the two lists cannot drift apart.
#[test]
fn the_fuzz_targets_and_their_functions_are_the_same_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut declared: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "reinstate-fuzz")
        .map(String::from)
        .collect();
    declared.sort();
    let mut known: Vec<String> = reinstate::fuzzing::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    known.sort();
    assert_eq!(declared, known);
    for name in &known {
        let source = std::fs::read_to_string(root.join(format!("fuzz/fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
        assert!(
            source.contains(&format!("reinstate::fuzzing::{name}(")),
            "fuzz/fuzz_targets/{name}.rs does not call reinstate::fuzzing::{name}"
        );
    }
}
