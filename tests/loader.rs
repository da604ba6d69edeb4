//! The loader: the same seed gives the same batches whatever the number of workers; errors
//! name the list line; clip samples carry consistent targets.
use std::path::Path;
use std::sync::Arc;
use tsal::codec::heatmap;
use tsal::data::augment::{AugParams, VideoDraws};
use tsal::data::clip;
use tsal::data::loader::{self, Loader, LoaderConfig};
use tsal::data::sample::TargetParams;
use tsal::formats::list;
use tsal::synth::SynthOptions;

fn dataset(dir: &Path) -> Vec<list::ListEntry> {
    let out = dir.join("data");
    let opts = SynthOptions {
        images: 6,
        common: None,
        challenge: None,
        test_videos: None,
        motion: 1.0,
        videos: 4,
        frames: 9,
        avi: false,
        threads: 2,
        ..SynthOptions::quickstart(out.clone())
    };
    tsal::synth::generate(&opts).unwrap();
    let mut e = list::read(&out.join("lists/300W/300w.train.GTB"), &[]).unwrap();
    e.extend(list::read(&out.join("lists/300VW/300VW.train.lst"), &[]).unwrap());
    e.extend(list::read(&out.join("lists/300VW/300VW.test-1.lst.none"), &[]).unwrap());
    e
}

fn config(workers: usize) -> LoaderConfig {
    LoaderConfig {
        workers,
        seed: 7,
        clips_per_batch: 2,
        aug: AugParams {
            crop: tsal::data::crop::CropSpec { expand: 0.2, width: 64, height: 64 },
            scale_prob: 1.0,
            scale_min: 0.9,
            scale_max: 1.1,
            rotate_max: 20.0,
            crop_perturb_max: 8.0,
            video_draws: VideoDraws::Shared,
        },
        targets: TargetParams {
            num_pts: 68,
            sigma: 2.0,
            shape: heatmap::Shape::Gaussian,
            cutoff: 0.01,
        },
        cache_bytes: None,
        skip_bad: false,
    }
}

#[test]
fn same_seed_same_batches_with_any_number_of_workers() {
    let d = tempfile::tempdir().unwrap();
    let entries = Arc::new(dataset(d.path()));
    let (clips, stats) = clip::group(&entries, 4);
    assert!(stats.view_clips == 6 && stats.video_clips >= 4, "{stats:?}");
    let clips = Arc::new(clips);
    let run = |w: usize, epoch: u64| -> Vec<loader::HostBatch> {
        Loader::new(entries.clone(), clips.clone(), config(w))
            .epoch(epoch)
            .map(|b| b.unwrap())
            .collect()
    };
    let a = run(0, 0);
    assert_eq!(a.len(), clips.len().div_ceil(2));
    assert_eq!(run(1, 0), a, "1 worker differs from inline");
    assert_eq!(run(2, 0), a, "2 workers differ from inline");
    // Images from the cache (filled by epoch 0, read in epoch 1) give the same batches, with a
    // budget for everything and with one too small for all frames.
    for budget in [1usize << 30, 300_000] {
        let cached = Loader::new(
            entries.clone(),
            clips.clone(),
            LoaderConfig { cache_bytes: Some(budget), ..config(2) },
        );
        let first: Vec<_> = cached.epoch(0).map(|b| b.unwrap()).collect();
        assert_eq!(first, a, "cache budget {budget}: a cold cache changes epoch 0");
        let second: Vec<_> = cached.epoch(1).map(|b| b.unwrap()).collect();
        assert_eq!(second, run(0, 1), "cache budget {budget}: a warm cache changes epoch 1");
        let st = cached.cache_stats().unwrap();
        assert!(st.frames > 0 && st.bytes <= budget, "{st:?}");
        if budget == 300_000 {
            assert!(st.refused > 0, "a small budget refuses frames: {st:?}");
        }
    }
    let b = run(2, 1);
    assert_ne!(b[0].samples[0].images, a[0].samples[0].images, "another epoch, other draws");
    // Every clip appears once per epoch.
    let mut seen: Vec<usize> = a.iter().flat_map(|b| b.clips.clone()).collect();
    seen.sort();
    assert_eq!(seen, (0..clips.len()).collect::<Vec<_>>());
    // Sample layout and targets.
    let s = &a[0].samples[0];
    assert_eq!(s.frames, 4);
    assert_eq!(s.images.len(), 4 * 3 * 64 * 64);
    assert_eq!(s.heatmaps.len(), 4 * 69 * 8 * 8);
    for f in 0..4 {
        let mask = &s.heatmap_mask[f * 69..(f + 1) * 69];
        let vis = &s.visible[f * 68..(f + 1) * 68];
        assert!(mask[..68].iter().zip(vis).all(|(m, v)| (*m == 1.0) == *v));
        assert_eq!(mask[68] == 1.0, s.labelled[f]);
    }
    // The unlabelled test-1 frames carry no targets.
    let unl: Vec<_> = a.iter().flat_map(|b| &b.samples).filter(|s| !s.labelled[0]).collect();
    assert!(!unl.is_empty());
    for s in unl {
        assert!(s.heatmaps.iter().all(|&v| v == 0.0) && s.centre_valid.iter().all(|v| !v));
    }
}

/// The first `n` lines of the dataset (still images, one clip each) with line `bad`'s image
/// replaced by `file` in the temporary folder; also the bad line's `list:line`.
fn with_bad_image(
    dir: &Path,
    n: usize,
    bad: usize,
    file: &str,
) -> (Arc<Vec<list::ListEntry>>, Vec<clip::Clip>, String) {
    let mut entries = dataset(dir);
    entries.truncate(n);
    entries[bad].image = dir.join(file);
    let line = entries[bad].origin.to_string();
    let (clips, _) = clip::group(&entries, 4);
    assert_eq!(clips.len(), n);
    (Arc::new(entries), clips, line)
}

#[test]
fn a_missing_image_names_its_list_line() {
    let d = tempfile::tempdir().unwrap();
    let (entries, clips, line) = with_bad_image(d.path(), 3, 1, "gone.jpg");
    let clips = Arc::new(clips);
    for w in [0, 2] {
        let errs: Vec<String> = Loader::new(entries.clone(), clips.clone(), config(w))
            .epoch(0)
            .filter_map(|b| b.err().map(|e| format!("{e:#}")))
            .collect();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains(&line) && errs[0].contains("gone.jpg"), "{}", errs[0]);
    }
}

#[test]
fn a_corrupt_image_names_its_list_line_and_worker_panics_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let (entries, mut clips, line) = with_bad_image(d.path(), 3, 0, "corrupt.png");
    std::fs::write(d.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let errs: Vec<String> = Loader::new(entries.clone(), Arc::new(clips.clone()), config(2))
        .epoch(0)
        .filter_map(|b| b.err().map(|e| format!("{e:#}")))
        .collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains(&line) && errs[0].contains("corrupt.png"), "{}", errs[0]);
    // A clip pointing past the lines makes the worker panic: the panic comes back as an error
    // for its batch, and the other batches still arrive.
    clips[1].frames = vec![99; 4];
    let got: Vec<_> =
        Loader::new(entries, Arc::new(clips), LoaderConfig { clips_per_batch: 1, ..config(2) })
            .epoch(0)
            .collect();
    assert_eq!(got.len(), 3);
    let panics: Vec<String> =
        got.iter().filter_map(|b| b.as_ref().err().map(|e| format!("{e:#}"))).collect();
    assert_eq!(panics.len(), 2, "the corrupt image and the panic: {panics:?}");
    assert!(panics.iter().any(|e| e.contains("panicked") && e.contains("index out of bounds")));
}

#[test]
fn skip_bad_leaves_out_unreadable_clips_and_counts_them() {
    let d = tempfile::tempdir().unwrap();
    let (entries, clips, line) = with_bad_image(d.path(), 4, 2, "gone.jpg");
    let clips = Arc::new(clips);
    for w in [0, 2] {
        let l = Loader::new(
            entries.clone(),
            clips.clone(),
            LoaderConfig { skip_bad: true, clips_per_batch: 1, ..config(w) },
        );
        let batches: Vec<_> = l.epoch(0).map(|b| b.unwrap()).collect();
        // The batch that held only the bad clip is not yielded.
        assert_eq!(batches.len(), 3);
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.clips.clone()).collect();
        seen.sort();
        assert_eq!(seen, [0, 1, 3]);
        let skipped = l.skipped();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains(&line) && skipped[0].contains("gone.jpg"), "{}", skipped[0]);
    }
}

#[test]
fn batches_collate_clip_major_and_map_back_to_the_original_image() {
    use tch::{Device, Kind};
    let d = tempfile::tempdir().unwrap();
    let entries = Arc::new(dataset(d.path()));
    let (clips, _) = clip::group(&entries, 4);
    let clips = Arc::new(clips);
    let hb =
        Loader::new(entries.clone(), clips.clone(), config(0)).epoch(0).next().unwrap().unwrap();
    let b = tsal::data::batch::Batch::from_host(&hb, 64, 64, 68, Device::Cpu).unwrap();
    assert_eq!(b.images.size(), [8, 3, 64, 64]);
    assert_eq!(b.heatmaps.size(), [8, 69, 8, 8]);
    assert_eq!(b.centre.size(), [8, 1, 8, 8]);
    assert_eq!(b.offsets.size(), [8, 136]);
    assert_eq!(b.points.size(), [8, 68, 2]);
    assert_eq!(b.to_original.size(), [8, 2, 3]);
    assert_eq!(b.centre_ind.kind(), Kind::Int64);
    // Row 4 is clip 1, frame 0.
    let s1 = &hb.samples[1];
    assert_eq!(
        b.images.double_value(&[4, 2, 10, 20]),
        s1.images[2 * 64 * 64 + 10 * 64 + 20] as f64
    );
    // Crop points mapped back through to_original land on the .pts landmarks.
    for (row, (s, f)) in hb.samples.iter().flat_map(|s| (0..4).map(move |f| (s, f))).enumerate() {
        let clip = &clips[hb.clips[row / 4]];
        let e = &entries[clip.frames[f]];
        let Some(ann) = &e.annotation else { continue };
        let lm = tsal::formats::pts::read(ann, Some(68)).unwrap();
        let m = s.to_original[f];
        for j in 0..68 {
            let q =
                m.apply([s.points[(f * 68 + j) * 2] as f64, s.points[(f * 68 + j) * 2 + 1] as f64]);
            assert!(
                (q[0] - lm.xy[j][0]).abs() < 1e-2 && (q[1] - lm.xy[j][1]).abs() < 1e-2,
                "{q:?} vs {:?}",
                lm.xy[j]
            );
        }
    }
}
