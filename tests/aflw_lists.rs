//! AFLW lists from an AFLWinfo-style MAT-file: the `ra` split, the reordered box, GTL vs GTB
//! boxes with their face size, the frontal test subset, and SBR point files with visibility.
use tsal::formats::list;
use tsal::formats::matfile::{self, Value};
use tsal::formats::pts;
use tsal::prep::aflw_lists::{build, POINTS};

/// Column-major `rows × cols` from row-major `rows`.
fn numeric(rows: &[Vec<f64>]) -> Value {
    let (r, c) = (rows.len(), rows[0].len());
    let data = (0..c).flat_map(|j| rows.iter().map(move |row| row[j])).collect();
    Value::Numeric { dims: vec![r, c], data }
}

#[test]
fn aflw_lists_follow_the_reference_layout() {
    let d = tempfile::tempdir().unwrap();
    let n = 5;
    // Face i: points on a 10 px grid inside the box [100i, 50, 100i + 90, 240].
    let mut data = Vec::new();
    let mut mask = Vec::new();
    let mut bbox = Vec::new();
    for i in 0..n {
        let x0 = 100.0 * i as f64;
        let xs: Vec<f64> = (0..POINTS).map(|j| x0 + 10.0 + 3.0 * j as f64).collect();
        let ys: Vec<f64> = (0..POINTS).map(|j| 60.0 + 9.0 * j as f64).collect();
        data.push([xs, ys].concat());
        let mut m = vec![1.0; POINTS];
        if i == 3 {
            m[7] = 0.0; // not frontal: a hidden point
        }
        mask.push(m);
        // Stored as [x1 x2 y1 y2].
        bbox.push(vec![x0, x0 + 90.0, 50.0, 240.0]);
    }
    let names = Value::Cell {
        dims: vec![n, 1],
        items: (0..n)
            .map(|i| {
                let s = format!("{}/image{:05}.jpg", i % 2, i);
                Value::Char { dims: vec![1, s.len()], text: s }
            })
            .collect(),
    };
    let ra = Value::Numeric { dims: vec![1, n], data: vec![3.0, 1.0, 5.0, 2.0, 4.0] };
    let mat = d.path().join("AFLWinfo_release.mat");
    matfile::write(
        &mat,
        &[
            ("data", numeric(&data)),
            ("mask_new", numeric(&mask)),
            ("bbox", numeric(&bbox)),
            ("ra", ra),
            ("nameList", names),
        ],
    )
    .unwrap();
    let out = d.path().join("lists");
    let written = build(&mat, &d.path().join("flickr"), &out, 3).unwrap();
    let count = |name: &str| written.iter().find(|w| w.0.ends_with(name)).unwrap().1;
    assert_eq!((count("train.GTB"), count("test.GTB"), count("all.GTL")), (3, 2, 5));
    assert_eq!(count("test.front.GTB"), 1, "face 4 hides a point");
    // Train = faces 3, 1, 5 of `ra` (1-based), in that order.
    let train = list::read(&out.join("train.GTB"), &[]).unwrap();
    let stems: Vec<String> =
        train.iter().map(|e| e.image.file_stem().unwrap().to_string_lossy().to_string()).collect();
    assert_eq!(stems, ["image00002", "image00000", "image00004"]);
    // GTB: the given box reordered, face size sqrt(90 · 190).
    let e = &train[0];
    assert_eq!(e.bbox, [200.0, 50.0, 290.0, 240.0]);
    assert!((e.face_size.unwrap() - (90.0f64 * 190.0).sqrt()).abs() < 1e-3);
    // GTL: the landmarks' tight box, x 210..264, y 60..222.
    let gtl = list::read(&out.join("train.GTL"), &[]).unwrap();
    assert_eq!(gtl[0].bbox, [210.0, 60.0, 264.0, 222.0]);
    assert!((gtl[0].face_size.unwrap() - (54.0f64 * 162.0).sqrt()).abs() < 1e-3);
    // The frontal test face is face 2 (1-based); the SBR file of face 4 marks point 8 hidden.
    let front = list::read(&out.join("test.front.GTB"), &[]).unwrap();
    assert!(front[0].image.ends_with("1/image00001.jpg"), "{:?}", front[0].image);
    let test = list::read(&out.join("test.GTB"), &[]).unwrap();
    let lm = pts::read(test[1].annotation.as_ref().unwrap(), Some(POINTS)).unwrap();
    assert_eq!(lm.visible.iter().filter(|v| !**v).count(), 1);
    assert!(!lm.visible[7] && (lm.xy[0][0] - 310.0).abs() < 1e-9);
    // A file without the AFLW variables is a clear error.
    matfile::write(&mat, &[("other", numeric(&[vec![1.0]]))]).unwrap();
    let e = format!("{:#}", build(&mat, d.path(), &out, 3).unwrap_err());
    assert!(e.contains("AFLWinfo_release.mat") && e.contains("`data`"), "{e}");
}
