//! The work of `tsal eval`: predict with a snapshot's detectors, or take the predictions of
//! any other method, score them on list files under one protocol, and write the reports.
//!
//! Everything that can be wrong with the inputs is found before the first prediction: every
//! list line and annotation is read and checked (by the caller, [`EvalList::read`]), every
//! image is found, every detector is loaded. The output folder is built aside and appears only
//! when the evaluation succeeded.
use super::evaluate::{self, check_scored, EvalList, Scoring};
use super::nme::Normaliser;
use super::predict::{PredictOptions, Tta};
use super::predictions::Source;
use super::report::{self, ListReport};
use super::score::{self, Missing};
use crate::data::crop::CropSpec;
use crate::formats::list::ListEntry;
use crate::fsutil::StagedDir;
use crate::run::snapshot::Role;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tch::Device;

/// The settings of one evaluation, resolved from the flags (and the snapshot).
pub struct Job {
    pub num_pts: usize,
    /// The evaluation crop (a snapshot's run knows its own).
    pub crop: CropSpec,
    pub normaliser: Normaliser,
    pub missing: Missing,
    /// Output folder (default: next to the predictions or the snapshot, `<name>-eval`).
    pub out: Option<PathBuf>,
    /// The method's name in the report's title (default: the predictions' or snapshot's path).
    pub name: Option<String>,
}

/// A snapshot's detectors to predict with.
pub struct Model {
    /// The snapshot folder (a run folder's pointer followed).
    pub snapshot: PathBuf,
    pub roles: Vec<Role>,
    /// Soft-argmax radius in heatmap cells (default: the model config's `argmax`).
    pub radius: Option<usize>,
    pub batch_size: usize,
    pub workers: usize,
    pub device: Device,
    /// Views per face (1: the deterministic crop alone) and the seed of their draws.
    pub tta: usize,
    pub tta_seed: u64,
}

/// Another method's predictions.
pub struct Predictions {
    pub path: PathBuf,
    pub source: Source,
    /// The pixel origin of the predictions: 1 as the annotations, 0 shifted by +1.
    pub origin: u8,
}

/// Score `p` on every list of `all`, write the report and print it.
pub fn predictions(job: &Job, p: &Predictions, all: &[EvalList]) -> Result<()> {
    let (path, src, norm) = (p.path.as_path(), &p.source, job.normaliser);
    let shift = 1.0 - p.origin as f64;
    let mut reports = Vec::new();
    for s in all {
        let mut preds = src.lookup(&s.entries, job.num_pts)?;
        if preds.iter().zip(&s.gts).all(|(p, g)| p.is_none() || g.is_none()) {
            bail!("{}", nothing_matched(path, src, s));
        }
        preds.iter_mut().flatten().for_each(|p| p.shift(shift));
        let score = score::score(&s.entries, &s.gts, &preds, norm, job.missing)?;
        reports.push(ListReport { list: s.list.clone(), score });
    }
    check_scored(&reports)?;
    let mut notes = vec![match p.origin {
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
    let out = job.out.clone().unwrap_or_else(|| sibling(path, "eval"));
    let staged = StagedDir::with_kind(&out, true, report::KIND)?;
    let name = job.name.clone().unwrap_or_else(|| path.display().to_string());
    let meta = serde_json::json!({
        "predictions": path,
        "prediction_origin": p.origin,
    });
    finish(staged.path(), &out, &format!("Evaluation of {name}"), &notes, meta, job, &reports)?;
    staged.commit()?;
    Ok(())
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

/// Predict with every role of `m` on every list of `all`, write each role's report and print
/// it with the detectors' speed.
pub fn model(job: &Job, m: &Model, all: &[EvalList]) -> Result<()> {
    let (snapshot, roles, device, norm) =
        (m.snapshot.as_path(), &m.roles, m.device, job.normaliser);
    // Every detector is loaded, and every image found, before the first prediction.
    let mut detectors = Vec::new();
    for &role in roles.iter() {
        let (vs, det, meta, cfg) = crate::run::snapshot::load_detector(snapshot, role, device)?;
        detectors.push((role, vs, det, meta, cfg));
    }
    evaluate::check_images(all, m.workers)?;
    let out = job.out.clone().unwrap_or_else(|| sibling(snapshot, "eval"));
    let staged = StagedDir::with_kind(&out, true, report::KIND)?;
    let name = job.name.clone().unwrap_or_else(|| snapshot.display().to_string());
    let scoring = Scoring { normaliser: norm, missing: job.missing };
    let mut printed = Vec::new();
    for (role, _vs, det, meta, cfg) in &detectors {
        crate::interrupt::check()?;
        let opts = PredictOptions {
            crop: job.crop,
            num_pts: meta.num_pts,
            radius: m.radius.unwrap_or(cfg.argmax) as i64,
            batch_size: m.batch_size,
            workers: m.workers,
            device,
            tta: (m.tta > 1).then(|| Tta {
                views: m.tta,
                aug: crate::config::run::reference_augmentation(job.crop),
                seed: m.tta_seed,
            }),
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
            "crop": [job.crop.width, job.crop.height],
            "pre_crop_expand": job.crop.expand,
            "soft_argmax_radius": m.radius.unwrap_or(cfg.argmax),
            "tta_views": m.tta,
            "tta_seed": m.tta_seed,
        });
        add_meta(&mut run, job);
        let mut notes = vec!["Coordinates: predictions are in the annotations' own convention \
                              (300-W .pts are 1-based)."
            .to_string()];
        if m.tta > 1 {
            notes.push(format!(
                "Test-time augmentation: each face's points are the mean over {} views (the \
                 evaluation crop and {} draws of the training augmentation, seed {}), each \
                 taken back to the image through its own crop.",
                m.tta,
                m.tta - 1,
                m.tta_seed
            ));
        }
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
    Ok(())
}

/// `<path>-<what>` next to `path`.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!("{name}-{what}"))
}

/// Write the reports into `dir` (staged; `shown` is where they will be), print the Markdown.
fn finish(
    dir: &Path,
    shown: &Path,
    title: &str,
    notes: &[String],
    mut meta: serde_json::Value,
    job: &Job,
    reports: &[ListReport],
) -> Result<()> {
    add_meta(&mut meta, job);
    print!("{}", report::write(dir, title, notes, meta, reports)?);
    eprintln!("wrote {}/report.md, report.json, per_image.csv, ced.png", shown.display());
    Ok(())
}

/// What every report's `meta` records of the scoring.
fn add_meta(meta: &mut serde_json::Value, job: &Job) {
    meta["normaliser"] = serde_json::json!(job.normaliser);
    meta["normaliser_name"] = serde_json::json!(job.normaliser.name());
    meta["num_pts"] = serde_json::json!(job.num_pts);
    meta["missing"] = serde_json::json!(job.missing);
    meta["tsal"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
}
