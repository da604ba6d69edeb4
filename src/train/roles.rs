//! A trained detector role: its weights (a VarStore with PyTorch state_dict names), the
//! network, and its own optimiser. The teacher and the student are two of these, initialised
//! independently (spec §6.1).
use super::groups::training_groups;
use super::optim::Optimizer;
use crate::config::run::RunConfig;
use crate::models::{Detector, DetectorSpec};
use crate::snapshot::Role;
use anyhow::{Context, Result};
use tch::{nn, Device};

pub struct DetectorRole {
    pub role: Role,
    pub vs: nn::VarStore,
    pub det: Detector,
    pub opt: Optimizer,
}

impl DetectorRole {
    /// A freshly initialised detector for `role` on `device` (its trunk from `--pretrained`
    /// when given), with every parameter in the optimiser's groups. Initial values come from
    /// libtorch's generator: seed it once before building the roles, in a fixed order.
    pub fn new(cfg: &RunConfig, role: Role, device: Device) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let spec = DetectorSpec::new(&cfg.model.config, cfg.data.num_pts)
            .with_context(|| format!("{}", cfg.model.path.display()))?;
        let det = Detector::with_pretrained(&vs, spec, cfg.trunk_weights()?)?;
        let groups = training_groups(&vs, &cfg.opt.config)?;
        let opt = Optimizer::new(&cfg.opt.config, groups);
        Ok(Self { role, vs, det, opt })
    }
}
