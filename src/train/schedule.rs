//! Learning-rate schedules, evaluated per epoch.

/// The multi-step LR in effect during 0-based `epoch` when the schedule is stepped at the END of
/// each epoch: `base · γ^k`, k = the number of milestones ≤ `epoch` (PyTorch's `MultiStepLR`
/// after `epoch` calls of `step()`; a repeated milestone counts twice, as in its `Counter`).
/// Like `MultiStepLR`, the LR is multiplied by `γ^n` at each distinct milestone reached (n = its
/// multiplicity), in milestone order, so the value is bit-identical to PyTorch's.
///
/// With the reference schedule (`configs/SGD.config`: milestones [90, 110, 130], γ 0.5,
/// spec §3.3) epoch 89 trains at `base`, epoch 90 at `base/2`, epoch 130 at `base/8`. The
/// reference called `scheduler.step()` at the START of each epoch (`main.py:269`, spec §6.1,
/// §9 item 13), so every decay took effect one epoch early; we do not reproduce that.
pub fn multistep(base: f64, milestones: &[usize], gamma: f64, epoch: usize) -> f64 {
    let mut reached: Vec<usize> = milestones.iter().copied().filter(|&m| m <= epoch).collect();
    reached.sort_unstable();
    let mut lr = base;
    for run in reached.chunk_by(|a, b| a == b) {
        lr *= gamma.powf(run.len() as f64);
    }
    lr
}
