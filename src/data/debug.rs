//! A picture of a built clip, for eyes: the F augmented frames side by side, de-normalised,
//! with the centre heatmap tinted red, the visible landmarks as green dots, and the landmarks
//! rebuilt from the centroid target (`8·(centre + offset)`) as blue crosses, which should sit
//! on the green dots.
use super::sample::{HostSample, MEAN, STD};
use image::{Rgb, RgbImage};

pub fn render_clip(s: &HostSample, w: u32, h: u32, num_pts: usize) -> RgbImage {
    let (gw, gh) = ((w / 8) as usize, (h / 8) as usize);
    let plane = (w * h) as usize;
    let mut out = RgbImage::new(w * s.frames as u32, h);
    for f in 0..s.frames {
        let img = &s.images[f * 3 * plane..(f + 1) * 3 * plane];
        let heat = &s.centre[f * gw * gh..(f + 1) * gw * gh];
        let ox = f as u32 * w;
        for y in 0..h {
            for x in 0..w {
                let k = (y * w + x) as usize;
                let t = heat[(y as usize / 8) * gw + x as usize / 8];
                let mut c = [0u8; 3];
                for ch in 0..3 {
                    let v = (img[ch * plane + k] * STD[ch] + MEAN[ch]) * 255.0;
                    let tint = if ch == 0 { 255.0 } else { 0.0 };
                    c[ch] = (v * (1.0 - 0.5 * t) + tint * 0.5 * t).round().clamp(0.0, 255.0) as u8;
                }
                out.put_pixel(ox + x, y, Rgb(c));
            }
        }
        let mut dot = |x: f64, y: f64, col: [u8; 3], cross: bool| {
            let (cx, cy) = (x.round() as i64, y.round() as i64);
            for d in -2i64..=2 {
                let pts = if cross {
                    [(cx + d, cy + d), (cx + d, cy - d)]
                } else {
                    [(cx + d, cy), (cx, cy + d)]
                };
                for (px, py) in pts {
                    if px >= 0 && py >= 0 && px < w as i64 && py < h as i64 {
                        out.put_pixel(ox + px as u32, py as u32, Rgb(col));
                    }
                }
            }
        };
        for j in 0..num_pts {
            if s.visible[f * num_pts + j] {
                let (x, y) = (
                    s.points[(f * num_pts + j) * 2] as f64,
                    s.points[(f * num_pts + j) * 2 + 1] as f64,
                );
                dot(x, y, [0, 230, 0], false);
            }
        }
        if s.centre_valid[f] {
            let ind = s.centre_ind[f] as usize;
            let (cx, cy) = ((ind % gw) as f64, (ind / gw) as f64);
            for j in 0..num_pts {
                let o = (f * num_pts + j) * 2;
                if s.offset_mask[o] > 0.0 {
                    dot(
                        8.0 * (cx + s.offsets[o] as f64),
                        8.0 * (cy + s.offsets[o + 1] as f64),
                        [40, 80, 255],
                        true,
                    );
                }
            }
        }
    }
    out
}
