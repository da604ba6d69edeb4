//! Host batch → tensors on the training device (main thread only: `tch::Tensor` is not
//! `Sync`). Frames of all clips are stacked clip-major: row `b·F + f` is frame f of clip b.
use super::loader::HostBatch;
use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

pub struct Batch {
    /// `[B·F, 3, H, W]` normalised images.
    pub images: Tensor,
    /// `[B·F, P+1, H/8, W/8]`, `[B·F, P+1]`.
    pub heatmaps: Tensor,
    pub heatmap_mask: Tensor,
    /// `[B·F, 1, H/8, W/8]`, `[B·F]` (i64), `[B·F, 2P]`, `[B·F, 2P]`, `[B·F]` (bool).
    pub centre: Tensor,
    pub centre_ind: Tensor,
    pub offsets: Tensor,
    pub offset_mask: Tensor,
    pub centre_valid: Tensor,
    /// `[B·F, P, 2]` crop pixels, `[B·F, P]` visibility: the annotations, shadow labels
    /// included (diagnostics only; the losses read the targets above).
    pub points: Tensor,
    pub visible: Tensor,
    /// `[B·F]` bool.
    pub labelled: Tensor,
    /// `[B·F, 2, 3]` crop → original-image maps (f64).
    pub to_original: Tensor,
    pub clips: usize,
    pub frames: usize,
    /// Per clip: consecutive video frames under one transform (else views of a still image).
    pub video: Vec<bool>,
    /// Per frame, on the host: whether the losses may use its annotation, and whether it has
    /// one (a label or a shadow label).
    pub labelled_host: Vec<bool>,
    pub annotated_host: Vec<bool>,
}

impl Batch {
    /// Collate `hb` (crop `w×h`, `num_pts` landmarks) and move it to `device`.
    pub fn from_host(hb: &HostBatch, w: i64, h: i64, num_pts: i64, device: Device) -> Result<Self> {
        ensure!(!hb.samples.is_empty(), "empty batch");
        let f = hb.samples[0].frames;
        ensure!(
            hb.samples.iter().all(|s| s.frames == f),
            "clips of different lengths in one batch"
        );
        let n = (hb.samples.len() * f) as i64;
        let (gw, gh, p) = (w / 8, h / 8, num_pts);
        let cat_f32 = |get: fn(&super::sample::HostSample) -> &Vec<f32>, shape: &[i64]| {
            let v: Vec<f32> = hb.samples.iter().flat_map(|s| get(s).iter().copied()).collect();
            Tensor::from_slice(&v).view(shape).to_device(device)
        };
        let cat_bool = |get: fn(&super::sample::HostSample) -> &Vec<bool>, shape: &[i64]| {
            let v: Vec<bool> = hb.samples.iter().flat_map(|s| get(s).iter().copied()).collect();
            Tensor::from_slice(&v).view(shape).to_device(device)
        };
        let ind: Vec<i64> = hb.samples.iter().flat_map(|s| s.centre_ind.iter().copied()).collect();
        let maps: Vec<f64> = hb
            .samples
            .iter()
            .flat_map(|s| s.to_original.iter().flat_map(|m| m.0.concat()))
            .collect();
        Ok(Batch {
            images: cat_f32(|s| &s.images, &[n, 3, h, w]),
            heatmaps: cat_f32(|s| &s.heatmaps, &[n, p + 1, gh, gw]),
            heatmap_mask: cat_f32(|s| &s.heatmap_mask, &[n, p + 1]),
            centre: cat_f32(|s| &s.centre, &[n, 1, gh, gw]),
            centre_ind: Tensor::from_slice(&ind).to_device(device),
            offsets: cat_f32(|s| &s.offsets, &[n, 2 * p]),
            offset_mask: cat_f32(|s| &s.offset_mask, &[n, 2 * p]),
            centre_valid: cat_bool(|s| &s.centre_valid, &[n]),
            points: cat_f32(|s| &s.points, &[n, p, 2]),
            visible: cat_bool(|s| &s.visible, &[n, p]),
            labelled: cat_bool(|s| &s.labelled, &[n]),
            to_original: Tensor::from_slice(&maps)
                .view([n, 2, 3])
                .to_kind(Kind::Double)
                .to_device(device),
            clips: hb.samples.len(),
            frames: f,
            video: hb.samples.iter().map(|s| s.video).collect(),
            labelled_host: hb.samples.iter().flat_map(|s| s.labelled.iter().copied()).collect(),
            annotated_host: hb.samples.iter().flat_map(|s| s.annotated.iter().copied()).collect(),
        })
    }
}
