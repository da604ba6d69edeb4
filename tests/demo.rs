//! `tsal demo` on a synthetic clip from `tsal synth` (Motion JPEG `vid.avi` with ground truth):
//! one landmarks record per frame, an output video with the input's size, frame count and rate
//! (ffprobe), points where the face is, the face detector finding the synthetic face, and bad
//! inputs refused in one line with nothing left under the output's name.
mod common;
use common::{dead_pid, s, stderr, stdout, synth, tsal, tsal_ok, TINY};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// Synthetic data (2 videos of 12 frames, with vid.avi) and a tiny TSAL run trained on it for
/// two epochs (64² crops, both detectors and both trackers); made once for the file.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        synth(&data, &["--images", "16", "--videos", "2", "--frames", "12", "--seed", "4"]);
        let lists = data.join("lists");
        let (labelled, unlabelled) =
            (lists.join("300W/300w.train.GTB"), lists.join("300VW/300VW.train.lst.none"));
        let run = root.join("run");
        let mut args = vec!["train"];
        args.extend(TINY);
        args.extend([
            "--clip_frames",
            "2",
            "--batch_size",
            "4",
            "--workers",
            "1",
            "--device",
            "cpu",
            "--epochs",
            "2",
            "--train_lists",
            s(&labelled),
            s(&unlabelled),
            "--save_path",
            s(&run),
        ]);
        tsal_ok(&args);
        Fixture { _dir: dir, root }
    })
}

/// The first synthetic video folder (`NNN/` with `vid.avi` and `annot/`).
fn video_dir() -> PathBuf {
    let vw = fixture().root.join("data/300VW");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&vw).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs.into_iter().find(|d| d.join("vid.avi").is_file()).expect("a synthetic vid.avi")
}

fn run_dir() -> PathBuf {
    fixture().root.join("run")
}

/// `ffprobe` width, height, frame rate and frame count (decoded, so any container counts).
fn probe(p: &Path) -> (u64, u64, String, u64) {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries"])
        .args(["stream=width,height,r_frame_rate,nb_read_frames", "-of", "json"])
        .arg(p)
        .output()
        .expect("ffprobe runs");
    assert!(o.status.success(), "ffprobe {}: {}", p.display(), String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let st = &v["streams"][0];
    (
        st["width"].as_u64().unwrap(),
        st["height"].as_u64().unwrap(),
        st["r_frame_rate"].as_str().unwrap().to_string(),
        st["nb_read_frames"].as_str().unwrap().parse().unwrap(),
    )
}

/// The ground truth of frame `i` (0-based) of the video: its 68 points.
fn truth(i: usize) -> Vec<[f64; 2]> {
    let f = video_dir().join(format!("annot/{:06}.pts", i + 1));
    let text = std::fs::read_to_string(f).unwrap();
    let inner = &text[text.find('{').unwrap() + 1..text.find('}').unwrap()];
    inner
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [v[0], v[1]]
        })
        .collect()
}

fn bounds(pts: &[[f64; 2]]) -> [f64; 4] {
    pts.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    })
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn output_video_and_landmarks_follow_the_input_and_the_face() {
    let out = tempfile::tempdir().unwrap();
    let video = video_dir().join("vid.avi");
    let (mp4, json) = (out.path().join("demo.mp4"), out.path().join("landmarks.json"));
    let b = bounds(&truth(0));
    let bbox = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
    let o = tsal(&[
        "demo",
        "--model",
        s(&run_dir()),
        "--video",
        s(&video),
        "--out",
        s(&mp4),
        "--landmarks",
        s(&json),
        "--which",
        "both",
        "--track",
        "--box",
        &bbox,
        "--truth",
        s(&video_dir().join("annot")),
        // The tiny model's confidence is low: follow it anyway, so every later frame is
        // placed by the previous landmarks.
        "--min_confidence",
        "0",
        "--device",
        "cpu",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = probe(&video);
    assert_eq!(input.3, 12, "the synthetic clip has 12 frames");
    assert_eq!(probe(&mp4), input, "size, rate and frame count of the output");

    let summary: Value = serde_json::from_str(&stdout(&o)).expect("--json summary");
    assert_eq!(summary["frames"], 12);
    let with_face = summary["frames_with_face"].as_u64().unwrap();
    assert!(summary["seconds"]["track"].as_f64().unwrap() > 0.0, "--track ran: {summary:#}");
    for role in ["teacher", "student"] {
        let nme = summary["truth"][role]["nme"].as_f64().unwrap();
        let jitter = summary["truth"][role]["jitter"].as_f64().unwrap();
        assert!(nme.is_finite() && nme > 0.0 && jitter.is_finite(), "{summary:#}");
        // Frames whose eye corners are occluded in the truth have no inter-ocular NME.
        let n = summary["truth"][role]["frames"].as_u64().unwrap();
        let pairs = summary["truth"][role]["pairs"].as_u64().unwrap();
        assert!(n >= 1 && n <= with_face && pairs < n, "{summary:#}");
    }

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["num_pts"], 68);
    let frames = doc["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 12, "one record per frame");
    assert_eq!(frames[0]["faces"][0]["source"], "given");
    // The tiny model's landmarks can make the follower give up on a frame (a box under half
    // its detected size) and SeetaFace miss it: such frames are flagged, never dropped.
    assert_eq!(frames.iter().filter(|f| f["face"] == true).count() as u64, with_face);
    assert!(with_face >= 2, "{summary:#}");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["frame"], i as u64);
        assert!((f["time"].as_f64().unwrap() - i as f64 / 25.0).abs() < 1e-9);
        let faces = f["faces"].as_array().unwrap();
        assert_eq!(faces.is_empty(), f["face"] == false, "frame {i}");
        let Some(face) = faces.first() else { continue };
        let src = face["source"].as_str().unwrap();
        assert!(["given", "followed", "detected"].contains(&src), "frame {i}: {src}");
        let gt = bounds(&truth(i));
        let (w, h) = (gt[2] - gt[0], gt[3] - gt[1]);
        for role in ["teacher", "student"] {
            let pts: Vec<[f64; 2]> = face["roles"][role]["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                .collect();
            assert_eq!(pts.len(), 68);
            // Every point within the face box grown by its crop margin (0.2 per side) and a
            // little more for the box following the points; their mean inside the true box.
            for p in &pts {
                assert!(
                    p[0] > gt[0] - 0.35 * w
                        && p[0] < gt[2] + 0.35 * w
                        && p[1] > gt[1] - 0.35 * h
                        && p[1] < gt[3] + 0.35 * h,
                    "frame {i} {role}: {p:?} far from the face {gt:?}"
                );
            }
            let m = pts.iter().fold([0.0, 0.0], |a, p| [a[0] + p[0] / 68.0, a[1] + p[1] / 68.0]);
            assert!(
                m[0] > gt[0] && m[0] < gt[2] && m[1] > gt[1] && m[1] < gt[3],
                "frame {i} {role}: mean {m:?} outside {gt:?}"
            );
            let c = face["roles"][role]["confidence"].as_f64().unwrap();
            assert!(c > 0.0 && c <= 1.5, "confidence {c}");
        }
    }
    // Nothing else was left beside the outputs (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["demo.mp4", "landmarks.json"]);
}

#[test]
fn the_face_detector_finds_the_synthetic_face_and_csv_has_a_row_per_frame() {
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("landmarks.csv");
    // A folder of frames, student only, no --box: the face detector places the first box.
    let o = tsal(&[
        "demo",
        "--model",
        s(&run_dir()),
        "--video",
        s(&video_dir().join("extraction")),
        "--landmarks",
        s(&csv),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let head = &rows[0];
    assert_eq!(head[..9], ["frame", "time", "face", "index", "source", "x1", "y1", "x2", "y2"]);
    assert_eq!(head.len(), 9 + 1 + 2 * 68, "student confidence and points");
    assert_eq!(rows.len(), 1 + 12, "a header and one row per frame");
    assert!(rows.iter().all(|r| r.len() == head.len()));
    // SeetaFace misses some synthetic faces: those frames are flagged rows (face 0, source
    // none, no points) until it finds one; that first face is detected, and the box the crop
    // was cut from overlaps the true face box.
    let first = rows[1..].iter().position(|r| r[2] == "1").expect("a face in some frame");
    for r in &rows[1..1 + first] {
        assert_eq!((r[2], r[4]), ("0", "none"));
        assert!(r[5..].iter().all(|c| c.is_empty()), "{r:?}");
    }
    let r = &rows[1 + first];
    assert_eq!(r[4], "detected");
    let b: Vec<f64> = r[5..9].iter().map(|x| x.parse().unwrap()).collect();
    let gt = bounds(&truth(first));
    let overlap = iou([b[0], b[1], b[2], b[3]], gt);
    assert!(overlap > 0.4, "frame {first}: box {b:?} vs truth {gt:?}: IoU {overlap}");
    let faces = rows[1..].iter().filter(|r| r[2] == "1").count();
    let said = format!("12 frames (640×360, 25/1 fps), {faces} with a face");
    assert!(stdout(&o).contains(&said), "{}", stdout(&o));
}

/// `tsal demo` with `args`: it must fail with exit code 1 and one line containing `expect`.
fn refused(args: &[&str], expect: &str) {
    let o = tsal(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: not one line: {e}");
    assert!(e.contains(expect), "{args:?}: expected `{expect}` in: {e}");
}

#[test]
fn bad_inputs_are_one_line_and_leave_nothing() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let mp4 = o.join("x.mp4");
    let model = s(&run_dir()).to_string();
    let avi = s(&video_dir().join("vid.avi")).to_string();
    let demo = |video: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["demo", "--model", &model, "--video", video, "--out", s(&mp4), "--device", "cpu"]
                .map(String::from)
                .to_vec();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let check = |args: Vec<String>, expect: &str| {
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), expect);
    };
    // Not a video; an empty file; an empty folder.
    let text = o.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    check(demo(s(&text), &[]), "not a video FFmpeg can read");
    let empty = o.join("empty.mp4");
    std::fs::write(&empty, "").unwrap();
    check(demo(s(&empty), &[]), "not a video FFmpeg can read");
    let folder = o.join("frames");
    std::fs::create_dir(&folder).unwrap();
    check(demo(s(&folder), &[]), "no image files");
    check(demo("no/such.mp4", &[]), "--video no/such.mp4: no such file or folder");
    // No face anywhere: three grey frames.
    for i in 0..3 {
        image::RgbImage::from_pixel(320, 240, image::Rgb([120, 120, 120]))
            .save(folder.join(format!("{i:03}.png")))
            .unwrap();
    }
    check(demo(s(&folder), &[]), "no face in any of its 3 frames");
    // Missing and foreign snapshots.
    let mut args = demo(&avi, &[]);
    args[2] = "no/such/run".into();
    check(args, "no/such/run");
    let foreign = o.join("foreign");
    tsal_ok(&[
        "snapshot",
        "init",
        "--out",
        s(&foreign),
        "--model_config",
        "configs/tiny/Detector.config",
    ]);
    // Its weights with another architecture's config.
    std::fs::copy("configs/small/Detector.config", foreign.join("detector.config")).unwrap();
    let mut args = demo(&avi, &["--box", "100,100,200,200"]);
    args[2] = s(&foreign).into();
    check(args, "detector");
    // A snapshot without trackers cannot --track.
    let plain = o.join("plain");
    tsal_ok(&[
        "snapshot",
        "init",
        "--out",
        s(&plain),
        "--model_config",
        "configs/tiny/Detector.config",
    ]);
    let mut args = demo(&avi, &["--track", "--box", "100,100,200,200"]);
    args[2] = s(&plain).into();
    check(args, "has no student tracker");
    // Outputs that cannot be written, flags that make no sense.
    let mut args = demo(&avi, &[]);
    args[6] = s(&o.join("missing/x.mp4")).into();
    check(args, "does not exist");
    let mut args = demo(&avi, &[]);
    args[6] = s(&o.join("x.xyz")).into();
    check(args, "write .mp4, .mov, .mkv, .avi or .webm");
    check(demo(&avi, &["--box", "1,2,3"]), "--box 1,2,3: expected four numbers");
    check(demo(&avi, &["--box", "5000,5000,6000,6000"]), "not a box inside the 640×360 frame");
    check(demo(&avi, &["--landmarks", s(&o.join("l.txt"))]), "write .json or .csv");
    check(demo(&avi, &["--mu", "2"]), "--mu 2: must be in [0, 1]");
    refused(&["demo", "--model", &model, "--video", &avi], "nothing to write");
    // A truncated video: what decodes is used, and the shortfall is said.
    let bytes = std::fs::read(&avi).unwrap();
    let cut = o.join("cut.avi");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let json = o.join("cut.json");
    let r = tsal(&[
        "demo",
        "--model",
        &model,
        "--video",
        s(&cut),
        "--landmarks",
        s(&json),
        "--box",
        "200,100,400,300",
        "--device",
        "cpu",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let n = doc["frames"].as_array().unwrap().len();
    assert!((1..12).contains(&n), "{n} frames of a half file");
    assert!(
        stderr(&r).contains(&format!("the file states 12 frames, {n} decoded (a truncated file?)")),
        "{}",
        stderr(&r)
    );
    std::fs::remove_file(&cut).unwrap();
    std::fs::remove_file(&json).unwrap();
    // Nothing was written under any output name, and no temporary file is left.
    let mut left: Vec<String> = std::fs::read_dir(o)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["empty.mp4", "foreign", "frames", "notes.txt", "plain"]);
}

#[test]
fn outputs_never_replace_the_input_and_existing_files_only_with_force() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let input = o.join("in.avi");
    std::fs::copy(video_dir().join("vid.avi"), &input).unwrap();
    let link = o.join("same.avi");
    std::fs::hard_link(&input, &link).unwrap();
    let bytes = std::fs::read(&input).unwrap();
    let model = s(&run_dir()).to_string();
    let demo = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["demo", "--model", &model, "--video", s(&input), "--device", "cpu"]
                .map(String::from)
                .to_vec();
        v.extend(["--box", "200,100,400,300"].map(String::from));
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |args: Vec<String>| tsal(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let refused_with = |args: Vec<String>, expect: &str| {
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), expect);
    };
    // The input itself, under its own name or another (same inode), even with --force.
    refused_with(demo(&["--out", s(&input), "--force"]), "is the input video");
    refused_with(demo(&["--out", s(&link), "--force"]), "is the input video");
    assert_eq!(std::fs::read(&input).unwrap(), bytes);
    // A file that exists: refused without --force, left as it was.
    let notes = o.join("notes.json");
    std::fs::write(&notes, "my notes").unwrap();
    refused_with(demo(&["--landmarks", s(&notes)]), "the file exists; pass --force");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
    // With --force it is replaced, saying so, and a dead demo's temporary for it is removed.
    let pid = dead_pid();
    let debris = o.join(format!(".notes.json.tsal-partial-{pid}-0.json"));
    std::fs::write(&debris, "half").unwrap();
    let r = run(demo(&["--landmarks", s(&notes), "--force"]));
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stderr(&r).contains(&format!("replaced {} (--force)", notes.display())));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&notes).unwrap()).unwrap();
    assert_eq!(doc["frames"].as_array().unwrap().len(), 12);
    assert!(!debris.exists(), "{}", stderr(&r));
}

#[test]
fn a_snapshot_with_a_non_finite_tracker_is_refused_naming_the_tensor() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let last: Value =
        serde_json::from_slice(&std::fs::read(run_dir().join("last.json")).unwrap()).unwrap();
    let snap = run_dir().join(last["snapshot"].as_str().unwrap());
    let copy = o.join("snap");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&snap).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    let file = copy.join("tracker_student.safetensors");
    let mut tensors = tch::Tensor::read_safetensors(&file).unwrap();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let (name, t) = tensors.iter_mut().find(|(k, _)| k.ends_with("weight")).unwrap();
    let name = name.clone();
    *t = t.copy();
    let _ = t.view([-1]).get(0).fill_(f64::NAN);
    tch::Tensor::write_safetensors(&tensors, &file).unwrap();
    let json = o.join("t.json");
    refused(
        &[
            "demo",
            "--model",
            s(&copy),
            "--video",
            s(&video_dir().join("vid.avi")),
            "--track",
            "--box",
            "200,100,400,300",
            "--landmarks",
            s(&json),
            "--device",
            "cpu",
        ],
        &format!("{name} (1 of "),
    );
    assert!(!json.exists());
}
