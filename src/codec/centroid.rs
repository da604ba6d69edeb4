//! Face-centre + offset read-out (the "student" CenterNet view, spec §5.2), in input pixels.
//!
//! The centre map's peaks are kept by 3×3 max-pool non-maximum suppression, the K best are
//! taken, and at each the offsets give every landmark as `8 · (cell + offset)`: offsets are
//! trained as `p/8 − c` for a landmark `p` (input pixels) and the centre cell `c` (integers),
//! so this is exact. The reference added grid-unit offsets to pixel-unit read-outs; we do not.
use super::STRIDE;
use tch::{Kind, Tensor};

pub struct Candidates {
    /// `[N, K]` sigmoid centre scores, best first.
    pub score: Tensor,
    /// `[N, K, 2]` centre cells (x, y), integers as floats.
    pub centre_cell: Tensor,
    /// `[N, K, P, 2]` landmarks (x, y) in input pixels.
    pub landmarks: Tensor,
}

/// Decode `centre_logits` `[N, 1, H, W]` and `offsets` `[N, 2P, H, W]` (interleaved x, y in
/// cells) into the `k` best candidates per image.
pub fn decode(centre_logits: &Tensor, offsets: &Tensor, k: i64) -> Candidates {
    let (n, _, h, w) = centre_logits.size4().expect("centre map must be [N, 1, H, W]");
    let two_p = offsets.size()[1];
    // Sigmoid clamped as CenterNet's `_sigmoid`.
    let heat = centre_logits.to_kind(Kind::Float).sigmoid().clamp(1e-4, 1.0 - 1e-4);
    let hmax = heat.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
    let keep = hmax.eq_tensor(&heat).to_kind(Kind::Float);
    let heat = (heat * keep).view([n, h * w]);
    let (score, ind) = heat.topk(k.min(h * w), 1, true, true);
    let cy = ind.divide_scalar_mode(w, "floor").to_kind(Kind::Float);
    let cx = ind.remainder(w).to_kind(Kind::Float);
    let kk = ind.size()[1];
    let off = offsets.to_kind(Kind::Float).view([n, two_p, h * w]);
    let gathered = off.gather(2, &ind.unsqueeze(1).expand([n, two_p, kk], false), false);
    let off = gathered.permute([0, 2, 1]).view([n, kk, two_p / 2, 2]);
    let centre_cell = Tensor::stack(&[&cx, &cy], -1);
    let landmarks = (off + centre_cell.unsqueeze(2)) * STRIDE;
    Candidates { score, centre_cell, landmarks }
}
