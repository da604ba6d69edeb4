//! Exact flow where it is free: two crops of one image are related by a known affine map, so
//! the flow between them is known at every pixel. The views of a still image in a training
//! clip are such crops (each frame's crop → original-image map is in the batch), and so are
//! the pairs `tsal tracker pretrain` makes. The trackers learn from it by the end-point error
//! ([`epe`]), masked where a pixel leaves the other crop.
//!
//! Pixel coordinates are pixel centres at integers, as everywhere (`ops::warp`,
//! `tracking::carry_points`): a flow `f` from frame 1 to frame 2 sends pixel `x` of frame 1 to
//! `x + f(x)` in frame 2.
use tch::{Kind, Tensor};

/// The determinants of the linear parts of affine maps `a` `[M, 2, 3]`, `[M]`.
pub fn determinant(a: &Tensor) -> Tensor {
    let el = |r: i64, c: i64| a.select(1, r).select(1, c);
    el(0, 0) * el(1, 1) - el(0, 1) * el(1, 0)
}

/// The inverses of affine maps `a` `[M, 2, 3]` (`x' = A·x + t`).
pub fn invert(a: &Tensor) -> Tensor {
    let el = |r: i64, c: i64| a.select(1, r).select(1, c);
    let (p, q, t0, r, s, t1) = (el(0, 0), el(0, 1), el(0, 2), el(1, 0), el(1, 1), el(1, 2));
    let det = determinant(a);
    let (ia, ib, id, ie) = (&s / &det, -&q / &det, -&r / &det, &p / &det);
    let it0 = -(&ia * &t0 + &ib * &t1);
    let it1 = -(&id * &t0 + &ie * &t1);
    Tensor::stack(&[Tensor::stack(&[ia, ib, it0], 1), Tensor::stack(&[id, ie, it1], 1)], 1)
}

/// `first` then `then`, both `[M, 2, 3]`.
pub fn compose(first: &Tensor, then: &Tensor) -> Tensor {
    let m = first.size()[0];
    let bottom = Tensor::zeros([m, 1, 3], (first.kind(), first.device()));
    let _ = bottom.select(2, 2).fill_(1.0);
    then.matmul(&Tensor::cat(&[first.shallow_clone(), bottom], 1))
}

/// Crop j → crop j+1 of each pair, from the batch's crop → original-image maps `to_original`
/// `[N, 2, 3]` and the pairs' rows.
pub fn between_crops(to_original: &Tensor, first: &Tensor, second: &Tensor) -> Tensor {
    let from = to_original.index_select(0, first);
    let into = invert(&to_original.index_select(0, second));
    compose(&from, &into)
}

/// The dense flow of affine maps `a` `[M, 2, 3]` on an `h × w` grid: `a(x) − x`, `[M, 2, h, w]`
/// in float (computed in the maps' precision).
pub fn affine_flow(a: &Tensor, h: i64, w: i64) -> Tensor {
    let opts = (a.kind(), a.device());
    let u = Tensor::arange(w, opts).view([1, w]).expand([h, w], false);
    let v = Tensor::arange(h, opts).view([h, 1]).expand([h, w], false);
    let grid = Tensor::stack(&[u, v, Tensor::ones([h, w], opts)], 0).view([1, 3, h * w]);
    let mapped = a.matmul(&grid).view([-1, 2, h, w]);
    (mapped - grid.narrow(1, 0, 2).view([1, 2, h, w])).to_kind(Kind::Float)
}

/// `[M, 1, H, W]` 0/1: the pixels whose flow `[M, 2, H, W]` lands inside the frame (within
/// `[0, W − 1] × [0, H − 1]`).
pub fn lands_inside(flow: &Tensor) -> Tensor {
    let (_, _, h, w) = flow.size4().expect("lands_inside: the flow must be [M, 2, H, W]");
    let opts = (flow.kind(), flow.device());
    let u = Tensor::arange(w, opts).view([1, 1, w]);
    let v = Tensor::arange(h, opts).view([1, h, 1]);
    let x = flow.select(1, 0) + u;
    let y = flow.select(1, 1) + v;
    let inside = x.ge(0.0).logical_and(&x.le((w - 1) as f64));
    let inside = inside.logical_and(&y.ge(0.0)).logical_and(&y.le((h - 1) as f64));
    inside.unsqueeze(1).to_kind(Kind::Float)
}

/// The mean end-point error `‖flow − truth‖` over the pixels where `mask` `[M, 1, H, W]` is 1,
/// each pair weighted by `weight` `[M]` (0 leaves a pair out): `Σ_m w_m·mean_mask(EPE_m) /
/// Σ_m w_m`, 0 when no weight. In input pixels; the gradient reaches `flow` only.
pub fn epe(flow: &Tensor, truth: &Tensor, mask: &Tensor, weight: &Tensor) -> Tensor {
    let d = (flow - truth)
        .square()
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        .clamp_min(1e-12)
        .sqrt();
    let dims = [1i64, 2, 3].as_slice();
    let per_pair = (d * mask).sum_dim_intlist(dims, false, Kind::Float)
        / mask.sum_dim_intlist(dims, false, Kind::Float).clamp_min(1.0);
    (per_pair * weight).sum(Kind::Float) / weight.sum(Kind::Float).clamp_min(1e-12)
}
