//! The training pipeline: list lines grouped into clips, one random affine per clip, decoded
//! and warped frames with their targets, worker threads and batches. File formats live in
//! `formats`, dataset preparation in `prep`.
pub mod augment;
pub mod batch;
pub mod cache;
pub mod clip;
pub mod crop;
pub mod debug;
pub mod loader;
pub mod sample;
