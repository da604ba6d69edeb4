//! From what a user names (`--model RUN_OR_SNAPSHOT`, `--snapshot last|best`) to a snapshot
//! folder, and from a snapshot to the run configuration training stored in it: the crop its
//! detectors were trained on, its tracker config.
use super::folder::{self, RunDir};
use super::snapshot;
use crate::config::run::RunConfig;
use crate::data::crop::CropSpec;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Which snapshot of a run folder: the one `last.json` or `best.json` points at.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Last,
    Best,
}

/// The snapshot folder `model` names: itself, or for a run folder the snapshot its
/// `last.json` (`best.json`) points at.
pub fn snapshot_dir(model: &Path, pick: Pick) -> Result<PathBuf> {
    let is_run = model.join(folder::CONFIG).is_file() && !model.join(snapshot::META).is_file();
    if !is_run {
        return Ok(model.to_path_buf());
    }
    let name = match pick {
        Pick::Last => folder::LAST,
        Pick::Best => folder::BEST,
    };
    match RunDir::at(model).read_pointer(name)? {
        Some(p) => Ok(model.join(p.snapshot)),
        None => bail!(
            "--model {}: a training run without a {} snapshot yet ({name} is missing){}",
            model.display(),
            if pick == Pick::Best { "best" } else { "" },
            if pick == Pick::Best {
                " (it has no evaluated epoch: use --snapshot last)"
            } else {
                ""
            }
        ),
    }
}

/// The run configuration stored in snapshot `dir` by training; `None` for a snapshot made
/// outside training (`tsal snapshot init`).
pub fn run_config(dir: &Path) -> Result<Option<RunConfig>> {
    let path = dir.join(folder::CONFIG);
    if !path.is_file() {
        return Ok(None);
    }
    folder::read_config(&path).map(Some)
}

/// The run configuration of snapshot `dir`, which must have one (`what` says who needs it).
pub fn require_run_config(dir: &Path, what: &str) -> Result<RunConfig> {
    run_config(dir)?.with_context(|| {
        format!("{what}: {} holds no {} (not written by tsal train)", dir.display(), folder::CONFIG)
    })
}

/// The crop the detectors of snapshot `dir` were trained on, if training recorded it.
pub fn trained_crop(dir: &Path) -> Result<Option<CropSpec>> {
    Ok(run_config(dir)?.map(|c| c.crop))
}
