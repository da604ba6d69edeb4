//! Codecs: each owns the conversion between landmarks and one kind of network output, both
//! ways (targets and read-out). Coordinates in input pixels unless a name says cells.
pub mod centroid;
pub mod heatmap;

/// Heatmap stride in input pixels (reference `downsample` in `configs/Detector.config`).
pub const STRIDE: f64 = 8.0;
/// Input-pixel position of the centre of heatmap cell 0: `STRIDE / 2 − 0.5`
/// (reference `lib/pts_utils/generation.py`).
pub const CELL_CENTRE: f64 = 3.5;
