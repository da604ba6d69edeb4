//! The supervised heatmap loss: the masked squared error of every CPM stage against the
//! heatmap targets (reference `lib/procedure/losses.py:11-27`).
use crate::config::optim::Reduction;
use tch::{Kind, Tensor};

/// Masked stage heatmap MSE (reference `lib/procedure/losses.py:11-27`), a 0-d f32 tensor.
///
/// Shapes: each of `stages` and `target` `[N, C, H, W]` (C = P + 1: landmarks, then the
/// background), `mask` `[N, C]` with 0/1 entries (landmark visibility, background 1 for a
/// labelled frame, all 0 for an unlabelled one), `labelled_frames` the number of labelled
/// frames in the batch. Units: squared heatmap values.
///
/// - `Reduction::Sum` (the reference's `MSE-none`):
///   `L = Σ_stages Σ_{n,c,h,w} mask[n,c]·(out_s − target)²`.
/// - `Reduction::Mean` (`MSE-avg`): per stage the mean over the selected elements,
///   `Σ mask·(out_s − target)² / (#{mask > 0}·H·W)` (what `MSELoss(mean)` over `masked_select`
///   gives), summed over stages.
/// - `lossnorm`: the result ÷ `(2 · labelled_frames)` (the reference's `annotated_num · 2`,
///   `lib/procedure/basic_main.py`, `basic_train_Rma_model`), for either reduction.
///
/// `labelled_frames = 0` (or no selected element) gives exactly 0, still connected to `stages`
/// with zero gradients, where the reference divided by zero (`annotated_num = 0`).
/// Panics on mismatched shapes or a negative `labelled_frames` (programming errors).
pub fn stage_mse(
    stages: &[Tensor],
    target: &Tensor,
    mask: &Tensor,
    labelled_frames: i64,
    reduction: Reduction,
    lossnorm: bool,
) -> Tensor {
    assert!(!stages.is_empty(), "stage_mse: no stages");
    assert!(labelled_frames >= 0, "stage_mse: labelled_frames {labelled_frames} < 0");
    let size = target.size();
    let [n, c, h, w] = size[..] else {
        panic!("stage_mse: the target must be [N, C, H, W], found {size:?}")
    };
    assert_eq!(mask.size(), [n, c], "stage_mse: the mask must be [N, C] for a {size:?} target");
    let mask = mask.to_kind(Kind::Float);
    let m = mask.view([n, c, 1, 1]);
    let target = target.to_kind(Kind::Float);
    let total = stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            assert_eq!(s.size(), size, "stage_mse: stage {i} differs from the target's shape");
            ((s.to_kind(Kind::Float) - &target).square() * &m).sum(Kind::Float)
        })
        .reduce(|a, b| a + b)
        .expect("stages is not empty");
    let total = match reduction {
        Reduction::Sum => total,
        // The same number of selected elements in every stage; at least 1 so that an empty
        // selection gives 0 / 1 = 0 (it is a count, so never between 0 and 1 otherwise).
        Reduction::Mean => total / (mask.gt(0.0).sum(Kind::Float) * (h * w) as f64).clamp_min(1.0),
    };
    if labelled_frames == 0 {
        total * 0.0
    } else if lossnorm {
        total / (2 * labelled_frames) as f64
    } else {
        total
    }
}
