//! Synthetic 300W / 300VW-format data with exact ground truth (placeholder).
