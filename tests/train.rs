//! `tsal train` on a tiny configuration (CPU, 64×64 crops, widths ÷8): the loss falls, a
//! killed run continues to the same weights, per-epoch evaluation equals `tsal eval` on the
//! snapshot, Ctrl-C and non-finite losses leave a usable snapshot, and a save path holding
//! another run is refused.
mod common;
use common::{command, dead_pid, s, stderr, stdout, synth, tsal, tsal_ok, TINY};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tch::Tensor;

/// Synthetic 300W-format data shared by the tests of this file (made once).
fn data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let args = ["--images", "24", "--videos", "4", "--frames", "8", "--no-avi", "--seed", "5"];
        synth(&d.path().join("data"), &args);
        d
    })
    .path()
}

fn list(name: &str) -> PathBuf {
    data().join("data/lists/300W").join(name)
}

/// The unlabelled video frames (the TSAL round's unsupervised data).
fn unlabelled_videos() -> PathBuf {
    data().join("data/lists/300VW/300VW.train.lst.none")
}

/// The tiny run: 24 training images, one view per clip, two clips per batch = 12 iterations
/// per epoch.
fn base_args(save: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::iter::once("train").chain(TINY).map(String::from).collect();
    v.extend(
        [
            "--clip_frames",
            "1",
            "--batch_size",
            "2",
            "--workers",
            "1",
            "--device",
            "cpu",
            "--rand_seed",
            "7",
            "--print_freq",
            "1",
        ]
        .map(String::from),
    );
    v.extend(["--train_lists".into(), s(&list("300w.train.GTB")).into()]);
    v.extend(["--save_path".into(), s(save).into()]);
    v
}

/// The tiny TSAL run: clips of two frames (views of the 24 images, and pieces of the
/// unlabelled videos), both detectors and both trackers.
fn tsal_args(save: &Path) -> Vec<String> {
    let mut v = base_args(save);
    set(&mut v, "--clip_frames", "2");
    let at = v.iter().position(|a| a == "--train_lists").unwrap();
    v.insert(at + 2, s(&unlabelled_videos()).to_string());
    v
}

fn run(args: &[String]) -> std::process::Output {
    tsal(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Replace the value after `flag` in `args`.
fn set(args: &mut [String], flag: &str, value: &str) {
    let at = args.iter().position(|a| a == flag).expect("flag in the base arguments");
    args[at + 1] = value.to_string();
}

fn with(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    args.extend(extra.iter().map(|x| x.to_string()));
    args
}

fn records(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn last_snapshot(run_dir: &Path) -> PathBuf {
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("last.json")).unwrap()).unwrap();
    run_dir.join(p["snapshot"].as_str().unwrap())
}

fn weights(path: &Path) -> Vec<(String, Tensor)> {
    let mut v = Tensor::read_safetensors(path).unwrap();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn max_diff(a: &Path, b: &Path) -> f64 {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    let mut m = 0f64;
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let d = f64::try_from(
            (ta.to_kind(tch::Kind::Double) - tb.to_kind(tch::Kind::Double)).abs().max(),
        )
        .unwrap();
        m = m.max(d);
    }
    m
}

#[test]
fn one_hundred_supervised_iterations_at_least_halve_the_heatmap_loss() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    // Four faces seen as they are (no augmentation), four per batch: the network can learn
    // them in 100 steps; on the full set with augmentation, 100 steps of a detector this
    // small only learn the background channel.
    let text = std::fs::read_to_string(list("300w.train.GTB")).unwrap();
    let four = list("four.GTB");
    // Written 25 times over (not consecutively, so each line is a clip): 25 batches per epoch.
    let lines: Vec<&str> = text.lines().take(4).collect();
    let repeated: String = (0..100).map(|i| format!("{}\n", lines[i % 4])).collect();
    std::fs::write(&four, repeated).unwrap();
    let mut args = base_args(&save);
    set(&mut args, "--train_lists", s(&four));
    set(&mut args, "--batch_size", "4");
    let extra = ["--max_iters", "100", "--epochs", "100", "--supervised_only", "--keep", "2"];
    let args = with(args, &extra);
    let args = with(args, &["--rotate_max", "0", "--scale_prob", "0", "--crop_perturb_max", "0"]);
    let t0 = Instant::now();
    let o = run(&args);
    let wall = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = records(&save);
    let iters: Vec<&serde_json::Value> = recs.iter().filter(|r| r["kind"] == "iter").collect();
    assert_eq!(iters.len(), 100);
    // The training time the run records never exceeds the process's wall time.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(last_snapshot(&save).join("train_state.json")).unwrap(),
    )
    .unwrap();
    let trained = state["elapsed_s"].as_f64().unwrap();
    assert!(trained > 0.0 && trained <= wall, "elapsed_s {trained} over {wall} s of wall time");
    let last_iter = iters[99]["elapsed_s"].as_f64().unwrap();
    assert!(last_iter <= trained, "{last_iter} > {trained}");
    let hm = |r: &serde_json::Value| r["losses"]["teacher"]["heatmap"].as_f64().unwrap();
    // Mean of the first and the last ten iterations (single batches are noisy).
    let first: f64 = iters[..10].iter().map(|r| hm(r)).sum::<f64>() / 10.0;
    let last: f64 = iters[90..].iter().map(|r| hm(r)).sum::<f64>() / 10.0;
    assert!(last <= 0.5 * first, "heatmap loss {first} → {last}");
    // The teacher alone was trained: no student anywhere.
    assert!(iters.iter().all(|r| r["losses"].get("student").is_none()));
    let snap = last_snapshot(&save);
    assert!(snap.ends_with("snapshots/epoch-004"), "{}", snap.display());
    // --keep 2 without evaluation (no best): the last two epochs' snapshots remain.
    let mut kept: Vec<String> = std::fs::read_dir(save.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["epoch-003", "epoch-004"]);
    assert!(snap.join("detector_teacher.safetensors").is_file());
    assert!(!snap.join("detector_student.safetensors").exists());
    // The same command again has nothing left to do.
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
}

#[test]
fn a_run_killed_mid_epoch_continues_to_the_same_weights() {
    let d = tempfile::tempdir().unwrap();
    let extra = ["--max_iters", "30", "--epochs", "3", "--snapshot_every", "5"];
    // Uninterrupted.
    let a = d.path().join("a");
    let o = run(&with(tsal_args(&a), &extra));
    assert!(o.status.success(), "{}", stderr(&o));
    // Killed (SIGKILL) once its first mid-epoch snapshot exists, then the same command again.
    let b = d.path().join("b");
    let args = with(tsal_args(&b), &extra);
    let mut child = command()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !b.join("snapshots/epoch-001-iter-000005").is_dir() {
        assert!(t0.elapsed() < Duration::from_secs(300), "no snapshot after 300 s");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("last.json")).unwrap()).unwrap();
    let at = killed_at["iter"].as_u64().unwrap();
    assert!(at < 30, "the kill came after the end ({at})");
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("resuming from snapshots/"), "{}", stdout(&o));
    let (sa, sb) = (last_snapshot(&a), last_snapshot(&b));
    assert_eq!(sa.file_name(), sb.file_name());
    // All four roles, and every optimiser's state.
    for f in [
        "detector_teacher.safetensors",
        "detector_student.safetensors",
        "tracker_teacher.safetensors",
        "tracker_student.safetensors",
        "optimizer_teacher.safetensors",
        "optimizer_student.safetensors",
        "optimizer_tracker_teacher.safetensors",
        "optimizer_tracker_student.safetensors",
    ] {
        let diff = max_diff(&sa.join(f), &sb.join(f));
        assert!(diff <= 1e-5, "{f}: max |diff| {diff} after resuming from iteration {at}");
    }
    // Every term of the round is logged under its role.
    let recs = records(&b);
    let first = recs.iter().find(|r| r["kind"] == "iter").unwrap();
    let losses = &first["losses"];
    for role in ["teacher", "student"] {
        for t in ["heatmap", "focal", "offset", "sic", "unsup", "total"] {
            assert!(losses[role][t].is_number(), "{role} {t}: {losses}");
        }
    }
    for role in ["tracker_teacher", "tracker_student"] {
        for t in ["census", "smooth", "consistency", "total"] {
            assert!(losses[role][t].is_number(), "{role} {t}: {losses}");
        }
    }
    for t in ["ramp", "lambda", "mu"] {
        assert!(losses["round"][t].is_number(), "round {t}: {losses}");
    }
    assert_eq!(losses["round"]["ramp"], 0.0, "the ramp starts at 0");
    // The metrics hold each iteration once.
    let iters: Vec<u64> = records(&b)
        .iter()
        .filter(|r| r["kind"] == "iter")
        .map(|r| r["iter"].as_u64().unwrap())
        .collect();
    assert_eq!(iters, (1..=30).collect::<Vec<_>>());
}

#[test]
fn per_epoch_evaluation_equals_tsal_eval_on_the_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let common = list("300w.test.common.GTB");
    let args = with(tsal_args(&save), &["--epochs", "1", "--eval_ilists", s(&common)]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let during: serde_json::Value = serde_json::from_slice(
        &std::fs::read(save.join("reports/epoch-001/teacher/report.json")).unwrap(),
    )
    .unwrap();
    // `tsal eval --model RUN_DIR`: no crop, model or point flag repeated.
    let out = d.path().join("eval");
    tsal_ok(&["eval", "--model", s(&save), "--cpu", "--lists", s(&common), "--out", s(&out)]);
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let summary = |v: &serde_json::Value| v["lists"][0]["score"]["summary"].clone();
    let nme = |v: &serde_json::Value| summary(v)["nme_mean"].as_f64().unwrap();
    assert!(nme(&during).is_finite() && nme(&during) > 0.0);
    // NME, its spread, AUC and failure rate at both thresholds: all equal.
    assert_eq!(summary(&during), summary(&after));
    assert_eq!(after["meta"]["crop"], serde_json::json!([64, 64]));
    // best.json points at the evaluated snapshot, and the epoch record names the list.
    let best: serde_json::Value =
        serde_json::from_slice(&std::fs::read(save.join("best.json")).unwrap()).unwrap();
    assert_eq!(best["snapshot"], "snapshots/epoch-001");
    let epoch = records(&save).into_iter().find(|r| r["kind"] == "epoch").unwrap();
    let teacher =
        epoch["lists"].as_array().unwrap().iter().find(|l| l["role"] == "teacher").unwrap();
    assert_eq!(teacher["nme"].as_f64().unwrap(), nme(&after));
    assert!(save.join("curves.png").is_file());
    // The snapshot's detector.config rebuilds the run's model config exactly.
    let snap = last_snapshot(&save);
    let rebuilt = tsal::config::ModelConfig::load(&snap.join("detector.config")).unwrap();
    let run_cfg: tsal::config::RunConfig =
        serde_json::from_slice(&std::fs::read(save.join("config.json")).unwrap()).unwrap();
    assert_eq!(rebuilt, run_cfg.model.config);
    assert_eq!(rebuilt.init, tsal::config::model::InitScheme::He);
    // `--print_config` with the same flags prints what config.json holds.
    let printed = run(&with(args.clone(), &["--print_config"]));
    assert!(printed.status.success(), "{}", stderr(&printed));
    let printed: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(save.join("config.json")).unwrap()).unwrap();
    assert_eq!(printed, stored);
    // A crop flag that contradicts the snapshot is refused, naming it.
    let o =
        tsal(&["eval", "--model", s(&save), "--cpu", "--lists", s(&common), "--crop_width", "128"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--crop_width 128") && stderr(&o).contains("64"), "{}", stderr(&o));
}

#[test]
fn a_save_path_holding_another_run_is_refused_with_the_differing_keys() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let o = run(&with(base_args(&save), &["--max_iters", "2", "--supervised_only"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o =
        run(&with(base_args(&save), &["--max_iters", "2", "--supervised_only", "--sigma", "3"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("targets.sigma: 6.0 → 3.0"), "{}", stderr(&o));
    // Starting over needs --force; with it the old run is replaced.
    let o = run(&with(base_args(&save), &["--max_iters", "2", "--supervised_only", "--no_resume"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let fresh = with(
        base_args(&save),
        &["--max_iters", "1", "--supervised_only", "--no_resume", "--force"],
    );
    let o = run(&fresh);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("starting a new run"), "{}", stdout(&o));
    assert_eq!(records(&save).iter().filter(|r| r["kind"] == "iter").count(), 1);
    // A folder of other files is never used.
    let other = d.path().join("thesis");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("thesis.tex"), "x").unwrap();
    let o = run(&with(tsal_args(&other), &["--max_iters", "1"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(other.join("thesis.tex").is_file() && !other.join("config.json").exists());
}

/// A tiny TSAL run of 50 epochs into `save`, in the background, once `metrics.jsonl` holds
/// `records` records (its output to `io()`).
fn training_until(
    save: &Path,
    records: usize,
    io: fn() -> std::process::Stdio,
) -> std::process::Child {
    let args = with(tsal_args(save), &["--epochs", "50"]);
    let child = command().args(&args).stdout(io()).stderr(io()).spawn().unwrap();
    let t0 = Instant::now();
    let metrics = save.join("metrics.jsonl");
    while !std::fs::read_to_string(&metrics).is_ok_and(|t| t.lines().count() >= records) {
        assert!(t0.elapsed() < Duration::from_secs(300), "no iteration after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn ctrl_c_writes_a_snapshot_and_exits_130() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let child = training_until(&save, 3, std::process::Stdio::piped);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stdout(&o).contains("stopped by SIGINT"), "{}", stdout(&o));
    let snap = last_snapshot(&save);
    assert!(snap.join("optimizer_teacher.safetensors").is_file());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snap.join("train_state.json")).unwrap()).unwrap();
    assert!(state["iter"].as_u64().unwrap() >= 3);
    // No staging folder is left.
    let names: Vec<String> = std::fs::read_dir(save.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn a_non_finite_loss_stops_with_its_name_and_keeps_the_last_good_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("explode.config");
    std::fs::write(
        &cfg,
        r#"{"optimizer": ["str", "SGD"], "LR": ["float", 1e20], "momentum": ["float", 0.9],
            "nesterov": ["bool", [1]], "epochs": ["int", 2]}"#,
    )
    .unwrap();
    let save = d.path().join("run");
    let mut args = with(base_args(&save), &["--snapshot_every", "1", "--supervised_only"]);
    set(&mut args, "--opt_config", s(&cfg));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("loss of the teacher became") && err.contains("at iteration"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("tsal: error")).count(), 1, "{err}");
    // The snapshot before the bad step is the last one, with finite weights.
    let snap = last_snapshot(&save);
    for (name, t) in weights(&snap.join("detector_teacher.safetensors")) {
        let finite = bool::try_from(t.isfinite().all()).unwrap();
        assert!(finite, "{name} is not finite in {}", snap.display());
    }
}

#[test]
fn bad_tsal_settings_are_refused_in_one_line_before_the_run_folder_exists() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let cases: [(&[&str], &str); 4] = [
        (&["--clip_frames", "1"], "--clip_frames 1: the TSAL round"),
        (&["--mu", "-1"], "--mu -1: must be in [0, 1]"),
        (&["--lambda", "1.5"], "--lambda 1.5: must be in [0, 1]"),
        (
            &["--tracker_weights", "/no/such/file.tar"],
            "--tracker_weights /no/such/file.tar: file not found",
        ),
    ];
    for (extra, want) in cases {
        let mut args = tsal_args(&save);
        if extra[0] == "--clip_frames" {
            set(&mut args, "--clip_frames", extra[1]);
        } else {
            args.extend(extra.iter().map(|x| x.to_string()));
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want) && err.trim().lines().count() == 1, "{extra:?}: {err}");
        assert!(!save.exists(), "{extra:?} left a run folder");
    }
}

/// One `tsal: error` line on stderr, and it contains every one of `want`.
fn one_error_line(o: &std::process::Output, want: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("tsal: error")).collect();
    assert_eq!(lines.len(), 1, "{e}");
    for w in want {
        assert!(lines[0].contains(w), "`{w}` not in: {e}");
    }
}

/// Put a NaN into the first value of tensor `name` of a safetensors file.
fn poison(file: &Path, name: &str) {
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(file)
        .unwrap()
        .into_iter()
        .map(|(k, t)| {
            if k == name {
                let t = t.copy();
                let _ = t.view([-1]).get(0).fill_(f64::NAN);
                (k, t)
            } else {
                (k, t)
            }
        })
        .collect();
    assert!(tensors.iter().any(|(k, _)| k == name), "{name} not in {}", file.display());
    Tensor::write_safetensors(&tensors, file).unwrap();
}

#[test]
fn a_second_train_on_a_locked_folder_is_refused_and_a_killed_holder_leaves_no_lock() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let mut child = training_until(&save, 1, std::process::Stdio::null);
    let holder = format!("is in use by process {} on ", child.id());
    // Resuming beside it, and replacing it, are both refused in one line naming it.
    let o = run(&with(tsal_args(&save), &["--epochs", "50"]));
    one_error_line(&o, &[&format!("--save_path {}", save.display()), &holder]);
    let mut other_seed = with(tsal_args(&save), &["--no_resume", "--force"]);
    set(&mut other_seed, "--rand_seed", "8");
    let o = run(&other_seed);
    one_error_line(&o, &[&holder]);
    // The first run's log and config are untouched.
    let logs = |save: &Path| {
        std::fs::read_dir(save)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
            .count()
    };
    assert_eq!(logs(&save), 1);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(save.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["run"]["rand_seed"], 7);
    // kill -9: the lock goes with the process, and the same command continues.
    child.kill().unwrap();
    child.wait().unwrap();
    let o = run(&with(tsal_args(&save), &["--epochs", "50", "--max_iters", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("in use"), "{}", stderr(&o));
}

#[test]
fn best_json_is_restored_from_the_snapshots_after_a_death_between_the_pointer_writes() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let common = list("300w.test.common.GTB");
    let args = with(
        base_args(&save),
        &["--supervised_only", "--epochs", "1", "--eval_ilists", s(&common)],
    );
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let best = std::fs::read_to_string(save.join("best.json")).unwrap();
    // Killed after last.json was renamed into place, before best.json was.
    std::fs::remove_file(save.join("best.json")).unwrap();
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("restored best.json -> snapshots/epoch-001"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(save.join("best.json")).unwrap(), best);
    let out = d.path().join("eval");
    let o = tsal(&[
        "eval",
        "--model",
        s(&save),
        "--snapshot",
        "best",
        "--cpu",
        "--lists",
        s(&common),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Once in place, it is left alone.
    let o = run(&args);
    assert!(o.status.success() && !stderr(&o).contains("restored"), "{}", stderr(&o));
}

#[test]
fn initial_tracker_files_matter_only_until_the_first_snapshot() {
    let d = tempfile::tempdir().unwrap();
    // A tracker weight file: the teacher's tracker of a one-iteration run.
    let donor = d.path().join("donor");
    let o = run(&with(tsal_args(&donor), &["--max_iters", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let file = d.path().join("tracker.safetensors");
    std::fs::copy(last_snapshot(&donor).join("tracker_teacher.safetensors"), &file).unwrap();
    let save = d.path().join("run");
    let start = |weights: &Path, iters: &str| {
        run(&with(tsal_args(&save), &["--max_iters", iters, "--tracker_weights", s(weights)]))
    };
    // A folder is said to be one.
    let o = start(d.path(), "2");
    one_error_line(&o, &["--tracker_weights", "is a folder"]);
    // A truncated file fails the start after the run folder exists ...
    let bytes = std::fs::read(&file).unwrap();
    let cut = d.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = start(&cut, "2");
    one_error_line(&o, &["cut.safetensors"]);
    assert!(save.join("config.json").is_file() && !save.join("last.json").exists());
    // ... and the corrected command starts it: no snapshot, nothing to protect.
    let o = start(&file, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("starting a new run"), "{}", stdout(&o));
    // The file moves: the run resumes from its snapshot, with the old path or the new one.
    let moved = d.path().join("moved.safetensors");
    std::fs::rename(&file, &moved).unwrap();
    for (weights, iters) in [(&file, "3"), (&moved, "4")] {
        let o = start(weights, iters);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("resuming from"), "{}", stdout(&o));
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(save.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["tsal"]["tracker_weights"][0], s(&file), "the run records what it started from");
    // A tracker deleted from the snapshot is said to be missing, not blamed on the flags.
    std::fs::remove_file(last_snapshot(&save).join("tracker_student.safetensors")).unwrap();
    let o = start(&moved, "5");
    one_error_line(&o, &["tracker_student.safetensors", "missing from the snapshot"]);
    assert!(!stderr(&o).contains("supervised_only"), "{}", stderr(&o));
}

#[test]
fn non_finite_weights_are_named_when_eval_or_train_loads_them() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let args = with(base_args(&save), &["--supervised_only", "--max_iters", "2"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let detector = last_snapshot(&save).join("detector_teacher.safetensors");
    let name = weights(&detector).into_iter().map(|(k, _)| k).find(|k| k.ends_with("weight"));
    let name = name.unwrap();
    poison(&detector, &name);
    let common = list("300w.test.common.GTB");
    let o = tsal(&["eval", "--model", s(&save), "--cpu", "--lists", s(&common)]);
    one_error_line(&o, &["detector_teacher.safetensors", &format!("{name} (1 of "), "non-finite"]);
    let o = run(&with(base_args(&save), &["--supervised_only", "--max_iters", "3"]));
    one_error_line(&o, &["detector_teacher.safetensors", &name, "non-finite"]);
    assert!(!stderr(&o).contains("learning rate"), "{}", stderr(&o));
}

#[test]
fn the_same_command_removes_what_a_killed_run_left() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let args = with(base_args(&save), &["--supervised_only", "--max_iters", "1"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // What kill -9 leaves at the rename points: pointer and curve temporaries, a half-written
    // snapshot folder.
    let pid = dead_pid();
    let debris = [
        save.join(format!(".last.json.tmp-{pid}-3")),
        save.join(format!(".best.json.tmp-{pid}-4")),
        save.join(format!(".curves.png.tmp-{pid}-5")),
    ];
    for f in &debris {
        std::fs::write(f, "half").unwrap();
    }
    let partial = save.join(format!("snapshots/.epoch-001-iter-000007.partial-{pid}-1"));
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("detector_teacher.safetensors.tmp"), "half").unwrap();
    // A live process's temporary is not touched.
    let live = save.join(format!(".last.json.tmp-{}-0", std::process::id()));
    std::fs::write(&live, "mine").unwrap();
    let o = run(&with(base_args(&save), &["--supervised_only", "--max_iters", "2"]));
    assert!(o.status.success(), "{}", stderr(&o));
    for f in debris.iter().chain([&partial]) {
        assert!(!f.exists(), "{} is left", f.display());
    }
    assert!(stderr(&o).contains(&format!("left by process {pid}")), "{}", stderr(&o));
    assert!(live.is_file());
}

/// `--landmark_log FILE`: the header, then rows of each iteration of a TSAL run whose batch
/// held a video pair with shadow labels (a warning and the header alone without annotated video);
/// a path that cannot be written, or a supervised-only run, is refused in one line before the
/// run folder exists.
#[test]
fn the_landmark_log_is_written_every_iteration_and_refused_where_it_cannot_be() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("run");
    let log = d.path().join("landmarks.csv");
    let mut args = base_args(&save);
    set(&mut args, "--clip_frames", "2");
    let videos = data().join("data/lists/300VW/300VW.train.lst");
    let args = with(args, &["--shadow_lists", s(&videos), "--max_iters", "3"]);
    let o = run(&with(args.clone(), &["--landmark_log", s(&log)]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("--landmark_log"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(tsal::train::landmark_log::HEADER));
    let mut per_iter = [0usize; 3];
    for l in lines {
        let cols: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(cols.len(), 10, "{l}");
        per_iter[cols[0] as usize - 1] += 1;
        assert!(cols[3] >= 0.0 && cols[4] >= 0.0 && cols[7] >= 0.0, "{l}");
    }
    // Rows exactly in the iterations whose batch held an annotated video pair (print_freq 1).
    let annotated: Vec<f64> = records(&save)
        .iter()
        .filter(|r| r["kind"] == "iter")
        .map(|r| r["pairs"]["video"]["annotated"].as_f64().unwrap_or(0.0))
        .collect();
    assert_eq!(annotated.len(), 3);
    for (n, a) in per_iter.iter().zip(&annotated) {
        assert_eq!(*n > 0, *a > 0.0, "{per_iter:?} {annotated:?}");
    }
    assert!(per_iter.iter().sum::<usize>() > 0);

    // Videos without annotations: a warning, and the header alone.
    let save3 = d.path().join("run3");
    let log3 = d.path().join("header-only.csv");
    let o = run(&with(tsal_args(&save3), &["--max_iters", "1", "--landmark_log", s(&log3)]));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let warned: Vec<_> = err.lines().filter(|l| l.contains("--landmark_log")).collect();
    assert!(
        warned.len() == 1 && warned[0].contains("no training line is an annotated video"),
        "{err}"
    );
    let header = format!("{}\n", tsal::train::landmark_log::HEADER);
    assert_eq!(std::fs::read_to_string(&log3).unwrap(), header);

    let save2 = d.path().join("run2");
    let mut args2 = args.clone();
    set(&mut args2, "--save_path", s(&save2));
    let o = run(&with(args2.clone(), &["--landmark_log", "/no/such/dir/landmarks.csv"]));
    one_error_line(&o, &["--landmark_log /no/such/dir/landmarks.csv"]);
    assert!(!save2.exists());
    let o = run(&with(args2, &["--landmark_log", s(&log), "--supervised_only"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--landmark_log") && stderr(&o).contains("--supervised_only"));
    assert!(!save2.exists());
}
