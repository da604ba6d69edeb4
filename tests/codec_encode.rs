//! Targets: heatmaps decode back to their landmarks, centroid targets decode back exactly.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;
use tsal::codec::{centroid, heatmap};

fn face(rng: &mut impl Rng, n: usize) -> Vec<[f64; 2]> {
    (0..n).map(|_| [rng.random_range(40.0..216.0), rng.random_range(40.0..216.0)]).collect()
}

#[test]
fn heatmap_targets_decode_to_their_landmarks() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let xy = face(&mut rng, 68);
    let mut vis = vec![true; 68];
    vis[5] = false;
    // σ = 6 px, the reference's default: exact without the cut-off, within 0.15 px with the
    // reference's 0.01 cut-off (which truncates the bump asymmetrically).
    for (cutoff, bound) in [(0.0, 0.01), (heatmap::REFERENCE_CUTOFF, 0.15)] {
        let mut worst: f64 = 0.0;
        let sigma = 6.0;
        let t = heatmap::encode(&xy, &vis, true, 32, 32, sigma, heatmap::Shape::Gaussian, cutoff);
        assert_eq!(t.maps.len(), 69 * 32 * 32);
        assert_eq!(t.mask[5], 0.0);
        assert_eq!((t.mask[0], t.mask[68]), (1.0, 1.0));
        assert!(
            t.maps[5 * 1024..6 * 1024].iter().all(|&v| v == 0.0),
            "an invisible point has an empty map"
        );
        let maps = Tensor::from_slice(&t.maps).view([1, 69, 32, 32]);
        let peaks = heatmap::soft_argmax(&maps, 4);
        for (k, p) in xy.iter().enumerate() {
            if !vis[k] {
                continue;
            }
            let (gx, gy) = (
                peaks.xy.double_value(&[0, k as i64, 0]),
                peaks.xy.double_value(&[0, k as i64, 1]),
            );
            worst = worst.max((gx - p[0]).abs()).max((gy - p[1]).abs());
        }
        // Background = 1 − max over landmarks, within [0, 1].
        let bg = &t.maps[68 * 1024..];
        for (c, b) in bg.iter().enumerate().take(1024) {
            let top = (0..68).map(|k| t.maps[k * 1024 + c]).fold(0f32, f32::max);
            assert!((b - (1.0 - top).max(0.0)).abs() < 1e-6);
        }
        eprintln!("cut-off {cutoff}: worst soft-argmax error {worst:.4} px");
        assert!(worst < bound, "cut-off {cutoff}: soft-argmax of the targets is {worst:.3} px off");
    }
}

#[test]
fn laplacian_and_unlabelled_targets() {
    let xy = vec![[100.0, 100.0]];
    let t = heatmap::encode(&xy, &[true], true, 32, 32, 6.0, heatmap::Shape::Laplacian, 0.01);
    let peak = t.maps[..1024].iter().cloned().fold(f32::MIN, f32::max);
    assert!(peak > 0.8 && peak <= 1.0);
    assert!(t.maps[..1024].iter().all(|&v| v == 0.0 || v >= 0.01), "values below 0.01 are cut");
    let u = heatmap::encode(&xy, &[true], false, 32, 32, 6.0, heatmap::Shape::Gaussian, 0.01);
    assert!(u.maps.iter().all(|&v| v == 0.0) && u.mask.iter().all(|&v| v == 0.0));
}

#[test]
fn centroid_targets_decode_back_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let xy = face(&mut rng, 68);
    let mut vis = vec![true; 68];
    vis[0] = false;
    let t = centroid::encode(&xy, &vis, true, 32, 32);
    assert!(t.valid);
    let (cx, cy) = ((xy[30][0] / 8.0).floor() as i64, (xy[30][1] / 8.0).floor() as i64);
    assert_eq!(t.ind, cy * 32 + cx, "index = cy·W + cx (the reference transposed it)");
    assert_eq!(t.heat[t.ind as usize], 1.0, "peak at the centre cell");
    assert_eq!(t.heat.iter().cloned().fold(0f32, f32::max), 1.0);
    assert_eq!((t.mask[0], t.mask[1], t.mask[2]), (0.0, 0.0, 1.0));
    // Decoding the targets (centre as logits, offsets as maps) returns the landmarks.
    let logits: Vec<f32> = t.heat.iter().map(|&h| if h >= 1.0 { 10.0 } else { -10.0 }).collect();
    let mut off = vec![0f32; 136 * 1024];
    for j in 0..136 {
        off[j * 1024 + t.ind as usize] = t.offsets[j];
    }
    let c = centroid::decode(
        &Tensor::from_slice(&logits).view([1, 1, 32, 32]),
        &Tensor::from_slice(&off).view([1, 136, 32, 32]),
        1,
    );
    for (j, p) in xy.iter().enumerate().skip(1) {
        assert!((c.landmarks.double_value(&[0, 0, j as i64, 0]) - p[0]).abs() < 1e-3);
        assert!((c.landmarks.double_value(&[0, 0, j as i64, 1]) - p[1]).abs() < 1e-3);
    }
    // No centre: unlabelled, or the nose tip invisible.
    assert!(!centroid::encode(&xy, &vis, false, 32, 32).valid);
    let mut no_nose = vis.clone();
    no_nose[30] = false;
    let n = centroid::encode(&xy, &no_nose, true, 32, 32);
    assert!(!n.valid && n.heat.iter().all(|&v| v == 0.0) && n.mask.iter().all(|&v| v == 0.0));
}

#[test]
fn gaussian_radius_matches_hand_computed_values() {
    // A 20×20-cell face, overlap 0.7: the third root binds,
    // r3 = (−2·0.7·40 + sqrt((2·0.7·40)² + 4·(4·0.7)·(0.3·400))) / 2 = 5.4664.
    let got = centroid::gaussian_radius(20.0, 20.0, 0.7);
    assert!((got - 5.4664).abs() < 1e-3, "{got}");
    assert!(centroid::gaussian_radius(10.0, 10.0, 0.7) < got, "smaller faces, smaller radius");
}
