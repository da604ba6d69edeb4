//! What one training iteration reports: every loss term of every role, the round's settings in
//! force, and the diagnostics, as typed values. They reach `metrics.jsonl` and the log as
//! `role → term → value` ([`IterStats::entries`]), under the names the metrics have always had.
use std::collections::BTreeMap;

/// One detector's terms (unitless losses; `pseudo_px` in input pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorStats {
    pub heatmap: f64,
    pub focal: f64,
    pub offset: f64,
    /// The structure-invariance term and the unsupervised term (TSAL round only).
    pub sic: Option<f64>,
    pub unsup: Option<f64>,
    pub total: f64,
    /// Distance from the student's fused pseudo-label to the annotation, on pairs whose two
    /// frames are annotated (none in a batch without one).
    pub pseudo_px: Option<f64>,
}

impl DetectorStats {
    /// The supervised step's terms `[heatmap, focal, offset, total]`.
    pub fn supervised(v: [f64; 4]) -> Self {
        let [heatmap, focal, offset, total] = v;
        Self { heatmap, focal, offset, sic: None, unsup: None, total, pseudo_px: None }
    }
}

/// One tracker's terms; `track_px` is the distance from frame j's annotated landmarks carried
/// by the flow to frame j+1's annotation, on pairs whose two frames are annotated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerStats {
    pub census: f64,
    pub smooth: f64,
    pub consistency: f64,
    pub total: f64,
    pub track_px: Option<f64>,
}

/// The round's own numbers: the ramp weight, λ and μ in force, and the distance between the
/// annotations of the two frames of a pair (`static_px`: no motion model at all).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundTerms {
    pub ramp: f64,
    pub lambda: f64,
    pub mu: f64,
    pub static_px: Option<f64>,
}

/// Everything one iteration reports. A supervised-only run has the teacher alone.
#[derive(Clone, Debug, PartialEq)]
pub struct IterStats {
    pub teacher: DetectorStats,
    pub student: Option<DetectorStats>,
    /// The teacher's tracker, then the student's.
    pub trackers: Option<[TrackerStats; 2]>,
    pub round: Option<RoundTerms>,
}

/// `(role, term, value)`; the value is `None` where the iteration had nothing to report (a
/// diagnostic on a batch without an annotated pair).
pub type Slot = (&'static str, &'static str, Option<f64>);

impl IterStats {
    /// The supervised step of the teacher alone.
    pub fn supervised(v: [f64; 4]) -> Self {
        Self { teacher: DetectorStats::supervised(v), student: None, trackers: None, round: None }
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
            if role == "student" {
                out.push((role, "pseudo_px", d.pseudo_px));
            }
        }
        if let Some([teacher, student]) = &self.trackers {
            for (role, t) in [("tracker_student", student), ("tracker_teacher", teacher)] {
                out.extend([
                    (role, "census", Some(t.census)),
                    (role, "smooth", Some(t.smooth)),
                    (role, "consistency", Some(t.consistency)),
                    (role, "total", Some(t.total)),
                    (role, "track_px", t.track_px),
                ]);
            }
        }
        if let Some(r) = &self.round {
            out.extend([
                ("round", "ramp", Some(r.ramp)),
                ("round", "lambda", Some(r.lambda)),
                ("round", "mu", Some(r.mu)),
                ("round", "static_px", r.static_px),
            ]);
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
