//! The Helm chart, rendered by a real helm: secrets stay out of the ConfigMap, the rendered
//! configuration is valid, only public paths are exposed, and the pod is locked down.

use std::path::{Path, PathBuf};
use std::process::Command;

fn helm() -> PathBuf {
    if let Ok(p) = std::env::var("HELM_BIN") {
        return PathBuf::from(p);
    }
    let cached = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/reinstate-test-tools/helm");
    if cached.is_file() {
        return cached;
    }
    panic!(
        "helm 3 is required to render the chart and was not found: run scripts/test (it installs it), or set HELM_BIN"
    );
}

/// The chart without its NATS dependency (not downloadable here), in a temporary copy.
fn chart_copy(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/reinstate");
    let dst = dir.join("reinstate");
    std::fs::create_dir_all(dst.join("templates")).expect("mkdir");
    for entry in std::fs::read_dir(&src)
        .expect("chart")
        .chain(std::fs::read_dir(src.join("templates")).expect("templates"))
    {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let rel = path.strip_prefix(&src).expect("rel");
            std::fs::copy(&path, dst.join(rel)).expect("copy");
        }
    }
    let chart = std::fs::read_to_string(dst.join("Chart.yaml")).expect("Chart.yaml");
    let without = chart
        .split("dependencies:")
        .next()
        .expect("head")
        .to_string();
    std::fs::write(dst.join("Chart.yaml"), without).expect("write");
    dst
}

fn render(args: &[&str]) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = chart_copy(dir.path());
    let out = Command::new(helm())
        .arg("template")
        .arg("rel")
        .arg(&chart)
        .args(args)
        .output()
        .expect("run helm");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split("\n---\n")
        .map(String::from)
        .collect())
}

fn kind<'a>(docs: &'a [String], kind: &str) -> Vec<&'a String> {
    docs.iter()
        .filter(|d| d.contains(&format!("\nkind: {kind}\n")))
        .collect()
}

const SECRETS: &[&str] = &[
    "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw==",
    "atlassian-api-token-SECRET",
    "smtp-password-SECRET",
];

fn secret_args() -> Vec<String> {
    vec![
        "--set".into(),
        format!("secrets.loginSecrets={{{}}}", SECRETS[0]),
        "--set".into(),
        format!("secrets.directoryApiToken={}", SECRETS[1]),
        "--set".into(),
        format!("secrets.smtpPassword={}", SECRETS[2]),
        "--set".into(),
        format!("secrets.adminTokenSha256={{{}}}", "a".repeat(64)),
        "--set".into(),
        "config.smtp.url=smtp://mail.example.com:587?tls=required".into(),
        "--set".into(),
        "config.smtp.username=mailer".into(),
    ]
}

#[test]
fn the_configmap_holds_no_secret_and_with_the_secret_makes_a_valid_configuration() {
    // `config.extraToml` reaches the file as is: Confluence gets its own connector.
    let values_dir = tempfile::tempdir().expect("tempdir");
    let values = values_dir.path().join("values.yaml");
    std::fs::write(
        &values,
        "config:\n  extraToml: |\n    [[products]]\n    key = \"jira-software\"\n    \
         [[products]]\n    key = \"confluence\"\n    connector = \"confluence-cloud\"\n    \
         groups = [\"confluence-users\"]\n",
    )
    .expect("values");
    let mut args = secret_args();
    args.extend(["-f".to_string(), values.display().to_string()]);
    let docs = render(&args.iter().map(String::as_str).collect::<Vec<_>>()).expect("render");
    let configmap = kind(&docs, "ConfigMap");
    assert!(
        configmap[0].contains("connector = \"confluence-cloud\""),
        "{}",
        configmap[0]
    );
    assert_eq!(configmap.len(), 1);
    for secret in SECRETS {
        assert!(
            !configmap[0].contains(secret),
            "{secret} leaked into the ConfigMap:\n{}",
            configmap[0]
        );
        assert!(
            kind(&docs, "Secret")[0].contains(secret),
            "the Secret should carry {secret}"
        );
    }
    // The rendered reinstate.toml, with the variables the Secret provides, passes check-config.
    let toml: String = configmap[0]
        .split("reinstate.toml: |\n")
        .nth(1)
        .expect("reinstate.toml")
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("reinstate.toml");
    std::fs::write(&file, &toml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .args(["check-config", "--config"])
        .arg(&file)
        .env(
            "REINSTATE__SOURCES__LOGIN__SECRETS",
            format!("[\"{}\"]", SECRETS[0]),
        )
        .env("REINSTATE__DIRECTORY__API_TOKEN", SECRETS[1])
        .env("REINSTATE__SMTP__PASSWORD", SECRETS[2])
        .env(
            "REINSTATE__ADMIN__TOKEN_SHA256",
            format!("[\"{}\"]", "a".repeat(64)),
        )
        .output()
        .expect("check-config");
    assert!(
        out.status.success(),
        "{}\n{toml}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The pod takes each secret from the Secret, optionally.
    let sts = kind(&docs, "StatefulSet")[0];
    for var in [
        "REINSTATE__SOURCES__LOGIN__SECRETS",
        "REINSTATE__DIRECTORY__API_TOKEN",
        "REINSTATE__SMTP__PASSWORD",
        "REINSTATE__ADMIN__TOKEN_SHA256",
        "REINSTATE__DIRECTORY__ORG_API_KEY",
        "REINSTATE__DIRECTORY__SCIM_TOKEN",
    ] {
        assert!(
            sts.contains(&format!("name: {var}")),
            "{var} missing:\n{sts}"
        );
    }
}

#[test]
fn an_existing_secret_is_used_instead_of_creating_one() {
    let docs = render(&["--set", "existingSecret=corp-reinstate"]).expect("render");
    assert!(kind(&docs, "Secret").is_empty());
    assert!(kind(&docs, "StatefulSet")[0].contains("name: corp-reinstate"));
}

#[test]
fn the_ingress_exposes_only_public_paths_and_the_pod_is_locked_down() {
    let docs = render(&[
        "--set",
        "ingress.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "serviceMonitor.enabled=true",
    ])
    .expect("render");
    let ingress = kind(&docs, "Ingress")[0];
    let paths: Vec<&str> = ingress
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- path: "))
        .collect();
    assert_eq!(paths, vec!["/v1/hooks/", "/v1/links/", "/portal"]);
    assert!(!ingress.contains("/api") && !ingress.contains("/metrics"));
    let sts = kind(&docs, "StatefulSet")[0];
    for needle in [
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "runAsNonRoot: true",
        "- ALL",
        "path: /healthz",
        "path: /readyz",
        "volumeClaimTemplates:",
    ] {
        assert!(sts.contains(needle), "{needle} missing:\n{sts}");
    }
    assert_eq!(kind(&docs, "NetworkPolicy").len(), 1);
    assert_eq!(kind(&docs, "ServiceMonitor").len(), 1);
    assert_eq!(kind(&docs, "PodDisruptionBudget").len(), 1);
    // By default reinstate talks to the bundled NATS JetStream.
    assert!(kind(&docs, "ConfigMap")[0].contains("nats_url = \"nats://rel-nats:4222\""));
}

#[test]
fn invalid_values_are_rejected_by_the_schema() {
    let err = render(&["--set", "config.directory.kind=bitbucket"]).expect_err("invalid kind");
    assert!(err.contains("config.directory.kind"), "{err}");
    let err = render(&["--set", "replicaCount=0"]).expect_err("no replicas");
    assert!(err.contains("replicaCount"), "{err}");
}
