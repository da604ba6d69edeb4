//! Training curves: `curves_png` on synthetic records (both panels drawn, Iter-only and
//! one-epoch runs, diverged losses, several runs) and the `tsal plot` command.
use image::RgbImage;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use tsal::plot::training::WIDTH;
use tsal::plot::training::{curves_png, height, write_run_curves, LOSS_AREA, NME_AREA, PALETTE};
use tsal::run::metrics::{ListMetrics, MetricsWriter, Record};

const ROLES: [&str; 2] = ["teacher", "student"];
const TERMS: [&str; 3] = ["heatmap", "offset", "total"];
const LISTS: [&str; 2] = ["300w.test.common", "300w.test.challenge"];

/// Iter records every 10 iterations over `epochs` epochs of 100 iterations (losses decaying
/// from about 10 to 1, a different level per role and term), and an Epoch record at the end of
/// each of the first `evaluated` epochs (NME 8 % falling by 1 % an epoch for the teacher on the
/// first list; others higher).
fn records(epochs: usize, evaluated: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for epoch in 0..epochs {
        for step in 1..=10u64 {
            let iter = epoch as u64 * 100 + step * 10;
            let losses = ROLES
                .iter()
                .enumerate()
                .map(|(r, role)| {
                    let terms = TERMS
                        .iter()
                        .enumerate()
                        .map(|(t, term)| {
                            let v = (1.0 + 3.0 * r as f64 + t as f64)
                                * 10f64.powf(-(iter as f64) / 300.0);
                            (term.to_string(), 3.0 * v)
                        })
                        .collect();
                    (role.to_string(), terms)
                })
                .collect();
            let lr = BTreeMap::from([("teacher".into(), BTreeMap::from([("base".into(), 5e-5)]))]);
            out.push(Record::Iter {
                epoch,
                iter,
                losses,
                lr,
                pairs: Default::default(),
                frames_per_s: 100.0,
                data_wait_s: 0.1,
                elapsed_s: iter as f64,
            });
        }
        if epoch < evaluated {
            let mut lists = Vec::new();
            for (r, role) in ROLES.iter().enumerate() {
                for (l, list) in LISTS.iter().enumerate() {
                    lists.push(ListMetrics {
                        role: role.to_string(),
                        list: list.to_string(),
                        nme: (8.0 - epoch as f64 + 0.5 * r as f64 + 1.5 * l as f64) / 100.0,
                        auc_08: 0.5,
                        fr_08: 0.1,
                        auc_10: 0.6,
                        fr_10: 0.05,
                        scored: 100,
                    });
                }
            }
            out.push(Record::Epoch {
                epoch,
                iter: (epoch as u64 + 1) * 100,
                lists,
                mean_nme: BTreeMap::new(),
                elapsed_s: 0.0,
            });
        }
    }
    out
}

/// Pixels of exactly `c` inside `area` = [x0, y0, x1, y1].
fn count(img: &RgbImage, area: [u32; 4], c: [u8; 3]) -> usize {
    let [x0, y0, x1, y1] = area;
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0 == c)
        .count()
}

#[test]
fn both_panels_hold_curves() {
    let img = curves_png(&[("run".into(), records(3, 3))]).unwrap();
    // 6 loss series and 4 NME series in two legend columns: 3 rows under the taller panel.
    assert_eq!((img.width(), img.height()), (1600, 580));
    assert_eq!((WIDTH, height(3)), (1600, 580));
    // The first series of each panel (teacher total; teacher on the first list) is drawn inside
    // its plot area, and the other series too.
    for area in [LOSS_AREA, NME_AREA] {
        let n = count(&img, area, PALETTE[0]);
        assert!(n > 40, "{n} pixels of the first colour in {area:?}");
    }
    for c in &PALETTE[1..6] {
        assert!(count(&img, LOSS_AREA, *c) > 40, "loss colour {c:?}");
    }
    for c in &PALETTE[1..4] {
        assert!(count(&img, NME_AREA, *c) > 20, "NME colour {c:?}");
        assert_eq!(count(&img, NME_AREA, PALETTE[4]), 0, "only four NME series");
    }
    // Epochs 0..2 sit at 1/6, 3/6 and 5/6 of the NME x axis (from -0.5 to 2.5); the teacher's
    // first list has a marker on each (8, 7, 6 % on a 0..10.8 % axis: max 10 % plus 8 %).
    let [x0, y0, x1, y1] = NME_AREA.map(|v| v as f64);
    for (e, nme) in [(0.0, 8.0), (1.0, 7.0), (2.0, 6.0)] {
        let x = x0 + (x1 - x0) * (e + 0.5) / 3.0;
        let y = y1 - (y1 - y0) * nme / 10.8;
        assert_eq!(img.get_pixel(x.round() as u32, y.round() as u32).0, PALETTE[0], "epoch {e}");
    }
    // Legend samples are outside the plot areas, under them.
    let legend = [0, NME_AREA[3] + 40, WIDTH, 580];
    assert!(count(&img, legend, PALETTE[5]) > 10);
}

#[test]
fn iter_records_only_say_no_evaluation_yet() {
    let img = curves_png(&[("run".into(), records(1, 0))]).unwrap();
    assert_eq!((img.width(), img.height()), (1600, height(3)));
    assert!(count(&img, LOSS_AREA, PALETTE[0]) > 40);
    for c in PALETTE.iter().take(11) {
        assert_eq!(count(&img, NME_AREA, *c), 0, "colour {c:?} in the empty NME panel");
    }
    // The message, in grey, in the middle of the NME panel.
    assert!(count(&img, NME_AREA, [110, 110, 110]) > 100);
    // Nothing at all still draws.
    let img = curves_png(&[("run".into(), Vec::new())]).unwrap();
    assert_eq!((img.width(), img.height()), (1600, height(1)));
    assert!(count(&img, LOSS_AREA, [110, 110, 110]) > 100);
}

#[test]
fn one_epoch_is_drawn_as_points() {
    let img = curves_png(&[("run".into(), records(1, 1))]).unwrap();
    // The teacher's first list: one marker at the centre of the x axis.
    let [x0, _, x1, y1] = NME_AREA;
    let x = (x0 + x1) / 2;
    let column = (NME_AREA[1]..y1).filter(|&y| img.get_pixel(x, y).0 == PALETTE[0]).count();
    assert!((5..=8).contains(&column), "{column} pixels of the marker in its column");
    assert!(count(&img, NME_AREA, PALETTE[3]) > 15);
}

#[test]
fn diverged_losses_leave_gaps() {
    let mut recs = records(2, 1);
    for r in recs.iter_mut().skip(3).take(4) {
        if let Record::Iter { losses, .. } = r {
            losses.get_mut("teacher").unwrap().insert("total".into(), f64::NAN);
            losses.get_mut("teacher").unwrap().insert("heatmap".into(), 0.0);
        }
    }
    let img = curves_png(&[("run".into(), recs)]).unwrap();
    assert!(count(&img, LOSS_AREA, PALETTE[0]) > 40);
}

/// `recs` with every loss and NME multiplied by `f` (another run, off the first one's lines).
fn scaled(mut recs: Vec<Record>, f: f64) -> Vec<Record> {
    for r in &mut recs {
        match r {
            Record::Iter { losses, .. } => {
                losses.values_mut().flat_map(|t| t.values_mut()).for_each(|v| *v *= f)
            }
            Record::Epoch { lists, .. } => lists.iter_mut().for_each(|l| l.nme *= f),
        }
    }
    recs
}

#[test]
fn several_runs_share_colours_and_differ_in_style() {
    let one = curves_png(&[("a".into(), records(3, 3))]).unwrap();
    let b = scaled(records(2, 2), 1.25);
    let two = curves_png(&[("a".into(), records(3, 3)), ("b".into(), b)]).unwrap();
    // 12 loss series, 6 rows; the second run adds pixels of the same colours (dashed).
    assert_eq!(two.height(), height(6));
    assert!(count(&two, LOSS_AREA, PALETTE[0]) > count(&one, LOSS_AREA, PALETTE[0]) + 20);
    assert!(count(&two, NME_AREA, PALETTE[0]) > count(&one, NME_AREA, PALETTE[0]) + 20);
    assert_eq!(count(&two, LOSS_AREA, PALETTE[6]), 0, "still six loss colours");
}

fn tsal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsal")).args(args).output().expect("run tsal")
}

fn fake_run(dir: &Path, recs: &[Record]) {
    let mut w = MetricsWriter::open(&dir.join("metrics.jsonl")).unwrap();
    for r in recs {
        w.append(r).unwrap();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plot_command() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, empty) = (tmp.path().join("seed1"), tmp.path().join("seed2"), tmp.path().join("x"));
    fake_run(&a, &records(3, 3));
    fake_run(&b, &records(2, 1));
    std::fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("cmp.png");
    let o = tsal(&["plot", s(&a), s(&b), "--out", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1600, height(6)));
    assert!(count(&img, NME_AREA, PALETTE[0]) > 40);
    // Several runs need --out.
    let o = tsal(&["plot", s(&a), s(&b)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--out"), "{err}");
    assert!(!a.join("curves.png").exists() && !b.join("curves.png").exists());
    // A folder without metrics.jsonl is named, on one line.
    let o = tsal(&["plot", s(&a), s(&empty), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(s(&empty)) && err.contains("metrics.jsonl"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // One run: RUN_DIR/curves.png by default.
    let o = tsal(&["plot", s(&b)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(b.join("curves.png")).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1600, height(3)));
}

#[test]
fn write_run_curves_writes_curves_png() {
    let tmp = tempfile::tempdir().unwrap();
    fake_run(tmp.path(), &records(2, 2));
    write_run_curves(tmp.path()).unwrap();
    let img = image::open(tmp.path().join("curves.png")).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (WIDTH, height(3)));
    assert!(count(&img, NME_AREA, PALETTE[0]) > 20);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}
