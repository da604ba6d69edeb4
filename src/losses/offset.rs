//! The landmark-offset regression at the face-centre cell (CenterNet's `RegLoss`,
//! reference `lib/criterion.py:117-157`, done as intended: one centre per frame, offsets in
//! cells, unlabelled frames excluded).
use tch::{Kind, Tensor};

/// Added to the mask sum of the denominator (reference `RegLoss`, `lib/criterion.py:117-157`).
pub const EPS: f64 = 1e-4;

/// Smooth-L1 offset loss at the centre cell, a 0-d f32 tensor.
///
/// Shapes: `offsets` `[N, 2P, H, W]` (predicted, interleaved x, y, in cells), `ind` `[N]` i64
/// flat centre index `cy·W + cx`, `target` `[N, 2P]` (cells), `mask` `[N, 2P]` 0/1 (landmark
/// visibility), `valid` `[N]` (bool, or 0/1). With `pred = offsets[n, :, ind[n]]` `[N, 2P]`
/// and `m = mask · valid[n]`:
///
/// `L = smooth_L1_sum(pred·m, target·m) / (Σ m + 1e-4)`, smooth L1 with β = 1
/// (`d²/2` for `|d| < 1`, else `|d| − 1/2`), in cells.
///
/// The index of an invalid frame is not read (it is replaced by 0), so it may be anything.
/// Nothing left by the mask gives exactly 0, connected to `offsets` with zero gradients.
/// Panics on mismatched shapes, a non-i64 `ind`, or a valid frame's index outside `[0, H·W)`.
pub fn offset_l1(
    offsets: &Tensor,
    ind: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    valid: &Tensor,
) -> Tensor {
    let size = offsets.size();
    let [n, two_p, h, w] = size[..] else {
        panic!("offset_l1: the offsets must be [N, 2P, H, W], found {size:?}")
    };
    assert_eq!(ind.size(), [n], "offset_l1: ind must be [N] for {size:?} offsets");
    assert_eq!(ind.kind(), Kind::Int64, "offset_l1: ind must be i64");
    assert_eq!(target.size(), [n, two_p], "offset_l1: the target must be [N, 2P] for {size:?}");
    assert_eq!(mask.size(), [n, two_p], "offset_l1: the mask must be [N, 2P] for {size:?}");
    assert_eq!(valid.size(), [n], "offset_l1: valid must be [N] for {size:?} offsets");
    let v = valid.to_kind(Kind::Float);
    let ind = ind * valid.to_kind(Kind::Int64);
    let idx = ind.view([n, 1, 1]).expand([n, two_p, 1], false);
    let pred = offsets.to_kind(Kind::Float).view([n, two_p, h * w]).gather(2, &idx, false);
    let m = mask.to_kind(Kind::Float) * v.unsqueeze(1);
    let pred = pred.view([n, two_p]) * &m;
    let gt = target.to_kind(Kind::Float) * &m;
    pred.smooth_l1_loss(&gt, tch::Reduction::Sum, 1.0) / (m.sum(Kind::Float) + EPS)
}
