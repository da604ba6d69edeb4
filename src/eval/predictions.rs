//! Predictions on disk: tsal writes its own as `.pts` files mirroring the images,
//! and reads predictions of any other method the same way, or from one JSON or CSV file, so
//! every method is scored by the same code.
//!
//! An image is found by the **longest tail of its path** present in the source: for
//! `/data/300W/helen/testset/1.jpg` the keys tried are `data/300W/helen/testset/1.jpg`, …,
//! `helen/testset/1.jpg`, `testset/1.jpg`, `1.jpg` (and the full path as written), so one
//! folder or file serves several lists, and frames with one name in many videos
//! (`514/extraction/000001.png`) stay apart as long as the source keeps their folders.
//! * A folder holds `KEY` with the extension replaced by `.pts` (300W `.pts` or SBR format);
//!   tsal writes the images' paths under the folder all evaluated images share.
//! * A `.json` file maps keys to `[[x, y], …]`.
//! * A `.csv` file has one row per image: `KEY,x1,y1,x2,y2,…` (a first row starting with
//!   `image` is a header).
//!
//! In every format a prediction with another number of points than the model's is an error
//! naming the file (and key), and a non-finite coordinate (`nan`, `inf`, Python's `NaN` in
//! JSON) marks a face the method gave up on: scored as a face without prediction.
//! Coordinates are taken in the annotations' convention (300-W's `.pts` are 1-based, as Matlab
//! writes them); [`Prediction::shift`] moves 0-based predictions into it (`--prediction_origin`).
use crate::formats::list::ListEntry;
use crate::formats::pts;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// One face's predicted points (original-image pixels) and where they were found.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub xy: Vec<[f64; 2]>,
    /// A file, or `file#key` for a row of a JSON or CSV table.
    pub source: String,
}

impl Prediction {
    /// Add `d` pixels to every coordinate.
    pub fn shift(&mut self, d: f64) {
        for p in &mut self.xy {
            p[0] += d;
            p[1] += d;
        }
    }
}

/// The deepest folder containing every image of `entries` (absolute, `.` and `..` resolved).
pub fn image_root(entries: &[ListEntry]) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let folder = |e: &ListEntry| -> Vec<std::ffi::OsString> {
        let abs = if e.image.is_absolute() { e.image.clone() } else { cwd.join(&e.image) };
        let mut out = Vec::new();
        for c in abs.parent().unwrap_or(&abs).components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c.as_os_str().to_os_string()),
            }
        }
        out
    };
    let Some(first) = entries.first() else { return cwd };
    let mut common = folder(first);
    for e in &entries[1..] {
        let c = folder(e);
        let n = common.iter().zip(&c).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    common.iter().collect()
}

/// The tails of `image`'s path, longest first, `/`-separated (`.` and `..` resolved against
/// the current folder).
pub fn tails(image: &Path) -> Vec<String> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = if image.is_absolute() { image.to_path_buf() } else { cwd.join(image) };
    let mut parts: Vec<String> = Vec::new();
    for c in abs.components() {
        match c {
            Component::Normal(x) => parts.push(x.to_string_lossy().to_string()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    (0..parts.len()).map(|i| parts[i..].join("/")).collect()
}

/// The key of `image` under `root`.
pub fn key(image: &Path, root: &Path) -> String {
    let rel = crate::fsutil::relative_path(image, root);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Where the `.pts` of `image` goes in folder `dir`.
pub fn pts_path(dir: &Path, image: &Path, root: &Path) -> PathBuf {
    dir.join(key(image, root)).with_extension("pts")
}

/// Write one `.pts` per line of `entries` (`None` = nothing to write) into `dir`, mirroring
/// the images under their common folder (pass the entries of every evaluated list at once so
/// they share one folder). Returns each line's file.
pub fn write_dir(
    dir: &Path,
    entries: &[ListEntry],
    preds: &[Option<Vec<[f64; 2]>>],
) -> Result<Vec<Option<PathBuf>>> {
    let root = image_root(entries);
    let mut written = Vec::with_capacity(entries.len());
    for (e, p) in entries.iter().zip(preds) {
        let Some(p) = p else {
            written.push(None);
            continue;
        };
        let path = pts_path(dir, &e.image, &root);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        pts::write(&path, &pts::Landmarks::all_visible(p.clone()), pts::PtsFormat::Ibug)?;
        written.push(Some(path));
    }
    Ok(written)
}

/// Another method's predictions, opened once for every list scored against them.
pub enum Source {
    /// A folder of `.pts` files.
    Dir(PathBuf),
    /// A JSON or CSV file, parsed: key → points (non-finite values kept).
    Table { path: PathBuf, rows: HashMap<String, Vec<[f64; 2]>> },
}

impl Source {
    /// Open `path`: a folder, a `.json` or a `.csv` file.
    pub fn open(path: &Path) -> Result<Source> {
        if path.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let name = path.display();
        let format = match path.extension().and_then(|x| x.to_str()) {
            Some("json") => parse_json,
            Some("csv") => parse_csv,
            _ if !path.exists() => bail!("--predictions {name}: no such file or folder"),
            _ => bail!(
                "--predictions {name}: expected a folder of .pts files, a .json or a .csv file"
            ),
        };
        let text = crate::formats::text::read(path, "predictions")
            .with_context(|| format!("--predictions {name}"))?;
        Ok(Source::Table { path: path.to_path_buf(), rows: format(&text, path)? })
    }

    /// The prediction of every line of `entries` (`None` where the source has none). A
    /// prediction file that is the line's annotation file itself is refused: scoring the
    /// ground truth against itself would report a perfect method.
    pub fn lookup(&self, entries: &[ListEntry], num_pts: usize) -> Result<Vec<Option<Prediction>>> {
        entries.iter().map(|e| self.find(e, num_pts)).collect()
    }

    fn find(&self, e: &ListEntry, num_pts: usize) -> Result<Option<Prediction>> {
        let count = |n: usize, what: &str| -> Result<()> {
            ensure!(
                n == num_pts,
                "{what}: the prediction has {n} points, expected {num_pts} (--num_pts)"
            );
            Ok(())
        };
        match self {
            Source::Dir(dir) => {
                let Some(p) = tails(&e.image)
                    .into_iter()
                    .map(|t| dir.join(t).with_extension("pts"))
                    .find(|p| p.is_file())
                else {
                    return Ok(None);
                };
                if let Some(a) = &e.annotation {
                    if same_file(&p, a) {
                        bail!(
                            "--predictions {}: {} is the annotation of {} itself; point \
                             --predictions at the method's output, not at the ground truth",
                            dir.display(),
                            p.display(),
                            e.origin
                        );
                    }
                }
                let lm = pts::read_prediction(&p, Some(num_pts))?;
                count(lm.len(), &p.display().to_string())?;
                Ok(Some(Prediction { xy: lm.xy, source: p.display().to_string() }))
            }
            Source::Table { path, rows } => {
                let written = e.image.to_string_lossy().to_string();
                let Some((k, xy)) = std::iter::once(written)
                    .chain(tails(&e.image))
                    .find_map(|k| rows.get(&k).map(|p| (k, p)))
                else {
                    return Ok(None);
                };
                let source = format!("{}#{k}", path.display());
                count(xy.len(), &source)?;
                Ok(Some(Prediction { xy: xy.clone(), source }))
            }
        }
    }

    /// How many predictions the source holds, and up to `n` of their keys (for the message
    /// when nothing matched).
    pub fn keys(&self, n: usize) -> (usize, Vec<String>) {
        match self {
            Source::Dir(dir) => {
                let mut found = Vec::new();
                let mut count = 0;
                let mut stack = vec![dir.clone()];
                while let Some(d) = stack.pop() {
                    let Ok(read) = std::fs::read_dir(&d) else { continue };
                    let mut items: Vec<PathBuf> =
                        read.filter_map(|x| x.ok().map(|x| x.path())).collect();
                    items.sort();
                    for p in items {
                        if p.is_dir() {
                            stack.push(p);
                        } else if p.extension().is_some_and(|x| x == "pts") {
                            count += 1;
                            if found.len() < n {
                                found.push(key(&p, dir));
                            }
                        }
                    }
                }
                (count, found)
            }
            Source::Table { rows, .. } => {
                let mut k: Vec<String> = rows.keys().cloned().collect();
                k.sort();
                k.truncate(n);
                (rows.len(), k)
            }
        }
    }

    /// The keys looked for a line: its path's shorter tails, as this source would store them.
    pub fn wanted(&self, e: &ListEntry, n: usize) -> Vec<String> {
        let t = tails(&e.image);
        let short: Vec<String> = t.iter().rev().take(n).cloned().collect();
        match self {
            Source::Dir(_) => short
                .into_iter()
                .map(|k| Path::new(&k).with_extension("pts").display().to_string())
                .collect(),
            Source::Table { .. } => short,
        }
    }
}

/// Whether `a` and `b` are one file (same path, or same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity`, which JSON does not have:
/// outside strings they become `null` (read back as NaN).
fn nonfinite_to_null(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if let Some(word) =
            ["-Infinity", "Infinity", "NaN"].into_iter().find(|w| rest.starts_with(w))
        {
            out.push_str("null");
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn parse_json(text: &str, source: &Path) -> Result<HashMap<String, Vec<[f64; 2]>>> {
    let map: HashMap<String, Vec<[Option<f64>; 2]>> =
        serde_json::from_str(&nonfinite_to_null(text)).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: expected {{\"image\": [[x, y], …], …}}: {e}",
                source.display(),
                e.line(),
                e.column()
            )
        })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|p| p.map(|c| c.unwrap_or(f64::NAN))).collect()))
        .collect())
}

fn parse_csv(text: &str, source: &Path) -> Result<HashMap<String, Vec<[f64; 2]>>> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && f[0].eq_ignore_ascii_case("image")) {
            continue;
        }
        let at = || format!("{}:{}", source.display(), i + 1);
        ensure!(
            f.len() >= 3 && (f.len() - 1).is_multiple_of(2),
            "{}: expected image,x1,y1,x2,y2,…, found {} fields",
            at(),
            f.len()
        );
        // `nan` and `inf` parse (any case): a face the method gave up on.
        let v: Vec<f64> = f[1..]
            .iter()
            .map(|s| s.parse::<f64>().with_context(|| format!("{}: `{s}` is not a number", at())))
            .collect::<Result<_>>()?;
        out.insert(f[0].to_string(), v.chunks(2).map(|c| [c[0], c[1]]).collect());
    }
    Ok(out)
}
