//! Landmarks drawn on a frame: antialiased contour polylines of the 68-point layout (jaw, brows,
//! nose, eyes, lips) and a dot per point, the face box, and a legend naming each colour.
use crate::plot::canvas::text;
use image::RgbImage;
use tiny_skia::{Color, LineCap, Paint, PathBuilder, Pixmap, Stroke, Transform};

/// The 68-point contours (iBUG 300-W order, 0-based): index range and whether it closes.
pub const CONTOURS_68: [(usize, usize, bool); 9] = [
    (0, 16, false),  // jaw
    (17, 21, false), // right brow
    (22, 26, false), // left brow
    (27, 30, false), // nose bridge
    (31, 35, false), // nose base
    (36, 41, true),  // right eye
    (42, 47, true),  // left eye
    (48, 59, true),  // outer lips
    (60, 67, true),  // inner lips
];

/// Colours of the roles: teacher, student.
pub const TEACHER: [u8; 3] = [40, 220, 90];
pub const STUDENT: [u8; 3] = [255, 80, 200];

/// One face to draw: its points (frame pixels, 0-based pixel centres), its box, its colour.
pub struct Layer<'a> {
    pub points: &'a [[f64; 2]],
    pub bbox: Option<[f64; 4]>,
    pub colour: [u8; 3],
}

fn paint(c: [u8; 3], alpha: u8) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(Color::from_rgba8(c[0], c[1], c[2], alpha));
    p.anti_alias = true;
    p
}

/// Draw `layers` on `img`, then the `legend` (label, colour) in the top-left corner. Line
/// widths scale with the face so a small face stays readable and a large one uncluttered.
pub fn draw(img: &mut RgbImage, layers: &[Layer], legend: &[(&str, [u8; 3])]) {
    let (w, h) = img.dimensions();
    let Some(mut pm) = Pixmap::new(w, h) else { return };
    for (dst, src) in pm.data_mut().chunks_exact_mut(4).zip(img.as_raw().chunks_exact(3)) {
        dst.copy_from_slice(&[src[0], src[1], src[2], 255]);
    }
    for l in layers {
        let face = crate::demo::follow::box_of(l.points).map_or(100.0, crate::demo::follow::size);
        let line = (face / 150.0).clamp(1.0, 4.0) as f32;
        let at = |i: usize| (l.points[i][0] as f32 + 0.5, l.points[i][1] as f32 + 0.5);
        let stroke = Stroke { width: line, line_cap: LineCap::Round, ..Stroke::default() };
        if l.points.len() == 68 {
            let mut pb = PathBuilder::new();
            for &(a, b, closed) in &CONTOURS_68 {
                let (x, y) = at(a);
                pb.move_to(x, y);
                for i in a + 1..=b {
                    let (x, y) = at(i);
                    pb.line_to(x, y);
                }
                if closed {
                    pb.close();
                }
            }
            if let Some(path) = pb.finish() {
                pm.stroke_path(&path, &paint(l.colour, 160), &stroke, Transform::identity(), None);
            }
        }
        let mut dots = PathBuilder::new();
        for i in 0..l.points.len() {
            let (x, y) = at(i);
            if x.is_finite() && y.is_finite() {
                dots.push_circle(x, y, line * 1.2);
            }
        }
        if let Some(path) = dots.finish() {
            pm.fill_path(
                &path,
                &paint(l.colour, 255),
                tiny_skia::FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
        if let Some(b) = l.bbox {
            if let Some(rect) =
                tiny_skia::Rect::from_ltrb(b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32)
            {
                let path = PathBuilder::from_rect(rect);
                let thin = Stroke { width: (line * 0.75).max(1.0), ..Stroke::default() };
                pm.stroke_path(&path, &paint(l.colour, 200), &thin, Transform::identity(), None);
            }
        }
    }
    for (dst, src) in img.chunks_exact_mut(3).zip(pm.data().chunks_exact(4)) {
        dst.copy_from_slice(&src[..3]);
    }
    let scale = if h >= 480 { 2 } else { 1 };
    for (k, (label, colour)) in legend.iter().enumerate() {
        let y = 4 + k as i64 * 10 * scale;
        for dy in 0..8 * scale {
            for dx in 0..8 * scale {
                crate::plot::canvas::put(img, 4 + dx, y + dy, *colour);
            }
        }
        // A dark shadow under the label keeps it readable on any background.
        text(img, label, 4 + 11 * scale, y + 1, scale, [0, 0, 0]);
        text(img, label, 3 + 11 * scale, y, scale, *colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contours_cover_every_point_once() {
        let mut seen = [0; 68];
        for &(a, b, _) in &CONTOURS_68 {
            for s in &mut seen[a..=b] {
                *s += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }

    #[test]
    fn points_and_box_land_where_they_are() {
        let mut img = RgbImage::new(100, 80);
        let pts: Vec<[f64; 2]> =
            (0..68).map(|i| [20.0 + (i % 10) as f64 * 6.0, 20.0 + (i / 10) as f64 * 6.0]).collect();
        draw(
            &mut img,
            &[Layer { points: &pts, bbox: Some([10.0, 10.0, 90.0, 70.0]), colour: STUDENT }],
            &[],
        );
        // A dot's centre pixel is the layer colour; far from every mark the frame is untouched.
        assert_eq!(img.get_pixel(20, 20).0, STUDENT);
        assert_eq!(img.get_pixel(95, 75).0, [0, 0, 0]);
        // The box's left edge.
        assert_ne!(img.get_pixel(10, 40).0, [0, 0, 0]);
    }
}
