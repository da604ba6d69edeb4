//! Evaluating a detector on lists, as one library call: `tsal eval --model`, `train
//! --eval_once` and per-epoch evaluation during training all run [`evaluate`] on a detector in
//! memory, so their numbers cannot differ. The lists are read and checked first
//! ([`EvalList::read`]); [`Evaluation::write`] puts predictions and reports into a folder.
use super::nme::Normaliser;
use super::predict::{predict, PredictOptions};
use super::predictions::{self, Prediction};
use super::report::{self, ListReport};
use super::score::{self, Missing};
use crate::formats::list::{self, ListEntry, PathMap};
use crate::formats::pts::Landmarks;
use crate::models::Detector;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A list to evaluate on: its lines and their ground truth, read and checked.
pub struct EvalList {
    pub list: PathBuf,
    pub entries: Vec<ListEntry>,
    /// One per line; `None` for unlabelled lines.
    pub gts: Vec<Option<Landmarks>>,
}

impl EvalList {
    /// Read list `path` and every annotation it names (point counts checked against
    /// `num_pts`, on `threads` threads). A list without a labelled line is an error: it could
    /// score nothing.
    pub fn read(path: &Path, maps: &[PathMap], num_pts: usize, threads: usize) -> Result<Self> {
        let entries = list::read(path, maps)?;
        if !entries.iter().any(|e| e.is_labelled()) {
            bail!(
                "{}: nothing to score: {}",
                path.display(),
                if entries.is_empty() {
                    "the list has no lines".to_string()
                } else {
                    format!("all {} lines are unlabelled (None)", entries.len())
                }
            );
        }
        let gts = score::read_annotations(&entries, num_pts, threads)?;
        Ok(Self { list: path.to_path_buf(), entries, gts })
    }
}

/// Every line of `lists`, in order (one prediction pass serves all lists).
pub fn all_entries(lists: &[EvalList]) -> Vec<ListEntry> {
    lists.iter().flat_map(|l| l.entries.iter().cloned()).collect()
}

/// Each image of `lists` exists (checked on `threads` threads before any prediction).
pub fn check_images(lists: &[EvalList], threads: usize) -> Result<()> {
    let entries = all_entries(lists);
    let missing = crate::parallel::map(&entries, threads, None, |e| Ok(!e.image.is_file()))?;
    if let Some(i) = missing.iter().position(|&m| m) {
        bail!("{}: image {}: file not found", entries[i].origin, entries[i].image.display());
    }
    Ok(())
}

/// A list that scored no face is an error saying why.
pub fn check_scored(reports: &[ListReport]) -> Result<()> {
    let empty: Vec<String> = reports
        .iter()
        .filter(|r| r.score.summary.faces == 0)
        .map(|r| format!("{}: {}", r.list.display(), score::why_nothing_scored(&r.score)))
        .collect();
    if !empty.is_empty() {
        bail!("no face was scored on {}", empty.join("; "));
    }
    Ok(())
}

/// How predictions are scored.
#[derive(Clone, Copy, Debug)]
pub struct Scoring {
    pub normaliser: Normaliser,
    pub missing: Missing,
}

/// What one detector scored.
pub struct Evaluation {
    pub reports: Vec<ListReport>,
    /// Every line's points (original-image pixels), in the order of [`all_entries`].
    pub points: Vec<Vec<[f64; 2]>>,
    /// Distinct lines run through the detector, and the seconds it took.
    pub frames: usize,
    pub seconds: f64,
}

impl Evaluation {
    pub fn frames_per_second(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }

    /// Write the predictions (`dir/predictions/`, `.pts` mirroring the images) and the reports
    /// (`report.md`, `report.json`, `per_image.csv`, `ced.png`) into `dir`; returns the
    /// Markdown report.
    pub fn write(
        &self,
        dir: &Path,
        lists: &[EvalList],
        title: &str,
        notes: &[String],
        meta: serde_json::Value,
    ) -> Result<String> {
        let points: Vec<Option<Vec<[f64; 2]>>> = self.points.iter().cloned().map(Some).collect();
        predictions::write_dir(&dir.join(PREDICTIONS), &all_entries(lists), &points)?;
        report::write(dir, title, notes, meta, &self.reports)
    }
}

/// The folder of an evaluation's `.pts` predictions, under its report folder.
pub const PREDICTIONS: &str = "predictions";

/// Predict every line of `lists` with `det` and score each list. Each face's prediction is
/// named by the file [`Evaluation::write`] gives it (relative to the report folder).
pub fn evaluate(
    det: &Detector,
    lists: &[EvalList],
    opts: &PredictOptions,
    scoring: Scoring,
) -> Result<Evaluation> {
    let entries = all_entries(lists);
    let p = predict(det, &entries, opts)?;
    let root = predictions::image_root(&entries);
    let preds: Vec<Option<Prediction>> = entries
        .iter()
        .zip(&p.points)
        .map(|(e, xy)| {
            let file = predictions::pts_path(Path::new(PREDICTIONS), &e.image, &root);
            Some(Prediction { xy: xy.clone(), source: file.display().to_string() })
        })
        .collect();
    let mut reports = Vec::new();
    let mut at = 0;
    for l in lists {
        let n = l.entries.len();
        let s = score::score(
            &l.entries,
            &l.gts,
            &preds[at..at + n],
            scoring.normaliser,
            scoring.missing,
        )?;
        reports.push(ListReport { list: l.list.clone(), score: s });
        at += n;
    }
    check_scored(&reports)?;
    Ok(Evaluation { reports, points: p.points, frames: p.frames, seconds: p.seconds })
}
