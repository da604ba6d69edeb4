//! One picture: a person placed in front of a background under a camera, with its occluders and
//! photo conditions; rendering it gives the image, its exact landmarks and optionally the
//! part map.
use super::canvas::{Canvas, Part};
use super::degrade::{to_rgb, Occluder, Photo};
use super::render::{FaceDraw, Style};
use super::template::{gauss, Camera, Expression, Identity, Pose, FACE_SPAN};
use crate::formats::pts::Landmarks;
use anyhow::{ensure, Result};
use image::{GrayImage, RgbImage};
use rand::Rng;
use tiny_skia::Pixmap;

/// How hard the random pictures are.
#[derive(Clone, Copy, Debug)]
pub struct Difficulty {
    /// Standard deviation of yaw / pitch / roll, degrees (clamped to ±45 / ±25 / ±30).
    pub pose_sd: [f64; 3],
    /// Probability of at least one occluder.
    pub occlusion: f64,
    /// Stronger blur and noise, lower JPEG quality.
    pub hard: bool,
}

impl Difficulty {
    /// Ordinary 300W-like faces (mostly near-frontal).
    pub const COMMON: Difficulty =
        Difficulty { pose_sd: [18.0, 9.0, 9.0], occlusion: 0.15, hard: false };
    /// The 300W challenge (iBUG) subset: large poses, more occlusion and blur.
    pub const CHALLENGE: Difficulty =
        Difficulty { pose_sd: [32.0, 15.0, 18.0], occlusion: 0.6, hard: true };
}

/// Pose limits, degrees.
pub const MAX_YAW: f64 = 45.0;
pub const MAX_PITCH: f64 = 25.0;
pub const MAX_ROLL: f64 = 30.0;

impl Pose {
    /// A random pose with the given standard deviations (degrees), within the limits.
    pub fn random(rng: &mut impl Rng, sd: [f64; 3]) -> Pose {
        let d = |rng: &mut dyn rand::RngCore, sd: f64, max: f64| {
            gauss(rng, 0.0, sd).clamp(-max, max).to_radians()
        };
        Pose {
            yaw: d(rng, sd[0], MAX_YAW),
            pitch: d(rng, sd[1], MAX_PITCH),
            roll: d(rng, sd[2], MAX_ROLL),
        }
    }
}

/// Everything that decides one picture.
#[derive(Clone, Debug)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub identity: Identity,
    pub style: Style,
    pub expression: Expression,
    pub camera: Camera,
    pub occluders: Vec<Occluder>,
    pub photo: Photo,
}

/// A rendered scene.
pub struct Rendered {
    pub image: RgbImage,
    /// The 68 points, rounded to the 3 decimals a `.pts` file keeps.
    pub landmarks: Landmarks,
    /// [`Part`] per pixel (as `u8`), when asked for.
    pub parts: Option<GrayImage>,
}

/// What to include when rendering.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Draw occluders and apply the photo degradations (blur, noise, colour).
    pub degrade: bool,
    /// Produce the part map.
    pub parts: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { degrade: true, parts: false }
    }
}

/// A camera putting a face of about `face_px` pixels (brow to chin) with `pose` at `centre`.
pub fn camera(centre: [f64; 2], face_px: f64, pose: Pose) -> Camera {
    Camera { center: centre, scale: face_px / FACE_SPAN, distance: 900.0, pose }
}

/// Landmark bounding box of a camera placed at the origin, for placement.
fn extent(id: &Identity, ex: &Expression, cam: &Camera) -> [f64; 4] {
    let p = cam.project2(&super::template::posed_points(id, ex, &cam.pose));
    let lm = Landmarks::all_visible(p);
    lm.bbox().unwrap_or([0.0; 4])
}

impl Scene {
    /// A random still picture of `width` × `height` with a face of `face_px` pixels, placed so
    /// that all landmarks are at least `margin` pixels inside the image.
    pub fn random(
        rng: &mut impl Rng,
        width: u32,
        height: u32,
        face_px: f64,
        diff: &Difficulty,
    ) -> Scene {
        let identity = Identity::random(rng);
        let style = Style::random(rng);
        let expression = Expression::random(rng);
        let pose = Pose::random(rng, diff.pose_sd);
        let mut cam = camera([0.0, 0.0], face_px, pose);
        let b = extent(&identity, &expression, &cam);
        let margin = 0.06 * face_px + 2.0;
        let place = |rng: &mut dyn rand::RngCore, lo: f64, hi: f64, size: f64| {
            let (min, max) = (margin - lo, size - margin - hi);
            if max > min {
                rng.random_range(min..max)
            } else {
                size / 2.0 - (lo + hi) / 2.0
            }
        };
        cam.center = [place(rng, b[0], b[2], width as f64), place(rng, b[1], b[3], height as f64)];
        let lm = cam.project2(&super::template::posed_points(&identity, &expression, &cam.pose));
        let mut occluders = Vec::new();
        if rng.random_bool(diff.occlusion) {
            let n = if diff.hard && rng.random_bool(0.4) { 2 } else { 1 };
            for _ in 0..n {
                occluders.push(Occluder::random(rng, &lm, face_px, style.skin));
            }
        }
        let photo = Photo::random(rng, diff.hard);
        Scene { width, height, identity, style, expression, camera: cam, occluders, photo }
    }

    fn face(&self) -> FaceDraw<'_> {
        FaceDraw {
            identity: &self.identity,
            expression: &self.expression,
            style: &self.style,
            camera: &self.camera,
        }
    }

    /// The exact landmarks, rounded to 3 decimals.
    pub fn landmarks(&self) -> Landmarks {
        let xy = self.face().landmarks().into_iter().map(|p| p.map(round3)).collect();
        Landmarks::all_visible(xy)
    }

    /// Render over `background` (which must be `width` × `height`).
    pub fn render(&self, background: &Pixmap, opts: RenderOptions) -> Result<Rendered> {
        ensure!(
            background.width() == self.width && background.height() == self.height,
            "background is {}x{}, scene is {}x{}",
            background.width(),
            background.height(),
            self.width,
            self.height
        );
        let mut cv = Canvas::new(background, opts.parts);
        self.face().draw(&mut cv);
        if opts.degrade {
            for o in &self.occluders {
                o.draw(&mut cv);
            }
        }
        let mut image = to_rgb(&cv.pixmap);
        if opts.degrade {
            self.photo.apply(&mut image);
        }
        let parts = cv.parts.map(|pm| {
            let mut g = GrayImage::new(pm.width(), pm.height());
            for (d, s) in g.pixels_mut().zip(pm.pixels()) {
                d.0 = [s.red()];
            }
            g
        });
        Ok(Rendered { image, landmarks: self.landmarks(), parts })
    }
}

/// Round to the 3 decimals of a `.pts` file, so that boxes computed here equal boxes
/// computed from the written file.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The part at a pixel of a part map, `None` outside the image.
pub fn part_at(parts: &GrayImage, x: i64, y: i64) -> Option<Part> {
    if x < 0 || y < 0 || x >= parts.width() as i64 || y >= parts.height() as i64 {
        return None;
    }
    Part::from_u8(parts.get_pixel(x as u32, y as u32).0[0])
}
