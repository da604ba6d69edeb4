//! The AFLW lists from `AFLWinfo_release.mat` (the reference's `aflw_from_mat.py`):
//! 24,386 faces with 19 points. The file holds `data` (faces × 38: x1..x19 then
//! y1..y19), `mask_new` (faces × 19 visibility), `bbox` (faces × 4 as `[x1 x2 y1 y2]`), `ra` (a
//! 1-based permutation: its first 20,000 faces are train, the rest test) and `nameList` (image
//! paths under the AFLW image folder).
//!
//! For each face an SBR point file (`idx x y True|False`) is written under `OUT/pts/`, and the
//! lists `OUT/{train,test,test.front,all}.{GTL,GTB}` with 7 columns: the box and `face_size =
//! sqrt(w·h)` of that box (`GTB`: the given box; `GTL`: the tight box of the visible
//! landmarks). `test.front` keeps the test faces whose 19 points are all visible and inside the
//! given box.
use crate::formats::list::format_line;
use crate::formats::matfile::{self, Value};
use crate::formats::pts::{self, Landmarks, PtsFormat};
use crate::fsutil::relative_path;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

/// Landmarks per AFLW face.
pub const POINTS: usize = 19;
/// Faces in the reference's training split (the first of `ra`).
pub const TRAIN_FACES: usize = 20_000;

/// One face of the file.
#[derive(Clone, Debug)]
pub struct Face {
    pub image: PathBuf,
    pub landmarks: Landmarks,
    /// The given box `[x1, y1, x2, y2]`.
    pub bbox: [f64; 4],
}

impl Face {
    /// All 19 points visible and inside the given box.
    pub fn frontal(&self) -> bool {
        let b = self.bbox;
        self.landmarks
            .xy
            .iter()
            .zip(&self.landmarks.visible)
            .all(|(p, &v)| v && (b[0]..=b[2]).contains(&p[0]) && (b[1]..=b[3]).contains(&p[1]))
    }
}

fn matrix<'a>(
    vars: &'a std::collections::BTreeMap<String, Value>,
    name: &str,
    cols: usize,
    path: &Path,
) -> Result<&'a Value> {
    let v = vars.get(name).with_context(|| format!("{}: no variable `{name}`", path.display()))?;
    let (dims, _) =
        v.as_numeric().with_context(|| format!("{}: `{name}` is not numeric", path.display()))?;
    ensure!(
        dims.len() == 2 && dims[1] == cols,
        "{}: `{name}` is {dims:?}, expected faces × {cols}",
        path.display()
    );
    Ok(v)
}

/// The faces of `mat`, images under `images`, and the train/test order from `ra`.
pub fn read(mat: &Path, images: &Path) -> Result<(Vec<Face>, Vec<usize>)> {
    let vars = matfile::read(mat)?;
    let data = matrix(&vars, "data", 2 * POINTS, mat)?;
    let mask = matrix(&vars, "mask_new", POINTS, mat)?;
    let bbox = matrix(&vars, "bbox", 4, mat)?;
    let n = data.as_numeric().expect("checked").0[0];
    for (name, v) in [("mask_new", mask), ("bbox", bbox)] {
        let rows = v.as_numeric().expect("checked").0[0];
        ensure!(rows == n, "{}: `{name}` has {rows} rows, `data` {n}", mat.display());
    }
    let Some(Value::Cell { items: names, .. }) = vars.get("nameList") else {
        bail!("{}: no `nameList` cell array", mat.display());
    };
    ensure!(names.len() == n, "{}: {} names for {n} faces", mat.display(), names.len());
    let ra: Vec<usize> = vars
        .get("ra")
        .and_then(Value::as_numeric)
        .with_context(|| format!("{}: no numeric `ra`", mat.display()))?
        .1
        .iter()
        .map(|&v| v as usize)
        .collect();
    let mut seen = vec![false; n];
    for &r in &ra {
        ensure!(
            (1..=n).contains(&r) && !seen[r - 1],
            "{}: `ra` is not a permutation of 1..{n}",
            mat.display()
        );
        seen[r - 1] = true;
    }
    ensure!(ra.len() == n, "{}: `ra` has {} entries for {n} faces", mat.display(), ra.len());
    let mut faces = Vec::with_capacity(n);
    for (i, name) in names.iter().enumerate() {
        let at = |v: &Value, c: usize| v.at(i, c).expect("dims checked");
        let xy = (0..POINTS).map(|j| [at(data, j), at(data, POINTS + j)]).collect();
        let visible = (0..POINTS).map(|j| at(mask, j) != 0.0).collect();
        let name = name
            .as_str()
            .with_context(|| format!("{}: nameList{{{}}} is not text", mat.display(), i + 1))?;
        faces.push(Face {
            image: images.join(name),
            landmarks: Landmarks { xy, visible },
            // Stored as [x1 x2 y1 y2].
            bbox: [at(bbox, 0), at(bbox, 2), at(bbox, 1), at(bbox, 3)],
        });
    }
    Ok((faces, ra.iter().map(|r| r - 1).collect()))
}

/// The SBR point file of face `i` (1-based in its name, as in the MAT-file).
pub fn pts_path(out: &Path, face: &Face, i: usize) -> PathBuf {
    let stem = face.image.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let sub =
        face.image.parent().and_then(|p| p.file_name()).map(PathBuf::from).unwrap_or_default();
    out.join("pts").join(sub).join(format!("{stem}_face{}.pts", i + 1))
}

/// Write the point files and the lists, the first `train_faces` of `ra` as train (the
/// reference: [`TRAIN_FACES`]); returns `(list file, lines)`.
pub fn build(
    mat: &Path,
    images: &Path,
    out: &Path,
    train_faces: usize,
) -> Result<Vec<(PathBuf, usize)>> {
    let (faces, order) = read(mat, images)?;
    let train_n = train_faces.min(faces.len());
    let mut paths = Vec::with_capacity(faces.len());
    for (i, f) in faces.iter().enumerate() {
        crate::interrupt::check()?;
        let p = pts_path(out, f, i);
        pts::write(&p, &f.landmarks, PtsFormat::Sbr)?;
        paths.push(p);
    }
    let train: Vec<usize> = order[..train_n].to_vec();
    let test: Vec<usize> = order[train_n..].to_vec();
    let front: Vec<usize> = test.iter().copied().filter(|&i| faces[i].frontal()).collect();
    let all: Vec<usize> = (0..faces.len()).collect();
    let mut written = Vec::new();
    for (name, ids) in [("train", &train), ("test", &test), ("test.front", &front), ("all", &all)] {
        for kind in ["GTL", "GTB"] {
            let mut lines = Vec::with_capacity(ids.len());
            for &i in ids.iter() {
                let f = &faces[i];
                let b = if kind == "GTB" {
                    f.bbox
                } else {
                    f.landmarks.bbox().with_context(|| {
                        format!("{}: face {} has no visible landmark", mat.display(), i + 1)
                    })?
                };
                let size = ((b[2] - b[0]) * (b[3] - b[1])).max(0.0).sqrt();
                lines.push(format_line(
                    &relative_path(&f.image, out),
                    Some(&relative_path(&paths[i], out)),
                    b,
                    Some(size),
                    4,
                )?);
            }
            let path = out.join(format!("{name}.{kind}"));
            crate::formats::list::write(&path, &lines)?;
            written.push((path, lines.len()));
        }
    }
    Ok(written)
}
