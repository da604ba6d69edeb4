//! What a list of per-face errors amounts to: mean and standard deviation, AUC and failure rate at
//! a threshold, and the cumulative error distribution.
use serde::Serialize;

/// The thresholds reports use (AUC/FR @0.08 and @0.10, the usual ones in face-alignment papers).
pub const THRESHOLDS: [f64; 2] = [0.08, 0.10];

/// Area under the cumulative error distribution from 0 to `t`, divided by `t`: the exact integral
/// `mean_i max(0, 1 − e_i/t)` of the step curve (the reference sampled it at 2,000 points with the
/// trapezoid rule, `lib/xvision/common_eval.py:14-87`, which differs by < 1/2000). 0 for no faces.
pub fn auc(errors: &[f64], t: f64) -> f64 {
    if errors.is_empty() {
        return 0.0;
    }
    errors.iter().map(|&e| (1.0 - e / t).max(0.0)).sum::<f64>() / errors.len() as f64
}

/// Fraction of faces with error ≥ `t`. 0 for no faces.
pub fn failure_rate(errors: &[f64], t: f64) -> f64 {
    if errors.is_empty() {
        return 0.0;
    }
    errors.iter().filter(|&&e| e >= t).count() as f64 / errors.len() as f64
}

/// The cumulative error distribution as steps: sorted errors `e_(1) ≤ … ≤ e_(n)` with the
/// fraction of faces at or below each, `k/n`, so the last step is 1.
pub fn ced(errors: &[f64]) -> Vec<[f64; 2]> {
    let mut e = errors.to_vec();
    e.sort_by(f64::total_cmp);
    let n = e.len() as f64;
    e.iter().enumerate().map(|(k, &v)| [v, (k + 1) as f64 / n]).collect()
}

/// The fraction of faces with error ≤ `x`, read off [`ced`] steps.
pub fn ced_at(steps: &[[f64; 2]], x: f64) -> f64 {
    match steps.partition_point(|s| s[0] <= x) {
        0 => 0.0,
        k => steps[k - 1][1],
    }
}

/// The summary of one list (errors as fractions; reports print them ×100). An infinite error
/// (a face without prediction under `--missing fail`) counts in `faces`, the failure rates and
/// the AUC, but not in the mean and deviation, which are over the predicted faces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub faces: usize,
    pub nme_mean: f64,
    pub nme_std: f64,
    /// `(t, AUC@t, FR@t)` for each of [`THRESHOLDS`].
    pub at: Vec<[f64; 3]>,
}

impl Summary {
    pub fn of(errors: &[f64]) -> Self {
        let finite: Vec<f64> = errors.iter().copied().filter(|e| e.is_finite()).collect();
        let n = finite.len();
        let mean = if n > 0 { finite.iter().sum::<f64>() / n as f64 } else { f64::NAN };
        let var = if n > 0 {
            finite.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n as f64
        } else {
            f64::NAN
        };
        Summary {
            faces: errors.len(),
            nme_mean: mean,
            nme_std: var.sqrt(),
            at: THRESHOLDS.iter().map(|&t| [t, auc(errors, t), failure_rate(errors, t)]).collect(),
        }
    }
}
