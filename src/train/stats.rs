//! What one training iteration reports: every loss term of every role, the round's settings in
//! force, and the diagnostics, as typed values. They reach `metrics.jsonl` and the log as
//! `role → term → value` ([`IterStats::slots`]), under the names the metrics have always had;
//! the pair diagnostics under `pairs.video` and `pairs.views`.
use std::collections::BTreeMap;

/// One detector's terms (unitless losses).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorStats {
    pub heatmap: f64,
    pub focal: f64,
    pub offset: f64,
    /// The structure-invariance term and the unsupervised term (TSAL round only).
    pub sic: Option<f64>,
    pub unsup: Option<f64>,
    pub total: f64,
}

impl DetectorStats {
    /// The supervised step's terms `[heatmap, focal, offset, total]`.
    pub fn supervised(v: [f64; 4]) -> Self {
        let [heatmap, focal, offset, total] = v;
        Self { heatmap, focal, offset, sic: None, unsup: None, total }
    }
}

/// One tracker's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrackerStats {
    pub census: f64,
    pub smooth: f64,
    pub consistency: f64,
    /// The end-point error against the exact flow of view pairs (pixels; 0 without one).
    pub exact: f64,
    pub total: f64,
}

/// The round's settings in force: the ramp weight, λ and μ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundTerms {
    pub ramp: f64,
    pub lambda: f64,
    pub mu: f64,
}

/// The two kinds of pair, in the order [`IterStats::pairs`] holds them: frames of a video
/// clip, and augmented views of a still image.
pub const PAIR_KINDS: [&str; 2] = ["video", "views"];

/// What the round did on one kind of pair (frame j, frame j+1), measured against the
/// annotations (labels or shadow labels) on the pairs whose two frames have one. Distances are
/// mean input pixels over the landmarks visible in both frames; `None` where the batch had no
/// such pair. `[teacher's, student's]` where there are two.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PairStats {
    /// Pairs of this kind in the batch, and those whose two frames are annotated.
    pub pairs: f64,
    pub annotated: f64,
    /// Frame j's annotation against frame j+1's: no motion model at all.
    pub static_px: Option<f64>,
    /// Frame j's annotation carried by each tracker's flow.
    pub track_px: [Option<f64>; 2],
    /// The student's fused pseudo-label for frame j+1.
    pub pseudo_px: Option<f64>,
    /// Each detector's own landmarks on frame j+1 (soft-argmax of its last stage).
    pub det_px: [Option<f64>; 2],
    /// Mean magnitude of each tracker's flow j → j+1 over every pair of the kind (annotated or
    /// not), input pixels.
    pub flow_px: [Option<f64>; 2],
}

/// One landmark of one video pair whose two frames are annotated (shadow labels), as the round
/// saw it (`tsal train --landmark_log`): how good the student's pseudo-label and the detectors'
/// own readings of frame j+1 are, and the signals a gate on the label could read. Distances in
/// pixels at the crop (frame j+1's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LandmarkRow {
    /// The pair's index in the batch's pairs and the landmark's.
    pub pair: usize,
    pub landmark: usize,
    /// To frame j+1's annotation: the pseudo-label, the student's and the teacher's soft-argmax
    /// landmark on frame j+1.
    pub pseudo_px: f64,
    pub det_px: f64,
    pub det_px_teacher: f64,
    /// The heatmap peak of the pseudo-label's source detector at frame j (its confidence).
    pub peak: f64,
    /// Forward–backward: the source's frame-j landmark carried by its tracker's forward flow and
    /// back by the backward flow, its distance to where it started.
    pub fb_px: f64,
    /// The pseudo-label's distance to the teacher's and to the student's frame-j+1 landmark.
    pub to_teacher_px: f64,
    pub to_student_px: f64,
}

/// Everything one iteration reports. A supervised-only run has the teacher alone.
#[derive(Clone, Debug, PartialEq)]
pub struct IterStats {
    pub teacher: DetectorStats,
    pub student: Option<DetectorStats>,
    /// The teacher's tracker, then the student's.
    pub trackers: Option<[TrackerStats; 2]>,
    pub round: Option<RoundTerms>,
    /// The pair diagnostics per kind ([`PAIR_KINDS`]), TSAL round only.
    pub pairs: Option<[PairStats; 2]>,
    /// Per landmark of the annotated video pairs, when the round's settings ask for them.
    pub landmarks: Vec<LandmarkRow>,
}

/// `(role, term, value)`; the value is `None` where the iteration had nothing to report (a
/// diagnostic on a batch without an annotated pair).
pub type Slot = (&'static str, &'static str, Option<f64>);

impl IterStats {
    /// The supervised step of the teacher alone.
    pub fn supervised(v: [f64; 4]) -> Self {
        Self {
            teacher: DetectorStats::supervised(v),
            student: None,
            trackers: None,
            round: None,
            pairs: None,
            landmarks: Vec::new(),
        }
    }

    /// Every number in log order, the same slots every iteration of a run: the detectors
    /// (teacher, student), the trackers (the student's, then the teacher's, as the log has
    /// always listed them), the round; within a role the terms in the order the step computes
    /// them, total last, then the diagnostics.
    pub fn slots(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        let detectors = [("teacher", Some(&self.teacher)), ("student", self.student.as_ref())];
        for (role, d) in detectors {
            let Some(d) = d else { continue };
            out.extend([
                (role, "heatmap", Some(d.heatmap)),
                (role, "focal", Some(d.focal)),
                (role, "offset", Some(d.offset)),
            ]);
            if d.sic.is_some() || d.unsup.is_some() {
                out.extend([(role, "sic", d.sic), (role, "unsup", d.unsup)]);
            }
            out.push((role, "total", Some(d.total)));
        }
        if let Some([teacher, student]) = &self.trackers {
            for (role, t) in [("tracker_student", student), ("tracker_teacher", teacher)] {
                out.extend([
                    (role, "census", Some(t.census)),
                    (role, "smooth", Some(t.smooth)),
                    (role, "consistency", Some(t.consistency)),
                    (role, "exact", Some(t.exact)),
                    (role, "total", Some(t.total)),
                ]);
            }
        }
        if let Some(r) = &self.round {
            out.extend([
                ("round", "ramp", Some(r.ramp)),
                ("round", "lambda", Some(r.lambda)),
                ("round", "mu", Some(r.mu)),
            ]);
        }
        if let Some(kinds) = &self.pairs {
            for (role, k) in [("pairs.video", &kinds[0]), ("pairs.views", &kinds[1])] {
                out.extend([
                    (role, "pairs", Some(k.pairs)),
                    (role, "annotated", Some(k.annotated)),
                    (role, "static_px", k.static_px),
                    (role, "track_px_teacher", k.track_px[0]),
                    (role, "track_px_student", k.track_px[1]),
                    (role, "pseudo_px", k.pseudo_px),
                    (role, "det_px_teacher", k.det_px[0]),
                    (role, "det_px_student", k.det_px[1]),
                    (role, "flow_px_teacher", k.flow_px[0]),
                    (role, "flow_px_student", k.flow_px[1]),
                ]);
            }
        }
        out
    }

    /// The numbers as `metrics.jsonl` holds them: role → term → value.
    pub fn by_role(&self) -> BTreeMap<String, BTreeMap<String, f64>> {
        let mut m: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for (role, term, v) in self.slots() {
            let Some(v) = v else { continue };
            m.entry(role.to_string()).or_default().insert(term.to_string(), v);
        }
        m
    }
}
