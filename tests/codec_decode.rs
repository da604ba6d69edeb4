//! Read-outs: soft-argmax on planted peaks, centroid + offset decoding on planted offsets.
use tch::{Device, Kind, Tensor};
use tsal::codec::{centroid, heatmap};

/// A Gaussian bump at input-pixel position `(px, py)` on a `g×g` grid (cell centres at 8x+3.5),
/// σ in input pixels.
fn gaussian(g: i64, px: f64, py: f64, sigma: f64) -> Vec<f32> {
    let mut v = Vec::new();
    for y in 0..g {
        for x in 0..g {
            let (cx, cy) = (8.0 * x as f64 + 3.5, 8.0 * y as f64 + 3.5);
            let d2 = (cx - px).powi(2) + (cy - py).powi(2);
            v.push((-d2 / (2.0 * sigma * sigma)).exp() as f32);
        }
    }
    v
}

#[test]
fn soft_argmax_recovers_sub_pixel_peaks() {
    let g = 32;
    let points = [(100.3, 57.9), (40.0, 220.6), (128.77, 128.11), (201.45, 33.3), (5.2, 4.9)];
    let mut data = Vec::new();
    for &(x, y) in &points {
        data.extend(gaussian(g, x, y, 6.0));
    }
    let heat = Tensor::from_slice(&data).view([1, points.len() as i64, g, g]);
    for radius in [4, 20] {
        let p = heatmap::soft_argmax(&heat, radius);
        assert_eq!(p.xy.size(), [1, points.len() as i64, 2]);
        for (i, &(x, y)) in points.iter().enumerate() {
            let gx = p.xy.double_value(&[0, i as i64, 0]);
            let gy = p.xy.double_value(&[0, i as i64, 1]);
            // The first four peaks lie well inside the map.
            if i < 4 {
                assert!(
                    (gx - x).abs() < 0.05 && (gy - y).abs() < 0.05,
                    "r={radius}: ({gx}, {gy}) vs ({x}, {y})"
                );
            }
            let n = (g * g) as usize;
            let peak = data[i * n..(i + 1) * n].iter().cloned().fold(f32::MIN, f32::max);
            assert_eq!(
                p.score.double_value(&[0, i as i64]),
                peak as f64,
                "score = peak cell value"
            );
        }
    }
}

#[test]
fn soft_argmax_of_a_single_hot_cell_is_its_centre() {
    let heat = Tensor::zeros([2, 3, 8, 8], (Kind::Float, Device::Cpu));
    let _ = heat.get(1).get(2).get(5).get(6).fill_(0.7);
    let p = heatmap::soft_argmax(&heat, 4);
    assert_eq!(p.xy.double_value(&[1, 2, 0]), 6.0 * 8.0 + 3.5);
    assert_eq!(p.xy.double_value(&[1, 2, 1]), 5.0 * 8.0 + 3.5);
    assert!((p.score.double_value(&[1, 2]) - 0.7).abs() < 1e-6);
    // An all-zero channel reads as its first cell (the argmax of zeros), not NaN.
    assert_eq!(p.xy.double_value(&[0, 0, 0]), 3.5);
    assert_eq!(i64::try_from(p.xy.isnan().sum(Kind::Int64)).unwrap(), 0);
}

#[test]
fn centroid_decode_recovers_planted_offsets_exactly() {
    let (g, p) = (32_i64, 68_i64);
    let mut logits = vec![-10.0f32; (g * g) as usize];
    // Best centre at cell (x 14, y 17), a weaker one at (3, 25).
    logits[(17 * g + 14) as usize] = 4.0;
    logits[(25 * g + 3) as usize] = 1.0;
    let centre = Tensor::from_slice(&logits).view([1, 1, g, g]);
    let mut off = vec![0f32; (2 * p * g * g) as usize];
    let planted = |j: i64| ((j as f32) * 0.37 - 12.0, 5.5 - (j as f32) * 0.21);
    for j in 0..p {
        let (ox, oy) = planted(j);
        off[((2 * j) * g * g + 17 * g + 14) as usize] = ox;
        off[((2 * j + 1) * g * g + 17 * g + 14) as usize] = oy;
    }
    let offsets = Tensor::from_slice(&off).view([1, 2 * p, g, g]);
    let c = centroid::decode(&centre, &offsets, 4);
    assert_eq!(c.landmarks.size(), [1, 4, p, 2]);
    assert_eq!(c.centre_cell.double_value(&[0, 0, 0]), 14.0);
    assert_eq!(c.centre_cell.double_value(&[0, 0, 1]), 17.0);
    assert_eq!(c.centre_cell.double_value(&[0, 1, 0]), 3.0);
    assert_eq!(c.centre_cell.double_value(&[0, 1, 1]), 25.0);
    assert!(c.score.double_value(&[0, 0]) > c.score.double_value(&[0, 1]));
    for j in 0..p {
        let (ox, oy) = planted(j);
        // Landmark = 8 · (centre cell + offset), input pixels.
        let want_x = 8.0 * (14.0 + ox as f64);
        let want_y = 8.0 * (17.0 + oy as f64);
        assert!((c.landmarks.double_value(&[0, 0, j, 0]) - want_x).abs() < 1e-4);
        assert!((c.landmarks.double_value(&[0, 0, j, 1]) - want_y).abs() < 1e-4);
    }
}

#[test]
fn centroid_nms_keeps_only_local_maxima() {
    let g = 8;
    let mut logits = vec![-5.0f32; 64];
    logits[3 * 8 + 3] = 3.0; // a peak
    logits[3 * 8 + 4] = 2.0; // its shoulder, suppressed
    let centre = Tensor::from_slice(&logits).view([1, 1, g, g]);
    let offsets = Tensor::zeros([1, 4, g, g], (Kind::Float, Device::Cpu));
    let c = centroid::decode(&centre, &offsets, 2);
    assert_eq!(c.centre_cell.double_value(&[0, 0, 0]), 3.0);
    // The second candidate is not the shoulder cell (4, 3).
    let second = (c.centre_cell.double_value(&[0, 1, 0]), c.centre_cell.double_value(&[0, 1, 1]));
    assert_ne!(second, (4.0, 3.0));
}
