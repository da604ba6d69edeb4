//! Prediction with a snapshot: batching, workers and repeated lines do not change a point, and
//! every point maps back inside the face's expanded box in original-image pixels.
use tch::{nn, Device};
use tsal::config::ModelConfig;
use tsal::data::augment::AugParams;
use tsal::eval::predict::{predict, PredictOptions};
use tsal::formats::list;
use tsal::models::{Detector, DetectorSpec};
use tsal::synth::SynthOptions;

#[test]
fn predictions_do_not_depend_on_batching_and_map_back_into_the_box() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("data");
    let opts = SynthOptions {
        images: 10,
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
    let aug = AugParams {
        pre_crop_expand: 0.2,
        crop_width: 64,
        crop_height: 64,
        scale_prob: 0.0,
        scale_min: 1.0,
        scale_max: 1.0,
        rotate_max: 0.0,
        crop_perturb_max: 0.0,
    };
    let run = |batch_size, workers| {
        let o = PredictOptions {
            aug: aug.clone(),
            num_pts: 68,
            radius: 4,
            batch_size,
            workers,
            device: Device::Cpu,
        };
        predict(&det, &entries, &o).unwrap()
    };
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
}
