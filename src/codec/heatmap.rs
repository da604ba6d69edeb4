//! Heatmap read-out: soft-argmax around each channel's peak (spec §5.1,
//! `find_tensor_peak_batch`), done for all images and channels at once.
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
/// mapped to input pixels. The reference code used r = 20, its config said 4 (spec §3.2).
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
