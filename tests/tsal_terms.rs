//! The TSAL round's pure pieces on hand-built cases: recursive average filtering, the ramp
//! weight, the structure-invariance constraint and the fused pseudo-label.
use tch::{nn, Device, Kind, Tensor};
use tsal::codec::centroid;
use tsal::losses::{pseudo, sic};
use tsal::train::ema::{average_into, pair_by_name};
use tsal::train::schedule::ramp_weight;

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

#[test]
fn recursive_average_matches_the_formula_and_leaves_buffers_and_the_source_alone() {
    let vs = nn::VarStore::new(Device::Cpu);
    let src = nn::VarStore::new(Device::Cpu);
    for (s, k) in [(&vs, 1.0), (&src, -3.0)] {
        let r = s.root();
        let _ = (r.clone() / "a")
            .var_copy("weight", &(Tensor::arange(6, (Kind::Float, Device::Cpu)) * k).view([2, 3]));
        let _ =
            (r.clone() / "a").var_copy("bias", &Tensor::from_slice(&[k as f32, 2.0 * k as f32]));
        // A running statistic, as BatchNorm registers it (not trainable).
        let _ = (r.clone() / "bn").zeros_no_train("running_mean", &[2]).fill_(10.0 * k);
    }
    let before_src: Vec<Vec<f64>> =
        ["a.weight", "a.bias"].iter().map(|n| values(&src.variables()[*n])).collect();
    let mut pairs = pair_by_name(&vs, &src).unwrap();
    assert_eq!(pairs.len(), 2, "only the trainable variables are paired");
    let lambda = 0.7;
    average_into(&mut pairs, lambda);
    let v = vs.variables();
    // teacher ← λ·teacher + (1 − λ)·student, element by element.
    for (got, want) in values(&v["a.weight"]).iter().zip((0..6).map(|i| {
        let i = i as f64;
        lambda * i + (1.0 - lambda) * (-3.0 * i)
    })) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let bias = values(&v["a.bias"]);
    assert!((bias[0] - (0.7 * 1.0 + 0.3 * -3.0)).abs() < 1e-6, "{bias:?}");
    assert!((bias[1] - (0.7 * 2.0 + 0.3 * -6.0)).abs() < 1e-6, "{bias:?}");
    assert_eq!(
        values(&v["bn.running_mean"]),
        [10.0, 10.0],
        "running statistics stay the role's own"
    );
    let after_src: Vec<Vec<f64>> =
        ["a.weight", "a.bias"].iter().map(|n| values(&src.variables()[*n])).collect();
    assert_eq!(before_src, after_src, "the source is not changed");
    // λ = 1 keeps the destination, λ = 0 copies the source.
    average_into(&mut pairs, 0.0);
    assert_eq!(values(&vs.variables()["a.bias"]), [-3.0, -6.0]);
    // Recorded without gradient history: the variables stay leaves.
    assert!(vs.variables()["a.bias"].is_leaf());
}

#[test]
fn recursive_average_refuses_stores_that_differ() {
    let a = nn::VarStore::new(Device::Cpu);
    let b = nn::VarStore::new(Device::Cpu);
    let _ = (a.root() / "x").zeros("weight", &[2]);
    let _ = (b.root() / "x").zeros("weight", &[3]);
    let e = format!("{:#}", pair_by_name(&a, &b).unwrap_err());
    assert!(e.contains("`x.weight`") && e.contains("[2]") && e.contains("[3]"), "{e}");
    let c = nn::VarStore::new(Device::Cpu);
    let _ = (c.root() / "x").zeros("weight", &[2]);
    let _ = (c.root() / "y").zeros("bias", &[2]);
    let e = format!("{:#}", pair_by_name(&a, &c).unwrap_err());
    assert!(e.contains("`y.bias` is trainable in one store only"), "{e}");
}

#[test]
fn ramp_weight_is_the_reference_formula_at_its_breakpoints() {
    // The reference: 150 epochs of L iterations, breakpoints at epochs 60 and 110.
    let l = 10u64;
    let t = 150 * l;
    assert_eq!(ramp_weight(0, t), 0.0);
    let up = |it: u64| (-5.0 * (1.0 - it as f64 / (60 * l) as f64).powi(2)).exp();
    for it in [1, 30 * l, 59 * l, 60 * l - 1] {
        assert!((ramp_weight(it, t) - up(it)).abs() < 1e-12, "it {it}");
    }
    assert!((ramp_weight(30 * l, t) - (-1.25f64).exp()).abs() < 1e-12);
    for it in [60 * l, 80 * l, 110 * l] {
        assert_eq!(ramp_weight(it, t), 1.0, "it {it}");
    }
    let down = |it: u64| (-12.5 * (1.0 - (t - it) as f64 / (t - 110 * l) as f64).powi(2)).exp();
    for it in [110 * l + 1, 130 * l, t - 1, t] {
        assert!((ramp_weight(it, t) - down(it)).abs() < 1e-12, "it {it}");
    }
    assert!((ramp_weight(t, t) - (-12.5f64).exp()).abs() < 1e-15);
    // Scaled to another schedule: 70 epochs of 10 iterations reach 1 at 40 % and leave it
    // after 73.3 %.
    assert!(ramp_weight(279, 700) < 1.0);
    assert_eq!(ramp_weight(280, 700), 1.0);
    assert_eq!(ramp_weight(513, 700), 1.0);
    assert!(ramp_weight(514, 700) < 1.0);
}

/// Offsets `[rows, 2P]` whose frame `r` has every coordinate `value[r]` (so `m = 2P·value²`).
fn offsets(value: &[f32], two_p: i64) -> Tensor {
    Tensor::from_slice(value).view([-1, 1]).expand([value.len() as i64, two_p], false).contiguous()
}

#[test]
fn sic_is_zero_for_identical_structures_and_never_mixes_clips() {
    let (two_p, frames) = (4i64, 3i64);
    let mask = Tensor::ones([6, two_p], (Kind::Float, Device::Cpu));
    let valid = Tensor::ones([6], (Kind::Bool, Device::Cpu));
    // Clip 0 at magnitude 1 in every frame, clip 1 at 2: constant within each clip.
    let o = offsets(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0], two_p).set_requires_grad(true);
    let l = sic::structure_invariance(&o, &mask, &valid, frames);
    assert_eq!(f64::try_from(&l).unwrap(), 0.0, "clips differ from each other only");
    l.backward();
    assert_eq!(f64::try_from(o.grad().abs().sum(Kind::Float)).unwrap(), 0.0);

    // Clip 0: m = 4·1, 4·1, 4·4 → pairs (0,0), (12)², (12)² → 288 / (P·F = 2·3) = 48;
    // clip 1 constant → 0; mean over the two clips = 24.
    let o = offsets(&[1.0, 1.0, 2.0, 3.0, 3.0, 3.0], two_p);
    let l = f64::try_from(sic::structure_invariance(&o, &mask, &valid, frames)).unwrap();
    assert!((l - 24.0).abs() < 1e-4, "{l}");
    // The same frames as one clip of 6 would mix the clips and give another value.
    let one = f64::try_from(sic::structure_invariance(&o, &mask, &valid, 6)).unwrap();
    assert!((one - l).abs() > 1.0, "{one} vs {l}");
    // An invalid frame is left out: clip 0 without its odd frame is constant.
    let valid = Tensor::from_slice(&[1i64, 1, 0, 1, 1, 1]).to_kind(Kind::Bool);
    let l = f64::try_from(sic::structure_invariance(&o, &mask, &valid, frames)).unwrap();
    assert_eq!(l, 0.0);
    // Masked coordinates do not count: zeroing the odd frame's mask equalises nothing here,
    // but masking everything gives 0.
    let none = Tensor::zeros([6, two_p], (Kind::Float, Device::Cpu));
    let valid = Tensor::ones([6], (Kind::Bool, Device::Cpu));
    assert_eq!(f64::try_from(sic::structure_invariance(&o, &none, &valid, frames)).unwrap(), 0.0);
}

#[test]
fn fused_pseudo_labels_are_in_input_pixels() {
    // A planted read-out: the centre map peaks at cell (5, 6) of a 16×16 grid, and the offsets
    // there put landmark j at pixel (8·(5 + 0.25·j), 8·(6 − 0.5·j)); a weaker second peak at
    // (12, 2) carries other offsets.
    let (p, h, w) = (3i64, 16i64, 16i64);
    let logits = Tensor::full([1, 1, h, w], -8.0, (Kind::Float, Device::Cpu));
    let _ = logits.get(0).get(0).get(6).get(5).fill_(6.0);
    let _ = logits.get(0).get(0).get(2).get(12).fill_(2.0);
    let offs = Tensor::zeros([1, 2 * p, h, w], (Kind::Float, Device::Cpu));
    for j in 0..p {
        let _ = offs.get(0).get(2 * j).get(6).get(5).fill_(0.25 * j as f64);
        let _ = offs.get(0).get(2 * j + 1).get(6).get(5).fill_(-0.5 * j as f64);
        let _ = offs.get(0).get(2 * j).get(2).get(12).fill_(1.0);
    }
    let cands = centroid::decode(&logits, &offs, 4).landmarks;
    assert_eq!(cands.size(), [1, 4, p, 2]);
    let truth: Vec<f32> = (0..p)
        .flat_map(|j| [8.0 * (5.0 + 0.25 * j as f32), 8.0 * (6.0 - 0.5 * j as f32)])
        .collect();
    // The tracker carried the landmarks to 3 px right of the truth.
    let tracked: Vec<f32> = truth.chunks(2).flat_map(|c| [c[0] + 3.0, c[1]]).collect();
    let tracked = Tensor::from_slice(&tracked).view([1, p, 2]);
    let fused = pseudo::fuse(&tracked, &cands, pseudo::MU);
    let want: Vec<f64> = truth.chunks(2).flat_map(|c| [c[0] as f64 + 1.5, c[1] as f64]).collect();
    for (g, w) in values(&fused).iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "fused {g} vs {w}: {:?}", values(&fused));
    }
    // μ = 1 is the tracked landmarks, μ = 0 the nearest candidate.
    assert_eq!(values(&pseudo::fuse(&tracked, &cands, 1.0)), values(&tracked));
    let nearest = values(&pseudo::fuse(&tracked, &cands, 0.0));
    for (g, w) in nearest.iter().zip(&truth) {
        assert!((g - *w as f64).abs() < 1e-4);
    }
    // The pseudo-label carries no gradient.
    let t = tracked.set_requires_grad(true);
    assert!(!pseudo::fuse(&t, &cands, 0.5).requires_grad());
}

/// A smooth random texture `[1, 3, h, w]` in [0, 1] (a blurred noise image, so that bilinear
/// sampling at integer shifts is exact and census has structure everywhere).
fn texture(h: i64, w: i64) -> Tensor {
    tch::manual_seed(3);
    let noise = Tensor::rand([1, 3, h, w], (Kind::Float, Device::Cpu));
    noise.avg_pool2d([3, 3], [1, 1], [1, 1], false, true, None::<i64>)
}

/// `im` moved `s` pixels to the right (the left columns repeat the edge).
fn shifted_right(im: &Tensor, s: i64) -> Tensor {
    let w = im.size()[3];
    Tensor::cat(&[im.narrow(3, 0, 1).repeat([1, 1, 1, s]), im.narrow(3, 0, w - s)], 3)
}

fn flow(dx: f64, dy: f64, h: i64, w: i64) -> Tensor {
    let f = Tensor::zeros([1, 2, h, w], (Kind::Float, Device::Cpu));
    let _ = f.get(0).get(0).fill_(dx);
    let _ = f.get(0).get(1).fill_(dy);
    f
}

#[test]
fn census_and_occlusion_on_a_known_shift() {
    use tsal::losses::tracking::{census, visible_mask};
    use tsal::models::ops::{warp, Padding};
    let (h, w) = (24, 32);
    let im1 = texture(h, w);
    let im2 = shifted_right(&im1, 2);
    let (fw, bw) = (flow(2.0, 0.0, h, w), flow(-2.0, 0.0, h, w));
    // Consistent flows: only the two right-most columns, whose match leaves the frame, are
    // occluded.
    let mask = visible_mask(&fw, &bw);
    assert_eq!(mask.size(), [1, 1, h, w]);
    assert_eq!(f64::try_from(mask.sum(Kind::Float)).unwrap(), (h * (w - 2)) as f64);
    assert_eq!(f64::try_from(mask.narrow(3, w - 2, 2).sum(Kind::Float)).unwrap(), 0.0);
    // An inconsistent backward flow occludes everything.
    let bad = visible_mask(&fw, &flow(2.0, 0.0, h, w));
    assert_eq!(f64::try_from(bad.sum(Kind::Float)).unwrap(), 0.0);

    // Frame 2 warped by the true flow rebuilds frame 1 where visible: census ≈ 0.
    let rec = warp(&im2, &fw, Padding::Border);
    let right = f64::try_from(census(&im1, &rec, &mask)).unwrap();
    assert!(right < 1e-6, "census with the true flow: {right}");
    // No flow, or a flow one pixel off, leaves a clear photometric error.
    let ones = Tensor::ones([1, 1, h, w], (Kind::Float, Device::Cpu));
    let none = f64::try_from(census(&im1, &im2, &ones)).unwrap();
    let off =
        f64::try_from(census(&im1, &warp(&im2, &flow(1.0, 0.0, h, w), Padding::Border), &mask))
            .unwrap();
    assert!(none > 0.1 && off > 0.05 && off < none, "none {none}, off by one {off}");
    // Its value on a hand case: two 3×3-interior images that differ at one pixel.
    let a = Tensor::zeros([1, 3, 5, 5], (Kind::Float, Device::Cpu));
    let b = a.copy();
    let _ = b.get(0).narrow(1, 2, 1).narrow(2, 2, 1).fill_(1.0 / 255.0);
    // b's centre pixel is 1 grey level above its neighbours (0.2989 + 0.5870 + 0.1140 = 0.9999).
    let g = 0.9999f64;
    let t = |d: f64| d / (CENSUS_EPS + d * d).sqrt();
    let dist = |delta: f64| delta * delta / (CENSUS_Q + delta * delta);
    // At the centre: 8 neighbours see δ = t(0) − t(−g); at each of the 8 neighbours, the one
    // neighbour that is the centre sees δ = t(0) − t(g). Interior = the 3×3 block.
    let centre = 8.0 * dist(t(-g)) / 9.0;
    let neighbour = dist(t(g)) / 9.0;
    let want = (centre + 8.0 * neighbour) / 25.0;
    let ones = Tensor::ones([1, 1, 5, 5], (Kind::Float, Device::Cpu));
    let got = f64::try_from(census(&a, &b, &ones)).unwrap();
    assert!((got - want).abs() < 1e-5, "census {got} vs {want}");
}

use tsal::losses::tracking::{CENSUS_EPS, CENSUS_Q};

/// The census by its definition, left to autograd (in the precision of the inputs).
fn census_by_autograd(im: &Tensor, rec: &Tensor, mask: &Tensor) -> Tensor {
    let (n, _, h, w) = im.size4().unwrap();
    let k = im.kind();
    let t = |x: &Tensor| {
        let x = x * mask;
        let coeff = Tensor::from_slice(&[0.2989f64, 0.5870, 0.1140]).to_kind(k).view([1, 3, 1, 1]);
        let grey = (x * coeff).sum_dim_intlist([1i64].as_slice(), true, k) * 255.0;
        let d = grey.im2col([3, 3], [1, 1], [1, 1], [1, 1]).view([n, 9, h, w]) - grey;
        &d / (d.square() + CENSUS_EPS).sqrt()
    };
    let delta = t(im) - t(rec);
    let dist = (delta.square() / (delta.square() + CENSUS_Q)).mean_dim([1i64].as_slice(), true, k);
    let border = Tensor::ones([1, 1, h - 2, w - 2], (k, Device::Cpu)).constant_pad_nd([1, 1, 1, 1]);
    (dist * mask * border).mean(k) / mask.mean(k)
}

#[test]
fn census_gradient_written_out_equals_autograd() {
    use tsal::losses::tracking::census;
    tch::manual_seed(3);
    let (n, h, w) = (2, 11, 13);
    let im = Tensor::rand([n, 3, h, w], (Kind::Double, Device::Cpu));
    let noise = Tensor::rand([n, 3, h, w], (Kind::Double, Device::Cpu));
    let mask =
        Tensor::rand([n, 1, h, w], (Kind::Double, Device::Cpu)).gt(0.25).to_kind(Kind::Double);
    let grad = |f: fn(&Tensor, &Tensor, &Tensor) -> Tensor, kind: Kind| {
        let (im, mask) = (im.to_kind(kind), mask.to_kind(kind));
        let rec = (&im * 0.97 + noise.to_kind(kind) * 0.03).set_requires_grad(true);
        let l = f(&im, &rec, &mask);
        let g = Tensor::run_backward(&[&l], &[&rec], false, false).pop().unwrap();
        (f64::try_from(&l).unwrap(), g.to_kind(Kind::Double))
    };
    let (want, want_g) = grad(census_by_autograd, Kind::Double);
    let (got, got_g) = grad(census, Kind::Double);
    let scale = f64::try_from(want_g.abs().max()).unwrap();
    let err = f64::try_from((&got_g - &want_g).abs().max()).unwrap();
    assert!(want > 1e-3 && scale > 1e-6, "a case with something to compare: {want}, {scale}");
    assert!((got - want).abs() < 1e-12 * want, "value {got} vs {want}");
    assert!(err < 1e-10 * scale, "gradient off by {err} (largest {scale})");
    // Zero gradient outside the mask, as autograd says.
    let outside = f64::try_from((&got_g * (mask.ones_like() - &mask)).abs().max()).unwrap();
    assert_eq!(outside, 0.0);
    // In single precision, both within float rounding of the exact figures (the patches'
    // grey differences carry ~1e-5 grey levels of rounding, which δ near 0 amplifies).
    let (got32, got32_g) = grad(census, Kind::Float);
    assert!((got32 - want).abs() < 1e-5 * want, "float value {got32} vs {want}");
    let err32 = f64::try_from((&got32_g - &want_g).abs().max()).unwrap();
    assert!(err32 < 2e-3 * scale, "float gradient off by {err32} (largest {scale})");
}

#[test]
fn smoothness_follows_its_formula() {
    use tsal::losses::tracking::smoothness;
    let (h, w) = (8, 10);
    let flat = Tensor::full([1, 3, h, w], 0.5, (Kind::Float, Device::Cpu));
    // A constant flow is smooth.
    let l = f64::try_from(smoothness(&flow(3.0, -1.0, h, w), &flat, 8.0, 10.0)).unwrap();
    assert_eq!(l, 0.0);
    // A step of a (after ÷ scale) in the x flow between columns 4 and 5, on a flat image:
    // one of the W − 1 x-differences of one of 2 channels is a: L = a / (8·(W − 1)).
    let f = flow(0.0, 0.0, h, w);
    let _ = f.get(0).get(0).narrow(1, 5, w - 5).fill_(4.0);
    let a = 4.0 / 8.0;
    let l = f64::try_from(smoothness(&f, &flat, 8.0, 10.0)).unwrap();
    let want = a / (8.0 * (w - 1) as f64);
    assert!((l - want).abs() < 1e-7, "{l} vs {want}");
    // An image edge at the same place down-weights it by exp(−10·1).
    let edge = flat.copy();
    let _ = edge.narrow(3, 5, w - 5).fill_(1.5);
    let l = f64::try_from(smoothness(&f, &edge, 8.0, 10.0)).unwrap();
    assert!((l - want * (-10.0f64).exp()).abs() < 1e-9, "{l}");
}

/// The flow pyramid of a constant motion (dx, 0): level i at half the size of level i − 1,
/// in pixels of its own resolution.
fn pyramid(dx: f64, h: i64, w: i64, levels: usize) -> Vec<Tensor> {
    (0..levels).map(|i| flow(dx / (1 << i) as f64, 0.0, h >> i, w >> i)).collect()
}

#[test]
fn unflow_prefers_the_true_flow_and_carries_frame_1_into_frame_2() {
    use tsal::losses::tracking::unflow;
    let cfg = tsal::config::TrackerConfig::load(std::path::Path::new("configs/MFDS.json")).unwrap();
    let (h, w) = (32, 64);
    let im1 = texture(h, w);
    let im2 = shifted_right(&im1, 4);
    let levels = cfg.loss.w_scales.len();
    let right =
        unflow(&cfg.loss, &pyramid(4.0, h, w, levels), &pyramid(-4.0, h, w, levels), &im1, &im2)
            .unwrap();
    let still = pyramid(0.0, h, w, levels)
        .into_iter()
        .map(|f| f.set_requires_grad(true))
        .collect::<Vec<_>>();
    let wrong = unflow(&cfg.loss, &still, &pyramid(0.0, h, w, levels), &im1, &im2).unwrap();
    let (tr, tw) = (
        f64::try_from(right.total(&cfg.loss)).unwrap(),
        f64::try_from(wrong.total(&cfg.loss)).unwrap(),
    );
    assert!(tr.is_finite() && tr < 0.5 * tw, "true flow {tr}, no flow {tw}");
    // A constant flow is smooth at every level.
    assert_eq!(f64::try_from(&right.smooth).unwrap(), 0.0);
    // The loss reaches the flow (the tracker can learn from it).
    wrong.total(&cfg.loss).backward();
    assert!(f64::try_from(still[0].grad().abs().sum(Kind::Float)).unwrap() > 0.0);
    // Frame 1 carried by the backward flow is frame 2 wherever its source is inside frame 1.
    let (fw, bw) = (pyramid(4.0, h, w, levels), pyramid(-4.0, h, w, levels));
    let (frame1_in_2, frame2_in_1) =
        tsal::losses::tracking::carried_frames(&cfg.loss, &fw[0], &bw[0], &im1, &im2).unwrap();
    let d = (&frame1_in_2 - &im2).narrow(3, 4, w - 4).abs().max();
    assert!(f64::try_from(d).unwrap() < 1e-5);
    assert_eq!(frame1_in_2.size(), [1, 3, h, w]);
    // And frame 2 carried by the forward flow is frame 1 wherever its source is inside frame 2.
    let d = (&frame2_in_1 - &im1).narrow(3, 0, w - 4).abs().max();
    assert!(f64::try_from(d).unwrap() < 1e-5);
    // Terms the port does not implement are refused, not ignored.
    let mut l1 = cfg.loss.clone();
    l1.w_l1 = 0.15;
    let e = unflow(&l1, &pyramid(4.0, h, w, levels), &pyramid(-4.0, h, w, levels), &im1, &im2);
    assert!(format!("{:#}", e.err().unwrap()).contains("w_l1 0.15"));
}

#[test]
fn heatmaps_carried_by_the_flow_move_by_flow_over_stride() {
    use tsal::losses::tracking::{carry_heatmaps, detection_consistency};
    // A bump at cell (3, 4) of an 8×8 grid (64×64 input, stride 8).
    let bump = |cx: f64, cy: f64| {
        let x = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([1, 8]);
        let y = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([8, 1]);
        (-((x - cx).square() + (y - cy).square()) / 2.0).exp().view([1, 1, 8, 8])
    };
    // Frame 2 is frame 1 moved 16 px right: the backward flow is −16 px everywhere.
    let carried = carry_heatmaps(&bump(3.0, 4.0), &flow(-16.0, 0.0, 64, 64), 8);
    let want = bump(5.0, 4.0);
    // Equal where the source lies inside the grid (columns ≥ 2).
    let d = (&carried - &want).narrow(3, 2, 6).abs().max();
    assert!(f64::try_from(d).unwrap() < 1e-5);
    // The consistency term: 0 for the carried maps against the moved bump (inside), and
    // Σ_stages mean((a − b)²) otherwise.
    let a = [want.narrow(3, 2, 6), want.narrow(3, 2, 6)];
    let b = [carried.narrow(3, 2, 6), carried.narrow(3, 2, 6)];
    assert!(f64::try_from(detection_consistency(&a, &b)).unwrap() < 1e-10);
    let zeros = [Tensor::zeros([1, 1, 8, 8], (Kind::Float, Device::Cpu))];
    let one = [Tensor::ones([1, 1, 8, 8], (Kind::Float, Device::Cpu))];
    assert!((f64::try_from(detection_consistency(&zeros, &one)).unwrap() - 1.0).abs() < 1e-12);
}
