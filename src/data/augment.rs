//! Augmentation as one affine map per frame: pre-crop (box expanded by
//! `pre_crop_expand`), resize to the crop size, random scale, rotation and centre jitter are
//! composed into a single 2×3 matrix from original-image pixels to crop pixels, and the image is
//! resampled once. Landmarks go through the same matrix; the inverse maps predictions back.
//!
//! Pixel coordinates are pixel centres (0-based), as in the `.pts` files.
use super::clip::{Clip, ClipKind};
pub use super::crop::CropSpec;
use crate::formats::list::ListEntry;
use image::RgbImage;
use rand::Rng;

/// `[[a, b, c], [d, e, f]]`: `x' = a·x + b·y + c`, `y' = d·x + e·y + f`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [[f64; 3]; 2]);

impl Affine {
    pub const IDENTITY: Affine = Affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);

    pub fn translate(dx: f64, dy: f64) -> Self {
        Affine([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    }

    pub fn scale(sx: f64, sy: f64) -> Self {
        Affine([[sx, 0.0, 0.0], [0.0, sy, 0.0]])
    }

    /// Rotation by `deg` degrees about the origin, counter-clockwise as seen on screen
    /// (y points down).
    pub fn rotate(deg: f64) -> Self {
        let (s, c) = deg.to_radians().sin_cos();
        Affine([[c, s, 0.0], [-s, c, 0.0]])
    }

    /// `self` first, then `next`.
    pub fn then(&self, next: &Affine) -> Affine {
        let (a, b) = (&self.0, &next.0);
        let mut m = [[0.0; 3]; 2];
        for r in 0..2 {
            m[r][0] = b[r][0] * a[0][0] + b[r][1] * a[1][0];
            m[r][1] = b[r][0] * a[0][1] + b[r][1] * a[1][1];
            m[r][2] = b[r][0] * a[0][2] + b[r][1] * a[1][2] + b[r][2];
        }
        Affine(m)
    }

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let m = &self.0;
        [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]]
    }

    /// The inverse map (crop pixels → original pixels).
    pub fn inverse(&self) -> Affine {
        let m = &self.0;
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let (a, b, d, e) = (m[1][1] / det, -m[0][1] / det, -m[1][0] / det, m[0][0] / det);
        Affine([[a, b, -(a * m[0][2] + b * m[1][2])], [d, e, -(d * m[0][2] + e * m[1][2])]])
    }

    /// Crop pixels per source pixel (geometric mean over the two axes).
    pub fn zoom(&self) -> f64 {
        let m = &self.0;
        (m[0][0] * m[1][1] - m[0][1] * m[1][0]).abs().sqrt()
    }
}

/// The crop and the random augmentation of `tsal train` (reference flags in
/// `lib/config_utils/args.py:9-62`, transforms in `exps/main.py:60-75`).
#[derive(Clone, Debug, PartialEq)]
pub struct AugParams {
    /// The deterministic part: expanded box → crop.
    pub crop: CropSpec,
    pub scale_prob: f64,
    pub scale_min: f64,
    pub scale_max: f64,
    pub rotate_max: f64,
    pub crop_perturb_max: f64,
    /// How the frames of a video clip draw their augmentation.
    pub video_draws: VideoDraws,
}

/// How the frames of a training video clip are augmented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoDraws {
    /// One draw for every frame: the crops move with the face only, as the reference did.
    #[default]
    Shared,
    /// A draw per frame: consecutive crops differ by a known affine on top of the motion.
    Independent,
    /// The first frame unaugmented (the evaluation crop), each later frame its own draw: frame
    /// j+1's pseudo-label comes from the crop a detector reads best.
    Anchored,
}

impl VideoDraws {
    /// The flag's value (`shared`, `independent`, `anchored`).
    pub fn name(self) -> &'static str {
        match self {
            VideoDraws::Shared => "shared",
            VideoDraws::Independent => "independent",
            VideoDraws::Anchored => "anchored",
        }
    }
}

/// One random draw of the augmentation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    pub scale: f64,
    pub degrees: f64,
    /// Centre jitter in crop pixels.
    pub shift: [f64; 2],
}

impl AugParams {
    /// No random part: the evaluation transform of `crop`.
    pub fn none(crop: CropSpec) -> Self {
        AugParams {
            crop,
            scale_prob: 0.0,
            scale_min: 1.0,
            scale_max: 1.0,
            rotate_max: 0.0,
            crop_perturb_max: 0.0,
            video_draws: VideoDraws::Shared,
        }
    }
}

impl Draw {
    pub const NONE: Draw = Draw { scale: 1.0, degrees: 0.0, shift: [0.0, 0.0] };

    pub fn random(rng: &mut impl Rng, p: &AugParams) -> Self {
        let scale = match rng.random_bool(p.scale_prob.clamp(0.0, 1.0)) {
            true if p.scale_max > p.scale_min => rng.random_range(p.scale_min..p.scale_max),
            true => p.scale_min,
            false => 1.0,
        };
        let degrees =
            if p.rotate_max > 0.0 { rng.random_range(-p.rotate_max..=p.rotate_max) } else { 0.0 };
        let j = p.crop_perturb_max;
        let shift =
            if j > 0.0 { [rng.random_range(-j..=j), rng.random_range(-j..=j)] } else { [0.0, 0.0] };
        Draw { scale, degrees, shift }
    }
}

/// Original-image pixels → crop pixels for face box `bbox` and `draw` (`Draw::NONE` = the
/// deterministic evaluation transform: the expanded box resized to the crop).
pub fn crop_matrix(bbox: [f64; 4], p: &AugParams, draw: &Draw) -> Affine {
    let (cw, ch) = (p.crop.width as f64, p.crop.height as f64);
    // The expanded box's edges go to the crop's edges ([`CropSpec::matrix`]), then scale and
    // rotate about the crop centre and shift it.
    p.crop
        .matrix(bbox)
        .then(&Affine::translate(-cw / 2.0, -ch / 2.0))
        .then(&Affine::scale(draw.scale, draw.scale))
        .then(&Affine::rotate(draw.degrees))
        .then(&Affine::translate(cw / 2.0 + draw.shift[0], ch / 2.0 + draw.shift[1]))
}

/// One matrix per frame of `clip`. Video frames are all placed by the first frame's box (so
/// their true relative motion survives) and share one draw, or draw their own as
/// `p.video_draws` says; the views of a still image each get their own draw.
pub fn clip_matrices(
    clip: &Clip,
    entries: &[ListEntry],
    p: &AugParams,
    rng: &mut impl Rng,
) -> Vec<Affine> {
    match clip.kind {
        ClipKind::Video => {
            let bbox = entries[clip.frames[0]].bbox;
            match p.video_draws {
                VideoDraws::Shared => {
                    vec![crop_matrix(bbox, p, &Draw::random(rng, p)); clip.frames.len()]
                }
                VideoDraws::Independent => (0..clip.frames.len())
                    .map(|_| crop_matrix(bbox, p, &Draw::random(rng, p)))
                    .collect(),
                VideoDraws::Anchored => (0..clip.frames.len())
                    .map(|f| match f {
                        0 => crop_matrix(bbox, p, &Draw::NONE),
                        _ => crop_matrix(bbox, p, &Draw::random(rng, p)),
                    })
                    .collect(),
            }
        }
        ClipKind::Views => clip
            .frames
            .iter()
            .map(|&i| crop_matrix(entries[i].bbox, p, &Draw::random(rng, p)))
            .collect(),
    }
}

/// ImageNet mean colour, the fill outside the source image (reference `AugCrop`,
/// `lib/xvision/transforms.py:310-352`: 123, 116, 103).
pub const FILL: [u8; 3] = [123, 116, 103];

/// Source pixels for [`warp`]: a whole decoded image, or what training crops of one face box
/// need of it ([`Region::prepare`]): the part they can reach, placed at `origin` in an image of
/// size `full`, block-averaged by `shrink` when every crop shrinks the face at least that much.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub pixels: RgbImage,
    pub origin: [u32; 2],
    pub full: [u32; 2],
    /// Full-image pixels per held pixel along each axis: held pixel `(i, j)` is the mean of the
    /// block starting at `origin + shrink·(i, j)` (centre `origin + shrink·(i, j) + (shrink−1)/2`).
    pub shrink: u32,
}

impl Region {
    pub fn whole(img: RgbImage) -> Self {
        let full = [img.width(), img.height()];
        Region { pixels: img, origin: [0, 0], full, shrink: 1 }
    }

    /// What crops of face box `bbox` under `p` need of `img`: the part [`reach`] (clamped to
    /// the image), averaged over blocks of [`shrink_factor`] pixels. Done once per line and
    /// face box, before any draw; crops from it equal crops from the whole image bit for bit
    /// when the factor is 1.
    pub fn prepare(img: &RgbImage, bbox: [f64; 4], p: &AugParams) -> Self {
        let [x0, y0, x1, y1] = reach(bbox, p);
        let full = [img.width(), img.height()];
        let (x1, y1) = (x1.min(full[0]), y1.min(full[1]));
        let (x0, y0) = (x0.min(x1), y0.min(y1));
        let k = shrink_factor(bbox, p);
        let pixels = if k == 1 {
            image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
        } else {
            box_downsample(&View::whole(img), x0, y0, x1 - x0, y1 - y0, k)
        };
        Region { pixels, origin: [x0, y0], full, shrink: k }
    }

    /// Bytes of pixel data held.
    pub fn bytes(&self) -> usize {
        self.pixels.as_raw().len()
    }
}

/// The largest zoom (crop pixels per source pixel) of any draw of `p` on `bbox`, and the
/// smallest.
fn zoom_range(bbox: [f64; 4], p: &AugParams) -> (f64, f64) {
    let grow = 1.0 + 2.0 * p.crop.expand;
    let (bw, bh) = ((bbox[2] - bbox[0]) * grow, (bbox[3] - bbox[1]) * grow);
    let base = (p.crop.width as f64 / bw * p.crop.height as f64 / bh).sqrt();
    let on = p.scale_prob > 0.0;
    let smallest = if on { p.scale_min.min(1.0) } else { 1.0 };
    // Draw::NONE (evaluation) has scale 1 whatever the flags.
    let largest = if on { p.scale_max.max(1.0) } else { 1.0 };
    (base * smallest, base * largest)
}

/// The block size by which a source can be averaged before any draw of `p` on `bbox` without
/// a crop ever enlarging the averaged pixels: `⌊1/zoom_max⌋`, at least 1.
pub fn shrink_factor(bbox: [f64; 4], p: &AugParams) -> u32 {
    let (_, zmax) = zoom_range(bbox, p);
    if zmax.is_finite() && zmax > 0.0 {
        (1.0 / zmax).floor().clamp(1.0, 1024.0) as u32
    } else {
        1
    }
}

/// The pixels `[x0, y0, x1, y1)` of an image that [`warp`] may read for any draw of `p` on
/// face box `bbox` (crop corners at the largest shift, smallest scale and any rotation, plus the
/// antialiasing block and the bilinear neighbour, in blocks of [`shrink_factor`]). Not clamped
/// to the image.
pub fn reach(bbox: [f64; 4], p: &AugParams) -> [u32; 4] {
    let grow = 1.0 + 2.0 * p.crop.expand;
    let (bw, bh) = ((bbox[2] - bbox[0]) * grow, (bbox[3] - bbox[1]) * grow);
    let (cw, ch) = (p.crop.width as f64, p.crop.height as f64);
    let smallest = if p.scale_prob > 0.0 { p.scale_min.min(1.0) } else { 1.0 };
    // Crop pixels from the crop centre to a corner, before the scale, with the largest shift.
    let d = (0.5 * cw.hypot(ch) + p.crop_perturb_max.abs() * std::f64::consts::SQRT_2) / smallest;
    let (zmin, _) = zoom_range(bbox, p);
    let k = shrink_factor(bbox, p) as f64;
    // In held pixels: the widest antialiasing block, the bilinear neighbour, one for rounding.
    let margin = ((1.0 / (zmin * k)).floor().max(1.0) + 2.0) * k;
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let (rx, ry) = (d * bw / cw + margin, d * bh / ch + margin);
    let clamp = |v: f64| v.clamp(0.0, u32::MAX as f64) as u32;
    [
        clamp((cx - rx).floor()),
        clamp((cy - ry).floor()),
        clamp((cx + rx).ceil()),
        clamp((cy + ry).ceil()),
    ]
}

/// Pixels placed at `origin` in an image of size `full` (outside it: the fill colour).
#[derive(Clone, Copy)]
struct View<'a> {
    pixels: &'a RgbImage,
    origin: [u32; 2],
    full: [u32; 2],
}

impl<'a> View<'a> {
    fn whole(img: &'a RgbImage) -> Self {
        View { pixels: img, origin: [0, 0], full: [img.width(), img.height()] }
    }
}

/// Resample `src` through `m` (full-image pixels → crop pixels) into a `w×h` crop: bilinear,
/// pixel centres aligned, the fill colour outside the full image. When the map shrinks the held
/// pixels by more than 2×, they are first averaged over k×k blocks (k = ⌊1/zoom⌋) so the
/// result is antialiased.
/// Warp a whole in-memory image into a `w × h` crop through `m` (as [`warp`] on
/// [`Region::whole`], without taking the image).
pub fn warp_image(img: &RgbImage, m: &Affine, w: u32, h: u32) -> RgbImage {
    warp_view(View::whole(img), m, w, h)
}

pub fn warp(src: &Region, m: &Affine, w: u32, h: u32) -> RgbImage {
    if src.shrink > 1 {
        // Held pixels → full-image pixels: block (i, j) is centred at origin + k·(i, j) + (k−1)/2.
        let k = src.shrink as f64;
        let off = (k - 1.0) / 2.0;
        let to_full = Affine::scale(k, k)
            .then(&Affine::translate(src.origin[0] as f64 + off, src.origin[1] as f64 + off));
        return warp_view(View::whole(&src.pixels), &to_full.then(m), w, h);
    }
    warp_view(View { pixels: &src.pixels, origin: src.origin, full: src.full }, m, w, h)
}

fn warp_view(src: View, m: &Affine, w: u32, h: u32) -> RgbImage {
    let zoom = m.zoom();
    if zoom < 0.5 {
        let k = (1.0 / zoom).floor() as u32;
        // The source region the crop sees, with a margin of one block.
        let inv = m.inverse();
        let corners = [[0.0, 0.0], [w as f64, 0.0], [0.0, h as f64], [w as f64, h as f64]]
            .map(|c| inv.apply(c));
        let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f64::INFINITY, f64::min);
        let hi = |i: usize| corners.iter().map(|c| c[i]).fold(f64::NEG_INFINITY, f64::max);
        let [fw, fh] = src.full;
        let x0 = ((lo(0) - k as f64).floor().max(0.0) as u32).min(fw);
        let y0 = ((lo(1) - k as f64).floor().max(0.0) as u32).min(fh);
        let x1 = ((hi(0) + k as f64).ceil().max(0.0) as u32).min(fw);
        let y1 = ((hi(1) + k as f64).ceil().max(0.0) as u32).min(fh);
        if x1 > x0 && y1 > y0 {
            let small = box_downsample(&src, x0, y0, x1 - x0, y1 - y0, k);
            // Small pixel d has its centre at source x0 + (k−1)/2 + k·d.
            let off = (k as f64 - 1.0) / 2.0;
            let to_src = Affine::scale(k as f64, k as f64)
                .then(&Affine::translate(x0 as f64 + off, y0 as f64 + off));
            return bilinear(&View::whole(&small), &to_src.then(m), w, h);
        }
    }
    bilinear(&src, m, w, h)
}

/// Mean of k×k blocks of the full-image rectangle `(x0, y0, rw, rh)` (blocks at the right and
/// bottom edges may be narrower).
fn box_downsample(src: &View, x0: u32, y0: u32, rw: u32, rh: u32, k: u32) -> RgbImage {
    let [ox, oy] = src.origin;
    let (pw, ph) = (src.pixels.width() as usize, src.pixels.height() as usize);
    let raw = src.pixels.as_raw();
    let (ow, oh) = (rw.div_ceil(k) as usize, rh.div_ceil(k) as usize);
    if pw == 0 || ph == 0 {
        return RgbImage::from_pixel(ow as u32, oh as u32, image::Rgb(FILL));
    }
    // Held-pixel column of each full-image column of the rectangle (clamped into the held part,
    // which covers it whenever it covers `reach`), and the block it falls in.
    let cols: Vec<usize> =
        (x0..x0 + rw).map(|x| (x.saturating_sub(ox) as usize).min(pw - 1)).collect();
    let width = |bx: usize| (rw as usize - bx * k as usize).min(k as usize) as u32;
    let mut out = vec![0u8; ow * oh * 3];
    let mut acc = vec![0u32; ow * 3];
    for by in 0..oh {
        acc.fill(0);
        let rows = y0 + by as u32 * k..(y0 + (by as u32 + 1) * k).min(y0 + rh);
        let nrows = rows.len() as u32;
        for y in rows {
            let py = (y.saturating_sub(oy) as usize).min(ph - 1);
            let row = &raw[py * pw * 3..(py + 1) * pw * 3];
            for (j, &px) in cols.iter().enumerate() {
                let a = &mut acc[(j / k as usize) * 3..(j / k as usize) * 3 + 3];
                a[0] += row[px * 3] as u32;
                a[1] += row[px * 3 + 1] as u32;
                a[2] += row[px * 3 + 2] as u32;
            }
        }
        let dst = &mut out[by * ow * 3..(by + 1) * ow * 3];
        for bx in 0..ow {
            let n = (width(bx) * nrows).max(1);
            for c in 0..3 {
                dst[bx * 3 + c] = ((acc[bx * 3 + c] + n / 2) / n) as u8;
            }
        }
    }
    RgbImage::from_raw(ow as u32, oh as u32, out).expect("buffer sized ow·oh·3")
}

fn bilinear(src: &View, m: &Affine, w: u32, h: u32) -> RgbImage {
    let inv = m.inverse().0;
    let (fw, fh) = (src.full[0] as i64, src.full[1] as i64);
    let (ox, oy) = (src.origin[0] as i64, src.origin[1] as i64);
    let (pw, ph) = (src.pixels.width() as i64, src.pixels.height() as i64);
    let raw = src.pixels.as_raw();
    let fill = FILL.map(|v| v as f32);
    // Full-image coordinates; the fill outside the full image.
    let at = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= fw || y >= fh || pw == 0 || ph == 0 {
            fill
        } else {
            let (px, py) = ((x - ox).clamp(0, pw - 1), (y - oy).clamp(0, ph - 1));
            let i = ((py * pw + px) * 3) as usize;
            [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
        }
    };
    // Source positions in 32.32 fixed point: `>> 32` is the floor (negatives included) and
    // stepping is exact integer addition (the step's rounding drifts < 1e-7 px over a row).
    const ONE: f64 = (1u64 << 32) as f64;
    let fixed = |v: f64| (v * ONE) as i64;
    let frac = |v: i64| (v & 0xFFFF_FFFF) as f32 * (1.0 / ONE as f32);
    let (dx, dy) = (fixed(inv[0][0]), fixed(inv[1][0]));
    let mut out = vec![0u8; (w * h * 3) as usize];
    for v in 0..h as usize {
        // Source position of (0, v); then one step per output column.
        let mut sx = fixed(inv[0][1] * v as f64 + inv[0][2]);
        let mut sy = fixed(inv[1][1] * v as f64 + inv[1][2]);
        let row = &mut out[v * w as usize * 3..(v + 1) * w as usize * 3];
        for px in row.chunks_exact_mut(3) {
            let (ax, ay) = (frac(sx), frac(sy));
            let (x, y) = ((sx >> 32) - ox, (sy >> 32) - oy);
            if x >= 0 && y >= 0 && x + 1 < pw && y + 1 < ph {
                // All four neighbours in the held pixels: two rows of two pixels.
                let i0 = ((y * pw + x) * 3) as usize;
                let i1 = i0 + (pw * 3) as usize;
                let (r0, r1) = (&raw[i0..i0 + 6], &raw[i1..i1 + 6]);
                for c in 0..3 {
                    let (p00, p10) = (r0[c] as f32, r0[3 + c] as f32);
                    let (p01, p11) = (r1[c] as f32, r1[3 + c] as f32);
                    let top = p00 + (p10 - p00) * ax;
                    let bot = p01 + (p11 - p01) * ax;
                    px[c] = (top + (bot - top) * ay + 0.5) as u8;
                }
            } else {
                let (x, y) = (x + ox, y + oy);
                let (p00, p10, p01, p11) = (at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1));
                for c in 0..3 {
                    let top = p00[c] + (p10[c] - p00[c]) * ax;
                    let bot = p01[c] + (p11[c] - p01[c]) * ax;
                    // The same rounding as the fast path (`as` saturates).
                    px[c] = (top + (bot - top) * ay + 0.5) as u8;
                }
            }
            sx += dx;
            sy += dy;
        }
    }
    RgbImage::from_raw(w, h, out).expect("buffer sized w·h·3")
}

/// Transform landmarks into the crop; a point outside `[0, W] × [0, H]` becomes invisible
/// (reference `apply_bound`).
pub fn warp_points(
    xy: &[[f64; 2]],
    visible: &[bool],
    m: &Affine,
    w: u32,
    h: u32,
) -> (Vec<[f64; 2]>, Vec<bool>) {
    let pts: Vec<[f64; 2]> = xy.iter().map(|&p| m.apply(p)).collect();
    let vis = pts
        .iter()
        .zip(visible)
        .map(|(p, &v)| v && (0.0..=w as f64).contains(&p[0]) && (0.0..=h as f64).contains(&p[1]))
        .collect();
    (pts, vis)
}
