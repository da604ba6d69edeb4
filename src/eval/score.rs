//! Scoring one list: predictions against the list's annotations with one
//! normaliser, the same code for tsal's own predictions and for predictions of any other
//! method. Each distinct (image, annotation) pair is scored once: the reference's lists repeat
//! 300W lines ×10 and pad 300VW videos with duplicate frames, which would otherwise count
//! several times. Unlabelled lines are counted, not scored; excluded faces are listed with
//! their reason.
//!
//! A face without a usable prediction (none found, or a non-finite coordinate) is left out by
//! default, as the reference's tables do; [`Missing::Fail`] counts it as a failure at NME = ∞
//! instead, so a method that skips hard faces cannot score better for it.
use super::curves::Summary;
use super::jitter::{self, Jitter};
use super::nme::{face_nme, Exclusion, Normaliser};
use super::predictions::Prediction;
use crate::formats::list::ListEntry;
use crate::formats::pts::{self, Landmarks};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;

/// What a face without a usable prediction counts as (`--missing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Left out of every figure (and counted in the report).
    #[default]
    Skip,
    /// A failure at NME = ∞: in the failure rate, the AUC and the CED (not in the mean NME,
    /// which would be infinite).
    Fail,
}

/// One scored line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaceRow {
    pub image: PathBuf,
    /// `list:line`.
    pub line: String,
    /// The error as a fraction (`None` when excluded; ∞ for a missing prediction under
    /// [`Missing::Fail`]).
    pub nme: Option<f64>,
    pub normaliser_px: Option<f64>,
    pub excluded: Option<Exclusion>,
    /// Where the prediction came from (a file, or `file#key` in a JSON or CSV table).
    pub prediction: Option<String>,
    /// The face had no usable prediction.
    pub missing: bool,
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
    /// Over the faces that count (missing ones included under [`Missing::Fail`]).
    pub summary: Summary,
    pub excluded: usize,
    pub unlabelled: usize,
    /// Lines repeating an earlier (image, annotation) pair.
    pub duplicates: usize,
    /// Faces without a usable prediction (excluded, or failures under [`Missing::Fail`]).
    pub missing: usize,
    pub missing_policy: Missing,
    /// Video lists: the jitter over the pairs of scored faces that are consecutive frames of
    /// one video (each frame's normaliser); none for a list without such a pair.
    pub jitter: Option<Jitter>,
}

impl ListScore {
    /// The errors of the faces that count.
    pub fn errors(&self) -> Vec<f64> {
        self.rows.iter().filter_map(|r| r.nme).collect()
    }
}

/// The ground truth of every line (`None` for unlabelled lines), read and checked against
/// `num_pts` before anything is predicted, so a bad annotation stops an evaluation at once,
/// naming its list line. Each distinct annotation file is read once, on `threads` threads.
pub fn read_annotations(
    entries: &[ListEntry],
    num_pts: usize,
    threads: usize,
) -> Result<Vec<Option<Landmarks>>> {
    let distinct: Vec<&ListEntry> = {
        let mut seen = HashSet::new();
        entries
            .iter()
            .filter(|e| e.annotation.as_ref().is_some_and(|a| seen.insert(a.clone())))
            .collect()
    };
    let read = crate::parallel::map(&distinct, threads, None, |e| {
        let a = e.annotation.as_ref().expect("labelled");
        let lm = pts::read(a, Some(num_pts)).with_context(|| format!("{}", e.origin))?;
        if lm.len() != num_pts {
            bail!(
                "{}: {} has {} points, expected {num_pts} (--num_pts)",
                e.origin,
                a.display(),
                lm.len()
            );
        }
        Ok(lm)
    })?;
    let by_file: std::collections::HashMap<&PathBuf, &Landmarks> = distinct
        .iter()
        .zip(&read)
        .map(|(e, lm)| (e.annotation.as_ref().expect("labelled"), lm))
        .collect();
    Ok(entries.iter().map(|e| e.annotation.as_ref().map(|a| by_file[a].clone())).collect())
}

/// Score `entries` with ground truth `gts` (from [`read_annotations`]) against `preds` (one
/// per entry, `None` = no prediction for that line) under `norm`.
pub fn score(
    entries: &[ListEntry],
    gts: &[Option<Landmarks>],
    preds: &[Option<Prediction>],
    norm: Normaliser,
    missing: Missing,
) -> Result<ListScore> {
    anyhow::ensure!(
        entries.len() == preds.len() && entries.len() == gts.len(),
        "{} predictions and {} annotations for {} list lines",
        preds.len(),
        gts.len(),
        entries.len()
    );
    let mut seen = HashSet::new();
    let (mut rows, mut unlabelled, mut duplicates) = (Vec::new(), 0, 0);
    // The last scored face (line, prediction, truth) and the jitter of each frame pair.
    let mut last: Option<(&ListEntry, &[[f64; 2]], &Landmarks)> = None;
    let mut jitters = Vec::new();
    for ((e, gt), p) in entries.iter().zip(gts).zip(preds) {
        let (Some(ann), Some(gt)) = (&e.annotation, gt) else {
            unlabelled += 1;
            continue;
        };
        if !seen.insert((e.image.clone(), ann.clone())) {
            duplicates += 1;
            continue;
        }
        let usable = p.as_ref().filter(|p| p.xy.iter().flatten().all(|v| v.is_finite()));
        let mut row = FaceRow {
            image: e.image.clone(),
            line: e.origin.to_string(),
            nme: None,
            normaliser_px: None,
            excluded: None,
            prediction: p.as_ref().map(|p| p.source.clone()),
            missing: usable.is_none(),
        };
        let mut scored = None;
        match usable {
            Some(p) => match face_nme(&p.xy, gt, norm, e.bbox, e.face_size) {
                Ok(f) => {
                    (row.nme, row.normaliser_px) = (Some(f.nme), Some(f.normaliser));
                    if let Some((_, lp, lg)) = last.filter(|(le, ..)| e.follows(le)) {
                        jitters.extend(jitter::pair(&p.xy, lp, &gt.xy, &lg.xy, f.normaliser));
                    }
                    scored = Some((e, p.xy.as_slice(), gt));
                }
                Err(x) => row.excluded = Some(x),
            },
            None => {
                // A face the normaliser cannot measure stays excluded for that reason.
                match (missing, norm.distance(gt, e.bbox, e.face_size)) {
                    (_, Err(x)) => row.excluded = Some(x),
                    (Missing::Fail, Ok(d)) => {
                        (row.nme, row.normaliser_px) = (Some(f64::INFINITY), Some(d))
                    }
                    (Missing::Skip, Ok(_)) => {
                        row.excluded = Some(Exclusion::BadPrediction(match p {
                            None => "no prediction".into(),
                            Some(_) => "a predicted point is not finite".into(),
                        }))
                    }
                }
            }
        }
        // A face that is not scored breaks the chain of consecutive frames.
        last = scored;
        rows.push(row);
    }
    let errors: Vec<f64> = rows.iter().filter_map(|r| r.nme).collect();
    let excluded = rows.len() - errors.len();
    Ok(ListScore {
        normaliser: norm,
        summary: Summary::of(&errors),
        missing: rows.iter().filter(|r| r.missing).count(),
        rows,
        excluded,
        unlabelled,
        duplicates,
        missing_policy: missing,
        jitter: Jitter::of(&jitters),
    })
}

/// [`score`] for in-memory points: annotations read here, missing predictions skipped.
pub fn score_list(
    entries: &[ListEntry],
    preds: &[Option<Vec<[f64; 2]>>],
    norm: Normaliser,
    num_pts: usize,
) -> Result<ListScore> {
    let gts = read_annotations(entries, num_pts, 1)?;
    let preds: Vec<Option<Prediction>> = preds
        .iter()
        .map(|p| p.as_ref().map(|xy| Prediction { xy: xy.clone(), source: String::new() }))
        .collect();
    score(entries, &gts, &preds, norm, Missing::Skip)
}

/// Why a list scored no face, in words: what its lines were and what happened to them.
pub fn why_nothing_scored(s: &ListScore) -> String {
    let mut reasons: Vec<String> = Vec::new();
    if s.rows.is_empty() {
        reasons.push(if s.unlabelled > 0 {
            format!("all {} lines are unlabelled (None)", s.unlabelled)
        } else {
            "the list has no lines".into()
        });
    }
    if s.missing > 0 {
        reasons.push(format!("{} of {} faces have no usable prediction", s.missing, s.rows.len()));
    }
    let mut other: Vec<String> = s
        .rows
        .iter()
        .filter(|r| !r.missing)
        .filter_map(|r| r.excluded.as_ref().map(|x| x.to_string()))
        .collect();
    other.sort();
    other.dedup();
    if !other.is_empty() {
        reasons.push(format!("excluded: {}", other.join("; ")));
    }
    reasons.join(", ")
}
