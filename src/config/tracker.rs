//! The tracker's configuration (`configs/MFDS.json`, ARFlow's PWC-Lite Sintel config, spec §3.4).
//! Plain JSON (not typed JSON). Only `model` and `loss` are used; the other sections
//! (`data`, `data_aug`, `seed`, `train`, `trainer`) are accepted and ignored, as in the reference.
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackerConfig {
    pub model: TrackerModel,
    pub loss: TrackerLoss,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerModel {
    /// Upsample every flow ×4 to the input resolution.
    pub upsample: bool,
    pub n_frames: usize,
    /// Use `FlowEstimatorReduce` (the ARFlow "reduce_dense" variant).
    pub reduce_dense: bool,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// tsal: divide every channel width by this (1 = ARFlow's PWC-Lite; the tiny test
    /// configuration uses 4). Checkpoints only load at 1.
    #[serde(default = "one")]
    pub width_div: usize,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackerLoss {
    pub w_l1: f64,
    pub w_ssim: f64,
    pub w_ternary: f64,
    /// Edge-aware smoothness sharpness.
    pub alpha: f64,
    /// Per-pyramid-level weights (full resolution first).
    pub w_scales: Vec<f64>,
    pub w_sm_scales: Vec<f64>,
    pub w_smooth: f64,
    /// `border` or `zeros`.
    pub warp_pad: String,
    pub with_bk: bool,
    pub occ_from_back: bool,
    /// Second-order smoothness (absent in the reference config: first order).
    #[serde(default)]
    pub smooth_2nd: bool,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl TrackerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read tracker config", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let cfg: Self = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?;
        let name = path.display();
        anyhow::ensure!(
            cfg.loss.warp_pad == "border" || cfg.loss.warp_pad == "zeros",
            "{name}: key `loss.warp_pad`: expected \"border\" or \"zeros\", found {:?}",
            cfg.loss.warp_pad
        );
        anyhow::ensure!(
            cfg.loss.w_scales.len() == 5 && cfg.loss.w_sm_scales.len() == 5,
            "{name}: keys `loss.w_scales`, `loss.w_sm_scales`: expected 5 pyramid weights each"
        );
        anyhow::ensure!(
            cfg.model.n_frames == 2,
            "{name}: key `model.n_frames`: only 2 is supported"
        );
        Ok(cfg)
    }
}
