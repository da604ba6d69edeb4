//! Snapshot folders: one folder per saved point of a run, holding its detectors, loadable
//! without repeating any flag.
//!
//! ```text
//! SNAPSHOT/
//!   meta.json                         tsal version, num_pts, what made it
//!   detector.config                   the model config the detectors were built from (verbatim)
//!   detector_teacher.safetensors      PyTorch state_dict names (features.0.weight, …)
//!   detector_student.safetensors
//! ```
//! Training adds its trackers and optimiser state next to these. Files are written to a staged
//! folder and renamed into place, so a snapshot is complete or absent.
use crate::config::ModelConfig;
use crate::fsutil::{self, Kind, StagedDir};
use crate::models::{weights, Detector, DetectorSpec};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Device};

/// The two detector roles of TSAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Teacher,
    Student,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Student => "student",
        }
    }

    /// The weight file of this role in a snapshot folder.
    pub fn file(self) -> String {
        format!("detector_{}.safetensors", self.name())
    }
}

pub const META: &str = "meta.json";
pub const MODEL_CONFIG: &str = "detector.config";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub tsal: String,
    pub num_pts: usize,
    /// What made the snapshot (e.g. `snapshot init --seed 3`, or `train epoch 12`).
    pub made_by: String,
}

impl Meta {
    /// The metadata of a snapshot this tsal writes now: its points per face, what made it.
    pub fn new(num_pts: usize, made_by: String) -> Self {
        Self { tsal: env!("CARGO_PKG_VERSION").to_string(), num_pts, made_by }
    }
}

/// A snapshot folder, for [`StagedDir`]: its marker names `tsal snapshot`, and `--force` also
/// recognises a snapshot of a tsal from before markers (a [`Meta`] in `meta.json` and a
/// `detector.config`).
pub const KIND: Kind = Kind { name: "tsal snapshot", legacy: Some(is_unmarked_snapshot) };

fn is_unmarked_snapshot(dir: &Path) -> bool {
    dir.join(MODEL_CONFIG).is_file()
        && std::fs::read(dir.join(META))
            .ok()
            .is_some_and(|b| serde_json::from_slice::<Meta>(&b).is_ok())
}

/// Refuse, before any work, a snapshot folder `dir` that [`write`] would refuse (see
/// [`fsutil::check_target`]).
pub fn check_out(dir: &Path, force: bool) -> Result<()> {
    fsutil::check_target(dir, force, &KIND).map(drop)
}

/// Write a snapshot of `teacher` and `student` (built from the config file `model_config`)
/// into `dir`, which must not exist unless `force` (and then be empty or tsal's own output).
pub fn write(
    dir: &Path,
    model_config: &Path,
    meta: &Meta,
    teacher: &nn::VarStore,
    student: &nn::VarStore,
    force: bool,
) -> Result<()> {
    let text = std::fs::read_to_string(model_config)
        .with_context(|| format!("{}: cannot read", model_config.display()))?;
    let staged = StagedDir::with_kind(dir, force, KIND)?;
    write_files(staged.path(), &text, meta, teacher, Some(student))?;
    staged.commit()?;
    Ok(())
}

/// Write a snapshot's files into the (staged) folder `root`: the model config text, `meta`,
/// and the detectors (a run that trains the teacher alone has no student).
pub fn write_files(
    root: &Path,
    model_config_text: &str,
    meta: &Meta,
    teacher: &nn::VarStore,
    student: Option<&nn::VarStore>,
) -> Result<()> {
    std::fs::write(root.join(MODEL_CONFIG), model_config_text)
        .with_context(|| format!("cannot write {}", root.join(MODEL_CONFIG).display()))?;
    std::fs::write(root.join(META), serde_json::to_string_pretty(meta)?)
        .with_context(|| format!("cannot write {}", root.join(META).display()))?;
    weights::save(teacher, &root.join(Role::Teacher.file()))?;
    if let Some(student) = student {
        weights::save(student, &root.join(Role::Student.file()))?;
    }
    Ok(())
}

/// The snapshot's metadata and model config.
pub fn read_meta(dir: &Path) -> Result<(Meta, ModelConfig)> {
    if !dir.is_dir() {
        bail!("{}: not a snapshot folder (expected {META}, {MODEL_CONFIG} and detector_*.safetensors)", dir.display());
    }
    let path = dir.join(META);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let meta: Meta = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a tsal snapshot meta", path.display()))?;
    let cfg = ModelConfig::load(&dir.join(MODEL_CONFIG))?;
    Ok((meta, cfg))
}

/// Load the `role` detector of snapshot `dir` onto `device` (every tensor by name and shape).
pub fn load_detector(
    dir: &Path,
    role: Role,
    device: Device,
) -> Result<(nn::VarStore, Detector, Meta, ModelConfig)> {
    let (meta, cfg) = read_meta(dir)?;
    if !dir.join(role.file()).is_file() && dir.join(Role::Teacher.file()).is_file() {
        bail!(
            "{}: no {} detector in this snapshot (its run trained the teacher alone, \
             --supervised_only); evaluate --which teacher",
            dir.display(),
            role.name()
        );
    }
    let mut vs = nn::VarStore::new(device);
    let det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, meta.num_pts)?);
    weights::load_strict(&vs, &dir.join(role.file()))
        .with_context(|| format!("{}: {} detector", dir.display(), role.name()))?;
    // The layout training ran in (the same values to float rounding, and faster).
    crate::models::layout::vars_channels_last(&vs);
    vs.freeze();
    Ok((vs, det, meta, cfg))
}
