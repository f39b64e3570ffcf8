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

/// The login secrets, the directory's token and an admin token hash.
fn secret_values() -> Vec<String> {
    vec![
        "--set".into(),
        format!("secrets.loginSecrets={{{}}}", SECRETS[0]),
        "--set".into(),
        format!("secrets.directoryApiToken={}", SECRETS[1]),
        "--set".into(),
        format!("secrets.adminTokenSha256={{{}}}", "a".repeat(64)),
    ]
}

fn secret_args() -> Vec<String> {
    let mut args = secret_values();
    args.extend([
        "--set".into(),
        format!("secrets.smtpPassword={}", SECRETS[2]),
        "--set".into(),
        "config.smtp.url=smtp://mail.example.com:587?tls=required".into(),
        "--set".into(),
        "config.smtp.username=mailer".into(),
    ]);
    args
}

/// The `reinstate.toml` a rendered ConfigMap carries.
fn reinstate_toml(configmap: &str) -> String {
    configmap
        .split("reinstate.toml: |\n")
        .nth(1)
        .expect("reinstate.toml")
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `reinstate check-config` accepts `toml` with the environment `env`.
fn check_config(toml: &str, env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("reinstate.toml");
    std::fs::write(&file, toml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .args(["check-config", "--config"])
        .arg(&file)
        .envs(env.iter().copied())
        .output()
        .expect("check-config");
    assert!(
        out.status.success(),
        "{env:?}: {}\n{toml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let role = env
        .iter()
        .find_map(|(k, v)| (*k == "REINSTATE__SERVER__ROLE").then_some(*v))
        .unwrap_or("all");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("role {role},")), "{said}");
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
    let toml = reinstate_toml(configmap[0]);
    check_config(
        &toml,
        &[
            (
                "REINSTATE__SOURCES__LOGIN__SECRETS",
                &format!("[\"{}\"]", SECRETS[0]),
            ),
            ("REINSTATE__DIRECTORY__API_TOKEN", SECRETS[1]),
            ("REINSTATE__SMTP__PASSWORD", SECRETS[2]),
            (
                "REINSTATE__ADMIN__TOKEN_SHA256",
                &format!("[\"{}\"]", "a".repeat(64)),
            ),
        ],
    );
    // The pod reads each secret the Secret holds from its file (never the environment), and
    // those files with the variables that name them make the same valid configuration.
    let sts = kind(&docs, "StatefulSet")[0];
    let files = tempfile::tempdir().expect("tempdir");
    let mut env = Vec::new();
    for (var, key, content) in [
        (
            "REINSTATE__SOURCES__LOGIN__SECRETS",
            "login-secrets",
            format!("[\"{}\"]", SECRETS[0]),
        ),
        (
            "REINSTATE__DIRECTORY__API_TOKEN",
            "directory-api-token",
            SECRETS[1].to_string(),
        ),
        (
            "REINSTATE__SMTP__PASSWORD",
            "smtp-password",
            SECRETS[2].to_string(),
        ),
        (
            "REINSTATE__ADMIN__TOKEN_SHA256",
            "admin-token-sha256",
            format!("[\"{}\"]", "a".repeat(64)),
        ),
    ] {
        let named =
            format!("- name: {var}_FILE\n              value: /run/secrets/reinstate/{key}");
        assert!(sts.contains(&named), "{named} missing:\n{sts}");
        assert!(sts.contains(&format!("- key: {key}")), "{key} not mounted");
        let path = files.path().join(key);
        std::fs::write(&path, format!("{content}\n")).expect("write");
        env.push((format!("{var}_FILE"), path.display().to_string()));
    }
    assert!(sts.contains("mountPath: /run/secrets/reinstate, readOnly: true"));
    assert!(
        !sts.contains("secretKeyRef"),
        "a secret in the environment:\n{sts}"
    );
    // Keys the Secret does not hold are not asked for.
    assert!(!sts.contains("REINSTATE__DIRECTORY__ORG_API_KEY"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    check_config(&toml, &env);
}

#[test]
fn an_existing_secret_is_used_instead_of_creating_one() {
    let docs = render(&["--set", "existingSecret=corp-reinstate"]).expect("render");
    assert!(kind(&docs, "Secret").is_empty());
    let sts = kind(&docs, "StatefulSet")[0];
    // Its keys unknown, each is an optional variable, as before.
    assert!(sts.contains("name: corp-reinstate"));
    assert!(
        sts.contains("name: REINSTATE__DIRECTORY__API_TOKEN\n"),
        "{sts}"
    );
    assert!(!sts.contains("_FILE"), "{sts}");
    // Its keys listed, they are mounted as files.
    let docs = render(&[
        "--set",
        "existingSecret=corp-reinstate",
        "--set",
        "existingSecretKeys={directory-api-token,admin-token-sha256}",
    ])
    .expect("render");
    let sts = kind(&docs, "StatefulSet")[0];
    assert!(sts.contains("secretName: corp-reinstate"), "{sts}");
    assert!(
        sts.contains("name: REINSTATE__DIRECTORY__API_TOKEN_FILE"),
        "{sts}"
    );
    assert!(!sts.contains("secretKeyRef"), "{sts}");
    assert!(!sts.contains("SMTP__PASSWORD"), "{sts}");
}

/// The image can be pinned by digest, and the default values limit CPU as well as memory.
#[test]
fn the_image_is_referable_by_digest_and_cpu_is_limited() {
    let digest = format!("sha256:{}", "0f".repeat(32));
    let docs = render(&["--set", &format!("image.digest={digest}")]).expect("render");
    let sts = kind(&docs, "StatefulSet")[0];
    assert!(
        sts.contains(&format!("image: \"ghcr.io/reinstate/reinstate@{digest}\"")),
        "{sts}"
    );
    let limits = sts.split("limits:").nth(1).expect("limits");
    assert!(
        limits
            .split("requests:")
            .next()
            .expect("limits")
            .contains("cpu:"),
        "{sts}"
    );
    assert!(render(&["--set", "image.digest=latest"]).is_err());
}

/// An Ingress's paths, each with the Service it goes to.
fn routes(ingress: &str) -> Vec<(&str, &str)> {
    let lines: Vec<&str> = ingress.lines().map(str::trim).collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let path = l.strip_prefix("- path: ")?;
            let service = lines[i..]
                .iter()
                .find_map(|l| l.strip_prefix("name: "))
                .expect("a backend");
            Some((path, service))
        })
        .collect()
}

#[test]
fn the_ingress_sends_public_paths_and_the_console_only_and_the_pod_is_locked_down() {
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
    assert_eq!(
        routes(ingress),
        vec![
            ("/v1/hooks/", "rel-reinstate"),
            ("/v1/links/", "rel-reinstate"),
            ("/portal", "rel-reinstate"),
            ("/api/", "rel-reinstate"),
            ("/console", "rel-reinstate"),
        ]
    );
    assert!(!ingress.contains("/metrics"));
    let inside = render(&[
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.console=false",
    ])
    .expect("render");
    let public: Vec<&str> = routes(kind(&inside, "Ingress")[0])
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(public, vec!["/v1/hooks/", "/v1/links/", "/portal"]);
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
    // A second pod of the single topology would stand by for ever on a store of its own.
    let err = render(&["--set", "replicaCount=2"]).expect_err("two state owners");
    assert!(err.contains("replicaCount"), "{err}");
    let err = render(&["--set", "topology=split", "--set", "nats.enabled=false"])
        .expect_err("split without NATS");
    assert!(err.contains("topology: split needs NATS"), "{err}");
    let err = render(&["--set", "config.bus.replicas=3"]).expect_err("3 copies on one server");
    assert!(
        err.contains("config.bus.replicas: 3 copies need a NATS cluster"),
        "{err}"
    );
    let err = render(&["--set", "intake.replicas=1"]).expect_err("one intake");
    assert!(err.contains("intake.replicas"), "{err}");
}

fn production() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/reinstate/values-production.yaml")
        .display()
        .to_string()
}

/// The production profile: stateless intake pods (a Deployment that scales on CPU, with a
/// PDB) in front of one state pod with its volume; NATS as a three-node cluster keeping three
/// copies; the Ingress sends the public paths to the intake and the console to the state. Each
/// pod gets only the secrets its role needs, and its configuration passes check-config.
#[test]
fn the_production_profile_splits_intake_and_state() {
    let values = production();
    let out = Command::new(helm())
        .args(["lint", "--strict"])
        .arg(chart_copy(tempfile::tempdir().expect("tmp").path()))
        .args(["-f", &values])
        .output()
        .expect("helm lint");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut args: Vec<String> = vec!["-f".into(), values.clone()];
    args.extend(secret_values());
    args.extend([
        "--set".into(),
        "secrets.linkKeys[0].id=k1".into(),
        "--set".into(),
        "secrets.linkKeys[0].secret=0123456789abcdef0123456789abcdef".into(),
        "--set".into(),
        "config.links.active=k1".into(),
        "--set".into(),
        "secrets.slackSigningSecrets={8f742231b10e8888abcd99yyyzzz85a5}".into(),
        "--set".into(),
        "secrets.slackBotToken=xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy".into(),
        "--set".into(),
        "secrets.postmarkCredentials={postmark:0123456789abcdef-inbound}".into(),
        "--set".into(),
        "secrets.mailgunSigningKeys={key-0123456789abcdef-mailgun}".into(),
        "--set".into(),
        "secrets.teamsAppSecret=teams-bot-secret-0123456789".into(),
        "--set-string".into(),
        "config.extraToml=[sources.teams]\napp_id = \"c9e8c047-2a74-40a2-b28a-b162d5f5327c\""
            .into(),
    ]);
    let docs = render(&args.iter().map(String::as_str).collect::<Vec<_>>()).expect("render");

    let intake = kind(&docs, "Deployment");
    assert_eq!(intake.len(), 1);
    let intake = intake[0];
    for needle in [
        "name: rel-reinstate-intake",
        "value: intake",
        "app.kubernetes.io/component: intake",
        "name: REINSTATE__SOURCES__LOGIN__SECRETS",
        "name: REINSTATE__LINKS__KEYS",
        "name: REINSTATE__SOURCES__SLACK__SIGNING_SECRETS",
        "name: REINSTATE__SOURCES__MAIL__POSTMARK_CREDENTIALS",
        "name: REINSTATE__SOURCES__MAIL__MAILGUN_SIGNING_KEYS",
        "topologySpreadConstraints:",
        "readOnlyRootFilesystem: true",
    ] {
        assert!(
            intake.contains(needle),
            "{needle} missing:
{intake}"
        );
    }
    for absent in [
        "mountPath: /data",
        "REINSTATE__DIRECTORY__API_TOKEN",
        "REINSTATE__ADMIN__TOKEN_SHA256",
        "REINSTATE__SMTP__PASSWORD",
        "REINSTATE__SOURCES__SLACK__BOT_TOKEN",
        "REINSTATE__SOURCES__TEAMS__APP_SECRET",
        "replicas:",
    ] {
        assert!(
            !intake.contains(absent),
            "{absent} in the intake:
{intake}"
        );
    }
    let hpa = kind(&docs, "HorizontalPodAutoscaler");
    assert!(hpa[0].contains("minReplicas: 3") && hpa[0].contains("averageUtilization: 70"));
    let pdbs = kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 2, "one for the intake, one for the state");
    assert!(pdbs.iter().any(|p| p.contains("minAvailable: 1")));

    let state = kind(&docs, "StatefulSet")[0];
    for needle in [
        "replicas: 1",
        "value: state",
        "volumeClaimTemplates:",
        "mountPath: /data",
        "name: REINSTATE__DIRECTORY__API_TOKEN",
        "name: REINSTATE__SOURCES__SLACK__BOT_TOKEN",
        "name: REINSTATE__SOURCES__TEAMS__APP_SECRET",
    ] {
        assert!(
            state.contains(needle),
            "{needle} missing:
{state}"
        );
    }
    assert!(!state.contains("REINSTATE__SOURCES__LOGIN__SECRETS"));
    assert_eq!(
        routes(kind(&docs, "Ingress")[0]),
        vec![
            ("/v1/hooks/", "rel-reinstate-intake"),
            ("/v1/links/", "rel-reinstate-intake"),
            ("/portal", "rel-reinstate-intake"),
            ("/api/", "rel-reinstate"),
            ("/console", "rel-reinstate"),
        ]
    );
    let toml = reinstate_toml(kind(&docs, "ConfigMap")[0]);
    assert!(toml.contains("replicas = 3"), "{toml}");
    assert!(toml.contains("state_url = \"http://rel-reinstate.default.svc:8080\""));
    let link_keys = "[{id = \"k1\", secret = \"0123456789abcdef0123456789abcdef\"}]";
    check_config(
        &toml,
        &[
            ("REINSTATE__SERVER__ROLE", "intake"),
            (
                "REINSTATE__SOURCES__LOGIN__SECRETS",
                &format!("[\"{}\"]", SECRETS[0]),
            ),
            ("REINSTATE__LINKS__KEYS", link_keys),
            (
                "REINSTATE__SOURCES__SLACK__SIGNING_SECRETS",
                "[\"8f742231b10e8888abcd99yyyzzz85a5\"]",
            ),
            (
                "REINSTATE__SOURCES__MAIL__POSTMARK_CREDENTIALS",
                "[\"postmark:0123456789abcdef-inbound\"]",
            ),
            (
                "REINSTATE__SOURCES__MAIL__MAILGUN_SIGNING_KEYS",
                "[\"key-0123456789abcdef-mailgun\"]",
            ),
        ],
    );
    check_config(
        &toml,
        &[
            ("REINSTATE__SERVER__ROLE", "state"),
            ("REINSTATE__LINKS__KEYS", link_keys),
            ("REINSTATE__DIRECTORY__API_TOKEN", SECRETS[1]),
            (
                "REINSTATE__ADMIN__TOKEN_SHA256",
                &format!("[\"{}\"]", "a".repeat(64)),
            ),
            (
                "REINSTATE__SOURCES__SLACK__BOT_TOKEN",
                "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
            ),
            (
                "REINSTATE__SOURCES__TEAMS__APP_SECRET",
                "teams-bot-secret-0123456789",
            ),
        ],
    );
}
