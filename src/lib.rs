//! tsal: semi-supervised facial landmark detection the TSAL way (arXiv 2012.06711).
//!
//! Primitives (`config`, `data`, `synth`, `device`, `fsutil`) never import the
//! orchestration layer (`cli`).
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod fsutil;
pub mod synth;
