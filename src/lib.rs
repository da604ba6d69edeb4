//! tsal: semi-supervised facial landmark detection the TSAL way (Teacher-Student Asynchronous
//! Learning with Multi-Source Consistency, arXiv 2012.06711).
//!
//! The modules in the order data flows through them. Each depends only on those above it
//! (the small primitives at the end serve everyone); `cli` parses flags and calls the rest.
//! docs/architecture.md draws the same picture.

/// Typed settings: the reference's JSON configs, the run configuration, bounds, defaults.
pub mod config;

/// Files users bring: list files, `.pts`, MAT-files, images, PyTorch checkpoints.
pub mod formats;

/// `tsal lists`: raw 300W / 300VW / AFLW trees into list files, and `lists check`.
pub mod prep;

/// `tsal synth`: synthetic 300W / 300VW data with exact ground truth.
pub mod synth;

/// The training pipeline: clips, one affine per clip, crops, targets, the loader, batches.
pub mod data;

/// Heatmap and centroid targets, and their decoding.
pub mod codec;

/// The networks: the CPM-VGG16 detector with its CenterNet branch, PWC-Lite, weight files.
pub mod models;

/// One pure function per loss term.
pub mod losses;

/// Everything stored in a run folder: layout and lock, snapshots, checkpoints, retention,
/// metrics, and resolving `--model RUN_OR_SNAPSHOT`.
pub mod run;

/// Evaluation: prediction, NME, AUC / failure rate / CED, reports, `tsal eval`'s work.
pub mod eval;

/// PNG figures: CED plots and training curves.
pub mod plot;

/// Training: roles, optimisers, the supervised step, the TSAL round, the Trainer.
pub mod train;

/// A tracker on its own: `tsal tracker eval` and `tsal tracker pretrain`.
pub mod tracker;

/// `tsal demo`: landmarks on a video, in three threaded stages.
pub mod demo;

/// `tsal bench`: model, data and training speed, and the PyTorch peer.
pub mod bench;

/// The command line: flags parsed, settings resolved, the library called.
pub mod cli;

/// The compute device and what `tsal doctor` reports.
pub mod device;

/// Files and folders that appear whole or not at all, markers, temporaries of dead processes.
pub mod fsutil;

/// libtorch panics turned into errors.
pub mod guard;

/// Keeping freed tensor memory in the heap between steps.
pub mod heap;

/// Ctrl-C / SIGTERM: finish cleanly, remove partial output.
pub mod interrupt;

/// One writer per run folder (`flock`).
pub mod lock;

/// Work spread over threads, in order, interruptible.
pub mod parallel;
