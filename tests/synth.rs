//! `tsal synth`: annotations sit on the rendered features, output is deterministic, the
//! 300W / 300VW trees and lists are complete and consistent, videos move smoothly, and a
//! failed run leaves nothing behind.
#![allow(clippy::needless_range_loop)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tsal::formats::list::{self, ListEntry};
use tsal::formats::pts;
use tsal::synth::background::background;
use tsal::synth::scene::{part_at, Scene};
use tsal::synth::{rng_for, Difficulty, Part, RenderOptions, Stream, SynthOptions};

fn tsal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tsal"))
}

fn has_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().map(|o| o.status.success()).unwrap_or(false)
}

/// Whether some pixel within `r` pixels (square) of `p` satisfies `want`.
fn near(parts: &image::GrayImage, p: [f64; 2], r: i64, want: impl Fn(Part) -> bool) -> bool {
    let (x, y) = (p[0].round() as i64, p[1].round() as i64);
    (-r..=r).any(|dy| (-r..=r).any(|dx| part_at(parts, x + dx, y + dy).is_some_and(&want)))
}

#[test]
fn annotations_sit_on_the_rendered_features() {
    let diff = Difficulty { pose_sd: [25.0, 10.0, 12.0], occlusion: 0.0, hard: false };
    let mut jaw_checked = 0;
    let mut colour_step = 0.0;
    let mut yaws = Vec::new();
    for seed in 0..10u64 {
        let mut rng = rng_for(seed, Stream::W300Image, 1000);
        let scene = Scene::random(&mut rng, 420, 420, 230.0, &diff);
        yaws.push(scene.camera.pose.yaw.to_degrees());
        let bg = background(&mut rng, 420, 420).unwrap();
        let out = scene.render(&bg, RenderOptions { degrade: false, parts: true }).unwrap();
        let parts = out.parts.as_ref().unwrap();
        let lm = &out.landmarks.xy;
        assert_eq!(lm.len(), 68);
        let ctx = |i: usize| format!("seed {seed}, point {i} at {:?}", lm[i]);
        for i in 36..48 {
            assert!(near(parts, lm[i], 1, Part::is_eye), "eye point not on the eye: {}", ctx(i));
        }
        for i in 17..27 {
            assert!(
                near(parts, lm[i], 1, |p| p == Part::Brow),
                "brow point not on the brow: {}",
                ctx(i)
            );
        }
        for i in 31..36 {
            assert!(
                near(parts, lm[i], 1, |p| p == Part::Nose),
                "nostril point not on the nose: {}",
                ctx(i)
            );
        }
        for i in 48..60 {
            assert!(
                near(parts, lm[i], 1, |p| p == Part::Lips),
                "outer lip point not on the lips: {}",
                ctx(i)
            );
        }
        for i in 60..68 {
            let ok = near(parts, lm[i], 1, |p| matches!(p, Part::Lips | Part::MouthInside));
            assert!(ok, "inner lip point not on the mouth: {}", ctx(i));
        }
        // Jaw points on the face outline: skin 2.5 px inside, not face 2.5 px outside, along
        // the contour's normal.
        let centre = [
            (27..68).map(|i| lm[i][0]).sum::<f64>() / 41.0,
            (27..68).map(|i| lm[i][1]).sum::<f64>() / 41.0,
        ];
        for i in 0..17usize {
            let (a, b) = (lm[i.saturating_sub(1)], lm[(i + 1).min(16)]);
            let (tx, ty) = (b[0] - a[0], b[1] - a[1]);
            let len = (tx * tx + ty * ty).sqrt();
            let mut n = [ty / len, -tx / len];
            if n[0] * (lm[i][0] - centre[0]) + n[1] * (lm[i][1] - centre[1]) < 0.0 {
                n = [-n[0], -n[1]];
            }
            let at = |d: f64| [lm[i][0] + d * n[0], lm[i][1] + d * n[1]];
            let (inside, outside) = (at(-2.5), at(2.5));
            let pin = part_at(parts, inside[0].round() as i64, inside[1].round() as i64);
            let pout = part_at(parts, outside[0].round() as i64, outside[1].round() as i64);
            assert!(pin.is_some_and(Part::is_face), "inside jaw point is {pin:?}: {}", ctx(i));
            assert!(!pout.is_some_and(Part::is_face), "outside jaw point is {pout:?}: {}", ctx(i));
            let px = |q: [f64; 2]| out.image.get_pixel(q[0].round() as u32, q[1].round() as u32).0;
            if pout.is_some() {
                let (ci, co) = (px(inside), px(outside));
                colour_step +=
                    (0..3).map(|c| (ci[c] as f64 - co[c] as f64).abs()).sum::<f64>() / 3.0;
                jaw_checked += 1;
            }
        }
    }
    // The poses really vary, and the outline is a visible colour edge on average.
    let spread = yaws.iter().cloned().fold(f64::MIN, f64::max)
        - yaws.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 20.0, "yaws {yaws:?}");
    let mean_step = colour_step / jaw_checked as f64;
    assert!(
        jaw_checked > 150 && mean_step > 15.0,
        "{jaw_checked} jaw points, mean colour step {mean_step}"
    );
}

/// All files under `root`, relative path → bytes; without the marker, whose time and process
/// differ from run to run.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.file_name().is_some_and(|n| n != tsal::fsutil::MARKER) {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn tiny(out: PathBuf, seed: u64, threads: usize, avi: bool) -> SynthOptions {
    SynthOptions {
        seed,
        threads,
        images: 3,
        common: None,
        challenge: None,
        test_videos: None,
        motion: 1.0,
        videos: 2,
        frames: 5,
        avi,
        ..SynthOptions::quickstart(out)
    }
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let avi = has_ffmpeg();
    let a = tsal::synth::generate(&tiny(tmp.path().join("a"), 7, 1, avi)).unwrap();
    let b = tsal::synth::generate(&tiny(tmp.path().join("b"), 7, 2, avi)).unwrap();
    let c = tsal::synth::generate(&tiny(tmp.path().join("c"), 8, 2, false)).unwrap();
    let (sa, sb, sc) = (snapshot(&a.out), snapshot(&b.out), snapshot(&c.out));
    // 3+3+2 images (with .pts), 2 videos of 5 frames (png + pts), lists.
    assert!(sa.len() > 30, "{} files", sa.len());
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (k, v) in &sa {
        assert!(sb[k] == *v, "{} differs between 1 and 2 threads", k.display());
    }
    let differing = sc.iter().filter(|(k, v)| sa.get(*k).is_some_and(|w| w != *v)).count();
    let images =
        sc.keys().filter(|k| k.extension().is_some_and(|e| e == "jpg" || e == "png")).count();
    assert!(differing >= images, "seed 8 vs 7: only {differing} files differ ({images} images)");
}

fn read_list(p: &Path) -> Vec<ListEntry> {
    list::read(p, &[]).unwrap_or_else(|e| panic!("{e:#}"))
}

fn close(a: [f64; 4], b: [f64; 4], tol: f64) -> bool {
    a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn layout_lists_and_smooth_videos() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let avi = has_ffmpeg();
    let mut cmd = tsal();
    cmd.args(["synth", "--out"]).arg(&out);
    cmd.args(["--images", "8", "--videos", "4", "--frames", "26", "--seed", "3", "--threads", "2"]);
    if !avi {
        println!("ffmpeg not on PATH: skipping the vid.avi check");
        cmd.arg("--no-avi");
    }
    let res = cmd.output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(stdout.contains("300W/ibug") && stdout.contains("test-3"), "{stdout}");

    // 300W: every subset folder, every image with its .pts.
    for d in ["afw", "helen/trainset", "helen/testset", "lfpw/trainset", "lfpw/testset", "ibug"] {
        let dir = out.join("300W").join(d);
        let files: Vec<PathBuf> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        let images: Vec<&PathBuf> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
            .collect();
        assert!(!images.is_empty(), "{d} is empty");
        for img in &images {
            assert!(img.with_extension("pts").is_file(), "{} has no .pts", img.display());
            let im = image::open(img).unwrap();
            assert!((300..=1000).contains(&im.width()) && (300..=1000).contains(&im.height()));
        }
        assert_eq!(files.len(), 2 * images.len(), "{d}: stray files");
    }
    let l300w = out.join("lists/300W");
    let train = read_list(&l300w.join("300w.train.GTB"));
    let common = read_list(&l300w.join("300w.test.common.GTB"));
    let challenge = read_list(&l300w.join("300w.test.challenge.GTB"));
    let full = read_list(&l300w.join("300w.test.full.GTB"));
    assert_eq!(train.len(), 8);
    assert!(common.len() >= 2 && challenge.len() >= 2);
    let strip = |v: &[ListEntry]| v.iter().map(|e| (e.image.clone(), e.bbox)).collect::<Vec<_>>();
    assert_eq!(strip(&full), [strip(&common), strip(&challenge)].concat());
    for e in train.iter().chain(&full) {
        assert!(e.image.is_file(), "{}", e.image.display());
        let ann = e.annotation.as_ref().expect("labelled");
        let lm = pts::read(ann, None).unwrap();
        assert_eq!(lm.len(), 68);
        let bb = lm.bbox().unwrap();
        assert!(
            close(e.bbox, bb, 0.00051),
            "{}: list box {:?} vs pts box {bb:?}",
            e.origin,
            e.bbox
        );
        // Faces of 80–400 px (landmark box) inside the image.
        let (w, h) = image::image_dimensions(&e.image).unwrap();
        assert!(bb[0] >= 0.0 && bb[1] >= 0.0 && bb[2] < w as f64 && bb[3] < h as f64);
        let size = (bb[2] - bb[0]).max(bb[3] - bb[1]);
        assert!((50.0..=480.0).contains(&size), "face size {size}");
    }
    let text = std::fs::read_to_string(l300w.join("300w.train.GTB")).unwrap();
    assert!(
        text.lines().all(|l| l.starts_with("../../300W/")),
        "paths not relative to the list:\n{text}"
    );
    assert!(text.lines().all(|l| l.split_whitespace().skip(2).all(|v| v
        .split('.')
        .nth(1)
        .unwrap()
        .len()
        == 4)));

    // 300VW: 4 videos → one per split.
    let lvw = out.join("lists/300VW");
    let mut frames_by_video: BTreeMap<String, Vec<ListEntry>> = BTreeMap::new();
    let mut seen_splits = Vec::new();
    for split in ["train", "test-1", "test-2", "test-3"] {
        let all = read_list(&lvw.join(format!("300VW.{split}.lst")));
        let none = read_list(&lvw.join(format!("300VW.{split}.lst.none")));
        let first = read_list(&lvw.join(format!("300VW.{split}.lst.first")));
        let sparse = read_list(&lvw.join(format!("300VW.{split}.lst.sparse.10")));
        let sparse_none = read_list(&lvw.join(format!("300VW.{split}.lst.sparse.none.10")));
        assert!(none.iter().chain(&sparse_none).all(|e| !e.is_labelled()));
        assert_eq!(strip(&all), strip(&none));
        assert_eq!(strip(&sparse), strip(&sparse_none));
        let mut concat = Vec::new();
        let mut vids = Vec::new();
        for e in &all {
            let vid = e
                .image
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            if !vids.contains(&vid) {
                vids.push(vid);
            }
        }
        for vid in &vids {
            let per = read_list(&lvw.join(format!("300VW.{split}.lst{vid}")));
            let per_none = read_list(&lvw.join(format!("300VW.{split}.lst{vid}.none")));
            assert_eq!(strip(&per), strip(&per_none));
            // No padding: each of the 26 frames exactly once, in order.
            let names: Vec<String> = per
                .iter()
                .map(|e| e.image.file_name().unwrap().to_string_lossy().to_string())
                .collect();
            let want: Vec<String> = (1..=26).map(|i| format!("{i:06}.png")).collect();
            assert_eq!(names, want, "video {vid}");
            assert_eq!(
                strip(&per[..1]),
                strip(&first[vids.iter().position(|v| v == vid).unwrap()..][..1])
            );
            // Sparse: 0-based i with i % 10 == 3, i > 3, i + 3 < 26 → only frame 13.
            let kept: Vec<&ListEntry> = sparse
                .iter()
                .filter(|e| e.image.starts_with(per[0].image.parent().unwrap()))
                .collect();
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].image, per[13].image);
            frames_by_video.insert(vid.clone(), per.clone());
            concat.extend(per);
            let vdir = out.join("300VW").join(vid);
            if avi {
                let len = std::fs::metadata(vdir.join("vid.avi")).map(|m| m.len()).unwrap_or(0);
                assert!(len > 1000, "{}/vid.avi is {len} bytes", vdir.display());
            }
        }
        assert_eq!(strip(&all), strip(&concat), "{split}: not the concatenation of its videos");
        assert_eq!(first.len(), vids.len());
        seen_splits.push((split, vids.len()));
        for e in &all {
            assert!(e.image.is_file());
            let lm = pts::read(e.annotation.as_ref().unwrap(), None).unwrap();
            assert!(close(e.bbox, lm.bbox().unwrap(), 0.0051), "{}", e.origin);
        }
    }
    assert_eq!(seen_splits, [("train", 1), ("test-1", 1), ("test-2", 1), ("test-3", 1)]);
    let ids: Vec<&String> = frames_by_video.keys().collect();
    // Each split names its videos by the 300VW protocol's ids for that split.
    assert_eq!(ids, ["001", "114", "203", "410"]);

    // Smooth motion: small steps between consecutive frames, but real movement overall.
    for (vid, frames) in &frames_by_video {
        let lms: Vec<_> = frames
            .iter()
            .map(|e| pts::read(e.annotation.as_ref().unwrap(), None).unwrap())
            .collect();
        let bb = lms[0].bbox().unwrap();
        let size = (bb[2] - bb[0]).max(bb[3] - bb[1]);
        let disp = |a: &pts::Landmarks, b: &pts::Landmarks| {
            a.xy.iter()
                .zip(&b.xy)
                .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
                .sum::<f64>()
                / 68.0
        };
        let steps: Vec<f64> = lms.windows(2).map(|w| disp(&w[0], &w[1]) / size).collect();
        let mean_step = steps.iter().sum::<f64>() / steps.len() as f64;
        let max_step = steps.iter().cloned().fold(0.0, f64::max);
        let travel = lms.iter().map(|l| disp(&lms[0], l) / size).fold(0.0, f64::max);
        assert!(
            mean_step < 0.03 && max_step < 0.06,
            "video {vid}: mean step {mean_step}, max {max_step} of face size"
        );
        assert!(travel > 0.04, "video {vid}: landmarks move only {travel} of the face size");
    }
}

#[test]
fn a_failed_run_leaves_nothing_and_keeps_the_old_output() {
    let tmp = tempfile::tempdir().unwrap();
    // Output under a file: refused before anything is written.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let r = tsal()
        .args(["synth", "--images", "3", "--only", "300w", "--out"])
        .arg(file.join("out"))
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(!file.join("out").exists());

    // ffmpeg that answers -version but fails to encode: the run fails after writing frames.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("ffmpeg");
        std::fs::write(&fake, "#!/bin/sh\n[ \"$1\" = -version ] && exit 0\necho 'simulated encoder failure' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = tmp.path().join("data");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep.txt"), "old").unwrap();
        // Marked as tsal's output, so that --force may replace it.
        std::fs::write(out.join(tsal::fsutil::MARKER), "{}").unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let r = tsal()
            .env("PATH", path)
            .args(["synth", "--images", "3", "--videos", "1", "--frames", "3", "--force", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains("simulated encoder failure"), "{err}");
        assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "old");
        let left: Vec<_> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 3, "staging left behind: {left:?}");
    }
}

#[test]
fn bad_flags_give_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    for (flag, value) in [
        ("--video_frames", "0"),
        ("--videos", "0"),
        ("--images", "2"),
        ("--threads", "0"),
        ("--rand_seed", "x"),
    ] {
        let r = tsal().args(["synth", "--out"]).arg(&out).args([flag, value]).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{flag} {value} accepted");
        assert!(err.contains(flag), "{flag} {value}: {err}");
        assert!(!out.exists());
    }
    // An existing non-empty folder needs --force.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("x"), "x").unwrap();
    let r = tsal()
        .args(["synth", "--images", "3", "--only", "300w", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("--force"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The test sets' sizes apart from the training set's (`--common`, `--challenge`,
/// `--test_videos`), and `--motion`: the same videos (same draws), moving faster.
#[test]
fn test_sizes_apart_and_motion_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = |name: &str, motion: f64| SynthOptions {
        common: Some(5),
        challenge: Some(3),
        videos: 2,
        test_videos: Some(4),
        frames: 6,
        motion,
        avi: false,
        threads: 2,
        ..tiny(tmp.path().join(name), 3, 2, false)
    };
    let slow = tsal::synth::generate(&opts("slow", 1.0)).unwrap();
    let fast = tsal::synth::generate(&opts("fast", 3.0)).unwrap();
    let lines = |root: &Path, l: &str| read_list(&root.join("lists").join(l)).len();
    assert_eq!(lines(&slow.out, "300W/300w.train.GTB"), 3);
    assert_eq!(lines(&slow.out, "300W/300w.test.common.GTB"), 5);
    assert_eq!(lines(&slow.out, "300W/300w.test.challenge.GTB"), 3);
    // 2 training videos; 4 test videos dealt over test-1, -2, -3, -1.
    let frames = [("train", 2), ("test-1", 2), ("test-2", 1), ("test-3", 1)];
    for (split, videos) in frames {
        assert_eq!(lines(&slow.out, &format!("300VW/300VW.{split}.lst")), 6 * videos, "{split}");
    }
    // Per frame step, how far the landmarks move on average (pixels), over all videos.
    let step = |root: &Path| {
        let mut d = Vec::new();
        for split in ["train", "test-1", "test-2", "test-3"] {
            let e = read_list(&root.join(format!("lists/300VW/300VW.{split}.lst")));
            for w in e.windows(2).filter(|w| w[1].follows(&w[0])) {
                let p = |x: &ListEntry| pts::read(x.annotation.as_ref().unwrap(), None).unwrap();
                let (a, b) = (p(&w[0]), p(&w[1]));
                let n = a.xy.len() as f64;
                let m: f64 =
                    a.xy.iter().zip(&b.xy).map(|(u, v)| (u[0] - v[0]).hypot(u[1] - v[1])).sum();
                d.push(m / n);
            }
        }
        d.iter().sum::<f64>() / d.len() as f64
    };
    let (s, f) = (step(&slow.out), step(&fast.out));
    assert!(f > 2.0 * s && f < 4.5 * s, "motion 3: {f:.3} px per frame against {s:.3}");
}
