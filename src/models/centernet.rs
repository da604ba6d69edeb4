//! The CenterNet branch on the CPM feature (reference `lib/models/cpm_vgg16.py:166-340`,
//! `VGG16_base`): ResNet Bottleneck stacks `layer3_forhm` (×6, stride 2) and `layer4_forhm` (×3,
//! stride 2), three transposed convolutions `deconv_layers_forhm` back to ×8 resolution, and the
//! heads `hm` (face-centre heatmap, 1 channel) and `hmhp_offset` (2·num_pts offsets) whose first
//! conv has stride 2, so both come out at the heatmap grid (input/8).
use super::layers::{batch_norm, conv, conv_nobias, normal, Conv, Deconv};
use tch::nn::{self, Init};
use tch::Tensor;

/// ResNet Bottleneck (expansion 4, stride on the 3×3 conv), PyTorch names
/// `conv1/bn1/conv2/bn2/conv3/bn3/downsample.{0,1}`.
pub struct Bottleneck {
    conv1: Conv,
    bn1: nn::BatchNorm,
    conv2: Conv,
    bn2: nn::BatchNorm,
    conv3: Conv,
    bn3: nn::BatchNorm,
    downsample: Option<(Conv, nn::BatchNorm)>,
}

pub const EXPANSION: i64 = 4;

/// Batch normalisation on NCHW strides whatever the input's layout: libtorch's CPU kernel for
/// channels-last inputs rounds ~10× worse where a channel's mean is large against its spread
/// (weight gradients measured 1.8 % off f64 against 0.03 % on NCHW, a detector at random
/// initialisation, tests/layout.rs), so the branch's few normalisations take a copy instead
/// (5–10 % of a training step of `configs/small` at 128² on a 2-core CPU).
fn bn(x: &Tensor, bn: &nn::BatchNorm, train: bool) -> Tensor {
    x.contiguous().apply_t(bn, train)
}

impl Bottleneck {
    pub fn new(p: &nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        let out = planes * EXPANSION;
        let downsample = (stride != 1 || c_in != out).then(|| {
            let d = p / "downsample";
            (conv_nobias(&d / 0, c_in, out, 1, stride), batch_norm(&d / 1, out))
        });
        Self {
            conv1: conv_nobias(p / "conv1", c_in, planes, 1, 1),
            bn1: batch_norm(p / "bn1", planes),
            conv2: conv_nobias(p / "conv2", planes, planes, 3, stride),
            bn2: batch_norm(p / "bn2", planes),
            conv3: conv_nobias(p / "conv3", planes, out, 1, 1),
            bn3: batch_norm(p / "bn3", out),
            downsample,
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = bn(&x.apply(&self.conv1), &self.bn1, train).relu_();
        let y = bn(&y.apply(&self.conv2), &self.bn2, train).relu_();
        let y = bn(&y.apply(&self.conv3), &self.bn3, train);
        let skip = match &self.downsample {
            Some((c, norm)) => bn(&x.apply(c), norm, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu_()
    }
}

/// `blocks` Bottlenecks, the first with `stride`; returns the stack and its output channels.
fn layer(
    p: nn::Path,
    c_in: i64,
    planes: i64,
    blocks: usize,
    stride: i64,
) -> (Vec<Bottleneck>, i64) {
    let mut v = vec![Bottleneck::new(&(&p / 0), c_in, planes, stride)];
    for i in 1..blocks {
        v.push(Bottleneck::new(&(&p / i), planes * EXPANSION, planes, 1));
    }
    (v, planes * EXPANSION)
}

/// Widths of the branch (reference: layer3 planes 256, layer4 planes 512, deconv 256, head 128).
#[derive(Clone, Copy, Debug)]
pub struct CenterNetWidths {
    pub layer3: i64,
    pub layer4: i64,
    pub deconv: i64,
    pub head: i64,
}

/// The two head outputs, both at the heatmap grid.
pub struct CenterNetOutput {
    /// Face-centre logits `[N, 1, H/8, W/8]` (apply a sigmoid for probabilities).
    pub hm: Tensor,
    /// Landmark offsets from the centre cell `[N, 2·num_pts, H/8, W/8]`, interleaved x, y.
    pub offsets: Tensor,
}

pub struct CenterNet {
    layer3: Vec<Bottleneck>,
    layer4: Vec<Bottleneck>,
    deconv: Vec<(Deconv, nn::BatchNorm)>,
    hm: (Conv, Conv),
    offsets: (Conv, Conv),
}

/// Initial bias of the centre-heatmap logits: sigmoid(−2.19) ≈ 0.1 (CenterNet's value; reference
/// `lib/models/cpm_vgg16.py`).
pub const HM_BIAS: f64 = -2.19;

impl CenterNet {
    pub fn new(root: &nn::Path, c_in: i64, w: CenterNetWidths, num_pts: i64) -> Self {
        // Reference blocks (`lib/models/cpm_vgg16.py`): layer3 ×6, layer4 ×3.
        let (layer3, c3) = layer(root / "layer3_forhm", c_in, w.layer3, 6, 2);
        let (layer4, c4) = layer(root / "layer4_forhm", c3, w.layer4, 3, 2);
        let d = root / "deconv_layers_forhm";
        let mut deconv = Vec::new();
        let mut c = c4;
        for i in 0..3 {
            // ConvTranspose2d k4 s2 p1, no bias, N(0, 0.001) (reference init), then BN, ReLU.
            let cfg = nn::ConvTransposeConfig {
                stride: 2,
                padding: 1,
                output_padding: 0,
                bias: false,
                ws_init: normal(0.001),
                ..Default::default()
            };
            let t = Deconv(nn::conv_transpose2d(&d / (3 * i), c, w.deconv, 4, cfg));
            deconv.push((t, batch_norm(&d / (3 * i + 1), w.deconv)));
            c = w.deconv;
        }
        let head = |name: &str, c_out: i64, last_w: Init, last_b: f64| {
            let p = root / name;
            let first = conv(&p / 0, c, w.head, 3, 2);
            let cfg = nn::ConvConfig {
                ws_init: last_w,
                bs_init: Init::Const(last_b),
                ..Default::default()
            };
            (first, Conv(nn::conv2d(&p / 2, w.head, c_out, 1, cfg)))
        };
        let hm = head("hm", 1, normal(super::layers::CONV_STD), HM_BIAS);
        let offsets = head("hmhp_offset", 2 * num_pts, normal(0.001), 0.0);
        Self { layer3, layer4, deconv, hm, offsets }
    }

    /// `[N, C, H/8, W/8]` CPM feature → heads at `[H/8, W/8]`.
    /// `trace` sees each stack's output (`layer3_forhm`, …, `hmhp_offset`).
    pub fn forward_t(
        &self,
        x: &Tensor,
        train: bool,
        trace: &mut dyn FnMut(&str, &Tensor),
    ) -> CenterNetOutput {
        let mut y = x.shallow_clone();
        for b in &self.layer3 {
            y = b.forward_t(&y, train);
        }
        trace("layer3_forhm", &y);
        for b in &self.layer4 {
            y = b.forward_t(&y, train);
        }
        trace("layer4_forhm", &y);
        for (t, norm) in &self.deconv {
            y = bn(&y.apply(t), norm, train).relu_();
        }
        trace("deconv_layers_forhm", &y);
        let run = |h: &(Conv, Conv)| y.apply(&h.0).relu_().apply(&h.1);
        let out = CenterNetOutput { hm: run(&self.hm), offsets: run(&self.offsets) };
        trace("hm", &out.hm);
        trace("hmhp_offset", &out.offsets);
        out
    }
}
