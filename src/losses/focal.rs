//! The face-centre focal loss: CornerNet/CenterNet's penalty-reduced focal loss on the
//! centre map, each frame's prediction against its own target (reference
//! `lib/criterion.py:63-88`, `_neg_loss`, done as intended: the reference scored every
//! frame's prediction against every frame's target).
use tch::{Kind, Tensor};

/// Probabilities are clamped to `[CLAMP, 1 − CLAMP]` before the logs (CenterNet's `_sigmoid`,
/// as in reference `lib/criterion.py`).
pub const CLAMP: f64 = 1e-4;

/// Focal loss of the centre logits, a 0-d f32 tensor.
///
/// Shapes: `logits` and `target` `[N, 1, H, W]` (the target is a Gaussian bump whose peak is
/// exactly 1 at the centre cell), `valid` `[N]` (bool, or 0/1): only valid frames count.
/// Frame n's prediction is scored against frame n's target only (the reference broadcast
/// `[N,1,H,W]` against `[N,H,W]` to `[N,N,H,W]` in `lib/criterion.py`, `_neg_loss`). With
/// `p = clamp(sigmoid(logits), 1e-4, 1 − 1e-4)`, `pos = [g = 1]`, `neg = [g < 1]`, both
/// restricted to valid frames, summed over the whole batch:
///
/// `L = −(Σ log p·(1−p)²·pos + Σ log(1−p)·p²·(1−g)⁴·neg) / #pos`, or `−Σ neg term` when
/// `#pos = 0` (CenterNet normalises by the batch's positives, not per frame).
///
/// No valid frame gives exactly 0, connected to `logits` with zero gradients.
/// Panics on mismatched shapes (a programming error).
pub fn centre_focal(logits: &Tensor, target: &Tensor, valid: &Tensor) -> Tensor {
    let size = logits.size();
    let [n, 1, _, _] = size[..] else {
        panic!("centre_focal: the logits must be [N, 1, H, W], found {size:?}")
    };
    assert_eq!(
        target.size(),
        size,
        "centre_focal: the target must have the logits' shape [N, 1, H, W]"
    );
    assert_eq!(valid.size(), [n], "centre_focal: valid must be [N] for {size:?} logits");
    let v = valid.to_kind(Kind::Float).view([n, 1, 1, 1]);
    let g = target.to_kind(Kind::Float);
    let p = logits.to_kind(Kind::Float).sigmoid().clamp(CLAMP, 1.0 - CLAMP);
    let pos = g.eq(1.0).to_kind(Kind::Float) * &v;
    let neg = g.lt(1.0).to_kind(Kind::Float) * &v;
    // Negated logs (≥ 0), so that masked-out terms are +0 and an empty batch gives +0.
    let q: Tensor = 1.0 - &p;
    let pos_term = (-p.log() * q.square() * &pos).sum(Kind::Float);
    let h: Tensor = 1.0 - &g;
    let neg_term = (-q.log() * p.square() * h.pow_tensor_scalar(4) * &neg).sum(Kind::Float);
    // With no positive the positive term is 0, so dividing by max(#pos, 1) covers both cases.
    (pos_term + neg_term) / pos.sum(Kind::Float).clamp_min(1.0)
}
