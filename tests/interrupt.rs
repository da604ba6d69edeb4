//! Ctrl-C and SIGTERM in the middle of `tsal synth`: exit 130 / 143, no partial output left, and
//! an output being replaced with --force still there as it was.
#![cfg(unix)]
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tsal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tsal"))
}

/// A synth run long enough to be stopped half-way (about 10 s on one thread).
const LONG: [&str; 9] =
    ["--images", "100", "--videos", "1", "--frames", "30", "--no-avi", "--threads", "1"];

/// Hidden leftovers (`.NAME.partial-…`, `.NAME.old-…`) in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-") || n.contains(".old"))
        .collect()
}

/// Start `tsal synth --out out ARGS` (with `path` first on PATH when given) in its own process
/// group, wait until its staging folder holds `ready` (a path inside it), send `signals`; the
/// output, the staging folder seen, and the seconds from the first signal to the exit.
fn interrupt_synth_with(
    out: &Path,
    args: &[&str],
    path: Option<&Path>,
    ready: &str,
    signals: &[i32],
) -> (Output, PathBuf, f64) {
    let mut cmd = tsal();
    cmd.args(["synth", "--out"]).arg(out).args(args);
    if let Some(dir) = path {
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path);
    }
    let mut child =
        cmd.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!(".{name}.partial-{}-", child.id());
    let parent = out.parent().unwrap();
    let t0 = Instant::now();
    let staging = loop {
        let found = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix));
        if let Some(s) = found.filter(|s| s.join(ready).exists()) {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no staging folder {prefix}* with {ready} appeared: {:?}", child.wait());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let pid = child.id() as i32;
    let t1 = Instant::now();
    for &sig in signals {
        // SAFETY: a plain kill(2) of the child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let seconds = t1.elapsed().as_secs_f64();
    // Whatever the child started in its group (a stray ffmpeg) goes too.
    // SAFETY: kill(2) of the child's process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    (o, staging, seconds)
}

/// [`interrupt_synth_with`] one signal once the first 300W picture is written.
fn interrupt_synth(out: &Path, args: &[&str], sig: i32) -> (Output, PathBuf) {
    let (o, staging, _) = interrupt_synth_with(out, args, None, "300W/afw", &[sig]);
    (o, staging)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A signal mid-run on a new output: the exit code of the signal, the staging folder gone, no
/// output, and one line naming what was removed.
fn stops_cleanly(sig: i32, code: i32, name: &str) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("data");
    let (o, staging) = interrupt_synth(&out, &LONG, sig);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(
        err.contains(&format!("tsal: interrupted ({name}); removed the partial output"))
            && err.contains(&*staging.to_string_lossy()),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!staging.exists() && !out.exists());
    assert_eq!(leftovers(d.path()), Vec::<String>::new());
}

#[test]
fn sigint_mid_synth_exits_130_and_leaves_nothing() {
    stops_cleanly(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_mid_synth_exits_143_and_leaves_nothing() {
    stops_cleanly(libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn sigint_mid_force_keeps_the_previous_output() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("data");
    let o = tsal()
        .args(["synth", "--images", "3", "--videos", "1", "--frames", "2", "--no-avi", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let marker = std::fs::read(out.join(tsal::fsutil::MARKER)).unwrap();
    let list = out.join("lists/300W/300w.train.GTB");
    let lines = std::fs::read_to_string(&list).unwrap();
    assert_eq!(lines.lines().count(), 3);

    let mut args = LONG.to_vec();
    args.push("--force");
    let (o, staging) = interrupt_synth(&out, &args, libc::SIGINT);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(!staging.exists());
    assert_eq!(leftovers(d.path()), Vec::<String>::new());
    assert_eq!(std::fs::read(out.join(tsal::fsutil::MARKER)).unwrap(), marker);
    assert_eq!(std::fs::read_to_string(&list).unwrap(), lines, "the old output is intact");
}

/// A folder with an `ffmpeg` that answers `-version` and hangs on encoding (after leaving
/// `ffmpeg-started` in the video folder it runs in): work that does not check for signals.
fn hanging_ffmpeg(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("ffmpeg");
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1\" = -version ] && exit 0\ntouch ffmpeg-started\nexec sleep 60\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The safety net: work stuck where it does not check (waiting for ffmpeg, which the signal did
/// not reach) is stopped 3 s after the signal, its partial output removed.
#[test]
fn work_that_does_not_stop_is_cut_short_after_the_grace_period() {
    let d = tempfile::tempdir().unwrap();
    let bin = hanging_ffmpeg(d.path());
    let out = d.path().join("data");
    let args = ["--only", "300vw", "--videos", "1", "--frames", "2", "--threads", "1"];
    let ready = "300VW/001/ffmpeg-started";
    let (o, staging, seconds) =
        interrupt_synth_with(&out, &args, Some(&bin), ready, &[libc::SIGINT]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("still busy after 3 s") && err.contains("removed the partial output"));
    assert!((2.9..20.0).contains(&seconds), "stopped after {seconds} s: {err}");
    assert!(!staging.exists() && !out.exists(), "{err}");
    assert!(leftovers(d.path()).is_empty());
}

/// A second signal stops at once.
#[test]
fn a_second_signal_stops_at_once() {
    let d = tempfile::tempdir().unwrap();
    let bin = hanging_ffmpeg(d.path());
    let out = d.path().join("data");
    let args = ["--only", "300vw", "--videos", "1", "--frames", "2", "--threads", "1"];
    let ready = "300VW/001/ffmpeg-started";
    let (o, staging, seconds) =
        interrupt_synth_with(&out, &args, Some(&bin), ready, &[libc::SIGTERM, libc::SIGTERM]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted (SIGTERM) twice"), "{err}");
    assert!(seconds < 2.5, "stopped after {seconds} s: {err}");
    assert!(!staging.exists() && !out.exists(), "{err}");
    assert!(leftovers(d.path()).is_empty());
}

/// Ctrl-C while `tsal eval --model` predicts: exit 130, and neither the output folder nor its
/// staging folder is left.
#[test]
fn sigint_mid_eval_exits_130_and_leaves_no_output() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let o = tsal()
        .args(["synth", "--out"])
        .arg(&data)
        .args(["--images", "60", "--only", "300w"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let snap = d.path().join("snap");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/Detector.config");
    let o = tsal()
        .args(["snapshot", "init", "--out"])
        .arg(&snap)
        .arg("--model_config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Large crops make the tiny detector slow enough (about 2 frames/s here) to be stopped.
    let out = d.path().join("eval");
    let mut child = tsal()
        .args(["eval", "--model"])
        .arg(&snap)
        .arg("--lists")
        .arg(data.join("lists/300W/300w.train.GTB"))
        .arg("--out")
        .arg(&out)
        .args(["--cpu", "--batch_size", "1", "--crop_width", "1024", "--crop_height", "1024"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!(".eval.partial-{}-", child.id());
    let t0 = Instant::now();
    loop {
        let staged = std::fs::read_dir(d.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(&prefix));
        if staged {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no staging folder appeared");
        assert!(child.try_wait().unwrap().is_none(), "eval ended before it could be stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500)); // into the prediction loop
    assert!(child.try_wait().unwrap().is_none(), "eval ended before it could be stopped");
    // SAFETY: a plain kill(2) of the child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted (SIGINT)"), "{err}");
    assert!(!out.exists(), "no output");
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}
