//! Learning-rate schedules, evaluated per epoch.

/// The multi-step LR in effect during 0-based `epoch` when the schedule is stepped at the END of
/// each epoch: `base · γ^k`, k = the number of milestones ≤ `epoch` (PyTorch's `MultiStepLR`
/// after `epoch` calls of `step()`; a repeated milestone counts twice, as in its `Counter`).
/// Like `MultiStepLR`, the LR is multiplied by `γ^n` at each distinct milestone reached (n = its
/// multiplicity), in milestone order, so the value is bit-identical to PyTorch's.
///
/// With the reference schedule (`configs/SGD.config`: milestones [90, 110, 130], γ 0.5) epoch 89
/// trains at `base`, epoch 90 at `base/2`, epoch 130 at `base/8`. The reference called
/// `scheduler.step()` at the START of each epoch (`exps/main.py:269`), so every decay took
/// effect one epoch early; we do not reproduce that.
pub fn multistep(base: f64, milestones: &[usize], gamma: f64, epoch: usize) -> f64 {
    let mut reached: Vec<usize> = milestones.iter().copied().filter(|&m| m <= epoch).collect();
    reached.sort_unstable();
    let mut lr = base;
    for run in reached.chunk_by(|a, b| a == b) {
        lr *= gamma.powf(run.len() as f64);
    }
    lr
}

/// Where the unsupervised weight finishes ramping up and starts ramping down, as fractions of
/// the training: the reference's 60 and 110 epochs of its 150 (`rampweight`,
/// `lib/procedure/basic_main.py:33-51`), which it did not scale with `epochs` (with 50 epochs
/// its weight never reached 1).
pub const RAMP_UP_END: f64 = 60.0 / 150.0;
pub const RAMP_DOWN_START: f64 = 110.0 / 150.0;

/// The weight of the unsupervised terms at global iteration `it` (0-based) of `total`
/// iterations, the reference's `rampweight` with its breakpoints scaled to `total`:
/// `u = RAMP_UP_END·total`, `d = RAMP_DOWN_START·total`;
///
/// * `w = 0` at `it = 0`;
/// * `w = exp(−5·(1 − it/u)²)` for `0 < it < u`;
/// * `w = 1` for `u ≤ it ≤ d`;
/// * `w = exp(−12.5·(1 − (total − it)/(total − d))²)` for `it > d` (`exp(−12.5)` at the end).
///
/// With `total` = 150 epochs of L iterations this is the reference's formula exactly.
pub fn ramp_weight(it: u64, total: u64) -> f64 {
    if it == 0 || total == 0 {
        return 0.0;
    }
    let (it, t) = (it as f64, total as f64);
    let (up, down) = (RAMP_UP_END * t, RAMP_DOWN_START * t);
    if it < up {
        (-5.0 * (1.0 - it / up).powi(2)).exp()
    } else if it <= down {
        1.0
    } else {
        (-12.5 * (1.0 - (t - it) / (t - down)).powi(2)).exp()
    }
}

/// The iterations where the ramp reaches 1 and where it starts down, for `total` iterations
/// (rounded to whole iterations, for the log).
pub fn ramp_breakpoints(total: u64) -> (u64, u64) {
    let t = total as f64;
    ((RAMP_UP_END * t).ceil() as u64, (RAMP_DOWN_START * t).floor() as u64)
}
