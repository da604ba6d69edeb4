//! The `tsal` binary: flag parsing, refusals of what has not landed, `lists check`, `doctor`.
mod common;
use common::{stderr, synth, tsal, walk};
use std::path::Path;
use std::process::Output;

/// The reference invocation (the reference's README / `scripts/dual_model.sh`), exactly as written.
const REFERENCE: &[&str] = &[
    "train",
    "--train_lists",
    "cache_data/lists/300VW/300VW.train.lst",
    "--eval_vlists",
    "cache_data/lists/300VW/300VW.test-3.lst562",
    "--eval_ilists",
    "cache_data/lists/300W/300w.test.common.DET",
    "cache_data/lists/300W/300w.test.challenge.DET",
    "cache_data/lists/300W/300w.test.full.DET",
    "--num_pts",
    "68",
    "--model_config",
    "configs/Detector.config",
    "--opt_config",
    "configs/SGD.config",
    "--pre_crop_expand",
    "0.2",
    "--sigma",
    "6",
    "--batch_size",
    "8",
    "--crop_perturb_max",
    "30",
    "--rotate_max",
    "20",
    "--scale_prob",
    "1.0",
    "--scale_min",
    "0.9",
    "--scale_max",
    "1.1",
    "--scale_eval",
    "1",
    "--heatmap_type",
    "gaussian",
    "--save_path",
    "./snapshots/Dualmodel_SIC_MFDS_lambda0.7_epoch70",
];

#[test]
fn reference_invocation_parses() {
    let mut args = REFERENCE.to_vec();
    args.extend(["--print_config", "--rand_seed", "63270"]);
    let o = tsal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(cfg["data"]["batch_size"], 8);
    assert_eq!(cfg["targets"]["sigma"], 6.0);
    assert_eq!(cfg["data"]["eval_ilists"].as_array().unwrap().len(), 3);
    assert_eq!(cfg["data"]["eval_vlists"].as_array().unwrap().len(), 1);
    assert_eq!(cfg["targets"]["heatmap_type"], "gaussian");
    assert_eq!(cfg["crop"], serde_json::json!({"expand": 0.2, "width": 256, "height": 256}));
    assert_eq!(cfg["run"]["rand_seed"], 63270);
    assert_eq!(cfg["model"]["path"], "configs/Detector.config");
    assert_eq!(cfg["model"]["config"]["arch"], "cpm_vgg16");
    assert_eq!(cfg["opt"]["config"]["schedule"], serde_json::json!([90, 110, 130]));
    assert_eq!(cfg["tracker"]["config"]["loss"]["w_smooth"], 50.0);
    // The printed configuration reads back as the same RunConfig (what config.json will hold).
    let back: tsal::config::RunConfig = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), cfg);
    back.validate().unwrap();
}

#[test]
fn the_reference_invocation_fails_early_and_clearly_without_its_files() {
    // The reference's config asks for ImageNet weights, which tsal never downloads.
    let o = tsal(REFERENCE);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--pretrained vgg16-397923af.pth")
            && stderr(&o).contains("--no_pretrained"),
        "{}",
        stderr(&o)
    );
    let mut args = REFERENCE.to_vec();
    args.push("--no_pretrained");
    let o = tsal(&args);
    // The reference's lists are not in this repository: named, before the save path exists.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--train_lists cache_data/lists/300VW/300VW.train.lst"),
        "{}",
        stderr(&o)
    );
    let save = REFERENCE[REFERENCE.iter().position(|a| *a == "--save_path").unwrap() + 1];
    assert!(!Path::new(env!("CARGO_MANIFEST_DIR")).join(save).exists(), "{save} was created");
    let mut args = REFERENCE.to_vec();
    args.extend(["--pretrained", "nowhere/vgg16.pth"]);
    let o = tsal(&args);
    assert!(
        stderr(&o).contains("--pretrained nowhere/vgg16.pth: file not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn kebab_case_aliases_parse() {
    let o = tsal(&[
        "train",
        "--train-lists",
        "a.lst",
        "--save-path",
        "s",
        "--batch-size",
        "3",
        "--heatmap-type",
        "laplacian",
        "--print-config",
        "--rand-seed",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(cfg["data"]["batch_size"], 3);
    assert_eq!(cfg["targets"]["heatmap_type"], "laplacian");
}

#[test]
fn random_seed_is_drawn_and_recorded() {
    let o = tsal(&["train", "--train_lists", "a", "--save_path", "s", "--print_config"]);
    let cfg: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let seed = cfg["run"]["rand_seed"].as_u64().unwrap();
    assert!((1..=100_000).contains(&seed), "{seed}");
}

#[test]
fn inconsistent_flags_are_refused_with_the_flag_named() {
    let base = ["train", "--train_lists", "a", "--save_path", "s", "--print_config"];
    let cases: &[(&[&str], &str)] = &[
        (&["--scale_eval", "1.2"], "--scale_eval"),
        (&["--arg_flip"], "--arg_flip"),
        (&["--crop_height", "250"], "--crop_height"),
        (&["--Rma_model", "False"], "--Rma_model"),
        (&["--model_config", "configs/nope.config"], "configs/nope.config"),
        (&["--eval_once"], "--load_test_model"),
        (&["--clip_frames", "0"], "--clip_frames"),
        (&["--heatmap_cutoff", "1.5"], "--heatmap_cutoff"),
        // The trackers need multiples of 64: 288 passes the detector's 32 but not theirs.
        (&["--crop_width", "288"], "--crop_width 288: the tracker"),
        (&["--crop_width", "65536"], "--crop_width 65536"),
        (&["--pre_crop_expand", "nan"], "--pre_crop_expand NaN"),
        (&["--pre_crop_expand=-0.1"], "--pre_crop_expand -0.1"),
        (&["--sigma", "inf"], "--sigma inf"),
        (&["--scale_max", "inf"], "--scale_max inf"),
        (&["--scale_eval", "nan"], "--scale_eval NaN"),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let o = tsal(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(needle), "{extra:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one clear line: {e}");
    }
    // Unknown flags and bad values are clap usage errors (exit 2).
    let o = tsal(&["train", "--train_lists", "a", "--save_path", "s", "--batch_size", "two"]);
    assert_eq!(o.status.code(), Some(2));
    // The reference's unused flags are accepted, with real booleans.
    let mut args = base.to_vec();
    args.extend([
        "--usepca",
        "False",
        "--pyramid_input",
        "1",
        "--error_bar",
        "0.5",
        "--Rma_model",
        "True",
    ]);
    assert!(tsal(&args).status.success());
}

fn write_png(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
        .save(path)
        .unwrap();
}

fn write_pts(path: &Path, n: usize) {
    let lm =
        tsal::formats::pts::Landmarks::all_visible((0..n).map(|i| [5.0 + i as f64, 7.0]).collect());
    tsal::formats::pts::write(path, &lm, tsal::formats::pts::PtsFormat::Ibug).unwrap();
}

#[test]
fn lists_check_summarises_a_good_list() {
    let d = tempfile::tempdir().unwrap();
    let vid = d.path().join("001/extraction");
    std::fs::create_dir_all(&vid).unwrap();
    let mut lines = String::new();
    for i in 1..=3 {
        write_png(&vid.join(format!("{i:06}.png")), 40, 30);
        write_pts(&vid.join(format!("{i:06}.pts")), 68);
        lines += &format!("001/extraction/{i:06}.png 001/extraction/{i:06}.pts 1 2 30 25\n");
    }
    write_png(&d.path().join("face.png"), 50, 50);
    lines += "face.png None 1 1 40 40\n";
    let list = d.path().join("good.lst");
    std::fs::write(&list, lines).unwrap();
    let o = tsal(&["lists", "check", "--json", list.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &r[0];
    assert_eq!(
        (r["lines"].as_u64(), r["labelled"].as_u64(), r["unlabelled"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(r["videos"], 1);
    assert_eq!(r["images"], 4);
    assert_eq!(r["num_pts"], 68);
    assert_eq!(r["problems"].as_array().unwrap().len(), 0);
    // The table form prints the same counts.
    let o = tsal(&["lists", "check", list.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = table.lines().find(|l| l.contains("good.lst")).unwrap().to_string();
    let cols: Vec<&str> = row.split_whitespace().skip(1).collect();
    assert_eq!(cols, ["4", "3", "1", "1", "4", "68", "0", "0"], "{table}");
}

#[test]
fn lists_check_reports_every_problem_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    write_png(&d.path().join("ok.png"), 20, 20);
    write_pts(&d.path().join("ok.pts"), 68);
    write_pts(&d.path().join("short.pts"), 5);
    std::fs::write(d.path().join("broken.png"), b"not a png").unwrap();
    std::fs::write(d.path().join("trunc.pts"), "version: 1\nn_points: 68\n{\n1 2\n").unwrap();
    let text = "ok.png ok.pts 1 1 10 10\n\
                missing.png ok.pts 1 1 10 10\n\
                ok.png ok.pts 1 1 10\n\
                broken.png None 1 1 10 10\n\
                ok.png trunc.pts 1 1 10 10\n\
                ok.png short.pts 1 1 10 10\n\
                ok.png gone.pts 1 1 10 10\n";
    let list = d.path().join("list.txt");
    std::fs::write(&list, text).unwrap();
    let o = tsal(&["lists", "check", list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let l = list.display();
    for (line, what) in [
        (2, "file not found"),
        (3, "expected 6 or 7 fields, found 5"),
        (4, "does not decode"),
        (5, "truncated"),
        (6, "has 5 points, expected 68"),
        (7, "gone.pts"),
    ] {
        assert!(
            e.lines().any(|x| x.starts_with(&format!("{l}:{line}:")) && x.contains(what)),
            "line {line} `{what}`:\n{e}"
        );
    }
    assert!(!e.contains(&format!("{l}:1:")), "line 1 is fine:\n{e}");
    let o = tsal(&["lists", "check", "--json", list.to_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["problems"].as_array().unwrap().len(), 6);
    assert_eq!(r[0]["missing_files"], 2);
}

#[test]
fn lists_check_applies_path_maps() {
    let d = tempfile::tempdir().unwrap();
    write_png(&d.path().join("a.png"), 20, 20);
    let list = d.path().join("abs.lst");
    std::fs::write(&list, "/data1/mry/a.png None 1 1 10 10\n").unwrap();
    let o = tsal(&["lists", "check", list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let map = format!("/data1/mry={}", d.path().display());
    let o = tsal(&["lists", "check", "--path_map", &map, list.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn doctor_reports_libtorch() {
    let o = tsal(&["doctor", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["libtorch_version"], "2.11.0");
    assert!(f["cpu_threads"].as_i64().unwrap() >= 1);
    let cuda = f["cuda_available"].as_bool().unwrap();
    assert_eq!(cuda, f["cuda_device_count"].as_i64().unwrap() > 0);
}

#[test]
fn inspect_reports_modules_shapes_and_weights() {
    let o = tsal(&["inspect", "configs/Detector.config", "--json", "--size", "64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["total_params"], 49_383_320);
    let m = r["modules"].as_array().unwrap();
    let find = |n: &str| m.iter().find(|x| x["module"] == n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(find("features")["params"], 7_635_264);
    assert_eq!(find("stages.2")["output"], serde_json::json!([1, 69, 8, 8]));
    assert_eq!(find("layer4_forhm")["output"], serde_json::json!([1, 2048, 2, 2]));
    assert_eq!(find("hmhp_offset")["output"], serde_json::json!([1, 136, 8, 8]));
    let o = tsal(&["inspect", "configs/MFDS.json", "--json", "--size", "64"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["total_params"], 2_236_660);
    // A weight file's tensors.
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("w.safetensors");
    let t = tch::Tensor::zeros([3, 4], (tch::Kind::Float, tch::Device::Cpu));
    tch::Tensor::write_safetensors(&[("a.weight", &t)], &f).unwrap();
    let o = tsal(&["inspect", "--weights", f.to_str().unwrap(), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["tensors"][0]["name"], "a.weight");
    assert_eq!(r["tensors"][0]["shape"], serde_json::json!([3, 4]));
    assert_eq!(r["total"], 12);
    // Bad inputs: one clear line each.
    std::fs::write(d.path().join("bad.pth"), b"nope").unwrap();
    let typo = d.path().join("typo.config");
    let text = std::fs::read_to_string("configs/Detector.config").unwrap();
    std::fs::write(&typo, text.replace("\"argmax\"", "\"argmaxx\"")).unwrap();
    for (args, needle) in [
        (vec!["inspect", typo.to_str().unwrap()], "unknown key `argmaxx`: did you mean `argmax`?"),
        // Absurd sizes are refused before any allocation (they overflowed and panicked).
        (vec!["inspect", "configs/Detector.config", "--size", "65536"], "--size 65536"),
        (vec!["inspect", "configs/MFDS.json", "--size", "96"], "--size 96: the tracker"),
        (
            vec!["inspect", "--weights", d.path().join("bad.pth").to_str().unwrap()],
            "not a weight file",
        ),
        (vec!["inspect", "configs/Detector.config", "--size", "100"], "--size 100"),
        (vec!["inspect", "configs/none.config"], "configs/none.config"),
    ] {
        let o = tsal(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn bench_model_reports_consistent_rates() {
    let o = tsal(&[
        "bench",
        "model",
        "--model_config",
        "configs/tiny/Detector.config",
        "--batch_size",
        "2",
        "--size",
        "64",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--cpu",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let names: Vec<String> = rows
        .iter()
        .map(|x| format!("{} {}", x["model"].as_str().unwrap(), x["pass"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            "detector forward",
            "detector fwd+bwd",
            "tracker forward",
            "tracker fwd+bwd",
            "correlation forward"
        ]
    );
    for x in rows {
        let ms = x["ms_per_iter"].as_f64().unwrap();
        assert!(ms > 0.0);
        let ips = x["images_per_s"].as_f64().unwrap();
        assert!((ips - 2.0 * 1000.0 / ms).abs() / ips < 1e-9);
    }
    let g = |i: usize| rows[i]["gflop_per_image"].as_f64().unwrap();
    assert!((g(1) - 3.0 * g(0)).abs() < 1e-9 && (g(3) - 3.0 * g(2)).abs() < 1e-9);
    // Correlation at 64×64 input: 81 · 32 · 16 · 16 MACs = 2 · that FLOPs.
    assert!((g(4) - 2.0 * 81.0 * 32.0 * 256.0 / 1e9).abs() < 1e-12);
}

#[test]
fn bench_data_reports_throughput_cache_and_a_debug_png() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let data_s = data.to_str().unwrap();
    synth(Path::new(data_s), &["--images", "4", "--videos", "2", "--frames", "10", "--no-avi"]);
    let l300w = data.join("lists/300W/300w.train.GTB");
    let l300vw = data.join("lists/300VW/300VW.train.lst.none");
    let png = d.path().join("clip.png");
    let o = tsal(&[
        "bench",
        "data",
        "--lists",
        l300w.to_str().unwrap(),
        l300vw.to_str().unwrap(),
        "--size",
        "64",
        "--frames",
        "4",
        "--batches",
        "3",
        "--workers",
        "2",
        "--cache_images",
        "--breakdown",
        "--json",
        "--debug_png",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // 4 still images (one clip each) and the train video's 10 frames (clips 0-3, 4-7, 6-9).
    assert_eq!(r["view_clips"], 4);
    assert!(r["video_clips"].as_u64().unwrap() >= 3, "{r}");
    // 3 batches of 2 clips of 4 frames.
    assert_eq!(r["samples"], 24);
    let (n, s) = (r["samples"].as_f64().unwrap(), r["seconds"].as_f64().unwrap());
    assert!((r["samples_per_s"].as_f64().unwrap() - n / s).abs() < 1e-6 * n / s);
    let c = &r["cache"];
    assert!(c["frames"].as_u64().unwrap() >= 4 + 10 && c["bytes"].as_u64().unwrap() > 0, "{c}");
    let b = r["breakdown"].as_array().unwrap();
    assert_eq!((b[0]["images"].as_str(), b[1]["images"].as_str()), (Some("disk"), Some("cache")));
    assert!(b[0]["read_ms"].as_f64().unwrap() > b[1]["read_ms"].as_f64().unwrap());
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 64, 64), "4 frames side by side");
}

#[test]
fn eval_scores_predictions_and_writes_the_reports() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "12", "--only", "300w"]);
    let common = data.join("lists/300W/300w.test.common.GTB");
    let challenge = data.join("lists/300W/300w.test.challenge.GTB");
    let n_common = std::fs::read_to_string(&common).unwrap().lines().count();
    // The annotation folder itself is refused: it would score the ground truth against itself.
    let truth = data.join("300W");
    let mut args = vec!["eval", "--lists", common.to_str().unwrap(), "--predictions"];
    args.push(truth.to_str().unwrap());
    let o = tsal(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is the annotation of") && stderr(&o).contains("itself"));
    assert!(!d.path().join("data/300W-eval").exists(), "nothing written");
    // A copy of the annotations, as another method's output mirrored under the images'
    // common folder (300W/): every error is 0, and the report warns about it.
    let copy = d.path().join("copy");
    for e in std::fs::read_dir(&truth).unwrap() {
        let sub = e.unwrap().path();
        for f in walk(&sub).into_iter().filter(|f| f.extension().is_some_and(|x| x == "pts")) {
            let to = copy.join(f.strip_prefix(&truth).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
        }
    }
    let out = d.path().join("report");
    let o = tsal(&[
        "eval",
        "--lists",
        common.to_str().unwrap(),
        "--eval_ilists",
        challenge.to_str().unwrap(),
        "--predictions",
        copy.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--name",
        "Copied truth",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("every prediction equals its annotation exactly"));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains("inter-ocular (outer eye corners 36/45)"), "{table}");
    assert!(table.starts_with("# Evaluation of Copied truth\n"), "{table}");
    assert!(table.contains("Warning: every prediction equals its annotation"), "{table}");
    assert!(table.contains("Coordinates: predictions taken in the annotations' own convention"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(md, table, "the console prints the Markdown report");
    let row = md.lines().find(|l| l.starts_with("| 300w.test.common.GTB")).unwrap();
    assert_eq!(
        row,
        format!(
            "| 300w.test.common.GTB | {n_common} | 0 | 0.000 | 0.000 | 100.00 | 0.00 | 100.00 | \
             0.00 | – | 0 |"
        )
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["meta"]["normaliser"], "inter-ocular");
    assert_eq!(json["lists"].as_array().unwrap().len(), 2);
    let ced = image::open(out.join("ced.png")).unwrap();
    assert_eq!((ced.width(), ced.height()), (900, 600));
    let csv = std::fs::read_to_string(out.join("per_image.csv")).unwrap();
    let n_challenge = std::fs::read_to_string(&challenge).unwrap().lines().count();
    assert_eq!(csv.lines().count(), 1 + n_common + n_challenge);
    // Each row names the prediction file it was scored from.
    let first = csv.lines().nth(1).unwrap();
    assert!(first.ends_with(".pts") && first.contains("/copy/"), "{first}");
    // A prediction source that does not exist is one clear line.
    let o = tsal(&[
        "eval",
        "--lists",
        common.to_str().unwrap(),
        "--predictions",
        d.path().join("nope.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope.json"), "{}", stderr(&o));
    // Test-time augmentation needs a detector: with --predictions it is one clear line.
    let o = tsal(&[
        "eval",
        "--lists",
        common.to_str().unwrap(),
        "--predictions",
        copy.to_str().unwrap(),
        "--tta",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--tta 4") && stderr(&o).contains("--model"), "{}", stderr(&o));
}

#[test]
fn eval_with_a_fresh_snapshot_reports_and_its_predictions_score_the_same_externally() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "12", "--videos", "2", "--frames", "6", "--no-avi"]);
    let snap = d.path().join("snap");
    let o = tsal(&[
        "snapshot",
        "init",
        "--out",
        snap.to_str().unwrap(),
        "--model_config",
        "configs/tiny/Detector.config",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A missing snapshot is one clear error.
    let o = tsal(&["eval", "--model", "nope", "--lists", "x.lst"]);
    assert_eq!(o.status.code(), Some(1));
    let common = data.join("lists/300W/300w.test.common.GTB");
    let video = data.join("lists/300VW/300VW.test-1.lst");
    let lists = [common.to_str().unwrap(), video.to_str().unwrap()];
    let crop = ["--crop_width", "64", "--crop_height", "64", "--cpu"];
    let mut args = vec!["eval", "--model", snap.to_str().unwrap(), "--which", "both", "--lists"];
    args.extend(lists);
    args.extend(crop);
    let o = tsal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(stdout.contains("teacher detector:") && stdout.contains("frames/s"), "{stdout}");
    let out = d.path().join("snap-eval");
    for role in ["teacher", "student"] {
        for f in ["report.md", "report.json", "per_image.csv", "ced.png"] {
            assert!(out.join(role).join(f).is_file(), "{role}/{f}");
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("teacher/report.json")).unwrap()).unwrap();
    let frames = json["meta"]["frames"].as_u64().unwrap();
    let n_lines: usize =
        lists.iter().map(|l| std::fs::read_to_string(l).unwrap().lines().count()).sum();
    assert_eq!(frames as usize, n_lines);
    assert_eq!(json["meta"]["role"], "teacher");
    // Scoring the written predictions as another method's gives the same table.
    let scored = d.path().join("again");
    let mut args = vec!["eval", "--predictions"];
    let pred = out.join("teacher/predictions");
    args.push(pred.to_str().unwrap());
    args.push("--lists");
    args.extend(lists);
    args.extend(["--out", scored.to_str().unwrap()]);
    let o = tsal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("| 300"))
            .map(String::from)
            .collect()
    };
    let (a, b) = (rows(&out.join("teacher/report.md")), rows(&scored.join("report.md")));
    assert!(a.len() >= 3, "{a:?}");
    assert_eq!(a, b);
    // The reference's spelling: train --eval_once --load_test_model evaluates the teacher.
    let save = d.path().join("run");
    let mut args = vec![
        "train",
        "--eval_once",
        "--load_test_model",
        snap.to_str().unwrap(),
        "--save_path",
        save.to_str().unwrap(),
        "--crop_width",
        "64",
        "--crop_height",
        "64",
        "--eval_ilists",
    ];
    args.extend(lists);
    let o = tsal(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&save.join("eval-once/report.md")), a);
}

#[test]
fn lists_300w_rebuilds_the_synthetic_lists_exactly() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "12", "--only", "300w"]);
    let root = data.join("300W");
    let lists_300w = |out: &Path, extra: &[&str]| {
        let mut args = vec!["lists", "300w", "--root", root.to_str().unwrap(), "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        tsal(&args)
    };
    // Lists written at the same depth as synth's have byte-identical lines.
    let again = data.join("again/300W");
    let o = lists_300w(&again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // GTB from the landmarks, DET from synth's Bounding_Boxes/*.mat.
    for name in ["train", "test.common", "test.challenge", "test.full"] {
        for boxes in ["GTB", "DET"] {
            let f = format!("300w.{name}.{boxes}");
            let want = std::fs::read_to_string(data.join("lists/300W").join(&f)).unwrap();
            assert_eq!(std::fs::read_to_string(again.join(&f)).unwrap(), want, "{f}");
        }
    }
    let det = std::fs::read_to_string(again.join("300w.test.full.DET")).unwrap();
    let gtb = std::fs::read_to_string(again.join("300w.test.full.GTB")).unwrap();
    assert_eq!(det.lines().count(), gtb.lines().count());
    assert_ne!(det, gtb, "detector boxes are not the landmark boxes");
    // --repeat 10: the reference's layout, every line ten times in a row.
    let rep = data.join("rep/300W");
    let o = lists_300w(&rep, &["--repeat", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let one = std::fs::read_to_string(again.join("300w.test.full.GTB")).unwrap();
    let ten = std::fs::read_to_string(rep.join("300w.test.full.GTB")).unwrap();
    let ten: Vec<&str> = ten.lines().collect();
    assert_eq!(ten.len(), 10 * one.lines().count());
    assert!(ten.chunks(10).zip(one.lines()).all(|(c, l)| c.iter().all(|x| *x == l)));
    // Without Bounding_Boxes only GTB lists are written, and the output says so.
    let bb = data.join("300W/Bounding_Boxes");
    std::fs::rename(&bb, data.join("bb-aside")).unwrap();
    let gtb_only = data.join("gtb/300W");
    let o = lists_300w(&gtb_only, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("DET lists not written"));
    assert!(!gtb_only.join("300w.train.DET").exists());
    std::fs::rename(data.join("bb-aside"), &bb).unwrap();
    // A tree without ibug/ is one clear error naming the folder.
    std::fs::remove_dir_all(data.join("300W/ibug")).unwrap();
    let o = lists_300w(&rep, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ibug"), "{}", stderr(&o));
}

#[test]
fn lists_300vw_extracts_missing_frames_and_rebuilds_the_synthetic_lists() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--only", "300vw", "--videos", "5", "--frames", "16"]);
    let root = data.join("300VW");
    // Video 410 (test-3) keeps only its vid.avi: the frames come back through ffmpeg.
    std::fs::remove_dir_all(root.join("410/extraction")).unwrap();
    // A folder outside the protocol is left out and named.
    std::fs::create_dir_all(root.join("999/annot")).unwrap();
    let again = data.join("again/300VW");
    let o = tsal(&[
        "lists",
        "300vw",
        "--root",
        root.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("999"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(std::fs::read_dir(root.join("410/extraction")).unwrap().count(), 16);
    let mut names: Vec<String> = std::fs::read_dir(data.join("lists/300VW"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert!(names.contains(&"300VW.test-3.lst410".to_string()), "{names:?}");
    for name in &names {
        let want = std::fs::read_to_string(data.join("lists/300VW").join(name)).unwrap();
        let got = std::fs::read_to_string(again.join(name)).unwrap();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(std::fs::read_dir(&again).unwrap().count(), names.len());
    // An annotation without its frame is an error naming the video.
    std::fs::remove_file(root.join("114/extraction/000007.png")).unwrap();
    let o = tsal(&[
        "lists",
        "300vw",
        "--root",
        root.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("114") && e.contains("15 frames") && e.contains("16 annotations"), "{e}");
}

/// `tsal eval` as a new user gets it wrong: each mistake is one clear line and exit 1, found
/// before any prediction, and nothing is left in `--out`.
#[test]
fn eval_fails_early_and_clearly_and_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "40", "--only", "300w"]);
    let common = data.join("lists/300W/300w.test.common.GTB");
    let snap = d.path().join("snap");
    let o = tsal(&[
        "snapshot",
        "init",
        "--out",
        snap.to_str().unwrap(),
        "--model_config",
        "configs/tiny/Detector.config",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.path().join("out");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let model = |list: &Path, extra: &[&str]| -> Output {
        let mut args = vec!["eval".to_string(), "--model".into(), s(&snap), "--lists".into()];
        args.extend([s(list), "--out".into(), s(&out), "--cpu".into()]);
        if !extra.contains(&"--crop_width") {
            args.extend(["--crop_width", "64", "--crop_height", "64"].map(String::from));
        }
        args.extend(extra.iter().map(|x| x.to_string()));
        tsal(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let refused = |o: &Output, needle: &str| {
        let e = stderr(o);
        assert_eq!(o.status.code(), Some(1), "{needle}: {e}");
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
        assert!(!out.exists(), "{needle}: nothing may be left in --out");
    };
    // A 67-point annotation in the middle of the list: named with its list line, before the
    // detector runs (no predictions folder, no out folder).
    let lines: Vec<String> =
        std::fs::read_to_string(&common).unwrap().lines().map(String::from).collect();
    let ann = lines[2].split_whitespace().nth(1).unwrap().to_string();
    let short = d.path().join("short.pts");
    let text = std::fs::read_to_string(common.parent().unwrap().join(&ann)).unwrap();
    let mut kept: Vec<&str> = text.lines().collect();
    kept.remove(5);
    std::fs::write(&short, kept.join("\n").replace("n_points: 68", "n_points: 67")).unwrap();
    let mut bad = lines.clone();
    bad[2] = bad[2].replace(&ann, &s(&short));
    let bad_list = common.with_file_name("bad.lst");
    std::fs::write(&bad_list, bad.join("\n")).unwrap();
    refused(&model(&bad_list, &[]), "bad.lst:3: ");
    refused(&model(&bad_list, &[]), "has 67 points, expected 68");
    // Lists with nothing to score.
    let none = d.path().join("none.lst");
    std::fs::write(&none, "a.png None 1 1 9 9\nb.png None 1 1 9 9\n").unwrap();
    refused(&model(&none, &[]), "all 2 lines are unlabelled");
    let empty = d.path().join("empty.lst");
    std::fs::write(&empty, "").unwrap();
    refused(&model(&empty, &[]), "the list has no lines");
    // A missing image is found before predicting.
    let mut gone = lines.clone();
    gone[1] = gone[1].replacen(".", "-gone.", 1);
    let gone_list = common.with_file_name("gone.lst");
    std::fs::write(&gone_list, gone.join("\n")).unwrap();
    refused(&model(&gone_list, &[]), "gone.lst:2: image");
    // Settings out of bounds.
    refused(&model(&common, &["--pre_crop_expand", "nan"]), "--pre_crop_expand NaN");
    refused(&model(&common, &["--pre_crop_expand=-1"]), "--pre_crop_expand -1");
    let huge = ["--crop_width", "65536", "--crop_height", "65536"];
    refused(&model(&common, &huge), "--crop_width 65536");
    refused(&model(&common, &["--batch_size", "0"]), "--batch_size 0");
    // Predictions that match nothing: how many were read, a few keys on both sides.
    let by_stem: serde_json::Map<String, serde_json::Value> = lines
        .iter()
        .map(|l| {
            let img = Path::new(l.split_whitespace().next().unwrap());
            (img.file_stem().unwrap().to_string_lossy().into(), serde_json::json!([[1, 2]]))
        })
        .collect();
    let stems = d.path().join("stems.json");
    std::fs::write(&stems, serde_json::to_string(&by_stem).unwrap()).unwrap();
    let predicted = |src: &Path, extra: &[&str]| -> Output {
        let mut args = vec!["eval".to_string(), "--predictions".into(), s(src), "--lists".into()];
        args.extend([s(&common), "--out".into(), s(&out)]);
        args.extend(extra.iter().map(|x| x.to_string()));
        tsal(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = predicted(&stems, &[]);
    refused(&o, &format!("read {} predictions (e.g. ", by_stem.len()));
    refused(&o, "looked for ");
    std::fs::write(d.path().join("empty.json"), "{}").unwrap();
    refused(&predicted(&d.path().join("empty.json"), &[]), "read 0 predictions (none)");
    let folder = d.path().join("nothing");
    std::fs::create_dir(&folder).unwrap();
    refused(&predicted(&folder, &[]), "read 0 predictions (none)");
    // Points in 0-based pixels (the annotations are 1-based): --prediction_origin 0 shifts
    // them back, so the copy scores exactly 0; without it every point is 1.41 px off.
    let truth: serde_json::Map<String, serde_json::Value> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let gt = tsal::formats::pts::read(&common.parent().unwrap().join(f[1]), None).unwrap();
            let img = common.parent().unwrap().join(f[0]);
            let key = img.components().rev().take(3).collect::<Vec<_>>();
            let key: std::path::PathBuf = key.into_iter().rev().collect();
            let zero: Vec<[f64; 2]> = gt.xy.iter().map(|p| [p[0] - 1.0, p[1] - 1.0]).collect();
            (key.display().to_string(), serde_json::json!(zero))
        })
        .collect();
    let zero = d.path().join("zero.json");
    std::fs::write(&zero, serde_json::to_string(&truth).unwrap()).unwrap();
    let o = predicted(&zero, &["--prediction_origin", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains("shifted by +1 px (--prediction_origin 0)"), "{table}");
    let row =
        |t: &str| t.lines().find(|l| l.starts_with("| 300w.test.common")).unwrap().to_string();
    assert!(row(&table).contains("| 0 | 0.000 | 0.000 |"), "{}", row(&table));
    std::fs::remove_dir_all(&out).unwrap();
    let o = predicted(&zero, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let nme: f64 =
        row(&String::from_utf8_lossy(&o.stdout)).split('|').nth(4).unwrap().trim().parse().unwrap();
    assert!(nme > 0.5, "a 1 px shift shows: {nme}");
    // Re-using --out replaces the earlier run; with --missing fail, faces without a prediction
    // count as failures, and the report says how many were missing.
    let mut half = truth.clone();
    let drop: Vec<String> = half.keys().take(2).cloned().collect();
    for k in &drop {
        half.remove(k);
    }
    std::fs::write(&zero, serde_json::to_string(&half).unwrap()).unwrap();
    std::fs::write(out.join("stale.txt"), "from before").unwrap();
    let o = predicted(&zero, &["--prediction_origin", "0", "--missing", "fail"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    let cells: Vec<String> = row(&table).split('|').map(|c| c.trim().to_string()).collect();
    let n = lines.len();
    assert_eq!(cells[2], n.to_string(), "every face counts");
    let fr: f64 = cells[7].parse().unwrap();
    assert!((fr - 100.0 * 2.0 / n as f64).abs() < 0.01, "FR@0.08 {fr} = the 2 missing of {n}");
    assert!(table.contains("2 faces without a usable prediction (counted as failures"), "{table}");
    assert!(!out.join("stale.txt").exists(), "the earlier run's files are gone");
    // A folder tsal did not write is never replaced.
    let mine = d.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "precious").unwrap();
    let mut args = vec!["eval", "--predictions", zero.to_str().unwrap(), "--lists"];
    args.extend([common.to_str().unwrap(), "--out", mine.to_str().unwrap()]);
    let o = tsal(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(mine.join("thesis.tex")).unwrap(), "precious");
}

/// A dataset under a folder whose name has a space: lists written inside it hold relative
/// paths without the space and pass `lists check`; lists whose paths would need the space are
/// refused with the path named, and no list is written.
#[test]
fn lists_refuse_paths_with_white_space_and_check_accepts_what_they_write() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("dir with space/data");
    synth(&data, &["--images", "12", "--only", "300w"]);
    let root = data.join("300W");
    let inside = data.join("lists2");
    let o = tsal(&[
        "lists",
        "300w",
        "--root",
        root.to_str().unwrap(),
        "--out",
        inside.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let gtb: Vec<String> = std::fs::read_dir(&inside)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".GTB"))
        .collect();
    assert_eq!(gtb.len(), 4, "{gtb:?}");
    let mut args = vec!["lists", "check"];
    args.extend(gtb.iter().map(String::as_str));
    let o = tsal(&args);
    assert!(o.status.success(), "{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    let outside = d.path().join("lists-out");
    let o = tsal(&[
        "lists",
        "300w",
        "--root",
        root.to_str().unwrap(),
        "--out",
        outside.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("dir with space/data/300W/") && e.contains("white space"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    let written = std::fs::read_dir(&outside).map(|r| r.count()).unwrap_or(0);
    assert_eq!(written, 0, "no list written");
}
