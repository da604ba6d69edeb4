//! `tsal demo --track`: the previous frame's landmarks carried into the current frame by a
//! detector's own tracker (its PWC-Lite from the TSAL snapshot) and fused with the current
//! detection, `μ·carried + (1 − μ)·detected`, the fusion the student learns from in training
//! (`losses::pseudo`). Both frames are cut with the current face box, so the flow is estimated
//! on the same crop the detector saw, in [0, 1] RGB as in training.
use crate::data::augment::Affine;
use crate::data::crop::{to_unit, CropSpec};
use crate::losses::tracking::carry_points;
use crate::models::PwcLite;
use crate::run::snapshot::Role;
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub struct Tracker {
    _vs: nn::VarStore,
    net: PwcLite,
    mu: f64,
    device: Device,
}

impl Tracker {
    /// The tracker of detector `role` in snapshot `dir` (its run's `config.json` gives the
    /// tracker config), fusing with weight `mu`, for crops `crop` (a size the tracker takes).
    pub fn load(dir: &Path, role: Role, crop: CropSpec, mu: f64, device: Device) -> Result<Self> {
        ensure!((0.0..=1.0).contains(&mu), "--mu {mu}: must be in [0, 1]");
        let file = dir.join(format!("tracker_{}.safetensors", role.name()));
        if !file.is_file() {
            bail!(
                "--track: {} has no {} tracker (a --supervised_only run trains none; use a TSAL run)",
                dir.display(),
                role.name()
            );
        }
        let cfg = crate::run::resolve::require_run_config(dir, "--track").with_context(|| {
            format!("--track: the tracker's configuration in {}", dir.display())
        })?;
        crate::config::limits::crop(
            crop.width,
            crop.height,
            crate::config::limits::Consumer::Tracker,
        )
        .context("--track: the crop")?;
        let mut vs = nn::VarStore::new(device);
        let net = PwcLite::new(&vs.root(), &cfg.tracker.config)?;
        crate::models::weights::load_strict(&vs, &file)
            .with_context(|| format!("{}", file.display()))?;
        crate::models::layout::vars_channels_last(&vs);
        vs.freeze();
        Ok(Self { _vs: vs, net, mu, device })
    }

    /// `previous` (frame pixels, on the previous frame) carried into the current frame by the
    /// flow between the two frames' crops `prev` and `cur` (`[1, 3, H, W]`, normalised detector
    /// input on the tracker's device), both cut with the same box, whose crop → frame map is
    /// `back`.
    pub fn carry(
        &self,
        prev: &Tensor,
        cur: &Tensor,
        back: &Affine,
        previous: &[[f64; 2]],
    ) -> Result<Vec<[f64; 2]>> {
        let m = back.inverse();
        let p = previous.len() as i64;
        let pts: Vec<f32> = previous
            .iter()
            .flat_map(|q| {
                let c = m.apply(*q);
                [c[0] as f32, c[1] as f32]
            })
            .collect();
        let carried = crate::guard::catch(|| {
            tch::no_grad(|| {
                let flow = self.net.forward(&to_unit(prev), &to_unit(cur), false);
                let pts = Tensor::from_slice(&pts).view([1, p, 2]).to_device(self.device);
                carry_points(&pts, &flow.forward[0]).to_device(Device::Cpu).to_kind(Kind::Double)
            })
        })
        .map_err(|e| anyhow::anyhow!("the tracker failed: {e}"))?;
        let v: Vec<f64> = Vec::<f64>::try_from(carried.flatten(0, -1))?;
        Ok(v.chunks_exact(2).map(|c| back.apply([c[0], c[1]])).collect())
    }

    /// `μ·carried + (1 − μ)·detected`.
    pub fn fuse(&self, carried: &[[f64; 2]], detected: &[[f64; 2]]) -> Vec<[f64; 2]> {
        fuse(carried, detected, self.mu)
    }
}

pub fn fuse(carried: &[[f64; 2]], detected: &[[f64; 2]], mu: f64) -> Vec<[f64; 2]> {
    carried
        .iter()
        .zip(detected)
        .map(|(c, d)| [mu * c[0] + (1.0 - mu) * d[0], mu * c[1] + (1.0 - mu) * d[1]])
        .collect()
}
