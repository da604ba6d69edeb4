//! The typed-JSON loader on the shipped reference configs, a malformed file and wrong types.
use std::path::Path;
use tsal::config::optim::{OptimizerKind, Reduction};
use tsal::config::{ModelConfig, OptConfig, TrackerConfig, TypedConfig, Value};

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn detector_config_loads_reference_values() {
    let raw = TypedConfig::load(&root("configs/Detector.config")).unwrap();
    // "stages": ["int", "3"] — a string converted by int(), as the reference loader does.
    assert_eq!(raw.values["stages"], Value::Int(3));
    assert_eq!(raw.values["pooling"], Value::List(vec![Value::Bool(true); 3]));
    let m = ModelConfig::load(&root("configs/Detector.config")).unwrap();
    assert_eq!(m.arch, "cpm_vgg16");
    assert_eq!((m.stages, m.downsample, m.argmax), (3, 8, 4));
    assert_eq!(m.dilation, vec![1]);
    assert!(m.pretrained, "[\"bool\", [1]] is truthy in the reference");
}

#[test]
fn sgd_and_adam_configs_load_reference_values() {
    let s = OptConfig::load(&root("configs/SGD.config")).unwrap();
    assert_eq!(s.optimizer, OptimizerKind::Sgd);
    assert_eq!(s.lr, 5e-5);
    assert_eq!((s.momentum, s.decay, s.gamma), (0.9, 5e-4, 0.5));
    assert!(s.nesterov && s.lossnorm);
    assert_eq!(s.criterion, Reduction::Sum);
    assert_eq!(s.epochs, 150);
    assert_eq!(s.schedule, vec![90, 110, 130]);
    let a = OptConfig::load(&root("configs/optimizer.config")).unwrap();
    assert_eq!(a.optimizer, OptimizerKind::Adam);
    assert_eq!(a.lr, 5e-5);
}

#[test]
fn tracker_config_loads_arflow_sintel_values() {
    let t = TrackerConfig::load(&root("configs/MFDS.json")).unwrap();
    assert!(t.model.upsample && t.model.reduce_dense);
    assert_eq!(t.model.n_frames, 2);
    assert_eq!(t.loss.w_scales, vec![1.0, 1.0, 1.0, 1.0, 0.0]);
    assert_eq!(t.loss.w_sm_scales, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!((t.loss.w_ternary, t.loss.w_smooth, t.loss.alpha), (1.0, 50.0, 10.0));
    assert_eq!((t.loss.w_l1, t.loss.w_ssim), (0.0, 0.0));
    assert_eq!(t.loss.warp_pad, "border");
    assert!(t.loss.with_bk && !t.loss.occ_from_back && !t.loss.smooth_2nd);
}

fn err_of<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn malformed_file_names_file_and_position() {
    let e = err_of(TypedConfig::parse(
        "{\n  \"arch\": [\"str\", \"cpm_vgg16\"\n",
        Path::new("bad.config"),
    ));
    assert!(e.starts_with("bad.config:"), "{e}");
    assert!(e.contains("not valid JSON"), "{e}");
    let e = err_of(TypedConfig::parse("{\"arch\": \"cpm_vgg16\"}", Path::new("bad.config")));
    assert!(e.contains("bad.config") && e.contains("`arch`") && e.contains("[type, value]"), "{e}");
    let e = err_of(TypedConfig::parse("[1, 2]", Path::new("x.config")));
    assert!(e.contains("x.config") && e.contains("JSON object"), "{e}");
}

#[test]
fn wrong_type_names_file_and_key() {
    // A value that does not convert to its declared type.
    let e = err_of(TypedConfig::parse("{\"LR\": [\"float\", \"fast\"]}", Path::new("opt.config")));
    assert!(e.contains("opt.config") && e.contains("`LR`") && e.contains("float"), "{e}");
    // An unknown type name.
    let e = err_of(TypedConfig::parse("{\"LR\": [\"double\", 1.0]}", Path::new("opt.config")));
    assert!(e.contains("`LR`") && e.contains("unknown type `double`"), "{e}");
    // A well-formed value of the wrong type for what the key means.
    let c = TypedConfig::parse(
        "{\"arch\": [\"int\", 3], \"stages\": [\"int\", 3]}",
        Path::new("det.config"),
    )
    .unwrap();
    let e = err_of(ModelConfig::from_typed(&c));
    assert!(e.contains("det.config") && e.contains("`arch`") && e.contains("expected str"), "{e}");
    // An int list where a scalar is meant.
    let c = TypedConfig::parse(
        "{\"optimizer\": [\"str\", \"SGD\"], \"LR\": [\"float\", 0.1], \"epochs\": [\"int\", [1, 2]]}",
        Path::new("o.config"),
    )
    .unwrap();
    let e = err_of(OptConfig::from_typed(&c));
    assert!(e.contains("o.config") && e.contains("`epochs`") && e.contains("expected int"), "{e}");
    // A missing key.
    let c =
        TypedConfig::parse("{\"optimizer\": [\"str\", \"SGD\"]}", Path::new("o.config")).unwrap();
    let e = err_of(OptConfig::from_typed(&c));
    assert!(e.contains("o.config") && e.contains("missing key `LR`"), "{e}");
}

#[test]
fn value_conversions_follow_python() {
    let c = TypedConfig::parse(
        r#"{"a": ["bool", "0"], "b": ["bool", 2], "c": ["int", "-7"], "d": ["float", 3],
            "e": ["str", 5], "f": ["bool", []], "g": ["float", ["0.5", 1]]}"#,
        Path::new("v.config"),
    )
    .unwrap();
    assert!(!c.bool("a").unwrap());
    assert!(c.bool("b").unwrap());
    assert_eq!(c.int("c").unwrap(), -7);
    assert_eq!(c.float("d").unwrap(), 3.0);
    assert_eq!(c.str("e").unwrap(), "5");
    assert!(!c.bool("f").unwrap(), "an empty list is falsy");
    assert_eq!(c.values["g"], Value::List(vec![Value::Float(0.5), Value::Float(1.0)]));
    assert!(c.int("d").is_err(), "a float is not an int");
}

#[test]
fn tracker_config_errors_name_file() {
    let e = err_of(TrackerConfig::parse("{\"model\": {}}", Path::new("mfds.json")));
    assert!(e.starts_with("mfds.json:"), "{e}");
    let text = std::fs::read_to_string(root("configs/MFDS.json"))
        .unwrap()
        .replace("\"border\"", "\"mirror\"");
    let e = err_of(TrackerConfig::parse(&text, Path::new("mfds.json")));
    assert!(e.contains("mfds.json") && e.contains("loss.warp_pad"), "{e}");
}

#[test]
fn unknown_keys_are_errors_with_the_closest_known_key() {
    // A misspelt key in a model config: named, with its file and the key meant.
    let text = std::fs::read_to_string(root("configs/Detector.config"))
        .unwrap()
        .replace("\"argmax\"", "\"argmaxx\"");
    let c = TypedConfig::parse(&text, Path::new("det.config")).unwrap();
    let e = err_of(ModelConfig::from_typed(&c));
    assert_eq!(e, "det.config: unknown key `argmaxx`: did you mean `argmax`?");
    // Case slips are found too; a key like nothing known lists the known keys.
    let text = std::fs::read_to_string(root("configs/SGD.config")).unwrap();
    let c =
        TypedConfig::parse(&text.replace("\"Decay\"", "\"decay\""), Path::new("o.config")).unwrap();
    assert!(err_of(OptConfig::from_typed(&c)).contains("`decay`: did you mean `Decay`?"));
    let c = TypedConfig::parse(&text.replace("\"gamma\"", "\"warmup\""), Path::new("o.config"))
        .unwrap();
    let e = err_of(OptConfig::from_typed(&c));
    assert!(e.contains("unknown key `warmup`: known keys: optimizer, LR"), "{e}");
    // Tracker configs: nested sections are checked with their path.
    let text = std::fs::read_to_string(root("configs/MFDS.json")).unwrap();
    let e = err_of(TrackerConfig::parse(
        &text.replace("\"w_smooth\"", "\"w_smoth\""),
        Path::new("mfds.json"),
    ));
    assert_eq!(e, "mfds.json: unknown key `loss.w_smoth`: did you mean `w_smooth`?");
    let e = err_of(TrackerConfig::parse(
        &text.replace("\"upsample\"", "\"upsampel\""),
        Path::new("mfds.json"),
    ));
    assert!(e.contains("`model.upsampel`: did you mean `upsample`?"), "{e}");
    // Every shipped config, the reference's unused keys included, still loads.
    for f in ["configs/Detector.config", "configs/tiny/Detector.config"] {
        ModelConfig::load(&root(f)).unwrap();
    }
    for f in ["configs/SGD.config", "configs/optimizer.config"] {
        OptConfig::load(&root(f)).unwrap();
    }
    for f in ["configs/MFDS.json", "configs/tiny/MFDS.json"] {
        TrackerConfig::load(&root(f)).unwrap();
    }
}

/// `tsal train` flags reach the loader: augmentation, σ × scale_eval, target shape and cut-off,
/// cache budget, skipping, and the resolved seed.
#[test]
fn train_flags_make_the_loader_config() {
    use clap::Parser;
    use tsal::cli::{Cli, Command};
    let cli = Cli::try_parse_from([
        "tsal",
        "train",
        "--train_lists",
        "a",
        "--save_path",
        "s",
        "--rand_seed",
        "5",
        "--sigma",
        "5",
        "--scale_min",
        "1.0",
        "--scale_max",
        "1.4",
        "--scale_eval",
        "1.2",
        "--heatmap_type",
        "laplacian",
        "--heatmap_cutoff",
        "0",
        "--rotate_max",
        "15",
        "--crop_perturb_max",
        "12",
        "--crop_width",
        "128",
        "--crop_height",
        "64",
        "--batch_size",
        "3",
        "--workers",
        "2",
        "--cache_images",
        "--cache_mb",
        "16",
        "--skip_bad",
        "--num_pts",
        "19",
    ])
    .unwrap();
    let Command::Train(args) = cli.command else { panic!("not train") };
    let run = args.resolve().unwrap();
    // The resolved configuration survives JSON (what config.json will hold) unchanged.
    let back: tsal::config::RunConfig =
        serde_json::from_str(&serde_json::to_string_pretty(&run).unwrap()).unwrap();
    assert_eq!(back, run);
    let l = run.loader_config();
    assert_eq!((l.seed, l.workers, l.clips_per_batch), (5, 2, 3));
    assert!((l.targets.sigma - 6.0).abs() < 1e-12, "σ = 5 × 1.2");
    assert_eq!(l.targets.shape, tsal::codec::heatmap::Shape::Laplacian);
    assert_eq!((l.targets.cutoff, l.targets.num_pts), (0.0, 19));
    assert_eq!((l.aug.crop.width, l.aug.crop.height), (128, 64));
    assert_eq!((l.aug.rotate_max, l.aug.crop_perturb_max), (15.0, 12.0));
    assert_eq!((l.aug.scale_min, l.aug.scale_max), (1.0, 1.4));
    assert_eq!((l.cache_bytes, l.skip_bad), (Some(16 << 20), true));
    // Defaults: the reference's cut-off, no cache, no skipping.
    let cli =
        Cli::try_parse_from(["tsal", "train", "--train_lists", "a", "--save_path", "s"]).unwrap();
    let Command::Train(args) = cli.command else { panic!("not train") };
    let l = args.resolve().unwrap().loader_config();
    assert_eq!(l.targets.cutoff, tsal::codec::heatmap::REFERENCE_CUTOFF);
    assert_eq!((l.cache_bytes, l.skip_bad, args.clip_frames), (None, false, 10));
}
