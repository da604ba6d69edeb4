//! `tsal bench data`: the training loader's throughput (clips built per second: decode, one
//! resampling, targets), with or without the image cache; per-step times on one thread; a PNG
//! of an augmented clip.
use anyhow::{ensure, Context, Result};
use rand::SeedableRng;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// What to measure (the flags of `tsal bench data`).
pub struct DataSettings {
    pub lists: Vec<PathBuf>,
    pub workers: usize,
    pub batch_size: usize,
    pub frames: usize,
    pub batches: usize,
    pub size: u32,
    pub rand_seed: u64,
    pub cache_images: bool,
    pub cache_mb: usize,
    pub heatmap_cutoff: f64,
    pub breakdown: bool,
    pub debug_png: Option<PathBuf>,
}

/// Build batches of the training loader over the lists and time them.
pub fn run(a: &DataSettings) -> Result<DataReport> {
    use crate::data::{cache::ImageCache, clip, loader, sample};
    use crate::formats::list;
    use std::sync::Arc;
    crate::config::limits::side(
        "--size",
        a.size as i64,
        crate::config::limits::Consumer::Detector,
    )?;
    ensure!(
        a.frames > 0 && a.batch_size > 0 && a.batches > 0,
        "--frames, --batch_size and --batches must be positive"
    );
    let mut entries = Vec::new();
    for l in &a.lists {
        entries.extend(list::read(l, &[])?);
    }
    let (clips, stats) = clip::group(&entries, a.frames);
    ensure!(!clips.is_empty(), "the lists hold no clips");
    let mut cfg =
        crate::config::run::reference_loader(a.size, 68, a.batch_size, a.workers, a.rand_seed);
    cfg.targets.cutoff = a.heatmap_cutoff;
    cfg.cache_bytes = a.cache_images.then_some(a.cache_mb << 20);
    let (entries, clips) = (Arc::new(entries), Arc::new(clips));
    let loader = loader::Loader::new(entries.clone(), clips.clone(), cfg.clone());
    let mut report = DataReport {
        clips: clips.len(),
        view_clips: stats.view_clips,
        video_clips: stats.video_clips,
        clips_per_batch: a.batch_size,
        frames_per_clip: a.frames,
        size: a.size,
        workers: a.workers,
        cache_fill_s: None,
        cache: None,
        samples: 0,
        seconds: 0.0,
        samples_per_s: 0.0,
        breakdown: Vec::new(),
    };
    let mut epoch = 0;
    if a.cache_images {
        let t0 = Instant::now();
        for b in loader.epoch(epoch) {
            b?;
        }
        epoch += 1;
        report.cache_fill_s = Some(t0.elapsed().as_secs_f64());
        report.cache = loader.cache_stats();
    }
    let t0 = Instant::now();
    let mut n = 0;
    while n < a.batches {
        for b in loader.epoch(epoch) {
            let b = b?;
            if n == 0 {
                if let Some(p) = &a.debug_png {
                    let img = crate::data::debug::render_clip(&b.samples[0], a.size, a.size, 68);
                    img.save(p).with_context(|| format!("--debug_png {}", p.display()))?;
                }
            }
            report.samples += b.samples.iter().map(|s| s.frames).sum::<usize>();
            n += 1;
            if n == a.batches {
                break;
            }
        }
        epoch += 1;
    }
    report.seconds = t0.elapsed().as_secs_f64();
    report.samples_per_s = report.samples as f64 / report.seconds;
    if a.breakdown {
        // One thread, the clips of the first batches of a fresh epoch, step by step: first
        // reading the images from disk (and filling a cache), then from that cache.
        let cache = cfg.cache_bytes.map(ImageCache::new);
        let order = loader::epoch_order(clips.len(), a.rand_seed, 0);
        let take = (a.batches * a.batch_size).min(clips.len());
        let mut passes = vec![("disk", sample::PhaseTimes::default())];
        if cache.is_some() {
            passes.push(("cache", sample::PhaseTimes::default()));
        }
        for (_, times) in passes.iter_mut() {
            for (j, &c) in order[..take].iter().enumerate() {
                let seed = loader::stream_seed(a.rand_seed, 0, j as u64);
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let builder = sample::ClipBuilder {
                    entries: &entries,
                    aug: &cfg.aug,
                    targets: &cfg.targets,
                    cache: cache.as_ref(),
                };
                builder.build_timed(&clips[c], Some(&mut rng), times)?;
            }
        }
        for (images, t) in passes {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / t.frames.max(1) as f64;
            let mut row = Breakdown {
                images,
                read_ms: ms(t.read),
                warp_ms: ms(t.warp),
                normalise_ms: ms(t.normalise),
                heatmaps_ms: ms(t.heatmaps),
                centroid_ms: ms(t.centroid),
                total_ms: 0.0,
            };
            row.total_ms =
                row.read_ms + row.warp_ms + row.normalise_ms + row.heatmaps_ms + row.centroid_ms;
            report.breakdown.push(row);
        }
    }
    Ok(report)
}

#[derive(Serialize)]
pub struct DataReport {
    pub clips: usize,
    pub view_clips: usize,
    pub video_clips: usize,
    pub clips_per_batch: usize,
    pub frames_per_clip: usize,
    pub size: u32,
    pub workers: usize,
    /// Seconds of the untimed epoch that filled the cache.
    pub cache_fill_s: Option<f64>,
    pub cache: Option<crate::data::cache::CacheStats>,
    pub samples: usize,
    pub seconds: f64,
    pub samples_per_s: f64,
    pub breakdown: Vec<Breakdown>,
}

/// Milliseconds per sample of each step on one thread.
#[derive(Serialize)]
pub struct Breakdown {
    pub images: &'static str,
    pub read_ms: f64,
    pub warp_ms: f64,
    pub normalise_ms: f64,
    pub heatmaps_ms: f64,
    pub centroid_ms: f64,
    pub total_ms: f64,
}

impl DataReport {
    pub fn print(&self, cache_mb: usize) {
        println!(
            "{} clips ({} views, {} video); batches of {} clips × {} frames at {}², {} workers",
            self.clips,
            self.view_clips,
            self.video_clips,
            self.clips_per_batch,
            self.frames_per_clip,
            self.size,
            self.workers
        );
        if let (Some(c), Some(s)) = (&self.cache, self.cache_fill_s) {
            println!(
                "cache filled by one epoch in {s:.2} s: {} frames, {:.1} MiB ({:.0} KiB per \
                 frame), {} requests not admitted (budget {cache_mb} MiB)",
                c.frames,
                c.bytes as f64 / (1 << 20) as f64,
                c.bytes as f64 / 1024.0 / c.frames.max(1) as f64,
                c.refused
            );
        }
        println!(
            "{} samples in {:.2} s: {:.0} samples/s (images {}; 69 heatmaps + centroid targets \
             each)",
            self.samples,
            self.seconds,
            self.samples_per_s,
            if self.cache.is_some() { "from the cache" } else { "decoded from disk" }
        );
        if !self.breakdown.is_empty() {
            println!("time per sample on one thread (ms):");
            println!(
                "{:<8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}",
                "images", "read", "warp", "normalise", "heatmaps", "centroid", "total", "samples/s"
            );
            for r in &self.breakdown {
                println!(
                    "{:<8} {:>7.3} {:>7.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>9.0}",
                    r.images,
                    r.read_ms,
                    r.warp_ms,
                    r.normalise_ms,
                    r.heatmaps_ms,
                    r.centroid_ms,
                    r.total_ms,
                    1e3 / r.total_ms
                );
            }
        }
    }
}
