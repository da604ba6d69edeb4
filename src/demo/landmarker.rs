//! The landmarks stage of the demo, frame after frame: where the faces are (`--box`, the face
//! detector, or the face followed from the previous frame), each detector's landmarks in the
//! crop cut as in training, `--track`'s fusion with the previous frame's landmarks carried by
//! the tracker, and the box that follows the face into the next frame.
//!
//! On a detection (or a `--box`) frame the detector's box is only a first guess in another
//! convention than the training lists' landmark-bounds box: the landmarks found in it give the
//! box the crop is cut from again (one more forward pass on those frames only).
use super::face::FaceFinder;
use super::follow::{box_of, size, BoxSource, Followed, Redetect};
use super::record::{FaceRecord, Record, RoleResult};
use super::run::{Options, Stages};
use super::track::Tracker;
use super::truth::{self, Score};
use crate::data::augment::Affine;
use crate::data::crop::{crop, CropSpec};
use crate::eval::predict::predict_scored;
use crate::models::Detector;
use crate::run::snapshot::Role;
use anyhow::Result;
use image::RgbImage;
use std::collections::BTreeMap;
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// One detector of the demo (and its tracker with `--track`).
pub struct Model {
    pub role: Role,
    _vs: nn::VarStore,
    det: Detector,
    tracker: Option<Tracker>,
}

/// The first face of a frame: the lead role's points and confidence, the box, how it was
/// found.
struct Lead {
    points: Vec<[f64; 2]>,
    confidence: f64,
    bbox: [f64; 4],
    source: BoxSource,
}

/// Each model's landmarks and confidence.
type Found = Vec<(Vec<[f64; 2]>, f64)>;

/// The landmarks stage's state across frames, and what it measured.
pub struct Landmarker<'a> {
    o: &'a Options,
    pub models: Vec<Model>,
    spec: CropSpec,
    num_pts: usize,
    radius: i64,
    finder: FaceFinder,
    /// The frame's size, and the video's frame rate.
    frame: (u32, u32),
    fps: f64,
    /// The annotation of every frame (`--truth`).
    truth: Option<Vec<crate::formats::pts::Landmarks>>,
    /// The face followed into the next frame.
    followed: Option<Followed>,
    /// The previous frame and its landmarks per model (`--track`).
    prev: Option<(RgbImage, Vec<Vec<[f64; 2]>>)>,
    /// Seconds in the detect, landmarks and track stages.
    pub stages: Stages,
    /// Face-detector runs by reason, and the frames it ran on.
    pub runs: BTreeMap<String, u64>,
    pub detect_frames: u64,
    /// Frames with at least one face.
    pub with_face: u64,
    /// Per model, against `--truth`.
    pub scores: Vec<Score>,
}

impl<'a> Landmarker<'a> {
    /// Landmarks per face.
    pub fn num_pts(&self) -> usize {
        self.num_pts
    }

    /// Load the detectors (and trackers) of `o.snapshot` and the annotation; everything that
    /// can be wrong is found here, before the first frame.
    pub fn new(o: &'a Options, frame: (u32, u32), fps: f64) -> Result<Self> {
        let (meta, model_cfg) = crate::run::snapshot::read_meta(&o.snapshot)?;
        let num_pts = meta.num_pts;
        // A snapshot made outside training (`tsal snapshot init`): the reference's crop.
        let spec = crate::run::resolve::trained_crop(&o.snapshot)?.unwrap_or(CropSpec::REFERENCE);
        let mut models = Vec::new();
        for &role in &o.roles {
            let (vs, det, _, _) = crate::run::snapshot::load_detector(&o.snapshot, role, o.device)?;
            let tracker = if o.track {
                Some(Tracker::load(&o.snapshot, role, spec, o.mu, o.device)?)
            } else {
                None
            };
            models.push(Model { role, _vs: vs, det, tracker });
        }
        let truth = o.truth.as_deref().map(|d| truth::read(d, num_pts)).transpose()?;
        Ok(Self {
            o,
            scores: vec![Score::default(); models.len()],
            models,
            spec,
            num_pts,
            radius: o.radius.unwrap_or(model_cfg.argmax as i64),
            finder: FaceFinder::new(o.min_face)?,
            frame,
            fps,
            truth,
            followed: None,
            prev: None,
            stages: Stages::default(),
            runs: BTreeMap::new(),
            detect_frames: 0,
            with_face: 0,
        })
    }

    /// Frame `t`'s faces, each with every model's landmarks.
    pub fn frame(&mut self, img: &RgbImage, t: u64) -> Result<Record> {
        let boxes = self.boxes(img, t);
        let mut lead = None;
        let mut faces = Vec::new();
        for (k, &(guess, source)) in boxes.iter().enumerate() {
            let (bbox, c, mut res) = self.landmarks(img, guess, source)?;
            if k == 0 && !self.o.all_faces {
                self.track(bbox, &c, &mut res)?;
            }
            let roles = self
                .models
                .iter()
                .zip(&res)
                .map(|(m, (points, confidence))| {
                    let r = RoleResult { points: points.clone(), confidence: *confidence };
                    (m.role.name().to_string(), r)
                })
                .collect();
            if k == 0 {
                if let Some(gt) = &self.truth {
                    for (sc, r) in self.scores.iter_mut().zip(&res) {
                        sc.add(t, &r.0, gt);
                    }
                }
                let prev_pts = res.iter().map(|r| r.0.clone()).collect();
                self.prev = self.o.track.then(|| (img.clone(), prev_pts));
                let (points, confidence) = res.swap_remove(0);
                lead = Some(Lead { points, confidence, bbox, source });
            }
            faces.push(FaceRecord { bbox, source, roles });
        }
        if lead.is_none() {
            self.prev = None;
        }
        self.follow(lead);
        if !faces.is_empty() {
            self.with_face += 1;
        }
        let time = t as f64 / self.fps;
        Ok(Record { frame: t, time, face: !faces.is_empty(), faces })
    }

    /// The face detector on `img`, timed and counted by `reason`.
    fn detect(&mut self, img: &RgbImage, reason: &str) -> Vec<super::face::Found> {
        let td = Instant::now();
        let found = self.finder.find(img);
        self.stages.detect += td.elapsed().as_secs_f64();
        self.detect_frames += 1;
        *self.runs.entry(reason.to_string()).or_default() += 1;
        found
    }

    /// The boxes of frame `t`, and how each was found.
    fn boxes(&mut self, img: &RgbImage, t: u64) -> Vec<([f64; 4], BoxSource)> {
        let o = self.o;
        let mut boxes = Vec::new();
        if o.all_faces {
            let found = self.detect(img, "every-frame");
            boxes.extend(found.iter().map(|f| (f.landmark_box(), BoxSource::Detected)));
        } else if let (0, Some(b)) = (t, o.bbox) {
            boxes.push((b, BoxSource::Given));
        } else if let Some(why) =
            o.policy.why_detect(self.followed.as_ref(), self.frame.0, self.frame.1)
        {
            let found = self.detect(img, why.name());
            match (found.first(), self.followed) {
                (Some(f), _) => boxes.push((f.landmark_box(), BoxSource::Detected)),
                // Nothing found: keep following a face that is still plausible (a scheduled or
                // low-confidence search can miss it).
                (None, Some(f))
                    if !matches!(
                        why,
                        Redetect::NoFace | Redetect::OffFrame | Redetect::Implausible
                    ) =>
                {
                    boxes.push((f.bbox, BoxSource::Followed))
                }
                (None, _) => {}
            }
        } else if let Some(f) = &self.followed {
            boxes.push((f.bbox, BoxSource::Followed));
        }
        boxes
    }

    /// Every model's landmarks in the crop of box `guess`: the box actually used, its crop, the
    /// landmarks. A detected or given box is re-cut with the landmarks' box, the convention the
    /// model trained on, when it agrees with the first guess (a weak model's points huddle
    /// toward the middle and would shrink the box).
    fn landmarks(
        &mut self,
        img: &RgbImage,
        guess: [f64; 4],
        source: BoxSource,
    ) -> Result<([f64; 4], Cut, Found)> {
        let tl = Instant::now();
        let mut bbox = guess;
        let mut c = cut(img, bbox, &self.spec, self.o.device);
        let mut res = landmarks(&self.models, &c, self.num_pts, self.radius)?;
        if source != BoxSource::Followed {
            if let Some(b) = box_of(&res[0].0).filter(|b| agrees(*b, bbox)) {
                bbox = b;
                c = cut(img, bbox, &self.spec, self.o.device);
                res = landmarks(&self.models, &c, self.num_pts, self.radius)?;
            }
        }
        self.stages.landmarks += tl.elapsed().as_secs_f64();
        Ok((bbox, c, res))
    }

    /// `--track`: fuse `res` with the previous frame's landmarks carried by each model's
    /// tracker from the previous frame, cut with this frame's box `bbox` (once for every role),
    /// to this frame's crop `c`.
    fn track(&mut self, bbox: [f64; 4], c: &Cut, res: &mut Found) -> Result<()> {
        let Some((pimg, ppts)) = &self.prev else { return Ok(()) };
        let tt = Instant::now();
        let before = cut(pimg, bbox, &self.spec, self.o.device);
        for (i, m) in self.models.iter().enumerate() {
            if let (Some(tr), Some(pp)) = (&m.tracker, ppts.get(i)) {
                let carried = tr.carry(&before.x, &c.x, &c.to_original, pp)?;
                res[i].0 = tr.fuse(&carried, &res[i].0);
            }
        }
        self.stages.track += tt.elapsed().as_secs_f64();
        Ok(())
    }

    /// The face to follow into the next frame: centred on the lead face's landmarks. A
    /// followed box keeps the size, the count and the reference size of the detection it
    /// descends from; a fresh box starts them.
    fn follow(&mut self, lead: Option<Lead>) {
        self.followed = match lead {
            Some(Lead { points, confidence, bbox, source }) if !self.o.all_faces => {
                let kept = if source == BoxSource::Followed { self.followed } else { None };
                let wh = kept.map_or([bbox[2] - bbox[0], bbox[3] - bbox[1]], |f| {
                    [f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]]
                });
                super::follow::centred(&points, wh).map(|b| Followed {
                    bbox: b,
                    confidence,
                    since_detection: kept.map_or(1, |f| f.since_detection + 1),
                    detected_size: kept.map_or(size(bbox), |f| f.detected_size),
                    landmark_size: box_of(&points).map_or(0.0, size),
                })
            }
            _ => None,
        };
    }
}

/// A frame cut with a face box: the normalised crop `[1, 3, H, W]` on the device, and the
/// crop → frame map.
pub struct Cut {
    x: Tensor,
    to_original: Affine,
}

fn cut(img: &RgbImage, bbox: [f64; 4], spec: &CropSpec, device: Device) -> Cut {
    let c = crop(img, bbox, spec);
    let x = Tensor::from_slice(&c.pixels)
        .view([1, 3, spec.height as i64, spec.width as i64])
        .to_device(device);
    Cut { x, to_original: c.to_original }
}

/// Each model's landmarks and confidence on crop `c`.
fn landmarks(
    models: &[Model],
    c: &Cut,
    num_pts: usize,
    radius: i64,
) -> Result<Vec<(Vec<[f64; 2]>, f64)>> {
    models
        .iter()
        .map(|m| {
            let mut r = predict_scored(&m.det, &c.x, &[c.to_original], num_pts, radius)?;
            Ok(r.remove(0))
        })
        .collect()
}

/// Whether box `b` is within 0.8–1.25× the size of `guess` and its centre within a fifth of
/// that size.
fn agrees(b: [f64; 4], guess: [f64; 4]) -> bool {
    let (sb, sg) = (size(b), size(guess));
    let shift = ((b[0] + b[2]) / 2.0 - (guess[0] + guess[2]) / 2.0)
        .hypot((b[1] + b[3]) / 2.0 - (guess[1] + guess[3]) / 2.0);
    sg > 0.0 && (0.8..=1.25).contains(&(sb / sg)) && shift <= 0.2 * sg
}
