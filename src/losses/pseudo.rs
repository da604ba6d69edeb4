//! The student's multi-source pseudo-label (reference `lib/procedure/basic_main.py`,
//! `basic_train_Rma_model`, as intended): the landmarks its tracker carried from the previous
//! frame, and the centre + offset read-out of the same frame (`codec::centroid::decode`, K
//! candidates), fused with weight μ. Both sources are in input pixels; the reference compared
//! pixel-unit tracked landmarks with grid-unit candidates (from `lib/utils/decode.py`,
//! `nosecenter_decode`), so its nearest candidate and its fusion were off by a factor of 8.
use tch::{Kind, Tensor};

/// The fusion weight of the tracked landmarks by default (`--mu`).
pub use crate::config::run::DEFAULT_MU as MU;

/// Candidates decoded from the centre map for the choice (the reference's `K = 32` passed to
/// `lib/utils/decode.py`, `nosecenter_decode`).
pub const CANDIDATES: i64 = 32;

/// Fused pseudo-labels `[N, P, 2]`, input pixels: for each frame the candidate `k*` nearest to
/// the tracked landmarks (Euclidean distance over the whole 2P-vector), then
/// `μ·tracked + (1 − μ)·candidates[k*]`.
///
/// Shapes: `tracked` `[N, P, 2]`, `candidates` `[N, K, P, 2]`, both in input pixels. Computed
/// without gradients (a pseudo-label is a target). Panics on mismatched shapes or μ outside
/// [0, 1].
pub fn fuse(tracked: &Tensor, candidates: &Tensor, mu: f64) -> Tensor {
    assert!((0.0..=1.0).contains(&mu), "pseudo-label: μ {mu} outside [0, 1]");
    let size = candidates.size();
    let [n, _, p, 2] = size[..] else {
        panic!("pseudo-label: the candidates must be [N, K, P, 2], found {size:?}")
    };
    assert_eq!(tracked.size(), [n, p, 2], "pseudo-label: tracked must be [N, P, 2] for {size:?}");
    tch::no_grad(|| {
        let t = tracked.to_kind(Kind::Float);
        let c = candidates.to_kind(Kind::Float);
        let dist = (&c - t.unsqueeze(1)).square().sum_dim_intlist(
            [2i64, 3].as_slice(),
            false,
            Kind::Float,
        );
        let best = dist.argmin(1, false);
        let idx = best.view([n, 1, 1, 1]).expand([n, 1, p, 2], false);
        let nearest = c.gather(1, &idx, false).squeeze_dim(1);
        t * mu + nearest * (1.0 - mu)
    })
}
