//! One clip, ready for the network: frames decoded, warped by their matrices,
//! normalised, with heatmap and centroid targets. Plain buffers (built on worker threads;
//! tensors are made on the main thread, `tch::Tensor` is not `Sync`).
use super::augment::{clip_matrices, crop_matrix, warp, warp_points, Affine, AugParams, Draw};
use super::cache::{Frame, ImageCache};
use super::clip::{Clip, ClipKind};
use crate::codec::{centroid, heatmap};
use crate::formats::list::ListEntry;
use anyhow::Result;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::crop::{normalise_into, normalise_table};
pub use super::crop::{MEAN, STD};

/// What the targets need besides the augmentation.
#[derive(Clone, Debug)]
pub struct TargetParams {
    pub num_pts: usize,
    /// σ in input pixels (already × `scale_eval`).
    pub sigma: f64,
    pub shape: heatmap::Shape,
    pub cutoff: f64,
}

/// A clip of F frames as flat buffers (frame-major).
#[derive(Clone, Debug, PartialEq)]
pub struct HostSample {
    pub frames: usize,
    /// `[F, 3, H, W]` normalised.
    pub images: Vec<f32>,
    /// `[F, P+1, H/8, W/8]` and `[F, P+1]`.
    pub heatmaps: Vec<f32>,
    pub heatmap_mask: Vec<f32>,
    /// `[F, H/8, W/8]`, `[F]`, `[F, 2P]`, `[F, 2P]`, `[F]`.
    pub centre: Vec<f32>,
    pub centre_ind: Vec<i64>,
    pub offsets: Vec<f32>,
    pub offset_mask: Vec<f32>,
    pub centre_valid: Vec<bool>,
    /// `[F, P, 2]` crop pixels and `[F, P]` visibility: the annotation, a shadow label's too
    /// (the diagnostics read them; no loss does: the targets above are built from labels only).
    pub points: Vec<f32>,
    pub visible: Vec<bool>,
    /// `[F]`: whether the losses may use the frame's annotation.
    pub labelled: Vec<bool>,
    /// `[F]`: whether `points` hold an annotation (a label or a shadow label).
    pub annotated: Vec<bool>,
    /// `[F]` crop → original-image maps.
    pub to_original: Vec<Affine>,
    /// Whether the clip is F consecutive video frames under one transform (else F views of a
    /// still image, each with its own).
    pub video: bool,
}

/// Time spent in each step of [`build_timed`], summed over frames (`tsal bench data
/// --breakdown`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    /// Decoding the image and reading the landmarks (or fetching them from the cache).
    pub read: Duration,
    pub warp: Duration,
    pub normalise: Duration,
    pub heatmaps: Duration,
    pub centroid: Duration,
    pub frames: usize,
}

/// Builds clips of `entries` with one augmentation and target setting, reading training frames
/// from `cache` when given.
#[derive(Clone, Copy)]
pub struct ClipBuilder<'a> {
    pub entries: &'a [ListEntry],
    pub aug: &'a AugParams,
    pub targets: &'a TargetParams,
    pub cache: Option<&'a ImageCache>,
}

impl ClipBuilder<'_> {
    /// Build `clip` with random transforms from `rng` (training), or with `Draw::NONE` for
    /// every frame when `rng` is `None` (evaluation, from the whole image).
    pub fn build(&self, clip: &Clip, rng: Option<&mut dyn rand::RngCore>) -> Result<HostSample> {
        self.build_timed(clip, rng, &mut PhaseTimes::default())
    }

    /// [`Self::build`], adding the time of each step to `times`.
    pub fn build_timed(
        &self,
        clip: &Clip,
        rng: Option<&mut dyn rand::RngCore>,
        times: &mut PhaseTimes,
    ) -> Result<HostSample> {
        let ClipBuilder { entries, aug, targets: tp, cache } = *self;
        let (w, h) = (aug.crop.width, aug.crop.height);
        let (gw, gh) = ((w / 8) as usize, (h / 8) as usize);
        let training = rng.is_some();
        let mats: Vec<Affine> = match rng {
            Some(mut r) => clip_matrices(clip, entries, aug, &mut r),
            None => clip
                .frames
                .iter()
                .map(|&i| crop_matrix(entries[i].bbox, aug, &Draw::NONE))
                .collect(),
        };
        let f = clip.frames.len();
        let p = tp.num_pts;
        let mut s = HostSample {
            frames: f,
            images: Vec::with_capacity(f * 3 * (w * h) as usize),
            heatmaps: Vec::with_capacity(f * (p + 1) * gw * gh),
            heatmap_mask: Vec::with_capacity(f * (p + 1)),
            centre: Vec::with_capacity(f * gw * gh),
            centre_ind: Vec::with_capacity(f),
            offsets: Vec::with_capacity(f * 2 * p),
            offset_mask: Vec::with_capacity(f * 2 * p),
            centre_valid: Vec::with_capacity(f),
            points: Vec::with_capacity(f * 2 * p),
            visible: Vec::with_capacity(f * p),
            labelled: Vec::with_capacity(f),
            annotated: Vec::with_capacity(f),
            to_original: Vec::with_capacity(f),
            video: clip.kind == ClipKind::Video,
        };
        let table = normalise_table();
        // Video frames are placed by the clip's first box; a still image's views by its own.
        let anchor = |i: usize| match clip.kind {
            ClipKind::Video => clip.frames[0],
            ClipKind::Views => i,
        };
        // The views of a still image repeat one line: read it once.
        let mut current: Option<(usize, Arc<Frame>)> = None;
        for (&i, m) in clip.frames.iter().zip(&mats) {
            let e = &entries[i];
            let t = Instant::now();
            if current.as_ref().is_none_or(|d| d.0 != i) {
                let frame = match (cache, training) {
                    (Some(c), true) => c.get(entries, i, anchor(i), aug, p)?,
                    (None, true) => {
                        Arc::new(Frame::load(e, p, Some((entries[anchor(i)].bbox, aug)))?)
                    }
                    (_, false) => Arc::new(Frame::load(e, p, None)?),
                };
                current = Some((i, frame));
            }
            let frame = &current.as_ref().expect("read above").1;
            times.read += t.elapsed();

            let t = Instant::now();
            let img = warp(&frame.region, m, w, h);
            times.warp += t.elapsed();

            let t = Instant::now();
            normalise_into(&img, &table, &mut s.images);
            times.normalise += t.elapsed();

            // A shadow label reaches `points` only: the encoders build no target for a frame
            // that is not labelled.
            let annotated = frame.points.is_some();
            let labelled = annotated && !e.shadow;
            let (xy, vis) = match &frame.points {
                Some(lm) => warp_points(&lm.xy, &lm.visible, m, w, h),
                None => (vec![[0.0, 0.0]; p], vec![false; p]),
            };
            let t = Instant::now();
            let ht = heatmap::encode(&xy, &vis, labelled, gw, gh, tp.sigma, tp.shape, tp.cutoff);
            s.heatmaps.extend(ht.maps);
            s.heatmap_mask.extend(ht.mask);
            times.heatmaps += t.elapsed();

            let t = Instant::now();
            let ct = centroid::encode(&xy, &vis, labelled, gw, gh);
            s.centre.extend(ct.heat);
            s.centre_ind.push(ct.ind);
            s.offsets.extend(ct.offsets);
            s.offset_mask.extend(ct.mask);
            s.centre_valid.push(ct.valid);
            times.centroid += t.elapsed();

            s.points.extend(xy.iter().flat_map(|q| [q[0] as f32, q[1] as f32]));
            s.visible.extend(vis);
            s.labelled.push(labelled);
            s.annotated.push(annotated);
            s.to_original.push(m.inverse());
            times.frames += 1;
        }
        Ok(s)
    }
}
