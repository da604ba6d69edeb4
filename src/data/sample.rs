//! One clip, ready for the network (issue #4): frames decoded, warped by their matrices,
//! normalised, with heatmap and centroid targets. Plain buffers (built on worker threads;
//! tensors are made on the main thread, `tch::Tensor` is not `Sync`).
use super::augment::{clip_matrices, crop_matrix, warp, warp_points, Affine, AugParams, Draw};
use super::clip::Clip;
use super::list::ListEntry;
use super::pts;
use crate::codec::{centroid, heatmap};
use anyhow::{Context, Result};

/// ImageNet normalisation (spec §4.4).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

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
    /// `[F, P, 2]` crop pixels and `[F, P]` visibility.
    pub points: Vec<f32>,
    pub visible: Vec<bool>,
    /// `[F]`.
    pub labelled: Vec<bool>,
    /// `[F]` crop → original-image maps.
    pub to_original: Vec<Affine>,
}

/// Decode an image, naming the list line on failure.
pub fn load_image(e: &ListEntry) -> Result<image::RgbImage> {
    let img = super::image_io::decode(&e.image)
        .with_context(|| format!("{}: image {}", e.origin, e.image.display()))?;
    Ok(img.to_rgb8())
}

/// Landmarks of a line (or none for `None`), checked against `num_pts`.
pub fn load_points(e: &ListEntry, num_pts: usize) -> Result<Option<pts::Landmarks>> {
    let Some(a) = &e.annotation else { return Ok(None) };
    let lm = pts::read(a, Some(num_pts)).with_context(|| format!("{}", e.origin))?;
    anyhow::ensure!(
        lm.len() == num_pts,
        "{}: {} has {} points, expected {num_pts}",
        e.origin,
        a.display(),
        lm.len()
    );
    Ok(Some(lm))
}

/// Build `clip` with random transforms from `rng` (training), or with `Draw::NONE` for every
/// frame when `rng` is `None` (evaluation).
pub fn build(
    clip: &Clip,
    entries: &[ListEntry],
    aug: &AugParams,
    tp: &TargetParams,
    rng: Option<&mut dyn rand::RngCore>,
) -> Result<HostSample> {
    let (w, h) = (aug.crop_width, aug.crop_height);
    let (gw, gh) = ((w / 8) as usize, (h / 8) as usize);
    let mats: Vec<Affine> = match rng {
        Some(mut r) => clip_matrices(clip, entries, aug, &mut r),
        None => {
            clip.frames.iter().map(|&i| crop_matrix(entries[i].bbox, aug, &Draw::NONE)).collect()
        }
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
        to_original: Vec::with_capacity(f),
    };
    // The views of a still image repeat one line: decode it once.
    let mut decoded: Option<(usize, image::RgbImage, Option<pts::Landmarks>)> = None;
    for (&i, m) in clip.frames.iter().zip(&mats) {
        let e = &entries[i];
        if decoded.as_ref().is_none_or(|d| d.0 != i) {
            decoded = Some((i, load_image(e)?, load_points(e, p)?));
        }
        let (_, src, lm) = decoded.as_ref().expect("decoded above");
        let img = warp(src, m, w, h);
        let plane = (w * h) as usize;
        let base = s.images.len();
        s.images.resize(base + 3 * plane, 0.0);
        for (k, px) in img.pixels().enumerate() {
            for c in 0..3 {
                s.images[base + c * plane + k] = (px.0[c] as f32 / 255.0 - MEAN[c]) / STD[c];
            }
        }
        let labelled = lm.is_some();
        let (xy, vis) = match lm {
            Some(lm) => warp_points(&lm.xy, &lm.visible, m, w, h),
            None => (vec![[0.0, 0.0]; p], vec![false; p]),
        };
        let ht = heatmap::encode(&xy, &vis, labelled, gw, gh, tp.sigma, tp.shape, tp.cutoff);
        let ct = centroid::encode(&xy, &vis, labelled, gw, gh);
        s.heatmaps.extend(ht.maps);
        s.heatmap_mask.extend(ht.mask);
        s.centre.extend(ct.heat);
        s.centre_ind.push(ct.ind);
        s.offsets.extend(ct.offsets);
        s.offset_mask.extend(ct.mask);
        s.centre_valid.push(ct.valid);
        s.points.extend(xy.iter().flat_map(|q| [q[0] as f32, q[1] as f32]));
        s.visible.extend(vis);
        s.labelled.push(labelled);
        s.to_original.push(m.inverse());
    }
    Ok(s)
}
