//! Frame pairs with exact dense flow for pretraining a tracker (`tsal tracker pretrain`), made
//! from any images: no annotation is needed.
//!
//! A pair shows a *world* (a training image, or a procedural texture) through two crops:
//!
//! * frame 1 is a crop of the world (around its face box when it has one, else anywhere), at a
//!   random scale and rotation;
//! * frame 2 moves it: a random affine motion `R` about the crop centre, plus a smooth local
//!   deformation `D` (a coarse random field, bilinear): frame 2's pixel `y` shows frame 1's
//!   point `g(y) = R⁻¹(y) + D(y)`;
//! * up to [`MAX_LAYERS`] occluding layers (another world seen through a soft ellipse) lie on
//!   top, each with its own affine motion, hiding and revealing the background.
//!
//! The flows are exact: backward (2 → 1) `g(y) − y` on the background and `Q⁻¹(y) − y` on a
//! layer moving by `Q`; forward (1 → 2) by solving `g(y) = x` (fixed-point iteration
//! `y ← R(x − D(y))`, a contraction since `D` is small and smooth) and `Q(x) − x` on a layer.
//! Motion sizes are drawn from small (video-like, a pixel or two) to large (two augmented views
//! of one image: tens of pixels, tens of degrees).
use crate::data::augment::Affine;
use crate::formats::list::ListEntry;
use anyhow::{Context, Result};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// Occluding layers per pair, at most.
pub const MAX_LAYERS: usize = 2;

/// Where pixels come from: an image in [0, 1] `[3, H, W]` on the CPU, and its face box
/// (world pixels) when it has one.
pub struct World {
    pub pixels: Tensor,
    pub face: Option<[f64; 4]>,
}

/// The worlds of `entries`' images (each image once, at most `max`, spread over the list),
/// resized so that a face box's crop at `size` pixels needs no more than the image holds.
pub fn load_worlds(
    entries: &[ListEntry],
    size: u32,
    max: usize,
    threads: usize,
) -> Result<Vec<World>> {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&ListEntry> = entries.iter().filter(|e| seen.insert(&e.image)).collect();
    let pick: Vec<&ListEntry> = if distinct.len() <= max {
        distinct
    } else {
        (0..max).map(|k| distinct[k * distinct.len() / max]).collect()
    };
    crate::parallel::map(&pick, threads, None, |e| {
        let img = crate::formats::image_io::decode(&e.image)
            .with_context(|| format!("{}: image {}", e.origin, e.image.display()))?
            .to_rgb8();
        // The face box (expanded as training crops it) at about 1.5× the crop size.
        let side = (e.bbox[2] - e.bbox[0]).max(e.bbox[3] - e.bbox[1]) * 1.4;
        let f = (1.5 * size as f64 / side).min(1.0);
        let (w, h) = (img.width(), img.height());
        let (nw, nh) =
            (((w as f64 * f).round() as u32).max(8), ((h as f64 * f).round() as u32).max(8));
        let img = if f < 1.0 {
            image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle)
        } else {
            img
        };
        let pixels = Tensor::from_slice(img.as_raw())
            .view([img.height() as i64, img.width() as i64, 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            / 255.0;
        let (sx, sy) = (img.width() as f64 / w as f64, img.height() as f64 / h as f64);
        let b = e.bbox;
        Ok(World { pixels, face: Some([b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]) })
    })
}

/// Random values in [0, 1) as a tensor.
fn uniform(rng: &mut impl Rng, shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
    Tensor::from_slice(&v).view(shape)
}

/// A procedural world `[3, side, side]`: coloured noise over five octaves, and with even odds
/// sharp-edged blobs (one octave thresholded), so that every scale has texture to match.
pub fn texture(rng: &mut impl Rng, side: i64) -> Tensor {
    let mut t = Tensor::zeros([1, 3, side, side], (Kind::Float, Device::Cpu));
    for (k, weight) in [(4, 1.0), (8, 0.7), (16, 0.5), (32, 0.35), (64, 0.25)] {
        let g = uniform(rng, &[1, 3, k, k]).upsample_bilinear2d([side, side], false, None, None);
        t += g * weight;
    }
    if rng.random_bool(0.5) {
        let g = uniform(rng, &[1, 1, 12, 12]).upsample_bilinear2d([side, side], false, None, None);
        let edge = g.gt(0.5).to_kind(Kind::Float);
        let colour = uniform(rng, &[1, 3, 1, 1]) * 2.8;
        t = &t * (1.0 - &edge) + edge * colour;
    }
    let lo = t.amin([2i64, 3].as_slice(), true);
    let hi = t.amax([2i64, 3].as_slice(), true);
    ((t - &lo) / (hi - lo).clamp_min(1e-6)).squeeze_dim(0)
}

/// How the pairs move.
#[derive(Clone, Copy, Debug)]
pub struct Motion {
    /// The largest relative rotation (degrees), scale change (fraction) and shift (fraction of
    /// the crop side) between the two frames; each pair draws a magnitude `m = u²` (`u`
    /// uniform), so most pairs move less.
    pub rotate: f64,
    pub scale: f64,
    pub shift: f64,
    /// The largest local deformation, fraction of the crop side.
    pub deform: f64,
}

impl Motion {
    /// Up to two augmented views of one image as training draws them (±20° each, so up to 40°
    /// apart; scale 0.9–1.1; centre jitter) and down to the slow drift of video frames.
    pub const DEFAULT: Motion = Motion { rotate: 40.0, scale: 0.2, shift: 0.25, deform: 0.03 };
}

/// One batch of pairs on the device.
pub struct PairBatch {
    /// Frames in [0, 1], `[B, 3, S, S]`.
    pub im1: Tensor,
    pub im2: Tensor,
    /// Exact flows 1 → 2 and 2 → 1, `[B, 2, S, S]` (pixels).
    pub forward: Tensor,
    pub backward: Tensor,
}

/// Pixel coordinates of an `s × s` grid, `[s, s, 2]` (x, y).
fn grid(s: i64) -> Tensor {
    let r = Tensor::arange(s, (Kind::Float, Device::Cpu));
    let x = r.view([1, s]).expand([s, s], false);
    let y = r.view([s, 1]).expand([s, s], false);
    Tensor::stack(&[x, y], -1)
}

/// `a` applied to points `[..., 2]`.
fn apply(a: &Affine, p: &Tensor) -> Tensor {
    let m = &a.0;
    let (x, y) = (p.select(-1, 0), p.select(-1, 1));
    let nx = &x * m[0][0] + &y * m[0][1] + m[0][2];
    let ny = x * m[1][0] + y * m[1][1] + m[1][2];
    Tensor::stack(&[nx, ny], -1)
}

/// `img` `[C, H, W]` sampled bilinearly at points `[s, s, 2]` (its pixels), `[C, s, s]`; the
/// border colour outside.
fn sample(img: &Tensor, at: &Tensor) -> Tensor {
    let (_, h, w) = img.size3().expect("sample: [C, H, W]");
    let scale = Tensor::from_slice(&[2.0 / (w - 1).max(1) as f32, 2.0 / (h - 1).max(1) as f32]);
    let g = (at * scale - 1.0).unsqueeze(0);
    img.unsqueeze(0).grid_sampler(&g, 0, 1, true).squeeze_dim(0)
}

/// A random affine about `centre` scaled by magnitude `m`: rotation, scale and shift of up to
/// `m` times the maxima of `motion` (`side` is the crop side for the shift).
fn random_motion(
    rng: &mut impl Rng,
    motion: &Motion,
    m: f64,
    side: f64,
    centre: [f64; 2],
) -> Affine {
    let mut u = || rng.random_range(-1.0..=1.0);
    let deg = u() * motion.rotate * m;
    let s = 1.0 + u() * motion.scale * m;
    let (dx, dy) = (u() * motion.shift * m * side, u() * motion.shift * m * side);
    Affine::translate(-centre[0], -centre[1])
        .then(&Affine::scale(s, s))
        .then(&Affine::rotate(deg))
        .then(&Affine::translate(centre[0] + dx, centre[1] + dy))
}

/// Frame pixels → world pixels for a crop of `world` at `size`: around the face box (expanded
/// as training crops it, then rescaled and moved a little) with odds 0.7 when there is one,
/// else a random square; rotated up to ±30°.
fn crop_map(rng: &mut impl Rng, world: &World, size: f64) -> Affine {
    let (_, h, w) = world.pixels.size3().expect("[3, H, W]");
    let (w, h) = (w as f64, h as f64);
    let (c, side) = match world.face.filter(|_| rng.random_bool(0.7)) {
        Some(b) => {
            let side = (b[2] - b[0]).max(b[3] - b[1]) * 1.4 * rng.random_range(0.8..1.25);
            let j = 0.1 * side;
            let c = [
                (b[0] + b[2]) / 2.0 + rng.random_range(-j..=j),
                (b[1] + b[3]) / 2.0 + rng.random_range(-j..=j),
            ];
            (c, side)
        }
        None => {
            let side = w.min(h) * rng.random_range(0.3..0.9);
            let c = [
                rng.random_range(side / 2.0..=w - side / 2.0),
                rng.random_range(side / 2.0..=h - side / 2.0),
            ];
            (c, side)
        }
    };
    let k = side / size;
    Affine::translate(-size / 2.0, -size / 2.0)
        .then(&Affine::scale(k, k))
        .then(&Affine::rotate(rng.random_range(-30.0..=30.0)))
        .then(&Affine::translate(c[0], c[1]))
}

/// A world at random: one of `worlds` or, with odds `p_texture` (always without worlds), a
/// procedural texture.
fn pick<'a>(
    rng: &mut impl Rng,
    worlds: &'a [World],
    p_texture: f64,
    size: i64,
    made: &'a mut Option<World>,
) -> &'a World {
    if worlds.is_empty() || rng.random_bool(p_texture) {
        *made = Some(World { pixels: texture(rng, 2 * size), face: None });
        made.as_ref().expect("just made")
    } else {
        &worlds[rng.random_range(0..worlds.len())]
    }
}

/// One pair at `size` (frames, forward and backward flow, `[3|2, S, S]` each).
pub fn pair(
    rng: &mut impl Rng,
    worlds: &[World],
    p_texture: f64,
    size: i64,
    motion: &Motion,
) -> [Tensor; 4] {
    let s = size as f64;
    let centre = [(s - 1.0) / 2.0, (s - 1.0) / 2.0];
    let xy = grid(size);
    let mut made = None;
    let world = pick(rng, worlds, p_texture, size, &mut made);
    let to_world = crop_map(rng, world, s);
    let m = rng.random::<f64>().powi(2);
    let r = random_motion(rng, motion, m, s, centre);
    let r_inv = r.inverse();
    // The deformation: a 5×5 field of offsets up to deform·m·S, bilinear over the frame.
    let amp = motion.deform * m * s;
    let field = (uniform(rng, &[2, 5, 5]) * 2.0 - 1.0) * amp;
    let d = |p: &Tensor| sample(&field, &(p * (4.0 / (s - 1.0)))).permute([1, 2, 0]);
    // Backward: frame 2's pixel y shows frame 1's point g(y); forward: solve g(y) = x.
    let g = apply(&r_inv, &xy) + d(&xy);
    let mut y = apply(&r, &xy);
    for _ in 0..10 {
        y = apply(&r, &(&xy - d(&y)));
    }
    let mut bw = &g - &xy;
    let mut fw = &y - &xy;
    let mut im1 = sample(&world.pixels, &apply(&to_world, &xy));
    let mut im2 = sample(&world.pixels, &apply(&to_world, &g));
    for _ in 0..MAX_LAYERS {
        if !rng.random_bool(0.5) {
            continue;
        }
        let mut made = None;
        let layer = pick(rng, worlds, p_texture, size, &mut made);
        let to_layer = crop_map(rng, layer, s);
        // An ellipse of half-axes 0.15–0.35 S at a random place of frame 1, soft-edged.
        let (a, b) = (rng.random_range(0.15..0.35) * s, rng.random_range(0.15..0.35) * s);
        let at = [rng.random_range(0.0..s), rng.random_range(0.0..s)];
        let turn = rng.random_range(0.0..180.0);
        let to_unit = Affine::translate(-at[0], -at[1])
            .then(&Affine::rotate(turn))
            .then(&Affine::scale(1.0 / a, 1.0 / b));
        let alpha = |p: &Tensor| {
            let u = apply(&to_unit, p);
            let r2: Tensor = u.square().sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
            (r2.neg() + 1.0).g_mul_scalar(8.0).sigmoid()
        };
        let lm = rng.random::<f64>().powi(2);
        let q = random_motion(rng, motion, lm, s, at);
        let q_inv = q.inverse();
        let (p1, p2) = (xy.shallow_clone(), apply(&q_inv, &xy));
        let (a1, a2) = (alpha(&p1), alpha(&p2));
        let l1 = sample(&layer.pixels, &apply(&to_layer, &p1));
        let l2 = sample(&layer.pixels, &apply(&to_layer, &p2));
        im1 = &im1 * (1.0 - &a1) + l1 * &a1;
        im2 = &im2 * (1.0 - &a2) + l2 * &a2;
        let (on1, on2) = (a1.gt(0.5).unsqueeze(-1), a2.gt(0.5).unsqueeze(-1));
        fw = fw.where_self(&on1.logical_not(), &(apply(&q, &xy) - &xy));
        bw = bw.where_self(&on2.logical_not(), &(&p2 - &xy));
    }
    [im1, im2, fw.permute([2, 0, 1]), bw.permute([2, 0, 1])]
}

/// `count` pairs at `size` on `device`.
pub fn batch(
    rng: &mut impl Rng,
    worlds: &[World],
    p_texture: f64,
    size: i64,
    motion: &Motion,
    count: usize,
    device: Device,
) -> PairBatch {
    let pairs: Vec<[Tensor; 4]> =
        (0..count).map(|_| pair(rng, worlds, p_texture, size, motion)).collect();
    let stack = |k: usize| {
        let v: Vec<&Tensor> = pairs.iter().map(|p| &p[k]).collect();
        Tensor::stack(&v, 0).to_device(device)
    };
    PairBatch { im1: stack(0), im2: stack(1), forward: stack(2), backward: stack(3) }
}
