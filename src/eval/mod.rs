//! Evaluation: per-face errors under a named normaliser (`nme`), and what a list of
//! errors amounts to: mean, AUC, failure rate and the cumulative error distribution (`curves`);
//! on video, the landmarks' temporal stability (`jitter`).
//! [`evaluate`] is the one entry point for a detector in memory; [`job`] is the work of `tsal
//! eval` (a snapshot's detectors or another method's predictions, scored and reported).
pub mod benchmark;
pub mod curves;
pub mod evaluate;
pub mod jitter;
pub mod job;
pub mod nme;
pub mod predict;
pub mod predictions;
pub mod report;
pub mod score;

pub use evaluate::{evaluate, EvalList, Evaluation, Scoring};
