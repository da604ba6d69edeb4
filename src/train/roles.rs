//! The four trained roles of TSAL (those the reference's `exps/main.py` builds): two detectors
//! (teacher and student, each a VarStore with PyTorch state_dict names, the network, and its own
//! optimiser), initialised independently, and one tracker (PWC-Lite) per detector with its own
//! optimiser.
use super::groups::{tracker_groups, training_groups};
use super::optim::Optimizer;
use crate::config::run::{Loaded, RunConfig};
use crate::config::{OptConfig, TrackerConfig};
use crate::models::layers::he_init;
use crate::models::layout;
use crate::models::precision::{autocast, Precision};
use crate::models::pwclite::{PwcLite, TrackerOutput};
use crate::models::{weights, Detector, DetectorOutput, DetectorSpec};
use crate::run::checkpoint::Trained;
use crate::run::snapshot::Role;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub struct DetectorRole {
    pub role: Role,
    pub vs: nn::VarStore,
    pub det: Detector,
    pub opt: Optimizer,
    /// The arithmetic of its forwards ([`Self::forward`]); fp32 unless set.
    pub precision: Precision,
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
        layout::vars_channels_last(&vs);
        let groups = training_groups(&vs, &cfg.opt.config)?;
        let opt = Optimizer::new(&cfg.opt.config, groups);
        Ok(Self { role, vs, det, opt, precision: Precision::Fp32 })
    }

    /// The detector on `x` in the role's precision, every output in fp32 (the
    /// losses' and the pseudo-labels' arithmetic).
    pub fn forward(&self, x: &Tensor, train: bool) -> DetectorOutput {
        let o = autocast(self.vs.device(), self.precision, || self.det.forward_t(x, train));
        if self.precision == Precision::Fp32 {
            return o;
        }
        let f = |t: &Tensor| t.to_kind(Kind::Float);
        DetectorOutput {
            stages: o.stages.iter().map(f).collect(),
            centre: f(&o.centre),
            offsets: f(&o.offsets),
        }
    }
}

/// The tracker that serves the detector of role `of` (the reference's `MFEM` for the teacher,
/// `MFEM_student` for the student).
pub struct TrackerRole {
    pub of: Role,
    pub vs: nn::VarStore,
    pub net: PwcLite,
    pub opt: Optimizer,
    /// The arithmetic of its forwards ([`Self::forward_pairs`]); fp32 unless set.
    pub precision: Precision,
}

impl TrackerRole {
    /// A tracker for the detector of role `of`: from `--tracker_weights` (one file for both,
    /// or the teacher's then the student's; every tensor checked by name and shape) or, without
    /// it, from libtorch's initialisation. Its optimiser has one group at the base LR.
    pub fn new(cfg: &RunConfig, of: Role, device: Device) -> Result<Self> {
        let files = &cfg.tsal.tracker_weights;
        let file = match (of, files.len()) {
            (_, 0) => None,
            (_, 1) | (Role::Teacher, _) => Some(files[0].as_path()),
            (Role::Student, _) => Some(files[1].as_path()),
        };
        Self::build(&cfg.tracker, &cfg.opt.config, file, of, device)
    }

    /// [`Self::new`] from its parts: the tracker config (and its file, for messages), the
    /// optimiser config, the initial weights if any.
    pub fn build(
        tracker: &Loaded<TrackerConfig>,
        opt: &OptConfig,
        weights_file: Option<&Path>,
        of: Role,
        device: Device,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = PwcLite::new(&vs.root(), &tracker.config)
            .with_context(|| format!("{}", tracker.path.display()))?;
        // From scratch, He-normal convolutions: the N(0, 0.01) of the module definitions
        // shrinks the signal ~20× per layer, so after the 12 pyramid convolutions the flow
        // ignored its input (a tracker trained from scratch learnt one constant flow for every
        // pair). Loaded weights replace these.
        he_init(&vs, &[]);
        if let Some(f) = weights_file {
            weights::load_strict(&vs, f)
                .with_context(|| format!("--tracker_weights {}", f.display()))?;
        }
        layout::vars_channels_last(&vs);
        let groups = tracker_groups(&vs, opt.decay)?;
        let opt = Optimizer::new(opt, groups);
        Ok(Self { of, vs, net, opt, precision: Precision::Fp32 })
    }

    /// [`PwcLite::forward_pairs`] in the role's precision, the flows in fp32 (the census, the
    /// warps and the pseudo-labels' arithmetic).
    pub fn forward_pairs(
        &self,
        frames: &Tensor,
        first: &Tensor,
        second: &Tensor,
        with_backward: bool,
    ) -> TrackerOutput {
        let o = autocast(self.vs.device(), self.precision, || {
            self.net.forward_pairs(frames, first, second, with_backward)
        });
        if self.precision == Precision::Fp32 {
            return o;
        }
        let f = |v: &Vec<Tensor>| v.iter().map(|t| t.to_kind(Kind::Float)).collect();
        TrackerOutput { forward: f(&o.forward), backward: f(&o.backward) }
    }

    /// `tracker_teacher` / `tracker_student`: the role name in logs and metrics.
    pub fn name(&self) -> String {
        format!("tracker_{}", self.of.name())
    }

    /// The weight file of this tracker in a snapshot folder.
    pub fn file(&self) -> String {
        format!("{}.safetensors", self.name())
    }
}

impl Trained for DetectorRole {
    fn name(&self) -> String {
        self.role.name().to_string()
    }

    fn weights_file(&self) -> String {
        self.role.file()
    }

    fn detector(&self) -> Option<Role> {
        Some(self.role)
    }

    fn vs(&self) -> &nn::VarStore {
        &self.vs
    }

    fn optimizer_state(&self) -> Vec<(String, Tensor)> {
        self.opt.state()
    }

    fn load_optimizer_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.opt.load_state(state)
    }
}

impl Trained for TrackerRole {
    fn name(&self) -> String {
        TrackerRole::name(self)
    }

    fn weights_file(&self) -> String {
        self.file()
    }

    fn detector(&self) -> Option<Role> {
        None
    }

    fn vs(&self) -> &nn::VarStore {
        &self.vs
    }

    fn optimizer_state(&self) -> Vec<(String, Tensor)> {
        self.opt.state()
    }

    fn load_optimizer_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.opt.load_state(state)
    }
}

/// Every trained part as a snapshot stores it: the detectors, then their trackers.
pub fn parts<'a>(roles: &'a [DetectorRole], trackers: &'a [TrackerRole]) -> Vec<&'a dyn Trained> {
    let detectors = roles.iter().map(|r| r as &dyn Trained);
    detectors.chain(trackers.iter().map(|t| t as &dyn Trained)).collect()
}

/// [`parts`], to restore them.
pub fn parts_mut<'a>(
    roles: &'a mut [DetectorRole],
    trackers: &'a mut [TrackerRole],
) -> Vec<&'a mut dyn Trained> {
    let detectors = roles.iter_mut().map(|r| r as &mut dyn Trained);
    detectors.chain(trackers.iter_mut().map(|t| t as &mut dyn Trained)).collect()
}
