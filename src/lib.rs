//! tsal: semi-supervised facial landmark detection the TSAL way (arXiv 2012.06711).
//!
//! Primitives (`config`, `formats`, `prep`, `data`, `synth`, `device`, `fsutil`, `interrupt`,
//! `parallel`) never import the orchestration layer (`cli`). `formats` holds the files users
//! bring, `prep` turns dataset trees into lists, `data` is the training pipeline.
pub mod bench;
pub mod cli;
pub mod codec;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod eval;
pub mod formats;
pub mod fsutil;
pub mod guard;
pub mod heap;
pub mod interrupt;
pub mod lock;
pub mod losses;
pub mod models;
pub mod parallel;
pub mod plot;
pub mod prep;
pub mod run;
pub mod synth;
pub mod train;
