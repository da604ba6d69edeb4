//! A drawing surface that optionally keeps, beside the picture, a per-pixel map of which face
//! part was drawn last at each pixel (for checking that annotations sit on rendered features).
//!
//! Coordinates are landmark coordinates: pixel `(i, j)` has its centre at `(i, j)`, as in the
//! `.pts` files; the half-pixel shift to tiny-skia's corner-based raster happens here.
use tiny_skia::{
    Color, FillRule, GradientStop, LineCap, LineJoin, Mask, Paint, Path, PathBuilder, Pixmap,
    Point, Shader, SpreadMode, Stroke, Transform,
};

/// What a pixel shows, as written in the part map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Part {
    Background = 0,
    Body = 1,
    Neck = 2,
    Hair = 3,
    Skin = 4,
    Brow = 5,
    EyeWhite = 6,
    Iris = 7,
    Lid = 8,
    Nose = 9,
    Lips = 10,
    MouthInside = 11,
    Occluder = 12,
}

impl Part {
    pub const ALL: [Part; 13] = [
        Part::Background,
        Part::Body,
        Part::Neck,
        Part::Hair,
        Part::Skin,
        Part::Brow,
        Part::EyeWhite,
        Part::Iris,
        Part::Lid,
        Part::Nose,
        Part::Lips,
        Part::MouthInside,
        Part::Occluder,
    ];

    pub fn from_u8(v: u8) -> Option<Part> {
        Part::ALL.get(v as usize).copied()
    }

    /// Inside the face outline (the region bounded by the jaw contour and the crown).
    pub fn is_face(self) -> bool {
        matches!(
            self,
            Part::Skin
                | Part::Brow
                | Part::EyeWhite
                | Part::Iris
                | Part::Lid
                | Part::Nose
                | Part::Lips
                | Part::MouthInside
        )
    }

    /// Part of a drawn eye.
    pub fn is_eye(self) -> bool {
        matches!(self, Part::EyeWhite | Part::Iris | Part::Lid)
    }
}

/// Linear RGB-ish colour with components in 0..1 (sRGB values, no gamma handling).
pub type Rgb = [f32; 3];

/// Scale a colour's brightness.
pub fn shade(c: Rgb, k: f32) -> Rgb {
    c.map(|v| (v * k).clamp(0.0, 1.0))
}

/// Mix two colours, `t` = 0 gives `a`.
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

pub fn color(c: Rgb, alpha: f32) -> Color {
    Color::from_rgba(
        c[0].clamp(0.0, 1.0),
        c[1].clamp(0.0, 1.0),
        c[2].clamp(0.0, 1.0),
        alpha.clamp(0.0, 1.0),
    )
    .unwrap_or(Color::BLACK)
}

/// Point in landmark coordinates to tiny-skia's raster coordinates.
pub fn pt(p: [f64; 2]) -> Point {
    Point::from_xy((p[0] + 0.5) as f32, (p[1] + 0.5) as f32)
}

/// Solid paint.
pub fn solid(c: Rgb, alpha: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(color(c, alpha));
    p.anti_alias = true;
    p
}

/// Linear gradient paint from `a` (colour `ca`) to `b` (colour `cb`), solid fallback.
pub fn linear(a: [f64; 2], ca: Color, b: [f64; 2], cb: Color) -> Paint<'static> {
    let shader = tiny_skia::LinearGradient::new(
        pt(a),
        pt(b),
        vec![GradientStop::new(0.0, ca), GradientStop::new(1.0, cb)],
        SpreadMode::Pad,
        Transform::identity(),
    )
    .unwrap_or(Shader::SolidColor(ca));
    Paint { shader, anti_alias: true, ..Paint::default() }
}

/// Radial gradient paint centred at `c` of radius `r`, `ci` at the centre to `co` at the rim.
pub fn radial(c: [f64; 2], r: f64, ci: Color, co: Color) -> Paint<'static> {
    let shader = tiny_skia::RadialGradient::new(
        pt(c),
        pt(c),
        r.max(0.5) as f32,
        vec![GradientStop::new(0.0, ci), GradientStop::new(1.0, co)],
        SpreadMode::Pad,
        Transform::identity(),
    )
    .unwrap_or(Shader::SolidColor(co));
    Paint { shader, anti_alias: true, ..Paint::default() }
}

/// Stroke style of width `w` pixels with round ends.
pub fn stroke(w: f64) -> Stroke {
    Stroke {
        width: w.max(0.3) as f32,
        line_cap: LineCap::Round,
        line_join: LineJoin::Round,
        ..Stroke::default()
    }
}

/// A clip region: antialiased for the picture, hard-edged for the part map.
pub struct Clip {
    soft: Mask,
    hard: Option<Mask>,
}

/// The picture and, when asked for, the part map.
pub struct Canvas {
    pub pixmap: Pixmap,
    pub parts: Option<Pixmap>,
}

impl Canvas {
    /// A canvas showing `background` (copied), with a part map when `with_parts`.
    pub fn new(background: &Pixmap, with_parts: bool) -> Self {
        let parts = with_parts.then(|| {
            let mut p = Pixmap::new(background.width(), background.height()).expect("size checked");
            p.fill(Color::from_rgba8(Part::Background as u8, 0, 0, 255));
            p
        });
        Self { pixmap: background.clone(), parts }
    }

    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    fn part_paint(part: Part) -> Paint<'static> {
        let mut p = Paint::default();
        p.set_color(Color::from_rgba8(part as u8, 0, 0, 255));
        p.anti_alias = false;
        p
    }

    /// Fill `path`; `part` (if any) is recorded in the part map.
    pub fn fill(&mut self, path: &Path, paint: &Paint, part: Option<Part>, clip: Option<&Clip>) {
        let id = Transform::identity();
        self.pixmap.fill_path(path, paint, FillRule::Winding, id, clip.map(|c| &c.soft));
        if let (Some(parts), Some(part)) = (self.parts.as_mut(), part) {
            let hard = clip.and_then(|c| c.hard.as_ref());
            parts.fill_path(path, &Self::part_paint(part), FillRule::Winding, id, hard);
        }
    }

    /// Stroke `path`; in the part map the stroke is at least 1.5 px wide.
    pub fn stroke(
        &mut self,
        path: &Path,
        paint: &Paint,
        st: &Stroke,
        part: Option<Part>,
        clip: Option<&Clip>,
    ) {
        let id = Transform::identity();
        self.pixmap.stroke_path(path, paint, st, id, clip.map(|c| &c.soft));
        if let (Some(parts), Some(part)) = (self.parts.as_mut(), part) {
            let mut hs = st.clone();
            hs.width = hs.width.max(1.5);
            let hard = clip.and_then(|c| c.hard.as_ref());
            parts.stroke_path(path, &Self::part_paint(part), &hs, id, hard);
        }
    }

    /// A clip region for later draws.
    pub fn clip(&self, path: &Path) -> Clip {
        let (w, h) = (self.width(), self.height());
        let mut soft = Mask::new(w, h).expect("size checked");
        soft.fill_path(path, FillRule::Winding, true, Transform::identity());
        let hard = self.parts.as_ref().map(|_| {
            let mut m = Mask::new(w, h).expect("size checked");
            m.fill_path(path, FillRule::Winding, false, Transform::identity());
            m
        });
        Clip { soft, hard }
    }
}

/// Append a smooth curve (Catmull–Rom, through every point) from the current point `pts[0]`
/// to `pts[last]`. End tangents are taken from the neighbouring points.
pub fn spline_to(pb: &mut PathBuilder, pts: &[[f64; 2]]) {
    let n = pts.len();
    if n < 2 {
        return;
    }
    let get = |i: isize| -> [f64; 2] {
        if i < 0 {
            let (a, b) = (pts[0], pts[1]);
            [2.0 * a[0] - b[0], 2.0 * a[1] - b[1]]
        } else if i as usize >= n {
            let (a, b) = (pts[n - 1], pts[n - 2]);
            [2.0 * a[0] - b[0], 2.0 * a[1] - b[1]]
        } else {
            pts[i as usize]
        }
    };
    for i in 0..n - 1 {
        let (p0, p1, p2, p3) = (get(i as isize - 1), pts[i], pts[i + 1], get(i as isize + 2));
        let c1 = [p1[0] + (p2[0] - p0[0]) / 6.0, p1[1] + (p2[1] - p0[1]) / 6.0];
        let c2 = [p2[0] - (p3[0] - p1[0]) / 6.0, p2[1] - (p3[1] - p1[1]) / 6.0];
        let (c1, c2, e) = (pt(c1), pt(c2), pt(p2));
        pb.cubic_to(c1.x, c1.y, c2.x, c2.y, e.x, e.y);
    }
}

/// An open smooth curve through `pts`.
pub fn open_curve(pts: &[[f64; 2]]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let s = pt(*pts.first()?);
    pb.move_to(s.x, s.y);
    spline_to(&mut pb, pts);
    pb.finish()
}

/// A closed shape made of smooth pieces joined at corners: each piece starts where the
/// previous one ended (`pieces[k][0]` == last point of `pieces[k-1]`).
pub fn closed_pieces(pieces: &[&[[f64; 2]]]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let s = pt(*pieces.first()?.first()?);
    pb.move_to(s.x, s.y);
    for piece in pieces {
        spline_to(&mut pb, piece);
    }
    pb.close();
    pb.finish()
}

/// A closed smooth loop through `pts` (no corners).
pub fn closed_loop(pts: &[[f64; 2]]) -> Option<Path> {
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let mut pb = PathBuilder::new();
    let s = pt(pts[0]);
    pb.move_to(s.x, s.y);
    for i in 0..n {
        let (p0, p1, p2, p3) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]);
        let c1 = [p1[0] + (p2[0] - p0[0]) / 6.0, p1[1] + (p2[1] - p0[1]) / 6.0];
        let c2 = [p2[0] - (p3[0] - p1[0]) / 6.0, p2[1] - (p3[1] - p1[1]) / 6.0];
        let (c1, c2, e) = (pt(c1), pt(c2), pt(p2));
        pb.cubic_to(c1.x, c1.y, c2.x, c2.y, e.x, e.y);
    }
    pb.close();
    pb.finish()
}

/// A straight-edged polygon.
pub fn polygon(pts: &[[f64; 2]]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let s = pt(*pts.first()?);
    pb.move_to(s.x, s.y);
    for p in &pts[1..] {
        let q = pt(*p);
        pb.line_to(q.x, q.y);
    }
    pb.close();
    pb.finish()
}

/// An ellipse centred at `c` with semi-axes `a` (along angle `angle`) and `b`.
pub fn ellipse(c: [f64; 2], a: f64, b: f64, angle: f64) -> Option<Path> {
    let (s, co) = angle.sin_cos();
    let pts: Vec<[f64; 2]> = (0..16)
        .map(|k| {
            let t = k as f64 / 16.0 * std::f64::consts::TAU;
            let (x, y) = (a * t.cos(), b * t.sin());
            [c[0] + x * co - y * s, c[1] + x * s + y * co]
        })
        .collect();
    closed_loop(&pts)
}
