//! Whether the store's filesystem can take writes: not read-only, and more than
//! `store.min_free_mb` free. sled keeps writing into space it already holds long after the disk
//! is full, then fails in its background flusher; refusing new work before that point keeps
//! every `202` a promise the store can keep. Checked at most once a second.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct DiskGuard {
    path: PathBuf,
    min_free: u64,
    last: Mutex<Option<(Instant, Result<(), DiskUnfit>)>>,
}

/// Why the store's filesystem should take no new work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DiskUnfit(String);

impl DiskGuard {
    pub fn new(path: PathBuf, min_free: u64) -> DiskGuard {
        DiskGuard {
            path,
            min_free,
            last: Mutex::new(None),
        }
    }

    /// `Err` with why when the store should take no new work.
    pub fn check(&self) -> Result<(), DiskUnfit> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < Duration::from_secs(1)
        {
            return result.clone();
        }
        let result = self.probe();
        *last = Some((Instant::now(), result.clone()));
        result
    }

    fn probe(&self) -> Result<(), DiskUnfit> {
        let stat = rustix::fs::statvfs(&self.path).map_err(|e| {
            DiskUnfit(format!(
                "{}: cannot read the filesystem's state: {e}",
                self.path.display()
            ))
        })?;
        if stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            return Err(DiskUnfit(format!(
                "{}: the filesystem is read-only",
                self.path.display()
            )));
        }
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        if free < self.min_free {
            return Err(DiskUnfit(format!(
                "{}: {} MiB free, below store.min_free_mb ({} MiB)",
                self.path.display(),
                free >> 20,
                self.min_free >> 20
            )));
        }
        Ok(())
    }
}
