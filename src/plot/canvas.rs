//! Drawing shared by every PNG tsal writes (`ced.png`, `curves.png`, the demo's legend): one
//! palette, one font (the public-domain 8×8 bitmap font of the `font8x8` crate, so no font
//! file ships), antialiased strokes through tiny-skia, and the atomic PNG write.
use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;
use tiny_skia::Transform;
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Stroke, StrokeDash};

/// The colour-blind-safe Okabe–Ito colours (CED curves and training curves start with them).
pub const OKABE_ITO: [[u8; 3]; 6] =
    [[0, 114, 178], [213, 94, 0], [0, 158, 115], [204, 121, 167], [230, 159, 0], [86, 180, 233]];

pub fn paint(c: [u8; 3]) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c[0], c[1], c[2], 255);
    p.anti_alias = true;
    p
}

/// A polyline through `pts`, `dash` = pixels on, off, … (empty: solid).
pub fn stroke(pm: &mut Pixmap, pts: &[(f32, f32)], c: [u8; 3], width: f32, dash: &[f32]) {
    let mut pb = PathBuilder::new();
    pb.move_to(pts[0].0, pts[0].1);
    for p in &pts[1..] {
        pb.line_to(p.0, p.1);
    }
    if let Some(path) = pb.finish() {
        let st = Stroke {
            width,
            line_cap: LineCap::Butt,
            line_join: LineJoin::Round,
            dash: if dash.is_empty() { None } else { StrokeDash::new(dash.to_vec(), 0.0) },
            ..Stroke::default()
        };
        pm.stroke_path(&path, &paint(c), &st, Transform::identity(), None);
    }
}

/// A filled disc of radius `r` at `(x, y)`.
pub fn dot(pm: &mut Pixmap, x: f32, y: f32, r: f32, c: [u8; 3]) {
    if let Some(path) = PathBuilder::from_circle(x, y, r) {
        pm.fill_path(&path, &paint(c), FillRule::Winding, Transform::identity(), None);
    }
}

/// The pixmap's pixels as an RGB image (the background is opaque white).
pub fn to_rgb(pm: &Pixmap) -> RgbImage {
    RgbImage::from_fn(pm.width(), pm.height(), |x, y| {
        let p = pm.pixel(x, y).expect("inside the pixmap");
        Rgb([p.red(), p.green(), p.blue()])
    })
}

/// One pixel, if inside the image.
pub fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

/// ASCII `s` in the 8×8 font at `(x, y)` (top left), each font pixel `scale`² pixels.
pub fn text(img: &mut RgbImage, s: &str, x: i64, y: i64, scale: i64, c: [u8; 3]) {
    for (i, ch) in s.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY[(ch as usize).min(127)];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                // Bit 0 is the leftmost pixel.
                if bits >> col & 1 == 1 {
                    for sy in 0..scale {
                        for sx in 0..scale {
                            let gx = x + (i as i64 * 8 + col) * scale + sx;
                            put(img, gx, y + row as i64 * scale + sy, c);
                        }
                    }
                }
            }
        }
    }
}

/// Encode `img` as PNG and write it to `path` atomically.
pub fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    crate::fsutil::write_atomic(path, &bytes)
}
