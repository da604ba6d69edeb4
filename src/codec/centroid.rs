//! Face-centre + offset read-out (the "student" CenterNet view; reference
//! `lib/utils/decode.py:66-96`, `nosecenter_decode`), in input pixels.
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

/// Index of the landmark whose cell is the face centre: the nose tip, landmark 31 of the
/// 68-point layout (0-based 30; reference `GeneralDataset.py`).
pub const CENTRE_LANDMARK: usize = 30;

/// Centre + offset targets of one frame, done as intended (reference
/// `lib/datasets/GeneralDataset.py:280-321`): centre in its own map, `ind = cy·gw + cx`,
/// offsets `p_j/8 − c` in cells for every visible landmark.
#[derive(Clone, Debug, PartialEq)]
pub struct CentroidTarget {
    /// `[gh, gw]` centre heatmap (a CenterNet Gaussian, peak 1).
    pub heat: Vec<f32>,
    /// Flat index of the centre cell.
    pub ind: i64,
    /// `[2P]` interleaved (x, y) offsets in cells.
    pub offsets: Vec<f32>,
    /// `[2P]` 1 where the landmark is visible.
    pub mask: Vec<f32>,
    /// False for unlabelled frames and when the centre landmark is invisible or off the grid:
    /// such frames contribute nothing to the centroid losses.
    pub valid: bool,
}

/// CenterNet's Gaussian radius for a box of `h×w` cells and minimum overlap `o`: the smallest
/// of the three radii at which a shifted box still overlaps the true one by `o`.
pub fn gaussian_radius(h: f64, w: f64, o: f64) -> f64 {
    let root = |a: f64, b: f64, c: f64| (b + (b * b - 4.0 * a * c).max(0.0).sqrt()) / 2.0;
    let r1 = root(1.0, h + w, w * h * (1.0 - o) / (1.0 + o));
    let r2 = root(4.0, 2.0 * (h + w), (1.0 - o) * w * h);
    let r3 = root(4.0 * o, -2.0 * o * (h + w), (o - 1.0) * w * h);
    r1.min(r2).min(r3)
}

/// Targets for landmarks `xy` (input pixels) on a `gw×gh` grid of stride 8.
pub fn encode(
    xy: &[[f64; 2]],
    visible: &[bool],
    labelled: bool,
    gw: usize,
    gh: usize,
) -> CentroidTarget {
    let p = xy.len();
    let mut t = CentroidTarget {
        heat: vec![0.0; gw * gh],
        ind: 0,
        offsets: vec![0.0; 2 * p],
        mask: vec![0.0; 2 * p],
        valid: false,
    };
    let k = CENTRE_LANDMARK.min(p.saturating_sub(1));
    if !labelled || p == 0 || !visible[k] {
        return t;
    }
    let (cx, cy) = ((xy[k][0] / STRIDE).floor(), (xy[k][1] / STRIDE).floor());
    if cx < 0.0 || cy < 0.0 || cx >= gw as f64 || cy >= gh as f64 {
        return t;
    }
    t.valid = true;
    t.ind = cy as i64 * gw as i64 + cx as i64;
    // Radius from the visible landmarks' extent in cells (CenterNet, min overlap 0.7), at
    // most 4 cells as in the reference.
    let vis: Vec<&[f64; 2]> = xy.iter().zip(visible).filter(|(_, v)| **v).map(|(q, _)| q).collect();
    let ext = |i: usize| {
        let lo = vis.iter().map(|q| q[i]).fold(f64::INFINITY, f64::min);
        let hi = vis.iter().map(|q| q[i]).fold(f64::NEG_INFINITY, f64::max);
        ((hi - lo) / STRIDE).ceil()
    };
    let r = (gaussian_radius(ext(1), ext(0), 0.7).floor() as i64).clamp(0, 4);
    let sigma = (2 * r + 1) as f64 / 6.0;
    for dy in -r..=r {
        for dx in -r..=r {
            let (x, y) = (cx as i64 + dx, cy as i64 + dy);
            if x < 0 || y < 0 || x >= gw as i64 || y >= gh as i64 {
                continue;
            }
            let g = (-((dx * dx + dy * dy) as f64) / (2.0 * sigma * sigma)).exp();
            if g >= f64::EPSILON {
                let cell = &mut t.heat[y as usize * gw + x as usize];
                *cell = cell.max(g as f32);
            }
        }
    }
    for (j, (q, &v)) in xy.iter().zip(visible).enumerate() {
        if v {
            t.offsets[2 * j] = (q[0] / STRIDE - cx) as f32;
            t.offsets[2 * j + 1] = (q[1] / STRIDE - cy) as f32;
            t.mask[2 * j] = 1.0;
            t.mask[2 * j + 1] = 1.0;
        }
    }
    t
}
