//! Scoring one list (issue #5): predictions against the list's annotations with one
//! normaliser, the same code for tsal's own predictions and for predictions of any other
//! method. Each distinct (image, annotation) pair is scored once: the reference's lists repeat
//! 300W lines ×10 and pad 300VW videos with duplicate frames, which would otherwise count
//! several times. Unlabelled lines are counted, not scored; excluded faces are listed with
//! their reason.
use super::curves::Summary;
use super::nme::{face_nme, Exclusion, Normaliser};
use crate::data::list::ListEntry;
use crate::data::pts;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;

/// One scored line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaceRow {
    pub image: PathBuf,
    /// `list:line`.
    pub line: String,
    /// The error as a fraction (`None` when excluded).
    pub nme: Option<f64>,
    pub normaliser_px: Option<f64>,
    pub excluded: Option<Exclusion>,
}

/// One list's score, named.
#[derive(Clone, Debug, Serialize)]
pub struct ListReport {
    pub list: PathBuf,
    pub score: ListScore,
}

impl ListReport {
    /// The list's file name, as tables and legends show it.
    pub fn name(&self) -> String {
        self.list.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
    }
}

/// A list's score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListScore {
    pub normaliser: Normaliser,
    /// Scored or excluded faces, in list order, each distinct line once.
    pub rows: Vec<FaceRow>,
    /// Over the faces not excluded.
    pub summary: Summary,
    pub excluded: usize,
    pub unlabelled: usize,
    /// Lines repeating an earlier (image, annotation) pair.
    pub duplicates: usize,
}

impl ListScore {
    /// The errors of the faces that count.
    pub fn errors(&self) -> Vec<f64> {
        self.rows.iter().filter_map(|r| r.nme).collect()
    }
}

/// Score `entries` against `preds` (one per entry, `None` = no prediction for that line) with
/// `norm`. Annotations are read with `num_pts` points; a file that cannot be read is an error
/// naming its list line.
pub fn score_list(
    entries: &[ListEntry],
    preds: &[Option<Vec<[f64; 2]>>],
    norm: Normaliser,
    num_pts: usize,
) -> Result<ListScore> {
    anyhow::ensure!(
        entries.len() == preds.len(),
        "{} predictions for {} list lines",
        preds.len(),
        entries.len()
    );
    let mut seen = HashSet::new();
    let (mut rows, mut unlabelled, mut duplicates) = (Vec::new(), 0, 0);
    for (e, p) in entries.iter().zip(preds) {
        let Some(ann) = &e.annotation else {
            unlabelled += 1;
            continue;
        };
        if !seen.insert((e.image.clone(), ann.clone())) {
            duplicates += 1;
            continue;
        }
        let gt = pts::read(ann, Some(num_pts)).with_context(|| format!("{}", e.origin))?;
        let r = match p {
            Some(p) => face_nme(p, &gt, norm, e.bbox, e.face_size),
            None => Err(Exclusion::BadPrediction("no prediction".into())),
        };
        let (nme, normaliser_px, excluded) = match r {
            Ok(f) => (Some(f.nme), Some(f.normaliser), None),
            Err(x) => (None, None, Some(x)),
        };
        rows.push(FaceRow {
            image: e.image.clone(),
            line: e.origin.to_string(),
            nme,
            normaliser_px,
            excluded,
        });
    }
    let errors: Vec<f64> = rows.iter().filter_map(|r| r.nme).collect();
    let excluded = rows.len() - errors.len();
    Ok(ListScore {
        normaliser: norm,
        summary: Summary::of(&errors),
        rows,
        excluded,
        unlabelled,
        duplicates,
    })
}
