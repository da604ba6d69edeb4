//! The structure-invariance constraint (SIC, reference `lib/procedure/basic_main.py:395-432`,
//! as intended): within one clip the face keeps its structure, so the magnitude of its
//! landmark-to-centre offsets, `m_f = Σ_j ‖o_j(f)‖²`, should not change from frame to frame.
//! The reference computed it over
//! every pair of images in the batch, mixing clips (and, through an interleaving mix-up,
//! subtracted landmark 34…67 offsets from landmark 0…33 ones); we compare frames of the same
//! clip only.
use tch::{Kind, Tensor};

/// SIC loss, a 0-d f32 tensor.
///
/// Shapes: `offsets` `[C·F, 2P]` (each frame's predicted offsets at its centre cell,
/// interleaved x, y, in cells; the frames of clip c are rows `c·F … c·F + F − 1`), `mask`
/// `[C·F, 2P]` 0/1 (which offsets count), `valid` `[C·F]` (bool or 0/1: frames whose centre
/// was found). With `m_f = Σ_k mask·o_k²` per frame:
///
/// `L = mean over clips with ≥ 2 valid frames of  1/(P·F) · Σ_{f<g, both valid} (m_f − m_g)²`.
///
/// Exactly 0 (with zero gradients) when no clip has two valid frames or when every valid
/// frame of a clip has the same magnitude. Panics on mismatched shapes or when the rows are
/// not a whole number of clips.
pub fn structure_invariance(
    offsets: &Tensor,
    mask: &Tensor,
    valid: &Tensor,
    frames: i64,
) -> Tensor {
    let size = offsets.size();
    let [rows, two_p] = size[..] else {
        panic!("structure_invariance: the offsets must be [C·F, 2P], found {size:?}")
    };
    assert!(
        frames >= 1 && rows % frames == 0,
        "structure_invariance: {rows} rows are not clips of {frames} frames"
    );
    assert_eq!(mask.size(), [rows, two_p], "structure_invariance: the mask must be [C·F, 2P]");
    assert_eq!(valid.size(), [rows], "structure_invariance: valid must be [C·F]");
    let clips = rows / frames;
    let v = valid.to_kind(Kind::Float).view([clips, frames]);
    let m = (offsets.to_kind(Kind::Float).square() * mask.to_kind(Kind::Float))
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .view([clips, frames]);
    // (m_f − m_g)² for every ordered pair of frames of a clip, both valid; each unordered pair
    // appears twice.
    let diff = (m.unsqueeze(2) - m.unsqueeze(1)).square();
    let both = v.unsqueeze(2) * v.unsqueeze(1);
    let per_clip = (diff * &both).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float)
        / (2.0 * (two_p / 2) as f64 * frames as f64);
    let counted =
        v.sum_dim_intlist([1i64].as_slice(), false, Kind::Float).ge(2.0).to_kind(Kind::Float);
    (per_clip * &counted).sum(Kind::Float) / counted.sum(Kind::Float).clamp_min(1.0)
}
