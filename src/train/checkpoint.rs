//! Training snapshots: a snapshot folder ([`crate::snapshot`]: meta.json, detector.config,
//! detector_*.safetensors, loadable by `tsal eval --model`) plus what continuing the run needs:
//! the run's `config.json`, each role's optimiser state, and where training stood
//! (`train_state.json`). The loader's batches are a pure function of (seed, epoch, batch), so
//! the position is the whole loader state. Written to a staged folder and renamed into place;
//! `last.json` is pointed at it only afterwards, so a kill at any moment leaves the previous
//! snapshot in charge.
use super::roles::{DetectorRole, TrackerRole};
use super::run_dir::{self, RunDir};
use crate::config::run::RunConfig;
use crate::fsutil::StagedDir;
use crate::models::weights;
use crate::snapshot::{self, Meta, Role};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

pub const STATE: &str = "train_state.json";

/// Where training stood when a snapshot was taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The 0-based epoch to continue, and the batch of it to continue from (0: its start).
    pub epoch: usize,
    pub batch: usize,
    /// Global iterations done.
    pub iter: u64,
    /// Training seconds so far (all starts together).
    pub elapsed_s: f64,
    /// The best evaluation so far: iteration and the teacher's mean NME (a fraction).
    pub best: Option<(u64, f64)>,
}

fn optimizer_file(role: &str) -> String {
    format!("optimizer_{role}.safetensors")
}

fn write_optimizer(path: &Path, opt: &super::optim::Optimizer) -> Result<()> {
    let state: Vec<(String, Tensor)> = opt
        .state()
        .into_iter()
        .map(|(k, t)| (k, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&state, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_optimizer(
    path: &Path,
    opt: &mut super::optim::Optimizer,
    device: tch::Device,
) -> Result<()> {
    let tensors: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .into_iter()
        .map(|(k, t)| (k, t.to_device(device)))
        .collect();
    weights::check_finite(tensors.iter().map(|(k, t)| (k.as_str(), t)), path)?;
    opt.load_state(&tensors).with_context(|| format!("{}", path.display()))
}

/// Write a snapshot of `roles` and `trackers` (none for a supervised-only run) at `state`
/// into the run folder; returns its path relative to the run folder.
pub fn write(
    run: &RunDir,
    cfg: &RunConfig,
    roles: &[DetectorRole],
    trackers: &[TrackerRole],
    state: &TrainState,
) -> Result<PathBuf> {
    let rel = RunDir::snapshot_name(state.epoch, state.batch);
    let target = run.root.join(&rel);
    let model_text = serde_json::to_string_pretty(&typed_model_config(cfg))?;
    // A snapshot of the same name (a resumed run replaying past it) is replaced.
    let staged = StagedDir::with_kind(&target, true, snapshot::KIND)?;
    let root = staged.path();
    let teacher = roles.iter().find(|r| r.role == Role::Teacher).context("no teacher role")?;
    let student = roles.iter().find(|r| r.role == Role::Student);
    let meta = Meta {
        tsal: env!("CARGO_PKG_VERSION").to_string(),
        num_pts: cfg.data.num_pts,
        made_by: format!(
            "tsal train, {} iterations ({} epochs{})",
            state.iter,
            state.epoch,
            if state.batch > 0 { format!(" and {} batches", state.batch) } else { String::new() }
        ),
    };
    snapshot::write_files(root, &model_text, &meta, &teacher.vs, student.map(|s| &s.vs))?;
    std::fs::write(root.join(run_dir::CONFIG), serde_json::to_string_pretty(cfg)? + "\n")
        .context("cannot write the snapshot's config.json")?;
    for r in roles {
        write_optimizer(&root.join(optimizer_file(r.role.name())), &r.opt)?;
    }
    for t in trackers {
        weights::save(&t.vs, &root.join(t.file()))?;
        write_optimizer(&root.join(optimizer_file(&t.name())), &t.opt)?;
    }
    std::fs::write(root.join(STATE), serde_json::to_string_pretty(state)? + "\n")
        .context("cannot write the snapshot's train_state.json")?;
    staged.commit()?;
    Ok(rel)
}

/// Restore `roles` and `trackers` (weights and optimiser state) from snapshot `dir`; returns
/// where training stood.
pub fn load(
    dir: &Path,
    roles: &mut [DetectorRole],
    trackers: &mut [TrackerRole],
) -> Result<TrainState> {
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read (not a training snapshot?)", path.display()))?;
    let state: TrainState = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a tsal training state", path.display()))?;
    for r in roles.iter_mut() {
        let wpath = dir.join(r.role.file());
        if !wpath.is_file() {
            bail!("{}", missing_file(dir, &wpath, &format!("the {} detector", r.role.name())));
        }
        weights::load_strict(&r.vs, &wpath)?;
        let device = r.vs.device();
        read_optimizer(&dir.join(optimizer_file(r.role.name())), &mut r.opt, device)?;
    }
    for t in trackers.iter_mut() {
        let wpath = dir.join(t.file());
        if !wpath.is_file() {
            bail!("{}", missing_file(dir, &wpath, &t.name()));
        }
        weights::load_strict(&t.vs, &wpath)?;
        let device = t.vs.device();
        read_optimizer(&dir.join(optimizer_file(&t.name())), &mut t.opt, device)?;
    }
    Ok(state)
}

/// Why snapshot `dir` lacks `file` (the weights of `what`): a snapshot of a supervised-only run
/// holds no student or trackers (its config.json says so); any other missing file was removed.
fn missing_file(dir: &Path, file: &Path, what: &str) -> String {
    let supervised = std::fs::read_to_string(dir.join(run_dir::CONFIG))
        .ok()
        .and_then(|t| serde_json::from_str::<RunConfig>(&t).ok())
        .map(|c| c.run.supervised_only);
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    match supervised {
        Some(true) => format!(
            "{}: the snapshot of a --supervised_only run holds no {what} ({name})",
            dir.display()
        ),
        _ => format!(
            "{}: {name} ({what}) is missing from the snapshot: it was removed or the snapshot is \
             damaged; put it back, or point last.json at an earlier snapshot",
            dir.display()
        ),
    }
}

/// The run's model config in the reference's typed-JSON form (`detector.config` of the
/// snapshot), so the snapshot rebuilds the same network without the original file.
pub fn typed_model_config(cfg: &RunConfig) -> serde_json::Value {
    let m = &cfg.model.config;
    serde_json::json!({
        "arch": ["str", m.arch],
        "stages": ["int", m.stages],
        "dilation": ["int", m.dilation],
        "pooling": ["bool", m.pooling.iter().map(|&b| b as i64).collect::<Vec<_>>()],
        "downsample": ["int", m.downsample],
        "argmax": ["int", m.argmax],
        "pretrained": ["bool", [m.pretrained as i64]],
        "width_div": ["int", m.width_div],
        "init": ["str", serde_json::to_value(m.init).unwrap_or_default()],
    })
}
