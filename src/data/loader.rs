//! The training loader: worker threads build clips into batches of plain buffers
//! and hand them over through a bounded queue, in order. Every clip's randomness comes from
//! `(seed, epoch, clip index)`, so batches are identical whatever the number of workers, and
//! whether or not images come from the cache.
//!
//! A clip whose image or annotation cannot be read stops the epoch with an error naming the
//! list line, or, with `skip_bad`, is left out of its batch and recorded.
use super::augment::AugParams;
use super::cache::{CacheStats, ImageCache};
use super::clip::Clip;
use super::sample::{self, HostSample, TargetParams};
use crate::formats::list::ListEntry;
use anyhow::{anyhow, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    /// Worker threads; 0 builds batches on the calling thread.
    pub workers: usize,
    pub seed: u64,
    pub clips_per_batch: usize,
    pub aug: AugParams,
    pub targets: TargetParams,
    /// Keep decoded frames between epochs, up to this many bytes (`--cache_images`).
    pub cache_bytes: Option<usize>,
    /// Leave out clips that cannot be read instead of failing (`--skip_bad`).
    pub skip_bad: bool,
}

/// One batch: its clips in order.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBatch {
    pub clips: Vec<usize>,
    pub samples: Vec<HostSample>,
}

/// A seed for stream `index` of `epoch` (SplitMix64 finaliser over the three numbers).
pub fn stream_seed(seed: u64, epoch: u64, index: u64) -> u64 {
    let mut z = seed
        ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The clip order of `epoch`: a shuffle seeded by `(seed, epoch)`.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(seed, epoch, u64::MAX)));
    order
}

/// The training data of a run: lines, clips, settings, and the image cache that lives across
/// epochs.
pub struct Loader {
    entries: Arc<Vec<ListEntry>>,
    clips: Arc<Vec<Clip>>,
    cfg: LoaderConfig,
    cache: Option<Arc<ImageCache>>,
    skipped: Arc<Mutex<Vec<String>>>,
}

impl Loader {
    pub fn new(entries: Arc<Vec<ListEntry>>, clips: Arc<Vec<Clip>>, cfg: LoaderConfig) -> Self {
        let cache = cfg.cache_bytes.map(|b| Arc::new(ImageCache::new(b)));
        Loader { entries, clips, cfg, cache, skipped: Arc::default() }
    }

    /// What the image cache holds (`None` without `cache_bytes`).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// Every clip left out so far with `skip_bad`, with its error (naming the list line).
    pub fn skipped(&self) -> Vec<String> {
        self.skipped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Start loading `epoch`: clips in [`epoch_order`], `clips_per_batch` per batch (the last
    /// batch may be smaller; a batch whose clips were all skipped is not yielded).
    pub fn epoch(&self, epoch: u64) -> Epoch {
        self.epoch_from(epoch, 0)
    }

    /// [`Self::epoch`] from batch `first` on: the batches before it are not built (a run
    /// resuming mid-epoch gets exactly the batches it had not trained on).
    pub fn epoch_from(&self, epoch: u64, first: usize) -> Epoch {
        let cfg = &self.cfg;
        let order = epoch_order(self.clips.len(), cfg.seed, epoch);
        let batches: Vec<Vec<usize>> =
            order.chunks(cfg.clips_per_batch.max(1)).map(|c| c.to_vec()).collect();
        let shared = Arc::new(Shared {
            entries: self.entries.clone(),
            clips: self.clips.clone(),
            cfg: cfg.clone(),
            cache: self.cache.clone(),
            skipped: self.skipped.clone(),
            epoch,
            batches,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let mut rx = None;
        if cfg.workers > 0 {
            // Room for two batches per worker: the main thread rarely waits when workers keep
            // up.
            let (tx, r) = sync_channel(2 * cfg.workers);
            rx = Some(r);
            let counter = Arc::new(AtomicUsize::new(first));
            for _ in 0..cfg.workers {
                let (tx, shared, counter, stop) =
                    (tx.clone(), shared.clone(), counter.clone(), stop.clone());
                handles.push(std::thread::spawn(move || loop {
                    let k = counter.fetch_add(1, Ordering::Relaxed);
                    if k >= shared.batches.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.build(k)))
                            .unwrap_or_else(|p| {
                                let msg = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default();
                                Err(anyhow!("a loader worker panicked building batch {k}: {msg}"))
                            });
                    if tx.send((k, r)).is_err() {
                        break;
                    }
                }));
            }
        }
        Epoch { shared, rx, pending: BTreeMap::new(), next: first, stop, handles }
    }
}

struct Shared {
    entries: Arc<Vec<ListEntry>>,
    clips: Arc<Vec<Clip>>,
    cfg: LoaderConfig,
    cache: Option<Arc<ImageCache>>,
    skipped: Arc<Mutex<Vec<String>>>,
    epoch: u64,
    batches: Vec<Vec<usize>>,
}

impl Shared {
    fn build(&self, k: usize) -> Result<HostBatch> {
        let mut batch = HostBatch { clips: Vec::new(), samples: Vec::new() };
        for &c in &self.batches[k] {
            let mut rng =
                ChaCha8Rng::seed_from_u64(stream_seed(self.cfg.seed, self.epoch, c as u64));
            let builder = sample::ClipBuilder {
                entries: &self.entries,
                aug: &self.cfg.aug,
                targets: &self.cfg.targets,
                cache: self.cache.as_deref(),
            };
            match builder.build(&self.clips[c], Some(&mut rng)) {
                Ok(s) => {
                    batch.clips.push(c);
                    batch.samples.push(s);
                }
                Err(e) if self.cfg.skip_bad => {
                    self.skipped.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{e:#}"))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(batch)
    }
}

/// The batches of one epoch, in order. Dropping it stops the workers.
pub struct Epoch {
    shared: Arc<Shared>,
    rx: Option<Receiver<(usize, Result<HostBatch>)>>,
    pending: BTreeMap<usize, Result<HostBatch>>,
    next: usize,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Epoch {
    pub fn len(&self) -> usize {
        self.shared.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.batches.is_empty()
    }

    /// The index of the next batch to come (batches taken so far, skipped ones included).
    pub fn position(&self) -> usize {
        self.next
    }
}

impl Iterator for Epoch {
    type Item = Result<HostBatch>;

    fn next(&mut self) -> Option<Result<HostBatch>> {
        loop {
            let b = self.take()?;
            // A batch whose clips were all skipped (`skip_bad`) is not yielded.
            if !matches!(&b, Ok(b) if b.samples.is_empty()) {
                return Some(b);
            }
        }
    }
}

impl Epoch {
    /// The next batch in order, whether or not it is empty.
    fn take(&mut self) -> Option<Result<HostBatch>> {
        let k = self.next;
        if k >= self.shared.batches.len() {
            return None;
        }
        self.next += 1;
        let Some(rx) = &self.rx else { return Some(self.shared.build(k)) };
        loop {
            if let Some(b) = self.pending.remove(&k) {
                return Some(b);
            }
            match rx.recv() {
                Ok((i, b)) => {
                    self.pending.insert(i, b);
                }
                Err(_) => return Some(Err(anyhow!("the loader workers stopped before batch {k}"))),
            }
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // unblocks workers waiting to send
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
