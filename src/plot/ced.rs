//! `ced.png`: cumulative error distributions, one curve per list (and per benchmark
//! aggregate), x = NME in % under the named normaliser from 0 to the largest threshold, y =
//! fraction of faces at or below it.
use super::canvas::{put, stroke, text, to_rgb, OKABE_ITO};
use anyhow::{Context, Result};
use image::RgbImage;
use tiny_skia::{Color, Pixmap};

/// Curve colours: Okabe–Ito, then black, cycled.
const COLOURS: [[u8; 3]; 7] =
    [OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[3], OKABE_ITO[4], OKABE_ITO[5], [0, 0, 0]];

const W: u32 = 900;
const H: u32 = 600;
const LEFT: f32 = 80.0;
const RIGHT: f32 = 40.0;
const TOP: f32 = 50.0;
const BOTTOM: f32 = 70.0;

/// One curve: a label and its steps `[error, fraction of faces ≤ error]` in increasing error
/// (`eval::curves::ced` of the faces' errors, as fractions).
pub struct Curve {
    pub label: String,
    pub steps: Vec<[f64; 2]>,
}

/// Draw the CED of every curve up to `x_max` (a fraction, e.g. 0.10) with the normaliser named
/// on the x axis.
pub fn ced_png(curves: &[Curve], normaliser: &str, x_max: f64) -> Result<RgbImage> {
    let mut pm = Pixmap::new(W, H).context("cannot allocate the plot")?;
    pm.fill(Color::WHITE);
    let (x0, x1, y0, y1) = (LEFT, W as f32 - RIGHT, H as f32 - BOTTOM, TOP);
    let px = |e: f64| x0 + (x1 - x0) * (e / x_max).clamp(0.0, 1.0) as f32;
    let py = |f: f64| y0 + (y1 - y0) * f.clamp(0.0, 1.0) as f32;
    let line = |pm: &mut Pixmap, pts: &[(f32, f32)], c: [u8; 3], width: f32| {
        stroke(pm, pts, c, width, &[]);
    };
    // Grid every 1 % of NME and every 0.1 of the fraction; the axes box.
    let ticks = (x_max * 100.0).round() as usize;
    for i in 0..=ticks {
        let x = px(i as f64 / 100.0);
        line(&mut pm, &[(x, y0), (x, y1)], [225, 225, 225], 1.0);
    }
    for i in 0..=10 {
        let y = py(i as f64 / 10.0);
        line(&mut pm, &[(x0, y), (x1, y)], [225, 225, 225], 1.0);
    }
    line(&mut pm, &[(x0, y1), (x0, y0), (x1, y0)], [0, 0, 0], 1.5);
    // Curves as steps.
    for (k, c) in curves.iter().enumerate() {
        let mut pts = vec![(px(0.0), py(0.0))];
        let mut last = 0.0;
        for s in &c.steps {
            if s[0] > x_max {
                break;
            }
            pts.push((px(s[0]), py(last)));
            pts.push((px(s[0]), py(s[1])));
            last = s[1];
        }
        pts.push((px(x_max), py(last)));
        line(&mut pm, &pts, COLOURS[k % COLOURS.len()], 2.0);
    }
    let mut img = to_rgb(&pm);
    // Labels.
    let black = [0, 0, 0];
    for i in 0..=ticks {
        let t = format!("{i}");
        let x = px(i as f64 / 100.0) as i64 - 4 * t.len() as i64;
        text(&mut img, &t, x, y0 as i64 + 8, 1, black);
    }
    for i in (0..=10).step_by(2) {
        let t = format!("{:.1}", i as f64 / 10.0);
        text(
            &mut img,
            &t,
            x0 as i64 - 8 * t.len() as i64 - 8,
            py(i as f64 / 10.0) as i64 - 4,
            1,
            black,
        );
    }
    let xl = format!("NME (%), {normaliser}");
    text(&mut img, &xl, (x0 + x1) as i64 / 2 - 4 * xl.len() as i64, y0 as i64 + 32, 1, black);
    text(&mut img, "fraction of faces with NME <= x", x0 as i64, 14, 2, black);
    // Legend, bottom right inside the axes, on a white box with a grey border.
    let labels: Vec<String> = curves
        .iter()
        .map(|c| c.label.chars().filter(|ch| ch.is_ascii()).take(60).collect())
        .collect();
    let n = labels.len() as i64;
    let longest = labels.iter().map(|l| l.len()).max().unwrap_or(0) as i64;
    let (bx0, bx1) = (x1 as i64 - 8 * longest - 52, x1 as i64 - 8);
    let (by0, by1) = (y0 as i64 - 14 * n - 16, y0 as i64 - 8);
    for y in by0..=by1 {
        for x in bx0..=bx1 {
            let edge = y == by0 || y == by1 || x == bx0 || x == bx1;
            put(&mut img, x, y, if edge { [160, 160, 160] } else { [255, 255, 255] });
        }
    }
    for (k, label) in labels.iter().enumerate() {
        let y = by0 + 8 + 14 * k as i64;
        let colour = COLOURS[k % COLOURS.len()];
        for dx in 0..24 {
            for dy in 3..5 {
                put(&mut img, bx0 + 8 + dx, y + dy, colour);
            }
        }
        text(&mut img, label, bx0 + 40, y, 1, black);
    }
    Ok(img)
}
