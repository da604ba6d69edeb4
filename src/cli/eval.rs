//! `tsal eval`: predict with a snapshot's detectors (`--model`), or take the predictions of any
//! other method (`--predictions`), and score them on list files under one protocol.
use crate::data::augment::AugParams;
use crate::data::list::{self, ListEntry, PathMap};
use crate::eval::nme::Normaliser;
use crate::eval::predict::{predict, PredictOptions};
use crate::eval::report::{self, ListReport};
use crate::eval::{predictions, score};
use crate::snapshot::Role;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
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
    /// A snapshot folder to predict with (`tsal snapshot init` makes a fresh one).
    #[arg(long, value_name = "SNAPSHOT")]
    pub model: Option<PathBuf>,
    /// Which detector of the snapshot to evaluate.
    #[arg(long, value_enum, default_value_t = Which::Teacher)]
    pub which: Which,
    /// Lines per inference batch.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 32)]
    pub batch_size: usize,
    /// Threads decoding and cropping images (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Run on the CPU even when CUDA is available.
    #[arg(long)]
    pub cpu: bool,
    /// Evaluation crop: the face box expanded by this ratio per side (as in training).
    #[arg(long = "pre_crop_expand", visible_alias = "pre-crop-expand", default_value_t = 0.2)]
    pub pre_crop_expand: f64,
    /// Evaluation crop width in pixels (as in training; a multiple of 32).
    #[arg(long = "crop_width", visible_alias = "crop-width", default_value_t = 256)]
    pub crop_width: u32,
    /// Evaluation crop height in pixels (as in training; a multiple of 32).
    #[arg(long = "crop_height", visible_alias = "crop-height", default_value_t = 256)]
    pub crop_height: u32,
    /// Normaliser (default: inter-ocular for 68 points, face-size for 19, box otherwise).
    #[arg(long, value_enum)]
    pub normaliser: Option<Normaliser>,
    /// Landmarks per face.
    #[arg(long = "num_pts", visible_alias = "num-pts", default_value_t = 68)]
    pub num_pts: usize,
    /// Output folder (default: next to the predictions or the snapshot, `<name>-eval`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rewrite list path prefixes, OLD=NEW (repeatable).
    #[arg(long = "path_map", visible_alias = "path-map", value_name = "OLD=NEW")]
    pub path_map: Vec<PathMap>,
}

/// `--which`: the detector roles to evaluate.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Teacher,
    Student,
    Both,
}

pub fn run(a: &EvalArgs) -> Result<ExitCode> {
    let lists: Vec<PathBuf> =
        a.lists.iter().chain(&a.eval_ilists).chain(&a.eval_vlists).cloned().collect();
    let norm = a.normaliser.unwrap_or(Normaliser::default_for(a.num_pts));
    let (source, snapshot) = match (&a.predictions, &a.model) {
        (None, None) => bail!("--predictions DIR_OR_FILE or --model SNAPSHOT: nothing to evaluate"),
        (s, m) => (s.clone(), m.clone()),
    };
    if lists.is_empty() {
        bail!("--lists: give at least one list to evaluate");
    }
    if snapshot.is_some() {
        super::check_crop(a.crop_width, a.crop_height)?;
        if a.batch_size == 0 {
            bail!("--batch_size 0: need at least one line per batch");
        }
    }
    let mut all = Vec::new();
    for l in &lists {
        all.push((l.clone(), list::read(l, &a.path_map)?));
    }
    if let Some(source) = source {
        let mut reports = Vec::new();
        for (l, entries) in &all {
            let preds = predictions::read(&source, entries, a.num_pts)
                .with_context(|| format!("predictions for {}", l.display()))?;
            let score = score::score_list(entries, &preds, norm, a.num_pts)?;
            reports.push(ListReport { list: l.clone(), score });
        }
        let out = a.out.clone().unwrap_or_else(|| sibling(&source, "eval"));
        let meta = serde_json::json!({ "predictions": source });
        finish(&out, &format!("Evaluation of {}", source.display()), meta, norm, a, &reports)?;
        return Ok(ExitCode::SUCCESS);
    }
    let snapshot = snapshot.expect("one of the two");
    let roles: &[Role] = match a.which {
        Which::Teacher => &[Role::Teacher],
        Which::Student => &[Role::Student],
        Which::Both => &[Role::Teacher, Role::Student],
    };
    let device = crate::device::choose(a.cpu);
    let base = a.out.clone().unwrap_or_else(|| sibling(&snapshot, "eval"));
    // One pass over the lines of every list, so predictions share one mirrored folder.
    let entries: Vec<ListEntry> = all.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    for &role in roles {
        let (_vs, det, meta, cfg) = crate::snapshot::load_detector(&snapshot, role, device)?;
        let opts = PredictOptions {
            aug: AugParams {
                pre_crop_expand: a.pre_crop_expand,
                crop_width: a.crop_width,
                crop_height: a.crop_height,
                scale_prob: 0.0,
                scale_min: 1.0,
                scale_max: 1.0,
                rotate_max: 0.0,
                crop_perturb_max: 0.0,
            },
            num_pts: meta.num_pts,
            radius: cfg.argmax as i64,
            batch_size: a.batch_size,
            workers: a.workers.unwrap_or_else(crate::parallel::default_threads),
            device,
        };
        anyhow::ensure!(
            meta.num_pts == a.num_pts,
            "--num_pts {}: the snapshot's detectors predict {} points",
            a.num_pts,
            meta.num_pts
        );
        let p = predict(&det, &entries, &opts)?;
        let out = if roles.len() > 1 { base.join(role.name()) } else { base.clone() };
        let preds: Vec<Option<Vec<[f64; 2]>>> = p.points.iter().cloned().map(Some).collect();
        predictions::write_dir(&out.join("predictions"), &entries, &preds)?;
        let mut reports = Vec::new();
        let mut at = 0;
        for (l, e) in &all {
            let score = score::score_list(e, &preds[at..at + e.len()], norm, a.num_pts)?;
            reports.push(ListReport { list: l.clone(), score });
            at += e.len();
        }
        let title = format!("Evaluation of {} ({} detector)", snapshot.display(), role.name());
        let run = serde_json::json!({
            "snapshot": snapshot,
            "role": role.name(),
            "made_by": meta.made_by,
            "device": format!("{device:?}"),
            "frames": p.frames,
            "seconds": p.seconds,
            "frames_per_s": p.frames_per_second(),
            "crop": [a.crop_width, a.crop_height],
            "pre_crop_expand": a.pre_crop_expand,
            "soft_argmax_radius": cfg.argmax,
        });
        finish(&out, &title, run, norm, a, &reports)?;
        println!(
            "{} detector: {} frames in {:.2} s, {:.1} frames/s on {device:?}\n",
            role.name(),
            p.frames,
            p.seconds,
            p.frames_per_second()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `<path>-<what>` next to `path`.
fn sibling(path: &std::path::Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!("{name}-{what}"))
}

/// Write the reports into `out` and print the Markdown table.
fn finish(
    out: &std::path::Path,
    title: &str,
    mut meta: serde_json::Value,
    norm: Normaliser,
    a: &EvalArgs,
    reports: &[ListReport],
) -> Result<()> {
    meta["normaliser"] = serde_json::json!(norm);
    meta["normaliser_name"] = serde_json::json!(norm.name());
    meta["num_pts"] = serde_json::json!(a.num_pts);
    meta["tsal"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
    print!("{}", report::write(out, title, meta, reports)?);
    eprintln!("wrote {}/report.md, report.json, per_image.csv, ced.png", out.display());
    Ok(())
}
