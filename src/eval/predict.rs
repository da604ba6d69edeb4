//! Batched inference over list lines: each line is cropped with the deterministic
//! crop ([`crate::data::crop`]: the expanded box resized to the crop; no random draw), the
//! detector's last-stage heatmaps are read by soft-argmax, and the points are mapped back to
//! original-image pixels through the crop's inverse ([`predict_batch`], which the demo feeds
//! with video frames). Worker threads decode and crop the next batches while the device runs
//! the current one; a line repeating an earlier (image, box) is predicted once.
//!
//! With test-time augmentation ([`Tta`]) each line is also cropped under random draws of an
//! augmentation, every view's points are taken back to the original image through that view's
//! own inverse crop, and the line's points are their mean over the views.
use crate::codec::heatmap::soft_argmax;
use crate::data::augment::{crop_matrix, warp_image, Affine, AugParams, Draw};
use crate::data::crop::{crop, normalise_into, normalise_table, CropSpec, Cropped};
use crate::formats::image_io;
use crate::formats::list::ListEntry;
use crate::models::Detector;
use anyhow::{anyhow, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Lines per inference batch unless asked otherwise (`tsal eval --batch_size`, and training's
/// evaluation after each epoch, so both give the same numbers).
pub const EVAL_BATCH: usize = 32;

#[derive(Clone, Debug)]
pub struct PredictOptions {
    pub crop: CropSpec,
    pub num_pts: usize,
    /// Soft-argmax radius in heatmap cells (the model config's `argmax`).
    pub radius: i64,
    pub batch_size: usize,
    /// Threads decoding and cropping.
    pub workers: usize,
    pub device: Device,
    /// Test-time augmentation, or none (the deterministic crop alone).
    pub tta: Option<Tta>,
}

/// Test-time augmentation: `views` crops per line, the first the deterministic crop, the others
/// drawn from `aug` (its `crop` is the options' crop) by a generator seeded with `seed` and the
/// line's index among the distinct lines, so the draws do not depend on batching or threads.
#[derive(Clone, Debug)]
pub struct Tta {
    pub views: usize,
    pub aug: AugParams,
    pub seed: u64,
}

impl Tta {
    /// The crops of `image`'s face `bbox` for distinct line `line`.
    pub fn crops(&self, image: &image::RgbImage, bbox: [f64; 4], line: usize) -> Vec<Cropped> {
        // 2⁶⁴ ÷ the golden ratio: consecutive lines' seeds differ in many bits.
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ (line as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let table = normalise_table();
        (0..self.views.max(1))
            .map(|v| {
                if v == 0 {
                    return crop(image, bbox, &self.aug.crop);
                }
                let draw = Draw::random(&mut rng, &self.aug);
                let m = crop_matrix(bbox, &self.aug, &draw);
                let img = warp_image(image, &m, self.aug.crop.width, self.aug.crop.height);
                let mut pixels = Vec::with_capacity(3 * self.aug.crop.pixels());
                normalise_into(&img, &table, &mut pixels);
                Cropped { pixels, to_original: m.inverse() }
            })
            .collect()
    }
}

/// The mean of each point over `views` (each the same number of points; one view is itself,
/// exactly).
pub fn mean_points(views: &[Vec<[f64; 2]>]) -> Vec<[f64; 2]> {
    let k = views.len() as f64;
    (0..views[0].len())
        .map(|p| {
            let (x, y) = views.iter().fold((0.0, 0.0), |(x, y), v| (x + v[p][0], y + v[p][1]));
            [x / k, y / k]
        })
        .collect()
}

/// Points per line in original-image pixels, and the throughput.
pub struct Predictions {
    pub points: Vec<Vec<[f64; 2]>>,
    /// Distinct lines run through the detector.
    pub frames: usize,
    pub seconds: f64,
}

impl Predictions {
    pub fn frames_per_second(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// The landmarks of a batch of crops: `pixels` `[B, 3, H, W]` (normalised, on the detector's
/// device) through the detector in evaluation mode, the last stage's first `num_pts` heatmaps
/// read by soft-argmax of `radius` cells, and each face's points taken back to original-image
/// pixels by its `to_original` map. A libtorch failure (memory) is an error, not a panic.
pub fn predict_batch(
    det: &Detector,
    pixels: &Tensor,
    to_original: &[Affine],
    num_pts: usize,
    radius: i64,
) -> Result<Vec<Vec<[f64; 2]>>> {
    Ok(predict_scored(det, pixels, to_original, num_pts, radius)?
        .into_iter()
        .map(|f| f.0)
        .collect())
}

/// [`predict_batch`] with each face's confidence: the mean over its points of the last
/// stage's heatmap peak (about 1 where the detector is sure, near 0 on a non-face).
pub fn predict_scored(
    det: &Detector,
    pixels: &Tensor,
    to_original: &[Affine],
    num_pts: usize,
    radius: i64,
) -> Result<Vec<(Vec<[f64; 2]>, f64)>> {
    let size = pixels.size();
    let out =
        crate::guard::catch(|| tch::no_grad(|| det.forward_t(pixels, false))).map_err(|e| {
            anyhow!(
                "the detector failed on a batch of {size:?} on {:?} (lower --batch_size?): {e}",
                pixels.device()
            )
        })?;
    let last = out.stages.last().ok_or_else(|| anyhow!("the detector has no stage"))?;
    let heat = last.narrow(1, 0, num_pts as i64);
    let peaks = soft_argmax(&heat, radius);
    let xy = peaks.xy.to_device(Device::Cpu).to_kind(Kind::Double);
    let xy: Vec<f64> = Vec::<f64>::try_from(xy.flatten(0, -1))?;
    let score = peaks.score.mean_dim([1i64].as_slice(), false, Kind::Float);
    let score: Vec<f64> = Vec::<f64>::try_from(score.to_device(Device::Cpu).to_kind(Kind::Double))?;
    Ok(to_original
        .iter()
        .enumerate()
        .map(|(j, back)| {
            let pts = (0..num_pts)
                .map(|p| back.apply([xy[(j * num_pts + p) * 2], xy[(j * num_pts + p) * 2 + 1]]))
                .collect();
            (pts, score[j])
        })
        .collect())
}

/// Predict every line of `entries` with `det`.
pub fn predict(det: &Detector, entries: &[ListEntry], o: &PredictOptions) -> Result<Predictions> {
    let t0 = Instant::now();
    // Distinct (image, box) pairs, in first-seen order; `slot[i]` is line i's pair.
    let mut index: HashMap<(std::path::PathBuf, [u64; 4]), usize> = HashMap::new();
    let mut distinct: Vec<usize> = Vec::new();
    let slot: Vec<usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = (e.image.clone(), e.bbox.map(f64::to_bits));
            *index.entry(key).or_insert_with(|| {
                distinct.push(i);
                distinct.len() - 1
            })
        })
        .collect();
    let (w, h) = (o.crop.width as i64, o.crop.height as i64);
    // With views, a batch of `batch_size` crops holds batch_size ÷ views lines (at least one).
    let views = o.tta.as_ref().map_or(1, |t| t.views.max(1));
    // Batches of positions in `distinct` (a position is the line's index for --tta's draws).
    let positions: Vec<usize> = (0..distinct.len()).collect();
    let batches: Vec<&[usize]> = positions.chunks((o.batch_size / views).max(1)).collect();
    let distinct = &distinct;
    let mut points: Vec<Vec<[f64; 2]>> = vec![Vec::new(); distinct.len()];
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Cropped>>>(2);
        let batches = &batches;
        s.spawn(move || {
            for b in batches.iter() {
                let r = crate::parallel::map(b, o.workers, None, |&d| {
                    let e = &entries[distinct[d]];
                    let img = image_io::decode(&e.image)
                        .with_context(|| format!("{}: image {}", e.origin, e.image.display()))?
                        .to_rgb8();
                    Ok(match &o.tta {
                        Some(t) => t.crops(&img, e.bbox, d),
                        None => vec![crop(&img, e.bbox, &o.crop)],
                    })
                })
                .map(|v| v.into_iter().flatten().collect::<Vec<Cropped>>());
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    break;
                }
            }
        });
        let mut k = 0;
        for (b, got) in batches.iter().zip(rx.iter()) {
            crate::interrupt::check()?;
            let crops = got?;
            let pixels: Vec<f32> = crops.iter().flat_map(|c| c.pixels.iter().copied()).collect();
            let x = Tensor::f_from_slice(&pixels)?
                .f_view([crops.len() as i64, 3, h, w])?
                .f_to_device(o.device)?;
            let back: Vec<Affine> = crops.iter().map(|c| c.to_original).collect();
            let got = predict_batch(det, &x, &back, o.num_pts, o.radius)?;
            for (j, line) in got.chunks(views).enumerate() {
                points[k + j] = mean_points(line);
            }
            k += b.len();
        }
        anyhow::ensure!(k == distinct.len(), "the crop workers stopped after {k} lines");
        Ok(())
    })?;
    if let Device::Cuda(i) = o.device {
        tch::Cuda::synchronize(i as i64);
    }
    Ok(Predictions {
        points: slot.iter().map(|&d| points[d].clone()).collect(),
        frames: distinct.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
