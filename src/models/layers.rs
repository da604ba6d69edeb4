//! Layer constructors with the reference's explicit initialisation (spec §5.1): every
//! convolution N(0, 0.01) with bias 0, BatchNorm γ = 1, β = 0. tch's defaults (Kaiming
//! uniform convs, Uniform(0, 1) BN weights) are never relied on.
use tch::nn::{self, Init};

/// N(0, σ) weights.
pub fn normal(stdev: f64) -> Init {
    Init::Randn { mean: 0.0, stdev }
}

/// Standard deviation of every convolution's initial weights (reference `weights_init_cpm`).
pub const CONV_STD: f64 = 0.01;

/// A `k×k` convolution, padding `k/2`, with bias, N(0, 0.01) weights and zero bias.
pub fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        ws_init: normal(CONV_STD),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

/// A bias-free convolution (ResNet blocks), N(0, 0.01) weights.
pub fn conv_nobias(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ws_init: normal(CONV_STD),
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
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
