//! Annotated frame pairs for measuring a tracker, of the two kinds training meets:
//!
//! * **views**: two augmented crops of one still image (independent draws of the training
//!   augmentation), their relative motion an affine map;
//! * **video**: frames t and t + K of one video under one crop (the first frame's box, no
//!   augmentation), their motion the video's own.
//!
//! Both frames of every pair are annotated, so the annotation of frame 1 carried by a flow can
//! be compared with frame 2's. Pairs are built with the training pipeline
//! ([`crate::data::sample::ClipBuilder`]), so crops, matrices and points are those training
//! sees.
use crate::data::augment::AugParams;
use crate::data::batch::Batch;
use crate::data::clip::{Clip, ClipKind};
use crate::data::loader::{stream_seed, HostBatch};
use crate::data::sample::{ClipBuilder, TargetParams};
use crate::formats::list::ListEntry;
use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Device;

/// One pair: the two list lines and the kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairSpec {
    pub kind: ClipKind,
    pub first: usize,
    pub second: usize,
}

/// The annotated pairs of `entries`: a views pair per distinct annotated still image, and per
/// video the pairs (t, t + `stride`) for t = the first frame, then every `stride` frames, both
/// annotated. At most `max` of each kind, spread evenly over the list.
pub fn pairs(entries: &[ListEntry], stride: usize, max: usize) -> Vec<PairSpec> {
    let stride = stride.max(1);
    let mut views = Vec::new();
    let mut video = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].follows(&entries[j - 1]) {
            j += 1;
        }
        if j - i == 1 {
            // Repeated lines (the reference wrote each 300W line 10 times) are one image.
            let e = &entries[i];
            if e.annotation.as_ref().is_some_and(|a| seen.insert((&e.image, a))) {
                views.push(PairSpec { kind: ClipKind::Views, first: i, second: i });
            }
        } else {
            let mut t = i;
            while t + stride < j {
                if entries[t].annotation.is_some() && entries[t + stride].annotation.is_some() {
                    video.push(PairSpec { kind: ClipKind::Video, first: t, second: t + stride });
                }
                t += stride;
            }
        }
        i = j;
    }
    let spread = |v: Vec<PairSpec>| -> Vec<PairSpec> {
        if v.len() <= max {
            return v;
        }
        (0..max).map(|k| v[k * v.len() / max].clone()).collect()
    };
    let mut out = spread(views);
    out.extend(spread(video));
    out
}

/// The tensors of `specs` on `device`: clips of two frames (rows 2m and 2m + 1 are pair m).
/// Views draw their two crops from `aug` with a seed per pair (`seed`, the pair's first line);
/// video pairs take the first frame's box and no augmentation.
pub fn batch(
    entries: &[ListEntry],
    specs: &[PairSpec],
    aug: &AugParams,
    targets: &TargetParams,
    seed: u64,
    threads: usize,
    device: Device,
) -> Result<Batch> {
    let still = AugParams::none(aug.crop);
    let samples = crate::parallel::map(specs, threads, None, |s| {
        let (params, clip) = match s.kind {
            ClipKind::Views => (aug, Clip { kind: s.kind, frames: vec![s.first; 2], padded: 0 }),
            ClipKind::Video => {
                (&still, Clip { kind: s.kind, frames: vec![s.first, s.second], padded: 0 })
            }
        };
        let b = ClipBuilder { entries, aug: params, targets, cache: None };
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 0, s.first as u64));
        b.build(&clip, Some(&mut rng))
    })?;
    let hb = HostBatch { clips: (0..specs.len()).collect(), samples };
    let (w, h) = (aug.crop.width as i64, aug.crop.height as i64);
    Batch::from_host(&hb, w, h, targets.num_pts as i64, device)
}
