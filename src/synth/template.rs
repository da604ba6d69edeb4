//! The 3D face: a mean 68-point iBUG face, identity and expression deformations, head pose and
//! the projection to image pixels.
//!
//! Frame: millimetre-like units, origin between the eyes, x to the image right, y down, z toward
//! the camera. iBUG order (0-based): jaw 0–16, brows 17–26, nose bridge 27–30, nostrils 31–35,
//! eyes 36–47, outer lips 48–59, inner lips 60–67. Point 0 is on the image left of a frontal face.
use rand::Rng;
use std::f64::consts::PI;

pub type V3 = [f64; 3];

/// Number of landmarks.
pub const N_POINTS: usize = 68;

/// Mean face, image-left half and midline; the image-right half is mirrored via [`MIRROR`].
/// Authored for this project (rough adult proportions, not fitted to any dataset).
#[rustfmt::skip]
const MEAN_LEFT: [(usize, V3); 39] = [
    // jaw 0–8: ear level down to the chin, curving back in depth
    (0, [-71.0, 2.0, -55.0]), (1, [-70.0, 20.0, -50.0]), (2, [-67.0, 37.0, -43.0]),
    (3, [-63.0, 54.0, -35.0]), (4, [-56.0, 70.0, -25.0]), (5, [-47.0, 84.0, -14.0]),
    (6, [-35.0, 96.0, -4.0]), (7, [-19.0, 104.0, 3.0]), (8, [0.0, 107.0, 6.0]),
    // brow 17–21, outer to inner, on the brow's upper edge
    (17, [-58.0, -21.0, -12.0]), (18, [-47.0, -30.0, -3.0]), (19, [-34.0, -33.0, 3.0]),
    (20, [-21.0, -31.0, 7.0]), (21, [-9.0, -26.0, 9.0]),
    // nose bridge 27–30 (30 = tip) and nostril base 31–33
    (27, [0.0, -3.0, 10.0]), (28, [0.0, 11.0, 17.0]), (29, [0.0, 25.0, 24.0]),
    (30, [0.0, 39.0, 31.0]),
    (31, [-15.0, 47.0, 12.0]), (32, [-8.0, 50.0, 18.0]), (33, [0.0, 52.0, 21.0]),
    // image-left eye 36–41: outer corner, upper outer, upper inner, inner corner, lower inner,
    // lower outer
    (36, [-45.0, 0.5, -6.0]), (37, [-37.5, -5.5, 0.0]), (38, [-27.0, -6.0, 1.0]),
    (39, [-18.0, 0.5, 0.0]), (40, [-27.0, 4.0, 1.0]), (41, [-37.5, 4.0, 0.0]),
    // outer lips 48–51 and 57–59 (48 = image-left corner, 51 = top middle, 57 = bottom middle)
    (48, [-25.0, 72.0, 10.0]), (49, [-16.0, 66.0, 17.0]), (50, [-6.5, 63.0, 21.0]),
    (51, [0.0, 64.5, 22.0]), (57, [0.0, 83.0, 20.0]), (58, [-8.0, 82.0, 19.0]),
    (59, [-17.0, 79.0, 16.0]),
    // inner lips 60–62 and 66–67
    (60, [-21.0, 72.0, 11.0]), (61, [-7.5, 71.0, 19.0]), (62, [0.0, 71.2, 20.0]),
    (66, [0.0, 72.8, 20.0]), (67, [-7.5, 73.0, 19.0]),
];

/// `MIRROR[i]` is the point symmetric to `i` (itself on the midline).
#[rustfmt::skip]
pub const MIRROR: [usize; N_POINTS] = [
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
    27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
];

/// The mean face, all 68 points.
pub fn mean_face() -> [V3; N_POINTS] {
    let mut p = [[f64::NAN; 3]; N_POINTS];
    for &(i, v) in &MEAN_LEFT {
        p[i] = v;
        let m = MIRROR[i];
        p[m] = [-v[0], v[1], v[2]];
    }
    p
}

/// Point ranges of the face parts.
pub mod idx {
    use std::ops::RangeInclusive;
    pub const JAW: RangeInclusive<usize> = 0..=16;
    pub const BROW_L: RangeInclusive<usize> = 17..=21;
    pub const BROW_R: RangeInclusive<usize> = 22..=26;
    pub const NOSE_BRIDGE: RangeInclusive<usize> = 27..=30;
    pub const NOSTRILS: RangeInclusive<usize> = 31..=35;
    pub const EYE_L: RangeInclusive<usize> = 36..=41;
    pub const EYE_R: RangeInclusive<usize> = 42..=47;
    pub const LIPS_OUTER: RangeInclusive<usize> = 48..=59;
    pub const LIPS_INNER: RangeInclusive<usize> = 60..=67;
}

fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // Box–Muller; deterministic given the RNG stream.
    let u1: f64 = rng.random_range(1e-12..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// A normal draw clamped to ±3 standard deviations.
pub fn gauss<R: Rng + ?Sized>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    mean + sd * normal(rng).clamp(-3.0, 3.0)
}

/// Who the face belongs to: shape deviations from the mean face, fixed for a person.
#[derive(Clone, Debug)]
pub struct Identity {
    pub face_width: f64,
    pub face_height: f64,
    pub lower_jaw_width: f64,
    pub chin_point: f64,
    pub eye_spacing: f64,
    pub eye_size: f64,
    pub eye_height: f64,
    pub eye_tilt: f64,
    pub brow_raise: f64,
    pub brow_arch: f64,
    pub nose_length: f64,
    pub nose_width: f64,
    pub nose_depth: f64,
    pub mouth_width: f64,
    pub mouth_drop: f64,
    pub lip_thickness: f64,
    /// Small per-point offsets (mm), applied last.
    pub jitter: Vec<V3>,
}

impl Identity {
    pub fn mean() -> Self {
        Self {
            face_width: 1.0,
            face_height: 1.0,
            lower_jaw_width: 1.0,
            chin_point: 0.0,
            eye_spacing: 0.0,
            eye_size: 1.0,
            eye_height: 1.0,
            eye_tilt: 0.0,
            brow_raise: 0.0,
            brow_arch: 0.0,
            nose_length: 1.0,
            nose_width: 1.0,
            nose_depth: 1.0,
            mouth_width: 1.0,
            mouth_drop: 0.0,
            lip_thickness: 1.0,
            jitter: vec![[0.0; 3]; N_POINTS],
        }
    }

    pub fn random(rng: &mut impl Rng) -> Self {
        let mut jitter = vec![[0.0; 3]; N_POINTS];
        for j in jitter.iter_mut() {
            *j = [gauss(rng, 0.0, 0.6), gauss(rng, 0.0, 0.6), gauss(rng, 0.0, 0.6)];
        }
        Self {
            face_width: gauss(rng, 1.0, 0.05),
            face_height: gauss(rng, 1.0, 0.05),
            lower_jaw_width: gauss(rng, 1.0, 0.05),
            chin_point: gauss(rng, 0.0, 0.4),
            eye_spacing: gauss(rng, 0.0, 2.0),
            eye_size: gauss(rng, 1.0, 0.07),
            eye_height: gauss(rng, 1.0, 0.12),
            eye_tilt: gauss(rng, 0.0, 1.2),
            brow_raise: gauss(rng, 0.0, 2.0),
            brow_arch: gauss(rng, 0.0, 1.2),
            nose_length: gauss(rng, 1.0, 0.07),
            nose_width: gauss(rng, 1.0, 0.09),
            nose_depth: gauss(rng, 1.0, 0.1),
            mouth_width: gauss(rng, 1.0, 0.07),
            mouth_drop: gauss(rng, 0.0, 2.5),
            lip_thickness: gauss(rng, 1.0, 0.15),
            jitter,
        }
    }
}

/// Momentary face movements.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expression {
    /// 0 closed … 1 wide open.
    pub mouth_open: f64,
    /// -0.3 (down-turned) … 1 (broad smile).
    pub smile: f64,
    /// Eyelid closure of the image-left / image-right eye, 0 open … 1 shut.
    pub blink: [f64; 2],
    /// -1 frown … 1 raised.
    pub brow_raise: f64,
    /// Gaze direction, each in -1..1 (x right, y down); moves only the iris.
    pub gaze: [f64; 2],
}

impl Expression {
    pub fn random(rng: &mut impl Rng) -> Self {
        let mouth_open = if rng.random_bool(0.35) { rng.random_range(0.1..1.0) } else { 0.0 };
        let blink = if rng.random_bool(0.1) {
            let b = rng.random_range(0.6..1.0);
            [b, (b + gauss(rng, 0.0, 0.05)).clamp(0.0, 1.0)]
        } else {
            let b = rng.random_range(0.0..0.3);
            [b, b]
        };
        Self {
            mouth_open,
            smile: rng.random_range(-0.3..1.0),
            blink,
            brow_raise: rng.random_range(-0.8..1.0),
            gaze: [rng.random_range(-0.7..0.7), rng.random_range(-0.5..0.5)],
        }
    }
}

/// Head rotation in radians.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pose {
    /// Turn left/right (positive turns the face toward the image right).
    pub yaw: f64,
    /// Nod (positive looks down).
    pub pitch: f64,
    /// In-plane tilt (positive clockwise on screen).
    pub roll: f64,
}

impl Pose {
    /// Rotation matrix, roll · pitch · yaw.
    pub fn matrix(&self) -> [[f64; 3]; 3] {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        let (sr, cr) = self.roll.sin_cos();
        let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        // Positive pitch moves the nose tip (z > 0) down the image (y grows).
        let rx = [[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]];
        let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
        matmul(&rz, &matmul(&rx, &ry))
    }
}

fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// The deformed 68 points of `id` making `ex`.
pub fn face_points(id: &Identity, ex: &Expression) -> [V3; N_POINTS] {
    let mut p = mean_face();
    // Identity: jaw and face outline.
    for i in idx::JAW {
        let k = i.min(16 - i) as f64; // 0 at the ear, 8 at the chin
        let lower = (k / 8.0).powf(1.5);
        p[i][0] *= id.face_width * (1.0 + (id.lower_jaw_width - 1.0) * lower);
        if k >= 5.0 {
            p[i][0] *= 1.0 - 0.08 * id.chin_point * (k - 4.0) / 4.0;
        }
        p[i][1] = 2.0 + (p[i][1] - 2.0) * id.face_height;
    }
    let centre = |p: &[V3; N_POINTS], r: std::ops::RangeInclusive<usize>| -> [f64; 2] {
        let n = r.clone().count() as f64;
        [r.clone().map(|i| p[i][0]).sum::<f64>() / n, r.map(|i| p[i][1]).sum::<f64>() / n]
    };
    let eye_c = [centre(&p, idx::EYE_L), centre(&p, idx::EYE_R)];
    for i in idx::EYE_L.chain(idx::EYE_R) {
        let [cx, cy] = eye_c[usize::from(i >= 42)];
        let side = cx.signum();
        let mut v = p[i];
        v[0] = cx + (v[0] - cx) * id.eye_size + side * id.eye_spacing;
        v[1] = cy + (v[1] - cy) * id.eye_size * id.eye_height;
        // Tilt: outer corners up (positive) relative to the inner ones.
        let outer = ((v[0] - cx) * side / 14.0).clamp(-1.0, 1.0);
        v[1] -= id.eye_tilt * outer;
        p[i] = v;
    }
    for i in idx::BROW_L.chain(idx::BROW_R) {
        let arch = [0.0, 0.6, 1.0, 0.6, 0.0][(i - 17) % 5];
        p[i][1] -= id.brow_raise + id.brow_arch * arch;
        p[i][0] += p[i][0].signum() * id.eye_spacing * 0.7;
    }
    for i in idx::NOSE_BRIDGE.chain(idx::NOSTRILS) {
        p[i][1] = -3.0 + (p[i][1] + 3.0) * id.nose_length;
        p[i][2] = 10.0 + (p[i][2] - 10.0) * id.nose_depth;
        if i >= 31 {
            p[i][0] *= id.nose_width;
        }
    }
    let mouth_cy = 72.0;
    for i in idx::LIPS_OUTER.chain(idx::LIPS_INNER) {
        p[i][0] *= id.mouth_width;
        let dy = p[i][1] - mouth_cy;
        p[i][1] = mouth_cy + id.mouth_drop * 0.8 + dy * id.lip_thickness;
    }
    // Expression.
    let open = ex.mouth_open.clamp(0.0, 1.0);
    let d = 18.0 * open;
    for i in [55, 56, 57, 58, 59] {
        p[i][1] += 0.9 * d;
    }
    for i in [65, 66, 67] {
        p[i][1] += 0.95 * d;
    }
    for i in [61, 62, 63] {
        p[i][1] -= 0.08 * d;
    }
    for i in [48, 54, 60, 64] {
        p[i][1] += 0.4 * d;
        p[i][0] *= 1.0 - 0.1 * open;
    }
    for (i, v) in p.iter_mut().enumerate().take(14).skip(3) {
        let k = (i as f64 - 2.0) / 12.0; // 0..1 across the lower jaw
        v[1] += 0.85 * d * (PI * k).sin().powi(2);
    }
    let s = ex.smile.clamp(-0.5, 1.0);
    for i in [48, 54, 60, 64] {
        p[i][0] *= 1.0 + 0.14 * s;
        p[i][1] -= 4.5 * s;
    }
    for i in [49, 53, 59, 55, 61, 63, 65, 67] {
        p[i][0] *= 1.0 + 0.06 * s;
        p[i][1] -= 1.5 * s;
    }
    for i in [3, 4, 5, 11, 12, 13] {
        p[i][0] *= 1.0 + 0.02 * s.max(0.0);
    }
    for (e, (up, low)) in [([37, 38], [41, 40]), ([43, 44], [47, 46])].into_iter().enumerate() {
        let b = ex.blink[e].clamp(0.0, 1.0);
        for k in 0..2 {
            let (yu, yl) = (p[up[k]][1], p[low[k]][1]);
            let gap = yl - yu;
            p[up[k]][1] = yu + 0.85 * b * gap;
            p[low[k]][1] = yl - 0.15 * b * gap;
        }
    }
    for i in idx::BROW_L.chain(idx::BROW_R) {
        let inner = (20..=23).contains(&i);
        p[i][1] -= 4.0 * ex.brow_raise * if inner { 1.1 } else { 0.8 };
    }
    for (v, j) in p.iter_mut().zip(&id.jitter) {
        for k in 0..3 {
            v[k] += j[k];
        }
    }
    p
}

/// Depth of the face front (template z) towards which the cheek surface curves from the
/// jaw points, and of the forehead for the crown outline.
const CHEEK_FRONT_Z: f64 = 6.0;
const FOREHEAD_FRONT_Z: f64 = 0.0;

/// Move a point of the face outline to where the head's silhouette crosses its height.
///
/// The head at the height of `p` is modelled as a quarter superellipse from the front of the
/// face (`x` = 0, `z` = `front_z`) round to `p` (the outermost point of the cross-section, seen
/// frontally). Turned away from the camera, the visible outline on that side is the point of
/// the curve that projects furthest out, not `p` itself (which has gone round the back); 300W
/// annotates contours on that visible outline. Turned towards the camera, `p` stays.
pub fn silhouette(p: V3, front_z: f64, pose: &Pose) -> V3 {
    let side = if p[0] < 0.0 { -1.0 } else { 1.0 };
    let a = p[0].abs();
    let b = front_z - p[2];
    if a < 1e-6 || b <= 0.0 {
        return p;
    }
    let r = Pose { roll: 0.0, ..*pose }.matrix();
    let at = |phi: f64| -> V3 {
        let (s, c) = phi.sin_cos();
        [side * a * s.powf(2.0 / 3.0), p[1], p[2] + b * c.max(0.0).powf(2.0 / 3.0)]
    };
    let outward = |phi: f64| {
        let q = at(phi);
        side * (r[0][0] * q[0] + r[0][1] * q[1] + r[0][2] * q[2])
    };
    // Ternary search on [0, 90°]: the projected outwardness is unimodal along the curve.
    let (mut lo, mut hi) = (0.0f64, PI / 2.0);
    for _ in 0..60 {
        let m1 = lo + (hi - lo) / 3.0;
        let m2 = hi - (hi - lo) / 3.0;
        if outward(m1) < outward(m2) {
            lo = m1;
        } else {
            hi = m2;
        }
    }
    let phi = (lo + hi) / 2.0;
    if outward(phi) > outward(PI / 2.0) {
        at(phi)
    } else {
        p
    }
}

/// The 68 points for a head in `pose`: [`face_points`] with the jaw contour (0–16) moved onto
/// the visible outline.
pub fn posed_points(id: &Identity, ex: &Expression, pose: &Pose) -> [V3; N_POINTS] {
    let mut p = face_points(id, ex);
    for i in idx::JAW {
        p[i] = silhouette(p[i], CHEEK_FRONT_Z, pose);
    }
    p
}

/// [`cranium`] moved onto the visible outline for `pose`.
pub fn posed_cranium(id: &Identity, pose: &Pose) -> Vec<V3> {
    cranium(id).into_iter().map(|q| silhouette(q, FOREHEAD_FRONT_Z, pose)).collect()
}

/// Outline of the top of the head from beside point 16 over the crown to beside point 0
/// (not annotated; closes the face region).
pub fn cranium(id: &Identity) -> Vec<V3> {
    let n = 14;
    (1..n)
        .map(|k| {
            let a = PI * k as f64 / n as f64; // 0 at the image right, PI at the left
            let w = 72.0 * id.face_width * (1.0 + 0.04 * a.sin());
            [w * a.cos(), 2.0 - 118.0 * a.sin().powf(0.9), -55.0 + 20.0 * a.sin()]
        })
        .collect()
}

/// Hairline across the forehead from temple to temple (image left to right).
pub fn hairline(id: &Identity, recede: f64) -> Vec<V3> {
    let n = 9;
    (0..n)
        .map(|k| {
            let t = k as f64 / (n - 1) as f64 * 2.0 - 1.0; // -1..1
            let x = 64.0 * id.face_width * t;
            let y = -58.0 - recede + 40.0 * t.powi(4) - 6.0 * (1.0 - t * t);
            [x, y, 8.0 - 50.0 * t.powi(2)]
        })
        .collect()
}

/// Neck (a box under the head) as a polygon.
pub fn neck(id: &Identity) -> Vec<V3> {
    let w = 46.0 * id.face_width;
    vec![[-w, 30.0, -40.0], [-w * 1.08, 230.0, -40.0], [w * 1.08, 230.0, -40.0], [w, 30.0, -40.0]]
}

/// Shoulders and chest as a polygon.
pub fn shoulders(id: &Identity) -> Vec<V3> {
    let w = 46.0 * id.face_width;
    vec![
        [-w * 1.1, 160.0, -50.0],
        [-190.0, 205.0, -60.0],
        [-230.0, 420.0, -60.0],
        [230.0, 420.0, -60.0],
        [190.0, 205.0, -60.0],
        [w * 1.1, 160.0, -50.0],
    ]
}

/// Where and how big the face appears: perspective camera looking down -z.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    /// Image position of the head origin (between the eyes), pixels.
    pub center: [f64; 2],
    /// Pixels per template unit at the origin's depth.
    pub scale: f64,
    /// Distance from the camera to the origin, template units (smaller = more perspective).
    pub distance: f64,
    pub pose: Pose,
}

/// Template height from brow to chin, used to turn a face size in pixels into a scale.
pub const FACE_SPAN: f64 = 140.0;

impl Camera {
    /// Project 3D template points; also returns depth (z after rotation, toward the camera).
    pub fn project(&self, pts: &[V3]) -> Vec<[f64; 3]> {
        let r = self.pose.matrix();
        pts.iter()
            .map(|v| {
                let q: Vec<f64> =
                    (0..3).map(|i| r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2]).collect();
                let f = self.distance / (self.distance - q[2]).max(1.0);
                [
                    self.center[0] + self.scale * f * q[0],
                    self.center[1] + self.scale * f * q[1],
                    q[2],
                ]
            })
            .collect()
    }

    /// Project, dropping depth.
    pub fn project2(&self, pts: &[V3]) -> Vec<[f64; 2]> {
        self.project(pts).into_iter().map(|p| [p[0], p[1]]).collect()
    }

    /// Rotated direction of a template vector (for shading decisions).
    pub fn rotate(&self, v: V3) -> V3 {
        let r = self.pose.matrix();
        [0, 1, 2].map(|i| r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_face_complete_and_symmetric() {
        let p = mean_face();
        for (i, v) in p.iter().enumerate() {
            assert!(v.iter().all(|c| c.is_finite()), "point {i} unset");
            let m = p[MIRROR[i]];
            assert!((v[0] + m[0]).abs() < 1e-9 && (v[1] - m[1]).abs() < 1e-9);
            assert_eq!(MIRROR[MIRROR[i]], i);
        }
    }

    #[test]
    fn yaw_turns_nose_right() {
        let cam = Camera {
            center: [0.0, 0.0],
            scale: 1.0,
            distance: 1e6,
            pose: Pose { yaw: 0.5, pitch: 0.0, roll: 0.0 },
        };
        let p = cam.project2(&mean_face());
        assert!(p[30][0] > 5.0);
    }
}
