//! The 300W lists from a 300W tree (the reference's `cache_data/generate_300W.py`):
//! `300w.train` = afw + helen/trainset + lfpw/trainset, `300w.test.common` = helen/testset +
//! lfpw/testset, `300w.test.challenge` = ibug, `300w.test.full` = common + challenge. Every
//! image with a `.pts` next to it is a line, in file-name order per folder; the `GTB` box is the
//! tight box of its landmarks, printed with 4 decimals (3,148 / 554 / 135 / 689 faces
//! on real 300W). When the tree has the official detector boxes
//! (`Bounding_Boxes/bounding_boxes_<folder>.mat`, `bb_detector` per `imgName`), the same lists
//! are also written with those boxes as `.DET`. The reference wrote every line 10 times;
//! `repeat` does that on request.
use crate::formats::list::format_line;
use crate::formats::matfile::{self, Value};
use crate::formats::pts;
use crate::fsutil::relative_path;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The subset folders of each list, in list order.
pub const LISTS: [(&str, &[&str]); 4] = [
    ("300w.train", &["afw", "helen/trainset", "lfpw/trainset"]),
    ("300w.test.common", &["helen/testset", "lfpw/testset"]),
    ("300w.test.challenge", &["ibug"]),
    ("300w.test.full", &["helen/testset", "lfpw/testset", "ibug"]),
];

/// Image extensions 300W ships.
const IMAGE_EXT: [&str; 3] = ["jpg", "jpeg", "png"];

/// One face of the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    pub image: PathBuf,
    pub pts: PathBuf,
    pub bbox: [f64; 4],
}

/// The faces of subset folder `root/dir`: images with a `.pts` of the same stem, by file name.
pub fn faces(root: &Path, dir: &str) -> Result<Vec<Face>> {
    let folder = root.join(dir);
    let read = std::fs::read_dir(&folder)
        .with_context(|| format!("{}: missing 300W folder", folder.display()))?;
    let mut images: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| IMAGE_EXT.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    images.sort();
    let mut out = Vec::new();
    for image in images {
        crate::interrupt::check()?;
        let pts_path = image.with_extension("pts");
        if !pts_path.is_file() {
            bail!("{}: no annotation {} next to it", image.display(), pts_path.display());
        }
        let lm = pts::read(&pts_path, None)?;
        let bbox = lm
            .bbox()
            .with_context(|| format!("{}: no visible landmark for a box", pts_path.display()))?;
        out.push(Face { image, pts: pts_path, bbox });
    }
    if out.is_empty() {
        bail!("{}: no images with .pts annotations", folder.display());
    }
    Ok(out)
}

/// The detector-box file of subset folder `dir` (`helen/testset` → `bounding_boxes_helen_testset.mat`).
pub fn det_file(root: &Path, dir: &str) -> PathBuf {
    root.join("Bounding_Boxes").join(format!("bounding_boxes_{}.mat", dir.replace('/', "_")))
}

/// `imgName → bb_detector` of a `bounding_boxes_*.mat` file.
pub fn read_det(path: &Path) -> Result<HashMap<String, [f64; 4]>> {
    let vars = matfile::read(path)?;
    let Some(Value::Cell { items, .. }) = vars.get("bounding_boxes") else {
        bail!("{}: no `bounding_boxes` cell array", path.display());
    };
    let mut out = HashMap::new();
    for (k, item) in items.iter().enumerate() {
        let Value::Struct { items: s, .. } = item else {
            bail!("{}: bounding_boxes{{{}}} is not a struct", path.display(), k + 1);
        };
        let f = s.first().with_context(|| format!("{}: empty struct {}", path.display(), k + 1))?;
        let name = f.get("imgName").and_then(Value::as_str);
        let det = f.get("bb_detector");
        let (Some(name), Some(det)) = (name, det) else {
            bail!("{}: bounding_boxes{{{}}} lacks imgName or bb_detector", path.display(), k + 1);
        };
        let b: Vec<f64> = (0..4).filter_map(|c| det.at(0, c)).collect();
        let b: [f64; 4] = b
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: {name}: bb_detector is not 1×4", path.display()))?;
        out.insert(name.to_string(), b);
    }
    Ok(out)
}

/// What was written: `(list file, lines)`.
pub type Written = Vec<(PathBuf, usize)>;

/// Write the `GTB` lists of the 300W tree at `root` into `out` (paths relative to `out`), each
/// line `repeat` times, and the `DET` lists when `root/Bounding_Boxes` exists.
pub fn build(root: &Path, out: &Path, repeat: usize) -> Result<Written> {
    let mut faces_of: HashMap<&str, Vec<Face>> = HashMap::new();
    for (_, dirs) in LISTS {
        for dir in dirs {
            if !faces_of.contains_key(dir) {
                faces_of.insert(dir, faces(root, dir)?);
            }
        }
    }
    let det = root.join("Bounding_Boxes").is_dir();
    let mut boxes: HashMap<&str, HashMap<String, [f64; 4]>> = HashMap::new();
    if det {
        for dir in faces_of.keys() {
            boxes.insert(dir, read_det(&det_file(root, dir))?);
        }
    }
    let mut written = Vec::new();
    for (suffix, detector) in [("GTB", false), ("DET", true)] {
        if detector && !det {
            continue;
        }
        for (name, dirs) in LISTS {
            let mut lines = Vec::new();
            for dir in dirs {
                for f in &faces_of[dir] {
                    let bbox = if detector {
                        let file = f.image.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        *boxes[dir].get(file).with_context(|| {
                            format!("{}: no box for {file}", det_file(root, dir).display())
                        })?
                    } else {
                        f.bbox
                    };
                    let line = format_line(
                        &relative_path(&f.image, out),
                        Some(&relative_path(&f.pts, out)),
                        bbox,
                        None,
                        4,
                    )?;
                    lines.extend(std::iter::repeat_n(line, repeat.max(1)));
                }
            }
            let path = out.join(format!("{name}.{suffix}"));
            crate::formats::list::write(&path, &lines)?;
            written.push((path, lines.len()));
        }
    }
    Ok(written)
}
