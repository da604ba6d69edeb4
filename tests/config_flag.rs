//! `tsal train --config FILE`: a saved run configuration read back is the same configuration,
//! and every flag given beside it overrides it exactly as the flag alone would have set it.
mod common;
use common::{root, s, stderr, tsal, TINY};
use tsal::cli::{parse_from, Command};
use tsal::config::run::RunConfig;

/// `tsal train ARGS` resolved in this process (as the binary would, run from the repository
/// root): the configuration, or the error's text.
fn resolve(args: &[&str]) -> Result<RunConfig, String> {
    std::env::set_current_dir(root()).unwrap();
    let cli = parse_from(["tsal", "train"].iter().chain(args)).map_err(|e| e.to_string())?;
    let Command::Train(a) = cli.command else { panic!("not train") };
    a.resolve().map_err(|e| format!("{e:#}"))
}

fn base() -> Vec<&'static str> {
    let mut v = TINY.to_vec();
    v.extend([
        "--train_lists",
        "lists/a.lst",
        "--save_path",
        "/tmp/tsal-config-test",
        "--rand_seed",
        "5",
    ]);
    v
}

/// `args` without the flags `drop` and their values.
fn without<'a>(args: &[&'a str], drop: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut skipping = false;
    for a in args {
        if a.starts_with("--") {
            skipping = drop.contains(a);
        }
        if !skipping {
            out.push(*a);
        }
    }
    out
}

/// One value for every flag that is a setting of a run, so each is tried (a flag added to
/// `tsal train` without a case here fails `every_setting_flag_is_covered`).
const CASES: &[(&str, &[&str])] = &[
    ("train_lists", &["--train_lists", "lists/b.lst", "lists/c.lst"]),
    ("shadow_lists", &["--shadow_lists", "lists/s.lst"]),
    ("eval_ilists", &["--eval_ilists", "lists/e.lst"]),
    ("eval_vlists", &["--eval_vlists", "lists/v.lst"]),
    ("path_map", &["--path_map", "/data1=/data"]),
    ("num_pts", &["--num_pts", "19"]),
    ("data_indicator", &["--data_indicator", "AFLW"]),
    ("clip_frames", &["--clip_frames", "4"]),
    ("clip_stride", &["--clip_stride", "3"]),
    ("batch_size", &["--batch_size", "3"]),
    ("workers", &["--workers", "3"]),
    ("cache_images", &["--cache_images"]),
    ("cache_mb", &["--cache_images", "--cache_mb", "100"]),
    ("skip_bad", &["--skip_bad"]),
    ("pre_crop_expand", &["--pre_crop_expand", "0.3"]),
    ("crop_width", &["--crop_width", "128"]),
    ("crop_height", &["--crop_height", "128"]),
    ("scale_prob", &["--scale_prob", "0.5"]),
    ("scale_min", &["--scale_min", "0.8"]),
    ("scale_max", &["--scale_max", "1.2"]),
    ("scale_eval", &["--scale_eval", "1.1"]),
    ("rotate_max", &["--rotate_max", "10"]),
    ("crop_perturb_max", &["--crop_perturb_max", "5"]),
    ("video_draws", &["--video_draws", "anchored"]),
    ("sigma", &["--sigma", "3"]),
    ("heatmap_type", &["--heatmap_type", "laplacian"]),
    ("heatmap_cutoff", &["--heatmap_cutoff", "0"]),
    ("model_config", &["--model_config", "configs/small/Detector.config"]),
    ("opt_config", &["--opt_config", "configs/small/optimizer.config"]),
    ("tracker_config", &["--tracker_config", "configs/small/MFDS.json"]),
    ("pretrained", &["--pretrained", "weights/vgg16.pth"]),
    ("no_pretrained", &["--no_pretrained"]),
    ("save_path", &["--save_path", "/tmp/elsewhere"]),
    ("rand_seed", &["--rand_seed", "9"]),
    ("print_freq", &["--print_freq", "7"]),
    ("epochs", &["--epochs", "3"]),
    ("max_iters", &["--max_iters", "11"]),
    ("snapshot_every", &["--snapshot_every", "5"]),
    ("keep", &["--keep", "2"]),
    ("device", &["--device", "cpu"]),
    ("precision", &["--precision", "bf16"]),
    ("cpu", &["--cpu"]),
    ("supervised_only", &["--supervised_only"]),
    ("lambda", &["--lambda", "0.5"]),
    ("mu", &["--mu", "0.3"]),
    ("consistency", &["--consistency", "image"]),
    ("tracker_weights", &["--tracker_weights", "flowweight/a.safetensors"]),
    ("unsup_weight", &["--unsup_weight", "0.2"]),
    ("flow_supervision", &["--flow_supervision", "0.5"]),
    ("zero_flow", &["--zero_flow"]),
    ("pseudo_source", &["--pseudo_source", "teacher"]),
];

#[test]
fn print_config_read_back_by_config_is_the_same_configuration() {
    let d = tempfile::tempdir().unwrap();
    let saved = d.path().join("config.json");
    let cfg = resolve(&base()).unwrap();
    std::fs::write(&saved, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    assert_eq!(resolve(&["--config", s(&saved)]).unwrap(), cfg);
    // The binary: --print_config of --config prints the file it read.
    let printed = |args: &[&str]| {
        let o = tsal(&[&["train"], args, &["--print_config"]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let first = printed(&base());
    std::fs::write(&saved, &first).unwrap();
    assert_eq!(printed(&["--config", s(&saved)]), first);

    // Every setting flag beside --config sets what it sets without it (or fails the same way).
    for (id, flag) in CASES {
        // The flag alone: the base without its own value for it.
        let mut alone = without(&base(), &[flag[0]]);
        alone.extend(*flag);
        let over = [&["--config", s(&saved)], *flag].concat();
        let (want, got) = (resolve(&alone), resolve(&over));
        assert_eq!(got, want, "{id}: --config with {flag:?}");
        if let Ok(c) = &got {
            assert_ne!(c, &cfg, "{id}: {flag:?} changed nothing; choose a value that does");
        }
    }
}

#[test]
fn every_setting_flag_is_covered() {
    use clap::CommandFactory;
    let cmd = tsal::cli::Cli::command();
    let train = cmd.find_subcommand("train").unwrap();
    for arg in train.get_arguments() {
        let id = arg.get_id().as_str();
        let covered =
            CASES.iter().any(|(c, _)| *c == id) || tsal::cli::train::NOT_SETTINGS.contains(&id);
        assert!(covered, "--{id}: neither a case of this test nor in NOT_SETTINGS");
    }
}

#[test]
fn a_bad_config_file_is_one_line_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let saved = d.path().join("config.json");
    let cfg = resolve(&base()).unwrap();
    let mut v = serde_json::to_value(&cfg).unwrap();
    v["targets"]["sigmaa"] = serde_json::json!(3.0);
    std::fs::write(&saved, v.to_string()).unwrap();
    let e = resolve(&["--config", s(&saved)]).unwrap_err();
    assert!(e.contains("unknown key `targets.sigmaa`") && e.contains("--config"), "{e}");
    std::fs::write(&saved, "{\"data\": ").unwrap();
    let e = resolve(&["--config", s(&saved)]).unwrap_err();
    assert!(e.starts_with(&format!("--config {}: not JSON", saved.display())), "{e}");
    let e = resolve(&["--config", "/nonexistent/config.json"]).unwrap_err();
    assert!(e.starts_with("--config /nonexistent/config.json: cannot read"), "{e}");
}
