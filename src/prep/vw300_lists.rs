//! The 300VW lists from a 300VW tree (the reference's `cache_data/generate_300VW.py`).
//!
//! A video folder `NNN/` holds `annot/XXXXXX.pts` and the frames `extraction/XXXXXX.png`; when
//! the frames are missing they are extracted from `NNN/vid.avi` with ffmpeg. Frames and
//! annotations are paired by number (a mismatch is an error naming the video). Videos go to the
//! splits of the 300VW protocol (50 train videos, 31 / 19 / 14 in test categories
//! 1 / 2 / 3). For each split `S` with videos:
//! * `300VW.S.lstNNN` and `.none` per video (`.none`: unlabelled), and their concatenations
//!   `300VW.S.lst` and `.lst.none`;
//! * `300VW.S.lst.sparse.10` / `.sparse.none.10`: frames with 0-based index `i % 10 == 3`,
//!   `i > 3`, `i + 3 < len` (as the reference did), omitted when no video is long enough;
//! * `300VW.S.lst.first`: the first frame of each video.
//!
//! Boxes are the tight box of each frame's landmarks with 2 decimals, as the reference wrote them.
//! Unlike the reference, videos are not padded to a multiple of 10 (clips handle short videos).
use crate::formats::list::format_line;
use crate::formats::pts;
use crate::fsutil::relative_path;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The splits, in list order.
pub const SPLITS: [&str; 4] = ["train", "test-1", "test-2", "test-3"];

/// Test category 1 (well lit), the reference's `videos_test_1`.
pub const TEST_1: [&str; 31] = [
    "114", "124", "125", "126", "150", "158", "401", "402", "505", "506", "507", "508", "509",
    "510", "511", "514", "515", "518", "519", "520", "521", "522", "524", "525", "537", "538",
    "540", "541", "546", "547", "548",
];
/// Test category 2 (unconstrained).
pub const TEST_2: [&str; 19] = [
    "203", "208", "211", "212", "213", "214", "218", "224", "403", "404", "405", "406", "407",
    "408", "409", "412", "550", "551", "553",
];
/// Test category 3 (in the wild; the reference's `generate_300VW.py:110-115`).
pub const TEST_3: [&str; 14] = [
    "410", "411", "516", "517", "526", "528", "529", "530", "531", "533", "557", "558", "559",
    "562",
];
/// The 50 training videos: the 114 of 300VW less the test categories.
pub const TRAIN: [&str; 50] = [
    "001", "002", "003", "004", "007", "009", "010", "011", "013", "015", "016", "017", "018",
    "019", "020", "022", "025", "027", "028", "029", "031", "033", "034", "035", "037", "039",
    "041", "043", "044", "046", "047", "048", "049", "053", "057", "059", "112", "113", "115",
    "119", "120", "123", "138", "143", "144", "160", "204", "205", "223", "225",
];

/// The video ids of split `s` (index into [`SPLITS`]).
pub fn split_ids(s: usize) -> &'static [&'static str] {
    match s {
        0 => &TRAIN,
        1 => &TEST_1,
        2 => &TEST_2,
        _ => &TEST_3,
    }
}

/// The split (index into [`SPLITS`]) of video `id`.
pub fn split_of(id: &str) -> Option<usize> {
    (0..SPLITS.len()).find(|&s| split_ids(s).contains(&id))
}

/// Whether 0-based frame `i` of a video of `len` frames is in the sparse (every 10th) lists.
pub fn sparse_keep(i: usize, len: usize) -> bool {
    i % 10 == 3 && i > 3 && i + 3 < len
}

/// One annotated frame.
#[derive(Clone, Debug)]
struct Frame {
    image: PathBuf,
    pts: PathBuf,
    bbox: [f64; 4],
}

/// The `.ext` files of `dir` with numeric stems, by number.
fn numbered(dir: &Path, ext: &str) -> Result<Vec<(u64, PathBuf)>> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
        .collect();
    v.sort();
    Ok(v)
}

/// Extract `video/vid.avi` into `video/extraction/%06d.png` (staged, then renamed).
fn extract(video: &Path) -> Result<()> {
    let avi = video.join("vid.avi");
    if !avi.is_file() {
        bail!("{}: no extraction/ frames and no vid.avi to extract them from", video.display());
    }
    // A leftover of an earlier run that was killed is replaced; an interrupted extraction
    // removes its own (the interrupt safety net too, should this process hang).
    let staging = video.join(".extraction.partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let partial = crate::interrupt::Partial::new(&staging, "partial frame extraction");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-i"])
        .arg(&avi)
        .args(["-start_number", "1"])
        .arg(staging.join("%06d.png"))
        .output()
        .with_context(|| {
            format!("{}: cannot run ffmpeg (install it to extract frames)", avi.display())
        })?;
    if !out.status.success() || crate::interrupt::requested() {
        let _ = partial.discard();
        crate::interrupt::check()?; // ffmpeg got the terminal's Ctrl-C too
        bail!(
            "ffmpeg failed on {}: {}",
            avi.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::rename(&staging, video.join("extraction"))
        .with_context(|| format!("cannot move the frames of {} into place", video.display()))?;
    drop(partial);
    Ok(())
}

/// The annotated frames of video folder `video`, extracting them first when needed.
fn frames(video: &Path) -> Result<Vec<Frame>> {
    if !video.join("extraction").is_dir() {
        extract(video)?;
    }
    let images = numbered(&video.join("extraction"), "png")?;
    let annots = numbered(&video.join("annot"), "pts")?;
    if images.len() != annots.len() || images.iter().zip(&annots).any(|(a, b)| a.0 != b.0) {
        let first_gap = images.iter().zip(&annots).find(|(a, b)| a.0 != b.0);
        bail!(
            "{}: {} frames in extraction/ but {} annotations in annot/{}",
            video.display(),
            images.len(),
            annots.len(),
            first_gap
                .map(|(a, b)| format!(" (frame {} meets annotation {})", a.0, b.0))
                .unwrap_or_default()
        );
    }
    images
        .into_iter()
        .zip(annots)
        .map(|((_, image), (_, pts_path))| {
            let lm = pts::read(&pts_path, None)?;
            let bbox = lm.bbox().with_context(|| {
                format!("{}: no visible landmark for a box", pts_path.display())
            })?;
            Ok(Frame { image, pts: pts_path, bbox })
        })
        .collect()
}

/// What was built: list files with their line counts, and video folders outside the protocol.
#[derive(Debug, Default)]
pub struct Built {
    pub lists: Vec<(PathBuf, usize)>,
    pub unknown_videos: Vec<String>,
}

/// Write the 300VW lists of the tree at `root` into `out` (paths relative to `out`).
pub fn build(root: &Path, out: &Path) -> Result<Built> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("{}: cannot read the 300VW folder", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    ids.sort();
    if ids.is_empty() {
        bail!("{}: no video folders (NNN/ with annot/ and vid.avi or extraction/)", root.display());
    }
    let mut built = Built::default();
    let line = |f: &Frame, labelled: bool| {
        let ann = relative_path(&f.pts, out);
        format_line(
            &relative_path(&f.image, out),
            labelled.then_some(ann.as_path()),
            f.bbox,
            None,
            2,
        )
    };
    let mut write = |name: String, lines: &[String]| -> Result<()> {
        let path = out.join(name);
        crate::formats::list::write(&path, lines)?;
        built.lists.push((path, lines.len()));
        Ok(())
    };
    for (s, split) in SPLITS.iter().enumerate() {
        let vids: Vec<&String> = ids.iter().filter(|id| split_of(id) == Some(s)).collect();
        if vids.is_empty() {
            continue;
        }
        let (mut all, mut all_none, mut sparse, mut sparse_none, mut first) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for id in vids {
            crate::interrupt::check()?;
            let fr = frames(&root.join(id))?;
            let with: Vec<String> = fr.iter().map(|f| line(f, true)).collect::<Result<_>>()?;
            let none: Vec<String> = fr.iter().map(|f| line(f, false)).collect::<Result<_>>()?;
            write(format!("300VW.{split}.lst{id}"), &with)?;
            write(format!("300VW.{split}.lst{id}.none"), &none)?;
            for i in (0..fr.len()).filter(|&i| sparse_keep(i, fr.len())) {
                sparse.push(with[i].clone());
                sparse_none.push(none[i].clone());
            }
            first.extend(with.first().cloned());
            all.extend(with);
            all_none.extend(none);
        }
        let stem = format!("300VW.{split}.lst");
        write(stem.clone(), &all)?;
        write(format!("{stem}.none"), &all_none)?;
        write(format!("{stem}.first"), &first)?;
        if !sparse.is_empty() {
            write(format!("{stem}.sparse.10"), &sparse)?;
            write(format!("{stem}.sparse.none.10"), &sparse_none)?;
        }
    }
    built.unknown_videos = ids.iter().filter(|id| split_of(id).is_none()).cloned().collect();
    Ok(built)
}
