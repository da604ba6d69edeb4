//! Output that appears whole or not at all, and never at the cost of a user's files: files
//! written through a temporary name and renamed into place, folders built under a staging name
//! ([`StagedDir`]) and swapped in when complete.
//!
//! Every staged folder carries a marker file ([`MARKER`]); `--force` replaces only an empty
//! folder or one tsal recognisably wrote, never a file or a folder of someone else's. Staging
//! and set-aside folders are named after the target and the process that made them
//! (`.NAME.partial-PID-N`, `.NAME.old-PID-N`), so that the next run on the same target can
//! clean up after a process that was killed.
use crate::interrupt::{self, Partial};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Unique suffixes for temporary, staging and set-aside names within this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_suffix() -> String {
    format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The folder holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn file_name_of(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .with_context(|| format!("bad output path {}: it names no file", path.display()))?;
    Ok(name.to_string_lossy().into_owned())
}

/// Write `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", file_name_of(path)?, next_suffix()));
    let written = std::fs::write(&tmp, bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A file written as a stream (the demo's video and landmarks file) under a temporary name
/// beside its target that keeps the extension (FFmpeg picks the container from it),
/// `.NAME.tsal-partial-PID-N.EXT`; [`StagedFile::commit`] renames it into place, and dropping it
/// uncommitted removes it, so a failed or interrupted run leaves nothing under the target's
/// name. The file itself is created by whoever writes it, at [`StagedFile::path`].
pub struct StagedFile {
    path: PathBuf,
    target: PathBuf,
}

impl StagedFile {
    pub fn new(target: &Path) -> Self {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ext =
            target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let path = target.with_file_name(format!(".{name}.tsal-partial-{}{ext}", next_suffix()));
        Self { path, target: target.to_path_buf() }
    }

    /// Where the file is being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Rename the finished file into place (`flag` names the output in the error). Dropping it
    /// afterwards finds nothing left to remove.
    pub fn commit(&self, flag: &str) -> Result<PathBuf> {
        std::fs::rename(&self.path, &self.target).with_context(|| {
            format!("{flag} {}: cannot move the finished file into place", self.target.display())
        })?;
        Ok(self.target.clone())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Uncommitted: nothing under the target's name, no temporary left (after a commit
        // there is nothing at `path` to remove).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The marker file in every folder a [`StagedDir`] writes: what wrote it, so that `--force`
/// can tell tsal's own output from anything else.
pub const MARKER: &str = ".tsal-output";

/// The contents of [`MARKER`] (JSON). Every field is optional when read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Marker {
    /// What wrote the folder ("tsal synth").
    pub written_by: String,
    /// The tsal version.
    pub tsal: String,
    /// When the folder was started, UTC (RFC 3339).
    pub created: String,
    /// The host and process that wrote it (the next run on the same target uses them to tell a
    /// dead writer's leftovers from a live one's).
    pub host: String,
    pub pid: u32,
    /// The command line.
    pub command: String,
}

impl Marker {
    pub(crate) fn now(kind: &Kind) -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            written_by: kind.name.to_string(),
            tsal: env!("CARGO_PKG_VERSION").to_string(),
            created: utc_rfc3339(secs),
            host: hostname(),
            pid: std::process::id(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// The marker of folder `dir`, if it has one (an unreadable marker reads as empty).
    pub fn read(dir: &Path) -> Option<Self> {
        let path = dir.join(MARKER);
        if !path.is_file() {
            return None;
        }
        Some(
            std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
        )
    }

    fn describe(&self) -> String {
        if self.written_by.is_empty() {
            "written by tsal".to_string()
        } else {
            format!("written by {} {} at {}", self.written_by, self.tsal, self.created)
        }
    }
}

/// Write a [`MARKER`] of `kind` into `dir` (a folder tsal fills over time, such as a training
/// run, rather than building it aside).
pub fn mark(dir: &Path, kind: &Kind) -> Result<()> {
    write_atomic(
        &dir.join(MARKER),
        (serde_json::to_string_pretty(&Marker::now(kind))? + "\n").as_bytes(),
    )
}

/// UTC calendar fields of `secs` since 1970: (year, month 1–12, day, hour, minute, second),
/// proleptic Gregorian.
pub fn utc_fields(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

/// `secs` since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn utc_rfc3339(secs: u64) -> String {
    let (year, month, day, h, m, s) = utc_fields(secs);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether process `pid` (of this host) may still be running: anything but "no such process"
/// counts as running, so that a live process's files are never touched.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// What a [`StagedDir`] builds: named in its marker, and optionally recognised by its layout
/// when written by a tsal from before markers.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// What writes it ("tsal synth"), as the marker records it.
    pub name: &'static str,
    /// Whether a folder without a marker is this kind of output, written by an earlier tsal
    /// (a cheap look at its layout). `None`: only the marker counts.
    pub legacy: Option<fn(&Path) -> bool>,
}

impl Kind {
    /// Output of no particular kind: only the marker counts.
    pub const OUTPUT: Kind = Kind { name: "tsal", legacy: None };
}

/// What is at an output path that [`check_target`] accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Absent,
    /// An empty folder.
    EmptyDir,
    /// A folder tsal wrote (how it was recognised), to be replaced.
    Ours(String),
}

/// Whether tsal may write a folder at `target` (replacing what is there when `replace`), before
/// any work is done. Refused, with a line naming the path and what to do: anything that is not
/// a folder (with or without `replace`); a non-empty folder without `replace`; with `replace`, a
/// non-empty folder without the [`MARKER`] that `kind.legacy` does not recognise.
pub fn check_target(target: &Path, replace: bool, kind: &Kind) -> Result<Existing> {
    let t = target.display();
    let meta = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Absent),
        r => r.with_context(|| format!("cannot look at {t}"))?,
    };
    if meta.file_type().is_symlink() {
        bail!(
            "{t} is a symbolic link; tsal does not write through or replace links, even with \
             --force: pass the folder it points to, or another path"
        );
    }
    if !meta.is_dir() {
        bail!(
            "{t} exists and is not a folder; tsal never replaces it, even with --force: choose \
             another output path, or move {t} away"
        );
    }
    let mut entries =
        std::fs::read_dir(target).with_context(|| format!("cannot list {t}"))?.peekable();
    if entries.peek().is_none() {
        return Ok(Existing::EmptyDir);
    }
    let ours = Marker::read(target).map(|m| m.describe()).or_else(|| {
        kind.legacy
            .filter(|recognise| recognise(target))
            .map(|_| format!("{} output of an earlier tsal, without {MARKER}", kind.name))
    });
    match (ours, replace) {
        (Some(how), true) => Ok(Existing::Ours(how)),
        (Some(how), false) => bail!("{t} already exists ({how}); pass --force to replace it"),
        (None, true) => bail!(
            "{t} is not empty and tsal did not write it (no {MARKER} in it), so --force does not \
             replace it: choose another output path, or empty or remove {t} yourself"
        ),
        (None, false) => bail!(
            "{t} already exists and is not empty; choose another output path (--force replaces \
             only folders tsal wrote, and {t} has no {MARKER})"
        ),
    }
}

/// A leftover of an earlier run next to a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leftover {
    /// `.NAME.partial-PID[-N]`: a folder under construction (or, after a swap, the old output
    /// being deleted).
    Partial,
    /// `.NAME.old-PID-N`: the old output moved aside while the new one was renamed in.
    Aside,
}

/// The leftover kind and process of entry `entry` of the target folder's parent, if it is one
/// for target name `name`.
fn parse_leftover(entry: &str, name: &str) -> Option<(Leftover, u32)> {
    let rest = entry.strip_prefix('.')?.strip_prefix(name)?.strip_prefix('.')?;
    let (kind, rest) = if let Some(r) = rest.strip_prefix("partial-") {
        (Leftover::Partial, r)
    } else {
        (Leftover::Aside, rest.strip_prefix("old-")?)
    };
    let (pid, counter) = rest.split_once('-').unwrap_or((rest, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(counter) {
        return None;
    }
    Some((kind, pid.parse().ok()?))
}

/// Clean up after dead processes that were writing `target`: remove their partial folders, and
/// put an old output they had moved aside back in place when nothing took its place (else
/// remove it). One line on stderr for each; only a failure to put an old output back is an
/// error. Leftovers of live processes, of other hosts (as
/// their marker says), and of this process are left alone.
fn clean_leftovers(target: &Path) -> Result<()> {
    let parent = parent_of(target);
    let name = file_name_of(target)?;
    let Ok(entries) = std::fs::read_dir(parent) else { return Ok(()) };
    let (me, host) = (std::process::id(), hostname());
    let mut found: Vec<(Leftover, u32, PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let entry = e.file_name().to_string_lossy().into_owned();
        // Named as the target is (`.X.partial-1` rather than `./.X.partial-1`).
        let path = target.with_file_name(e.file_name());
        if entry == format!(".{name}.old") {
            eprintln!(
                "tsal: note: {} is probably the old output an earlier version of tsal moved \
                 aside when it was stopped while replacing {name}; it was not touched: move it \
                 back or remove it yourself",
                path.display()
            );
        }
        let Some((kind, pid)) = parse_leftover(&entry, &name) else { continue };
        if pid == me || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // A partial's marker names its writer; an aside holds an older output, whose marker
        // names someone else.
        if kind == Leftover::Partial {
            if let Some(m) = Marker::read(&path) {
                if !m.host.is_empty() && m.host != host {
                    continue;
                }
            }
        }
        if !process_alive(pid) {
            found.push((kind, pid, path));
        }
    }
    // Asides first: an old output goes back in place before partials are judged.
    found.sort_by_key(|(kind, _, _)| *kind == Leftover::Partial);
    for (kind, pid, path) in found {
        let p = path.display();
        if kind == Leftover::Aside && std::fs::symlink_metadata(target).is_err() {
            std::fs::rename(&path, target)
                .with_context(|| format!("cannot move {p} back to {}", target.display()))?;
            eprintln!(
                "tsal: put back {}: process {pid}, which is no longer running, had moved it \
                 aside to {p} to replace it and stopped before finishing",
                target.display()
            );
            continue;
        }
        let what = match kind {
            Leftover::Partial => "a partial output",
            Leftover::Aside => "a replaced output",
        };
        match std::fs::remove_dir_all(&path) {
            Ok(()) => eprintln!(
                "tsal: removed {what} left by process {pid}, which is no longer running: {p}"
            ),
            // It takes space but hides nothing: not a reason to refuse the run.
            Err(e) => eprintln!(
                "tsal: warning: cannot remove {what} left by process {pid}, which is no longer \
                 running: {p}: {e}"
            ),
        }
    }
    Ok(())
}

/// A temporary file of [`write_atomic`] (`.NAME.tmp-PID-N`) or [`StagedFile`]
/// (`.NAME.tsal-partial-PID-N[.EXT]`): the target's name and the writing process.
fn parse_temporary(entry: &str) -> Option<(&str, u32)> {
    let rest = entry.strip_prefix('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (name, tail) = if let Some((name, tail)) = rest.rsplit_once(".tmp-") {
        (name, tail)
    } else {
        let (name, tail) = rest.split_once(".tsal-partial-")?;
        // The extension, if any, is the target's own: `PID-N` then `.EXT`.
        (name, tail.split_once('.').map_or(tail, |(pn, _)| pn))
    };
    let (pid, n) = tail.split_once('-')?;
    if name.is_empty() || !digits(pid) || !digits(n) {
        return None;
    }
    Some((name, pid.parse().ok()?))
}

/// Clean up what dead tsal processes of this host left in folder `dir`: the temporary files of
/// [`write_atomic`] and [`StagedFile`] (for targets named in `names`, or all when `None`), and
/// with `None` also every staging or set-aside folder (as [`StagedDir`] does for its own
/// target). One line on stderr for each; nothing of a live process, or of this one, is touched.
pub fn clean_dead_temporaries(dir: &Path, names: Option<&[&str]>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = std::process::id();
    let mut folders: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let entry = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if names.is_none() {
                // `.NAME.partial-PID-N` / `.NAME.old-PID-N`: judged by the target's own rules.
                let target = entry.strip_prefix('.').and_then(|r| {
                    r.rsplit_once(".partial-").or_else(|| r.rsplit_once(".old-")).map(|(n, _)| n)
                });
                if let Some(t) = target.filter(|t| parse_leftover(&entry, t).is_some()) {
                    folders.push(t.to_string());
                }
            }
            continue;
        }
        let Some((name, pid)) = parse_temporary(&entry) else { continue };
        if pid == me || names.is_some_and(|n| !n.contains(&name)) || process_alive(pid) {
            continue;
        }
        let path = dir.join(&entry);
        match std::fs::remove_file(&path) {
            Ok(()) => eprintln!(
                "tsal: removed a partial file left by process {pid}, which is no longer \
                 running: {}",
                path.display()
            ),
            Err(e) => eprintln!("tsal: warning: cannot remove {}: {e}", path.display()),
        }
    }
    folders.sort();
    folders.dedup();
    for t in folders {
        if let Err(e) = clean_leftovers(&dir.join(&t)) {
            eprintln!("tsal: warning: {e:#}");
        }
    }
}

/// Whether `err` (any cause in its chain) is a full disk or an exhausted quota. libtorch's
/// writers report it only as text (`IoError(Os { code: 28, … })`).
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error);
        if matches!(io, Some(libc::ENOSPC | libc::EDQUOT)) {
            return true;
        }
        let text = c.to_string();
        text.contains("No space left on device") || text.contains("Disk quota exceeded")
    })
}

/// The one line for an error whose cause is a full disk: the contexts above the raw I/O error
/// (which repeats paths and prints the OS structure), then "no space left on device"; a
/// context that already says so stands alone.
pub fn disk_full_line(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for c in err.chain() {
        let text = c.to_string();
        if text.starts_with("no space left on device") {
            parts.push(text);
            return parts.join(": ");
        }
        let raw = c.downcast_ref::<std::io::Error>().is_some()
            || text.contains("No space left on device")
            || text.contains("Disk quota exceeded");
        if raw {
            break;
        }
        parts.push(text);
    }
    parts.push("no space left on device".to_string());
    parts.join(": ")
}

/// A folder under construction. Everything is written below [`StagedDir::path`] (a hidden
/// `.NAME.partial-PID-N` next to the target, with the [`MARKER`] in it); [`StagedDir::commit`]
/// puts it in place, and dropping it uncommitted removes it, so that a failed or interrupted
/// run leaves nothing behind. While it exists, the [`interrupt`] safety net knows it.
pub struct StagedDir {
    /// The staging folder's registration; `None` once committed.
    partial: Option<Partial>,
    staging: PathBuf,
    target: PathBuf,
    replace: bool,
    kind: Kind,
}

impl StagedDir {
    /// Start building `target`, of no particular [`Kind`]; see [`StagedDir::with_kind`].
    pub fn new(target: &Path, replace: bool) -> Result<Self> {
        Self::with_kind(target, replace, Kind::OUTPUT)
    }

    /// Start building `target`: first clean up what dead processes left there, then refuse
    /// what [`check_target`] refuses (before any work), then create the staging folder and its
    /// marker.
    pub fn with_kind(target: &Path, replace: bool, kind: Kind) -> Result<Self> {
        clean_leftovers(target)?;
        check_target(target, replace, &kind)?;
        let parent = parent_of(target);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let name = file_name_of(target)?;
        let staging = loop {
            let staging = target.with_file_name(format!(".{name}.partial-{}", next_suffix()));
            match std::fs::create_dir(&staging) {
                Ok(()) => break staging,
                // Left by an earlier process that had this pid: take the next number.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", staging.display()))
                }
            }
        };
        let staged = Self {
            partial: Some(Partial::new(&staging, "partial output")),
            staging,
            target: target.to_path_buf(),
            replace,
            kind,
        };
        let marker = staged.staging.join(MARKER);
        std::fs::write(&marker, serde_json::to_string_pretty(&Marker::now(&kind))? + "\n")
            .with_context(|| format!("cannot write {}", marker.display()))?;
        Ok(staged)
    }

    /// Where to write while building.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Put the finished folder in place. The target is checked again; an existing one is
    /// swapped with the new folder in one step (Linux `renameat2(RENAME_EXCHANGE)`) and then
    /// deleted under the staging name, so that the target always holds either the old or the
    /// new output. Where the file system cannot exchange, the old one is renamed aside first
    /// (`.NAME.old-PID-N`; a next run puts it back if the process dies before the new one is in
    /// place).
    pub fn commit(mut self) -> Result<PathBuf> {
        let t = self.target.display().to_string();
        let existing = check_target(&self.target, self.replace, &self.kind)
            .with_context(|| format!("{t} changed while the new output was being built"))?;
        let partial = self.partial.take().context("already committed")?;
        let old = match existing {
            Existing::Absent => {
                let renamed = interrupt::exclusive(|| std::fs::rename(&self.staging, &self.target));
                if let Err(e) = renamed {
                    self.partial = Some(partial);
                    return Err(e).with_context(|| {
                        format!("cannot rename {} to {t}", self.staging.display())
                    });
                }
                None
            }
            Existing::EmptyDir | Existing::Ours(_) => {
                match interrupt::exclusive(|| swap(&self.staging, &self.target)) {
                    Ok(Swapped::Exchanged) => {
                        partial.rename_as("replaced output");
                        Some(partial)
                    }
                    Ok(Swapped::Aside(aside)) => Some(Partial::new(&aside, "replaced output")),
                    Err(e) => {
                        self.partial = Some(partial);
                        return Err(e);
                    }
                }
            }
        };
        // The new output is in place: failing to delete the old one only deserves a warning.
        if let Some(old) = old {
            let path = old.path().display().to_string();
            if let Err(e) = old.discard() {
                eprintln!(
                    "tsal: warning: {t} is in place, but the output it replaced could not be \
                     removed from {path} ({e}); remove it yourself"
                );
            }
        }
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if let Some(p) = self.partial.take() {
            let _ = p.discard();
        }
    }
}

/// Where [`swap`] left the old target.
#[derive(Debug, PartialEq, Eq)]
enum Swapped {
    /// At the staging path.
    Exchanged,
    /// At this set-aside path.
    Aside(PathBuf),
}

/// Put folder `staging` at `target`, which exists: exchange the two atomically, or, where the
/// file system cannot, by two renames.
fn swap(staging: &Path, target: &Path) -> Result<Swapped> {
    match exchange(staging, target) {
        Ok(()) => Ok(Swapped::Exchanged),
        Err(e)
            if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) =>
        {
            swap_by_renames(staging, target).map(Swapped::Aside)
        }
        Err(e) => Err(e).with_context(|| {
            format!("cannot exchange {} with {}", staging.display(), target.display())
        }),
    }
}

/// Exchange two existing paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); fails with
/// EINVAL, ENOSYS or EOPNOTSUPP where the file system or platform cannot.
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths relative to the current folder; the raw syscall avoids
    // needing a glibc that wraps renameat2.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Exchange two existing paths atomically: unsupported (ENOSYS) off Linux.
#[cfg(not(target_os = "linux"))]
pub fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Rename `target` aside to a unique `.NAME.old-PID-N`, then `staging` to `target` (moving the
/// old one back if that fails); the aside path.
fn swap_by_renames(staging: &Path, target: &Path) -> Result<PathBuf> {
    let aside = target.with_file_name(format!(".{}.old-{}", file_name_of(target)?, next_suffix()));
    let (s, t, a) = (staging.display(), target.display(), aside.display());
    std::fs::rename(target, &aside)
        .with_context(|| format!("cannot move the old {t} aside to {a}"))?;
    if let Err(e) = std::fs::rename(staging, target) {
        let back = match std::fs::rename(&aside, target) {
            Ok(()) => format!("{t} is unchanged"),
            Err(b) => format!("and could not move the old output back from {a}: {b}"),
        };
        bail!("cannot rename {s} to {t}: {e}; {back}");
    }
    Ok(aside)
}

/// `path` relative to `base` (both taken as given, made absolute against the current folder),
/// with `..` steps where needed. Used to write lists whose paths stay valid when a dataset
/// tree is moved as a whole.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| -> Vec<std::ffi::OsString> {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out: Vec<std::ffi::OsString> = Vec::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c.as_os_str().to_os_string()),
            }
        }
        out
    };
    let (p, b) = (abs(path), abs(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c);
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_file_names_keep_the_extension_and_the_folder() {
        let f = StagedFile::new(Path::new("out/demo.mp4"));
        let p = f.path();
        assert_eq!(p.parent(), Some(Path::new("out")));
        assert_eq!(p.extension().unwrap(), "mp4");
        assert!(p.file_name().unwrap().to_string_lossy().starts_with(".demo.mp4.tsal-partial-"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.jpg"), Path::new("/a/lists")),
            Path::new("../b/c.jpg")
        );
        assert_eq!(relative_path(Path::new("/a/b/c.jpg"), Path::new("/a/b")), Path::new("c.jpg"));
        assert_eq!(relative_path(Path::new("/x/./y/../z"), Path::new("/x")), Path::new("z"));
    }

    #[test]
    fn leftover_names() {
        assert_eq!(parse_leftover(".out.partial-12-3", "out"), Some((Leftover::Partial, 12)));
        assert_eq!(parse_leftover(".out.partial-12", "out"), Some((Leftover::Partial, 12)));
        assert_eq!(parse_leftover(".out.old-7-0", "out"), Some((Leftover::Aside, 7)));
        for other in [".out.old", ".out.partial-", ".out.partial-1x", ".outx.partial-1", "out"] {
            assert_eq!(parse_leftover(other, "out"), None, "{other}");
        }
        assert_eq!(parse_leftover(".a.b.partial-5-1", "a.b"), Some((Leftover::Partial, 5)));
    }

    #[test]
    fn temporary_names() {
        assert_eq!(parse_temporary(".last.json.tmp-12-3"), Some(("last.json", 12)));
        assert_eq!(parse_temporary(".demo.mp4.tsal-partial-7-0.mp4"), Some(("demo.mp4", 7)));
        assert_eq!(parse_temporary(".landmarks.tsal-partial-7-1"), Some(("landmarks", 7)));
        for other in [".a.tmp-", ".a.tmp-1", ".a.tmp-x-1", "a.tmp-1-2", "..tmp-1-2", ".a.json"] {
            assert_eq!(parse_temporary(other), None, "{other}");
        }
    }

    #[test]
    fn a_full_disk_reads_as_one_line_without_the_raw_error() {
        let raw = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = anyhow::Error::new(raw).context("cannot write run/.last.json.tmp-1-2");
        assert!(is_disk_full(&e));
        assert_eq!(
            disk_full_line(&e),
            "cannot write run/.last.json.tmp-1-2: no space left on device"
        );
        // libtorch's writers: text only.
        let tch = anyhow::anyhow!("safetensors error x: IoError(Os {{ code: 28, kind: StorageFull, message: \"No space left on device\" }})")
            .context("no space left on device while writing snapshot s; kept t");
        assert!(is_disk_full(&tch));
        assert_eq!(
            disk_full_line(&tch),
            "no space left on device while writing snapshot s; kept t"
        );
        assert!(!is_disk_full(&anyhow::anyhow!("permission denied")));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    /// The fallback for file systems without RENAME_EXCHANGE: the new folder in place, the old
    /// one under a unique aside name.
    #[test]
    fn swap_by_renames_puts_the_new_folder_in_place() {
        let d = tempfile::tempdir().unwrap();
        let (staging, target) = (d.path().join(".out.partial-1-0"), d.path().join("out"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(staging.join("new"), "").unwrap();
        std::fs::write(target.join("old"), "").unwrap();
        let aside = swap_by_renames(&staging, &target).unwrap();
        assert!(target.join("new").exists() && aside.join("old").exists() && !staging.exists());
        let name = aside.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(parse_leftover(&name, "out"), Some((Leftover::Aside, std::process::id())));
    }
}
