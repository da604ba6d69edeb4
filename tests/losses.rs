//! The supervised loss terms against numbers computed by hand or by the formula written out
//! element by element: the masked stage heatmap MSE, the per-frame centre focal loss (and that
//! it is not the reference's N×N broadcast), the offset smooth-L1 at the centre cell; batches
//! without a labelled frame give exactly 0 with zero gradients.
use tch::{Kind, Tensor};
use tsal::config::optim::Reduction;
use tsal::losses::focal::centre_focal;
use tsal::losses::heatmap::stage_mse;
use tsal::losses::offset::offset_l1;

fn t(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape)
}

fn leaf(v: &[f32], shape: &[i64]) -> Tensor {
    t(v, shape).set_requires_grad(true)
}

fn bools(v: &[bool]) -> Tensor {
    Tensor::from_slice(v)
}

fn val(x: &Tensor) -> f64 {
    assert_eq!(x.dim(), 0, "a loss is 0-d");
    assert_eq!(x.kind(), Kind::Float, "a loss is f32");
    f64::try_from(x).unwrap()
}

fn vec(x: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(x.flatten(0, -1)).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: {a} != {b}");
}

/// A loss that must be exactly 0: finite, backward()-able, zero gradients at `leaves`.
fn assert_zero_loss(loss: &Tensor, leaves: &[&Tensor]) {
    let v = val(loss);
    assert!(v == 0.0 && v.is_finite(), "expected exactly 0, found {v}");
    assert!(loss.requires_grad(), "the zero loss must stay connected to its inputs");
    loss.backward();
    for l in leaves {
        let g = vec(&l.grad());
        assert!(g.iter().all(|&x| x == 0.0), "expected zero gradients, found {g:?}");
    }
}

// ---- stage_mse ----------------------------------------------------------------------------

/// 2 frames × 2 channels × 2×2. Target, and per stage the difference (out − target), row-major
/// `[n][c][4 cells]`. Mask drops channel 1 of frame 1 (whose differences are large).
const TARGET: [f32; 16] =
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5];
/// Selected squares: f0c0 1, f0c1 4, f1c0 1 + 1 = 2 → 7 (f1c1 would add 36).
const DIFF_A: [f32; 16] =
    [1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 3.0, 3.0, 3.0, 3.0];
/// Selected squares: f0c0 0.25 + 0.25, f0c1 1, f1c0 1 → 2.5 (f1c1 would add 100).
const DIFF_B: [f32; 16] =
    [0.5, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0];
const MASK: [f32; 4] = [1.0, 1.0, 1.0, 0.0];
const SHAPE: [i64; 4] = [2, 2, 2, 2];

fn stages() -> (Tensor, Tensor, Tensor) {
    let target = t(&TARGET, &SHAPE);
    let a = leaf(&(0..16).map(|i| TARGET[i] + DIFF_A[i]).collect::<Vec<_>>(), &SHAPE);
    let b = leaf(&(0..16).map(|i| TARGET[i] + DIFF_B[i]).collect::<Vec<_>>(), &SHAPE);
    (target, a, b)
}

#[test]
fn stage_mse_sum_and_mean_by_hand() {
    let (target, a, b) = stages();
    let mask = t(&MASK, &[2, 2]);
    let st = [a.shallow_clone(), b.shallow_clone()];
    // Sum: 7 + 2.5; Mean: 3 selected channels × 4 cells = 12 elements per stage.
    close(val(&stage_mse(&st, &target, &mask, 2, Reduction::Sum, false)), 9.5, "sum");
    close(val(&stage_mse(&st, &target, &mask, 2, Reduction::Mean, false)), 9.5 / 12.0, "mean");
    // lossnorm ÷ (2 · 2 labelled frames).
    close(val(&stage_mse(&st, &target, &mask, 2, Reduction::Sum, true)), 9.5 / 4.0, "sum/norm");
    close(val(&stage_mse(&st, &target, &mask, 2, Reduction::Mean, true)), 9.5 / 48.0, "mean/norm");
    // One stage alone.
    close(val(&stage_mse(&st[..1], &target, &mask, 2, Reduction::Sum, false)), 7.0, "stage A");
}

#[test]
fn stage_mse_gradient_is_the_masked_difference() {
    let (target, a, b) = stages();
    let mask = t(&MASK, &[2, 2]);
    let loss = stage_mse(&[a.shallow_clone(), b], &target, &mask, 2, Reduction::Sum, true);
    loss.backward();
    // ∂L/∂a = 2·mask·(a − target) / (2·2).
    let want: Vec<f32> = (0..16).map(|i| 2.0 * MASK[i / 4] * DIFF_A[i] / 4.0).collect::<Vec<_>>();
    let got = vec(&a.grad());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "grad {got:?} != {want:?}");
    }
    // The dropped channel (frame 1, channel 1) gets nothing although its difference is 3.
    assert!(got[12..].iter().all(|&g| g == 0.0));
}

#[test]
fn stage_mse_unlabelled_frames_contribute_nothing() {
    // Append an unlabelled frame 2 (mask 0, target 0) whose outputs are far off.
    let (target, a, b) = stages();
    let far = Tensor::full([1, 2, 2, 2], 7.0, (Kind::Float, tch::Device::Cpu));
    let target3 = Tensor::cat(&[target, far.zeros_like()], 0);
    let a3 = Tensor::cat(&[a.detach(), far.shallow_clone()], 0);
    let b3 = Tensor::cat(&[b.detach(), far], 0);
    let mask3 = t(&[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], &[3, 2]);
    let st = [a3, b3];
    close(val(&stage_mse(&st, &target3, &mask3, 2, Reduction::Sum, true)), 9.5 / 4.0, "sum");
    close(val(&stage_mse(&st, &target3, &mask3, 2, Reduction::Mean, true)), 9.5 / 48.0, "mean");
}

#[test]
fn stage_mse_without_labelled_frames_is_zero() {
    for reduction in [Reduction::Sum, Reduction::Mean] {
        for lossnorm in [false, true] {
            let a = leaf(&[3.0; 16], &SHAPE);
            let b = leaf(&[-2.0; 16], &SHAPE);
            let target = t(&[0.0; 16], &SHAPE);
            let mask = t(&[0.0; 4], &[2, 2]);
            let loss = stage_mse(
                &[a.shallow_clone(), b.shallow_clone()],
                &target,
                &mask,
                0,
                reduction,
                lossnorm,
            );
            assert_zero_loss(&loss, &[&a, &b]);
        }
    }
}

#[test]
#[should_panic(expected = "the mask must be [N, C]")]
fn stage_mse_shape_mismatch_panics() {
    let (target, a, _) = stages();
    let _ = stage_mse(&[a], &target, &t(&[1.0; 2], &[2, 1]), 2, Reduction::Sum, false);
}

// ---- centre_focal -------------------------------------------------------------------------

/// The focal loss written out cell by cell in f64 over the (prediction frame, target frame)
/// `pairs`: `−(Σ_pos log p (1−p)² + Σ_neg log(1−p) p² (1−g)⁴) / max(#pos, 1)`.
fn focal_formula(logits: &[Vec<f64>], targets: &[Vec<f64>], pairs: &[(usize, usize)]) -> f64 {
    let (mut pos, mut neg, mut npos) = (0.0, 0.0, 0.0);
    for &(i, j) in pairs {
        for (x, g) in logits[i].iter().zip(&targets[j]) {
            let p = (1.0 / (1.0 + (-x).exp())).clamp(1e-4, 1.0 - 1e-4);
            if *g == 1.0 {
                pos += p.ln() * (1.0 - p).powi(2);
                npos += 1.0;
            } else {
                neg += (1.0 - p).ln() * p * p * (1.0 - g).powi(4);
            }
        }
    }
    if npos == 0.0 {
        -neg
    } else {
        -(pos + neg) / npos
    }
}

/// 3 frames of 3×3, each target peaked (exactly 1) at a different cell.
fn focal_case() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let targets = vec![
        vec![1.0, 0.5, 0.0, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0],
        vec![0.0, 0.0, 0.0, 0.0, 0.6, 0.3, 0.0, 0.9, 1.0],
        vec![0.0, 0.4, 0.0, 0.4, 1.0, 0.4, 0.0, 0.4, 0.0],
    ];
    let logits = vec![
        vec![1.5, 0.2, -2.0, 0.1, -0.5, -3.0, -2.5, -4.0, -1.0],
        vec![-1.0, -2.0, -3.0, 0.5, 0.3, -0.7, -2.0, 1.2, 0.8],
        vec![-2.0, 0.4, -1.5, -0.2, 2.5, -0.1, -3.5, 0.0, -2.2],
    ];
    (logits, targets)
}

fn to_tensor(rows: &[Vec<f64>]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
    t(&flat, &[rows.len() as i64, 1, 3, 3])
}

#[test]
fn centre_focal_by_hand() {
    // One frame, two cells, logits 0 (p = 1/2), target [1, 0]: both terms are
    // ln(1/2)·(1/2)², one positive → L = ln 2 / 2.
    let l = centre_focal(
        &t(&[0.0, 0.0], &[1, 1, 1, 2]),
        &t(&[1.0, 0.0], &[1, 1, 1, 2]),
        &bools(&[true]),
    );
    close(val(&l), std::f64::consts::LN_2 / 2.0, "focal by hand");
}

#[test]
fn centre_focal_is_per_frame_not_the_broadcast() {
    let (logits, targets) = focal_case();
    let x = leaf(&vec(&to_tensor(&logits)), &[3, 1, 3, 3]);
    let loss = centre_focal(&x, &to_tensor(&targets), &bools(&[true; 3]));
    let per_frame = focal_formula(&logits, &targets, &[(0, 0), (1, 1), (2, 2)]);
    close(val(&loss), per_frame, "per-frame focal");
    // The reference's [N,1,H,W] vs [N,H,W] broadcast scored every prediction against every
    // target (`lib/criterion.py`, `_neg_loss`): a different, larger number.
    let all: Vec<(usize, usize)> = (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).collect();
    let broadcast = focal_formula(&logits, &targets, &all);
    assert!(
        (broadcast - per_frame).abs() > 0.1 * per_frame,
        "per-frame {per_frame} vs broadcast {broadcast}"
    );
    loss.backward();
    assert!(vec(&x.grad()).iter().all(|g| g.is_finite() && *g != 0.0));
}

#[test]
fn centre_focal_ignores_invalid_frames() {
    let (logits, targets) = focal_case();
    let valid = bools(&[true, false, true]);
    let want = focal_formula(&logits, &targets, &[(0, 0), (2, 2)]);
    let x = leaf(&vec(&to_tensor(&logits)), &[3, 1, 3, 3]);
    let loss = centre_focal(&x, &to_tensor(&targets), &valid);
    close(val(&loss), want, "valid frames only");
    loss.backward();
    let g = vec(&x.grad());
    assert!(g[9..18].iter().all(|&v| v == 0.0), "an invalid frame got a gradient: {g:?}");
    // Changing the invalid frame's logits (even to extremes) changes nothing.
    let mut other = logits.clone();
    other[1] = vec![30.0, -30.0, 9.0, 4.0, -7.0, 0.0, 1.0, 50.0, -50.0];
    let l2 = centre_focal(&to_tensor(&other), &to_tensor(&targets), &valid);
    assert_eq!(val(&l2), val(&loss));
}

#[test]
fn centre_focal_without_positives_is_the_negative_sum() {
    // Valid frames whose targets never reach 1: L = −Σ neg term (no division).
    let (logits, mut targets) = focal_case();
    for row in &mut targets {
        for g in row.iter_mut() {
            *g *= 0.8;
        }
    }
    let loss = centre_focal(&to_tensor(&logits), &to_tensor(&targets), &bools(&[true; 3]));
    let want = focal_formula(&logits, &targets, &[(0, 0), (1, 1), (2, 2)]);
    let mut neg = 0.0;
    for (xs, gs) in logits.iter().zip(&targets) {
        for (x, g) in xs.iter().zip(gs) {
            let p = (1.0 / (1.0 + (-x).exp())).clamp(1e-4, 1.0 - 1e-4);
            neg -= (1.0 - p).ln() * p * p * (1.0 - g).powi(4);
        }
    }
    close(want, neg, "formula without positives");
    close(val(&loss), neg, "no positives");
}

#[test]
fn centre_focal_all_invalid_is_zero() {
    let (logits, targets) = focal_case();
    let x = leaf(&vec(&to_tensor(&logits)), &[3, 1, 3, 3]);
    let loss = centre_focal(&x, &to_tensor(&targets), &bools(&[false; 3]));
    assert_zero_loss(&loss, &[&x]);
}

#[test]
#[should_panic(expected = "the target must have the logits' shape")]
fn centre_focal_reference_shapes_panic() {
    // The reference's [N, H, W] target is refused, not broadcast.
    let _ =
        centre_focal(&t(&[0.0; 8], &[2, 1, 2, 2]), &t(&[0.0; 8], &[2, 2, 2]), &bools(&[true; 2]));
}

// ---- offset_l1 ----------------------------------------------------------------------------

/// 3 frames, P = 2 (2P = 4), grid H = 2, W = 3. Every cell holds 100 + its index except the
/// centre cell `ind[n]`, which holds the prediction below.
fn offset_case(ind: [i64; 3], at_ind: [[f32; 4]; 3]) -> Tensor {
    let v: Vec<f32> = (0..3 * 4 * 6)
        .map(|i| {
            let (n, c, k) = (i / 24, i / 6 % 4, i % 6);
            if k as i64 == ind[n] {
                at_ind[n][c]
            } else {
                100.0 + i as f32
            }
        })
        .collect();
    leaf(&v, &[3, 4, 2, 3])
}

const IND: [i64; 3] = [1, 3, 5];
const AT_IND: [[f32; 4]; 3] = [[0.5, -1.5, 2.0, 0.0], [1.0, 1.0, 9.0, 9.0], [4.0, 4.0, 4.0, 4.0]];
const OFF_TARGET: [f32; 12] = [0.2, 0.0, 0.0, 3.0, 0.6, 1.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];

#[test]
fn offset_l1_by_hand() {
    let x = offset_case(IND, AT_IND);
    // Frame 1 hides its second landmark; frame 2 is invalid (its differences are 4).
    let mask = t(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], &[3, 4]);
    let valid = bools(&[true, true, false]);
    let ind = Tensor::from_slice(&IND);
    let loss = offset_l1(&x, &ind, &t(&OFF_TARGET, &[3, 4]), &mask, &valid);
    // Frame 0: d = 0.3 → 0.3²/2 = 0.045 (quadratic), −1.5 → 1.0, 2.0 → 1.5, −3.0 → 2.5 (linear).
    // Frame 1: d = 0.4 → 0.08, −0.8 → 0.32; the hidden landmark (d = 9) is left out.
    // Σ m = 4 + 2 = 6.
    let want = (0.045 + 1.0 + 1.5 + 2.5 + 0.08 + 0.32) / (6.0 + 1e-4);
    close(val(&loss), want, "offset loss");
    loss.backward();
    // Gradient: clamp(d, −1, 1) / (Σ m + 1e-4), only at the centre cell of a valid frame and a
    // visible landmark.
    let g = vec(&x.grad());
    let mut want_g = vec![0f32; 72];
    let den = 6.0001f32;
    for (n, c, d) in
        [(0, 0, 0.3), (0, 1, -1.0), (0, 2, 1.0), (0, 3, -1.0), (1, 0, 0.4), (1, 1, -0.8)]
    {
        want_g[(n * 4 + c) * 6 + IND[n] as usize] = d / den;
    }
    for (a, b) in g.iter().zip(&want_g) {
        assert!((a - b).abs() < 1e-6, "grad {g:?} != {want_g:?}");
    }
}

#[test]
fn offset_l1_reads_the_centre_cell() {
    // Frame 0's prediction placed one cell off (index 2 instead of 1): the loss sees 100+ values.
    let x = offset_case([2, 3, 5], AT_IND);
    let mask = t(&[1.0; 12], &[3, 4]);
    let loss = offset_l1(
        &x,
        &Tensor::from_slice(&IND),
        &t(&OFF_TARGET, &[3, 4]),
        &mask,
        &bools(&[true, false, false]),
    );
    assert!(val(&loss) > 50.0, "read a cell other than ind: {}", val(&loss));
}

#[test]
fn offset_l1_all_masked_is_zero() {
    let ind = Tensor::from_slice(&IND);
    let target = t(&OFF_TARGET, &[3, 4]);
    // No valid frame (their indices are not even read: 999 is off the grid).
    let x = offset_case(IND, AT_IND);
    let far = Tensor::from_slice(&[999i64, -5, 999]);
    let loss = offset_l1(&x, &far, &target, &t(&[1.0; 12], &[3, 4]), &bools(&[false; 3]));
    assert_zero_loss(&loss, &[&x]);
    // Valid frames, no visible landmark.
    let x = offset_case(IND, AT_IND);
    let loss = offset_l1(&x, &ind, &target, &t(&[0.0; 12], &[3, 4]), &bools(&[true; 3]));
    assert_zero_loss(&loss, &[&x]);
}

#[test]
#[should_panic(expected = "ind must be i64")]
fn offset_l1_int32_index_panics() {
    let x = offset_case(IND, AT_IND);
    let ind = Tensor::from_slice(&[1i32, 3, 5]);
    let _ =
        offset_l1(&x, &ind, &t(&OFF_TARGET, &[3, 4]), &t(&[1.0; 12], &[3, 4]), &bools(&[true; 3]));
}
