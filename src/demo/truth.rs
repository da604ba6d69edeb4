//! `tsal demo --truth DIR`: the demo's landmarks against a clip's ground truth, one `.pts` file
//! per frame in name order (a 300VW `annot/` folder, or `tsal synth`'s). Two measures per role:
//!
//! * **NME**: the mean over frames with a face of the per-frame NME (inter-ocular for 68
//!   points, [`crate::eval::nme`]), the measure `tsal eval` reports;
//! * **jitter** ([`crate::eval::jitter`]): the mean over consecutive frames with a face of
//!   the frame-to-frame movement of the predicted points that the true movement does not
//!   explain, divided by the inter-ocular distance of frame t (so 1 % is one hundredth of the
//!   eye-corner distance), as `tsal eval` reports it on video lists.
use crate::eval::jitter;
use crate::eval::nme::{face_nme, Normaliser};
use crate::formats::pts::{self, Landmarks};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The ground truth of every frame, in order.
pub fn read(dir: &Path, num_pts: usize) -> Result<Vec<Landmarks>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("--truth {}: cannot read the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pts"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("--truth {}: no .pts files", dir.display());
    }
    files.iter().map(|f| pts::read(f, Some(num_pts))).collect()
}

/// Running sums of one role's measures.
#[derive(Clone, Debug, Default)]
pub struct Score {
    nme_sum: f64,
    nme_frames: usize,
    jitter_sum: f64,
    jitter_pairs: usize,
    last: Option<(u64, Vec<[f64; 2]>)>,
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Measures {
    /// Mean NME, % of the inter-ocular distance.
    pub nme: f64,
    pub frames: usize,
    /// Mean jitter, % of the inter-ocular distance.
    pub jitter: f64,
    pub pairs: usize,
}

impl Score {
    /// Frame `t`'s prediction `pred` against the truth `gt` of every frame.
    pub fn add(&mut self, t: u64, pred: &[[f64; 2]], gt: &[Landmarks]) {
        let Some(g) = gt.get(t as usize) else { return };
        let Some(bbox) = g.bbox() else { return };
        let Ok(e) = face_nme(pred, g, Normaliser::InterOcular, bbox, None) else { return };
        self.nme_sum += e.nme;
        self.nme_frames += 1;
        if let Some((lt, lp)) = self.last.as_ref().filter(|(lt, _)| *lt + 1 == t) {
            let gp = &gt[*lt as usize];
            if let Some(j) = jitter::pair(pred, lp, &g.xy, &gp.xy, e.normaliser) {
                self.jitter_sum += j;
                self.jitter_pairs += 1;
            }
        }
        self.last = Some((t, pred.to_vec()));
    }

    pub fn measures(&self) -> Measures {
        let mean = |s: f64, n: usize| if n > 0 { 100.0 * s / n as f64 } else { f64::NAN };
        Measures {
            nme: mean(self.nme_sum, self.nme_frames),
            frames: self.nme_frames,
            jitter: mean(self.jitter_sum, self.jitter_pairs),
            pairs: self.jitter_pairs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(dx: f64) -> Landmarks {
        // 68 points on a grid; points 36 and 45 are 50 px apart.
        let mut xy: Vec<[f64; 2]> =
            (0..68).map(|i| [dx + (i % 9) as f64 * 5.0, (i / 9) as f64 * 5.0]).collect();
        xy[36] = [dx, 100.0];
        xy[45] = [dx + 50.0, 100.0];
        Landmarks::all_visible(xy)
    }

    #[test]
    fn a_prediction_moving_with_the_truth_has_no_jitter() {
        let gt: Vec<Landmarks> = (0..4).map(|t| face(3.0 * t as f64)).collect();
        let mut s = Score::default();
        for t in 0..4u64 {
            // A constant 5 px error to the right: NME 10 %, no jitter.
            let pred: Vec<[f64; 2]> =
                gt[t as usize].xy.iter().map(|p| [p[0] + 5.0, p[1]]).collect();
            s.add(t, &pred, &gt);
        }
        let m = s.measures();
        assert_eq!((m.frames, m.pairs), (4, 3));
        assert!((m.nme - 10.0).abs() < 1e-9, "{m:?}");
        assert!(m.jitter.abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn alternating_errors_are_jitter() {
        let gt: Vec<Landmarks> = (0..3).map(|_| face(0.0)).collect();
        let mut s = Score::default();
        for t in 0..3u64 {
            // ±2.5 px alternating on a still face: every step moves 5 px = 10 % of 50 px.
            let e = if t % 2 == 0 { 2.5 } else { -2.5 };
            let pred: Vec<[f64; 2]> = gt[0].xy.iter().map(|p| [p[0] + e, p[1]]).collect();
            s.add(t, &pred, &gt);
        }
        let m = s.measures();
        assert!((m.jitter - 10.0).abs() < 1e-9, "{m:?}");
        assert!((m.nme - 5.0).abs() < 1e-9, "{m:?}");
    }
}
