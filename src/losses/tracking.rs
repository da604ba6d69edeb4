//! The tracker's unsupervised terms (ARFlow's `unFlowLoss` as the reference uses it, spec
//! §6.3): the bidirectional occlusion check, the census (ternary) photometric distance, and
//! the edge-aware first-order smoothness of the flow. Images are `[N, 3, H, W]` RGB in [0, 1]
//! (the range ARFlow's weights were trained on); flows `[N, 2, H, W]` in pixels, (x, y).
//! The detection-consistency term, which needs the detector, is assembled by the round.
use crate::models::ops::{warp, Padding};
use tch::{Kind, Tensor};

/// Occlusion test constants (`|f + b̃|² > OCC_ALPHA·(|f|² + |b̃|²) + OCC_BETA`; ARFlow
/// `get_occu_mask_bidirection`, spec §6.3).
pub const OCC_ALPHA: f64 = 0.01;
pub const OCC_BETA: f64 = 0.5;
/// Census transform constants: `t = d / √(CENSUS_EPS + d²)` per neighbour, distance
/// `δ² / (CENSUS_Q + δ²)` (ARFlow `TernaryLoss`, spec §6.3).
pub const CENSUS_EPS: f64 = 0.81;
pub const CENSUS_Q: f64 = 0.1;
/// Edge weight of the smoothness term, `exp(−α·|∂I|)` (MFDS.json `alpha`, spec §6.3: 10).
pub const SMOOTH_ALPHA: f64 = 10.0;

/// Non-occluded pixels of frame 1, `[N, 1, H, W]` 0/1, from the forward flow `fw` (frame 1 →
/// 2) and the backward flow `bw` (2 → 1): `b̃ = warp(bw, fw)` (zeros outside), and a pixel is
/// occluded where `|fw + b̃|² > 0.01·(|fw|² + |b̃|²) + 0.5`. Swap the flows for frame 2's mask.
pub fn visible_mask(fw: &Tensor, bw: &Tensor) -> Tensor {
    let bw_w = warp(bw, fw, Padding::Zeros);
    let sq = |t: &Tensor| t.square().sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
    let lhs = sq(&(fw + &bw_w));
    let rhs = (sq(fw) + sq(&bw_w)) * OCC_ALPHA + OCC_BETA;
    lhs.le_tensor(&rhs).to_kind(Kind::Float)
}

/// The census photometric loss between `im` and its reconstruction `rec` (frame 2 warped onto
/// frame 1), over the pixels where `mask` `[N, 1, H, W]` is 1:
///
/// grey = (0.2989 R + 0.5870 G + 0.1140 B)·255 of `im·mask` and `rec·mask`; for each of the 9
/// neighbours `q` of a 3×3 patch around `p`, `t_q = (I_q − I_p) / √(0.81 + (I_q − I_p)²)`;
/// `dist(p) = mean_q δ_q² / (0.1 + δ_q²)` with `δ = t(im) − t(rec)`; the 1-pixel border is
/// left out; `L = mean(dist·mask·border) / mean(mask)` (ARFlow `loss_photomatric` with only the
/// ternary term, spec §6.3).
pub fn census(im: &Tensor, rec: &Tensor, mask: &Tensor) -> Tensor {
    let (_, _, h, w) = im.size4().expect("census: images must be [N, 3, H, W]");
    let t = |x: &Tensor| {
        let x = x * mask;
        let coeff = Tensor::from_slice(&[0.2989f32, 0.5870, 0.1140])
            .to_device(x.device())
            .view([1, 3, 1, 1]);
        let grey = (x * coeff).sum_dim_intlist([1i64].as_slice(), true, Kind::Float) * 255.0;
        // The 9 neighbours of each pixel as channels (zero padding, like ARFlow's conv2d).
        let patches = grey.im2col([3, 3], [1, 1], [1, 1], [1, 1]).view([-1, 9, h, w]);
        let d = patches - grey;
        &d / (d.square() + CENSUS_EPS).sqrt()
    };
    let delta = t(im) - t(rec);
    let dist = (delta.square() / (delta.square() + CENSUS_Q)).mean_dim(
        [1i64].as_slice(),
        true,
        Kind::Float,
    );
    let border = Tensor::ones([1, 1, h - 2, w - 2], (Kind::Float, im.device()))
        .constant_pad_nd([1, 1, 1, 1]);
    (dist * mask * border).mean(Kind::Float) / mask.mean(Kind::Float).clamp_min(1e-12)
}

/// Edge-aware first-order smoothness of `flow` `[N, 2, H, W]` on image `im` `[N, 3, H, W]`,
/// the flow divided by `scale` (the reference: `min(H, W)` of the full-resolution level):
///
/// `L = mean(e^{−α·mean_c|∂x I|}·|∂x f|/2)/2 + mean(e^{−α·mean_c|∂y I|}·|∂y f|/2)/2`, α = 10
/// (ARFlow `smooth_grad_1st`, spec §6.3). A constant flow gives exactly 0.
pub fn smoothness(flow: &Tensor, im: &Tensor, scale: f64) -> Tensor {
    let f = flow / scale;
    let dx = |x: &Tensor| {
        let w = x.size()[3];
        x.narrow(3, 1, w - 1) - x.narrow(3, 0, w - 1)
    };
    let dy = |x: &Tensor| {
        let h = x.size()[2];
        x.narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1)
    };
    let edge =
        |d: Tensor| (d.abs().mean_dim([1i64].as_slice(), true, Kind::Float) * -SMOOTH_ALPHA).exp();
    let lx = (edge(dx(im)) * dx(&f).abs() / 2.0).mean(Kind::Float);
    let ly = (edge(dy(im)) * dy(&f).abs() / 2.0).mean(Kind::Float);
    lx / 2.0 + ly / 2.0
}
