//! Evaluation reports: `report.md` (a table a person reads, with every exclusion
//! named), `report.json` (everything), `per_image.csv` (one row per face). Every report names
//! its normaliser; NME, AUC and failure rates print as % (× 100) in the tables; JSON and CSV
//! keep fractions.
use super::benchmark::{aggregate, Aggregate};
use super::curves::{ced, Summary, THRESHOLDS};
use super::jitter::Jitter;
pub use super::score::ListReport;
use super::score::Missing;
use crate::fsutil::{write_atomic, Kind};
use crate::plot::ced::{ced_png, Curve};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// An evaluation output folder: `tsal eval` replaces one it wrote (its marker, or the report
/// files of an earlier tsal) and refuses any other non-empty folder.
pub const KIND: Kind = Kind { name: "tsal eval", legacy: Some(is_unmarked_report) };

fn is_unmarked_report(dir: &Path) -> bool {
    ["", "teacher", "student"].iter().any(|sub| {
        dir.join(sub).join("report.json").is_file() && dir.join(sub).join("per_image.csv").is_file()
    })
}

const HEADER: &str = "| faces | excluded | NME % | std | AUC@0.08 % | FR@0.08 % | AUC@0.10 % | \
                      FR@0.10 % | jitter % | frame pairs |";
const RULE: &str = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// `| faces | excluded | NME | std | AUC | FR | AUC | FR | jitter | pairs |` cells of one row.
fn cells(m: &Summary, excluded: usize, jitter: Option<&Jitter>) -> String {
    let mut s = format!(" {} | {} |", m.faces, excluded);
    if m.faces == 0 {
        s += " – | – | – | – | – | – |";
    } else {
        let _ = write!(s, " {:.3} | {:.3} |", 100.0 * m.nme_mean, 100.0 * m.nme_std);
        for [_, auc, fr] in &m.at {
            let _ = write!(s, " {:.2} | {:.2} |", 100.0 * auc, 100.0 * fr);
        }
    }
    match jitter {
        Some(j) => s + &format!(" {:.3} | {} |", 100.0 * j.mean, j.pairs),
        None => s + " – | 0 |",
    }
}

/// The Markdown report: a header naming the normaliser and what was evaluated, `notes` (one
/// line each: coordinate convention, warnings), one table row per list, then every excluded
/// face with its list line and reason.
pub fn markdown(
    title: &str,
    notes: &[String],
    reports: &[ListReport],
    benchmarks: &[Aggregate],
) -> String {
    let mut s = format!("# {title}\n\n");
    let norms: Vec<&str> = {
        let mut v: Vec<&str> = reports.iter().map(|r| r.score.normaliser.name()).collect();
        v.dedup();
        v
    };
    let _ = writeln!(
        s,
        "Normaliser: {}. NME, AUC, failure rates and jitter in %. Jitter (video lists): the mean \
         over consecutive frames of the predicted points' movement that the annotated movement \
         does not explain, ÷ the normaliser.\n",
        norms.join(", ")
    );
    for n in notes {
        let _ = writeln!(s, "{n}\n");
    }
    let _ = writeln!(s, "| list {HEADER}\n|---{RULE}");
    for r in reports {
        let row = cells(&r.score.summary, r.score.excluded, r.score.jitter.as_ref());
        let _ = writeln!(s, "| {} |{row}", r.name());
    }
    if !benchmarks.is_empty() {
        let _ = writeln!(s, "\n| benchmark {HEADER}\n|---{RULE}");
        for b in benchmarks {
            let _ =
                writeln!(s, "| {} |{}", b.name, cells(&b.summary, b.excluded, b.jitter.as_ref()));
        }
    }
    let excluded: Vec<String> = reports
        .iter()
        .flat_map(|r| r.score.rows.iter())
        .filter_map(|row| {
            row.excluded.as_ref().map(|x| format!("- {} ({}): {x}", row.line, row.image.display()))
        })
        .collect();
    let skipped: Vec<String> = reports
        .iter()
        .filter(|r| r.score.unlabelled + r.score.duplicates + r.score.missing > 0)
        .map(|r| {
            let mut line = format!(
                "- {}: {} unlabelled lines, {} repeated lines (scored once)",
                r.list.display(),
                r.score.unlabelled,
                r.score.duplicates
            );
            if r.score.missing > 0 {
                let _ = write!(
                    line,
                    ", {} faces without a usable prediction ({})",
                    r.score.missing,
                    match r.score.missing_policy {
                        Missing::Skip => "left out; --missing fail counts them as failures",
                        Missing::Fail => "counted as failures at NME = ∞",
                    }
                );
            }
            line
        })
        .collect();
    if !excluded.is_empty() {
        let _ = writeln!(s, "\nExcluded faces ({}), not in any mean:\n", excluded.len());
        s += &excluded.join("\n");
        s += "\n";
    }
    if !skipped.is_empty() {
        s += "\nNot scored:\n\n";
        s += &skipped.join("\n");
        s += "\n";
    }
    s
}

/// One row per face: list, image, list line, NME (fraction), normaliser in pixels, exclusion,
/// and the prediction file (or `file#key`) that was matched.
pub fn per_image_csv(reports: &[ListReport]) -> String {
    let mut s = String::from("list,image,line,nme,normaliser_px,excluded,prediction\n");
    let q = |v: &str| {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    for r in reports {
        for row in &r.score.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                q(&r.list.display().to_string()),
                q(&row.image.display().to_string()),
                q(&row.line),
                row.nme.map(|v| v.to_string()).unwrap_or_default(),
                row.normaliser_px.map(|v| v.to_string()).unwrap_or_default(),
                q(&row.excluded.as_ref().map(|x| x.to_string()).unwrap_or_default()),
                q(row.prediction.as_deref().unwrap_or(""))
            );
        }
    }
    s
}

/// Write `report.md`, `report.json` (`meta`, every list and the benchmark aggregates),
/// `per_image.csv` and `ced.png` into `dir`; returns the Markdown report.
pub fn write(
    dir: &Path,
    title: &str,
    notes: &[String],
    meta: serde_json::Value,
    reports: &[ListReport],
) -> Result<String> {
    let benchmarks: Vec<Aggregate> = aggregate(reports);
    let md = markdown(title, notes, reports, &benchmarks);
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    let json = serde_json::json!({ "meta": meta, "lists": reports, "benchmarks": benchmarks });
    write_atomic(&dir.join("report.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    write_atomic(&dir.join("per_image.csv"), per_image_csv(reports).as_bytes())?;
    let label = |name: &str, m: &Summary| match m.faces {
        0 => format!("{name} (no faces)"),
        _ => format!("{name} ({:.2}%)", 100.0 * m.nme_mean),
    };
    let mut curves: Vec<Curve> = reports
        .iter()
        .map(|r| Curve { label: label(&r.name(), &r.score.summary), steps: ced(&r.score.errors()) })
        .collect();
    // Pooled 300VW categories add a curve; 300W sets are lists already.
    for b in benchmarks.iter().filter(|b| b.lists.len() > 1) {
        let errors: Vec<f64> = reports
            .iter()
            .filter(|r| b.lists.contains(&r.list))
            .flat_map(|r| r.score.errors())
            .collect();
        curves.push(Curve { label: label(&b.name, &b.summary), steps: ced(&errors) });
    }
    let normaliser = reports.first().map(|r| r.score.normaliser.name()).unwrap_or("");
    let x_max = THRESHOLDS.iter().copied().fold(0.0, f64::max);
    let png = ced_png(&curves, normaliser, x_max)?;
    let path = dir.join("ced.png");
    let mut bytes = Vec::new();
    png.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    write_atomic(&path, &bytes)?;
    Ok(md)
}
