//! Where the face is in the next frame: a box centred on the previous frame's landmarks, as
//! large as the landmarks' box was on the last detection frame (the face box convention of the
//! training lists, which the crop then expands as in training), and when to run the face
//! detector again instead.
//!
//! The size is held from the detection frame because a detector that pulls its points toward
//! the mean shape draws a box a little smaller than the face on every frame: a box re-sized to
//! each frame's landmarks shrank by ~4 % per frame on a synthetic clip, cutting ever-smaller
//! crops. A face that grows or shrinks is caught by the size check and found again.
use serde::Serialize;

/// How a frame's face box was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxSource {
    /// `--box` (first frame).
    Given,
    /// The face detector.
    Detected,
    /// The previous frame's landmarks.
    Followed,
    /// No face in this frame.
    None,
}

impl BoxSource {
    pub fn name(self) -> &'static str {
        match self {
            BoxSource::Given => "given",
            BoxSource::Detected => "detected",
            BoxSource::Followed => "followed",
            BoxSource::None => "none",
        }
    }
}

/// Why the detector runs on a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redetect {
    /// No face is being followed (first frame, or the last search found none).
    NoFace,
    /// `--detect_every N` frames since the last detection.
    Every,
    /// The previous landmarks' confidence fell below `--min_confidence`.
    LowConfidence,
    /// Less than half of the followed box is inside the frame.
    OffFrame,
    /// The followed box is under half or over twice the size of the last detected one.
    Implausible,
}

impl Redetect {
    /// The name the summary counts it under.
    pub fn name(self) -> &'static str {
        match self {
            Redetect::NoFace => "no-face",
            Redetect::Every => "every",
            Redetect::LowConfidence => "low-confidence",
            Redetect::OffFrame => "off-frame",
            Redetect::Implausible => "implausible",
        }
    }
}

/// The re-detection policy.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Detect again after this many frames (`None`: only when needed).
    pub detect_every: Option<u64>,
    /// Mean heatmap peak below which the landmarks are not trusted to place the next box.
    pub min_confidence: f64,
}

/// The face being followed: the box for the next frame, the confidence of the last landmarks,
/// the frames since the detector last ran, and the sizes (√area) of the landmarks' box then and
/// now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Followed {
    pub bbox: [f64; 4],
    pub confidence: f64,
    pub since_detection: u64,
    pub detected_size: f64,
    pub landmark_size: f64,
}

/// The box centred on the box of `points` with width and height `wh`.
pub fn centred(points: &[[f64; 2]], wh: [f64; 2]) -> Option<[f64; 4]> {
    let b = box_of(points)?;
    let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    Some([cx - wh[0] / 2.0, cy - wh[1] / 2.0, cx + wh[0] / 2.0, cy + wh[1] / 2.0])
}

/// The tight box `[x1, y1, x2, y2]` of `points` (the training lists' face box: the annotated
/// landmarks' bounds); `None` for no point or a non-finite one.
pub fn box_of(points: &[[f64; 2]]) -> Option<[f64; 4]> {
    let first = points.first()?;
    let b = points.iter().fold([first[0], first[1], first[0], first[1]], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    });
    (b.iter().all(|v| v.is_finite()) && b[2] > b[0] && b[3] > b[1]).then_some(b)
}

/// √area of a box.
pub fn size(b: [f64; 4]) -> f64 {
    ((b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)).sqrt()
}

/// The fraction of box `b` inside a `w × h` frame.
pub fn inside(b: [f64; 4], w: u32, h: u32) -> f64 {
    let ix = (b[2].min(w as f64) - b[0].max(0.0)).max(0.0);
    let iy = (b[3].min(h as f64) - b[1].max(0.0)).max(0.0);
    let area = (b[2] - b[0]) * (b[3] - b[1]);
    if area > 0.0 {
        ix * iy / area
    } else {
        0.0
    }
}

impl Policy {
    /// Whether (and why) the detector runs on the next frame of a `w × h` video, given the face
    /// followed so far.
    pub fn why_detect(&self, followed: Option<&Followed>, w: u32, h: u32) -> Option<Redetect> {
        let Some(f) = followed else { return Some(Redetect::NoFace) };
        if self.detect_every.is_some_and(|n| f.since_detection >= n) {
            return Some(Redetect::Every);
        }
        if f.confidence < self.min_confidence {
            return Some(Redetect::LowConfidence);
        }
        if inside(f.bbox, w, h) < 0.5 {
            return Some(Redetect::OffFrame);
        }
        let ratio = f.landmark_size / f.detected_size.max(1e-9);
        if !(0.5..=2.0).contains(&ratio) {
            return Some(Redetect::Implausible);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn followed(bbox: [f64; 4], confidence: f64, since: u64, detected: f64) -> Followed {
        Followed {
            bbox,
            confidence,
            since_detection: since,
            detected_size: detected,
            landmark_size: size(bbox),
        }
    }

    #[test]
    fn a_box_is_the_bounds_of_the_points() {
        assert_eq!(box_of(&[[3.0, 4.0], [10.0, 2.0], [5.0, 9.0]]), Some([3.0, 2.0, 10.0, 9.0]));
        assert_eq!(box_of(&[]), None);
        assert_eq!(box_of(&[[1.0, 1.0], [1.0, 1.0]]), None); // no extent
        assert_eq!(box_of(&[[f64::NAN, 1.0], [2.0, 3.0]]), None);
    }

    #[test]
    fn each_reason_to_detect_again_fires_alone() {
        let p = Policy { detect_every: Some(30), min_confidence: 0.2 };
        let good = followed([100.0, 100.0, 200.0, 200.0], 0.6, 5, 100.0);
        assert_eq!(p.why_detect(Some(&good), 640, 360), None);
        assert_eq!(p.why_detect(None, 640, 360), Some(Redetect::NoFace));
        let every = Followed { since_detection: 30, ..good };
        assert_eq!(p.why_detect(Some(&every), 640, 360), Some(Redetect::Every));
        let weak = Followed { confidence: 0.1, ..good };
        assert_eq!(p.why_detect(Some(&weak), 640, 360), Some(Redetect::LowConfidence));
        // 60 % of the box left of the frame.
        let off = Followed { bbox: [-60.0, 100.0, 40.0, 200.0], ..good };
        assert_eq!(p.why_detect(Some(&off), 640, 360), Some(Redetect::OffFrame));
        let shrunk = Followed { landmark_size: 40.0, ..good };
        assert_eq!(p.why_detect(Some(&shrunk), 640, 360), Some(Redetect::Implausible));
        let grown = Followed { landmark_size: 250.0, ..good };
        assert_eq!(p.why_detect(Some(&grown), 640, 360), Some(Redetect::Implausible));
        let never = Policy { detect_every: None, ..p };
        let late = Followed { since_detection: 10_000, ..good };
        assert_eq!(never.why_detect(Some(&late), 640, 360), None);
    }

    #[test]
    fn a_followed_box_keeps_its_size_and_moves_with_the_points() {
        let pts = [[10.0, 20.0], [30.0, 60.0]];
        assert_eq!(centred(&pts, [100.0, 80.0]), Some([-30.0, 0.0, 70.0, 80.0]));
        assert_eq!(centred(&[], [100.0, 80.0]), None);
    }

    #[test]
    fn inside_is_the_visible_fraction() {
        assert_eq!(inside([0.0, 0.0, 10.0, 10.0], 20, 20), 1.0);
        assert_eq!(inside([-5.0, 0.0, 5.0, 10.0], 20, 20), 0.5);
        assert_eq!(inside([30.0, 30.0, 40.0, 40.0], 20, 20), 0.0);
    }
}
