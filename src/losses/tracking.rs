//! The tracker's unsupervised terms (ARFlow's `unFlowLoss` as the reference uses it,
//! `lib/models/MFDS_model.py:324-473`): the bidirectional occlusion check, the census (ternary)
//! photometric distance, and the edge-aware first-order smoothness of the flow. Images are
//! `[N, 3, H, W]` RGB in [0, 1] (the range ARFlow's weights were trained on); flows
//! `[N, 2, H, W]` in pixels, (x, y). The detection-consistency term, which needs the detector, is
//! assembled by the round.
use crate::config::tracker::TrackerLoss;
use crate::models::ops::{warp, Padding};
use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

/// Occlusion test constants (`|f + b̃|² > OCC_ALPHA·(|f|² + |b̃|²) + OCC_BETA`; ARFlow
/// `get_occu_mask_bidirection`).
pub const OCC_ALPHA: f64 = 0.01;
pub const OCC_BETA: f64 = 0.5;
/// Census transform constants: `t = d / √(CENSUS_EPS + d²)` per neighbour, distance
/// `δ² / (CENSUS_Q + δ²)` (ARFlow `TernaryLoss`).
pub const CENSUS_EPS: f64 = 0.81;
pub const CENSUS_Q: f64 = 0.1;

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

/// Below this share of visible pixels a frame's occlusion mask is not trusted: every pixel
/// counts. Without it a tracker trained from scratch reaches a census of exactly 0 by
/// estimating flows so inconsistent that every pixel is called occluded, and stays there (no
/// gradient). ARFlow never met this: it starts from a trained flow.
pub const MIN_VISIBLE: f64 = 0.5;

/// `mask` `[N, 1, H, W]`, with the frames whose visible share is below [`MIN_VISIBLE`] set to
/// all visible.
pub fn trusted(mask: Tensor) -> Tensor {
    let share = mask.mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
    mask.where_self(&share.ge(MIN_VISIBLE), &Tensor::ones_like(&mask))
}

/// The census photometric loss between `im` and its reconstruction `rec` (frame 2 warped onto
/// frame 1), over the pixels where `mask` `[N, 1, H, W]` is 1:
///
/// grey = (0.2989 R + 0.5870 G + 0.1140 B)·255 of `im·mask` and `rec·mask`; for each of the 9
/// neighbours `q` of a 3×3 patch around `p`, `t_q = (I_q − I_p) / √(0.81 + (I_q − I_p)²)`;
/// `dist(p) = mean_q δ_q² / (0.1 + δ_q²)` with `δ = t(im) − t(rec)`; the 1-pixel border is
/// left out; `L = mean(dist·mask·border) / mean(mask)` (ARFlow `loss_photomatric` with only the
/// ternary term, as in reference `unFlowLoss`; ARFlow also counted the distance at occluded
/// pixels, where both masked images are 0 but their neighbourhoods need not be; we leave those
/// pixels out).
///
/// The gradient reaches `rec` only (`im` and `mask` are targets; they must not require one). It
/// is written out rather than left to autograd, which would record and replay a dozen
/// elementwise kernels over the `[N, 9, H, W]` patches (the largest tensors of a round): with
/// `ρ = (0.81 + d²)^(−1/2)`, `t = d·ρ`, `∂t/∂d = 0.81·ρ³`, and `∂dist/∂δ_q = (2·0.1/9)·δ_q /
/// (0.1 + δ_q²)²`; the patch gradient folds back onto the grey image (`col2im`) less its sum
/// over the 9 neighbours (the centre's share), then onto the three channels by the grey weights.
/// The value and gradient equal autograd's through the formula above to float rounding
/// (`tests/tsal_terms.rs`).
pub fn census(im: &Tensor, rec: &Tensor, mask: &Tensor) -> Tensor {
    assert!(
        !im.requires_grad() && !mask.requires_grad(),
        "census: the gradient reaches `rec` only; `im` and `mask` are targets"
    );
    let (n, _, h, w) = im.size4().expect("census: images must be [N, 3, H, W]");
    let (dev, kind) = (im.device(), im.kind());
    let coeff = || {
        Tensor::from_slice(&[0.2989f64 * 255.0, 0.5870 * 255.0, 0.1140 * 255.0])
            .to_device(dev)
            .to_kind(kind)
            .view([1, 3, 1, 1])
    };
    let (value, grad) = tch::no_grad(|| {
        // Grey of the masked image (the mask is one channel, so it can follow the weighting).
        let grey = |x: &Tensor| (x * coeff()).sum_dim_intlist([1i64].as_slice(), true, kind) * mask;
        // t and ρ per neighbour (zero padding, like ARFlow's conv2d). In place where a value is
        // not needed again: these `[N, 9, H, W]` tensors are the round's largest.
        let transform = |g: &Tensor| {
            let mut d = g.im2col([3, 3], [1, 1], [1, 1], [1, 1]).view([n, 9, h, w]) - g;
            let mut rho = d.square();
            let _ = rho.g_add_scalar_(CENSUS_EPS).rsqrt_();
            let _ = d.g_mul_(&rho);
            (d, rho)
        };
        let (mut delta, _) = transform(&grey(im));
        let (t2, mut rho2) = transform(&grey(rec));
        let _ = delta.g_sub_(&t2);
        drop(t2);
        let mut sq = delta.square();
        let mut r = &sq + CENSUS_Q;
        let _ = r.reciprocal_();
        let border = Tensor::ones([1, 1, h - 2, w - 2], (kind, dev)).constant_pad_nd([1, 1, 1, 1]);
        // Each pixel's share of L: mask·border / (N·H·W·mean(mask)).
        let share = mask * border / (mask.mean(kind).clamp_min(1e-12) * (n * h * w) as f64);
        let dist = sq.g_mul_(&r).mean_dim([1i64].as_slice(), true, kind);
        let value = (dist * &share).sum(kind);
        if !rec.requires_grad() {
            return (value, None);
        }
        // ∂L/∂d2 = −∂L/∂t2·∂t2/∂d2 with ∂L/∂t2 = −∂L/∂δ: δ·r²·ρ³·share·(−2·q·0.81/9).
        let _ = rho2.pow_(3);
        let _ = delta.g_mul_(&r).g_mul_(&r).g_mul_(&rho2);
        let gd = delta.g_mul_(&(share * (-2.0 * CENSUS_Q * CENSUS_EPS / 9.0)));
        let gg = gd.view([n, 9, h * w]).col2im([h, w], [3, 3], [1, 1], [1, 1], [1, 1])
            - gd.sum_dim_intlist([1i64].as_slice(), true, kind);
        (value, Some(gg * mask * coeff()))
    });
    match grad {
        // The value, with `grad` as its gradient with respect to `rec`.
        Some(g) => {
            let linear = (rec * g).sum(kind);
            &linear + (value - linear.detach())
        }
        None => value,
    }
}

/// Edge-aware first-order smoothness of `flow` `[N, 2, H, W]` on image `im` `[N, 3, H, W]`,
/// the flow divided by `scale` (the reference: `min(H, W)` of the full-resolution level):
///
/// `L = mean(e^{−α·mean_c|∂x I|}·|∂x f|/2)/2 + mean(e^{−α·mean_c|∂y I|}·|∂y f|/2)/2`, α from
/// the tracker config (`alpha`, MFDS.json: 10; ARFlow `smooth_grad_1st`). A
/// constant flow gives exactly 0.
pub fn smoothness(flow: &Tensor, im: &Tensor, scale: f64, alpha: f64) -> Tensor {
    let f = flow / scale;
    let dx = |x: &Tensor| {
        let w = x.size()[3];
        x.narrow(3, 1, w - 1) - x.narrow(3, 0, w - 1)
    };
    let dy = |x: &Tensor| {
        let h = x.size()[2];
        x.narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1)
    };
    let edge = |d: Tensor| (d.abs().mean_dim([1i64].as_slice(), true, Kind::Float) * -alpha).exp();
    let lx = (edge(dx(im)) * dx(&f).abs() / 2.0).mean(Kind::Float);
    let ly = (edge(dy(im)) * dy(&f).abs() / 2.0).mean(Kind::Float);
    lx / 2.0 + ly / 2.0
}

/// The photometric and smoothness terms of one pair over the flow pyramid, and what the round
/// needs next.
pub struct Unflow {
    /// `Σ_i w_scales[i] · photometric_i` (a 0-d tensor).
    pub photometric: Tensor,
    /// `Σ_i w_sm_scales[i] · smoothness_i`, before `w_smooth` (a 0-d tensor).
    pub smooth: Tensor,
    /// Non-occluded pixels of frames 1 and 2 at full resolution, `[N, 1, H, W]`.
    pub visible1: Tensor,
    pub visible2: Tensor,
}

impl Unflow {
    /// `photometric + w_smooth · smooth` (ARFlow's `total` without the detection terms).
    pub fn total(&self, loss: &TrackerLoss) -> Tensor {
        &self.photometric + &self.smooth * loss.w_smooth
    }
}

/// ARFlow's `unFlowLoss` (reference `lib/models/MFDS_model.py:324-473`) for frames `im1`, `im2`
/// `[N, 3, H, W]` in [0, 1] and the tracker's flow pyramids `fw` (1 → 2) and `bw` (2 → 1), full
/// resolution first, each level in pixels of its own resolution. At level i (weight
/// `w_scales[i]` ≠ 0) the frames are area-downsampled to the level's size; `rec1 = warp(im2_i,
/// fw_i)`, `rec2 = warp(im1_i, bw_i)` (padding `warp_pad`); the photometric term is `census(im1_i,
/// rec1, m1) + census(im2_i, rec2, m2)` halved, with the occlusion masks of level 0
/// ([`visible_mask`], [`trusted`]) nearest-downsampled; the smoothness of level i (weight
/// `w_sm_scales[i]`) is that of `fw_i` on `im1_i` and `bw_i` on `im2_i`, halved, the flow divided
/// by `min(H, W)` of level 0.
///
/// Only the ternary photometric term is implemented (the reference config's: `w_l1` and
/// `w_ssim` 0, `w_ternary` 1); other weights, first-order smoothness off, occlusion from the
/// backward warp only (`occ_from_back`) or a single direction (`with_bk` false) are refused.
pub fn unflow(
    loss: &TrackerLoss,
    fw: &[Tensor],
    bw: &[Tensor],
    im1: &Tensor,
    im2: &Tensor,
) -> Result<Unflow> {
    ensure!(
        loss.w_l1 == 0.0 && loss.w_ssim == 0.0,
        "tracker loss: only the census (ternary) photometric term is implemented; w_l1 {} and \
         w_ssim {} must be 0",
        loss.w_l1,
        loss.w_ssim
    );
    ensure!(!loss.smooth_2nd, "tracker loss: second-order smoothness is not implemented");
    ensure!(
        loss.with_bk && !loss.occ_from_back,
        "tracker loss: needs with_bk true and occ_from_back false (the reference config)"
    );
    ensure!(
        !fw.is_empty() && fw.len() == bw.len(),
        "tracker loss: {} forward and {} backward flow levels",
        fw.len(),
        bw.len()
    );
    let pad = warp_padding(loss)?;
    let (_, _, h, w) = im1.size4()?;
    let scale = h.min(w) as f64;
    // Targets: no gradient flows through the masks, so none is recorded.
    let (visible1, visible2) = tch::no_grad(|| {
        (trusted(visible_mask(&fw[0], &bw[0])), trusted(visible_mask(&bw[0], &fw[0])))
    });
    let zero = || Tensor::zeros([], (Kind::Float, im1.device()));
    let (mut photometric, mut smooth) = (zero(), zero());
    for (i, (f, b)) in fw.iter().zip(bw).enumerate() {
        let ws = loss.w_scales.get(i).copied().unwrap_or(0.0);
        let wsm = loss.w_sm_scales.get(i).copied().unwrap_or(0.0);
        if ws == 0.0 && wsm == 0.0 {
            continue;
        }
        let (_, _, hi, wi) = f.size4()?;
        let (i1, i2) = if (hi, wi) == (h, w) {
            (im1.shallow_clone(), im2.shallow_clone())
        } else {
            (im1.adaptive_avg_pool2d([hi, wi]), im2.adaptive_avg_pool2d([hi, wi]))
        };
        if ws != 0.0 {
            let near = |m: &Tensor| {
                if (hi, wi) == (h, w) {
                    m.shallow_clone()
                } else {
                    m.upsample_nearest2d([hi, wi], None, None)
                }
            };
            let rec1 = warp(&i2, f, pad);
            let rec2 = warp(&i1, b, pad);
            let p = (census(&i1, &rec1, &near(&visible1)) + census(&i2, &rec2, &near(&visible2)))
                * (loss.w_ternary / 2.0);
            photometric += p * ws;
        }
        if wsm != 0.0 {
            let s = (smoothness(f, &i1, scale, loss.alpha) + smoothness(b, &i2, scale, loss.alpha))
                / 2.0;
            smooth += s * wsm;
        }
    }
    Ok(Unflow { photometric, smooth, visible1, visible2 })
}

/// The tracker config's `warp_pad`.
pub fn warp_padding(loss: &TrackerLoss) -> Result<Padding> {
    Ok(match loss.warp_pad.as_str() {
        "border" => Padding::Border,
        "zeros" => Padding::Zeros,
        other => anyhow::bail!("tracker loss: warp_pad `{other}`: expected border or zeros"),
    })
}

/// Frame 1 carried into frame 2's geometry at full resolution, `warp(im1, bw)` (the
/// reference's `track_target`), and frame 2 into frame 1's, `warp(im2, fw)`, `[N, 3, H, W]`,
/// padded as `warp_pad` says and connected to the flows (`fw`, `bw`: the finest level).
/// `--consistency image` runs the detector on them.
pub fn carried_frames(
    loss: &TrackerLoss,
    fw: &Tensor,
    bw: &Tensor,
    im1: &Tensor,
    im2: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let pad = warp_padding(loss)?;
    Ok((warp(im1, bw, pad), warp(im2, fw, pad)))
}

/// The detection-consistency distance (TSAL's addition to the tracker loss, reference
/// `lib/models/MFDS_model.py`, `unFlowLoss`): the detector's stage heatmaps on a real frame
/// against those on the frame the tracker reconstructed (or, in heatmap space, the real frame's
/// heatmaps carried by the flow), `Σ_stages mean((real_s − carried_s)²)`. The gradient reaches the
/// tracker through `carried`; `real` is a target.
pub fn detection_consistency(real: &[Tensor], carried: &[Tensor]) -> Tensor {
    assert_eq!(real.len(), carried.len(), "detection consistency: stage counts differ");
    let mut total = Tensor::zeros([], (Kind::Float, carried[0].device()));
    for (r, c) in real.iter().zip(carried) {
        total += (c - r.detach()).square().mean(Kind::Float);
    }
    total
}

/// Heatmaps `[N, C, h, w]` on a stride-`stride` grid carried by a full-resolution flow
/// `[N, 2, H, W]` (input pixels, H = h·stride): the flow is area-averaged to the grid, divided
/// by the stride, and the maps are sampled at `p + flow(p)` (zeros outside). With the backward
/// flow (frame 2 → 1) this carries frame 1's heatmaps into frame 2's geometry, with no detector
/// pass (`--consistency heatmap`).
pub fn carry_heatmaps(heatmaps: &Tensor, flow: &Tensor, stride: i64) -> Tensor {
    let (_, _, h, w) = heatmaps.size4().expect("carry_heatmaps: heatmaps must be [N, C, h, w]");
    warp(heatmaps, &flow_on_grid(flow, h, w, stride), Padding::Zeros)
}

/// A full-resolution flow `[N, 2, H, W]` (input pixels) on the `h × w` grid of stride `stride`:
/// area-averaged and divided by the stride (grid cells), what [`carry_heatmaps`] warps by.
pub fn flow_on_grid(flow: &Tensor, h: i64, w: i64, stride: i64) -> Tensor {
    flow.adaptive_avg_pool2d([h, w]) / stride as f64
}

/// Points `[N, Q, 2]` (x, y in input pixels) of frame 1 carried into frame 2 by the forward
/// flow `fw` `[N, 2, H, W]` (frame 1 → 2, input pixels): `p + fw(p)`, the flow read bilinearly
/// at `p` (pixel centres at integer coordinates, the border value outside the frame).
pub fn carry_points(points: &Tensor, fw: &Tensor) -> Tensor {
    let (n, _, h, w) = fw.size4().expect("carry_points: the flow must be [N, 2, H, W]");
    let q = points.size()[1];
    let scale = Tensor::from_slice(&[2.0 / (w - 1).max(1) as f32, 2.0 / (h - 1).max(1) as f32])
        .to_device(fw.device());
    let grid = (points.to_kind(Kind::Float) * scale - 1.0).view([n, 1, q, 2]);
    // padding_mode 1 = border, interpolation 0 = bilinear.
    let at = fw.to_kind(Kind::Float).grid_sampler(&grid, 0, 1, true); // [N, 2, 1, Q]
    points.to_kind(Kind::Float) + at.view([n, 2, q]).permute([0, 2, 1])
}
