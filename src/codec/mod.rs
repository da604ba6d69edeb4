//! Codecs: each owns the conversion between landmarks and one kind of network output, both
//! ways (targets and read-out). Coordinates in input pixels unless a name says cells.
pub mod centroid;
pub mod heatmap;

/// Heatmap stride in input pixels (reference `downsample`, spec §5.1).
pub const STRIDE: f64 = 8.0;
/// Input-pixel position of the centre of heatmap cell 0: `STRIDE / 2 − 0.5` (spec §4.5).
pub const CELL_CENTRE: f64 = 3.5;
