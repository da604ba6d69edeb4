//! Annotation files: both formats, round trips and broken files.
use std::path::Path;
use tsal::formats::pts::{self, Landmarks, PtsFormat};

fn sample(n: usize) -> Landmarks {
    let xy = (0..n).map(|i| [10.0 + i as f64 * 1.2345, 200.5 - i as f64 * 0.75]).collect();
    let mut lm = Landmarks::all_visible(xy);
    lm.visible[3] = false;
    lm
}

fn err_of<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn ibug_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.pts");
    let lm = sample(68);
    pts::write(&p, &lm, PtsFormat::Ibug).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("version: 1\nn_points: 68\n{\n"));
    assert_eq!(text.lines().count(), 68 + 4);
    let back = pts::read(&p, None).unwrap();
    assert_eq!(back.len(), 68);
    for (a, b) in lm.xy.iter().zip(&back.xy) {
        assert!(
            (a[0] - b[0]).abs() <= 5.0001e-4 && (a[1] - b[1]).abs() <= 5.0001e-4,
            "{a:?} vs {b:?}"
        );
    }
    // 300W .pts carries no visibility: every point reads back visible.
    assert!(back.visible.iter().all(|&v| v));
}

#[test]
fn sbr_round_trip_keeps_visibility() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.pts");
    let lm = sample(19);
    pts::write(&p, &lm, PtsFormat::Sbr).unwrap();
    let back = pts::read(&p, Some(19)).unwrap();
    assert_eq!(back.visible, lm.visible);
    assert_eq!(back.visible.iter().filter(|v| !**v).count(), 1);
    for (a, b) in lm.xy.iter().zip(&back.xy) {
        assert!((a[0] - b[0]).abs() <= 5.0001e-4 && (a[1] - b[1]).abs() <= 5.0001e-4);
    }
}

#[test]
fn reads_300w_style_text() {
    let mut t = String::from("version: 1\nn_points:  3\n{\n");
    t += "446.000 91.000\n449.459 119.344\n450.957 150.614\n}\n\n";
    let lm = pts::parse(&t, "x.pts", None).unwrap();
    assert_eq!(lm.xy, vec![[446.0, 91.0], [449.459, 119.344], [450.957, 150.614]]);
    assert_eq!(lm.bbox(), Some([446.0, 91.0, 450.957, 150.614]));
}

#[test]
fn sbr_missing_indices_stay_invisible() {
    let lm = pts::parse("1 10 20 True\n3 5.5 6.5 False\n", "s.pts", Some(4)).unwrap();
    assert_eq!(lm.xy, vec![[10.0, 20.0], [0.0, 0.0], [5.5, 6.5], [0.0, 0.0]]);
    assert_eq!(lm.visible, vec![true, false, false, false]);
    assert_eq!(lm.bbox(), Some([10.0, 20.0, 10.0, 20.0]), "bbox uses visible points only");
}

#[test]
fn truncated_file_is_an_error() {
    let e = err_of(pts::parse("version: 1\nn_points: 68\n{\n1 2\n3 4\n", "t.pts", None));
    assert!(e.contains("t.pts") && e.contains("truncated") && e.contains("2 of 68"), "{e}");
    let e = err_of(pts::parse("version: 1\nn_points: 68\n", "t.pts", None));
    assert!(e.contains("t.pts") && e.contains("truncated"), "{e}");
}

#[test]
fn wrong_count_is_an_error() {
    let e = err_of(pts::parse("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n", "w.pts", None));
    assert!(e.contains("w.pts") && e.contains("n_points is 3 but 2"), "{e}");
    let e = err_of(pts::parse("5 1 2 True\n", "s.pts", Some(4)));
    assert!(e.contains("s.pts:1") && e.contains("index 5 exceeds"), "{e}");
}

#[test]
fn bad_lines_name_file_and_line() {
    let e = err_of(pts::parse("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n", "b.pts", None));
    assert!(e.starts_with("b.pts:5:"), "{e}");
    let e = err_of(pts::parse("version: 2\nn_points: 2\n{\n}\n", "b.pts", None));
    assert!(e.starts_with("b.pts:1:") && e.contains("version"), "{e}");
    let e = err_of(pts::parse("1 2 3 Maybe\n", "b.pts", None));
    assert!(e.starts_with("b.pts:1:") && e.contains("True or False"), "{e}");
    let e = err_of(pts::parse("1 2 3 True\n1 4 5 True\n", "b.pts", None));
    assert!(e.starts_with("b.pts:2:") && e.contains("twice"), "{e}");
    let e = err_of(pts::read(Path::new("/nonexistent/none.pts"), None));
    assert!(e.contains("/nonexistent/none.pts"), "{e}");
}
