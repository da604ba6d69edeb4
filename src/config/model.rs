//! The detector's model configuration (`configs/Detector.config`).
use super::TypedConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Keys of the reference `Detector.config`. The reference ignored `stages`, `argmax`,
/// `dilation` and `pooling` (`lib/models/cpm_vgg16.py` hard-codes 3 stages and a soft-argmax
/// radius of 20); tsal gives `stages` and `argmax` their meaning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Architecture name; `cpm_vgg16` is the reference detector.
    pub arch: String,
    /// Number of CPM stages (reference: 3, hard-coded there).
    pub stages: usize,
    /// Accepted for compatibility; unused (as in the reference).
    pub dilation: Vec<i64>,
    /// Accepted for compatibility; unused (as in the reference).
    pub pooling: Vec<bool>,
    /// Heatmap stride in input pixels (reference: 8).
    pub downsample: usize,
    /// Soft-argmax radius in heatmap cells (configured 4; the reference code used 20).
    pub argmax: usize,
    /// Initialise the trunk from ImageNet VGG16 weights.
    pub pretrained: bool,
    /// tsal: divide every channel width by this (1 = the reference architecture; the tiny
    /// test configuration uses 8).
    pub width_div: usize,
    /// tsal: how convolutions start (`reference`: N(0, 0.01), as in reference
    /// `lib/models/cpm_vgg16.py`; `he`: He normal, for trunks trained from scratch). Absent in
    /// older files and reference configs.
    #[serde(default)]
    pub init: InitScheme,
}

/// Initial convolution weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// N(0, 0.01), bias 0 (the reference's `weights_init_cpm`).
    #[default]
    Reference,
    /// He normal N(0, √(2 / fan_in)) (see `models::layers::he_init`).
    He,
}

impl ModelConfig {
    pub const ARCHS: &'static [&'static str] = &["cpm_vgg16"];
    /// Every key a model config may hold (the reference's, and tsal's `width_div`).
    pub const KEYS: &'static [&'static str] = &[
        "arch",
        "stages",
        "dilation",
        "pooling",
        "downsample",
        "argmax",
        "pretrained",
        "width_div",
        "init",
    ];

    pub fn load(path: &Path) -> Result<Self> {
        Self::from_typed(&TypedConfig::load(path)?)
    }

    pub fn from_typed(c: &TypedConfig) -> Result<Self> {
        c.check_keys(Self::KEYS)?;
        let name = c.path.display();
        let arch = c.str("arch")?;
        if !Self::ARCHS.contains(&arch.as_str()) {
            bail!(
                "{name}: key `arch`: unknown architecture `{arch}` (known: {})",
                Self::ARCHS.join(", ")
            );
        }
        let positive = |key: &str, v: i64| -> Result<usize> {
            if v < 1 {
                bail!("{name}: key `{key}`: must be at least 1, found {v}");
            }
            Ok(v as usize)
        };
        let stages = positive("stages", c.opt_int("stages")?.unwrap_or(3))?;
        let downsample = positive("downsample", c.opt_int("downsample")?.unwrap_or(8))?;
        let argmax = c.opt_int("argmax")?.unwrap_or(4);
        if argmax < 0 {
            bail!(
                "{name}: key `argmax`: the soft-argmax radius cannot be negative, found {argmax}"
            );
        }
        Ok(Self {
            arch,
            stages,
            dilation: c.opt_ints("dilation")?.unwrap_or_else(|| vec![1]),
            pooling: if c.has("pooling") { c.bools("pooling")? } else { vec![true; 3] },
            downsample,
            argmax: argmax as usize,
            pretrained: c.opt_bool("pretrained")?.unwrap_or(false),
            width_div: positive("width_div", c.opt_int("width_div")?.unwrap_or(1))?,
            init: match c.opt_str("init")?.as_deref().unwrap_or("reference") {
                "reference" => InitScheme::Reference,
                "he" => InitScheme::He,
                other => bail!("{name}: key `init`: expected reference or he, found `{other}`"),
            },
        })
    }
}
