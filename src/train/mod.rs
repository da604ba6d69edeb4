//! Training: the optimiser with savable state ([`optim`]) and its parameter groups
//! ([`groups`]), the LR schedule and the ramp of the unsupervised weight ([`schedule`]), the
//! four trained roles ([`roles`]), one supervised step ([`step`]), the TSAL round ([`round`])
//! with its typed statistics ([`stats`]), the recursive average ([`ema`]), the training log and
//! its window ([`progress`]), the per-landmark log of the pseudo-labels ([`landmark_log`]), the
//! per-epoch evaluation ([`evaluation`]) and the [`trainer::Trainer`] that ties them together.
//! The run folder, its snapshots, checkpoints, retention and metrics live in `run`, the curves
//! in `plot`. Depends on the primitives
//! (`config`, `data`, `models`, `losses`, `eval`) and on `run` and `plot`; nothing below it
//! imports `train`.
pub mod ema;
pub mod evaluation;
pub mod groups;
pub mod landmark_log;
pub mod laps;
pub mod optim;
pub mod progress;
pub mod roles;
pub mod round;
pub mod schedule;
pub mod stats;
pub mod step;
pub mod trainer;

pub(crate) use crate::models::weights::abbreviate;
