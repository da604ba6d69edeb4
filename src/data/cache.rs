//! Decoded list lines and the image cache (`--cache_images`).
//!
//! A [`Frame`] is one list line read from disk: its pixels and its landmarks. For training,
//! only what crops of the line's face box need is kept ([`Region::prepare`]: the part a crop
//! can reach, block-averaged when every crop shrinks the face by 2× or more), whether or not it
//! is cached, so memory is bounded by the crop size rather than the photo size.
//!
//! The cache keeps frames between epochs so images are decoded once. It stops admitting
//! frames when its byte budget is spent (first come, first kept); cached and uncached frames
//! are the same, so what it holds never changes a batch.
use super::augment::{AugParams, Region};
use crate::formats::list::ListEntry;
use crate::formats::pts;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One list line read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub region: Region,
    /// `None` for an unlabelled line.
    pub points: Option<pts::Landmarks>,
}

impl Frame {
    /// Decode `e`'s image and read its landmarks, naming the list line on failure. With
    /// `crops = Some((bbox, p))` only what training crops of that face box need is kept
    /// ([`Region::prepare`]); otherwise the whole image.
    pub fn load(
        e: &ListEntry,
        num_pts: usize,
        crops: Option<([f64; 4], &AugParams)>,
    ) -> Result<Frame> {
        let img = crate::formats::image_io::decode(&e.image)
            .with_context(|| format!("{}: image {}", e.origin, e.image.display()))?
            .to_rgb8();
        let region = match crops {
            Some((bbox, p)) => Region::prepare(&img, bbox, p),
            None => Region::whole(img),
        };
        Ok(Frame { region, points: load_points(e, num_pts)? })
    }
}

/// Landmarks of a line (or none for `None`), checked against `num_pts`.
pub fn load_points(e: &ListEntry, num_pts: usize) -> Result<Option<pts::Landmarks>> {
    let Some(a) = &e.annotation else { return Ok(None) };
    let lm = pts::read(a, Some(num_pts)).with_context(|| format!("{}", e.origin))?;
    anyhow::ensure!(
        lm.len() == num_pts,
        "{}: {} has {} points, expected {num_pts}",
        e.origin,
        a.display(),
        lm.len()
    );
    Ok(Some(lm))
}

/// What the cache holds, for logs and the README's memory figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub frames: usize,
    pub bytes: usize,
    /// Frames not admitted because the budget was spent.
    pub refused: usize,
}

/// Frames kept between epochs, keyed by `(line, anchor)`: the line's index and the index of
/// the line whose face box places the crop (the clip's first frame for video clips, the line
/// itself for still images), which decides the reachable part.
pub struct ImageCache {
    budget: usize,
    used: AtomicUsize,
    refused: AtomicUsize,
    frames: Mutex<HashMap<(usize, usize), Arc<Frame>>>,
}

impl ImageCache {
    pub fn new(budget_bytes: usize) -> Self {
        ImageCache {
            budget: budget_bytes,
            used: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            frames: Mutex::new(HashMap::new()),
        }
    }

    /// The frame of line `line` cropped for boxes of line `anchor`, from the cache or from disk
    /// (then kept if the budget allows).
    pub fn get(
        &self,
        entries: &[ListEntry],
        line: usize,
        anchor: usize,
        aug: &AugParams,
        num_pts: usize,
    ) -> Result<Arc<Frame>> {
        let key = (line, anchor);
        if let Some(f) = self.lock().get(&key) {
            return Ok(f.clone());
        }
        // Decoded outside the lock; two workers may rarely decode the same line at once.
        let frame =
            Arc::new(Frame::load(&entries[line], num_pts, Some((entries[anchor].bbox, aug)))?);
        let bytes = frame.region.bytes();
        let mut map = self.lock();
        if map.contains_key(&key) {
            return Ok(frame);
        }
        if self.used.load(Ordering::Relaxed) + bytes <= self.budget {
            self.used.fetch_add(bytes, Ordering::Relaxed);
            map.insert(key, frame.clone());
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(frame)
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            frames: self.lock().len(),
            bytes: self.used.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, usize), Arc<Frame>>> {
        // A worker that panicked while holding the lock left the map consistent (insert is the
        // only mutation), so the poison is ignored.
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }
}
