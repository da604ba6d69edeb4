//! The run folder (`--save_path`): where a training run keeps everything, and how a second
//! `tsal train` with the same save path finds and continues it.
//!
//! ```text
//! SAVE_PATH/
//!   .tsal-output                  marker: a tsal training run
//!   .tsal-lock                    the process training it (the lock is on the folder)
//!   config.json                   the RunConfig (tsal train --print_config prints the same)
//!   seed-<seed>-time-<…>.log      the human log, one per start (the reference's name)
//!   metrics.jsonl                 one record per --print_freq iterations and per epoch
//!   curves.png                    loss terms and per-list NME (tsal plot draws the same)
//!   snapshots/epoch-NNN/          after epoch NNN (1-based); epoch-NNN-iter-III mid-epoch
//!   last.json, best.json          pointers, renamed into place once a snapshot is complete
//!   reports/epoch-NNN/ROLE/       per-epoch evaluation (report.md, report.json, …)
//! ```
use crate::config::run::{RunConfig, RunSection};
use crate::fsutil::{self, Kind, Marker};
use crate::lock::{self, FolderLock};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What writes a run folder, as its marker records it.
pub const KIND: Kind = Kind { name: "tsal train", legacy: None };
pub const CONFIG: &str = "config.json";
pub const METRICS: &str = "metrics.jsonl";
pub const CURVES: &str = "curves.png";
pub const SNAPSHOTS: &str = "snapshots";
pub const REPORTS: &str = "reports";
pub const LAST: &str = "last.json";
pub const BEST: &str = "best.json";

/// A pointer file (`last.json`, `best.json`): which snapshot, and where training stood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    /// The snapshot folder, relative to the run folder (`snapshots/epoch-003`).
    pub snapshot: PathBuf,
    /// Global iterations done when it was taken.
    pub iter: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    /// The teacher's mean NME (a fraction) of the evaluation that made it the best (best.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_nme: Option<f64>,
}

/// How `tsal train` treats a save path that already holds a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Continue it (the default, and `--resume`).
    Resume,
    /// Start over (`--no_resume`); `force` replaces the old run, otherwise it is refused.
    Fresh { force: bool },
}

pub struct RunDir {
    pub root: PathBuf,
    /// Held while this process trains in the folder; none for a run that is only read.
    _lock: Option<FolderLock>,
}

impl RunDir {
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `snapshots/epoch-NNN` (after `epochs_done` epochs) or `snapshots/epoch-NNN-iter-III`
    /// (`batch` batches into epoch `epochs_done + 1`).
    pub fn snapshot_name(epochs_done: usize, batch: usize) -> PathBuf {
        let name = if batch == 0 {
            format!("epoch-{epochs_done:03}")
        } else {
            format!("epoch-{:03}-iter-{batch:06}", epochs_done + 1)
        };
        Path::new(SNAPSHOTS).join(name)
    }

    /// `reports/epoch-NNN` (1-based epoch).
    pub fn report_dir(&self, epoch_1based: usize) -> PathBuf {
        self.root.join(REPORTS).join(format!("epoch-{epoch_1based:03}"))
    }

    pub fn read_pointer(&self, name: &str) -> Result<Option<Pointer>> {
        let p = self.path(name);
        if !p.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
        let ptr: Pointer = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a tsal snapshot pointer", p.display()))?;
        Ok(Some(ptr))
    }

    pub fn write_pointer(&self, name: &str, ptr: &Pointer) -> Result<()> {
        fsutil::write_atomic(&self.path(name), serde_json::to_string_pretty(ptr)?.as_bytes())
    }

    /// A run folder to read (evaluation, plots): nothing is locked or written.
    pub fn at(root: &Path) -> Self {
        Self { root: root.to_path_buf(), _lock: None }
    }

    /// Whether `root` holds a tsal run with a snapshot to continue from (its `last.json`).
    /// A folder without one holds nothing to protect: a start that failed before its first
    /// snapshot is started again, with the settings of the command that does so.
    pub fn holds_snapshot(root: &Path) -> bool {
        root.join(LAST).is_file() && Marker::read(root).is_some_and(|m| m.written_by == KIND.name)
    }

    /// Open `cfg.run.save_path` for training, locked for the life of this process (a second
    /// `tsal train` on it is refused, naming this one): a new run (the folder is created,
    /// marked, and `config.json` written), or the run it already holds. A run with a snapshot
    /// continues only if its `config.json` agrees with `cfg` except for
    /// [`RunSection::FREE_ON_RESUME`] (a seed not given on the command line, `seed_given`
    /// false, is taken from the run; the initial weights are the run's, as its snapshot replaces
    /// them). A run without a snapshot starts again with `cfg`. Temporary files and staging
    /// folders of dead processes are removed. Returns the folder and whether it resumes from a
    /// snapshot.
    pub fn open(cfg: &mut RunConfig, mode: ResumeMode, seed_given: bool) -> Result<(Self, bool)> {
        let root = cfg.run.save_path.clone();
        let shown = root.display().to_string();
        if root.exists() && !root.is_dir() {
            bail!("--save_path {shown}: exists and is not a folder");
        }
        let holds_run =
            |root: &Path| root.join(CONFIG).is_file() || root.join(fsutil::MARKER).is_file();
        if !holds_run(&root) && root.is_dir() {
            let mut others = std::fs::read_dir(&root)
                .with_context(|| format!("--save_path {shown}: cannot list"))?
                .filter_map(Result::ok)
                .filter(|e| e.file_name() != lock::HOLDER);
            if others.next().is_some() {
                bail!(
                    "--save_path {shown}: the folder exists, is not empty and holds no tsal \
                     run; choose another --save_path"
                );
            }
        }
        std::fs::create_dir_all(&root).with_context(|| format!("cannot create {shown}"))?;
        let lock = FolderLock::acquire(&root, &KIND, &format!("--save_path {shown}"))?;
        let dir = RunDir { root: root.clone(), _lock: Some(lock) };
        for d in [dir.root.clone(), dir.path(SNAPSHOTS)] {
            fsutil::clean_dead_temporaries(&d, None);
        }
        if holds_run(&root) {
            let ours = Marker::read(&root).is_some_and(|m| m.written_by == KIND.name);
            if !ours {
                bail!(
                    "--save_path {shown}: holds files that are not a tsal training run (no \
                     {} marker of `{}`); choose another --save_path",
                    fsutil::MARKER,
                    KIND.name
                );
            }
            let has_snapshot = dir.path(LAST).is_file();
            match mode {
                ResumeMode::Fresh { force: false } if has_snapshot => bail!(
                    "--save_path {shown} holds a run; --no_resume would start over and lose it: \
                     add --force to replace it, or choose another --save_path"
                ),
                ResumeMode::Fresh { force } if has_snapshot || force => {
                    empty_folder(&root, &[lock::HOLDER])
                        .with_context(|| format!("--force: cannot remove the old run {shown}"))?;
                    eprintln!("tsal: removed the old run in {shown} (--no_resume --force)");
                }
                ResumeMode::Resume if has_snapshot => {
                    let old = read_config(&dir.path(CONFIG))?;
                    if !seed_given {
                        cfg.run.rand_seed = old.run.rand_seed;
                    }
                    // The snapshot holds the weights: what the run started from is a record,
                    // and its files need not be where they were.
                    cfg.pretrained = old.pretrained.clone();
                    cfg.no_pretrained = old.no_pretrained;
                    cfg.tsal.tracker_weights = old.tsal.tracker_weights.clone();
                    let diff = differing_keys(&old, cfg)?;
                    if !diff.is_empty() {
                        bail!(
                            "--save_path {shown} holds a run with other settings ({}): resume \
                             it with the same flags, or choose another --save_path (or \
                             --no_resume --force to replace it)",
                            diff.join("; ")
                        );
                    }
                    // What may change (epochs, device, …) is recorded as now in force.
                    write_config(&dir.path(CONFIG), cfg)?;
                    return Ok((dir, true));
                }
                // No snapshot: an earlier start stopped before its first (a bad file, a
                // non-finite loss, a kill); nothing of it is worth keeping but its log.
                _ => {
                    let differs = match read_config(&dir.path(CONFIG)) {
                        Ok(old) => !differing_keys(&old, cfg)?.is_empty(),
                        Err(_) => false,
                    };
                    if differs {
                        eprintln!(
                            "tsal: --save_path {shown} holds no snapshot yet (an earlier start \
                             stopped before its first): starting it with these settings"
                        );
                    }
                    for name in [SNAPSHOTS, REPORTS, METRICS, CURVES, BEST] {
                        remove_entry(&dir.path(name))?;
                    }
                }
            }
        }
        fsutil::mark(&root, &KIND)?;
        write_config(&dir.path(CONFIG), cfg)?;
        Ok((dir, false))
    }
}

/// Remove everything in `dir` but the entries named in `keep` (the folder itself stays: its
/// lock is on it).
fn empty_folder(dir: &Path, keep: &[&str]) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        if keep.iter().any(|k| e.file_name() == *k) {
            continue;
        }
        remove_entry(&e.path())?;
    }
    Ok(())
}

/// Remove file or folder `p` (a link itself, not what it points at); one that is not there is
/// fine.
fn remove_entry(p: &Path) -> Result<()> {
    let gone = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    gone.with_context(|| format!("cannot remove {}", p.display()))
}

pub fn read_config(path: &Path) -> Result<RunConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not the config.json of a tsal run", path.display()))
}

fn write_config(path: &Path, cfg: &RunConfig) -> Result<()> {
    fsutil::write_atomic(path, (serde_json::to_string_pretty(cfg)? + "\n").as_bytes())
}

/// The keys (dotted paths) whose values differ between two configs, as `key: old → new`,
/// leaving out [`RunSection::FREE_ON_RESUME`] and the save path itself.
pub fn differing_keys(old: &RunConfig, new: &RunConfig) -> Result<Vec<String>> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten("", &serde_json::to_value(old)?, &mut a);
    flatten("", &serde_json::to_value(new)?, &mut b);
    let free = |k: &str| {
        k == "run.save_path"
            || RunSection::FREE_ON_RESUME.iter().any(|f| k == *f || k.starts_with(&format!("{f}.")))
    };
    let get = |v: &[(String, String)], k: &str| {
        v.iter().find(|(x, _)| x == k).map(|(_, y)| y.clone()).unwrap_or_else(|| "(none)".into())
    };
    let mut keys: Vec<String> = a.iter().chain(&b).map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| !free(k))
        .filter_map(|k| {
            let (x, y) = (get(&a, &k), get(&b, &k));
            (x != y).then(|| format!("{k}: {x} → {y}"))
        })
        .collect())
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
