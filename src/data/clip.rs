//! Training clips: the stream the trainer consumes is made of clips of F frames.
//!
//! * A **still image** (a 300W line) is a clip of F augmented *views* of the same face; each
//!   view gets its own random transform. Consecutive identical lines (the reference wrote every
//!   300W line 10 times) are one image.
//! * A **video** contributes clips of F *consecutive* frames sharing one random transform, so
//!   the tracker sees the true relative motion.
//!
//! A clip never crosses a list file or a video. Frames count as consecutive when they come one
//! after another in the list, from the same folder, with frame numbers that follow each other;
//! a frame standing alone (sparse `.sparse.10` or `.first` lists) is treated as a still image.
//! A video of n ≥ F frames gives ⌊n/F⌋ clips, plus one clip of its last F frames when F does
//! not divide n (overlapping, never duplicating a frame). A video shorter than F is padded by
//! reflection (frames n−2, n−3, … after the last), and the clip records how many frames are
//! padding. Evaluation never uses clips.
use crate::formats::list::ListEntry;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ClipKind {
    /// F views of one still image (independent transforms).
    Views,
    /// F frames of a video (one transform).
    Video,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    pub kind: ClipKind,
    /// Indices into the entry list, one per frame (a still image repeats its index F times).
    pub frames: Vec<usize>,
    /// How many trailing frames are reflected padding (short videos only).
    pub padded: usize,
}

/// What grouping did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    pub view_clips: usize,
    pub video_clips: usize,
    /// Video clips that overlap the previous clip of their video (F does not divide n).
    pub overlapping: usize,
    /// Video clips with reflected padding (videos shorter than F).
    pub padded: usize,
    /// Consecutive duplicate lines merged into one still image.
    pub merged_duplicates: usize,
}

fn same_line(a: &ListEntry, b: &ListEntry) -> bool {
    a.origin.file == b.origin.file
        && a.image == b.image
        && a.annotation == b.annotation
        && a.bbox == b.bbox
}

/// Group `entries` (in list order) into clips of `f` frames.
pub fn group(entries: &[ListEntry], f: usize) -> (Vec<Clip>, GroupStats) {
    assert!(f >= 1, "clip length must be at least 1");
    let mut clips = Vec::new();
    let mut stats = GroupStats::default();
    let mut i = 0;
    while i < entries.len() {
        // The maximal run of consecutive frames starting at i.
        let mut j = i + 1;
        while j < entries.len() && entries[j].follows(&entries[j - 1]) {
            j += 1;
        }
        let n = j - i;
        if n == 1 {
            while j < entries.len() && same_line(&entries[i], &entries[j]) {
                j += 1;
                stats.merged_duplicates += 1;
            }
            clips.push(Clip { kind: ClipKind::Views, frames: vec![i; f], padded: 0 });
            stats.view_clips += 1;
        } else if n < f {
            let mut frames: Vec<usize> = (i..j).collect();
            // Reflect: …, n−1, n−2, n−3, … bouncing between the ends.
            let mut k = n as isize - 2;
            let mut step = -1;
            while frames.len() < f {
                frames.push(i + k as usize);
                if k == 0 || k == n as isize - 1 {
                    step = -step;
                }
                k += step;
            }
            clips.push(Clip { kind: ClipKind::Video, frames, padded: f - n });
            stats.video_clips += 1;
            stats.padded += 1;
        } else {
            let mut start = i;
            while start + f <= j {
                clips.push(Clip {
                    kind: ClipKind::Video,
                    frames: (start..start + f).collect(),
                    padded: 0,
                });
                stats.video_clips += 1;
                start += f;
            }
            if start < j {
                clips.push(Clip { kind: ClipKind::Video, frames: (j - f..j).collect(), padded: 0 });
                stats.video_clips += 1;
                stats.overlapping += 1;
            }
        }
        i = j;
    }
    (clips, stats)
}
