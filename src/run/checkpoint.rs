//! Training snapshots: a snapshot folder ([`crate::run::snapshot`]: meta.json, detector.config,
//! detector_*.safetensors, loadable by `tsal eval --model`) plus what continuing the run needs:
//! the run's `config.json`, each role's optimiser state, and where training stood
//! (`train_state.json`). The loader's batches are a pure function of (seed, epoch, batch), so
//! the position is the whole loader state. Written to a staged folder and renamed into place;
//! `last.json` is pointed at it only afterwards, so a kill at any moment leaves the previous
//! snapshot in charge.
use super::folder::{self, Pointer, RunDir};
use crate::config::run::RunConfig;
use crate::fsutil::StagedDir;
use crate::models::weights;
use crate::run::snapshot::{self, Meta, Role};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn, Tensor};

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

/// One trained part of a run as a training snapshot stores it: its weights and its
/// optimiser's state. Training's roles (two detectors, two trackers) implement it; this module
/// needs nothing else of them.
pub trait Trained {
    /// `teacher`, `student`, `tracker_teacher`, `tracker_student`: the optimiser file's suffix.
    fn name(&self) -> String;
    /// Its weight file in a snapshot folder.
    fn weights_file(&self) -> String;
    /// The detector role, for the two detectors (whose files make the snapshot that `tsal eval`
    /// and `tsal demo` read); `None` for a tracker.
    fn detector(&self) -> Option<Role>;
    fn vs(&self) -> &nn::VarStore;
    /// The optimiser's state tensors, by name.
    fn optimizer_state(&self) -> Vec<(String, Tensor)>;
    fn load_optimizer_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()>;
}

fn optimizer_file(name: &str) -> String {
    format!("optimizer_{name}.safetensors")
}

fn write_optimizer(path: &Path, part: &dyn Trained) -> Result<()> {
    let state: Vec<(String, Tensor)> = part
        .optimizer_state()
        .into_iter()
        .map(|(k, t)| (k, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&state, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_optimizer(path: &Path, part: &mut dyn Trained) -> Result<()> {
    let device = part.vs().device();
    let tensors: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .into_iter()
        .map(|(k, t)| (k, t.to_device(device)))
        .collect();
    weights::check_finite(tensors.iter().map(|(k, t)| (k.as_str(), t)), path)?;
    part.load_optimizer_state(&tensors).with_context(|| format!("{}", path.display()))
}

/// Write a snapshot of `parts` (the teacher detector among them; a supervised-only run has no
/// student and no trackers) at `state` into the run folder; returns its path relative to the
/// run folder.
pub fn write(
    run: &RunDir,
    cfg: &RunConfig,
    parts: &[&dyn Trained],
    state: &TrainState,
) -> Result<PathBuf> {
    let rel = RunDir::snapshot_name(state.epoch, state.batch);
    let target = run.root.join(&rel);
    let model_text = serde_json::to_string_pretty(&typed_model_config(cfg))?;
    // A snapshot of the same name (a resumed run replaying past it) is replaced.
    let staged = StagedDir::with_kind(&target, true, snapshot::KIND)?;
    let root = staged.path();
    let detector = |role| parts.iter().find(|p| p.detector() == Some(role)).map(|p| p.vs());
    let teacher = detector(Role::Teacher).context("no teacher role")?;
    let made_by = format!(
        "tsal train, {} iterations ({} epochs{})",
        state.iter,
        state.epoch,
        if state.batch > 0 { format!(" and {} batches", state.batch) } else { String::new() }
    );
    let meta = Meta::new(cfg.data.num_pts, made_by);
    snapshot::write_files(root, &model_text, &meta, teacher, detector(Role::Student))?;
    std::fs::write(root.join(folder::CONFIG), serde_json::to_string_pretty(cfg)? + "\n")
        .context("cannot write the snapshot's config.json")?;
    for p in parts {
        if p.detector().is_none() {
            weights::save(p.vs(), &root.join(p.weights_file()))?;
        }
        write_optimizer(&root.join(optimizer_file(&p.name())), *p)?;
    }
    std::fs::write(root.join(STATE), serde_json::to_string_pretty(state)? + "\n")
        .context("cannot write the snapshot's train_state.json")?;
    staged.commit()?;
    Ok(rel)
}

/// [`write`], then point `last.json` at the snapshot; its path in the run folder. On a full
/// disk the error's first line says so, and what the run keeps.
pub fn save(
    run: &RunDir,
    cfg: &RunConfig,
    parts: &[&dyn Trained],
    state: &TrainState,
) -> Result<PathBuf> {
    let written = write(run, cfg, parts, state).and_then(|rel| {
        let ptr = Pointer {
            snapshot: rel.clone(),
            iter: state.iter,
            epochs_done: state.epoch,
            mean_nme: None,
        };
        run.write_pointer(folder::LAST, &ptr).map(|()| rel)
    });
    match written {
        Err(e) if crate::fsutil::is_disk_full(&e) => {
            let kept = match run.read_pointer(folder::LAST).ok().flatten() {
                Some(p) => format!(
                    "the run keeps its last snapshot {} (iteration {}), from which the same \
                     command continues once there is space",
                    p.snapshot.display(),
                    p.iter
                ),
                None => "the run has no snapshot yet".to_string(),
            };
            Err(e.context(format!(
                "no space left on device while writing the snapshot at iteration {} in {}; {kept}",
                state.iter,
                run.root.display()
            )))
        }
        other => other,
    }
}

/// The complete snapshots of the run (`snapshots/epoch-*`, staging folders left out) with the
/// training state each records; a folder whose state cannot be read is left out.
pub fn snapshots(run: &RunDir) -> Result<Vec<(PathBuf, TrainState)>> {
    let dir = run.path(folder::SNAPSHOTS);
    let mut found = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-")) {
            continue;
        }
        if let Ok(st) = read_state(&p) {
            found.push((p, st));
        }
    }
    Ok(found)
}

/// Point `best.json` at the snapshot the resumed `state` records as the best when it does not
/// already (a process that died between writing `last.json` and `best.json` left it old or
/// missing): the snapshot folders' `train_state.json` say which one it is.
pub fn restore_best_pointer(run: &RunDir, state: &TrainState) -> Result<()> {
    let Some((iter, nme)) = state.best else { return Ok(()) };
    let current = run.read_pointer(folder::BEST).ok().flatten();
    if current.as_ref().is_some_and(|p| p.iter == iter && run.root.join(&p.snapshot).is_dir()) {
        return Ok(());
    }
    let mut found: Vec<(PathBuf, TrainState)> =
        snapshots(run)?.into_iter().filter(|(_, st)| st.iter == iter).collect();
    // The epoch snapshot (evaluations happen at epoch ends) before any mid-epoch one.
    found.sort_by_key(|(_, st)| st.batch);
    let Some((path, st)) = found.into_iter().next() else {
        eprintln!(
            "tsal: warning: {}: the best evaluation (iteration {iter}) has no snapshot left; \
             {} was not restored",
            run.root.display(),
            folder::BEST
        );
        return Ok(());
    };
    let rel = path.strip_prefix(&run.root).unwrap_or(&path).to_path_buf();
    run.write_pointer(
        folder::BEST,
        &Pointer { snapshot: rel.clone(), iter, epochs_done: st.epoch, mean_nme: Some(nme) },
    )?;
    eprintln!(
        "tsal: restored {} -> {} (iteration {iter}, NME {:.3} %), which the run's state records \
         as its best",
        folder::BEST,
        rel.display(),
        nme * 100.0
    );
    Ok(())
}

/// The training state recorded in snapshot `dir`.
pub fn read_state(dir: &Path) -> Result<TrainState> {
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read (not a training snapshot?)", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a tsal training state", path.display()))
}

/// Restore `parts` (weights and optimiser state) from snapshot `dir`; returns where training
/// stood.
pub fn load(dir: &Path, parts: &mut [&mut dyn Trained]) -> Result<TrainState> {
    let state = read_state(dir)?;
    for p in parts.iter_mut() {
        let wpath = dir.join(p.weights_file());
        if !wpath.is_file() {
            let what = match p.detector() {
                Some(role) => format!("the {} detector", role.name()),
                None => p.name(),
            };
            bail!("{}", missing_file(dir, &wpath, &what));
        }
        weights::load_strict(p.vs(), &wpath)?;
        read_optimizer(&dir.join(optimizer_file(&p.name())), &mut **p)?;
    }
    Ok(state)
}

/// Why snapshot `dir` lacks `file` (the weights of `what`): a snapshot of a supervised-only run
/// holds no student or trackers (its config.json says so); any other missing file was removed.
fn missing_file(dir: &Path, file: &Path, what: &str) -> String {
    let supervised = std::fs::read_to_string(dir.join(folder::CONFIG))
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
