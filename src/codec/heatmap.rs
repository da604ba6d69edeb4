//! Heatmap read-out: soft-argmax around each channel's peak (reference
//! `lib/models/cpm_vgg16.py:34-77`, `find_tensor_peak_batch`), done for all images and
//! channels at once.
use super::{CELL_CENTRE, STRIDE};
use tch::{Kind, Tensor};

/// Landmarks read from heatmaps.
pub struct Peaks {
    /// `[N, C, 2]` (x, y) in input pixels: `cell · 8 + 3.5`.
    pub xy: Tensor,
    /// `[N, C]` the peak value of each channel.
    pub score: Tensor,
}

/// Below this a window value is replaced by machine epsilon, as the reference does, so an
/// all-zero window still has a defined (centre) location.
const FLOOR: f64 = 1e-6;

/// Soft-argmax of `heat` `[N, C, H, W]` in a `(2r+1)²` window around each channel's argmax.
///
/// The window is centred on an integer cell, so the reference's bilinear `grid_sample` with
/// `align_corners = true` and zero padding reads exactly the cell values (zero outside the
/// map); here they are gathered directly. Location = `Σ v·d / Σ v + peak`, per axis, then
/// mapped to input pixels. The reference code used r = 20 (`lib/models/cpm_vgg16.py:334`), its
/// config said 4 (`argmax` in `configs/Detector.config`).
pub fn soft_argmax(heat: &Tensor, radius: i64) -> Peaks {
    let (n, c, h, w) = heat.size4().expect("heatmaps must be [N, C, H, W]");
    let heat = heat.to_kind(Kind::Float);
    let flat = heat.view([n, c, h * w]);
    let (score, idx) = flat.max_dim(2, false);
    let iy = idx.divide_scalar_mode(w, "floor");
    let ix = idx.remainder(w);
    let dev = heat.device();
    let side = 2 * radius + 1;
    let d = Tensor::arange_start(-radius, radius + 1, (Kind::Int64, dev));
    // Window offsets, row-major over (dy, dx): [side²].
    let dy = d.repeat_interleave_self_int(side, 0, None);
    let dx = d.repeat([side]);
    // Index into the zero-padded map [H + 2r, W + 2r].
    let wp = w + 2 * radius;
    let padded =
        heat.constant_pad_nd([radius, radius, radius, radius]).view([n, c, (h + 2 * radius) * wp]);
    let ys = iy.unsqueeze(-1) + &dy + radius;
    let xs = ix.unsqueeze(-1) + &dx + radius;
    let v = padded.gather(2, &(ys * wp + xs), false);
    let v =
        v.where_self(&v.gt(FLOOR), &Tensor::from(f64::EPSILON).to_kind(Kind::Float).to_device(dev));
    let total = v.sum_dim_intlist(-1, false, Kind::Float);
    let mx = (&v * dx.to_kind(Kind::Float)).sum_dim_intlist(-1, false, Kind::Float) / &total;
    let my = (&v * dy.to_kind(Kind::Float)).sum_dim_intlist(-1, false, Kind::Float) / &total;
    let x = (mx + ix.to_kind(Kind::Float)) * STRIDE + CELL_CENTRE;
    let y = (my + iy.to_kind(Kind::Float)) * STRIDE + CELL_CENTRE;
    Peaks { xy: Tensor::stack(&[x, y], -1), score }
}

/// Shape of the target bumps (`--heatmap_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Gaussian,
    Laplacian,
}

/// Heatmap targets of one frame (reference `lib/pts_utils/generation.py:14-59`).
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapTarget {
    /// `[P + 1, gh, gw]` row-major: one map per landmark, then the background.
    pub maps: Vec<f32>,
    /// `[P + 1]`: landmark visibility, then 1 for a labelled frame (background).
    pub mask: Vec<f32>,
}

/// The reference's cut-off: target values below it become 0
/// (`lib/pts_utils/generation.py:14-59`). It biases the soft-argmax of a target by up to
/// ~0.1 px at σ = 6 px (0 px without it); see tests.
pub const REFERENCE_CUTOFF: f64 = 0.01;

/// Targets for landmarks `xy` (input pixels) on a `gw×gh` grid of stride 8. With
/// `t = −|c − p|² / (2σ²)` at cell centre `c = 8·cell + 3.5`: Gaussian `exp(t)`, Laplacian
/// `(1 + t)·exp(t)`; values below `cutoff` become 0, above 1 become 1; invisible points give
/// empty maps; the background is `max(0, 1 − max_p h_p)`. An unlabelled frame is all zeros,
/// mask too.
#[allow(clippy::too_many_arguments)]
pub fn encode(
    xy: &[[f64; 2]],
    visible: &[bool],
    labelled: bool,
    gw: usize,
    gh: usize,
    sigma: f64,
    shape: Shape,
    cutoff: f64,
) -> HeatmapTarget {
    let p = xy.len();
    let cells = gw * gh;
    let mut maps = vec![0f32; (p + 1) * cells];
    let mut mask = vec![0f32; p + 1];
    if !labelled {
        return HeatmapTarget { maps, mask };
    }
    let mut top = vec![0f32; cells];
    let two_s2 = 2.0 * sigma * sigma;
    // exp(tx + ty) = exp(tx)·exp(ty): one exp per column and per row, not per cell.
    let (mut ex, mut ey) = (vec![0f64; gw], vec![0f64; gh]);
    let (mut tx, mut ty) = (vec![0f64; gw], vec![0f64; gh]);
    for (k, (pt, &v)) in xy.iter().zip(visible).enumerate() {
        mask[k] = v as u8 as f32;
        if !v {
            continue;
        }
        for x in 0..gw {
            let d = STRIDE * x as f64 + CELL_CENTRE - pt[0];
            tx[x] = -d * d / two_s2;
            ex[x] = tx[x].exp();
        }
        for y in 0..gh {
            let d = STRIDE * y as f64 + CELL_CENTRE - pt[1];
            ty[y] = -d * d / two_s2;
            ey[y] = ty[y].exp();
        }
        // Both shapes are at most exp(t) ≤ exp(tx), exp(ty): rows and columns whose factor is
        // already below the cut-off stay zero.
        let cols = span(&ex, cutoff);
        let rows = span(&ey, cutoff);
        let m = &mut maps[k * cells..(k + 1) * cells];
        for y in rows {
            for x in cols.clone() {
                let g = ex[x] * ey[y];
                let h = match shape {
                    Shape::Gaussian => g,
                    Shape::Laplacian => (1.0 + tx[x] + ty[y]) * g,
                };
                let h = if h < cutoff || h <= 0.0 { 0.0 } else { h.min(1.0) } as f32;
                m[y * gw + x] = h;
                top[y * gw + x] = top[y * gw + x].max(h);
            }
        }
    }
    for (b, t) in maps[p * cells..].iter_mut().zip(&top) {
        *b = (1.0 - t).max(0.0);
    }
    mask[p] = 1.0;
    HeatmapTarget { maps, mask }
}

/// The indices `i..j` outside of which `f` is below `cutoff` (all of them when `cutoff` ≤ 0).
fn span(f: &[f64], cutoff: f64) -> std::ops::Range<usize> {
    if cutoff <= 0.0 {
        return 0..f.len();
    }
    match f.iter().position(|&v| v >= cutoff) {
        Some(i) => i..f.len() - f.iter().rev().position(|&v| v >= cutoff).expect("found above"),
        None => 0..0,
    }
}
