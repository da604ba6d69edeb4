//! The 300W lists from a 300W tree (issue #5; the reference's `cache_data/generate_300W.py`):
//! `300w.train` = afw + helen/trainset + lfpw/trainset, `300w.test.common` = helen/testset +
//! lfpw/testset, `300w.test.challenge` = ibug, `300w.test.full` = common + challenge. Every
//! image with a `.pts` next to it is a line, in file-name order per folder; the `GTB` box is the
//! tight box of its landmarks, printed with 4 decimals (field.md: 3,148 / 554 / 135 / 689 faces
//! on real 300W). The reference wrote every line 10 times; `repeat` does that on request.
use super::list::format_line;
use super::pts;
use crate::fsutil::{relative_path, write_atomic};
use anyhow::{bail, Context, Result};
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

/// What was written: `(list file, lines)`.
pub type Written = Vec<(PathBuf, usize)>;

/// Write the four `GTB` lists of the 300W tree at `root` into `out` (paths relative to `out`),
/// each line `repeat` times.
pub fn build(root: &Path, out: &Path, repeat: usize) -> Result<Written> {
    let mut written = Vec::new();
    let mut cache: Vec<(&str, Vec<Face>)> = Vec::new();
    for (name, dirs) in LISTS {
        let mut lines = Vec::new();
        for dir in dirs {
            if !cache.iter().any(|(d, _)| d == dir) {
                cache.push((dir, faces(root, dir)?));
            }
            let faces = &cache.iter().find(|(d, _)| d == dir).expect("cached above").1;
            for f in faces {
                let line = format_line(
                    &relative_path(&f.image, out),
                    Some(&relative_path(&f.pts, out)),
                    f.bbox,
                    None,
                    4,
                );
                lines.extend(std::iter::repeat_n(line, repeat.max(1)));
            }
        }
        let path = out.join(format!("{name}.GTB"));
        let mut text = lines.join("\n");
        text.push('\n');
        write_atomic(&path, text.as_bytes())?;
        written.push((path, lines.len()));
    }
    Ok(written)
}
