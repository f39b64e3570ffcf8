//! Disk trouble: the store's filesystem fills up or turns read-only. Readiness fails, ingress
//! answers `503` (never a `202` it cannot keep), and both recover when the disk does, with
//! nothing accepted lost. The store lives on a small tmpfs mounted for the test (needs root,
//! as on the project's machines and CI).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::both_buses;
use crate::support::*;

/// A tmpfs of 64 MiB at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the disk suite mounts a tmpfs: it needs root (CAP_SYS_ADMIN) and mount(8)"
        );
        Tmpfs(dir.to_path_buf())
    }
    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn wait_ready_status(app: &TestApp, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz answered {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A login while the disk is in trouble: `503`, the error body naming the disk.
async fn refused(app: &TestApp, email: &str) {
    let r = app.login(email, Some("jira-software")).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.expect("error body");
    assert_eq!(body["error"], "unavailable");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("disk"), "{detail}");
}

/// The disk fills up (dd writes until "No space left on device"), then is freed.
async fn a_full_disk_refuses_new_events_and_recovers(mode: BusMode) {
    let mnt = tempfile::tempdir().expect("tempdir");
    let _fs = Tmpfs::mount(mnt.path());
    let options = Options {
        store_path: Some(mnt.path().join("state")),
        store_toml: "min_free_mb = 16".into(),
        ..Default::default()
    };
    let app = TestApp::start_with(mode, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    for email in ["grace@example.com", "zed@example.com"] {
        assert_eq!(app.login(email, Some("jira-software")).await.status(), 202);
    }
    let filler = mnt.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=128"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    wait_ready_status(&app, 503).await;
    refused(&app, "ada@example.com").await;
    std::fs::remove_file(&filler).expect("free the disk");
    wait_ready_status(&app, 200).await;
    assert_eq!(
        app.login("ada@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    // Everything accepted, before and after, is handled.
    app.wait_for_outcome("grace@example.com", "restored").await;
    app.wait_for_outcome("zed@example.com", "restored").await;
    app.wait_for_outcome("ada@example.com", "already_licensed")
        .await;
}
both_buses!(a_full_disk_refuses_new_events_and_recovers);

/// A filesystem that turns read-only is refused too. (The kernel will not remount a
/// filesystem read-only while a process has files open on it for writing, as sled does, so
/// this checks the guard the service consults, on a tmpfs remounted while closed.)
#[test]
fn a_read_only_filesystem_is_not_writable() {
    let mnt = tempfile::tempdir().expect("tempdir");
    let fs = Tmpfs::mount(mnt.path());
    let guard = || reinstate::store::disk::DiskGuard::new(mnt.path().to_path_buf(), 1 << 20);
    assert_eq!(guard().check(), Ok(()));
    fs.remount("ro");
    let err = guard().check().expect_err("read-only");
    assert!(err.to_string().contains("read-only"), "{err}");
    fs.remount("rw");
    assert_eq!(guard().check(), Ok(()));
    let err = reinstate::store::disk::DiskGuard::new(mnt.path().to_path_buf(), 1 << 40)
        .check()
        .expect_err("not a terabyte free");
    assert!(err.to_string().contains("below store.min_free_mb"), "{err}");
}
