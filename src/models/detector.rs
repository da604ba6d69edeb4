//! The detector used for both teacher and student (reference `lib/models/cpm_vgg16.py:166-340`,
//! `VGG16_base`): VGG16 trunk → `CPM_feature` → CPM stages (heatmaps) and the CenterNet branch
//! (face centre + landmark offsets). Variable paths equal the reference PyTorch `state_dict` names.
//! Every ReLU runs in place on the fresh output of the convolution, BatchNorm or sum before it (the
//! reference's `ReLU(inplace=True)`): none of those needs its output for backward, and an
//! out-of-place ReLU costs one more activation-sized allocation, page faults included, per layer.
use super::centernet::{CenterNet, CenterNetWidths};
use super::cpm::{CpmFeature, CpmStage};
use super::vgg_trunk::VggTrunk;
use super::weights;
use crate::config::ModelConfig;
use anyhow::{ensure, Context, Result};
use std::path::Path;
use tch::{nn, Tensor};

/// The architecture's numbers, derived from a [`ModelConfig`] and the landmark count.
#[derive(Clone, Debug)]
pub struct DetectorSpec {
    pub num_pts: i64,
    /// How convolutions start: the reference's N(0, 0.01), or He normal.
    pub init: crate::config::model::InitScheme,
    pub stages: usize,
    /// Channel divisor (1 = reference widths).
    pub width_div: i64,
}

impl DetectorSpec {
    pub fn new(cfg: &ModelConfig, num_pts: usize) -> Result<Self> {
        ensure!(
            cfg.downsample == 8,
            "downsample {}: the CPM-VGG16 detector has stride 8",
            cfg.downsample
        );
        ensure!(num_pts >= 1, "num_pts must be at least 1");
        let div = cfg.width_div as i64;
        ensure!(64 % div == 0, "width_div {div} must divide 64");
        Ok(Self { num_pts: num_pts as i64, init: cfg.init, stages: cfg.stages, width_div: div })
    }

    /// The reference architecture for `num_pts` landmarks.
    pub fn reference(num_pts: usize) -> Self {
        Self {
            num_pts: num_pts as i64,
            init: crate::config::model::InitScheme::Reference,
            stages: 3,
            width_div: 1,
        }
    }

    fn w(&self, c: i64) -> i64 {
        c / self.width_div
    }
}

/// Everything one forward pass produces.
pub struct DetectorOutput {
    /// Heatmaps of every stage, `[N, num_pts + 1, H/8, W/8]` each (last channel background).
    pub stages: Vec<Tensor>,
    /// Face-centre logits `[N, 1, H/8, W/8]`.
    pub centre: Tensor,
    /// Landmark offsets from the centre cell `[N, 2·num_pts, H/8, W/8]`, grid cells.
    pub offsets: Tensor,
}

pub struct Detector {
    pub spec: DetectorSpec,
    pub trunk: VggTrunk,
    pub feature: CpmFeature,
    pub stages: Vec<CpmStage>,
    pub centernet: CenterNet,
}

impl Detector {
    /// Build under `p` (normally a VarStore's root so names are `features.0.weight`, …).
    pub fn new(p: &nn::Path, spec: DetectorSpec) -> Self {
        let s = &spec;
        let points = s.num_pts + 1;
        let trunk = VggTrunk::new(&(p / "features"), [s.w(64), s.w(128), s.w(256), s.w(512)]);
        let feat = s.w(128);
        let feature = CpmFeature::new(&(p / "CPM_feature"), trunk.out_channels, s.w(256), feat);
        let sp = p / "stages";
        let mut stages = vec![CpmStage::first(&(&sp / 0), feat, s.w(128), points)];
        for i in 1..s.stages {
            stages.push(CpmStage::later(&(&sp / i), feat, s.w(128), points));
        }
        let widths = CenterNetWidths {
            layer3: s.w(256),
            layer4: s.w(512),
            deconv: s.w(256),
            head: s.w(128),
        };
        let centernet = CenterNet::new(p, feat, widths, s.num_pts);
        Self { spec, trunk, feature, stages, centernet }
    }

    /// Build a detector (re-initialised as its [`DetectorSpec`]'s `init` says) and, given
    /// `pretrained`, load ImageNet VGG16 weights (torchvision's
    /// `features.*`) into its trunk; every trunk tensor must be present with its shape.
    pub fn with_pretrained(
        vs: &nn::VarStore,
        spec: DetectorSpec,
        pretrained: Option<&Path>,
    ) -> Result<Self> {
        let he = spec.init == crate::config::model::InitScheme::He;
        let det = Self::new(&vs.root(), spec);
        if he {
            let outputs: Vec<String> = det
                .stages
                .iter()
                .enumerate()
                .map(|(i, s)| format!("stages.{i}.{}.", s.output_index()))
                .collect();
            super::layers::he_init(vs, &outputs);
        }
        if let Some(path) = pretrained {
            weights::load_vgg16_trunk(vs, path)
                .with_context(|| format!("--pretrained {}", path.display()))?;
        }
        Ok(det)
    }

    /// `[N, 3, H, W]` ImageNet-normalised images, H and W multiples of 32.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> DetectorOutput {
        self.forward_traced(x, train, &mut |_, _| {})
    }

    /// [`Self::forward_t`] that also shows every module's output to `trace` (name, tensor),
    /// in execution order; `tsal inspect` uses it for its shape table.
    pub fn forward_traced(
        &self,
        x: &Tensor,
        train: bool,
        trace: &mut dyn FnMut(&str, &Tensor),
    ) -> DetectorOutput {
        let t = self.trunk.forward(x);
        trace("features", &t);
        let f = self.feature.forward(&t);
        trace("CPM_feature", &f);
        let mut stages: Vec<Tensor> = Vec::with_capacity(self.stages.len());
        for (i, st) in self.stages.iter().enumerate() {
            let input =
                if i == 0 { f.shallow_clone() } else { Tensor::cat(&[&f, &stages[i - 1]], 1) };
            let out = st.forward(&input);
            trace(&format!("stages.{i}"), &out);
            stages.push(out);
        }
        let c = self.centernet.forward_t(&f, train, trace);
        DetectorOutput { stages, centre: c.hm, offsets: c.offsets }
    }
}
