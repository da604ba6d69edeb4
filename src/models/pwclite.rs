//! The tracker ("MFDS"/"MFEM"): ARFlow's PWC-Lite optical-flow network (reference
//! `lib/models/MFDS_model.py:475-648`), with ARFlow's `state_dict` names so the published
//! `pwclite_*.tar` checkpoints (= the reference's MFEM.tar files) load by name.
use super::layers::{add_macs, normal, Conv as Counted, CONV_STD};
use super::ops::{correlation, upsample, warp, Padding};
use crate::config::TrackerConfig;
use anyhow::{ensure, Result};
use tch::nn::{self, Init};
use tch::Tensor;

/// LeakyReLU with slope 0.1 (ARFlow's activation, `nn.LeakyReLU(0.1)`): `x·s` with `s` 1
/// where `x > 0`, else 0.1 — PyTorch's values and gradient (0.1 at 0). tch's `leaky_relu`
/// fixes the slope at 0.01. Written as a product with a constant factor because its backward
/// is then one multiplication: `max(x, 0.1·x)`, the same values, took ten elementwise kernels
/// backward (equality, halving, masks) and 2.3× the time of this form (fp32, one thread, a
/// `[16, 16, 64, 64]` tensor, forward + backward). The factor has `x`'s kind: under bf16
/// autocast the slope is bf16's nearest value to 0.1 (0.10009765625).
pub fn leaky(x: &Tensor) -> Tensor {
    x * Tensor::where_scalar(&x.gt(0.0), 1.0, 0.1).to_kind(x.kind())
}

/// ARFlow's `conv`: a Sequential whose slot 0 is the convolution (padding `(k−1)·d/2`), then a
/// LeakyReLU(0.1) unless it is a prediction layer.
struct Conv {
    conv: Counted,
    relu: bool,
}

impl Conv {
    fn new(
        p: nn::Path,
        c_in: i64,
        c_out: i64,
        k: i64,
        stride: i64,
        dilation: i64,
        relu: bool,
    ) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            dilation,
            padding: (k - 1) * dilation / 2,
            ws_init: normal(CONV_STD),
            bs_init: Init::Const(0.0),
            ..Default::default()
        };
        Self { conv: Counted(nn::conv2d(p / 0, c_in, c_out, k, cfg)), relu }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.apply(&self.conv);
        if self.relu {
            leaky(&y)
        } else {
            y
        }
    }
}

/// Pyramid channels, input first (ARFlow).
pub const PYRAMID: [i64; 7] = [3, 16, 32, 64, 96, 128, 192];
/// Maximum displacement of the cost volume: (2·4+1)² = 81 channels.
pub const MAX_DISPLACEMENT: i64 = 4;
/// Channels after each level's 1×1 reduction (ARFlow: 32).
const REDUCED: i64 = 32;
/// Levels estimated, coarsest (H/64) to H/4.
const LEVELS: usize = 5;

/// `FlowEstimatorReduce`: densely connected 3×3 convs; returns (last features, flow residual).
struct FlowEstimator {
    convs: Vec<Conv>,
}

impl FlowEstimator {
    /// Widths `w(c)` scale ARFlow's channel counts.
    fn new(p: &nn::Path, c_in: i64, w: impl Fn(i64) -> i64) -> Self {
        // (name, inputs, outputs): conv3 sees cat(c1, c2), conv4 cat(c2, c3), conv5 cat(c3, c4),
        // predict_flow cat(c4, c5).
        let spec = [
            ("conv1", c_in, w(128)),
            ("conv2", w(128), w(128)),
            ("conv3", w(128) + w(128), w(96)),
            ("conv4", w(128) + w(96), w(64)),
            ("conv5", w(96) + w(64), w(32)),
            ("predict_flow", w(64) + w(32), 2),
        ];
        let convs = spec
            .iter()
            .map(|&(name, a, b)| Conv::new(p / name, a, b, 3, 1, 1, name != "predict_flow"))
            .collect();
        Self { convs }
    }

    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let c = &self.convs;
        let x1 = c[0].forward(x);
        let x2 = c[1].forward(&x1);
        let x3 = c[2].forward(&Tensor::cat(&[&x1, &x2], 1));
        let x4 = c[3].forward(&Tensor::cat(&[&x2, &x3], 1));
        let x5 = c[4].forward(&Tensor::cat(&[&x3, &x4], 1));
        let flow = c[5].forward(&Tensor::cat(&[&x4, &x5], 1));
        (x5, flow)
    }
}

/// Flows of one direction, finest first: input/1, /2, /4, /8, /16 after ×4 upsampling
/// (`[N, 2, h, w]`, pixels of that resolution).
pub type Flows = Vec<Tensor>;

pub struct TrackerOutput {
    /// Frame 1 → frame 2.
    pub forward: Flows,
    /// Frame 2 → frame 1 (empty without `with_bk`).
    pub backward: Flows,
}

pub struct PwcLite {
    pyramid: Vec<(Conv, Conv)>,
    conv_1x1: Vec<Conv>,
    estimator: FlowEstimator,
    context: Vec<Conv>,
    upsample: bool,
}

impl PwcLite {
    pub fn new(p: &nn::Path, cfg: &TrackerConfig) -> Result<Self> {
        ensure!(
            cfg.model.reduce_dense,
            "tracker config: only model.reduce_dense = true (FlowEstimatorReduce) is implemented"
        );
        let div = cfg.model.width_div as i64;
        let w = |c: i64| c / div;
        let ch: Vec<i64> =
            PYRAMID.iter().enumerate().map(|(i, &c)| if i == 0 { c } else { w(c) }).collect();
        let fp = p / "feature_pyramid_extractor" / "convs";
        let pyramid = (0..6)
            .map(|i| {
                let lp = &fp / i;
                let (a, b) = (ch[i], ch[i + 1]);
                (Conv::new(&lp / 0, a, b, 3, 2, 1, true), Conv::new(&lp / 1, b, b, 3, 1, 1, true))
            })
            .collect();
        let cp = p / "conv_1x1";
        let conv_1x1 =
            (0..LEVELS).map(|l| Conv::new(&cp / l, ch[6 - l], w(REDUCED), 1, 1, 1, true)).collect();
        let corr = (2 * MAX_DISPLACEMENT + 1).pow(2);
        let estimator = FlowEstimator::new(&(p / "flow_estimators"), w(REDUCED) + corr + 2, w);
        let np = p / "context_networks" / "convs";
        // (inputs, outputs, dilation); the last conv predicts the flow (no activation).
        let spec = [
            (w(32) + 2, w(128), 1),
            (w(128), w(128), 2),
            (w(128), w(128), 4),
            (w(128), w(96), 8),
            (w(96), w(64), 16),
            (w(64), w(32), 1),
            (w(32), 2, 1),
        ];
        let context = spec
            .iter()
            .enumerate()
            .map(|(i, &(a, b, d))| Conv::new(&np / i, a, b, 3, 1, d, i + 1 < spec.len()))
            .collect();
        Ok(Self { pyramid, conv_1x1, estimator, context, upsample: cfg.model.upsample })
    }

    /// Feature pyramid of `[N, 3, H, W]`, coarsest first (192 ch at H/64 … 16 ch at H/2).
    fn features(&self, x: &Tensor) -> Vec<Tensor> {
        let mut out = Vec::with_capacity(self.pyramid.len());
        let mut y = x.shallow_clone();
        for (a, b) in &self.pyramid {
            y = b.forward(&a.forward(&y));
            out.push(y.shallow_clone());
        }
        out.reverse();
        out
    }

    fn context(&self, x: &Tensor) -> Tensor {
        self.context.iter().fold(x.shallow_clone(), |y, c| c.forward(&y))
    }

    /// Coarse-to-fine estimation from pyramid `p1` into `p2`.
    fn two_frames(&self, p1: &[Tensor], p2: &[Tensor]) -> Flows {
        let mut flows = Vec::with_capacity(LEVELS);
        let (n, _, h, w) = p1[0].size4().expect("pyramid level must be [N, C, H, W]");
        let mut flow = Tensor::zeros([n, 2, h, w], (p1[0].kind(), p1[0].device()));
        for l in 0..LEVELS {
            let x2 = if l == 0 {
                p2[l].shallow_clone()
            } else {
                flow = upsample(&(&flow * 2.0), 2);
                warp(&p2[l], &flow, Padding::Border)
            };
            let corr = leaky(&correlation(&p1[l], &x2, MAX_DISPLACEMENT));
            // Each cost-volume value is a C-channel dot product.
            add_macs(corr.numel() as u64 * p1[l].size()[1] as u64);
            let reduced = self.conv_1x1[l].forward(&p1[l]);
            let (feat, residual) =
                self.estimator.forward(&Tensor::cat(&[&corr, &reduced, &flow], 1));
            flow += residual;
            flow = &flow + self.context(&Tensor::cat(&[&feat, &flow], 1));
            flows.push(flow.shallow_clone());
        }
        if self.upsample {
            flows = flows.iter().map(|f| upsample(&(f * 4.0), 4)).collect();
        }
        flows.reverse();
        flows
    }

    /// Flows between `img1` and `img2` (`[N, 3, H, W]`, H and W multiples of 64).
    pub fn forward(&self, img1: &Tensor, img2: &Tensor, with_backward: bool) -> TrackerOutput {
        let n = img1.size()[0];
        let p = self.features(&Tensor::cat(&[img1, img2], 0));
        let p1: Vec<Tensor> = p.iter().map(|t| t.narrow(0, 0, n)).collect();
        let p2: Vec<Tensor> = p.iter().map(|t| t.narrow(0, n, n)).collect();
        self.estimate(&p1, &p2, with_backward)
    }

    /// Flows of the frame pairs (`first[m]`, `second[m]`) among `frames` `[N, 3, H, W]`: each
    /// frame's pyramid is computed once, however many pairs it belongs to. The same values as
    /// [`Self::forward`] on the gathered frames.
    pub fn forward_pairs(
        &self,
        frames: &Tensor,
        first: &Tensor,
        second: &Tensor,
        with_backward: bool,
    ) -> TrackerOutput {
        let p = self.features(frames);
        let p1: Vec<Tensor> = p.iter().map(|t| t.index_select(0, first)).collect();
        let p2: Vec<Tensor> = p.iter().map(|t| t.index_select(0, second)).collect();
        self.estimate(&p1, &p2, with_backward)
    }

    /// Both directions in one coarse-to-fine pass over a batch of 2M (pyramids `p1` → `p2`
    /// stacked on `p2` → `p1`): per-sample the same values as two passes (convolutions and the
    /// cost volume treat samples independently), with half the kernel launches, which is most
    /// of the time of these small tensors on a CPU.
    fn estimate(&self, p1: &[Tensor], p2: &[Tensor], with_backward: bool) -> TrackerOutput {
        if !with_backward {
            return TrackerOutput { forward: self.two_frames(p1, p2), backward: Vec::new() };
        }
        let m = p1[0].size()[0];
        let a: Vec<Tensor> = p1.iter().zip(p2).map(|(x, y)| Tensor::cat(&[x, y], 0)).collect();
        let b: Vec<Tensor> = p2.iter().zip(p1).map(|(x, y)| Tensor::cat(&[x, y], 0)).collect();
        let both = self.two_frames(&a, &b);
        let forward = both.iter().map(|f| f.narrow(0, 0, m)).collect();
        let backward = both.iter().map(|f| f.narrow(0, m, m)).collect();
        TrackerOutput { forward, backward }
    }
}
