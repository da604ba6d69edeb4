//! Cluttered, textured backgrounds: a lit gradient, blotchy low-frequency colour, fine grain
//! and a pile of random shapes (walls, windows, objects, cables).
use super::canvas::{color, ellipse, linear, polygon, solid, stroke, Rgb};
use anyhow::{Context, Result};
use rand::Rng;
use tiny_skia::{FilterQuality, Paint, PathBuilder, Pattern, Pixmap, Rect, SpreadMode, Transform};

fn random_rgb(rng: &mut impl Rng) -> Rgb {
    [rng.random(), rng.random(), rng.random()]
}

/// A small pixmap of random colours, drawn scaled up as a texture.
fn noise_tile(
    rng: &mut impl Rng,
    w: u32,
    h: u32,
    base: Rgb,
    spread: f32,
    alpha: f32,
) -> Option<Pixmap> {
    let mut tile = Pixmap::new(w, h)?;
    for px in tile.pixels_mut() {
        let c = base.map(|v| (v + rng.random_range(-spread..=spread)).clamp(0.0, 1.0));
        *px = color(c, alpha).premultiply().to_color_u8();
    }
    Some(tile)
}

fn draw_tile(target: &mut Pixmap, tile: &Pixmap, cell: f32, quality: FilterQuality) {
    let paint = Paint {
        shader: Pattern::new(
            tile.as_ref(),
            SpreadMode::Repeat,
            quality,
            1.0,
            Transform::from_scale(cell, cell),
        ),
        ..Paint::default()
    };
    if let Some(r) = Rect::from_xywh(0.0, 0.0, target.width() as f32, target.height() as f32) {
        target.fill_rect(r, &paint, Transform::identity(), None);
    }
}

/// A `width` × `height` background: a gradient between two related colours, smooth blotches,
/// clutter (boxes, ellipses, cables, stripes, textured patches) and a fine grain.
pub fn background(rng: &mut impl Rng, width: u32, height: u32) -> Result<Pixmap> {
    let mut pm = Pixmap::new(width, height)
        .with_context(|| format!("cannot allocate a {width}x{height} image"))?;
    let (w, h) = (width as f64, height as f64);
    // Base: a gradient between two related colours.
    let c1 = random_rgb(rng);
    let c2 = c1.map(|v| (v + rng.random_range(-0.35..0.35f32)).clamp(0.0, 1.0));
    let a: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let (s, c) = a.sin_cos();
    let r = 0.6 * w.max(h);
    let mid = [w / 2.0, h / 2.0];
    let paint = linear(
        [mid[0] - c * r, mid[1] - s * r],
        color(c1, 1.0),
        [mid[0] + c * r, mid[1] + s * r],
        color(c2, 1.0),
    );
    if let Some(rect) = Rect::from_xywh(0.0, 0.0, width as f32, height as f32) {
        pm.fill_rect(rect, &paint, Transform::identity(), None);
    }
    // Blotches: coarse random colours, smoothly interpolated.
    let cells = rng.random_range(4..14u32);
    let cell = (w.max(h) / cells as f64) as f32;
    let tw = (width as f32 / cell).ceil() as u32 + 1;
    let th = (height as f32 / cell).ceil() as u32 + 1;
    let alpha = rng.random_range(0.2..0.5);
    if let Some(tile) = noise_tile(rng, tw, th, mix3(c1, c2), 0.3, alpha) {
        draw_tile(&mut pm, &tile, cell, FilterQuality::Bicubic);
    }
    let n = rng.random_range(8..30);
    for _ in 0..n {
        clutter(&mut pm, rng);
    }
    // Fine grain over everything.
    let alpha = rng.random_range(0.03..0.12);
    if let Some(tile) = noise_tile(rng, 64, 64, [0.5, 0.5, 0.5], 0.5, alpha) {
        let cellsz = rng.random_range(1.0..3.0f32);
        draw_tile(&mut pm, &tile, cellsz, FilterQuality::Bilinear);
    }
    Ok(pm)
}

/// Where one piece of clutter goes: its colour and opacity, centre and size in pixels.
struct Spot {
    col: Rgb,
    alpha: f32,
    cx: f64,
    cy: f64,
    size: f64,
}

/// One piece of clutter at a random spot.
fn clutter(pm: &mut Pixmap, rng: &mut impl Rng) {
    let (w, h) = (pm.width() as f64, pm.height() as f64);
    let col = random_rgb(rng);
    let alpha = if rng.random_bool(0.7) { 1.0 } else { rng.random_range(0.3..0.8) };
    let cx = rng.random_range(-0.1..1.1) * w;
    let cy = rng.random_range(-0.1..1.1) * h;
    let size = rng.random_range(0.03..0.45) * w.max(h);
    let at = Spot { col, alpha, cx, cy, size };
    match rng.random_range(0..6) {
        0 | 1 => rotated_box(pm, rng, &at),
        2 => ellipse_blob(pm, rng, &at),
        3 => cable(pm, rng, &at),
        4 => stripes(pm, rng, &at),
        _ => textured_patch(pm, rng, &at),
    }
}

/// A rotated box (furniture, frames, walls), sometimes shaded.
fn rotated_box(pm: &mut Pixmap, rng: &mut impl Rng, at: &Spot) {
    let Spot { col, alpha, cx, cy, size } = *at;
    let ang: f64 = if rng.random_bool(0.6) { 0.0 } else { rng.random_range(-0.6..0.6) };
    let (hw, hh) = (size * rng.random_range(0.3..1.0), size * rng.random_range(0.3..1.0));
    let (s, c) = ang.sin_cos();
    let corners: Vec<[f64; 2]> = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        .iter()
        .map(|&(x, y)| [cx + x * c - y * s, cy + x * s + y * c])
        .collect();
    if let Some(path) = polygon(&corners) {
        let paint = if rng.random_bool(0.5) {
            let dark = col.map(|v| v * 0.6);
            linear(corners[0], color(col, alpha), corners[2], color(dark, alpha))
        } else {
            solid(col, alpha)
        };
        pm.fill_path(&path, &paint, tiny_skia::FillRule::Winding, Transform::identity(), None);
    }
}

fn ellipse_blob(pm: &mut Pixmap, rng: &mut impl Rng, at: &Spot) {
    let Spot { col, alpha, cx, cy, size } = *at;
    let ang = rng.random_range(0.0..std::f64::consts::PI);
    if let Some(path) = ellipse([cx, cy], size * 0.5, size * rng.random_range(0.2..0.5), ang) {
        pm.fill_path(
            &path,
            &solid(col, alpha),
            tiny_skia::FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
}

/// Cables and edges.
fn cable(pm: &mut Pixmap, rng: &mut impl Rng, at: &Spot) {
    let Spot { col, alpha, cx, cy, .. } = *at;
    let (w, h) = (pm.width() as f64, pm.height() as f64);
    let mut pb = PathBuilder::new();
    pb.move_to(cx as f32, cy as f32);
    for _ in 0..rng.random_range(1..4) {
        pb.quad_to(
            rng.random_range(0.0..w) as f32,
            rng.random_range(0.0..h) as f32,
            rng.random_range(0.0..w) as f32,
            rng.random_range(0.0..h) as f32,
        );
    }
    if let Some(path) = pb.finish() {
        let st = stroke(rng.random_range(1.0..0.03 * w.max(h) + 2.0));
        pm.stroke_path(&path, &solid(col, alpha), &st, Transform::identity(), None);
    }
}

/// Stripes (blinds, shelves, text-like rows).
fn stripes(pm: &mut Pixmap, rng: &mut impl Rng, at: &Spot) {
    let Spot { col, alpha, cx, cy, size } = *at;
    let n = rng.random_range(3..12);
    let gap = size / n as f64;
    let vertical = rng.random_bool(0.5);
    for k in 0..n {
        let off = k as f64 * gap;
        let (x, y, ww, hh) = if vertical {
            (cx + off, cy, gap * 0.5, size)
        } else {
            (cx, cy + off, size, gap * 0.5)
        };
        if let Some(r) = Rect::from_xywh(x as f32, y as f32, ww as f32, hh as f32) {
            pm.fill_rect(r, &solid(col, alpha), Transform::identity(), None);
        }
    }
}

/// A textured patch.
fn textured_patch(pm: &mut Pixmap, rng: &mut impl Rng, at: &Spot) {
    let Spot { col, alpha, cx, cy, size } = *at;
    let ts = rng.random_range(4..20);
    if let (Some(tile), Some(r)) = (
        noise_tile(rng, ts, ts, col, 0.25, alpha),
        Rect::from_xywh(
            (cx - size / 2.0) as f32,
            (cy - size / 2.0) as f32,
            size as f32,
            size as f32,
        ),
    ) {
        let cellsz = rng.random_range(2.0..8.0f32);
        let q = if rng.random_bool(0.5) { FilterQuality::Nearest } else { FilterQuality::Bilinear };
        let paint = Paint {
            shader: Pattern::new(
                tile.as_ref(),
                SpreadMode::Repeat,
                q,
                1.0,
                Transform::from_scale(cellsz, cellsz),
            ),
            ..Paint::default()
        };
        pm.fill_rect(r, &paint, Transform::identity(), None);
    }
}

fn mix3(a: Rgb, b: Rgb) -> Rgb {
    [0, 1, 2].map(|i| (a[i] + b[i]) / 2.0)
}
