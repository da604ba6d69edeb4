//! Batched inference over list lines (issue #5): each line is cropped with the deterministic
//! evaluation transform (the expanded box resized to the crop; no random draw), the detector's
//! last-stage heatmaps are read by soft-argmax, and the points are mapped back to
//! original-image pixels through the crop's inverse. Worker threads decode and crop the next
//! batches while the device runs the current one; a line repeating an earlier (image, box) is
//! predicted once.
use crate::codec::heatmap::soft_argmax;
use crate::data::augment::AugParams;
use crate::data::clip::{Clip, ClipKind};
use crate::data::sample::{ClipBuilder, HostSample, TargetParams};
use crate::formats::list::ListEntry;
use crate::models::Detector;
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug)]
pub struct PredictOptions {
    /// Crop size and `pre_crop_expand` (the random parts are not used).
    pub aug: AugParams,
    pub num_pts: usize,
    /// Soft-argmax radius in heatmap cells (the model config's `argmax`).
    pub radius: i64,
    pub batch_size: usize,
    /// Threads decoding and cropping.
    pub workers: usize,
    pub device: Device,
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
    // Targets are not needed: build them for no landmark at all (unlabelled), which is free.
    let targets = TargetParams {
        num_pts: o.num_pts,
        sigma: 1.0,
        shape: crate::codec::heatmap::Shape::Gaussian,
        cutoff: 0.0,
    };
    let unlabelled: Vec<ListEntry> =
        entries.iter().map(|e| ListEntry { annotation: None, ..e.clone() }).collect();
    let builder = ClipBuilder { entries: &unlabelled, aug: &o.aug, targets: &targets, cache: None };
    let (w, h) = (o.aug.crop_width as i64, o.aug.crop_height as i64);
    let batches: Vec<&[usize]> = distinct.chunks(o.batch_size.max(1)).collect();
    let mut points: Vec<Vec<[f64; 2]>> = vec![Vec::new(); distinct.len()];
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<HostSample>>>(2);
        let builder = &builder;
        let batches = &batches;
        s.spawn(move || {
            for b in batches.iter() {
                let r = crate::parallel::map(b, o.workers, None, |&i| {
                    let clip = Clip { kind: ClipKind::Views, frames: vec![i], padded: 0 };
                    builder.build(&clip, None)
                });
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    break;
                }
            }
        });
        let mut k = 0;
        for (b, got) in batches.iter().zip(rx.iter()) {
            crate::interrupt::check()?;
            let samples = got?;
            let pixels: Vec<f32> = samples.iter().flat_map(|s| s.images.iter().copied()).collect();
            let x = Tensor::f_from_slice(&pixels)?
                .f_view([b.len() as i64, 3, h, w])?
                .f_to_device(o.device)?;
            // An allocation the batch size and crop make too large is an error, not a panic.
            let out =
                crate::guard::catch(|| tch::no_grad(|| det.forward_t(&x, false))).map_err(|e| {
                    anyhow!(
                        "the detector failed on a batch of {} crops of {w}x{h} on {:?} \
                         (lower --batch_size?): {e}",
                        b.len(),
                        o.device
                    )
                })?;
            let last = out.stages.last().ok_or_else(|| anyhow!("the detector has no stage"))?;
            let heat = last.narrow(1, 0, o.num_pts as i64);
            let xy = soft_argmax(&heat, o.radius).xy.to_device(Device::Cpu).to_kind(Kind::Double);
            let xy: Vec<f64> = Vec::<f64>::try_from(xy.flatten(0, -1))?;
            for (j, s) in samples.iter().enumerate() {
                let back = s.to_original[0];
                points[k + j] = (0..o.num_pts)
                    .map(|p| {
                        let q = [xy[(j * o.num_pts + p) * 2], xy[(j * o.num_pts + p) * 2 + 1]];
                        back.apply(q)
                    })
                    .collect();
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
