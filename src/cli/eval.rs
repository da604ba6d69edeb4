//! `tsal eval`: predict with a snapshot's detectors (`--model`), or take the predictions of any
//! other method (`--predictions`), and score them on list files under one protocol.
//!
//! Everything that can be wrong with the inputs is found before the first prediction: every
//! list line and annotation is read and checked, every image is found, every detector is
//! loaded. The output folder is built aside and appears only when the evaluation succeeded.
use super::flags;
use crate::config::limits;
use crate::eval::evaluate::{self, check_scored, EvalList, Scoring};
use crate::eval::nme::Normaliser;
use crate::eval::predict::PredictOptions;
use crate::eval::predictions::Source;
use crate::eval::report::{self, ListReport};
use crate::eval::score::{self, Missing};
use crate::formats::list::ListEntry;
use crate::fsutil::StagedDir;
use crate::run::resolve::{self, snapshot_dir, Pick};
use crate::run::snapshot::Role;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Lists to evaluate, each reported on its own.
    #[arg(long, num_args = 1..)]
    pub lists: Vec<PathBuf>,
    /// Image lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_ilists", visible_alias = "eval-ilists", num_args = 1..)]
    pub eval_ilists: Vec<PathBuf>,
    /// Video lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_vlists", visible_alias = "eval-vlists", num_args = 1..)]
    pub eval_vlists: Vec<PathBuf>,
    /// Predictions to score: a folder of `.pts` files, a `.json` map `{"KEY": [[x, y], …]}` or
    /// a `.csv` with rows `KEY,x1,y1,…`. An image is found by the longest tail of its path
    /// present (`helen/testset/1.jpg`, `514/extraction/000001.png`, …).
    #[arg(long, value_name = "DIR_OR_FILE", conflicts_with = "model")]
    pub predictions: Option<PathBuf>,
    /// A snapshot folder to predict with, or a training run folder (its latest snapshot, or
    /// the best with --snapshot best). Crop and point count come from the snapshot's run.
    #[arg(long, value_name = "SNAPSHOT_OR_RUN")]
    pub model: Option<PathBuf>,
    /// With a run folder as --model: its `last` snapshot or its `best` (lowest mean NME).
    #[arg(long, value_enum, default_value_t = Pick::Last, requires = "model")]
    pub snapshot: Pick,
    /// Which detector of the snapshot to evaluate.
    #[arg(long, value_enum, default_value_t = Which::Teacher)]
    pub which: Which,
    /// Soft-argmax radius in heatmap cells [default: the model config's `argmax`].
    #[arg(long = "soft_argmax_radius", visible_alias = "soft-argmax-radius", requires = "model")]
    pub soft_argmax_radius: Option<usize>,
    /// Lines per inference batch.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = crate::eval::predict::EVAL_BATCH)]
    pub batch_size: usize,
    /// Threads decoding and cropping images (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub device: flags::Device,
    /// The evaluation crop (as in training).
    #[command(flatten)]
    pub crop: flags::CropOverride,
    /// Normaliser (default: inter-ocular for 68 points, face-size for 19, box otherwise).
    #[arg(long, value_enum)]
    pub normaliser: Option<Normaliser>,
    /// Landmarks per face [default: the snapshot's, else 68].
    #[arg(long = "num_pts", visible_alias = "num-pts")]
    pub num_pts: Option<usize>,
    /// Output folder (default: next to the predictions or the snapshot, `<name>-eval`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub maps: flags::PathMaps,
    /// A face without a usable prediction: `skip` leaves it out (and counts it in the
    /// report), `fail` counts it as a failure at NME = ∞ in the failure rate, AUC and CED.
    #[arg(long, value_enum, default_value_t = Missing::Skip)]
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
    )]
    pub prediction_origin: u8,
    /// The method's name in the report's title (default: the predictions' or snapshot's path).
    #[arg(long)]
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
    match (source, &set.snapshot) {
        (Some(src), _) => eval_predictions(a, &set, &src, &all, norm),
        (None, Some(dir)) => eval_model(a, &set, dir, &all, norm, workers),
        (None, None) => unreachable!("--model resolves to a snapshot"),
    }
}

fn eval_predictions(
    a: &EvalArgs,
    set: &Settings,
    src: &Source,
    all: &[EvalList],
    norm: Normaliser,
) -> Result<ExitCode> {
    let path = a.predictions.as_deref().expect("a predictions source");
    let shift = 1.0 - a.prediction_origin as f64;
    let mut reports = Vec::new();
    for s in all {
        let mut preds = src.lookup(&s.entries, set.num_pts)?;
        if preds.iter().zip(&s.gts).all(|(p, g)| p.is_none() || g.is_none()) {
            bail!("{}", nothing_matched(path, src, s));
        }
        preds.iter_mut().flatten().for_each(|p| p.shift(shift));
        let score = score::score(&s.entries, &s.gts, &preds, norm, a.missing)?;
        reports.push(ListReport { list: s.list.clone(), score });
    }
    check_scored(&reports)?;
    let mut notes = vec![match a.prediction_origin {
        0 => "Coordinates: the annotations as given (300-W .pts are 1-based); the predictions \
              were 0-based and are shifted by +1 px (--prediction_origin 0)."
            .to_string(),
        _ => "Coordinates: predictions taken in the annotations' own convention (300-W .pts are \
              1-based; --prediction_origin 0 shifts 0-based predictions by +1 px)."
            .to_string(),
    }];
    let errors: Vec<f64> = reports.iter().flat_map(|r| r.score.errors()).collect();
    if errors.iter().all(|&e| e == 0.0) {
        let w = format!(
            "Warning: every prediction equals its annotation exactly (NME 0 on {} faces): \
             are these predictions the ground truth itself?",
            errors.len()
        );
        eprintln!("tsal: {w}");
        notes.push(w);
    }
    let out = a.out.clone().unwrap_or_else(|| sibling(path, "eval"));
    let staged = StagedDir::with_kind(&out, true, report::KIND)?;
    let name = a.name.clone().unwrap_or_else(|| path.display().to_string());
    let meta = serde_json::json!({
        "predictions": path,
        "prediction_origin": a.prediction_origin,
    });
    finish(
        staged.path(),
        &out,
        &format!("Evaluation of {name}"),
        &notes,
        meta,
        norm,
        set.num_pts,
        a,
        &reports,
    )?;
    staged.commit()?;
    Ok(ExitCode::SUCCESS)
}

/// Why no line of `s` found a prediction in `src`, with examples of both sides' keys.
fn nothing_matched(path: &Path, src: &Source, s: &EvalList) -> String {
    let (n, have) = src.keys(3);
    let labelled: Vec<&ListEntry> = s.entries.iter().filter(|e| e.is_labelled()).take(2).collect();
    let wanted: Vec<String> = labelled.iter().flat_map(|e| src.wanted(e, 2)).collect();
    format!(
        "--predictions {}: no prediction matches a line of {}: read {n} prediction{} ({}); \
         looked for {} (a key matches the end of an image path: keep the folders that tell \
         images apart, and the file extension in JSON/CSV keys)",
        path.display(),
        s.list.display(),
        if n == 1 { "" } else { "s" },
        if have.is_empty() { "none".to_string() } else { format!("e.g. {}", have.join(", ")) },
        wanted.join(", ")
    )
}

fn eval_model(
    a: &EvalArgs,
    set: &Settings,
    snapshot: &Path,
    all: &[EvalList],
    norm: Normaliser,
    workers: usize,
) -> Result<ExitCode> {
    let roles: &[Role] = match a.which {
        Which::Teacher => &[Role::Teacher],
        Which::Student => &[Role::Student],
        Which::Both => &[Role::Teacher, Role::Student],
    };
    let device = a.device.resolve()?;
    // Every detector is loaded, and every image found, before the first prediction.
    let mut detectors = Vec::new();
    for &role in roles {
        let (vs, det, meta, cfg) = crate::run::snapshot::load_detector(snapshot, role, device)?;
        detectors.push((role, vs, det, meta, cfg));
    }
    evaluate::check_images(all, workers)?;
    let out = a.out.clone().unwrap_or_else(|| sibling(snapshot, "eval"));
    let staged = StagedDir::with_kind(&out, true, report::KIND)?;
    let name = a.name.clone().unwrap_or_else(|| snapshot.display().to_string());
    let scoring = Scoring { normaliser: norm, missing: a.missing };
    let mut printed = Vec::new();
    for (role, _vs, det, meta, cfg) in &detectors {
        crate::interrupt::check()?;
        let opts = PredictOptions {
            crop: set.crop,
            num_pts: meta.num_pts,
            radius: a.soft_argmax_radius.unwrap_or(cfg.argmax) as i64,
            batch_size: a.batch_size,
            workers,
            device,
        };
        let e = evaluate::evaluate(det, all, &opts, scoring)?;
        let sub = |root: &Path| if roles.len() > 1 { root.join(role.name()) } else { root.into() };
        let title = format!("Evaluation of {name} ({} detector)", role.name());
        let mut run = serde_json::json!({
            "snapshot": snapshot,
            "role": role.name(),
            "made_by": meta.made_by,
            "device": format!("{device:?}"),
            "frames": e.frames,
            "seconds": e.seconds,
            "frames_per_s": e.frames_per_second(),
            "crop": [set.crop.width, set.crop.height],
            "pre_crop_expand": set.crop.expand,
            "soft_argmax_radius": a.soft_argmax_radius.unwrap_or(cfg.argmax),
        });
        add_meta(&mut run, norm, set.num_pts, a);
        let notes = ["Coordinates: predictions are in the annotations' own convention (300-W \
                      .pts are 1-based)."
            .to_string()];
        print!("{}", e.write(&sub(staged.path()), all, &title, &notes, run)?);
        eprintln!(
            "wrote {}/report.md, report.json, per_image.csv, ced.png, predictions/",
            sub(&out).display()
        );
        printed.push(format!(
            "{} detector: {} frames in {:.2} s, {:.1} frames/s on {device:?}",
            role.name(),
            e.frames,
            e.seconds,
            e.frames_per_second()
        ));
    }
    staged.commit()?;
    for line in printed {
        println!("{line}\n");
    }
    Ok(ExitCode::SUCCESS)
}

/// `<path>-<what>` next to `path`.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!("{name}-{what}"))
}

/// Write the reports into `dir` (staged; `shown` is where they will be), print the Markdown.
#[allow(clippy::too_many_arguments)]
fn finish(
    dir: &Path,
    shown: &Path,
    title: &str,
    notes: &[String],
    mut meta: serde_json::Value,
    norm: Normaliser,
    num_pts: usize,
    a: &EvalArgs,
    reports: &[ListReport],
) -> Result<()> {
    add_meta(&mut meta, norm, num_pts, a);
    print!("{}", report::write(dir, title, notes, meta, reports)?);
    eprintln!("wrote {}/report.md, report.json, per_image.csv, ced.png", shown.display());
    Ok(())
}

/// What every report's `meta` records of the scoring.
fn add_meta(meta: &mut serde_json::Value, norm: Normaliser, num_pts: usize, a: &EvalArgs) {
    meta["normaliser"] = serde_json::json!(norm);
    meta["normaliser_name"] = serde_json::json!(norm.name());
    meta["num_pts"] = serde_json::json!(num_pts);
    meta["missing"] = serde_json::json!(a.missing);
    meta["tsal"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
}
