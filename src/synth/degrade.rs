//! What makes a clean render look like a photo: occluders in front of the face (the points
//! behind them stay annotated, as in 300W), colour and exposure changes, blur, sensor noise and
//! JPEG compression.
use super::canvas::{
    closed_loop, color, ellipse, linear, polygon, shade, solid, stroke, Canvas, Part, Rgb,
};
use super::template::gauss;
use anyhow::{Context, Result};
use image::RgbImage;
use rand::Rng;
use tiny_skia::PathBuilder;

/// Something in front of the face.
#[derive(Clone, Debug)]
pub enum Occluder {
    /// A skin-coloured hand: a palm with fingers.
    Hand { centre: [f64; 2], size: f64, angle: f64, skin: Rgb },
    /// Dark glasses across both eyes (given as the eye centres).
    Sunglasses { left: [f64; 2], right: [f64; 2], size: f64, tint: Rgb },
    /// A solid object (cup, phone, microphone …): a rounded box or an ellipse.
    Object { centre: [f64; 2], size: [f64; 2], angle: f64, colour: Rgb, round: bool },
    /// A strand of hair.
    Strand { points: Vec<[f64; 2]>, width: f64, colour: Rgb },
}

impl Occluder {
    /// A random occluder over the face whose landmarks are `lm` (face size `fs` pixels).
    pub fn random(rng: &mut impl Rng, lm: &[[f64; 2]], fs: f64, skin: Rgb) -> Self {
        let at = |rng: &mut dyn rand::RngCore| lm[rng.random_range(0..lm.len())];
        match rng.random_range(0..7) {
            0 | 1 => {
                let c = at(rng);
                Occluder::Hand {
                    centre: [c[0] + gauss(rng, 0.0, 0.1 * fs), c[1] + gauss(rng, 0.0, 0.1 * fs)],
                    size: fs * rng.random_range(0.3..0.55),
                    angle: rng.random_range(0.0..std::f64::consts::TAU),
                    skin: skin.map(|v| (v * rng.random_range(0.85..1.1f32)).clamp(0.0, 1.0)),
                }
            }
            2 => {
                let mean = |r: std::ops::Range<usize>| {
                    let n = r.len() as f64;
                    [
                        r.clone().map(|i| lm[i][0]).sum::<f64>() / n,
                        r.map(|i| lm[i][1]).sum::<f64>() / n,
                    ]
                };
                Occluder::Sunglasses {
                    left: mean(36..42),
                    right: mean(42..48),
                    size: fs * rng.random_range(0.13..0.18),
                    tint: [
                        rng.random_range(0.0..0.2),
                        rng.random_range(0.0..0.2),
                        rng.random_range(0.0..0.2),
                    ],
                }
            }
            3 => {
                let c = at(rng);
                let mut pts = vec![[
                    c[0] + gauss(rng, 0.0, 0.3 * fs),
                    c[1] - rng.random_range(0.2..0.6) * fs,
                ]];
                for _ in 0..3 {
                    let l = *pts.last().expect("non-empty");
                    pts.push([
                        l[0] + gauss(rng, 0.0, 0.15 * fs),
                        l[1] + rng.random_range(0.15..0.35) * fs,
                    ]);
                }
                Occluder::Strand {
                    points: pts,
                    width: fs * rng.random_range(0.02..0.07),
                    colour: [
                        rng.random_range(0.0..0.5),
                        rng.random_range(0.0..0.4),
                        rng.random_range(0.0..0.3),
                    ],
                }
            }
            _ => {
                let c = at(rng);
                Occluder::Object {
                    centre: [c[0] + gauss(rng, 0.0, 0.15 * fs), c[1] + gauss(rng, 0.0, 0.15 * fs)],
                    size: [fs * rng.random_range(0.1..0.4), fs * rng.random_range(0.1..0.5)],
                    angle: rng.random_range(0.0..std::f64::consts::PI),
                    colour: [rng.random(), rng.random(), rng.random()],
                    round: rng.random_bool(0.4),
                }
            }
        }
    }

    /// Draw onto `cv` (part map: [`Part::Occluder`]).
    pub fn draw(&self, cv: &mut Canvas) {
        let part = Some(Part::Occluder);
        match self {
            Occluder::Hand { centre, size, angle, skin } => {
                let (s, c) = angle.sin_cos();
                let at = |x: f64, y: f64| {
                    [centre[0] + (x * c - y * s) * size, centre[1] + (x * s + y * c) * size]
                };
                let palm: Vec<[f64; 2]> = (0..12)
                    .map(|k| {
                        let t = k as f64 / 12.0 * std::f64::consts::TAU;
                        at(0.42 * t.cos(), 0.36 * t.sin() + 0.25)
                    })
                    .collect();
                let paint = linear(
                    at(0.0, -0.6),
                    color(shade(*skin, 1.05), 1.0),
                    at(0.0, 0.6),
                    color(shade(*skin, 0.8), 1.0),
                );
                if let Some(path) = closed_loop(&palm) {
                    cv.fill(&path, &paint, part, None);
                }
                for (k, len) in [0.55, 0.7, 0.65, 0.5].iter().enumerate() {
                    let x = -0.3 + 0.2 * k as f64;
                    let mut pb = PathBuilder::new();
                    let a = super::canvas::pt(at(x, 0.1));
                    let b = super::canvas::pt(at(x * 1.15, 0.1 - len));
                    pb.move_to(a.x, a.y);
                    pb.line_to(b.x, b.y);
                    if let Some(path) = pb.finish() {
                        cv.stroke(&path, &paint, &stroke(0.17 * size), part, None);
                        cv.stroke(
                            &path,
                            &solid(shade(*skin, 0.6), 0.25),
                            &stroke(0.02 * size),
                            None,
                            None,
                        );
                    }
                }
            }
            Occluder::Sunglasses { left, right, size, tint } => {
                let ang = (right[1] - left[1]).atan2(right[0] - left[0]);
                for e in [left, right] {
                    if let Some(path) = ellipse(*e, size * 1.2, size * 0.85, ang) {
                        let hl = shade(*tint, 2.5);
                        cv.fill(
                            &path,
                            &linear(
                                [e[0], e[1] - size],
                                color(hl, 0.97),
                                [e[0], e[1] + size],
                                color(*tint, 0.97),
                            ),
                            part,
                            None,
                        );
                    }
                }
                let mut pb = PathBuilder::new();
                let (a, b) = (super::canvas::pt(*left), super::canvas::pt(*right));
                pb.move_to(a.x, a.y);
                pb.line_to(b.x, b.y);
                if let Some(path) = pb.finish() {
                    cv.stroke(&path, &solid(*tint, 1.0), &stroke(size * 0.2), part, None);
                }
            }
            Occluder::Object { centre, size, angle, colour, round } => {
                let path = if *round {
                    ellipse(*centre, size[0], size[1], *angle)
                } else {
                    let (s, c) = angle.sin_cos();
                    let pts: Vec<[f64; 2]> = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                        .iter()
                        .map(|&(x, y)| {
                            let (x, y) = (x * size[0], y * size[1]);
                            [centre[0] + x * c - y * s, centre[1] + x * s + y * c]
                        })
                        .collect();
                    polygon(&pts)
                };
                if let Some(path) = path {
                    let a = [centre[0] - size[0], centre[1]];
                    let b = [centre[0] + size[0], centre[1]];
                    cv.fill(
                        &path,
                        &linear(
                            a,
                            color(shade(*colour, 1.2), 1.0),
                            b,
                            color(shade(*colour, 0.7), 1.0),
                        ),
                        part,
                        None,
                    );
                }
            }
            Occluder::Strand { points, width, colour } => {
                if let Some(path) = super::canvas::open_curve(points) {
                    cv.stroke(&path, &solid(*colour, 0.95), &stroke(*width), part, None);
                }
            }
        }
    }
}

/// Photometric degradations applied to the finished picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Photo {
    /// Gaussian blur sigma, pixels (0 = none).
    pub blur: f32,
    /// Gaussian sensor noise, standard deviation in 0..255 units (0 = none).
    pub noise: f32,
    /// Multiplies each channel (white balance).
    pub gain: [f32; 3],
    /// Contrast around mid grey (1 = unchanged).
    pub contrast: f32,
    /// Gamma applied after the gain (1 = unchanged).
    pub gamma: f32,
    /// Seed for the noise pattern.
    pub noise_seed: u64,
}

impl Photo {
    /// No change at all.
    pub fn none() -> Self {
        Self { blur: 0.0, noise: 0.0, gain: [1.0; 3], contrast: 1.0, gamma: 1.0, noise_seed: 0 }
    }

    /// Random camera conditions; `hard` makes blur and noise likelier and stronger.
    pub fn random(rng: &mut impl Rng, hard: bool) -> Self {
        let blur_p = if hard { 0.55 } else { 0.3 };
        let blur = if rng.random_bool(blur_p) {
            rng.random_range(0.5..if hard { 3.0 } else { 1.8 })
        } else {
            0.0
        };
        let noise = if rng.random_bool(0.6) {
            rng.random_range(1.0..if hard { 14.0 } else { 7.0 })
        } else {
            0.0
        };
        let exposure = rng.random_range(0.75..1.2f32);
        Self {
            blur,
            noise,
            gain: [0, 1, 2].map(|_| exposure * rng.random_range(0.9..1.1f32)),
            contrast: rng.random_range(0.75..1.15),
            gamma: rng.random_range(0.8..1.25),
            noise_seed: rng.random(),
        }
    }

    /// Apply to `img` in place.
    pub fn apply(&self, img: &mut RgbImage) {
        if self.gain != [1.0; 3] || self.contrast != 1.0 || self.gamma != 1.0 {
            let mut lut = [[0u8; 256]; 3];
            for (ch, table) in lut.iter_mut().enumerate() {
                for (v, out) in table.iter_mut().enumerate() {
                    let x = (v as f32 / 255.0 * self.gain[ch]).clamp(0.0, 1.0).powf(self.gamma);
                    let x = ((x - 0.5) * self.contrast + 0.5).clamp(0.0, 1.0);
                    *out = (x * 255.0).round() as u8;
                }
            }
            for px in img.pixels_mut() {
                for ch in 0..3 {
                    px.0[ch] = lut[ch][px.0[ch] as usize];
                }
            }
        }
        if self.blur > 0.0 {
            *img = image::imageops::blur(img, self.blur);
        }
        if self.noise > 0.0 {
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.noise_seed);
            // A fixed table of normal deviates, indexed at random, keeps this cheap.
            let table: Vec<f32> =
                (0..4096).map(|_| gauss(&mut rng, 0.0, 1.0) as f32 * self.noise).collect();
            for px in img.pixels_mut() {
                let r: u64 = rng.random();
                let shared = table[(r & 4095) as usize] * 0.6;
                for ch in 0..3 {
                    let d = shared + table[((r >> (12 + 12 * ch)) & 4095) as usize] * 0.5;
                    px.0[ch] = (px.0[ch] as f32 + d).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// Convert a tiny-skia picture (opaque) to an RGB image.
pub fn to_rgb(pm: &tiny_skia::Pixmap) -> RgbImage {
    let mut img = RgbImage::new(pm.width(), pm.height());
    for (dst, src) in img.pixels_mut().zip(pm.pixels()) {
        let c = src.demultiply();
        dst.0 = [c.red(), c.green(), c.blue()];
    }
    img
}

/// Encode as JPEG of `quality` (1–100).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode_image(img)
        .context("JPEG encoding failed")?;
    Ok(buf)
}

/// Encode as PNG (fast compression; the output is still deterministic).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut buf = Vec::new();
    PngEncoder::new_with_quality(&mut buf, CompressionType::Fast, FilterType::Sub)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .context("PNG encoding failed")?;
    Ok(buf)
}

/// Round-trip through JPEG of `quality` to get its artefacts into a picture saved otherwise.
pub fn jpeg_artefacts(img: &RgbImage, quality: u8) -> Result<RgbImage> {
    let bytes = encode_jpeg(img, quality)?;
    Ok(image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .context("JPEG decoding failed")?
        .to_rgb8())
}
