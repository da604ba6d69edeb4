//! Training (issue #10): the optimiser with savable state and its parameter groups, the LR
//! schedule, one supervised step per role, the run folder with its snapshots, metrics and
//! curves, and the epoch loop that ties them together. Depends on the primitives (`config`,
//! `data`, `models`, `losses`, `eval`, `snapshot`); nothing below it imports `train`.
pub mod ema;
pub mod evaluation;
pub mod groups;
pub mod optim;
pub mod progress;
pub mod roles;
pub mod round;
pub mod schedule;
pub mod stats;
pub mod step;
pub mod trainer;

pub(crate) use crate::models::weights::abbreviate;
