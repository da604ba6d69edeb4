//! Temporal stability of landmarks on video: **jitter**, the frame-to-frame movement of the
//! predicted points that the true movement does not explain. For frames t−1 and t of one
//! video, the mean over the points of `‖(p_t − p_{t−1}) − (g_t − g_{t−1})‖`, divided by frame
//! t's normaliser (a fraction, like NME: 0.01 is one hundredth of the inter-ocular distance).
//! A detector whose error is constant scores 0 on a still face and on a moving one alike; one
//! whose error flips from side to side scores the size of the flip. `tsal eval` reports it on
//! video lists, `tsal demo --truth` on a clip.
use serde::Serialize;

/// The jitter of one frame pair: predictions `pred` and `prev` against the truths `gt` and
/// `prev_gt` (over the points all four have), divided by `normaliser`; none without a point
/// or with a normaliser that is not positive.
pub fn pair(
    pred: &[[f64; 2]],
    prev: &[[f64; 2]],
    gt: &[[f64; 2]],
    prev_gt: &[[f64; 2]],
    normaliser: f64,
) -> Option<f64> {
    let n = pred.len().min(prev.len()).min(gt.len()).min(prev_gt.len());
    if n == 0 || normaliser <= 0.0 || !normaliser.is_finite() {
        return None;
    }
    let moved: f64 = (0..n)
        .map(|i| {
            let dx = (pred[i][0] - prev[i][0]) - (gt[i][0] - prev_gt[i][0]);
            let dy = (pred[i][1] - prev[i][1]) - (gt[i][1] - prev_gt[i][1]);
            dx.hypot(dy)
        })
        .sum();
    Some(moved / n as f64 / normaliser)
}

/// The jitter of a list or of several pooled: the mean over frame pairs (a fraction), and how
/// many pairs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Jitter {
    pub mean: f64,
    pub pairs: usize,
}

impl Jitter {
    /// The mean of `values` (one per frame pair); none for no pair.
    pub fn of(values: &[f64]) -> Option<Self> {
        (!values.is_empty()).then(|| Self {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            pairs: values.len(),
        })
    }

    /// Several lists' jitter pooled pair-weighted (every frame pair counts once); none when
    /// none has a pair.
    pub fn pooled<'a>(parts: impl IntoIterator<Item = &'a Jitter>) -> Option<Self> {
        let (sum, pairs) = parts
            .into_iter()
            .fold((0.0, 0), |(s, n), j| (s + j.mean * j.pairs as f64, n + j.pairs));
        (pairs > 0).then(|| Self { mean: sum / pairs as f64, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_error_has_none_a_flipping_one_its_size() {
        let g0 = [[0.0, 0.0], [10.0, 0.0]];
        let g1 = [[3.0, 1.0], [13.0, 1.0]];
        // 2 px to the right of the truth in both frames: the face moved, the error did not.
        let p0 = [[2.0, 0.0], [12.0, 0.0]];
        let p1 = [[5.0, 1.0], [15.0, 1.0]];
        assert_eq!(pair(&p1, &p0, &g1, &g0, 50.0), Some(0.0));
        // 2 px right, then 2 px left: each point moved 4 px more than the face, 4/50.
        let p1 = [[1.0, 1.0], [11.0, 1.0]];
        assert!((pair(&p1, &p0, &g1, &g0, 50.0).unwrap() - 0.08).abs() < 1e-12);
        assert_eq!(pair(&p1, &p0, &g1, &g0, 0.0), None);
        assert_eq!(pair(&[], &p0, &g1, &g0, 50.0), None);
    }

    #[test]
    fn pooling_weights_every_pair_once() {
        let a = Jitter::of(&[0.01, 0.03]).unwrap();
        let b = Jitter::of(&[0.06]).unwrap();
        assert_eq!(a, Jitter { mean: 0.02, pairs: 2 });
        let p = Jitter::pooled([&a, &b]).unwrap();
        assert_eq!(p.pairs, 3);
        assert!((p.mean - 0.1 / 3.0).abs() < 1e-12);
        assert_eq!(Jitter::of(&[]), None);
        assert_eq!(Jitter::pooled([]), None);
    }
}
