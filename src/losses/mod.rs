//! Loss terms of the detector, each a pure function of tensors that returns a 0-d f32 tensor
//! connected to the graph: the masked stage heatmap MSE (`heatmap`), the face-centre focal loss
//! (`focal`), the landmark-offset regression at the centre cell (`offset`) and the per-clip
//! structure-invariance constraint (`sic`), the tracker's census and smoothness terms
//! (`tracking`) and its end-point error against exact flow between crops of one image
//! (`exact_flow`); and the student's fused pseudo-label (`pseudo`).
//!
//! Every supervised term is exactly 0 (finite, backward()-able, zero gradients) for a batch without a
//! labelled frame, where the reference divided by zero (`annotated_num = 0` in
//! `lib/procedure/basic_main.py`, `basic_train_Rma_model`). None of them reads a value back to
//! the host.
pub mod exact_flow;
pub mod focal;
pub mod heatmap;
pub mod offset;
pub mod pseudo;
pub mod sic;
pub mod tracking;

// Term weights of the per-iteration loss
// `L = L_sup + 0.01·L_SIC + L_hm + 0.1·L_loc + L_uns` (reference `lib/procedure/basic_main.py`,
// `basic_train_Rma_model`). The unsupervised term is weighted by the ramp
// (`train::schedule::ramp_weight`).

/// Weight of the stage heatmap MSE, `heatmap::stage_mse` (reference: 1).
pub const HEATMAP_WEIGHT: f64 = 1.0;
/// Weight of the face-centre focal loss, `focal::centre_focal` (reference: 1).
pub const CENTRE_FOCAL_WEIGHT: f64 = 1.0;
/// Weight of the offset regression, `offset::offset_l1` (reference: 0.1).
pub const OFFSET_WEIGHT: f64 = 0.1;
/// Weight of the structure-invariance constraint, `sic::structure_invariance` (reference: 0.01).
pub const SIC_WEIGHT: f64 = 0.01;
