//! Optimiser configuration (`configs/SGD.config`, `configs/optimizer.config`;
//! reference `lib/optimizer/opt_utils.py:9-37`).
use super::TypedConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

/// How the heatmap MSE is reduced (`criterion`: `MSE-none` = sum, `MSE-avg` = mean).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reduction {
    Sum,
    Mean,
}

/// Which LR multipliers the parameter groups get (`group_lr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupLr {
    /// The reference's multipliers (`specify_parameter`, `lib/models/cpm_vgg16.py:294-305`):
    /// biases ×2, CPM stages ×4 / ×8.
    #[default]
    Reference,
    /// Every group at the base LR (what a plain Adam recipe does).
    Uniform,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptConfig {
    pub optimizer: OptimizerKind,
    /// Base learning rate (reference 5e-5); per-group multipliers apply ([`GroupLr`]).
    pub lr: f64,
    pub momentum: f64,
    /// Weight decay of weight groups (reference key `Decay`).
    pub decay: f64,
    pub nesterov: bool,
    pub criterion: Reduction,
    /// Divide the losses by the number of annotated frames and by 2 (reference `lossnorm`).
    pub lossnorm: bool,
    pub epochs: usize,
    /// Multi-step LR milestones, in epochs.
    pub schedule: Vec<usize>,
    pub gamma: f64,
    /// The groups' LR multipliers (key `group_lr`: `reference`, the default, or `uniform`).
    #[serde(default)]
    pub group_lr: GroupLr,
}

impl OptConfig {
    /// Every key an optimiser config may hold. The reference files also carry `loss_norm` and
    /// `stages`, which its code never reads; they are accepted and ignored.
    pub const KEYS: &'static [&'static str] = &[
        "optimizer",
        "LR",
        "momentum",
        "Decay",
        "nesterov",
        "criterion",
        "loss_norm",
        "lossnorm",
        "epochs",
        "schedule",
        "gamma",
        "group_lr",
        "stages",
    ];

    pub fn load(path: &Path) -> Result<Self> {
        Self::from_typed(&TypedConfig::load(path)?)
    }

    pub fn from_typed(c: &TypedConfig) -> Result<Self> {
        c.check_keys(Self::KEYS)?;
        let name = c.path.display();
        let optimizer = match c.str("optimizer")?.to_ascii_lowercase().as_str() {
            "sgd" => OptimizerKind::Sgd,
            "adam" => OptimizerKind::Adam,
            other => bail!("{name}: key `optimizer`: expected SGD or Adam, found `{other}`"),
        };
        let criterion = match c.opt_str("criterion")?.as_deref().unwrap_or("MSE-none") {
            "MSE-none" | "MSE-sum" => Reduction::Sum,
            "MSE-avg" | "MSE-mean" => Reduction::Mean,
            other => {
                bail!("{name}: key `criterion`: expected MSE-none or MSE-avg, found `{other}`")
            }
        };
        let lr = c.float("LR")?;
        if lr.is_nan() || lr <= 0.0 {
            bail!("{name}: key `LR`: the learning rate must be positive, found {lr}");
        }
        let epochs = c.int("epochs")?;
        if epochs < 1 {
            bail!("{name}: key `epochs`: must be at least 1, found {epochs}");
        }
        let schedule = c.opt_ints("schedule")?.unwrap_or_default();
        if schedule.iter().any(|&m| m < 0) || schedule.windows(2).any(|w| w[0] >= w[1]) {
            bail!("{name}: key `schedule`: milestones must be increasing epochs >= 0, found {schedule:?}");
        }
        let group_lr = match c.opt_str("group_lr")?.as_deref().unwrap_or("reference") {
            "reference" => GroupLr::Reference,
            "uniform" => GroupLr::Uniform,
            other => {
                bail!("{name}: key `group_lr`: expected reference or uniform, found `{other}`")
            }
        };
        Ok(Self {
            optimizer,
            group_lr,
            lr,
            momentum: c.opt_float("momentum")?.unwrap_or(0.9),
            decay: c.opt_float("Decay")?.unwrap_or(0.0),
            nesterov: c.opt_bool("nesterov")?.unwrap_or(false),
            criterion,
            lossnorm: c.opt_bool("lossnorm")?.unwrap_or(true),
            epochs: epochs as usize,
            schedule: schedule.into_iter().map(|m| m as usize).collect(),
            gamma: c.opt_float("gamma")?.unwrap_or(0.5),
        })
    }
}
