//! Validation of list files: every line parses, every annotation reads with a consistent
//! point count, every image exists and decodes. Used by `tsal lists check`.
use crate::formats::list::{self, ListEntry, PathMap};
use crate::formats::pts;
use crate::parallel;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Expected landmarks per face; by default the first annotation's count.
    pub num_pts: Option<usize>,
    /// Decode every image fully (default); otherwise only read its header.
    pub header_only: bool,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

/// What one list holds and what is wrong with it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ListReport {
    pub list: PathBuf,
    pub lines: usize,
    pub labelled: usize,
    pub unlabelled: usize,
    /// Distinct video folders (folders whose frames are named by number, as 300VW's
    /// `extraction/000001.png`).
    pub videos: usize,
    /// Distinct image files.
    pub images: usize,
    pub missing_files: usize,
    /// Landmarks per face (None when the list has no readable annotation).
    pub num_pts: Option<usize>,
    /// One message per problem, `file:line: reason`, in line order.
    pub problems: Vec<String>,
}

impl ListReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check one list file.
pub fn check_list(path: &Path, maps: &[PathMap], opts: &CheckOptions) -> ListReport {
    let mut rep = ListReport { list: path.to_path_buf(), ..Default::default() };
    let text = match crate::formats::text::read(path, "list") {
        Ok(t) => t,
        Err(e) => {
            rep.problems.push(format!("{e:#}"));
            return rep;
        }
    };
    let mut entries: Vec<ListEntry> = Vec::new();
    for r in list::parse_lines(&text, path, maps) {
        match r {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => {
                rep.lines += 1;
                rep.problems.push(format!("{e:#}"));
            }
        }
    }
    rep.lines += entries.len();
    rep.labelled = entries.iter().filter(|e| e.is_labelled()).count();
    rep.unlabelled = entries.len() - rep.labelled;
    rep.images = entries.iter().map(|e| &e.image).collect::<BTreeSet<_>>().len();
    rep.videos = entries.iter().filter_map(|e| e.video()).collect::<BTreeSet<_>>().len();

    // Each distinct image and annotation is checked once, on worker threads.
    let outcomes = check_files(&entries, opts);
    let mut expected = opts.num_pts;
    for (e, o) in entries.iter().zip(outcomes) {
        if let Err(msg) = o.image {
            rep.missing_files += o.image_missing as usize;
            rep.problems.push(format!("{}: image {}: {msg}", e.origin, e.image.display()));
        }
        match o.annotation {
            None => {}
            Some(Err(msg)) => {
                rep.missing_files += o.annotation_missing as usize;
                rep.problems.push(format!("{}: {msg}", e.origin));
            }
            Some(Ok(n)) => match expected {
                None => expected = Some(n),
                Some(k) if k != n => rep.problems.push(format!(
                    "{}: annotation {} has {n} points, expected {k}",
                    e.origin,
                    e.annotation.as_deref().unwrap_or(Path::new("?")).display()
                )),
                Some(_) => {}
            },
        }
    }
    rep.num_pts = expected;
    rep
}

struct FileOutcome {
    image: Result<(), String>,
    image_missing: bool,
    /// Number of points, for labelled entries.
    annotation: Option<Result<usize, String>>,
    annotation_missing: bool,
}

fn check_files(entries: &[ListEntry], opts: &CheckOptions) -> Vec<FileOutcome> {
    let threads = if opts.threads == 0 { parallel::default_threads() } else { opts.threads };
    // Decode each distinct image once; the 300W reference lists repeat every image 10 times.
    let distinct: Vec<&Path> =
        entries.iter().map(|e| e.image.as_path()).collect::<BTreeSet<_>>().into_iter().collect();
    // The closures never fail (each outcome is data), so `map` returns every result.
    let results = parallel::map(&distinct, threads, None, |p| Ok(check_image(p, opts.header_only)))
        .unwrap_or_default();
    let by_path: std::collections::HashMap<&Path, &(Result<(), String>, bool)> =
        distinct.iter().copied().zip(results.iter()).collect();
    let ann = parallel::map(entries, threads, None, |e| {
        Ok(e.annotation.as_ref().map(|a| match pts::read(a, opts.num_pts) {
            Ok(lm) => (Ok(lm.len()), false),
            Err(err) => (Err(format!("{err:#}")), !a.exists()),
        }))
    })
    .unwrap_or_default();
    entries
        .iter()
        .zip(ann)
        .map(|(e, a)| {
            let (image, missing) = by_path[e.image.as_path()].clone();
            FileOutcome {
                image,
                image_missing: missing,
                annotation_missing: a.as_ref().is_some_and(|x| x.1),
                annotation: a.map(|x| x.0),
            }
        })
        .collect()
}

/// `(Ok | Err(reason), missing?)`.
fn check_image(path: &Path, header_only: bool) -> (Result<(), String>, bool) {
    if !path.is_file() {
        return (Err("file not found".into()), true);
    }
    let r = if header_only {
        image::image_dimensions(path).map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
    } else {
        crate::formats::image_io::decode(path).map(|_| ())
    };
    (r.map_err(|e| format!("does not decode: {e:#}")), false)
}

/// Check several lists.
pub fn check_lists(paths: &[PathBuf], maps: &[PathMap], opts: &CheckOptions) -> Vec<ListReport> {
    paths.iter().map(|p| check_list(p, maps, opts)).collect()
}

/// The problems (at most `max_problems` per list) on stderr, then one row per list and a
/// total on stdout.
pub fn print_table(reports: &[ListReport], max_problems: usize) {
    for r in reports {
        for p in r.problems.iter().take(max_problems) {
            eprintln!("{p}");
        }
        if r.problems.len() > max_problems {
            eprintln!(
                "{}: … and {} more problems",
                r.list.display(),
                r.problems.len() - max_problems
            );
        }
    }
    let name_w =
        reports.iter().map(|r| r.list.display().to_string().len()).max().unwrap_or(4).max(5);
    let row = |cells: [String; 9]| {
        let [name, rest @ ..] = cells;
        let widths = [7, 8, 10, 6, 7, 4, 7, 8];
        let rest: Vec<String> = rest.iter().zip(widths).map(|(c, w)| format!("{c:>w$}")).collect();
        println!("{name:<name_w$}  {}", rest.join(" "));
    };
    let heads = [
        "list",
        "lines",
        "labelled",
        "unlabelled",
        "videos",
        "images",
        "pts",
        "missing",
        "problems",
    ];
    row(heads.map(String::from));
    for r in reports {
        let pts = r.num_pts.map_or("-".to_string(), |n| n.to_string());
        let n = [r.lines, r.labelled, r.unlabelled, r.videos, r.images];
        let [a, b, c, d, e] = n.map(|v| v.to_string());
        row([
            r.list.display().to_string(),
            a,
            b,
            c,
            d,
            e,
            pts,
            r.missing_files.to_string(),
            r.problems.len().to_string(),
        ]);
    }
    if reports.len() > 1 {
        let sum = |f: fn(&ListReport) -> usize| reports.iter().map(f).sum::<usize>().to_string();
        row([
            format!("total ({} lists)", reports.len()),
            sum(|r| r.lines),
            sum(|r| r.labelled),
            sum(|r| r.unlabelled),
            String::new(),
            String::new(),
            String::new(),
            sum(|r| r.missing_files),
            sum(|r| r.problems.len()),
        ]);
    }
}
