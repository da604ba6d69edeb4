//! The tracker's configuration (`configs/MFDS.json`, ARFlow's PWC-Lite Sintel config).
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

    /// Top-level sections of ARFlow's config; `data`, `data_aug`, `seed`, `train` and
    /// `trainer` are accepted and ignored, as in the reference.
    pub const KEYS: &'static [&'static str] =
        &["data", "data_aug", "loss", "model", "seed", "train", "trainer"];
    pub const MODEL_KEYS: &'static [&'static str] =
        &["upsample", "n_frames", "reduce_dense", "type", "width_div"];
    pub const LOSS_KEYS: &'static [&'static str] = &[
        "w_l1",
        "w_ssim",
        "w_ternary",
        "alpha",
        "w_scales",
        "w_sm_scales",
        "w_smooth",
        "warp_pad",
        "with_bk",
        "occ_from_back",
        "smooth_2nd",
        "type",
    ];

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let at = |e: serde_json::Error| {
            anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column())
        };
        let json: serde_json::Value = serde_json::from_str(text).map_err(at)?;
        let keys = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(|v| v.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default()
        };
        let check = |section: &str, v: Option<&serde_json::Value>, known: &[&str]| {
            super::keys::check(path, section, keys(v).iter().map(String::as_str), known)
        };
        check("", Some(&json), Self::KEYS)?;
        check("model", json.get("model"), Self::MODEL_KEYS)?;
        check("loss", json.get("loss"), Self::LOSS_KEYS)?;
        // Parsed again from the text so that type errors keep their line and column.
        let cfg: Self = serde_json::from_str(text).map_err(at)?;
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
