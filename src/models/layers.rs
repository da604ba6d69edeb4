//! Layer constructors with the reference's explicit initialisation
//! (`lib/models/cpm_vgg16.py:23-31,342-395`): every convolution N(0, 0.01) with bias 0,
//! BatchNorm γ = 1, β = 0. tch's defaults (Kaiming uniform convs, Uniform(0, 1) BN weights) are
//! never relied on.
use std::cell::Cell;
use tch::nn::{self, Init, Module};
use tch::Tensor;

thread_local! {
    /// Multiply-accumulates counted on this thread while [`count_macs`] runs.
    static MACS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Run `f` and count the multiply-accumulates of every convolution (and of anything reported
/// through [`add_macs`]) it executes on this thread. Used by `tsal bench model` for FLOP/s.
pub fn count_macs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let outer = MACS.with(|m| m.replace(Some(0)));
    let r = f();
    let n = MACS.with(|m| m.replace(outer)).unwrap_or(0);
    MACS.with(|m| m.set(m.get().map(|o| o + n)));
    (r, n)
}

/// Add `n` multiply-accumulates to the running count (no-op when not counting).
pub fn add_macs(n: u64) {
    MACS.with(|m| m.set(m.get().map(|c| c + n)));
}

/// A 2D convolution that reports its cost to [`count_macs`].
#[derive(Debug)]
pub struct Conv(pub nn::Conv2D);

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.apply(&self.0);
        // Each output value costs (C_in / groups) · kh · kw MACs; weight is [out, in/g, kh, kw].
        let w = self.0.ws.size();
        add_macs(y.numel() as u64 * (w[1] * w[2] * w[3]) as u64);
        y
    }
}

/// A transposed 2D convolution that reports its cost to [`count_macs`].
#[derive(Debug)]
pub struct Deconv(pub nn::ConvTranspose2D);

impl Module for Deconv {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.apply(&self.0);
        // Each input value is spread over out · kh · kw outputs; weight is [in, out, kh, kw].
        let w = self.0.ws.size();
        add_macs(x.numel() as u64 * (w[1] * w[2] * w[3]) as u64);
        y
    }
}

/// N(0, σ) weights.
pub fn normal(stdev: f64) -> Init {
    Init::Randn { mean: 0.0, stdev }
}

/// Standard deviation of every convolution's initial weights (reference `weights_init_cpm`).
pub const CONV_STD: f64 = 0.01;

/// A `k×k` convolution, padding `k/2`, with bias, N(0, 0.01) weights and zero bias.
pub fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> Conv {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        ws_init: normal(CONV_STD),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    Conv(nn::conv2d(p, c_in, c_out, k, cfg))
}

/// A bias-free convolution (ResNet blocks), N(0, 0.01) weights.
pub fn conv_nobias(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> Conv {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ws_init: normal(CONV_STD),
        ..Default::default()
    };
    Conv(nn::conv2d(p, c_in, c_out, k, cfg))
}

/// BatchNorm with γ = 1, β = 0, momentum 0.1, ε = 1e-5 (PyTorch's defaults).
pub fn batch_norm(p: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        ws_init: Init::Const(1.0),
        bs_init: Init::Const(0.0),
        momentum: 0.1,
        eps: 1e-5,
        ..Default::default()
    };
    nn::batch_norm2d(p, c, cfg)
}

/// He (Kaiming) normal initialisation of every convolution weight in `vs`: N(0, √(2 / fan_in)),
/// fan_in = C_in·k·k, biases left at 0. The reference's N(0, 0.01) assumes an ImageNet trunk: from
/// scratch, a ×0.01 scale per layer makes activations (and gradients) vanish through the 20-odd
/// layers before the heatmaps. Left alone: BatchNorm, the transposed convolutions
/// (`deconv_layers_forhm`, N(0, 0.001)), the heads' last convolutions (`hm.2`, `hmhp_offset.2`),
/// whose reference initialisation is deliberate (`lib/models/cpm_vgg16.py:342-395`), and every
/// variable under the prefixes in `keep` (the detector keeps each stage's output convolution small,
/// so initial heatmaps are near 0 rather than in the hundreds).
pub fn he_init(vs: &nn::VarStore, keep: &[String]) {
    let keep = |name: &str| {
        name.starts_with("deconv_layers_forhm.")
            || name.starts_with("hm.2.")
            || name.starts_with("hmhp_offset.2.")
            || keep.iter().any(|k| name.starts_with(k.as_str()))
    };
    tch::no_grad(|| {
        // By name: `variables()` is a HashMap, whose order (and so which draw goes where)
        // would change from one process to the next.
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut w) in vars {
            if !name.ends_with(".weight") || w.dim() != 4 || keep(&name) {
                continue;
            }
            let s = w.size();
            let fan_in = (s[1] * s[2] * s[3]) as f64;
            let fresh = Tensor::randn(s.as_slice(), (w.kind(), w.device())) * (2.0 / fan_in).sqrt();
            w.copy_(&fresh);
        }
    });
}
