//! Prediction with a snapshot: batching, workers and repeated lines do not change a point, and
//! every point maps back inside the face's expanded box in original-image pixels.
use tch::{nn, Device};
use tsal::config::run::reference_augmentation;
use tsal::config::ModelConfig;
use tsal::data::augment::AugParams;
use tsal::data::crop::{crop, CropSpec};
use tsal::eval::predict::{predict, PredictOptions, Tta};
use tsal::formats::list;
use tsal::models::{Detector, DetectorSpec};
use tsal::synth::SynthOptions;

#[test]
fn predictions_do_not_depend_on_batching_and_map_back_into_the_box() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("data");
    let opts = SynthOptions {
        images: 10,
        common: None,
        challenge: None,
        test_videos: None,
        motion: 1.0,
        videos: 2,
        frames: 6,
        avi: false,
        threads: 2,
        ..SynthOptions::quickstart(out.clone())
    };
    tsal::synth::generate(&opts).unwrap();
    let mut entries = list::read(&out.join("lists/300W/300w.test.common.GTB"), &[]).unwrap();
    entries.extend(list::read(&out.join("lists/300VW/300VW.test-1.lst"), &[]).unwrap());
    entries.push(entries[0].clone()); // a repeated line
    let n = entries.len();
    tch::manual_seed(3);
    let cfg = ModelConfig::load(std::path::Path::new("configs/tiny/Detector.config")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap());
    let spec = CropSpec { expand: 0.2, width: 64, height: 64 };
    let predict_with = |batch_size, workers, tta: Option<Tta>| {
        let o = PredictOptions {
            crop: spec,
            num_pts: 68,
            radius: 4,
            batch_size,
            workers,
            device: Device::Cpu,
            tta,
        };
        predict(&det, &entries, &o).unwrap()
    };
    let run = |batch_size, workers| predict_with(batch_size, workers, None);
    let a = run(1, 1);
    assert_eq!(a.points.len(), n);
    assert_eq!(a.frames, n - 1, "the repeated line is predicted once");
    assert_eq!(a.points[n - 1], a.points[0]);
    let b = run(5, 2);
    for (p, q) in a.points.iter().zip(&b.points) {
        for (u, v) in p.iter().zip(q) {
            assert!((u[0] - v[0]).abs() < 1e-3 && (u[1] - v[1]).abs() < 1e-3, "{u:?} vs {v:?}");
        }
    }
    // Soft-argmax stays inside the 64×64 crop, which is the expanded box: back in the
    // original image every point lies inside that box.
    for (e, p) in entries.iter().zip(&a.points) {
        let (w, h) = (e.bbox[2] - e.bbox[0], e.bbox[3] - e.bbox[1]);
        let (x0, y0) = (e.bbox[0] - 0.2 * w, e.bbox[1] - 0.2 * h);
        let (x1, y1) = (e.bbox[2] + 0.2 * w, e.bbox[3] + 0.2 * h);
        for q in p {
            assert!(
                q[0] >= x0 - 1e-6 && q[0] <= x1 + 1e-6 && q[1] >= y0 - 1e-6 && q[1] <= y1 + 1e-6,
                "{}: {q:?} outside the expanded box {:?}",
                e.origin,
                [x0, y0, x1, y1]
            );
        }
    }
    assert!(a.frames_per_second() > 0.0);

    // With test-time augmentation: the same points whatever the batching and workers (the
    // draws follow the line, not the batch), and not the plain prediction.
    let tta = |batch_size, workers| {
        let views = Tta { views: 3, aug: reference_augmentation(spec), seed: 1 };
        predict_with(batch_size, workers, Some(views))
    };
    let (c, d) = (tta(3, 1), tta(8, 2));
    assert_eq!(c.points.len(), n);
    assert_eq!(c.points[n - 1], c.points[0]);
    let mut moved = 0.0f64;
    for ((p, q), r) in c.points.iter().zip(&d.points).zip(&a.points) {
        for ((u, v), w) in p.iter().zip(q).zip(r) {
            assert!((u[0] - v[0]).abs() < 1e-3 && (u[1] - v[1]).abs() < 1e-3, "{u:?} vs {v:?}");
            moved = moved.max((u[0] - w[0]).abs() + (u[1] - w[1]).abs());
        }
    }
    assert!(moved > 0.1, "three views gave the plain prediction ({moved} px at most)");
}

/// The public crop of one in-memory image (what eval and the demo use) equals, bit for bit,
/// the training loader's clip with no random draw, and its map returns crop points to the
/// original image.
#[test]
fn the_public_crop_equals_the_loaders_evaluation_crop() {
    use tsal::data::clip::{Clip, ClipKind};
    use tsal::data::sample::{ClipBuilder, TargetParams};
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("data");
    let opts = SynthOptions {
        images: 6,
        common: None,
        challenge: None,
        test_videos: None,
        motion: 1.0,
        videos: 1,
        frames: 2,
        avi: false,
        threads: 1,
        ..SynthOptions::quickstart(out.clone())
    };
    tsal::synth::generate(&opts).unwrap();
    let entries = list::read(&out.join("lists/300W/300w.train.GTB"), &[]).unwrap();
    for spec in [
        CropSpec { expand: 0.2, width: 64, height: 64 },
        CropSpec { expand: 0.5, width: 128, height: 64 },
    ] {
        let aug = AugParams::none(spec);
        let targets = TargetParams {
            num_pts: 68,
            sigma: 1.0,
            shape: tsal::codec::heatmap::Shape::Gaussian,
            cutoff: 0.0,
        };
        let builder = ClipBuilder { entries: &entries, aug: &aug, targets: &targets, cache: None };
        for (i, e) in entries.iter().enumerate().take(3) {
            let clip = Clip { kind: ClipKind::Views, frames: vec![i], padded: 0 };
            let sample = builder.build(&clip, None).unwrap();
            let img = tsal::formats::image_io::decode(&e.image).unwrap().to_rgb8();
            let c = crop(&img, e.bbox, &spec);
            assert_eq!(c.pixels.len(), 3 * spec.pixels());
            assert_eq!(c.pixels, sample.images, "line {i}, {spec:?}");
            // The loader composes a no-op draw after the crop: equal to rounding.
            let (m, n) = (c.to_original.0, sample.to_original[0].0);
            for (u, v) in m.iter().flatten().zip(n.iter().flatten()) {
                assert!((u - v).abs() < 1e-9, "{m:?} vs {n:?}");
            }
            // The crop's corners are the expanded box's corners.
            let b = e.bbox;
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            let tl = c.to_original.apply([0.0, 0.0]);
            let br = c.to_original.apply([spec.width as f64, spec.height as f64]);
            let want_tl = [b[0] - spec.expand * w, b[1] - spec.expand * h];
            let want_br = [b[2] + spec.expand * w, b[3] + spec.expand * h];
            for (g, e) in tl.iter().chain(&br).zip(want_tl.iter().chain(&want_br)) {
                assert!((g - e).abs() < 1e-9, "{tl:?} {br:?} vs {want_tl:?} {want_br:?}");
            }
        }
    }
}

/// Test-time augmentation's views: a bright dot at a known place in the image lands, in each
/// view, where that view's own inverse crop takes it back to the dot (to a pixel); the views
/// differ from each other by rotation, scale and shift; the same seed and line give the same
/// views, another line others; the first view is the deterministic crop.
#[test]
fn augmented_views_map_back_through_their_own_crops() {
    use tsal::eval::predict::mean_points;
    let mut img = image::RgbImage::from_pixel(200, 160, image::Rgb([40, 40, 40]));
    let dot = [118.0, 71.0];
    for y in 70..=72 {
        for x in 117..=119 {
            img.put_pixel(x, y, image::Rgb([255, 255, 255]));
        }
    }
    let bbox = [70.0, 40.0, 150.0, 120.0];
    let spec = CropSpec { expand: 0.2, width: 128, height: 128 };
    let tta = Tta { views: 6, aug: reference_augmentation(spec), seed: 7 };
    let views = tta.crops(&img, bbox, 3);
    assert_eq!(views.len(), 6);
    assert_eq!(views[0], crop(&img, bbox, &spec), "view 0 is the evaluation crop");
    // The brightest crop pixel (red channel) of each view, taken back to the image.
    let found: Vec<([f64; 2], [f64; 2])> = views
        .iter()
        .map(|v| {
            let plane = &v.pixels[..128 * 128];
            let i = (0..plane.len()).max_by(|&a, &b| plane[a].total_cmp(&plane[b])).unwrap();
            let at = [(i % 128) as f64, (i / 128) as f64];
            (at, v.to_original.apply(at))
        })
        .collect();
    for (at, back) in &found {
        let err = ((back[0] - dot[0]).powi(2) + (back[1] - dot[1]).powi(2)).sqrt();
        assert!(
            err < 1.5,
            "the dot at {at:?} in a view maps back to {back:?}, {err:.2} px from {dot:?}"
        );
    }
    let spread =
        found.iter().map(|(a, _)| (a[0] - found[0].0[0]).abs() + (a[1] - found[0].0[1]).abs());
    assert!(spread.fold(0.0, f64::max) > 5.0, "the views hardly differ: {found:?}");
    assert_eq!(tta.crops(&img, bbox, 3), views, "same seed and line, same views");
    assert_ne!(tta.crops(&img, bbox, 4)[1], views[1], "another line draws other views");
    assert_eq!(
        mean_points(&[vec![[1.0, 2.0], [3.0, 4.0]], vec![[3.0, 6.0], [5.0, 0.0]]]),
        vec![[2.0, 4.0], [4.0, 2.0]]
    );
}
