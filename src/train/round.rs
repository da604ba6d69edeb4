//! One TSAL iteration (the reference's `basic_train_Rma_model` in
//! `lib/procedure/basic_main.py`, done as intended). A batch is B clips of F frames
//! (rows `b·F + f`); the pairs are the consecutive frames (j, j+1) of each clip.
//!
//! 1. **Detector forwards** (teacher and student, train mode, with gradients) on all frames.
//! 2. **Tracker steps.** Each detector's tracker estimates the forward and backward flows of
//!    every pair from the frames in [0, 1] (the range ARFlow's weights were trained on; the
//!    reference fed it ImageNet-normalised tensors). Its loss is the census photometric term
//!    with bidirectional occlusion masks plus the edge-aware smoothness
//!    ([`tracking::unflow`], weighted by the tracker config's scales), plus the ramp times the
//!    **detection consistency** with its detector (frozen): in `heatmap` mode each real
//!    frame's heatmaps carried by the flow into the other frame against that frame's own; in
//!    `image` mode the detector on the frames the tracker warped against the real frames
//!    (full resolution only). One optimiser step per tracker.
//! 3. **Detector losses.** Each: the supervised terms on labelled frames, `0.01·SIC` per video
//!    clip, and the ramp times `--unsup_weight` times its unsupervised term on pairs whose
//!    frame j+1 is unlabelled:
//!    * teacher (single source): its heatmaps of frame j+1 against its own heatmaps of frame j
//!      carried by its tracker's flow (the correct pairing; the reference's
//!      `basic_train_Rma_model` compared frame j's prediction with the frame carried into j+1),
//!      reduced like the supervised heatmap term;
//!    * student (multi source): its soft-argmax landmarks of frame j+1 against the fusion of
//!      its frame-j landmarks carried by its tracker and the nearest of its K centre + offset
//!      read-outs of frame j carried the same way (both in input pixels; the reference fused
//!      read-outs in heatmap-grid units with soft-argmax landmarks in input pixels), weight μ:
//!      the mean squared pixel error.
//!
//!    Pseudo-labels come from the detached outputs of step 1 and the flows of step 2 before
//!    the tracker update, under no_grad. One optimiser step per detector.
//! 4. **Recursive average filtering**: teacher ← λ·teacher + (1 − λ)·student, the same between
//!    the trackers ([`super::ema`]).
//!
//! With `--video_draws independent` or `anchored` the frames of a video clip are cropped by
//! different draws of the augmentation, related by a known affine ([`Alignment`]): the trackers
//! see frame j+1 resampled into frame j's crop, so their flows are the face's motion alone, and
//! what they carry (landmarks, heatmaps) is moved into frame j+1's crop by that affine.
use super::ema;
use super::laps::Laps;
use super::roles::{DetectorRole, TrackerRole};
use super::stats::{DetectorStats, IterStats, LandmarkRow, PairStats, RoundTerms, TrackerStats};
use super::step::{host_values, refuse_non_finite, supervised_terms, Terms};
use crate::codec::{centroid, heatmap::soft_argmax, STRIDE};
use crate::config::run::{Consistency, PseudoSource, RunConfig, TsalConfig};
use crate::config::tracker::TrackerLoss;
use crate::config::OptConfig;
use crate::data::augment::VideoDraws;
use crate::data::batch::Batch;
use crate::data::crop::{from_unit, to_unit};
use crate::device;
use crate::losses::{self, exact_flow, heatmap::stage_mse, pseudo, sic, tracking};
use crate::models::ops::{warp, Padding};
use crate::models::DetectorOutput;
use crate::run::snapshot::Role;
use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

/// The terms the round reports for each detector and each tracker, in the order it computes
/// them ([`super::stats`] holds them, with the diagnostics).
pub const DETECTOR_TERMS: [&str; 6] = ["heatmap", "focal", "offset", "sic", "unsup", "total"];
pub const TRACKER_TERMS: [&str; 5] = ["census", "smooth", "consistency", "exact", "total"];

/// The variables the recursive average ties together, paired once (after any resume) so the
/// per-iteration pass only runs kernels.
pub struct Averaging {
    detectors: Vec<(Tensor, Tensor)>,
    trackers: Vec<(Tensor, Tensor)>,
}

impl Averaging {
    /// Pair the teacher's variables with the student's, and their trackers', by name.
    pub fn new(dets: &[DetectorRole], trackers: &[TrackerRole]) -> Result<Self> {
        ensure!(
            dets.len() == 2 && trackers.len() == 2,
            "the round needs two detectors and two trackers"
        );
        Ok(Self {
            detectors: ema::pair_by_name(&dets[0].vs, &dets[1].vs)?,
            trackers: ema::pair_by_name(&trackers[0].vs, &trackers[1].vs)?,
        })
    }

    pub fn apply(&mut self, lambda: f64) {
        ema::average_into(&mut self.detectors, lambda);
        ema::average_into(&mut self.trackers, lambda);
    }
}

/// Row indices of the pairs: frame j and frame j+1 of every clip, j < F − 1.
fn pair_rows(clips: usize, frames: usize) -> (Vec<i64>, Vec<i64>) {
    let mut a = Vec::new();
    let mut c = Vec::new();
    for b in 0..clips {
        for j in 0..frames.saturating_sub(1) {
            a.push((b * frames + j) as i64);
            c.push((b * frames + j + 1) as i64);
        }
    }
    (a, c)
}

/// Each frame's predicted offsets at its face centre, `[N, 2P]`: the annotated centre cell on
/// frames that have one, else the cell where the centre map peaks.
fn offsets_at_centre(out: &DetectorOutput, b: &Batch) -> Tensor {
    let (n, two_p, h, w) = out.offsets.size4().expect("offsets are [N, 2P, h, w]");
    let peak = out.centre.detach().view([n, h * w]).argmax(1, false);
    let ind = b.centre_ind.where_self(&b.centre_valid, &peak);
    out.offsets
        .view([n, two_p, h * w])
        .gather(2, &ind.view([n, 1, 1]).expand([n, two_p, 1], false), false)
        .squeeze_dim(2)
}

/// What the round reads from a run's configuration (also built by `tsal bench train`, which
/// has no run).
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    pub opt: &'a OptConfig,
    pub tracker_loss: &'a TrackerLoss,
    pub tsal: &'a TsalConfig,
    pub num_pts: i64,
    /// Soft-argmax radius in cells (the model config's `argmax`).
    pub radius: i64,
    /// Video frames are cropped by their own draws (`--video_draws` independent or anchored):
    /// the pairs are aligned ([`Alignment`]).
    pub align_video: bool,
    /// Report every annotated landmark of the video pairs ([`LandmarkRow`], `--landmark_log`).
    pub landmarks: bool,
}

impl<'a> Settings<'a> {
    pub fn of(cfg: &'a RunConfig) -> Self {
        Self {
            opt: &cfg.opt.config,
            tracker_loss: &cfg.tracker.config.loss,
            tsal: &cfg.tsal,
            num_pts: cfg.data.num_pts as i64,
            radius: cfg.model.config.argmax as i64,
            align_video: cfg.augment.video_draws != VideoDraws::Shared,
            landmarks: false,
        }
    }
}

/// What a tracker step leaves for the detector losses (detached).
pub struct Tracked {
    /// Flows at full resolution, frame j → j+1 and back, `[M, 2, H, W]`.
    pub forward: Tensor,
    pub backward: Tensor,
    /// `image` mode: the detector's outputs on frame j carried into frame j+1.
    pub carried: Option<DetectorOutput>,
}

fn detach(o: &DetectorOutput) -> DetectorOutput {
    DetectorOutput {
        stages: o.stages.iter().map(|s| s.detach()).collect(),
        centre: o.centre.detach(),
        offsets: o.offsets.detach(),
    }
}

/// The frame pairs of a batch and what the losses need to know about them.
pub struct Pairs {
    /// Rows of frame j and frame j+1 of every pair, `[M]`.
    pub first: Tensor,
    pub second: Tensor,
    pub count: i64,
    /// `[M]` 0/1: the pairs whose frame j+1 has no annotation the losses may use (they get the
    /// unsupervised terms), and how many.
    pub unlabelled: Tensor,
    pub n_unlabelled: i64,
    /// `[N]` frames of video clips (SIC counts them only: views of a still image are scaled
    /// apart).
    pub video_rows: Tensor,
    /// The batch's frames in [0, 1], `[N, 3, H, W]`, and those of each pair as the trackers see
    /// them, `[M, 3, H, W]` (frame j+1 aligned into frame j's crop on aligned pairs).
    pub frames: Tensor,
    pub im1: Tensor,
    pub im2: Tensor,
    /// What the trackers' forwards read: the frames (followed by the aligned frames j+1, when
    /// aligned), and the row of each pair's second image among them, `[M]`.
    pub tracker_frames: Tensor,
    pub tracker_second: Tensor,
    /// The crop j → crop j+1 affine of the pairs, when video frames have their own draws.
    pub align: Option<Alignment>,
    /// `[N, 1]` SIC's weight of each frame's offsets: 1, or with own draws the zoom of the
    /// clip's first crop over this frame's, squared (offset magnitudes scale with the zoom).
    pub sic_scale: Tensor,
    /// The diagnostics' view of the pairs.
    pub truth: Truth,
    /// The exact flows between the two views of a still image ([`ExactFlows`]); none without
    /// such a pair.
    pub exact: Option<ExactFlows>,
}

/// The flows between the augmented views of a still image, known from their crops
/// ([`exact_flow`]), for the trackers' end-point error.
pub struct ExactFlows {
    /// Frame j → j+1 and back, `[M, 2, H, W]`, with the pixels that land inside the other
    /// frame, `[M, 1, H, W]`.
    pub forward: Tensor,
    pub backward: Tensor,
    pub forward_mask: Tensor,
    pub backward_mask: Tensor,
    /// `[M]` 1 on view pairs, 0 on video pairs (whose motion is the video's own, unknown).
    pub weight: Tensor,
}

/// Video pairs whose frames have their own draws of the augmentation (`--video_draws`): the
/// two crops differ by a known affine map on top of the face's motion. The trackers get frame
/// j+1 resampled into frame j's crop (motion only); their landmarks and heatmaps, in frame j's
/// crop at the time of frame j+1, reach frame j+1's crop by the affine.
pub struct Alignment {
    /// Crop j → crop j+1 of every pair, `[M, 2, 3]` (the identity on view pairs, which the
    /// trackers see as they are).
    pub affine: Tensor,
    /// Its dense flow, `[M, 2, H, W]` (resamples frame j+1's image into frame j's crop), and on
    /// the heatmap grid, with its inverse's ([`tracking::flow_on_grid`]).
    into_second: Tensor,
    into_second_grid: Tensor,
    from_second_grid: Tensor,
}

impl Alignment {
    /// `rel`: crop j → crop j+1 of every pair ([`exact_flow::between_crops`]); `video_pair`:
    /// per pair, whether it is two frames of a video clip.
    fn new(b: &Batch, rel: &Tensor, video_pair: &[bool]) -> Self {
        let (_, _, h, w) = b.images.size4().expect("images are [N, 3, H, W]");
        let dev = b.images.device();
        let m = video_pair.len() as i64;
        let video = Tensor::from_slice(video_pair).to_device(dev).view([m, 1, 1]);
        let identity = Tensor::from_slice(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
            .to_kind(rel.kind())
            .to_device(dev)
            .view([1, 2, 3])
            .expand([m, 2, 3], false);
        let affine = rel.where_self(&video, &identity);
        let into_second = exact_flow::affine_flow(&affine, h, w);
        let from_second = exact_flow::affine_flow(&exact_flow::invert(&affine), h, w);
        let (s, gh, gw) = (STRIDE as i64, h / STRIDE as i64, w / STRIDE as i64);
        Self {
            into_second_grid: tracking::flow_on_grid(&into_second, gh, gw, s),
            from_second_grid: tracking::flow_on_grid(&from_second, gh, gw, s),
            into_second,
            affine,
        }
    }

    /// What the trackers read: `unit` (the batch's frames) followed by frame j+1 of each video
    /// pair resampled into frame j's crop, and the row of each pair's second image among them
    /// (`second`: frame j+1's row in `unit`; view pairs keep it).
    fn tracker_inputs(
        &self,
        unit: &Tensor,
        second: &[i64],
        video_pair: &[bool],
    ) -> (Tensor, Tensor) {
        let n = unit.size()[0];
        let mut rows = second.to_vec();
        // The video pairs and their frames j+1, in order: the k-th is row n + k.
        let (mut pairs, mut sources) = (Vec::new(), Vec::new());
        for j in (0..second.len()).filter(|&j| video_pair[j]) {
            rows[j] = n + pairs.len() as i64;
            pairs.push(j as i64);
            sources.push(second[j]);
        }
        let t = |v: &[i64]| Tensor::from_slice(v).to_device(unit.device());
        let aligned = warp(
            &unit.index_select(0, &t(&sources)),
            &self.into_second.index_select(0, &t(&pairs)),
            Padding::Border,
        );
        (Tensor::cat(&[unit, &aligned], 0), t(&rows))
    }

    /// Points `[M, Q, 2]` in frame j's crop carried into frame j+1's.
    pub fn points_into_second(&self, pts: &Tensor) -> Tensor {
        let a = self.affine.to_kind(Kind::Float);
        pts.to_kind(Kind::Float).matmul(&a.narrow(2, 0, 2).transpose(1, 2))
            + a.narrow(2, 2, 1).transpose(1, 2)
    }

    /// Heatmaps `[M, C, h, w]` of frame j+1's crop resampled into frame j's (the values of
    /// [`tracking::carry_heatmaps`] by the dense flow).
    pub fn maps_into_first(&self, maps: &Tensor) -> Tensor {
        warp(maps, &self.into_second_grid, Padding::Zeros)
    }

    /// Heatmaps `[M, C, h, w]` in frame j's crop resampled into frame j+1's.
    pub fn maps_into_second(&self, maps: &Tensor) -> Tensor {
        warp(maps, &self.from_second_grid, Padding::Zeros)
    }

    fn shallow_clone(&self) -> Self {
        Self {
            affine: self.affine.shallow_clone(),
            into_second: self.into_second.shallow_clone(),
            into_second_grid: self.into_second_grid.shallow_clone(),
            from_second_grid: self.from_second_grid.shallow_clone(),
        }
    }
}

impl ExactFlows {
    /// `rel`: crop j → crop j+1 of every pair ([`exact_flow::between_crops`]); `video_pair`:
    /// per pair, whether it is two frames of a video clip.
    fn new(b: &Batch, rel: &Tensor, video_pair: &[bool]) -> Option<Self> {
        let views: Vec<f32> = video_pair.iter().map(|&v| if v { 0.0 } else { 1.0 }).collect();
        if !views.iter().any(|&v| v > 0.0) {
            return None;
        }
        let (_, _, h, w) = b.images.size4().ok()?;
        let forward = exact_flow::affine_flow(rel, h, w);
        let backward = exact_flow::affine_flow(&exact_flow::invert(rel), h, w);
        Some(Self {
            forward_mask: exact_flow::lands_inside(&forward),
            backward_mask: exact_flow::lands_inside(&backward),
            forward,
            backward,
            weight: Tensor::from_slice(&views).to_device(b.images.device()),
        })
    }

    fn shallow_clone(&self) -> Self {
        Self {
            forward: self.forward.shallow_clone(),
            backward: self.backward.shallow_clone(),
            forward_mask: self.forward_mask.shallow_clone(),
            backward_mask: self.backward_mask.shallow_clone(),
            weight: self.weight.shallow_clone(),
        }
    }

    /// The end-point error of `forward` and `backward` flows against these, both directions'
    /// mean over the view pairs.
    pub fn error(&self, forward: &Tensor, backward: &Tensor) -> Tensor {
        (exact_flow::epe(forward, &self.forward, &self.forward_mask, &self.weight)
            + exact_flow::epe(backward, &self.backward, &self.backward_mask, &self.weight))
            / 2.0
    }
}

/// The distance of each point of `a` to the same point of `b`, both `[M, P, 2]`: `[M, P]`.
fn point_distances(a: &Tensor, b: &Tensor) -> Tensor {
    (a - b).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Float).sqrt()
}

/// Each detector's landmarks (soft-argmax of its last stage, detached) on the frames `rows`
/// `[M]`, with their peaks: what the diagnostics compare.
fn readings(o: &DetectorOutput, rows: &Tensor, radius: i64) -> crate::codec::heatmap::Peaks {
    let last = o.stages.last().expect("a detector has stages").detach();
    soft_argmax(&last.index_select(0, rows), radius)
}

/// The index of video pairs among the kinds of [`Truth`] ([`super::stats::PAIR_KINDS`]).
const VIDEO_KIND: i64 = 0;

/// The annotations (labels and shadow labels) of the pairs, by kind ([`super::stats::PAIR_KINDS`]: video,
/// views), for the diagnostics only: no loss reads them.
pub struct Truth {
    /// Frame j's and frame j+1's landmarks, `[M, P, 2]` (zeros where a frame has none).
    pub first: Tensor,
    pub second: Tensor,
    /// `[2, M, P]` 0/1: per kind, the landmarks visible in both frames of the pairs of that
    /// kind whose two frames are annotated.
    visible: Tensor,
    /// `[2, M]` 0/1: per kind, its pairs.
    kind: Tensor,
    /// Per kind: its pairs, and those whose two frames are annotated.
    pub pairs: [usize; 2],
    pub annotated: [usize; 2],
}

impl Truth {
    /// `ra`, `rc`: the rows of each pair's frames; `video_pair`: whether it is two frames of a
    /// video clip.
    fn new(
        b: &Batch,
        first: &Tensor,
        second: &Tensor,
        ra: &[i64],
        rc: &[i64],
        video_pair: &[bool],
    ) -> Self {
        let dev = b.images.device();
        let m = ra.len() as i64;
        let ann = &b.annotated_host;
        let both: Vec<bool> =
            ra.iter().zip(rc).map(|(&x, &y)| ann[x as usize] && ann[y as usize]).collect();
        let mut pairs = [0; 2];
        let mut annotated = [0; 2];
        let mut kind = vec![0f32; 2 * m as usize];
        for (j, (&v, &a)) in video_pair.iter().zip(&both).enumerate() {
            let k = if v { 0 } else { 1 };
            pairs[k] += 1;
            annotated[k] += a as usize;
            kind[k * m as usize + j] = 1.0;
        }
        let kind = Tensor::from_slice(&kind).view([2, m]).to_device(dev);
        let both = Tensor::from_slice(&both).to_device(dev).to_kind(Kind::Float);
        let visible = b
            .visible
            .index_select(0, first)
            .logical_and(&b.visible.index_select(0, second))
            .to_kind(Kind::Float)
            * both.view([m, 1]);
        Self {
            first: b.points.index_select(0, first),
            second: b.points.index_select(0, second),
            visible: visible.unsqueeze(0) * kind.unsqueeze(2),
            kind,
            pairs,
            annotated,
        }
    }

    /// Per kind, the mean distance (input pixels) of `pts` `[M, P, 2]` to frame j+1's
    /// annotation over the landmarks [`Self::visible`] counts, `[2]` (0 for a kind without
    /// such a landmark).
    pub fn distance(&self, pts: &Tensor) -> Tensor {
        let d = point_distances(pts, &self.second);
        let dims = [1i64, 2].as_slice();
        (d.unsqueeze(0) * &self.visible).sum_dim_intlist(dims, false, Kind::Float)
            / self.visible.sum_dim_intlist(dims, false, Kind::Float).clamp_min(1.0)
    }

    /// Per kind, the mean magnitude of `flow` `[M, 2, H, W]` over its pairs, `[2]`.
    pub fn flow_magnitude(&self, flow: &Tensor) -> Tensor {
        let per_pair = flow
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .sqrt()
            .mean_dim([1i64, 2].as_slice(), false, Kind::Float);
        let dims = [1i64].as_slice();
        (per_pair.unsqueeze(0) * &self.kind).sum_dim_intlist(dims, false, Kind::Float)
            / self.kind.sum_dim_intlist(dims, false, Kind::Float).clamp_min(1.0)
    }

    fn shallow_clone(&self) -> Self {
        Self {
            first: self.first.shallow_clone(),
            second: self.second.shallow_clone(),
            visible: self.visible.shallow_clone(),
            kind: self.kind.shallow_clone(),
            pairs: self.pairs,
            annotated: self.annotated,
        }
    }
}

/// `[N, 1]` each frame's zoom (crop pixels per image pixel) relative to its clip's first frame,
/// squared: |det| of the first frame's crop → image map over this frame's.
fn zoom_ratios(b: &Batch) -> Tensor {
    let d = exact_flow::determinant(&b.to_original).abs().view([b.clips as i64, b.frames as i64]);
    (&d / d.narrow(1, 0, 1)).to_kind(Kind::Float).view([-1, 1])
}

impl Pairs {
    /// The pairs of batch `b`; `align`: video frames have their own draws ([`Alignment`]).
    pub fn new(b: &Batch, align: bool) -> Result<Self> {
        ensure!(
            b.frames >= 2,
            "the TSAL round needs clips of at least 2 frames, found {}",
            b.frames
        );
        let dev = b.images.device();
        let (ra, rc) = pair_rows(b.clips, b.frames);
        let first = Tensor::from_slice(&ra).to_device(dev);
        let second = Tensor::from_slice(&rc).to_device(dev);
        let lab = &b.labelled_host;
        let sel: Vec<f32> = rc.iter().map(|&r| if lab[r as usize] { 0.0 } else { 1.0 }).collect();
        let n_unlabelled = sel.iter().filter(|&&x| x > 0.0).count() as i64;
        let video: Vec<bool> =
            b.video.iter().flat_map(|&v| std::iter::repeat_n(v, b.frames)).collect();
        let video_pair: Vec<bool> = ra.iter().map(|&r| b.video[r as usize / b.frames]).collect();
        let truth = Truth::new(b, &first, &second, &ra, &rc, &video_pair);
        let rel = exact_flow::between_crops(&b.to_original, &first, &second);
        let exact = ExactFlows::new(b, &rel, &video_pair);
        let unit = to_unit(&b.images);
        let align = align.then(|| Alignment::new(b, &rel, &video_pair));
        let (tracker_frames, tracker_second, sic_scale) = match &align {
            Some(al) => {
                let (frames, rows) = al.tracker_inputs(&unit, &rc, &video_pair);
                (frames, rows, zoom_ratios(b))
            }
            None => {
                let ones = Tensor::ones([(b.clips * b.frames) as i64, 1], (Kind::Float, dev));
                (unit.shallow_clone(), second.shallow_clone(), ones)
            }
        };
        Ok(Self {
            im1: unit.index_select(0, &first),
            im2: tracker_frames.index_select(0, &tracker_second),
            tracker_frames,
            tracker_second,
            align,
            sic_scale,
            frames: unit,
            count: ra.len() as i64,
            first,
            second,
            unlabelled: Tensor::from_slice(&sel).to_device(dev),
            n_unlabelled,
            video_rows: Tensor::from_slice(&video).to_device(dev),
            truth,
            exact,
        })
    }

    /// Points `[M, Q, 2]` in frame j's crop, in frame j+1's ([`Alignment`]; as they are when
    /// the pairs are not aligned).
    pub fn points_into_second(&self, pts: Tensor) -> Tensor {
        match &self.align {
            Some(al) => al.points_into_second(&pts),
            None => pts,
        }
    }

    /// Heatmaps `[M, C, h, w]` of frame j+1's crop, in frame j's (as they are unaligned).
    pub fn maps_into_first(&self, maps: Tensor) -> Tensor {
        match &self.align {
            Some(al) => al.maps_into_first(&maps),
            None => maps,
        }
    }

    /// Heatmaps `[M, C, h, w]` in frame j's crop, in frame j+1's (as they are unaligned).
    pub fn maps_into_second(&self, maps: Tensor) -> Tensor {
        match &self.align {
            Some(al) => al.maps_into_second(&maps),
            None => maps,
        }
    }

    /// New handles to the same tensors (for another thread).
    pub fn shallow_clone(&self) -> Self {
        let sc = |t: &Tensor| t.shallow_clone();
        Self {
            first: sc(&self.first),
            second: sc(&self.second),
            count: self.count,
            unlabelled: sc(&self.unlabelled),
            n_unlabelled: self.n_unlabelled,
            video_rows: sc(&self.video_rows),
            frames: sc(&self.frames),
            im1: sc(&self.im1),
            im2: sc(&self.im2),
            tracker_frames: sc(&self.tracker_frames),
            tracker_second: sc(&self.tracker_second),
            align: self.align.as_ref().map(|a| a.shallow_clone()),
            sic_scale: sc(&self.sic_scale),
            truth: self.truth.shallow_clone(),
            exact: self.exact.as_ref().map(|e| e.shallow_clone()),
        }
    }
}

/// A tracker's loss terms (0-d tensors; `total` carries the gradient) and what it leaves for
/// the detectors.
pub struct TrackerTerms {
    pub census: Tensor,
    pub smooth: Tensor,
    pub consistency: Tensor,
    /// The end-point error against the exact flow of view pairs (0 without one).
    pub exact: Tensor,
    pub total: Tensor,
    pub tracked: Tracked,
}

/// The loss of tracker `tr` serving detector `d` (frozen for it), whose train-mode outputs on
/// the batch are `out`: census + `w_smooth`·smoothness + `ramp`·detection consistency +
/// `flow_supervision`·end-point error against the exact flow of view pairs.
pub fn tracker_loss(
    d: &mut DetectorRole,
    tr: &TrackerRole,
    out: &DetectorOutput,
    pairs: &Pairs,
    cfg: Settings,
    ramp: f64,
    laps: &mut Laps,
) -> Result<TrackerTerms> {
    let loss = cfg.tracker_loss;
    let stride = STRIDE as i64;
    let flows = tr.forward_pairs(&pairs.tracker_frames, &pairs.first, &pairs.tracker_second, true);
    laps.lap("tracker forwards");
    let uf = tracking::unflow(loss, &flows.forward, &flows.backward, &pairs.im1, &pairs.im2)?;
    laps.lap("census + smoothness");
    let real: Vec<Tensor> = out.stages.iter().map(|s| s.detach()).collect();
    let real1: Vec<Tensor> = real.iter().map(|s| s.index_select(0, &pairs.first)).collect();
    // Aligned pairs: frame j+1's heatmaps in frame j's crop, where the flows are.
    let real2: Vec<Tensor> =
        real.iter().map(|s| pairs.maps_into_first(s.index_select(0, &pairs.second))).collect();
    let (consistency, carried) = match cfg.tsal.consistency {
        Consistency::Heatmap => {
            let carry = |maps: &[Tensor], flow: &Tensor| -> Vec<Tensor> {
                maps.iter().map(|s| tracking::carry_heatmaps(s, flow, stride)).collect()
            };
            let into2 = carry(&real1, &flows.backward[0]);
            let into1 = carry(&real2, &flows.forward[0]);
            let c = tracking::detection_consistency(&real2, &into2)
                + tracking::detection_consistency(&real1, &into1);
            (c, None)
        }
        Consistency::Image => {
            let (frame1_in_2, frame2_in_1) = tracking::carried_frames(
                loss,
                &flows.forward[0],
                &flows.backward[0],
                &pairs.im1,
                &pairs.im2,
            )?;
            d.vs.freeze();
            let o2 = d.forward(&from_unit(&frame1_in_2), false);
            let o1 = d.forward(&from_unit(&frame2_in_1), false);
            d.vs.unfreeze();
            let c = tracking::detection_consistency(&real2, &o2.stages)
                + tracking::detection_consistency(&real1, &o1.stages);
            (c, Some(detach(&o2)))
        }
    };
    laps.lap("detection consistency");
    let census = uf.photometric.shallow_clone();
    let smooth = &uf.smooth * loss.w_smooth;
    let exact = match &pairs.exact {
        // Measured with any weight: the trackers' error where the flow is known.
        Some(e) => e.error(&flows.forward[0], &flows.backward[0]),
        _ => Tensor::zeros([], (Kind::Float, pairs.frames.device())),
    };
    let mut total = &census + &smooth + &consistency * ramp;
    if cfg.tsal.flow_supervision > 0.0 {
        total += &exact * cfg.tsal.flow_supervision;
    }
    let tracked = Tracked {
        forward: flows.forward[0].detach(),
        backward: flows.backward[0].detach(),
        carried,
    };
    Ok(TrackerTerms { census, smooth, consistency, exact, total, tracked })
}

/// A detector's loss terms (0-d tensors; `total` carries the gradient), and for the student
/// its fused pseudo-label `[M, P, 2]` (input pixels).
pub struct DetectorTerms {
    pub supervised: Terms,
    pub sic: Tensor,
    pub unsup: Tensor,
    pub total: Tensor,
    pub pseudo_label: Option<Tensor>,
}

/// The loss of the detector of `role` with train-mode outputs `out` on batch `b` (`labelled`
/// annotated frames) and what its tracker left (`tracked`).
#[allow(clippy::too_many_arguments)]
pub fn detector_loss(
    role: Role,
    out: &DetectorOutput,
    tracked: &Tracked,
    pseudo_from: (&DetectorOutput, &Tracked),
    b: &Batch,
    pairs: &Pairs,
    labelled: i64,
    cfg: Settings,
    ramp: f64,
    laps: &mut Laps,
) -> DetectorTerms {
    let dev = b.images.device();
    let (opt, t, p, radius) = (cfg.opt, cfg.tsal, cfg.num_pts, cfg.radius);
    let (ia, ic, m) = (&pairs.first, &pairs.second, pairs.count);
    let supervised = supervised_terms(out, b, labelled, opt);
    laps.lap("supervised terms");
    let rows = (b.clips * b.frames) as i64;
    let sic = sic::structure_invariance(
        &offsets_at_centre(out, b),
        &(Tensor::ones([rows, 2 * p], (Kind::Float, dev)) * &pairs.sic_scale),
        &pairs.video_rows,
        b.frames as i64,
    );
    laps.lap("SIC");
    let last = out.stages.last().expect("a detector has stages");
    // The student's pseudo-label: tracked landmarks and centre + offset read-outs, fused.
    let pseudo_label = (role == Role::Student).then(|| {
        let (src, tracked) = pseudo_from;
        let src_last = src.stages.last().expect("a detector has stages");
        tch::no_grad(|| {
            let (tracked_pts, candidates) = match &tracked.carried {
                Some(c) => {
                    let a =
                        soft_argmax(c.stages.last().expect("stages"), radius).xy.narrow(1, 0, p);
                    let cand = centroid::decode(&c.centre, &c.offsets, pseudo::CANDIDATES);
                    (a, cand.landmarks)
                }
                None => {
                    let at_j = src_last.detach().index_select(0, ia);
                    let a = soft_argmax(&at_j, radius).xy.narrow(1, 0, p);
                    let a = tracking::carry_points(&a, &tracked.forward);
                    let cand = centroid::decode(
                        &src.centre.detach().index_select(0, ia),
                        &src.offsets.detach().index_select(0, ia),
                        pseudo::CANDIDATES,
                    )
                    .landmarks;
                    let kk = cand.size()[1];
                    let flat =
                        tracking::carry_points(&cand.reshape([m, kk * p, 2]), &tracked.forward);
                    (a, flat.view([m, kk, p, 2]))
                }
            };
            pairs.points_into_second(pseudo::fuse(&tracked_pts, &candidates, t.mu))
        })
    });
    laps.lap("pseudo-labels");
    let unsup = if pairs.n_unlabelled == 0 {
        Tensor::zeros([], (Kind::Float, dev))
    } else if let Some(fused) = &pseudo_label {
        // Student: its soft-argmax landmarks of frame j+1 against the pseudo-label, mean squared
        // pixel error per pair.
        let pred = soft_argmax(&last.index_select(0, ic), radius).xy.narrow(1, 0, p);
        let per_pair = (pred - fused).square().mean_dim([1i64, 2].as_slice(), false, Kind::Float);
        (per_pair * &pairs.unlabelled).sum(Kind::Float) / pairs.n_unlabelled as f64
    } else {
        // Teacher: its heatmaps of frame j carried into frame j+1 (the last stage, the best
        // estimate) are the target of every stage at j+1; the background is left out.
        let target = tch::no_grad(|| match &tracked.carried {
            Some(c) => c.stages.last().expect("stages").shallow_clone(),
            None => pairs.maps_into_second(tracking::carry_heatmaps(
                &last.detach().index_select(0, ia),
                &tracked.backward,
                STRIDE as i64,
            )),
        });
        let stages: Vec<Tensor> = out.stages.iter().map(|s| s.index_select(0, ic)).collect();
        let background = Tensor::from_slice(&[p]).to_device(dev);
        let channels = Tensor::ones([p + 1], (Kind::Float, dev)).index_fill(0, &background, 0.0);
        let mask = pairs.unlabelled.view([m, 1]) * channels.view([1, p + 1]);
        stage_mse(&stages, &target, &mask, pairs.n_unlabelled, opt.criterion, opt.lossnorm)
    };
    laps.lap("unsupervised terms");
    let total = &supervised.total + &sic * losses::SIC_WEIGHT + &unsup * (ramp * t.unsup_weight);
    DetectorTerms { supervised, sic, unsup, total, pseudo_label }
}

/// One tracker's step: its loss, checked, backward and optimiser step, and the diagnostics.
#[allow(clippy::too_many_arguments)]
fn tracker_step(
    d: &mut DetectorRole,
    tr: &mut TrackerRole,
    out: &DetectorOutput,
    pairs: &Pairs,
    cfg: Settings,
    ramp: f64,
    iter: u64,
    laps: &mut Laps,
) -> Result<(TrackerStats, Tracked)> {
    let terms = tracker_loss(d, tr, out, pairs, cfg, ramp, laps)?;
    let v = host_values(&[
        &terms.census,
        &terms.smooth,
        &terms.consistency,
        &terms.exact,
        &terms.total,
    ])?;
    refuse_non_finite(&TRACKER_TERMS, &v, &tr.name(), iter)?;
    laps.lap("reading the terms");
    tr.opt.zero_grad();
    terms.total.backward();
    laps.lap(&format!("{} backward", tr.name()));
    tr.opt.step();
    laps.lap("optimiser steps");
    let [census, smooth, consistency, exact, total] = [v[0], v[1], v[2], v[3], v[4]];
    Ok((TrackerStats { census, smooth, consistency, exact, total }, terms.tracked))
}

/// Intra-op threads for each of the two tracker steps when they run at once, or none when they
/// run one after the other. The trackers are independent (each serves its own detector, frozen
/// for it) and their tensors small: one tracker on two CPU threads spends much of its time in
/// the threads' barriers, two trackers on a thread each keep both busy (the round's tracker
/// phases 25–40 % shorter on a 2-core CPU, docs/performance.md). On CUDA they stay in turn.
pub fn concurrent_tracker_threads(device: Device) -> Option<usize> {
    let threads = tch::get_num_threads().max(1) as usize;
    (device == Device::Cpu && threads >= 2 && device::intra_op_threads_limitable())
        .then_some(threads / 2)
}

/// Both trackers' steps ([`tracker_step`]): at once, each on its own thread with `threads`
/// intra-op threads, or in turn on this thread (`None`). The values are the same either way
/// (each step is its own computation) up to the float rounding of a different intra-op thread
/// count (`tests/tsal_round.rs`). The round passes [`concurrent_tracker_threads`].
#[allow(clippy::too_many_arguments)]
pub fn tracker_steps(
    dets: &mut [DetectorRole],
    trackers: &mut [TrackerRole],
    outs: &[DetectorOutput],
    pairs: &Pairs,
    cfg: Settings,
    ramp: f64,
    iter: u64,
    threads: Option<usize>,
    laps: &mut Laps,
) -> Result<(Vec<TrackerStats>, Vec<Tracked>)> {
    let mut stats = Vec::with_capacity(2);
    let mut tracked = Vec::with_capacity(2);
    if cfg.tsal.zero_flow {
        // The ablation: frame j's points stay where they are; no tracker runs or learns.
        let (m, h, w) = (pairs.count, pairs.im1.size()[2], pairs.im1.size()[3]);
        let zeros = || Tensor::zeros([m, 2, h, w], (Kind::Float, pairs.im1.device()));
        for _ in trackers.iter() {
            stats.push(TrackerStats::default());
            tracked.push(Tracked { forward: zeros(), backward: zeros(), carried: None });
        }
        laps.lap("zero flow");
        return Ok((stats, tracked));
    }
    let Some(threads) = threads else {
        for ((d, tr), out) in dets.iter_mut().zip(trackers.iter_mut()).zip(outs) {
            let (s, t) = tracker_step(d, tr, out, pairs, cfg, ramp, iter, laps)?;
            stats.push(s);
            tracked.push(t);
        }
        return Ok((stats, tracked));
    };
    // Tensors may move between threads but not be shared: each thread gets its own handles.
    type Outcome = (Result<(TrackerStats, Tracked)>, String, Laps);
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = dets
            .iter_mut()
            .zip(trackers.iter_mut())
            .zip(outs)
            .map(|((d, tr), out)| {
                let (out, pairs, mut own) = (detach(out), pairs.shallow_clone(), laps.child());
                s.spawn(move || {
                    device::limit_intra_op_threads(threads);
                    let r = tracker_step(d, tr, &out, &pairs, cfg, ramp, iter, &mut own);
                    (r, tr.name(), own)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    laps.lap("tracker steps (both at once)");
    for (r, name, own) in results {
        laps.absorb(&name, own);
        let (s, t) = r?;
        stats.push(s);
        tracked.push(t);
    }
    Ok((stats, tracked))
}

/// One TSAL iteration on batch `b` (`labelled`: its labelled frames) at global iteration `iter`
/// (1-based, for messages), with the unsupervised terms weighted by `ramp`. `dets` and
/// `trackers` are [teacher, student] and their trackers. Returns every term, per role.
#[allow(clippy::too_many_arguments)]
pub fn round(
    dets: &mut [DetectorRole],
    trackers: &mut [TrackerRole],
    avg: &mut Averaging,
    b: &Batch,
    labelled: i64,
    cfg: Settings,
    ramp: f64,
    iter: u64,
) -> Result<IterStats> {
    round_timed(dets, trackers, avg, b, labelled, cfg, ramp, iter, &mut Laps::off())
}

/// [`round`], its time split into phases by `laps` (`tsal bench train --round --breakdown`).
#[allow(clippy::too_many_arguments)]
pub fn round_timed(
    dets: &mut [DetectorRole],
    trackers: &mut [TrackerRole],
    avg: &mut Averaging,
    b: &Batch,
    labelled: i64,
    cfg: Settings,
    ramp: f64,
    iter: u64,
    laps: &mut Laps,
) -> Result<IterStats> {
    ensure!(
        dets.len() == 2 && trackers.len() == 2,
        "the round needs two detectors and two trackers"
    );
    laps.restart();
    let pairs = Pairs::new(b, cfg.align_video)?;
    laps.lap("pairs");

    // 1. Detector forwards.
    let outs: Vec<DetectorOutput> = dets.iter().map(|d| d.forward(&b.images, true)).collect();
    laps.lap("detector forwards");

    // 2. Tracker steps.
    let threads = concurrent_tracker_threads(b.images.device());
    let (tracker_stats, tracked) =
        tracker_steps(dets, trackers, &outs, &pairs, cfg, ramp, iter, threads, laps)?;

    // 3. Detector losses, all checked before either detector steps.
    let mut totals = Vec::with_capacity(2);
    let mut detector_stats = Vec::with_capacity(2);
    let mut pseudo_label = None;
    // `dets` is [teacher, student]; the student's pseudo-label is made of `label_source`'s
    // outputs and tracker.
    let label_source = match cfg.tsal.pseudo_source {
        PseudoSource::Student => 1,
        PseudoSource::Teacher => 0,
    };
    for (k, d) in dets.iter().enumerate() {
        let source = if d.role == Role::Student { label_source } else { k };
        let from = (&outs[source], &tracked[source]);
        let terms = detector_loss(
            d.role,
            &outs[k],
            &tracked[k],
            from,
            b,
            &pairs,
            labelled,
            cfg,
            ramp,
            laps,
        );
        let s = &terms.supervised;
        let v = host_values(&[
            &s.heatmap,
            &s.focal,
            &s.offset,
            &terms.sic,
            &terms.unsup,
            &terms.total,
        ])?;
        refuse_non_finite(&DETECTOR_TERMS, &v, d.role.name(), iter)?;
        laps.lap("reading the terms");
        if let Some(p) = &terms.pseudo_label {
            pseudo_label = Some(p.shallow_clone());
        }
        detector_stats.push(DetectorStats {
            heatmap: v[0],
            focal: v[1],
            offset: v[2],
            sic: Some(v[3]),
            unsup: Some(v[4]),
            total: v[5],
        });
        totals.push(terms.total);
    }
    for (d, total) in dets.iter_mut().zip(&totals) {
        d.opt.zero_grad();
        total.backward();
        laps.lap(&format!("{} backward", d.role.name()));
        d.opt.step();
        laps.lap("optimiser steps");
    }

    // 4. Recursive average filtering.
    let t = cfg.tsal;
    avg.apply(t.lambda);
    laps.lap("averaging");
    // Both detectors' landmarks on frame j+1, [teacher, student].
    let (radius, p) = (cfg.radius, cfg.num_pts);
    let at_second: Vec<Tensor> = tch::no_grad(|| {
        outs.iter().map(|o| readings(o, &pairs.second, radius).xy.narrow(1, 0, p)).collect()
    });
    let pair_stats = pair_diagnostics(&pairs, &at_second, &tracked, pseudo_label.as_ref())?;
    let landmarks = match (&pseudo_label, cfg.landmarks) {
        (Some(label), true) => {
            let source = (&outs[label_source], &tracked[label_source]);
            landmark_rows(&pairs, &at_second, source, label, cfg)?
        }
        _ => Vec::new(),
    };
    laps.lap("diagnostics");
    Ok(IterStats {
        teacher: detector_stats[0],
        student: Some(detector_stats[1]),
        trackers: Some([tracker_stats[0], tracker_stats[1]]),
        round: Some(RoundTerms { ramp, lambda: t.lambda, mu: t.mu }),
        pairs: Some(pair_stats),
        landmarks,
    })
}

/// What the round did on each kind of pair ([`PairStats`], [`super::stats::PAIR_KINDS`]), from the detectors'
/// landmarks on frame j+1 `at_second` `[M, P, 2]` and what the trackers left (`tracked`;
/// [teacher, student] both), the student's pseudo-label, against the annotations of [`Truth`].
/// One read from the device.
pub fn pair_diagnostics(
    pairs: &Pairs,
    at_second: &[Tensor],
    tracked: &[Tracked],
    pseudo_label: Option<&Tensor>,
) -> Result<[PairStats; 2]> {
    let truth = &pairs.truth;
    // Aligned pairs: frame j's points reach frame j+1's crop by the affine ("not moving" is the
    // affine alone).
    let values = tch::no_grad(|| {
        let mut v = vec![truth.distance(&pairs.points_into_second(truth.first.shallow_clone()))];
        for t in tracked {
            let carried = tracking::carry_points(&truth.first, &t.forward);
            v.push(truth.distance(&pairs.points_into_second(carried)));
        }
        v.push(match pseudo_label {
            Some(p) => truth.distance(p),
            None => Tensor::zeros([2], (Kind::Float, truth.first.device())),
        });
        for pts in at_second {
            v.push(truth.distance(pts));
        }
        for t in tracked {
            v.push(truth.flow_magnitude(&t.forward));
        }
        Tensor::stack(&v, 0).to_kind(Kind::Double)
    });
    let v = Vec::<f64>::try_from(values.view([-1]))?;
    // Rows: static, track ×2, pseudo, det ×2, flow ×2; a column per kind.
    let at = |row: usize, k: usize| v[row * 2 + k];
    Ok(std::array::from_fn(|k| {
        let measured = |row: usize| (truth.annotated[k] > 0).then(|| at(row, k));
        let flow = |row: usize| (truth.pairs[k] > 0).then(|| at(row, k));
        PairStats {
            pairs: truth.pairs[k] as f64,
            annotated: truth.annotated[k] as f64,
            static_px: measured(0),
            track_px: [measured(1), measured(2)],
            pseudo_px: pseudo_label.and(measured(3)),
            det_px: [measured(4), measured(5)],
            flow_px: [flow(6), flow(7)],
        }
    }))
}

/// Every landmark of the video pairs whose two frames are annotated and that is visible in both
/// ([`LandmarkRow`]): the student's pseudo-label `label` `[M, P, 2]`, made of `source`'s
/// detector outputs and tracker, and the detectors' frame-j+1 landmarks `at_second`
/// ([teacher, student]) against frame j+1's annotation, with the source's heatmap peak at
/// frame j and its tracker's forward–backward distance. Diagnostics only; one read from the
/// device.
pub fn landmark_rows(
    pairs: &Pairs,
    at_second: &[Tensor],
    source: (&DetectorOutput, &Tracked),
    label: &Tensor,
    cfg: Settings,
) -> Result<Vec<LandmarkRow>> {
    let (truth, p) = (&pairs.truth, cfg.num_pts);
    let (teacher, student) = (&at_second[0], &at_second[1]);
    let values = tch::no_grad(|| {
        let at_j = readings(source.0, &pairs.first, cfg.radius);
        let start = at_j.xy.narrow(1, 0, p);
        let there = tracking::carry_points(&start, &source.1.forward);
        let back = tracking::carry_points(&there, &source.1.backward);
        Tensor::stack(
            &[
                point_distances(label, &truth.second),
                point_distances(student, &truth.second),
                point_distances(teacher, &truth.second),
                at_j.score.narrow(1, 0, p),
                point_distances(&back, &start),
                point_distances(label, teacher),
                point_distances(label, student),
                truth.visible.select(0, VIDEO_KIND),
            ],
            0,
        )
        .to_kind(Kind::Double)
    });
    let v = Vec::<f64>::try_from(values.view([-1]))?;
    let n = (pairs.count * p) as usize;
    let col = |c: usize, i: usize| v[c * n + i];
    Ok((0..n)
        .filter(|&i| col(7, i) > 0.5)
        .map(|i| LandmarkRow {
            pair: i / p as usize,
            landmark: i % p as usize,
            pseudo_px: col(0, i),
            det_px: col(1, i),
            det_px_teacher: col(2, i),
            peak: col(3, i),
            fb_px: col(4, i),
            to_teacher_px: col(5, i),
            to_student_px: col(6, i),
        })
        .collect())
}
