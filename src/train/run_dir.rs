//! The run folder (`--save_path`): where a training run keeps everything, and how a second
//! `tsal train` with the same save path finds and continues it.
//!
//! ```text
//! SAVE_PATH/
//!   .tsal-output                  marker: a tsal training run
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

    /// Open `cfg.run.save_path` for training: a new run (the folder is created, marked, and
    /// `config.json` written), or the run it already holds, whose `config.json` must agree with
    /// `cfg` except for [`RunSection::FREE_ON_RESUME`] (a seed not given on the command line,
    /// `seed_given` false, is taken from the run). Returns the folder and whether it resumes.
    pub fn open(cfg: &mut RunConfig, mode: ResumeMode, seed_given: bool) -> Result<(Self, bool)> {
        let root = cfg.run.save_path.clone();
        let shown = root.display().to_string();
        let dir = RunDir { root: root.clone() };
        let holds_run = dir.path(CONFIG).is_file() || dir.path(fsutil::MARKER).is_file();
        if root.exists() && !root.is_dir() {
            bail!("--save_path {shown}: exists and is not a folder");
        }
        if holds_run {
            let ours = Marker::read(&root).is_some_and(|m| m.written_by == KIND.name);
            if !ours {
                bail!(
                    "--save_path {shown}: holds files that are not a tsal training run (no \
                     {} marker of `{}`); choose another --save_path",
                    fsutil::MARKER,
                    KIND.name
                );
            }
            match mode {
                ResumeMode::Fresh { force: false } => bail!(
                    "--save_path {shown} holds a run; --no_resume would start over and lose it: \
                     add --force to replace it, or choose another --save_path"
                ),
                ResumeMode::Fresh { force: true } => {
                    std::fs::remove_dir_all(&root)
                        .with_context(|| format!("--force: cannot remove the old run {shown}"))?;
                    eprintln!("tsal: removed the old run in {shown} (--no_resume --force)");
                }
                // Marked, but killed before its config was written: nothing to continue.
                ResumeMode::Resume if !dir.path(CONFIG).is_file() => {}
                ResumeMode::Resume => {
                    let old = read_config(&dir.path(CONFIG))?;
                    if !seed_given {
                        cfg.run.rand_seed = old.run.rand_seed;
                    }
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
            }
        } else if root.is_dir() && std::fs::read_dir(&root)?.next().is_some() {
            bail!(
                "--save_path {shown}: the folder exists, is not empty and holds no tsal run; \
                 choose another --save_path"
            );
        }
        std::fs::create_dir_all(&root).with_context(|| format!("cannot create {shown}"))?;
        fsutil::mark(&root, &KIND)?;
        write_config(&dir.path(CONFIG), cfg)?;
        Ok((dir, false))
    }
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
