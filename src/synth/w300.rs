//! The 300W tree (`300W/{afw,helen/*,lfpw/*,ibug}/NAME.{jpg,png}` + `NAME.pts`) and its
//! GTB lists (`lists/300W/300w.{train,test.common,test.challenge,test.full}.GTB`).
use super::background::background;
use super::degrade::{encode_jpeg, encode_png};
use super::scene::{Difficulty, RenderOptions, Scene};
use super::{rng_for, Stream, SynthOptions};
use crate::formats::matfile::{self, Value};
use crate::formats::pts::{self, PtsFormat};
use crate::fsutil::write_atomic;
use crate::interrupt;
use crate::parallel;
use crate::prep::w300_lists::det_file;
use anyhow::{Context, Result};
use rand::Rng;
use std::collections::BTreeMap;
use std::path::Path;

/// Which list a subset belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Train,
    Common,
    Challenge,
}

/// One 300W subset folder.
#[derive(Clone, Debug)]
pub struct Subset {
    /// Folder under `300W/`.
    pub dir: &'static str,
    pub count: usize,
    pub role: Role,
    /// Image file extension (lfpw ships PNGs, the others JPEGs).
    pub ext: &'static str,
}

impl Subset {
    /// File stem of image `i` in the naming style of the real subset.
    pub fn stem(&self, i: usize) -> String {
        match self.dir {
            "afw" => format!("{}_1", 1_000_000 + 7919 * i),
            "ibug" => format!("image_{:03}_1", i + 1),
            d if d.starts_with("helen") => format!(
                "{}_1",
                10_000_000 + 104_729 * i + if self.role == Role::Common { 5 } else { 0 }
            ),
            _ => format!("image_{:04}", i + 1),
        }
    }

    pub fn difficulty(&self) -> Difficulty {
        if self.role == Role::Challenge {
            Difficulty::CHALLENGE
        } else {
            Difficulty::COMMON
        }
    }
}

/// The fewest training images: one per training subset.
pub const MIN_IMAGES: usize = 3;

/// Subset sizes for `n` training images, in the proportions of the real 300W (afw 337,
/// helen 2000 + 330, lfpw 811 + 224, ibug 135 against 3148 training images).
pub fn plan(n: usize) -> Vec<Subset> {
    plan_tests(n, None, None)
}

/// [`plan`] with the common (≥ 2) and challenge test sets' sizes when given.
pub fn plan_tests(n: usize, common: Option<usize>, challenge: Option<usize>) -> Vec<Subset> {
    let part = |f: f64, min: usize| ((n as f64 * f).round() as usize).max(min);
    let afw = part(0.107, 1);
    let lfpw_train = part(0.258, 1);
    let helen_train = n.saturating_sub(afw + lfpw_train).max(1);
    let common = common.unwrap_or_else(|| part(0.176, 2)).max(2);
    let helen_test = ((common as f64 * 0.6).round() as usize).clamp(1, common - 1);
    let challenge = challenge.unwrap_or_else(|| part(0.05, 2));
    let s = |dir, count, role, ext| Subset { dir, count, role, ext };
    vec![
        s("afw", afw, Role::Train, "jpg"),
        s("helen/trainset", helen_train, Role::Train, "jpg"),
        s("lfpw/trainset", lfpw_train, Role::Train, "png"),
        s("helen/testset", helen_test, Role::Common, "jpg"),
        s("lfpw/testset", common - helen_test, Role::Common, "png"),
        s("ibug", challenge, Role::Challenge, "jpg"),
    ]
}

/// A random 300W picture (its size, face size and scene) for difficulty `diff`.
pub fn random_scene(rng: &mut impl Rng, diff: &Difficulty) -> Scene {
    let width = rng.random_range(300..=1000u32);
    let height = rng.random_range(300..=1000u32);
    let max_face = (0.6 * width.min(height) as f64).min(400.0);
    let face_px = rng.random_range(80.0..=max_face.max(80.0));
    Scene::random(rng, width, height, face_px, diff)
}

/// What a face detector might report for ground-truth box `gt`: a square around the face,
/// 0–25 % larger than the box's longer side, its centre off by ~4 % of that side.
fn detector_box(rng: &mut impl Rng, gt: [f64; 4]) -> [f64; 4] {
    let side = (gt[2] - gt[0]).max(gt[3] - gt[1]) * rng.random_range(1.0..1.25);
    let jitter = |rng: &mut dyn rand::RngCore| (rng.random::<f64>() - 0.5) * 0.08 * side;
    let cx = (gt[0] + gt[2]) / 2.0 + jitter(rng);
    let cy = (gt[1] + gt[3]) / 2.0 + jitter(rng);
    [cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0]
}

/// `300W/Bounding_Boxes/bounding_boxes_<subset>.mat` in the layout of the official files: a
/// 1×N cell of structs with `imgName`, `bb_detector` and `bb_ground_truth`.
fn write_bounding_boxes(
    base: &Path,
    subsets: &[Subset],
    boxes: &[(usize, String, [f64; 4], [f64; 4])],
) -> Result<()> {
    let row = |b: &[f64; 4]| Value::Numeric { dims: vec![1, 4], data: b.to_vec() };
    for (s, sub) in subsets.iter().enumerate() {
        let items: Vec<Value> = boxes
            .iter()
            .filter(|b| b.0 == s)
            .map(|(_, name, det, gt)| {
                let mut m = BTreeMap::new();
                m.insert(
                    "imgName".to_string(),
                    Value::Char { dims: vec![1, name.len()], text: name.clone() },
                );
                m.insert("bb_detector".to_string(), row(det));
                m.insert("bb_ground_truth".to_string(), row(gt));
                Value::Struct {
                    dims: vec![1, 1],
                    fields: vec!["imgName".into(), "bb_detector".into(), "bb_ground_truth".into()],
                    items: vec![m],
                }
            })
            .collect();
        let cell = Value::Cell { dims: vec![1, items.len()], items };
        matfile::write(&det_file(base, sub.dir), &[("bounding_boxes", cell)])?;
    }
    Ok(())
}

struct Job {
    subset: usize,
    index: usize,
    global: u64,
}

/// Write the 300W tree and lists under `root`; returns `(subset, count)` and the number of
/// list files.
pub fn generate(root: &Path, opts: &SynthOptions) -> Result<(Vec<(String, usize)>, usize)> {
    let subsets = plan_tests(opts.images, opts.common, opts.challenge);
    let mut jobs = Vec::new();
    for (s, sub) in subsets.iter().enumerate() {
        for index in 0..sub.count {
            jobs.push(Job { subset: s, index, global: jobs.len() as u64 });
        }
    }
    let base = root.join("300W");
    let bar = parallel::progress(jobs.len(), "300W images");
    let boxes = parallel::map(&jobs, opts.threads, Some(&bar), |job| {
        let sub = &subsets[job.subset];
        let mut rng = rng_for(opts.seed, Stream::W300Image, job.global);
        let scene = random_scene(&mut rng, &sub.difficulty());
        let bg = background(&mut rng, scene.width, scene.height)?;
        let out = scene.render(&bg, RenderOptions::default())?;
        let dir = base.join(sub.dir);
        let stem = sub.stem(job.index);
        let image = dir.join(format!("{stem}.{}", sub.ext));
        let bytes = if sub.ext == "png" {
            encode_png(&out.image)?
        } else {
            let q = if sub.role == Role::Challenge {
                rng.random_range(35..=90)
            } else {
                rng.random_range(70..=95)
            };
            encode_jpeg(&out.image, q)?
        };
        write_atomic(&image, &bytes)?;
        let pts_path = dir.join(format!("{stem}.pts"));
        pts::write(&pts_path, &out.landmarks, PtsFormat::Ibug)?;
        let gt = out.landmarks.bbox().context("a face without landmarks")?;
        let name = image.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        Ok((job.subset, name, detector_box(&mut rng, gt), gt))
    })?;
    bar.finish_and_clear();
    interrupt::check()?;
    write_bounding_boxes(&base, &subsets, &boxes)?;

    // The lists come from the tree on disk, by the same code as `tsal lists 300w`.
    let written = crate::prep::w300_lists::build(&base, &root.join("lists").join("300W"), 1)?;
    let counts = subsets.iter().map(|s| (format!("300W/{}", s.dir), s.count)).collect();
    Ok((counts, written.len()))
}
