//! PWC-Lite and its operations: parameter counts, ARFlow names, shapes, correlation, warping.
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};
use tsal::config::TrackerConfig;
use tsal::models::ops::{correlation, warp, Padding, UNFOLDED_CORRELATION_MAX};
use tsal::models::PwcLite;

/// libtorch's random generator is one for the process, and the harness runs these tests on
/// parallel threads: each test holds this lock while it draws, so a seeded test gets the same
/// numbers whatever runs beside it (the from-scratch fit below once drew other textures and
/// weights in CI, and one of its 16 mean errors came out at 0.56 px).
fn rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn tracker(vs: &nn::VarStore) -> PwcLite {
    let cfg = TrackerConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/MFDS.json"))
        .unwrap();
    PwcLite::new(&vs.root(), &cfg).unwrap()
}

#[test]
fn parameter_counts_and_arflow_names() {
    let _rng = rng();
    let vs = nn::VarStore::new(Device::Cpu);
    let _t = tracker(&vs);
    let v = vs.variables();
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    for (k, t) in &v {
        *per.entry(k.split('.').next().unwrap().to_string()).or_default() += t.numel() as i64;
    }
    // The reference's counts (PWC-Lite, `lib/models/MFDS_model.py`).
    assert_eq!(per["feature_pyramid_extractor"], 1_022_160);
    assert_eq!(per["flow_estimators"], 678_402);
    assert_eq!(per["context_networks"], 519_554);
    assert_eq!(per["conv_1x1"], 16_544);
    assert_eq!(per.values().sum::<i64>(), 2_236_660);
    assert_eq!(v.len(), 60, "60 tensors as in ARFlow's state_dict");
    let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
    assert_eq!(shape("feature_pyramid_extractor.convs.0.0.0.weight"), [16, 3, 3, 3]);
    assert_eq!(shape("feature_pyramid_extractor.convs.5.1.0.weight"), [192, 192, 3, 3]);
    assert_eq!(shape("flow_estimators.conv1.0.weight"), [128, 115, 3, 3]);
    assert_eq!(shape("flow_estimators.predict_flow.0.weight"), [2, 96, 3, 3]);
    assert_eq!(shape("context_networks.convs.0.0.weight"), [128, 34, 3, 3]);
    assert_eq!(shape("context_networks.convs.6.0.bias"), [2]);
    assert_eq!(shape("conv_1x1.0.0.weight"), [32, 192, 1, 1]);
    assert_eq!(shape("conv_1x1.4.0.weight"), [32, 32, 1, 1]);
}

#[test]
fn forward_and_backward_flow_shapes() {
    let _rng = rng();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let t = tracker(&vs);
    let a = Tensor::randn([2, 3, 64, 128], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([2, 3, 64, 128], (Kind::Float, Device::Cpu));
    let o = t.forward(&a, &b, true);
    let want: Vec<[i64; 4]> = (0..5).map(|i| [2, 2, 64 >> i, 128 >> i]).collect();
    let got =
        |f: &[Tensor]| f.iter().map(|x| x.size().try_into().unwrap()).collect::<Vec<[i64; 4]>>();
    assert_eq!(got(&o.forward), want);
    assert_eq!(got(&o.backward), want);
    assert!(t.forward(&a, &b, false).backward.is_empty());
    // Gradients flow back to the first pyramid level.
    o.forward[0].square().sum(Kind::Float).backward();
    let g = vs.variables()["feature_pyramid_extractor.convs.0.0.0.weight"].grad();
    assert!(f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0);
}

#[test]
fn warp_with_a_constant_flow_shifts_exactly() {
    let _rng = rng();
    let img = Tensor::randn([1, 3, 20, 24], (Kind::Float, Device::Cpu));
    let (dx, dy) = (3i64, -2i64);
    let flow = Tensor::stack(
        &[
            Tensor::full([1, 20, 24], dx as f64, (Kind::Float, Device::Cpu)),
            Tensor::full([1, 20, 24], dy as f64, (Kind::Float, Device::Cpu)),
        ],
        1,
    );
    let out = warp(&img, &flow, Padding::Zeros);
    // out[v, u] = img[v + dy, u + dx] wherever that lies inside.
    let inner = out.narrow(2, 2, 18).narrow(3, 0, 21);
    let src = img.narrow(2, 0, 18).narrow(3, 3, 21);
    let err = f64::try_from((inner - src).abs().max()).unwrap();
    assert!(err < 1e-5, "max error {err}");
    // Outside: zeros with zero padding, the border value with border padding.
    assert_eq!(out.double_value(&[0, 0, 0, 5]), 0.0);
    let border = warp(&img, &flow, Padding::Border);
    let want = img.double_value(&[0, 0, 0, 8]);
    assert!((border.double_value(&[0, 0, 0, 5]) - want).abs() < 1e-5);
    // A half-pixel flow interpolates linearly.
    let half = Tensor::zeros([1, 2, 20, 24], (Kind::Float, Device::Cpu));
    let _ = half.narrow(1, 0, 1).fill_(0.5);
    let h = warp(&img, &half, Padding::Zeros);
    let mid = (img.double_value(&[0, 1, 7, 4]) + img.double_value(&[0, 1, 7, 5])) / 2.0;
    assert!((h.double_value(&[0, 1, 7, 4]) - mid).abs() < 1e-5);
}

#[test]
fn correlation_channels_are_shifted_channel_means() {
    let _rng = rng();
    // 6×7 is built with one im2col, 9×10 plane by plane (UNFOLDED_CORRELATION_MAX between).
    for (h, w) in [(6, 7), (9, 10)] {
        assert_eq!(h * w <= UNFOLDED_CORRELATION_MAX, h == 6);
        let x1 = Tensor::randn([2, 5, h, w], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 5, h, w], (Kind::Float, Device::Cpu));
        let c = correlation(&x1, &x2, 4);
        assert_eq!(c.size(), [2, 81, h, w]);
        // Every channel 9i + j pairs x1[y, x] with x2[y + i − 4, x + j − 4] (zero outside).
        let padded = x2.constant_pad_nd([4, 4, 4, 4]);
        for i in 0..9 {
            for j in 0..9 {
                let shifted = padded.narrow(2, i, h).narrow(3, j, w);
                let want = (&x1 * shifted).mean_dim(1, false, Kind::Float);
                let d = (c.select(1, 9 * i + j) - want).abs().max().double_value(&[]);
                assert!(d < 1e-6, "{h}×{w}, channel {}: off by {d}", 9 * i + j);
            }
        }
        // One value by hand: (y, x) = (2, 1), shift (i, j) = (2, 7).
        let a = x1.get(1).select(1, 2).select(1, 1);
        let b = x2.get(1).select(1, 0).select(1, 4);
        let want = f64::try_from((a * b).mean(Kind::Float)).unwrap();
        assert!((c.double_value(&[1, 9 * 2 + 7, 2, 1]) - want).abs() < 1e-5);
    }
}

/// A tracker whose flows are far from zero (the initial weights give flows of ~1e-12 px).
fn lively_tracker(vs: &nn::VarStore) -> PwcLite {
    let cfg =
        TrackerConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/MFDS.json"))
            .unwrap();
    let t = PwcLite::new(&vs.root(), &cfg).unwrap();
    tch::no_grad(|| {
        for mut v in vs.trainable_variables() {
            let _ = v.g_mul_scalar_(20.0);
        }
    });
    t
}

#[test]
fn both_directions_in_one_pass_give_the_values_of_two_passes() {
    let _rng = rng();
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let t = lively_tracker(&vs);
    let a = Tensor::rand([3, 3, 64, 64], (Kind::Float, Device::Cpu));
    let b = Tensor::rand([3, 3, 64, 64], (Kind::Float, Device::Cpu));
    let both = tch::no_grad(|| t.forward(&a, &b, true));
    let fw = tch::no_grad(|| t.forward(&a, &b, false));
    let bw = tch::no_grad(|| t.forward(&b, &a, false));
    let scale = both.forward[0].abs().max().double_value(&[]);
    assert!(scale > 1e-2, "flows of {scale} px would prove nothing");
    for l in 0..5 {
        assert!(both.forward[l].equal(&fw.forward[l]), "level {l}, forward");
        assert!(both.backward[l].equal(&bw.forward[l]), "level {l}, backward");
    }
    // The pairs of a clip of four frames: each frame's pyramid once, the same flows.
    let frames = Tensor::rand([4, 3, 64, 64], (Kind::Float, Device::Cpu));
    let (i, j) = (Tensor::from_slice(&[0i64, 1, 2]), Tensor::from_slice(&[1i64, 2, 3]));
    let pairs = tch::no_grad(|| t.forward_pairs(&frames, &i, &j, true));
    let direct =
        tch::no_grad(|| t.forward(&frames.index_select(0, &i), &frames.index_select(0, &j), true));
    for l in 0..5 {
        assert!(pairs.forward[l].equal(&direct.forward[l]), "level {l}, pairs forward");
        assert!(pairs.backward[l].equal(&direct.backward[l]), "level {l}, pairs backward");
    }
    // Gradients: one batch of 2M against two of M summed; the sums run in another order, so
    // they agree to float rounding.
    let grads = |fused: bool| -> Vec<Tensor> {
        let mut v = vs.trainable_variables();
        for x in v.iter_mut() {
            x.zero_grad();
        }
        let loss = if fused {
            let o = t.forward(&a, &b, true);
            o.forward[0].square().mean(Kind::Float) + o.backward[1].abs().mean(Kind::Float)
        } else {
            t.forward(&a, &b, false).forward[0].square().mean(Kind::Float)
                + t.forward(&b, &a, false).forward[1].abs().mean(Kind::Float)
        };
        loss.backward();
        v.iter().map(|x| x.grad().copy()).collect()
    };
    let (g1, g2) = (grads(true), grads(false));
    for (x, y) in g1.iter().zip(&g2) {
        let d = (x - y).abs().max().double_value(&[]);
        let m = y.abs().max().double_value(&[]).max(1e-12);
        assert!(d <= 1e-4 * m, "gradient off by {d} (max {m})");
    }
}

#[test]
fn tiny_tracker_config_scales_widths() {
    let _rng = rng();
    let cfg =
        TrackerConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/MFDS.json"))
            .unwrap();
    assert_eq!(cfg.model.width_div, 4);
    let vs = nn::VarStore::new(Device::Cpu);
    let t = PwcLite::new(&vs.root(), &cfg).unwrap();
    let total: i64 = vs.variables().values().map(|v| v.numel() as i64).sum();
    assert!(total < 200_000, "{total}");
    assert_eq!(vs.variables()["flow_estimators.conv1.0.weight"].size(), [32, 8 + 81 + 2, 3, 3]);
    let a = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    let o = t.forward(&a, &a, true);
    assert_eq!(o.forward[0].size(), [1, 2, 64, 64]);
    assert_eq!(o.backward[4].size(), [1, 2, 4, 4]);
}

#[test]
fn a_tracker_trained_from_scratch_on_census_and_smoothness_finds_known_shifts() {
    let _rng = rng();
    use tsal::config::OptConfig;
    use tsal::losses::tracking;
    use tsal::train::groups::tracker_groups;
    use tsal::train::optim::Optimizer;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    tch::manual_seed(0);
    let cfg = TrackerConfig::load(&root.join("configs/tiny/MFDS.json")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = PwcLite::new(&vs.root(), &cfg).unwrap();
    // As `TrackerRole` starts a tracker from scratch.
    tsal::models::layers::he_init(&vs, &[]);
    // Adam at 1e-3, as the small and tiny configurations train their trackers.
    let opt_cfg = OptConfig::load(&root.join("configs/tiny/optimizer.config")).unwrap();
    let mut opt = Optimizer::new(&opt_cfg, tracker_groups(&vs, 0.0).unwrap());
    // Smooth random textures, each moved by its own shift s_i (opposite signs among them, so
    // that no constant output fits): frame 2 at p is frame 1 at p − s_i, the flow from frame 1
    // into frame 2 is s_i everywhere and the flow back is −s_i.
    let shifts: [[f32; 2]; 4] = [[3.0, -2.0], [-2.0, 1.0], [1.0, 3.0], [-3.0, -1.0]];
    let (n, side) = (shifts.len() as i64, 64);
    let im1 = Tensor::rand([n, 3, side / 4, side / 4], (Kind::Float, Device::Cpu))
        .upsample_bilinear2d([side, side], false, None, None);
    let s = Tensor::from_slice(shifts.as_flattened()).view([n, 2, 1, 1]);
    let im2 = warp(&im1, &(-s.expand([n, 2, side, side], false)), Padding::Border);
    // 60 steps: the fit is within 0.1 px after 60 (and ignored its input before the trackers
    // were He-initialised: one constant flow for all four pairs).
    for _ in 0..60 {
        let out = net.forward(&im1, &im2, true);
        let uf = tracking::unflow(&cfg.loss, &out.forward, &out.backward, &im1, &im2).unwrap();
        let total = uf.total(&cfg.loss);
        opt.zero_grad();
        total.backward();
        opt.step();
    }
    let out = tch::no_grad(|| net.forward(&im1, &im2, true));
    // The interior (away from the border, where frame 2 has no counterpart).
    let c = side / 4;
    let inner = |f: &Tensor| f.narrow(2, c, 2 * c).narrow(3, c, 2 * c);
    for (flow, sign) in [(&out.forward[0], 1.0), (&out.backward[0], -1.0)] {
        let err =
            (inner(flow) - &s * sign).abs().mean_dim([2i64, 3].as_slice(), false, Kind::Double);
        let err = Vec::<f64>::try_from(err.flatten(0, -1)).unwrap();
        assert!(err.iter().all(|&e| e <= 0.5), "direction {sign}: mean errors {err:?} px");
    }
}

/// ARFlow's activation, `nn.LeakyReLU(0.1)`: `x` above 0, `0.1·x` otherwise, gradient 1 or 0.1
/// (0.1 at 0, as PyTorch's), and on any other value bit for bit what `max(x, 0.1·x)` gives.
#[test]
fn leaky_is_leaky_relu_with_slope_a_tenth() {
    use tsal::models::pwclite::leaky;
    let v = [-2.0f32, -0.5, 0.0, 0.25, 3.0];
    let x = Tensor::from_slice(&v).set_requires_grad(true);
    let y = leaky(&x);
    y.sum(Kind::Float).backward();
    let want: Vec<f32> = v.iter().map(|&a| if a > 0.0 { a } else { a * 0.1f32 }).collect();
    assert_eq!(Vec::<f32>::try_from(&y).unwrap(), want);
    assert_eq!(Vec::<f32>::try_from(x.grad()).unwrap(), [0.1, 0.1, 0.1, 1.0, 1.0]);
    let r = {
        let _rng = rng();
        Tensor::randn([4, 8, 16, 16], (Kind::Float, Device::Cpu))
    };
    let max_form = r.maximum(&(&r * 0.1));
    assert!(leaky(&r).equal(&max_form));
}
