//! `metrics.jsonl`: records round trip, a writer killed mid-line, bad lines named by number,
//! cutting back to a snapshot's iteration, and non-finite losses.
use std::collections::BTreeMap;
use std::path::Path;
use tsal::run::metrics::{read, truncate_after, ListMetrics, MetricsWriter, Record};

fn per_role(role: &str, pairs: &[(&str, f64)]) -> BTreeMap<String, BTreeMap<String, f64>> {
    let inner = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    BTreeMap::from([(role.to_string(), inner)])
}

fn iter_record(epoch: usize, iter: u64, total: f64) -> Record {
    let mut losses = per_role("teacher", &[("heatmap", 0.5), ("total", total)]);
    losses.extend(per_role("student", &[("focal", 0.25), ("total", total / 2.0)]));
    Record::Iter {
        epoch,
        iter,
        losses,
        lr: per_role("teacher", &[("base", 5e-5), ("head", 1e-4)]),
        pairs: per_role("video", &[("static_px", 0.25), ("track_px_teacher", 0.5)]),
        frames_per_s: 123.5,
        data_wait_s: 0.75,
        elapsed_s: iter as f64 * 0.5,
    }
}

fn epoch_record(epoch: usize, iter: u64) -> Record {
    let lm = |role: &str, list: &str, nme: f64| ListMetrics {
        role: role.into(),
        list: list.into(),
        nme,
        auc_08: 0.5,
        fr_08: 0.125,
        auc_10: 0.625,
        fr_10: 0.0625,
        scored: 135,
    };
    Record::Epoch {
        epoch,
        iter,
        lists: vec![
            lm("teacher", "300w.test.common", 0.0425),
            lm("student", "300w.test.common", 0.05),
        ],
        mean_nme: BTreeMap::from([("teacher".into(), 0.0425), ("student".into(), 0.05)]),
        elapsed_s: 99.0,
    }
}

fn write_all(path: &Path, records: &[Record]) {
    let mut w = MetricsWriter::open(path).unwrap();
    for r in records {
        w.append(r).unwrap();
    }
}

#[test]
fn records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/metrics.jsonl");
    let records = vec![iter_record(0, 10, 2.0), iter_record(0, 20, 1.5), epoch_record(0, 20)];
    write_all(&path, &records[..2]);
    // A second writer appends (a resumed run).
    write_all(&path, &records[2..]);
    assert_eq!(read(&path).unwrap(), records);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().next().unwrap().starts_with(r#"{"kind":"iter","epoch":0,"iter":10,"#));
    assert!(text.lines().nth(2).unwrap().starts_with(r#"{"kind":"epoch","#));
    assert_eq!((records[2].iter(), records[2].epoch()), (20, 0));
}

#[test]
fn cut_short_last_line_is_ignored_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    write_all(&path, &[iter_record(0, 10, 2.0), iter_record(0, 20, 1.5)]);
    let full = std::fs::read_to_string(&path).unwrap();
    // kill -9 in the middle of the second line.
    let cut = &full[..full.len() - 40];
    std::fs::write(&path, cut).unwrap();
    assert_eq!(read(&path).unwrap(), vec![iter_record(0, 10, 2.0)]);
    // The next writer drops the fragment, so the new record gets a line of its own.
    write_all(&path, &[iter_record(0, 30, 1.0)]);
    assert_eq!(read(&path).unwrap(), vec![iter_record(0, 10, 2.0), iter_record(0, 30, 1.0)]);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    // A whole last record without its newline is kept, and completed by the next writer.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end()).unwrap();
    assert_eq!(read(&path).unwrap().len(), 2);
    write_all(&path, &[epoch_record(0, 30)]);
    assert_eq!(read(&path).unwrap().len(), 3);
}

#[test]
fn bad_line_in_the_middle_names_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    write_all(&path, &[iter_record(0, 10, 2.0), iter_record(0, 20, 1.5), iter_record(0, 30, 1.0)]);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = r#"{"kind":"iter","epoch":0"#;
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = format!("{:#}", read(&path).unwrap_err());
    assert!(err.contains("metrics.jsonl:2: "), "{err}");
    // A cut-short last line that still ends in a newline was not a killed write: an error.
    std::fs::write(&path, format!("{}\n{}\n", lines[0], &lines[2][..30])).unwrap();
    let err = format!("{:#}", read(&path).unwrap_err());
    assert!(err.contains("metrics.jsonl:2: "), "{err}");
    // An unknown kind is an error too.
    std::fs::write(&path, format!("{}\n{{\"kind\":\"step\",\"iter\":3}}\n", lines[0])).unwrap();
    let err = format!("{:#}", read(&path).unwrap_err());
    assert!(err.contains("metrics.jsonl:2: ") && err.contains("step"), "{err}");
}

#[test]
fn truncate_after_keeps_records_up_to_the_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let records = vec![
        iter_record(0, 10, 2.0),
        iter_record(0, 20, 1.5),
        epoch_record(0, 20),
        iter_record(1, 30, 1.25),
        epoch_record(1, 40),
    ];
    write_all(&path, &records);
    // And a fragment from a killed writer.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"kind":"iter","ep"#);
    std::fs::write(&path, &text).unwrap();
    truncate_after(&path, 20).unwrap();
    assert_eq!(read(&path).unwrap(), records[..3].to_vec());
    let kept = std::fs::read_to_string(&path).unwrap();
    assert_eq!(kept, text.lines().take(3).map(|l| format!("{l}\n")).collect::<String>());
    truncate_after(&path, 20).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
    truncate_after(&path, 9).unwrap();
    assert_eq!(read(&path).unwrap(), vec![]);
    // A missing file stays missing.
    let none = dir.path().join("none.jsonl");
    truncate_after(&none, 5).unwrap();
    assert!(!none.exists());
}

#[test]
fn non_finite_numbers_are_written_as_null_and_read_as_nan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut r = iter_record(3, 700, f64::NAN);
    if let Record::Iter { losses, frames_per_s, .. } = &mut r {
        losses.get_mut("student").unwrap().insert("focal".into(), f64::INFINITY);
        *frames_per_s = f64::NEG_INFINITY;
    }
    let mut e = epoch_record(3, 700);
    if let Record::Epoch { lists, mean_nme, .. } = &mut e {
        lists[0].nme = f64::NAN;
        mean_nme.insert("teacher".into(), f64::NAN);
    }
    write_all(&path, &[r, e]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""total":null"#) && text.contains(r#""focal":null"#), "{text}");
    assert!(text.contains(r#""frames_per_s":null"#) && text.contains(r#""nme":null"#), "{text}");
    let back = read(&path).unwrap();
    let Record::Iter { losses, frames_per_s, lr, .. } = &back[0] else { panic!("{back:?}") };
    assert!(losses["teacher"]["total"].is_nan());
    assert!(losses["student"]["focal"].is_nan());
    assert!(frames_per_s.is_nan());
    assert_eq!(losses["teacher"]["heatmap"], 0.5);
    assert!(losses["student"]["total"].is_nan());
    assert_eq!(lr["teacher"]["head"], 1e-4);
    let Record::Epoch { lists, mean_nme, .. } = &back[1] else { panic!("{back:?}") };
    assert!(lists[0].nme.is_nan() && mean_nme["teacher"].is_nan());
    assert_eq!((lists[1].nme, mean_nme["student"]), (0.05, 0.05));
}
