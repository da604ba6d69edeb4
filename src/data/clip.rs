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
    /// Video frames in no clip: at a stride k > 1, the frames of a video's interleaved
    /// sequences that are shorter than a clip.
    pub left_out: usize,
}

fn same_line(a: &ListEntry, b: &ListEntry) -> bool {
    a.origin.file == b.origin.file
        && a.image == b.image
        && a.annotation == b.annotation
        && a.bbox == b.bbox
}

/// Group `entries` (in list order) into clips of `f` frames.
pub fn group(entries: &[ListEntry], f: usize) -> (Vec<Clip>, GroupStats) {
    group_strided(entries, f, 1)
}

/// Group `entries` (in list order) into clips of `f` frames, a video's clips taking every
/// `stride`-th frame: a video of n frames becomes `stride` interleaved sequences (frames
/// 0, k, 2k, …; 1, 1 + k, …), each cut into clips as a video of its own, so every frame is
/// still used once and the motion between a clip's frames is `stride` times the video's.
/// The stride shrinks for a video too short to give `f` frames at it. Still images are
/// unaffected. A sequence shorter than `f` at a stride above 1 is left out (its frames have
/// no partner that far away; counted in [`GroupStats::left_out`]).
pub fn group_strided(entries: &[ListEntry], f: usize, stride: usize) -> (Vec<Clip>, GroupStats) {
    assert!(f >= 1, "clip length must be at least 1");
    assert!(stride >= 1, "clip stride must be at least 1");
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
        } else {
            // The largest stride ≤ `stride` at which the video still spans f frames.
            let k = if f > 1 { stride.min((n - 1) / (f - 1)).max(1) } else { stride.min(n) };
            for phase in 0..k {
                let run: Vec<usize> = (i + phase..j).step_by(k).collect();
                if k > 1 && run.len() < f {
                    // Too few frames at this stride: left out rather than repeated.
                    stats.left_out += run.len();
                } else {
                    video_clips(&run, f, &mut clips, &mut stats);
                }
            }
        }
        i = j;
    }
    (clips, stats)
}

/// The clips of one video whose frames, in order, are `run` (at least 2 when f > 1).
fn video_clips(run: &[usize], f: usize, clips: &mut Vec<Clip>, stats: &mut GroupStats) {
    let n = run.len();
    if n < f {
        let mut frames: Vec<usize> = run.to_vec();
        // Reflect: …, n−1, n−2, n−3, … bouncing between the ends.
        let mut k = n as isize - 2;
        let mut step = -1;
        while frames.len() < f {
            frames.push(run[k as usize]);
            if k == 0 || k == n as isize - 1 {
                step = -step;
            }
            k += step;
        }
        clips.push(Clip { kind: ClipKind::Video, frames, padded: f - n });
        stats.video_clips += 1;
        stats.padded += 1;
    } else {
        let mut start = 0;
        while start + f <= n {
            clips.push(Clip {
                kind: ClipKind::Video,
                frames: run[start..start + f].to_vec(),
                padded: 0,
            });
            stats.video_clips += 1;
            start += f;
        }
        if start < n {
            clips.push(Clip { kind: ClipKind::Video, frames: run[n - f..].to_vec(), padded: 0 });
            stats.video_clips += 1;
            stats.overlapping += 1;
        }
    }
}
