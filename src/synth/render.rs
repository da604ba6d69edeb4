//! Drawing one face: head, neck and hair, then brows, eyes, nose and lips through their
//! landmarks, so that every annotated point sits on the feature it names.
use super::canvas::{
    closed_loop, closed_pieces, color, ellipse, linear, mix, open_curve, polygon, radial, shade,
    solid, stroke, Canvas, Part, Rgb,
};
use super::template::{self as tpl, Camera, Expression, Identity, V3};
use rand::Rng;

/// How a person looks (colours, hair, lighting), fixed per person.
#[derive(Clone, Debug)]
pub struct Style {
    pub skin: Rgb,
    pub lips: Rgb,
    pub iris: Rgb,
    pub eye_white: Rgb,
    pub brow: Rgb,
    /// `None` = bald.
    pub hair: Option<Rgb>,
    pub long_hair: bool,
    /// How far the hairline recedes (template units).
    pub hair_recede: f64,
    pub cloth: Rgb,
    /// Brow thickness (template units).
    pub brow_thickness: f64,
    /// Direction the light comes from, radians in the image plane (0 = from the image right).
    pub light_angle: f64,
    /// 0 flat … 0.5 strong side light.
    pub light_strength: f32,
}

fn jitter(rng: &mut impl Rng, c: Rgb, amount: f32) -> Rgb {
    c.map(|v| (v + rng.random_range(-amount..amount)).clamp(0.0, 1.0))
}

impl Style {
    pub fn random(rng: &mut impl Rng) -> Self {
        const SKINS: [Rgb; 5] = [
            [0.96, 0.80, 0.69],
            [0.90, 0.70, 0.56],
            [0.78, 0.57, 0.42],
            [0.58, 0.40, 0.28],
            [0.36, 0.24, 0.17],
        ];
        let t: f32 = rng.random_range(0.0..(SKINS.len() - 1) as f32);
        let k = t as usize;
        let skin = jitter(rng, mix(SKINS[k], SKINS[k + 1], t - k as f32), 0.03);
        let lips = jitter(rng, mix(shade(skin, 0.78), [0.72, 0.30, 0.32], 0.45), 0.04);
        const IRISES: [Rgb; 5] = [
            [0.30, 0.18, 0.09],
            [0.20, 0.12, 0.06],
            [0.25, 0.42, 0.62],
            [0.32, 0.45, 0.28],
            [0.42, 0.42, 0.40],
        ];
        let iris = IRISES[rng.random_range(0..IRISES.len())];
        let iris = jitter(rng, iris, 0.04);
        const HAIRS: [Rgb; 6] = [
            [0.06, 0.05, 0.05],
            [0.22, 0.14, 0.08],
            [0.40, 0.27, 0.15],
            [0.78, 0.64, 0.38],
            [0.55, 0.25, 0.12],
            [0.62, 0.62, 0.60],
        ];
        let hair_c = HAIRS[rng.random_range(0..HAIRS.len())];
        let hair_c = jitter(rng, hair_c, 0.04);
        let bald = rng.random_bool(0.12);
        Self {
            skin,
            lips,
            iris,
            eye_white: jitter(rng, [0.93, 0.91, 0.88], 0.03),
            brow: shade(mix(hair_c, [0.1, 0.08, 0.07], 0.4), rng.random_range(0.7..1.0)),
            hair: (!bald).then_some(hair_c),
            long_hair: !bald && rng.random_bool(0.35),
            hair_recede: if rng.random_bool(0.2) {
                rng.random_range(5.0..25.0)
            } else {
                rng.random_range(-6.0..4.0)
            },
            cloth: [rng.random(), rng.random(), rng.random()],
            brow_thickness: rng.random_range(3.5..6.5),
            light_angle: rng.random_range(0.0..std::f64::consts::TAU),
            light_strength: rng.random_range(0.05..0.4),
        }
    }
}

/// Everything needed to draw one face.
pub struct FaceDraw<'a> {
    pub identity: &'a Identity,
    pub expression: &'a Expression,
    pub style: &'a Style,
    pub camera: &'a Camera,
}

impl FaceDraw<'_> {
    /// The 68 landmarks in image pixels (landmark coordinates, unrounded).
    pub fn landmarks(&self) -> Vec<[f64; 2]> {
        self.camera.project2(&tpl::posed_points(self.identity, self.expression, &self.camera.pose))
    }

    /// Draw the person (body, neck, head, hair, features) onto `cv`.
    pub fn draw(&self, cv: &mut Canvas) {
        let id = self.identity;
        let st = self.style;
        let cam = self.camera;
        let p3 = tpl::posed_points(id, self.expression, &cam.pose);
        let p = cam.project2(&p3);
        let px = cam.scale; // pixels per template unit
        let proj = |v: &[V3]| cam.project2(v);

        // Light: a gradient across the face towards the light.
        let (ls, lc) = st.light_angle.sin_cos();
        let c = [(p[27][0] + p[8][0]) / 2.0, (p[27][1] + p[8][1]) / 2.0];
        let reach = 75.0 * px;
        let lit = [c[0] + lc * reach, c[1] + ls * reach];
        let dark = [c[0] - lc * reach, c[1] - ls * reach];
        let k = st.light_strength;
        let lighting = |base: Rgb, boost: f32| {
            linear(
                lit,
                color(shade(base, (1.0 + k) * boost), 1.0),
                dark,
                color(shade(base, (1.0 - k) * boost), 1.0),
            )
        };

        // Long hair behind the head.
        let hair_back: Option<Vec<V3>> = (st.long_hair && st.hair.is_some()).then(|| {
            let mut v: Vec<V3> = tpl::cranium(id)
                .into_iter()
                .map(|q| [q[0] * 1.14, (q[1] - 2.0) * 1.08 + 2.0, q[2] - 10.0])
                .collect();
            let w = 84.0 * id.face_width;
            v.insert(0, [w, 150.0, -70.0]);
            v.push([-w, 150.0, -70.0]);
            v
        });
        if let (Some(h), Some(hc)) = (&hair_back, st.hair) {
            if let Some(path) = closed_loop(&proj(h)) {
                cv.fill(&path, &lighting(shade(hc, 0.8), 1.0), Some(Part::Hair), None);
            }
        }
        // Body and neck.
        if let Some(path) = polygon(&proj(&tpl::shoulders(id))) {
            cv.fill(&path, &lighting(st.cloth, 1.0), Some(Part::Body), None);
        }
        if let Some(path) = polygon(&proj(&tpl::neck(id))) {
            cv.fill(&path, &lighting(st.skin, 0.72), Some(Part::Neck), None);
        }

        // Face region: jaw contour (through points 0–16) closed over the crown.
        let mut outline: Vec<[f64; 2]> = p[0..=16].to_vec();
        outline.extend(proj(&tpl::posed_cranium(id, &cam.pose)));
        let Some(face) = closed_loop(&outline) else { return };
        cv.fill(&face, &lighting(st.skin, 1.0), Some(Part::Skin), None);
        let face_clip = cv.clip(&face);
        // Roundness: darker towards the outline, plus a rim along the jaw.
        let centre = [(p[28][0] + p[29][0]) / 2.0, (p[28][1] + p[29][1]) / 2.0];
        let shadow = shade(st.skin, 0.55);
        cv.fill(
            &face,
            &radial(centre, 95.0 * px, color(shadow, 0.0), color(shadow, 0.45)),
            None,
            Some(&face_clip),
        );
        if let Some(jaw) = open_curve(&p[0..=16]) {
            cv.stroke(&jaw, &solid(shadow, 0.35), &stroke(5.0 * px), None, Some(&face_clip));
        }
        // Cheeks.
        for (a, b) in [(3, 31), (13, 35)] {
            let q = [p[a][0] * 0.45 + p[b][0] * 0.55, p[a][1] * 0.45 + p[b][1] * 0.55];
            let blush = mix(st.skin, [0.85, 0.35, 0.35], 0.35);
            cv.fill(
                &face,
                &radial(q, 18.0 * px, color(blush, 0.22), color(blush, 0.0)),
                None,
                Some(&face_clip),
            );
        }

        // Hair on top of the head.
        if let Some(hc) = st.hair {
            let mut cap = proj(&tpl::hairline(id, st.hair_recede));
            let crown: Vec<V3> = tpl::cranium(id)
                .into_iter()
                .filter(|q| q[1] < -14.0)
                .map(|q| [q[0] * 1.05, (q[1] - 2.0) * 1.06 + 2.0, q[2]])
                .collect();
            cap.extend(proj(&crown));
            if let Some(path) = closed_loop(&cap) {
                cv.fill(&path, &lighting(hc, 1.0), Some(Part::Hair), None);
                let streak = shade(hc, 1.35);
                cv.fill(
                    &path,
                    &radial(p[27], 110.0 * px, color(streak, 0.0), color(streak, 0.25)),
                    None,
                    None,
                );
            }
        }

        self.draw_brows(cv, &p3, px);
        for eye in 0..2 {
            self.draw_eye(cv, &p, eye, px);
        }
        self.draw_nose(cv, &p, &p3, px);
        self.draw_mouth(cv, &p, px);
    }

    fn draw_brows(&self, cv: &mut Canvas, p3: &[V3], px: f64) {
        let st = self.style;
        let pts = self.camera.project2(p3);
        for side in 0..2 {
            // Points ordered outer → inner; the brow hangs below its annotated upper edge,
            // thickest towards the inner end, built in the image plane so that it keeps its
            // width under any pose.
            let ids: Vec<usize> =
                if side == 0 { (17..=21).collect() } else { (22..=26).rev().collect() };
            let profile = [0.5, 0.8, 1.0, 1.0, 0.95];
            let eye = pts[if side == 0 { 38 } else { 43 }];
            let mut upper = Vec::new();
            let mut lower = Vec::new();
            for (k, &i) in ids.iter().enumerate() {
                let (a, b) = (pts[ids[k.saturating_sub(1)]], pts[ids[(k + 1).min(4)]]);
                let (tx, ty) = (b[0] - a[0], b[1] - a[1]);
                let len = (tx * tx + ty * ty).sqrt().max(1e-9);
                let mut n = [-ty / len, tx / len];
                // Normal pointing down towards the eye.
                if n[0] * (eye[0] - pts[i][0]) + n[1] * (eye[1] - pts[i][1]) < 0.0 {
                    n = [-n[0], -n[1]];
                }
                let (up, down) = (0.7 * px, st.brow_thickness * profile[k] * px);
                upper.push([pts[i][0] - n[0] * up, pts[i][1] - n[1] * up]);
                lower.push([pts[i][0] + n[0] * down, pts[i][1] + n[1] * down]);
            }
            lower.reverse();
            let first = [lower[4], upper[0]];
            let last = [upper[4], lower[0]];
            if let Some(path) = closed_pieces(&[&upper, &last, &lower, &first]) {
                cv.fill(&path, &solid(st.brow, 0.92), Some(Part::Brow), None);
            }
        }
    }

    fn draw_eye(&self, cv: &mut Canvas, p: &[[f64; 2]], eye: usize, px: f64) {
        let st = self.style;
        let b = 36 + 6 * eye;
        let (c0, c3) = (p[b], p[b + 3]);
        let upper = [p[b], p[b + 1], p[b + 2], p[b + 3]];
        let lower = [p[b + 3], p[b + 4], p[b + 5], p[b]];
        let width = ((c3[0] - c0[0]).powi(2) + (c3[1] - c0[1]).powi(2)).sqrt();
        let mid = [(c0[0] + c3[0]) / 2.0, (c0[1] + c3[1]) / 2.0];
        let angle = (c3[1] - c0[1]).atan2(c3[0] - c0[0]);
        // Socket shadow and the lid crease above.
        let socket = shade(st.skin, 0.6);
        if let Some(path) = ellipse([mid[0], mid[1] - 2.0 * px], width * 0.85, width * 0.5, angle) {
            cv.fill(
                &path,
                &radial(mid, width * 0.85, color(socket, 0.35), color(socket, 0.0)),
                None,
                None,
            );
        }
        let lift = 3.5 * px;
        let crease: Vec<[f64; 2]> = upper
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let l = if i == 1 || i == 2 { lift } else { lift * 0.3 };
                [q[0] + l * angle.sin(), q[1] - l * angle.cos()]
            })
            .collect();
        if let Some(path) = open_curve(&crease) {
            cv.stroke(&path, &solid(shade(st.skin, 0.7), 0.5), &stroke(0.8 * px), None, None);
        }
        let Some(almond) = closed_pieces(&[&upper, &lower]) else { return };
        cv.fill(&almond, &solid(st.eye_white, 1.0), Some(Part::EyeWhite), None);
        let clip = cv.clip(&almond);
        // Iris and pupil, moved by the gaze, clipped by the lids.
        let cen = [
            p[b..b + 6].iter().map(|q| q[0]).sum::<f64>() / 6.0,
            p[b..b + 6].iter().map(|q| q[1]).sum::<f64>() / 6.0,
        ];
        let g = self.expression.gaze;
        let r = 0.22 * width;
        let ic = [cen[0] + g[0] * 0.16 * width, cen[1] + g[1] * 0.1 * width - 0.03 * width];
        let squash = (width / (27.0 * px)).clamp(0.4, 1.0);
        if let Some(path) = ellipse(ic, r * squash, r, angle) {
            let ring = shade(st.iris, 0.55);
            cv.fill(
                &path,
                &radial(ic, r, color(shade(st.iris, 1.15), 1.0), color(ring, 1.0)),
                Some(Part::Iris),
                Some(&clip),
            );
        }
        if let Some(path) = ellipse(ic, 0.45 * r * squash, 0.45 * r, angle) {
            cv.fill(&path, &solid([0.03, 0.03, 0.03], 1.0), Some(Part::Iris), Some(&clip));
        }
        if let Some(path) = ellipse([ic[0] + 0.3 * r, ic[1] - 0.3 * r], 0.15 * r, 0.15 * r, 0.0) {
            cv.fill(&path, &solid([1.0, 1.0, 1.0], 0.8), None, Some(&clip));
        }
        // Shadow of the upper lid on the eyeball.
        if let Some(path) = open_curve(&upper) {
            let sh = shade(st.skin, 0.35);
            cv.stroke(&path, &solid(sh, 0.35), &stroke(2.2 * px), None, Some(&clip));
        }
        // Lid lines: the upper one dark (lashes), the lower one thinner.
        let lash = shade(mix(st.brow, [0.05, 0.04, 0.04], 0.6), 0.8);
        if let Some(path) = open_curve(&upper) {
            cv.stroke(&path, &solid(lash, 0.95), &stroke(1.1 * px + 0.6), Some(Part::Lid), None);
        }
        if let Some(path) = open_curve(&lower) {
            cv.stroke(
                &path,
                &solid(shade(st.skin, 0.55), 0.8),
                &stroke(0.6 * px + 0.4),
                Some(Part::Lid),
                None,
            );
        }
    }

    fn draw_nose(&self, cv: &mut Canvas, p: &[[f64; 2]], p3: &[V3], px: f64) {
        let st = self.style;
        let cam = self.camera;
        let yaw = cam.pose.yaw;
        // Side of the nose facing away from the camera, in shadow.
        let (far_ala, far_eye) = if yaw > 0.0 { (35, 42) } else { (31, 39) };
        let side = [p[27], p[far_eye], p[far_ala], p[30], p[29], p[28]];
        if let Some(path) = polygon(&side) {
            let a = (0.15 + 0.9 * yaw.abs().sin()) as f32;
            cv.fill(&path, &solid(shade(st.skin, 0.75), a.min(0.6)), None, None);
        }
        // Highlight along the bridge.
        if let Some(path) = open_curve(&p[27..=30]) {
            cv.stroke(&path, &solid(shade(st.skin, 1.18), 0.35), &stroke(3.0 * px), None, None);
        }
        // Profile line of the bridge on the far side when turned.
        if yaw.abs() > 0.12 {
            if let Some(path) = open_curve(&p[27..=30]) {
                let a = ((yaw.abs() - 0.12) * 2.0).min(0.6) as f32;
                cv.stroke(
                    &path,
                    &solid(shade(st.skin, 0.6), a),
                    &stroke(1.0 * px + 0.3),
                    Some(Part::Nose),
                    None,
                );
            }
        }
        // Underside of the nose: nostril base (31–35) up to the tip.
        let o = |i: usize, d: V3| -> V3 { [p3[i][0] + d[0], p3[i][1] + d[1], p3[i][2] + d[2]] };
        let wing = cam.project2(&[
            o(35, [3.0, -6.0, -3.0]),
            o(30, [6.0, -1.0, -4.0]),
            o(30, [0.0, 1.5, 0.0]),
            o(30, [-6.0, -1.0, -4.0]),
            o(31, [-3.0, -6.0, -3.0]),
        ]);
        let base = &p[31..=35];
        let top: Vec<[f64; 2]> = std::iter::once(p[35])
            .chain(wing.iter().copied())
            .chain(std::iter::once(p[31]))
            .collect();
        if let Some(path) = closed_pieces(&[base, &top]) {
            let under = shade(st.skin, 0.72);
            cv.fill(
                &path,
                &linear(p[30], color(shade(st.skin, 1.05), 1.0), p[33], color(under, 1.0)),
                Some(Part::Nose),
                None,
            );
        }
        // Alar creases, round the outside of each nostril wing down to its base point.
        for (a, q) in [(4usize, 31usize), (0, 35)] {
            let out = p[q][0] - p[33][0];
            let pts = [
                wing[a],
                [wing[a][0] * 0.4 + p[q][0] * 0.6 + out * 0.18, wing[a][1] * 0.4 + p[q][1] * 0.6],
                p[q],
            ];
            if let Some(path) = open_curve(&pts) {
                cv.stroke(
                    &path,
                    &solid(shade(st.skin, 0.55), 0.7),
                    &stroke(0.9 * px + 0.3),
                    Some(Part::Nose),
                    None,
                );
            }
        }
        // Nostrils.
        for (a, b2) in [(31usize, 32usize), (35, 34)] {
            let c3 = [
                (p3[a][0] * 0.55 + p3[b2][0] * 0.45),
                (p3[a][1] + p3[b2][1]) / 2.0 - 1.2,
                (p3[a][2] + p3[b2][2]) / 2.0,
            ];
            let ring: Vec<V3> = (0..10)
                .map(|k| {
                    let t = k as f64 / 10.0 * std::f64::consts::TAU;
                    [c3[0] + 3.2 * t.cos(), c3[1] + 1.4 * t.sin(), c3[2] - 1.2 * t.sin()]
                })
                .collect();
            if let Some(path) = closed_loop(&cam.project2(&ring)) {
                cv.fill(&path, &solid(shade(st.skin, 0.25), 0.9), Some(Part::Nose), None);
            }
        }
        // Tip highlight.
        if let Some(path) = ellipse(p[30], 5.0 * px, 4.0 * px, 0.0) {
            let hl = shade(st.skin, 1.3);
            cv.fill(&path, &radial(p[30], 5.0 * px, color(hl, 0.35), color(hl, 0.0)), None, None);
        }
        // Philtrum shadow between nose and upper lip.
        let ph = [p[33], [(p[33][0] + p[51][0]) / 2.0, (p[33][1] + p[51][1]) / 2.0], p[51]];
        if let Some(path) = open_curve(&ph) {
            cv.stroke(&path, &solid(shade(st.skin, 0.8), 0.3), &stroke(4.0 * px), None, None);
        }
    }

    fn draw_mouth(&self, cv: &mut Canvas, p: &[[f64; 2]], px: f64) {
        let st = self.style;
        let up_o = &p[48..=54];
        let lo_o: Vec<[f64; 2]> = [54, 55, 56, 57, 58, 59, 48].iter().map(|&i| p[i]).collect();
        let up_i: Vec<[f64; 2]> = [60, 61, 62, 63, 64].iter().map(|&i| p[i]).collect();
        let lo_i: Vec<[f64; 2]> = [64, 65, 66, 67, 60].iter().map(|&i| p[i]).collect();
        // Shadow under the lower lip.
        let below = [p[57][0], p[57][1] + 4.0 * px];
        if let Some(path) = ellipse(below, 11.0 * px, 3.5 * px, 0.0) {
            let s = shade(st.skin, 0.6);
            cv.fill(&path, &radial(below, 11.0 * px, color(s, 0.35), color(s, 0.0)), None, None);
        }
        let Some(lips) = closed_pieces(&[up_o, &lo_o]) else { return };
        cv.fill(
            &lips,
            &linear(
                p[51],
                color(shade(st.lips, 0.82), 1.0),
                p[57],
                color(shade(st.lips, 1.08), 1.0),
            ),
            Some(Part::Lips),
            None,
        );
        let lip_clip = cv.clip(&lips);
        // Mouth interior when open, with a row of teeth.
        let gap = ((p[66][0] - p[62][0]).powi(2) + (p[66][1] - p[62][1]).powi(2)).sqrt();
        if let Some(inner) = closed_pieces(&[&up_i, &lo_i]) {
            if gap > 1.0 {
                cv.fill(&inner, &solid([0.16, 0.05, 0.05], 1.0), Some(Part::MouthInside), None);
                let iclip = cv.clip(&inner);
                let teeth: Vec<[f64; 2]> = up_i.iter().map(|q| [q[0], q[1] + 2.5 * px]).collect();
                let mut band = up_i.clone();
                band.extend(teeth.iter().rev());
                if let Some(path) = polygon(&band) {
                    cv.fill(
                        &path,
                        &solid([0.88, 0.86, 0.8], 0.95),
                        Some(Part::MouthInside),
                        Some(&iclip),
                    );
                }
            }
        }
        // Lip line (and corners), highlight on the lower lip.
        let line_c = shade(st.lips, 0.35);
        let w = 0.8 * px + 0.4;
        let mut junction = vec![p[48]];
        junction.extend(up_i.iter());
        junction.push(p[54]);
        if let Some(path) = open_curve(&junction) {
            cv.stroke(&path, &solid(line_c, 0.85), &stroke(w), Some(Part::Lips), None);
        }
        if gap > 1.0 {
            let mut lo = vec![p[54]];
            lo.extend(lo_i.iter());
            lo.push(p[48]);
            if let Some(path) = open_curve(&lo) {
                cv.stroke(&path, &solid(line_c, 0.6), &stroke(w * 0.7), Some(Part::Lips), None);
            }
        }
        let hl = [(p[57][0] + p[66][0]) / 2.0, (p[57][1] * 0.6 + p[66][1] * 0.4)];
        if let Some(path) = ellipse(hl, 6.0 * px, 2.0 * px, 0.0) {
            let c = shade(st.lips, 1.4);
            cv.fill(
                &path,
                &radial(hl, 6.0 * px, color(c, 0.35), color(c, 0.0)),
                None,
                Some(&lip_clip),
            );
        }
    }
}
