//! Predictions on disk (issue #5): tsal writes its own as `.pts` files mirroring the images,
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
use crate::data::list::ListEntry;
use crate::data::pts;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

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
/// they share one folder).
pub fn write_dir(dir: &Path, entries: &[ListEntry], preds: &[Option<Vec<[f64; 2]>>]) -> Result<()> {
    let root = image_root(entries);
    for (e, p) in entries.iter().zip(preds) {
        let Some(p) = p else { continue };
        let path = pts_path(dir, &e.image, &root);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        pts::write(&path, &pts::Landmarks::all_visible(p.clone()), pts::PtsFormat::Ibug)?;
    }
    Ok(())
}

/// Predictions for `entries` from `source` (a folder, `.json` or `.csv`), one per line; a line
/// with no prediction is `None` (scored as excluded, and counted).
pub fn read(
    source: &Path,
    entries: &[ListEntry],
    num_pts: usize,
) -> Result<Vec<Option<Vec<[f64; 2]>>>> {
    if source.is_dir() {
        return entries
            .iter()
            .map(|e| {
                let found = tails(&e.image)
                    .into_iter()
                    .map(|t| source.join(t).with_extension("pts"))
                    .find(|p| p.is_file());
                match found {
                    Some(p) => Ok(Some(pts::read(&p, Some(num_pts))?.xy)),
                    None => Ok(None),
                }
            })
            .collect();
    }
    let text = std::fs::read_to_string(source)
        .with_context(|| format!("--predictions {}: cannot read", source.display()))?;
    let table = match source.extension().and_then(|x| x.to_str()) {
        Some("json") => parse_json(&text, source)?,
        Some("csv") => parse_csv(&text, source)?,
        _ => bail!(
            "--predictions {}: expected a folder of .pts files, a .json or a .csv file",
            source.display()
        ),
    };
    entries
        .iter()
        .map(|e| {
            let written = e.image.to_string_lossy().to_string();
            let found = std::iter::once(written)
                .chain(tails(&e.image))
                .find_map(|k| table.get(&k).map(|p| (k, p)));
            match found {
                Some((k, p)) if p.len() != num_pts => bail!(
                    "{}: the prediction for {k} has {} points, expected {num_pts}",
                    source.display(),
                    p.len()
                ),
                p => Ok(p.map(|(_, p)| p.clone())),
            }
        })
        .collect()
}

fn parse_json(text: &str, source: &Path) -> Result<HashMap<String, Vec<[f64; 2]>>> {
    serde_json::from_str(text)
        .with_context(|| format!("{}: expected {{\"image\": [[x, y], …], …}}", source.display()))
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
        let v: Vec<f64> = f[1..]
            .iter()
            .map(|s| s.parse::<f64>().with_context(|| format!("{}: `{s}` is not a number", at())))
            .collect::<Result<_>>()?;
        out.insert(f[0].to_string(), v.chunks(2).map(|c| [c[0], c[1]]).collect());
    }
    Ok(out)
}
