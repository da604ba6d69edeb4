//! One writer per folder: an exclusive `flock` on the folder itself, held for the life of the
//! process. The operating system releases it on any death (kill -9 included), so a lock can
//! never be left stale; a second process is refused with a line naming the holder, which the
//! holder writes to [`HOLDER`] once it has the lock.
//!
//! The lock is taken on the folder's own inode, so whoever holds it must keep the folder (empty
//! it, never remove and recreate it) for the lock to keep meaning something.
use crate::fsutil::{self, Kind, Marker};
use anyhow::{bail, Context, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The file in a locked folder that names the process holding the lock (JSON, a [`Marker`]).
/// Its presence means nothing: a killed holder leaves it, and only the `flock` counts.
pub const HOLDER: &str = ".tsal-lock";

/// The lock on a folder; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct FolderLock {
    _dir: std::fs::File,
}

impl FolderLock {
    /// Lock folder `dir` (which exists) for `kind`, or fail in one line naming the holder:
    /// `what` names the folder in it (`--save_path runs/a`). Where the file system cannot lock
    /// (some network mounts), the run goes on unlocked, with a warning.
    pub fn acquire(dir: &Path, kind: &Kind, what: &str) -> Result<Self> {
        let file = std::fs::File::open(dir).with_context(|| format!("{what}: cannot open"))?;
        // SAFETY: flock on a file descriptor this function owns.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                bail!("{what} is in use by {}: wait for it to end or stop it", holder(dir));
            }
            eprintln!(
                "tsal: warning: {what}: cannot lock the folder ({e}); nothing stops a second \
                 process from writing it at the same time"
            );
        }
        let info = serde_json::to_string_pretty(&Marker::now(kind))? + "\n";
        fsutil::write_atomic(&dir.join(HOLDER), info.as_bytes())?;
        Ok(Self { _dir: file })
    }
}

/// "process 123 on host h (`tsal train …`, since …)", as the holder wrote it.
fn holder(dir: &Path) -> String {
    let m: Option<Marker> = std::fs::read(dir.join(HOLDER))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|m: &Marker| m.pid != 0);
    match m {
        Some(m) => format!(
            "process {} on {} (`{}`, since {})",
            m.pid,
            if m.host.is_empty() { "this host".to_string() } else { m.host },
            m.command,
            m.created
        ),
        None => "another process".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_a_dropped_one_is_free() {
        let d = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(d.path(), &Kind::OUTPUT, "--save_path x").unwrap();
        // flock locks belong to the open file description: a second open in the same process
        // conflicts as another process would.
        let e = FolderLock::acquire(d.path(), &Kind::OUTPUT, "--save_path x").unwrap_err();
        let msg = format!("{e:#}");
        let me = format!("process {} on ", std::process::id());
        assert!(msg.starts_with("--save_path x is in use by ") && msg.contains(&me), "{msg}");
        drop(first);
        FolderLock::acquire(d.path(), &Kind::OUTPUT, "--save_path x").unwrap();
    }
}
