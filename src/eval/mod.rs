//! Evaluation (issue #5): per-face errors under a named normaliser (`nme`), and what a list of
//! errors amounts to: mean, AUC, failure rate and the cumulative error distribution (`curves`).
pub mod benchmark;
pub mod curves;
pub mod nme;
pub mod plot;
pub mod predict;
pub mod predictions;
pub mod report;
pub mod score;
