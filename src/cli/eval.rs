//! `tsal eval`: the flags, resolved against the snapshot (its crop and point count), then
//! [`crate::eval::job`] predicts or reads the predictions, scores and writes the reports.
use super::flags;
use crate::config::limits;
use crate::eval::evaluate::EvalList;
use crate::eval::job;
use crate::eval::nme::Normaliser;
use crate::eval::predictions::Source;
use crate::eval::score::Missing;
use crate::run::resolve::{self, snapshot_dir, Pick};
use crate::run::snapshot::Role;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Printed at the end of `tsal eval --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Both detectors of a run's best snapshot on 300W and the three 300VW categories:
  tsal eval --model runs/tsal-300w --snapshot best --which both --out runs/tsal-300w-eval \\
    --lists lists/300W/300w.test.common.GTB lists/300W/300w.test.challenge.GTB \\
    lists/300VW/300VW.test-1.lst lists/300VW/300VW.test-2.lst lists/300VW/300VW.test-3.lst

  # Another method's predictions (a folder of 0-based .pts files), scored the same way:
  tsal eval --predictions other/predictions --prediction_origin 0 --name other \\
    --lists lists/300W/300w.test.common.GTB";

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Lists to evaluate, each reported on its own.
    #[arg(long, num_args = 1.., help_heading = "What to evaluate")]
    pub lists: Vec<PathBuf>,
    /// Image lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_ilists", visible_alias = "eval-ilists", num_args = 1.., help_heading = "What to evaluate")]
    pub eval_ilists: Vec<PathBuf>,
    /// Video lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_vlists", visible_alias = "eval-vlists", num_args = 1.., help_heading = "What to evaluate")]
    pub eval_vlists: Vec<PathBuf>,
    /// Predictions to score: a folder of `.pts` files, a `.json` map `{"KEY": [[x, y], …]}` or
    /// a `.csv` with rows `KEY,x1,y1,…`. An image is found by the longest tail of its path
    /// present (`helen/testset/1.jpg`, `514/extraction/000001.png`, …).
    #[arg(
        long,
        value_name = "DIR_OR_FILE",
        conflicts_with = "model",
        help_heading = "What to evaluate"
    )]
    pub predictions: Option<PathBuf>,
    /// A snapshot folder to predict with, or a training run folder (its latest snapshot, or
    /// the best with --snapshot best). Crop and point count come from the snapshot's run.
    #[arg(long, value_name = "SNAPSHOT_OR_RUN", help_heading = "What to evaluate")]
    pub model: Option<PathBuf>,
    /// With a run folder as --model: its `last` snapshot or its `best` (lowest mean NME).
    #[arg(long, value_enum, default_value_t = Pick::Last, requires = "model", help_heading = "What to evaluate")]
    pub snapshot: Pick,
    /// Which detector of the snapshot to evaluate.
    #[arg(long, value_enum, default_value_t = Which::Teacher, help_heading = "What to evaluate")]
    pub which: Which,
    /// Normaliser (default: inter-ocular for 68 points, face-size for 19, box otherwise).
    #[arg(long, value_enum, help_heading = "Scoring")]
    pub normaliser: Option<Normaliser>,
    /// Landmarks per face [default: the snapshot's, else 68].
    #[arg(long = "num_pts", visible_alias = "num-pts", help_heading = "Scoring")]
    pub num_pts: Option<usize>,
    #[command(flatten, next_help_heading = "Scoring")]
    pub maps: flags::PathMaps,
    /// A face without a usable prediction: `skip` leaves it out (and counts it in the
    /// report), `fail` counts it as a failure at NME = ∞ in the failure rate, AUC and CED.
    #[arg(long, value_enum, default_value_t = Missing::Skip, help_heading = "Scoring")]
    pub missing: Missing,
    /// The pixel origin of --predictions: 1 when they follow the annotations' convention
    /// (300-W's .pts are 1-based, Matlab style; tsal's own predictions follow its
    /// annotations), 0 for 0-based pixel coordinates, which are shifted by +1 before scoring.
    #[arg(
        long = "prediction_origin",
        visible_alias = "prediction-origin",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(0..=1),
        requires = "predictions"
    , help_heading = "Scoring")]
    pub prediction_origin: u8,
    /// Soft-argmax radius in heatmap cells [default: the model config's `argmax`].
    #[arg(
        long = "soft_argmax_radius",
        visible_alias = "soft-argmax-radius",
        requires = "model",
        help_heading = "Prediction"
    )]
    pub soft_argmax_radius: Option<usize>,
    /// Crops per inference batch (with --tta K, batch_size ÷ K faces of K views each).
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = crate::eval::predict::EVAL_BATCH, help_heading = "Prediction")]
    pub batch_size: usize,
    /// Test-time augmentation: predict each face in K views (the evaluation crop and K − 1
    /// draws of the training augmentation: scale 0.9–1.1, ±20°, centre jitter 30 px at 256²,
    /// scaled to the crop), take each view's points back to the image and average them. 1: off.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64), help_heading = "Prediction")]
    pub tta: u64,
    /// Seed of --tta's draws (each face draws from it and its line's index).
    #[arg(
        long = "tta_seed",
        visible_alias = "tta-seed",
        value_name = "SEED",
        default_value_t = 1,
        requires = "model",
        help_heading = "Prediction"
    )]
    pub tta_seed: u64,
    /// Threads decoding and cropping images (default: all cores).
    #[arg(long, help_heading = "Prediction")]
    pub workers: Option<usize>,
    /// The evaluation crop (as in training).
    #[command(flatten, next_help_heading = "Prediction")]
    pub crop: flags::CropOverride,
    #[command(flatten, next_help_heading = "Device")]
    pub device: flags::Device,
    /// Output folder (default: next to the predictions or the snapshot, `<name>-eval`).
    #[arg(long, help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// The method's name in the report's title (default: the predictions' or snapshot's path).
    #[arg(long, help_heading = "Output")]
    pub name: Option<String>,
}

/// Most lines per inference batch.
const MAX_BATCH: i64 = 4096;

/// What the settings resolve to: from the flags, and from the snapshot when there is one.
struct Settings {
    num_pts: usize,
    crop: crate::data::crop::CropSpec,
    /// The snapshot folder (a run folder's pointer followed).
    snapshot: Option<PathBuf>,
}

fn settings(a: &EvalArgs) -> Result<Settings> {
    let Some(model) = &a.model else {
        return Ok(Settings {
            num_pts: a.num_pts.unwrap_or(flags::NUM_PTS),
            crop: a.crop.resolve(None, "")?,
            snapshot: None,
        });
    };
    let dir = snapshot_dir(model, a.snapshot)?;
    let (meta, _) = crate::run::snapshot::read_meta(&dir)?;
    let shown = format!("the snapshot {}", dir.display());
    if let Some(n) = a.num_pts.filter(|&n| n != meta.num_pts) {
        bail!("--num_pts {n}: {shown} predicts {} points; leave the flag out", meta.num_pts);
    }
    // A snapshot written by training carries its run's configuration.
    let known = resolve::trained_crop(&dir)?;
    Ok(Settings {
        num_pts: meta.num_pts,
        crop: a.crop.resolve(known, &shown)?,
        snapshot: Some(dir),
    })
}

/// `--which`: the detector roles to evaluate.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Teacher,
    Student,
    Both,
}

pub fn run(a: &EvalArgs) -> Result<ExitCode> {
    // Settings first: nothing is read before they hold.
    let lists: Vec<PathBuf> =
        a.lists.iter().chain(&a.eval_ilists).chain(&a.eval_vlists).cloned().collect();
    if lists.is_empty() {
        bail!("--lists: give at least one list to evaluate");
    }
    if a.tta > 1 && a.model.is_none() {
        bail!(
            "--tta {}: test-time augmentation re-predicts with a detector (--model); \
             --predictions are scored as given",
            a.tta
        );
    }
    let set = settings(a)?;
    let norm = a.normaliser.unwrap_or(Normaliser::default_for(set.num_pts));
    limits::count("--num_pts", set.num_pts as i64, limits::MAX_POINTS)?;
    let workers = a.workers.unwrap_or_else(crate::parallel::default_threads);
    limits::count("--workers", workers as i64, 1024)?;
    if a.model.is_some() {
        limits::crop(set.crop.width, set.crop.height, limits::Consumer::Detector)?;
        limits::pre_crop_expand(set.crop.expand)?;
        limits::count("--batch_size", a.batch_size as i64, MAX_BATCH)?;
    }
    let source = match (&a.predictions, &a.model) {
        (None, None) => bail!("--predictions DIR_OR_FILE or --model SNAPSHOT: nothing to evaluate"),
        (Some(p), _) => Some(Source::open(p)?),
        (None, Some(_)) => None,
    };
    // Every list line and annotation, checked before any prediction.
    let all: Vec<EvalList> = lists
        .iter()
        .map(|l| EvalList::read(l, &a.maps.path_map, set.num_pts, workers))
        .collect::<Result<_>>()?;
    let job = job::Job {
        num_pts: set.num_pts,
        crop: set.crop,
        normaliser: norm,
        missing: a.missing,
        out: a.out.clone(),
        name: a.name.clone(),
    };
    match (source, set.snapshot) {
        (Some(source), _) => {
            let path = a.predictions.clone().expect("a predictions source");
            let p = job::Predictions { path, source, origin: a.prediction_origin };
            job::predictions(&job, &p, &all)?;
        }
        (None, Some(snapshot)) => {
            let roles = match a.which {
                Which::Teacher => vec![Role::Teacher],
                Which::Student => vec![Role::Student],
                Which::Both => vec![Role::Teacher, Role::Student],
            };
            let m = job::Model {
                snapshot,
                roles,
                radius: a.soft_argmax_radius,
                batch_size: a.batch_size,
                workers,
                device: a.device.resolve()?,
                tta: a.tta as usize,
                tta_seed: a.tta_seed,
            };
            job::model(&job, &m, &all)?;
        }
        (None, None) => unreachable!("--model resolves to a snapshot"),
    }
    Ok(ExitCode::SUCCESS)
}
