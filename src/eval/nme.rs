//! Normalised mean error of one face (as in reference `lib/xvision/common_eval.py:14-87`): the mean
//! over the visible landmarks of `‖pred − gt‖₂`, divided by a normalising distance that every
//! report names. A face whose normaliser is degenerate (below 1 px, not finite, or built from
//! invisible points) or that has no visible point is excluded with its reason, never averaged in.
use crate::formats::pts::Landmarks;
use serde::Serialize;

/// The normalising distance `d` of a face.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Normaliser {
    /// `‖gt[36] − gt[45]‖`, the outer eye corners (68 points; the 300W convention).
    InterOcular,
    /// `‖mean(gt[36..42]) − mean(gt[42..48])‖`, the eye centres (68 points; what the reference
    /// logs use, ~1.4× the inter-ocular NME).
    InterPupil,
    /// `sqrt(w·h)` of the list's face box.
    Box,
    /// The list's 7th column (AFLW's face size, 19 points).
    FaceSize,
}

/// Below this many pixels a normaliser is degenerate.
pub const MIN_NORMALISER: f64 = 1.0;

impl Normaliser {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Normaliser::InterOcular => "inter-ocular (outer eye corners 36/45)",
            Normaliser::InterPupil => "inter-pupil (eye centres 36-41/42-47)",
            Normaliser::Box => "box (sqrt(w*h) of the list box)",
            Normaliser::FaceSize => "face size (7th list column)",
        }
    }

    /// The usual normaliser for `num_pts` landmarks: inter-ocular for 68, face size for 19
    /// (AFLW), the box otherwise.
    pub fn default_for(num_pts: usize) -> Self {
        match num_pts {
            68 => Normaliser::InterOcular,
            19 => Normaliser::FaceSize,
            _ => Normaliser::Box,
        }
    }

    /// `d` for ground truth `gt` with face box `bbox` and list face size `face_size`, or why
    /// the face cannot be normalised.
    pub fn distance(
        self,
        gt: &Landmarks,
        bbox: [f64; 4],
        face_size: Option<f64>,
    ) -> Result<f64, Exclusion> {
        let eyes = |idx: &[usize]| -> Result<[f64; 2], Exclusion> {
            if gt.len() != 68 {
                return Err(Exclusion::Unsupported(format!(
                    "{} needs 68 points, the face has {}",
                    self.name(),
                    gt.len()
                )));
            }
            if idx.iter().any(|&i| !gt.visible[i]) {
                return Err(Exclusion::InvisibleNormaliser);
            }
            let n = idx.len() as f64;
            let s = idx.iter().fold([0.0, 0.0], |a, &i| [a[0] + gt.xy[i][0], a[1] + gt.xy[i][1]]);
            Ok([s[0] / n, s[1] / n])
        };
        let d = match self {
            Normaliser::InterOcular => dist(eyes(&[36])?, eyes(&[45])?),
            Normaliser::InterPupil => {
                dist(eyes(&[36, 37, 38, 39, 40, 41])?, eyes(&[42, 43, 44, 45, 46, 47])?)
            }
            Normaliser::Box => ((bbox[2] - bbox[0]) * (bbox[3] - bbox[1])).sqrt(),
            Normaliser::FaceSize => face_size.ok_or(Exclusion::NoFaceSize)?,
        };
        if !d.is_finite() || d < MIN_NORMALISER {
            return Err(Exclusion::Degenerate(d));
        }
        Ok(d)
    }
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Why a face is left out of the mean.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "kebab-case")]
pub enum Exclusion {
    /// The normaliser is below [`MIN_NORMALISER`] or not finite.
    Degenerate(f64),
    /// A point the normaliser is built from is not visible.
    InvisibleNormaliser,
    /// The list line has no 7th column.
    NoFaceSize,
    /// No landmark is visible.
    NoVisiblePoint,
    /// The prediction has another number of points, or a non-finite one.
    BadPrediction(String),
    /// The normaliser does not apply to this face.
    Unsupported(String),
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::Degenerate(d) => write!(f, "degenerate normaliser ({d:.3} px)"),
            Exclusion::InvisibleNormaliser => write!(f, "normaliser points not visible"),
            Exclusion::NoFaceSize => write!(f, "no face size column"),
            Exclusion::NoVisiblePoint => write!(f, "no visible landmark"),
            Exclusion::BadPrediction(s) | Exclusion::Unsupported(s) => f.write_str(s),
        }
    }
}

/// The error of one face: `Σ_visible ‖p − g‖ / (n_visible · d)` (a fraction; reports print
/// ×100), with `d` and the count of visible points it was taken over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceError {
    pub nme: f64,
    pub normaliser: f64,
    pub visible: usize,
}

/// NME of prediction `pred` against `gt` under `norm`.
pub fn face_nme(
    pred: &[[f64; 2]],
    gt: &Landmarks,
    norm: Normaliser,
    bbox: [f64; 4],
    face_size: Option<f64>,
) -> Result<FaceError, Exclusion> {
    if pred.len() != gt.len() {
        return Err(Exclusion::BadPrediction(format!(
            "{} predicted points for {} annotated",
            pred.len(),
            gt.len()
        )));
    }
    let d = norm.distance(gt, bbox, face_size)?;
    let (mut sum, mut n) = (0.0, 0);
    for ((p, g), &v) in pred.iter().zip(&gt.xy).zip(&gt.visible) {
        if v {
            if !(p[0].is_finite() && p[1].is_finite()) {
                return Err(Exclusion::BadPrediction("a predicted point is not finite".into()));
            }
            sum += dist(*p, *g);
            n += 1;
        }
    }
    if n == 0 {
        return Err(Exclusion::NoVisiblePoint);
    }
    Ok(FaceError { nme: sum / (n as f64 * d), normaliser: d, visible: n })
}
