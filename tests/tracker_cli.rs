//! `tsal tracker eval` and `tsal tracker pretrain`: the figures on pairs whose motion is known,
//! and weights that `tsal train --tracker_weights` loads by name.
mod common;
use common::{s, stderr, synth, tsal, tsal_ok, TINY};
use std::path::Path;
use tch::{Device, Kind, Tensor};
use tsal::data::augment::{AugParams, CropSpec, VideoDraws};
use tsal::data::clip::ClipKind;
use tsal::data::sample::TargetParams;
use tsal::formats::pts::{self, Landmarks};
use tsal::tracker::{eval, pairs};

/// 68 points on a grid inside the box (40, 40)–(160, 160).
fn face(d: [f64; 2]) -> Landmarks {
    Landmarks::all_visible(
        (0..68)
            .map(|i| [50.0 + (i % 9) as f64 * 12.0 + d[0], 50.0 + (i / 9) as f64 * 12.0 + d[1]])
            .collect(),
    )
}

/// A list: a two-frame video whose face moves by (3, 2) px, and one still image.
fn constructed(dir: &Path) -> Vec<tsal::formats::list::ListEntry> {
    let mut text = String::new();
    let img = image::RgbImage::from_fn(200, 200, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 90])
    });
    for (t, d) in [(1, [0.0, 0.0]), (2, [3.0, 2.0])] {
        let v = dir.join("001");
        std::fs::create_dir_all(&v).unwrap();
        img.save(v.join(format!("{t:06}.png"))).unwrap();
        pts::write(&v.join(format!("{t:06}.pts")), &face(d), pts::PtsFormat::Ibug).unwrap();
        text += &format!("{0}/{t:06}.png {0}/{t:06}.pts 40 40 160 160\n", v.display());
    }
    img.save(dir.join("still.png")).unwrap();
    pts::write(&dir.join("still.pts"), &face([0.0, 0.0]), pts::PtsFormat::Ibug).unwrap();
    text += &format!("{0}/still.png {0}/still.pts 40 40 160 160\n", dir.display());
    tsal::formats::list::parse(&text, &dir.join("c.lst"), &[]).unwrap()
}

#[test]
fn tracker_eval_on_pairs_with_known_motion() {
    let d = tempfile::tempdir().unwrap();
    let entries = constructed(d.path());
    let specs = pairs::pairs(&entries, 1, 10);
    assert_eq!(
        specs.iter().map(|p| p.kind).collect::<Vec<_>>(),
        [ClipKind::Views, ClipKind::Video]
    );
    let crop = CropSpec { expand: 0.2, width: 64, height: 64 };
    let aug = AugParams {
        crop,
        scale_prob: 1.0,
        scale_min: 0.9,
        scale_max: 1.1,
        rotate_max: 20.0,
        crop_perturb_max: 7.5,
        video_draws: VideoDraws::Shared,
    };
    let targets = TargetParams {
        num_pts: 68,
        sigma: 1.0,
        shape: tsal::codec::heatmap::Shape::Gaussian,
        cutoff: -1.0,
    };
    let settings = eval::Settings {
        aug: &aug,
        targets: &targets,
        seed: 3,
        chunk: 1,
        threads: 1,
        device: Device::Cpu,
    };
    // The video is cropped by its first box, unaugmented: (3, 2) px of the image is (3, 2)·zoom.
    let z = crop.matrix([40.0, 40.0, 160.0, 160.0]).zoom();
    let moving = |im1: &Tensor, _: &Tensor| {
        let n = im1.size()[0];
        Tensor::from_slice(&[(3.0 * z) as f32, (2.0 * z) as f32])
            .view([1, 2, 1, 1])
            .expand([n, 2, 64, 64], false)
            .copy()
    };
    let still = |im1: &Tensor, _: &Tensor| {
        Tensor::zeros([im1.size()[0], 2, 64, 64], (Kind::Float, Device::Cpu))
    };
    let [video, views] = eval::evaluate(&moving, &entries, &specs, &settings, &|_| {}).unwrap();
    let video = video.unwrap();
    assert_eq!((video.pairs, video.landmarks), (1, 68));
    assert!((video.static_px - 13f64.sqrt() * z).abs() < 1e-3, "{video:?} zoom {z}");
    assert!(video.track_px < 1e-3, "{video:?}");
    // Not moving at all scores static_px exactly, on both kinds.
    let [video0, views0] = eval::evaluate(&still, &entries, &specs, &settings, &|_| {}).unwrap();
    let (video0, views0) = (video0.unwrap(), views0.unwrap());
    assert!((video0.track_px - video0.static_px).abs() < 1e-9 && (video0.ratio - 1.0).abs() < 1e-9);
    assert!((views0.track_px - views0.static_px).abs() < 1e-9, "{views0:?}");
    // Two augmented views of one still differ by far more than the video's motion.
    assert!(views0.static_px > 2.0 * video0.static_px, "{views0:?}");
    assert_eq!(views.unwrap().static_px, views0.static_px, "the views' draws are seeded");
    // Stride 2 finds no video pair in a two-frame video.
    assert!(pairs::pairs(&entries, 2, 10).iter().all(|p| p.kind == ClipKind::Views));
}

#[test]
fn pretrained_weights_load_in_train_and_eval() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "4", "--videos", "2", "--frames", "6", "--no-avi", "--seed", "5"]);
    let lists = data.join("lists");
    let w300 = lists.join("300W/300w.train.GTB");
    let weights = d.path().join("w/tracker.safetensors");
    let pretrain = |extra: &[&str]| {
        let mut args = vec![
            "tracker",
            "pretrain",
            "--out",
            s(&weights),
            "--tracker_config",
            "configs/tiny/MFDS.json",
        ];
        args.extend([
            "--size",
            "64",
            "--iters",
            "3",
            "--batch_size",
            "2",
            "--lists",
            s(&w300),
            "--device",
            "cpu",
        ]);
        args.extend(extra);
        tsal(&args)
    };
    let o = pretrain(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("iter 3/3: end-point error"));
    // The names are ARFlow's, the tracker's own: every variable of the config, nothing else.
    let file = tsal::models::weights::read(&weights).unwrap();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let cfg = tsal::config::TrackerConfig::load(Path::new("configs/tiny/MFDS.json")).unwrap();
    tsal::models::pwclite::PwcLite::new(&vs.root(), &cfg).unwrap();
    let mut want: Vec<String> = vs.variables().into_keys().collect();
    let mut got: Vec<String> = file.into_keys().collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(got.iter().any(|k| k.starts_with("feature_pyramid_extractor.convs.0.0")));
    // An existing file is not replaced without --force.
    let o = pretrain(&[]);
    assert!(
        !o.status.success() && stderr(&o).contains("exists (--force replaces it)"),
        "{}",
        stderr(&o)
    );
    // tsal train starts both trackers from it.
    let mut args = vec!["train"];
    args.extend(TINY);
    let run = d.path().join("run");
    let none = lists.join("300VW/300VW.train.lst.none");
    args.extend(["--train_lists", s(&w300), s(&none), "--clip_frames", "2", "--batch_size", "2"]);
    args.extend([
        "--max_iters",
        "1",
        "--save_path",
        s(&run),
        "--device",
        "cpu",
        "--tracker_weights",
        s(&weights),
    ]);
    tsal_ok(&args);
    // tracker eval measures it: JSON with both kinds.
    let vw = lists.join("300VW/300VW.train.lst");
    let out = tsal_ok(&[
        "tracker",
        "eval",
        "--weights",
        s(&weights),
        "--tracker_config",
        "configs/tiny/MFDS.json",
        "--size",
        "64",
        "--lists",
        s(&w300),
        s(&vw),
        "--stride",
        "2",
        "--json",
        "--device",
        "cpu",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    for kind in ["views", "video"] {
        for key in ["pairs", "static_px", "track_px"] {
            assert!(j[kind][key].as_f64().is_some(), "{kind}.{key} in {out}");
        }
    }
    assert_eq!(j["stride"], 2);
    assert!(j["video"]["pairs"].as_u64().unwrap() >= 2);
}
