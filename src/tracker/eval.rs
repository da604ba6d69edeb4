//! `tsal tracker eval`: how well a tracker carries annotated landmarks from one frame to the
//! next, per kind of pair ([`super::pairs`]). For each pair, frame 1's annotated landmarks are
//! carried by the tracker's flow (frame 1 → 2, read at each landmark) and compared with frame
//! 2's annotation:
//!
//! * `static_px`: the mean distance between the two frames' annotations (no motion model: the
//!   bar to beat);
//! * `track_px`: the mean distance between the carried landmarks and frame 2's annotation.
//!
//! Means are over the landmarks visible in both frames, in crop pixels. A tracker that tracks
//! has `track_px` well below `static_px`; one that outputs no motion has them equal.
use super::pairs::{self, PairSpec};
use crate::data::augment::AugParams;
use crate::data::clip::ClipKind;
use crate::data::crop::to_unit;
use crate::data::sample::TargetParams;
use crate::formats::list::ListEntry;
use crate::losses::tracking::carry_points;
use anyhow::Result;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// One kind's figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KindScore {
    pub pairs: usize,
    /// Landmarks measured (visible in both frames).
    pub landmarks: usize,
    pub static_px: f64,
    pub track_px: f64,
    /// `track_px / static_px`.
    pub ratio: f64,
}

/// Sums of one kind.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    pairs: usize,
    landmarks: f64,
    static_px: f64,
    track_px: f64,
}

impl Sums {
    fn score(&self) -> Option<KindScore> {
        (self.landmarks > 0.0).then(|| {
            let (s, t) = (self.static_px / self.landmarks, self.track_px / self.landmarks);
            KindScore {
                pairs: self.pairs,
                landmarks: self.landmarks as usize,
                static_px: s,
                track_px: t,
                ratio: t / s,
            }
        })
    }
}

/// What [`evaluate`] needs besides the tracker and the lines.
pub struct Settings<'a> {
    /// The views' augmentation (its crop is the pairs' crop).
    pub aug: &'a AugParams,
    pub targets: &'a TargetParams,
    pub seed: u64,
    /// Pairs per forward.
    pub chunk: usize,
    pub threads: usize,
    pub device: Device,
}

/// The figures of `specs` (pairs of `entries`) under the tracker `flow` (frames in [0, 1],
/// `[M, 3, H, W]` each → the forward flow `[M, 2, H, W]` in crop pixels); `views` and `video`
/// are none where there was no pair of that kind. `tick` is called after each chunk with the
/// pairs done.
pub fn evaluate(
    flow: &dyn Fn(&Tensor, &Tensor) -> Tensor,
    entries: &[ListEntry],
    specs: &[PairSpec],
    s: &Settings,
    tick: &dyn Fn(usize),
) -> Result<[Option<KindScore>; 2]> {
    let mut sums = [Sums::default(); 2];
    let mut done = 0;
    for chunk in specs.chunks(s.chunk.max(1)) {
        let b = pairs::batch(entries, chunk, s.aug, s.targets, s.seed, s.threads, s.device)?;
        let m = chunk.len() as i64;
        let rows = |f: i64| Tensor::arange_start_step(f, 2 * m, 2, (Kind::Int64, s.device));
        let (first, second) = (rows(0), rows(1));
        let unit = to_unit(&b.images);
        let (d_static, d_track, vis) = tch::no_grad(|| {
            let fw = flow(&unit.index_select(0, &first), &unit.index_select(0, &second));
            let p1 = b.points.index_select(0, &first);
            let p2 = b.points.index_select(0, &second);
            let vis = b
                .visible
                .index_select(0, &first)
                .logical_and(&b.visible.index_select(0, &second))
                .to_kind(Kind::Float);
            let dist = |a: &Tensor| {
                (a - &p2).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Float).sqrt()
            };
            let per =
                |d: Tensor| (d * &vis).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
            let landmarks = vis.sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
            (per(dist(&p1)), per(dist(&carry_points(&p1, &fw))), landmarks)
        });
        let (ds, dt, n) = (
            Vec::<f64>::try_from(d_static)?,
            Vec::<f64>::try_from(d_track)?,
            Vec::<f64>::try_from(vis)?,
        );
        for (k, spec) in chunk.iter().enumerate() {
            let x = &mut sums[kind_index(spec.kind)];
            x.pairs += 1;
            x.landmarks += n[k];
            x.static_px += ds[k];
            x.track_px += dt[k];
        }
        done += chunk.len();
        tick(done);
    }
    Ok([sums[0].score(), sums[1].score()])
}

/// `0` for video pairs, `1` for views (the order of [`crate::train::stats::PAIR_KINDS`]).
pub fn kind_index(kind: ClipKind) -> usize {
    match kind {
        ClipKind::Video => 0,
        ClipKind::Views => 1,
    }
}
