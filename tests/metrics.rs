//! Metrics on hand-computed cases: NME under each normaliser, invisible points, degenerate
//! faces, AUC / failure rate, and the cumulative error distribution.
use tsal::eval::curves::{auc, ced, ced_at, failure_rate, Summary};
use tsal::eval::nme::{face_nme, Exclusion, Normaliser};
use tsal::formats::pts::Landmarks;

/// 68 points; eye contours 36..41 around (30, 50) and 42..47 around (70, 50), outer corners 36
/// at (20, 50) and 45 at (80, 50): inter-ocular 60 px, inter-pupil 40 px.
fn face() -> Landmarks {
    let mut xy: Vec<[f64; 2]> = (0..68).map(|i| [i as f64, 100.0 + (i % 7) as f64]).collect();
    let ring = |c: f64| {
        [[-10.0, 0.0], [-5.0, -4.0], [5.0, -4.0], [10.0, 0.0], [5.0, 4.0], [-5.0, 4.0]]
            .map(|d| [c + d[0], 50.0 + d[1]])
    };
    xy[36..42].copy_from_slice(&ring(30.0));
    // The right eye's ring starts at its inner corner (42) and reaches the outer corner (45).
    let r = ring(70.0);
    xy[42..48].copy_from_slice(&[r[0], r[1], r[2], r[3], r[4], r[5]]);
    assert_eq!((xy[36], xy[45]), ([20.0, 50.0], [80.0, 50.0]));
    Landmarks::all_visible(xy)
}

fn shifted(gt: &Landmarks, d: [f64; 2]) -> Vec<[f64; 2]> {
    gt.xy.iter().map(|p| [p[0] + d[0], p[1] + d[1]]).collect()
}

const BOX: [f64; 4] = [0.0, 0.0, 100.0, 64.0];

#[test]
fn nme_under_each_normaliser() {
    let gt = face();
    let pred = shifted(&gt, [3.0, 4.0]); // 5 px everywhere
    let ion = face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None).unwrap();
    assert_eq!((ion.normaliser, ion.visible), (60.0, 68));
    assert!((ion.nme - 5.0 / 60.0).abs() < 1e-12);
    // Inter-pupil on the same prediction: eye centres 40 px apart, 1.5× the inter-ocular NME.
    let ipn = face_nme(&pred, &gt, Normaliser::InterPupil, BOX, None).unwrap();
    assert!((ipn.normaliser - 40.0).abs() < 1e-12);
    assert!((ipn.nme - 5.0 / 40.0).abs() < 1e-12 && (ipn.nme / ion.nme - 1.5).abs() < 1e-12);
    // Box: sqrt(100 · 64) = 80; face size: the 7th column.
    let b = face_nme(&pred, &gt, Normaliser::Box, BOX, None).unwrap();
    assert!((b.nme - 5.0 / 80.0).abs() < 1e-12);
    let f = face_nme(&pred, &gt, Normaliser::FaceSize, BOX, Some(125.0)).unwrap();
    assert!((f.nme - 0.04).abs() < 1e-12);
    assert_eq!(face_nme(&pred, &gt, Normaliser::FaceSize, BOX, None), Err(Exclusion::NoFaceSize));
}

#[test]
fn only_visible_points_count() {
    let mut gt = face();
    let mut pred = shifted(&gt, [3.0, 4.0]);
    pred[0] = [gt.xy[0][0] + 25.0, gt.xy[0][1] + 60.0]; // 65 px off, visible
    pred[10] = [gt.xy[10][0] + 1000.0, gt.xy[10][1]]; // way off, but not visible
    gt.visible[10] = false;
    let e = face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None).unwrap();
    assert_eq!(e.visible, 67);
    assert!((e.nme - (65.0 + 66.0 * 5.0) / (67.0 * 60.0)).abs() < 1e-12, "{}", e.nme);
    // Nothing visible: excluded.
    gt.visible = vec![false; 68];
    gt.visible[36] = true;
    gt.visible[45] = true;
    assert!(face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None).is_ok());
    gt.visible[36] = false;
    assert_eq!(
        face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None),
        Err(Exclusion::InvisibleNormaliser)
    );
    let all_hidden = Landmarks { xy: gt.xy.clone(), visible: vec![false; 68] };
    assert_eq!(
        face_nme(&pred, &all_hidden, Normaliser::Box, BOX, None),
        Err(Exclusion::NoVisiblePoint)
    );
}

#[test]
fn degenerate_faces_are_excluded_with_a_reason() {
    // Every point in one place: a 0 px normaliser.
    let gt = Landmarks::all_visible(vec![[50.0, 50.0]; 68]);
    let pred = shifted(&gt, [1.0, 0.0]);
    let e = face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None).unwrap_err();
    assert_eq!(e, Exclusion::Degenerate(0.0));
    assert!(e.to_string().contains("degenerate"), "{e}");
    // Eye corners 0.5 px apart, a NaN corner, a zero-area box.
    let mut gt = face();
    gt.xy[45] = [20.5, 50.0];
    assert_eq!(
        face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None),
        Err(Exclusion::Degenerate(0.5))
    );
    gt.xy[45] = [f64::NAN, 50.0];
    assert!(matches!(
        face_nme(&pred, &gt, Normaliser::InterOcular, BOX, None),
        Err(Exclusion::Degenerate(d)) if d.is_nan()
    ));
    let gt = face();
    assert!(matches!(
        face_nme(&pred, &gt, Normaliser::Box, [5.0, 5.0, 5.0, 90.0], None),
        Err(Exclusion::Degenerate(_))
    ));
    // Eye normalisers need 68 points; a prediction must match the annotation.
    let g19 = Landmarks::all_visible(vec![[1.0, 2.0]; 19]);
    assert!(matches!(
        face_nme(&[[0.0, 0.0]; 19], &g19, Normaliser::InterPupil, BOX, None),
        Err(Exclusion::Unsupported(_))
    ));
    assert!(matches!(
        face_nme(&pred[..67], &gt, Normaliser::Box, BOX, None),
        Err(Exclusion::BadPrediction(_))
    ));
}

/// The reference's sampled AUC (`lib/xvision/common_eval.py:14-87`): accuracy `e < τ` at
/// `linspace(0, t, 2000)`, trapezoid rule, divided by `t`.
fn sampled_auc(errors: &[f64], t: f64) -> f64 {
    let n = 2000;
    let taus: Vec<f64> = (0..n).map(|i| t * i as f64 / (n - 1) as f64).collect();
    let acc: Vec<f64> = taus
        .iter()
        .map(|&tau| errors.iter().filter(|&&e| e < tau).count() as f64 / errors.len() as f64)
        .collect();
    let area: f64 = (1..n).map(|i| (taus[i] - taus[i - 1]) * (acc[i] + acc[i - 1]) / 2.0).sum();
    area / t
}

#[test]
fn auc_failure_rate_and_summary_on_hand_computed_errors() {
    let e = [0.02, 0.04, 0.08, 0.12];
    // AUC@t = mean(max(0, 1 − e/t)).
    assert!((auc(&e, 0.08) - (0.75 + 0.5) / 4.0).abs() < 1e-12);
    assert!((auc(&e, 0.10) - (0.8 + 0.6 + 0.2) / 4.0).abs() < 1e-12);
    for t in [0.08, 0.10] {
        assert!((auc(&e, t) - sampled_auc(&e, t)).abs() < 1e-3, "matches the reference's sampling");
    }
    // An error equal to the threshold is a failure.
    assert_eq!(failure_rate(&e, 0.08), 0.5);
    assert_eq!(failure_rate(&e, 0.10), 0.25);
    let s = Summary::of(&e);
    assert_eq!(s.faces, 4);
    assert!((s.nme_mean - 0.065).abs() < 1e-12);
    assert!((s.nme_std - 0.001475f64.sqrt()).abs() < 1e-12, "population std, as numpy");
    assert_eq!(s.at.len(), 2);
    assert!((s.at[0][1] - 0.3125).abs() < 1e-12 && s.at[0][2] == 0.5);
    assert!(auc(&[], 0.08) == 0.0 && Summary::of(&[]).nme_mean.is_nan());
}

#[test]
fn ced_is_monotone_and_ends_at_one() {
    let e = [0.05, 0.01, 0.2, 0.03, 0.03, 0.07];
    let c = ced(&e);
    assert_eq!(c.len(), 6);
    assert!(c.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][1] < w[1][1]));
    assert_eq!(c.last().unwrap(), &[0.2, 1.0]);
    assert_eq!(ced_at(&c, 0.0), 0.0);
    assert!((ced_at(&c, 0.03) - 0.5).abs() < 1e-12, "three of six at or below 0.03");
    assert!((ced_at(&c, 0.08) - 5.0 / 6.0).abs() < 1e-12);
    assert_eq!(ced_at(&c, 1.0), 1.0);
}

/// A list of: two faces, a repeated line, an unlabelled line, a degenerate face and a line
/// without a prediction.
#[test]
fn lists_score_each_distinct_face_once_and_list_exclusions() {
    use tsal::eval::score::score_list;
    use tsal::formats::{list, pts};
    let d = tempfile::tempdir().unwrap();
    let gt = face();
    pts::write(&d.path().join("a.pts"), &gt, pts::PtsFormat::Ibug).unwrap();
    pts::write(&d.path().join("b.pts"), &gt, pts::PtsFormat::Ibug).unwrap();
    let flat = Landmarks::all_visible(vec![[5.0, 5.0]; 68]);
    pts::write(&d.path().join("c.pts"), &flat, pts::PtsFormat::Ibug).unwrap();
    let text = "a.png a.pts 0 0 100 64\n\
                a.png a.pts 0 0 100 64\n\
                u.png None 0 0 100 64\n\
                b.png b.pts 0 0 100 64\n\
                c.png c.pts 0 0 100 64\n\
                e.png b.pts 0 0 100 64\n";
    let path = d.path().join("t.lst");
    let entries = list::parse(text, &path, &[]).unwrap();
    let p5 = Some(shifted(&gt, [3.0, 4.0])); // NME 5/60
    let p10 = Some(shifted(&gt, [6.0, 8.0])); // NME 10/60
    let preds = vec![p5.clone(), p5.clone(), None, p10, p5, None];
    let s = score_list(&entries, &preds, Normaliser::InterOcular, 68).unwrap();
    assert_eq!((s.duplicates, s.unlabelled, s.excluded, s.rows.len()), (1, 1, 2, 4));
    assert_eq!(s.summary.faces, 2);
    assert!((s.summary.nme_mean - 7.5 / 60.0).abs() < 1e-12);
    assert_eq!(s.rows[2].excluded, Some(Exclusion::Degenerate(0.0)));
    assert!(s.rows[2].line.ends_with("t.lst:5"), "{}", s.rows[2].line);
    assert!(
        matches!(&s.rows[3].excluded, Some(Exclusion::BadPrediction(m)) if m == "no prediction")
    );
    // A prediction list of the wrong length is an error, not a guess.
    assert!(score_list(&entries, &preds[..5], Normaliser::InterOcular, 68).is_err());
}

/// Predictions written as mirrored `.pts` files, or given as JSON or CSV, score exactly like the
/// predictions in memory; images with one file name in two folders stay apart.
#[test]
fn external_predictions_score_like_internal_ones() {
    use tsal::eval::predictions;
    use tsal::eval::score::score_list;
    use tsal::formats::{list, pts};
    let d = tempfile::tempdir().unwrap();
    let gt = face();
    pts::write(&d.path().join("g.pts"), &gt, pts::PtsFormat::Ibug).unwrap();
    let text = "data/v1/000001.png g.pts 0 0 100 64\n\
                data/v2/000001.png g.pts 0 0 100 64\n\
                data/v2/000002.png g.pts 0 0 100 64\n";
    let entries = list::parse(text, &d.path().join("t.lst"), &[]).unwrap();
    let root = predictions::image_root(&entries);
    assert_eq!(root, d.path().join("data"));
    assert_eq!(predictions::key(&entries[1].image, &root), "v2/000001.png");
    let preds: Vec<Option<Vec<[f64; 2]>>> = vec![
        Some(shifted(&gt, [0.25, -1.5])),
        Some(shifted(&gt, [3.0, 4.0])),
        None, // this method did not predict the last frame
    ];
    let internal = score_list(&entries, &preds, Normaliser::InterOcular, 68).unwrap();
    let read =
        |src: &std::path::Path| predictions::Source::open(src).and_then(|s| s.lookup(&entries, 68));
    // A folder of mirrored .pts files.
    let dir = d.path().join("pred");
    let files = predictions::write_dir(&dir, &entries, &preds).unwrap();
    assert_eq!(files[0].as_deref(), Some(dir.join("v1/000001.pts").as_path()));
    assert!(dir.join("v1/000001.pts").is_file() && dir.join("v2/000001.pts").is_file());
    assert_eq!(files[2], None);
    let from_dir = read(&dir).unwrap();
    // JSON keyed by image key; CSV with a header.
    let json: serde_json::Map<String, serde_json::Value> = [0, 1]
        .iter()
        .map(|&i| {
            (
                predictions::key(&entries[i].image, &root),
                serde_json::json!(preds[i].clone().unwrap()),
            )
        })
        .collect();
    std::fs::write(d.path().join("p.json"), serde_json::to_string(&json).unwrap()).unwrap();
    let mut csv = String::from("image,x1,y1\n");
    for i in [0, 1] {
        let k = predictions::key(&entries[i].image, &root);
        let nums: Vec<String> = preds[i]
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|p| [p[0], p[1]])
            .map(|v| v.to_string())
            .collect();
        csv += &format!("{k},{}\n", nums.join(","));
    }
    std::fs::write(d.path().join("p.csv"), csv).unwrap();
    for src in [dir.clone(), d.path().join("p.json"), d.path().join("p.csv")] {
        let p = read(&src).unwrap();
        let xy: Vec<Option<Vec<[f64; 2]>>> =
            p.iter().map(|p| p.as_ref().map(|p| p.xy.clone())).collect();
        let s = score_list(&entries, &xy, Normaliser::InterOcular, 68).unwrap();
        assert_eq!(s, internal, "{}", src.display());
        // Each face names the file (or file#key) its prediction came from.
        let named = p[1].as_ref().unwrap().source.clone();
        assert!(named.ends_with("v2/000001.pts") || named.ends_with("#v2/000001.png"), "{named}");
    }
    assert_eq!(from_dir[2], None);
    assert!((internal.rows[1].nme.unwrap() - 5.0 / 60.0).abs() < 1e-12);
    // Wrong point counts are errors naming the file in every format; so are unknown formats.
    std::fs::write(d.path().join("bad.csv"), "v1/000001.png,1,2,3,4\n").unwrap();
    let e = format!("{:#}", read(&d.path().join("bad.csv")).unwrap_err());
    assert!(e.contains("bad.csv#v1/000001.png") && e.contains("has 2 points, expected 68"), "{e}");
    std::fs::write(d.path().join("bad.json"), r#"{"v1/000001.png": [[1, 2]]}"#).unwrap();
    let e = format!("{:#}", read(&d.path().join("bad.json")).unwrap_err());
    assert!(e.contains("bad.json#v1/000001.png") && e.contains("has 1 points"), "{e}");
    let few = d.path().join("few");
    predictions::write_dir(&few, &entries[..1], &[Some(vec![[1.0, 2.0]; 67])]).unwrap();
    let e = format!("{:#}", read(&few).unwrap_err());
    assert!(e.contains("000001.pts") && e.contains("has 67 points, expected 68"), "{e}");
    let e = format!("{:#}", read(&d.path().join("t.lst")).unwrap_err());
    assert!(e.contains("--predictions"), "{e}");
}

fn report_of(list: &str, errors: &[f64], excluded: usize) -> tsal::eval::score::ListReport {
    use tsal::eval::score::{FaceRow, ListReport, ListScore};
    let mut rows: Vec<FaceRow> = errors
        .iter()
        .map(|&e| FaceRow {
            image: "i.png".into(),
            line: format!("{list}:1"),
            nme: Some(e),
            normaliser_px: Some(60.0),
            excluded: None,
            prediction: None,
            missing: false,
        })
        .collect();
    rows.extend((0..excluded).map(|_| FaceRow {
        image: "d.png".into(),
        line: format!("{list}:9"),
        nme: None,
        normaliser_px: None,
        excluded: Some(Exclusion::Degenerate(0.0)),
        prediction: None,
        missing: false,
    }));
    ListReport {
        list: format!("/x/{list}").into(),
        score: ListScore {
            normaliser: Normaliser::InterOcular,
            rows,
            summary: Summary::of(errors),
            excluded,
            unlabelled: 0,
            duplicates: 0,
            missing: 0,
            missing_policy: tsal::eval::score::Missing::Skip,
            jitter: None,
        },
    }
}

#[test]
fn benchmarks_pool_300vw_videos_frame_weighted_and_derive_300w_full() {
    use std::path::Path;
    use tsal::eval::benchmark::{aggregate, recognise, Benchmark};
    assert_eq!(
        recognise(Path::new("a/300w.test.common.DET")),
        Some(Benchmark::W300 { subset: "common".into(), boxes: "DET".into() })
    );
    assert_eq!(
        recognise(Path::new("300VW.test-3.lst410")),
        Some(Benchmark::Vw300 { category: 3, video: Some("410".into()) })
    );
    assert_eq!(
        recognise(Path::new("300VW.test-2.lst")),
        Some(Benchmark::Vw300 { category: 2, video: None })
    );
    for other in [
        "300VW.test-3.lst.sparse.10",
        "300VW.test-1.lst005.none",
        "300VW.train.lst001",
        "300VW.test-4.lst001",
        "300w.train.GTB",
        "300w.test.common.txt",
    ] {
        assert_eq!(recognise(Path::new(other)), None, "{other}");
    }
    let reports = vec![
        report_of("300VW.test-3.lst410", &[0.01, 0.03], 1),
        report_of("300VW.test-3.lst411", &[0.05; 4], 0),
        report_of("300VW.test-3.lst.sparse.10", &[0.5], 0),
        report_of("300w.test.common.GTB", &[0.02, 0.04], 0),
        report_of("300w.test.challenge.GTB", &[0.09], 0),
        report_of("my.list", &[0.3], 0),
    ];
    let agg = aggregate(&reports);
    let names: Vec<&str> = agg.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "300W common (GTB boxes)",
            "300W challenge (GTB boxes)",
            "300W full = common + challenge (GTB boxes)",
            "300VW category 3 (2 videos, frame-weighted)"
        ]
    );
    // Frame-weighted: (0.01 + 0.03 + 4·0.05) / 6 = 0.04 (a mean of video means would be 0.035).
    let c3 = &agg[3];
    assert_eq!((c3.summary.faces, c3.excluded, c3.lists.len()), (6, 1, 2));
    assert!((c3.summary.nme_mean - 0.04).abs() < 1e-12);
    let full = &agg[2];
    assert_eq!(full.summary.faces, 3);
    assert!((full.summary.nme_mean - 0.05).abs() < 1e-12);
    assert!((full.summary.at[0][2] - 1.0 / 3.0).abs() < 1e-12, "FR@0.08: one of three");
    // A full list given explicitly is reported as itself, not derived.
    let mut with_full = reports.clone();
    with_full.push(report_of("300w.test.full.GTB", &[0.07], 0));
    let agg = aggregate(&with_full);
    assert!(agg.iter().any(|a| a.name == "300W full (GTB boxes)" && a.summary.faces == 1));
    assert!(!agg.iter().any(|a| a.name.starts_with("300W full = ")));
}

/// The CED plot draws a face at 5 % as a vertical step halfway along a 0–10 % axis.
#[test]
fn ced_plot_puts_the_step_where_the_error_is() {
    use tsal::plot::ced::{ced_png, Curve};
    let one = Curve { label: "one face".into(), steps: ced(&[0.05]) };
    let img = ced_png(&[one], "inter-ocular", 0.10).unwrap();
    assert_eq!((img.width(), img.height()), (900, 600));
    let blue = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        p[2] > 120 && p[0] < 60
    };
    // Axes from x = 80 to 860: 5 % is x = 470. Mid-height, the only curve pixels are there.
    let xs: Vec<u32> = (81..860).filter(|&x| blue(x, 300)).collect();
    assert!(!xs.is_empty() && xs.iter().all(|&x| (468..=471).contains(&x)), "{xs:?}");
    // Left of the step the curve runs along 0 (y = 530), right of it along 1 (y = 50).
    assert!(blue(300, 530) || blue(300, 529));
    assert!(blue(700, 50) || blue(700, 51));
}

/// A face without a usable prediction: left out by default, a failure at NME = ∞ under
/// `--missing fail`; a non-finite coordinate means "no usable prediction" in every format
/// (`.pts`, CSV, and JSON with Python's `NaN`).
#[test]
fn missing_and_non_finite_predictions_are_one_thing_in_every_format() {
    use tsal::eval::predictions::{Prediction, Source};
    use tsal::eval::score::{read_annotations, score, Missing};
    use tsal::formats::{list, pts};
    let d = tempfile::tempdir().unwrap();
    let gt = face();
    pts::write(&d.path().join("g.pts"), &gt, pts::PtsFormat::Ibug).unwrap();
    let text = "a.png g.pts 0 0 100 64\nb.png g.pts 0 0 100 64\nc.png g.pts 0 0 100 64\n";
    let entries = list::parse(text, &d.path().join("t.lst"), &[]).unwrap();
    let gts = read_annotations(&entries, 68, 2).unwrap();
    let p = |xy: Vec<[f64; 2]>| Some(Prediction { xy, source: "m".into() });
    let mut nan = shifted(&gt, [3.0, 4.0]);
    nan[10] = [f64::NAN, 2.0];
    // a: 5 px (NME 5/60), b: a NaN point, c: nothing.
    let preds = vec![p(shifted(&gt, [3.0, 4.0])), p(nan.clone()), None];
    let skip = score(&entries, &gts, &preds, Normaliser::InterOcular, Missing::Skip).unwrap();
    assert_eq!((skip.summary.faces, skip.excluded, skip.missing), (1, 2, 2));
    // The one predicted face: 5/60 ≈ 0.083 fails at 0.08 and passes at 0.10.
    assert_eq!((skip.summary.at[0][2], skip.summary.at[1][2]), (1.0, 0.0));
    let fail = score(&entries, &gts, &preds, Normaliser::InterOcular, Missing::Fail).unwrap();
    assert_eq!((fail.summary.faces, fail.excluded, fail.missing), (3, 0, 2));
    assert!((fail.summary.nme_mean - 5.0 / 60.0).abs() < 1e-12, "the mean is over predicted faces");
    // FR@0.10: the two missing faces fail, the 5/60 ≈ 0.083 face passes; AUC@0.10 = (1 − 0.833)/3.
    assert!((fail.summary.at[1][2] - 2.0 / 3.0).abs() < 1e-12);
    assert!((fail.summary.at[1][1] - (1.0 - (5.0 / 60.0) / 0.1) / 3.0).abs() < 1e-12);
    assert_eq!(fail.rows[2].nme, Some(f64::INFINITY));
    assert!(fail.rows[1].missing && fail.rows[1].prediction.as_deref() == Some("m"));
    // The same NaN written as .pts, CSV and Python-style JSON reads back as that prediction.
    let k = |i: usize| format!("{}", entries[i].image.file_name().unwrap().to_string_lossy());
    let dir = d.path().join("pred");
    std::fs::create_dir(&dir).unwrap();
    let lm = |xy: &[[f64; 2]]| Landmarks::all_visible(xy.to_vec());
    pts::write(&dir.join("a.pts"), &lm(&shifted(&gt, [3.0, 4.0])), pts::PtsFormat::Ibug).unwrap();
    pts::write(&dir.join("b.pts"), &lm(&nan), pts::PtsFormat::Ibug).unwrap();
    let row = |xy: &[[f64; 2]]| {
        xy.iter().flat_map(|q| [q[0], q[1]]).map(|v| v.to_string()).collect::<Vec<_>>().join(",")
    };
    let csv = format!("{},{}\n{},{}\n", k(0), row(&shifted(&gt, [3.0, 4.0])), k(1), row(&nan));
    std::fs::write(d.path().join("p.csv"), csv).unwrap();
    let json_pts = |xy: &[[f64; 2]]| {
        let v: Vec<String> = xy
            .iter()
            .map(|q| {
                let f = |v: f64| if v.is_nan() { "NaN".to_string() } else { v.to_string() };
                format!("[{}, {}]", f(q[0]), f(q[1]))
            })
            .collect();
        format!("[{}]", v.join(", "))
    };
    let json = format!(
        "{{\"{}\": {}, \"{}\": {}}}",
        k(0),
        json_pts(&shifted(&gt, [3.0, 4.0])),
        k(1),
        json_pts(&nan)
    );
    assert!(json.contains("NaN"), "written as Python's json.dump does");
    std::fs::write(d.path().join("p.json"), json).unwrap();
    for src in [dir, d.path().join("p.csv"), d.path().join("p.json")] {
        let got = Source::open(&src).unwrap().lookup(&entries, 68).unwrap();
        let s = score(&entries, &gts, &got, Normaliser::InterOcular, Missing::Fail).unwrap();
        assert_eq!((s.summary.faces, s.missing), (3, 2), "{}", src.display());
        assert_eq!(s.summary, fail.summary, "{}", src.display());
    }
}

/// Jitter on a hand case: the movement of the predicted points that the annotated movement does
/// not explain, over consecutive frames of one video only (a repeated line does not break the
/// chain; a gap in the frame numbers, another video or an unscored face does).
#[test]
fn jitter_counts_consecutive_frames_of_one_video() {
    use tsal::eval::score::score_list;
    use tsal::formats::{list, pts};
    let d = tempfile::tempdir().unwrap();
    let gt = face();
    // The face moves 3 px right per frame.
    let at = |t: usize| Landmarks::all_visible(shifted(&gt, [3.0 * t as f64, 0.0]));
    let mut text = String::new();
    for (video, t) in [(1, 1), (1, 2), (1, 2), (1, 3), (1, 5), (1, 6), (2, 7), (2, 8)] {
        let dir = d.path().join(format!("{video:03}/extraction"));
        std::fs::create_dir_all(&dir).unwrap();
        let ann = dir.join(format!("{t:06}.pts"));
        pts::write(&ann, &at(t), pts::PtsFormat::Ibug).unwrap();
        let img = dir.join(format!("{t:06}.png"));
        text += &format!("{} {} 0 0 100 64\n", img.display(), ann.display());
    }
    let entries = list::parse(&text, &d.path().join("v.lst"), &[]).unwrap();
    // Errors per line: +5 px, +5, +5 (the repeat), −5, +5, +5, +5, −1 (x only).
    let err = [5.0, 5.0, 5.0, -5.0, 5.0, 5.0, 5.0, -1.0];
    let ts = [1, 2, 2, 3, 5, 6, 7, 8];
    let preds: Vec<_> = ts.iter().zip(err).map(|(&t, e)| Some(shifted(&at(t), [e, 0.0]))).collect();
    let s = score_list(&entries, &preds, Normaliser::InterOcular, 68).unwrap();
    let j = s.jitter.expect("a video list has jitter");
    // Pairs: 1→2 (0), 2→3 (10 px), 5→6 (0), 7→8 (6 px); 3→5 is a gap, 6→7 another video.
    assert_eq!(j.pairs, 4);
    assert!((j.mean - (10.0 + 6.0) / 60.0 / 4.0).abs() < 1e-12, "{j:?}");
    // Without a prediction for frame 2, neither of its pairs counts.
    let mut holes = preds.clone();
    holes[1] = None;
    holes[2] = None;
    let j = score_list(&entries, &holes, Normaliser::InterOcular, 68).unwrap().jitter.unwrap();
    assert_eq!(j.pairs, 2);
    assert!((j.mean - 6.0 / 60.0 / 2.0).abs() < 1e-12, "{j:?}");
    // Still images have none, even in a row.
    pts::write(&d.path().join("a.pts"), &gt, pts::PtsFormat::Ibug).unwrap();
    let text = "a.png a.pts 0 0 100 64\nb.png a.pts 0 0 100 64\n";
    let stills = list::parse(text, &d.path().join("s.lst"), &[]).unwrap();
    let p = Some(shifted(&gt, [1.0, 0.0]));
    let s = score_list(&stills, &[p.clone(), p], Normaliser::InterOcular, 68).unwrap();
    assert_eq!((s.summary.faces, s.jitter), (2, None));
}
