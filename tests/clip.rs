//! Clip grouping: views of still images, consecutive video frames, never across videos or lists.
use std::collections::BTreeSet;
use std::path::Path;
use tsal::data::clip::{group, group_strided, ClipKind};
use tsal::formats::list;

fn lines(video: &str, frames: std::ops::RangeInclusive<u32>) -> String {
    frames
        .map(|i| format!("{video}/extraction/{i:06}.png {video}/annot/{i:06}.pts 1 1 50 50\n"))
        .collect()
}

#[test]
fn clips_respect_videos_lists_and_images() {
    let mut a = String::new();
    a += "300W/afw/111_1.jpg 300W/afw/111_1.pts 1 1 50 50\n".repeat(3).as_str(); // reference ×3
    a += "300W/afw/222_1.jpg None 1 1 50 50\n";
    a += &lines("001", 1..=25); // 25 frames: 2 clips of 10 + 1 overlapping
    a += &lines("002", 1..=4); // short: padded
    a += &lines("003", 7..=7); // a lone frame: a still image
    let b = lines("001", 26..=30); // the same video continues in another list: not joined
    let mut entries = list::parse(&a, Path::new("/l/a.lst"), &[]).unwrap();
    entries.extend(list::parse(&b, Path::new("/l/b.lst"), &[]).unwrap());
    let (clips, stats) = group(&entries, 10);
    assert_eq!(stats.view_clips, 3, "{stats:?}");
    assert_eq!(stats.merged_duplicates, 2);
    assert_eq!(stats.video_clips, 3 + 1 + 1);
    assert_eq!((stats.overlapping, stats.padded), (1, 2));
    assert_eq!(clips.len(), 8);
    // Views: one image repeated F times.
    assert_eq!(clips[0].kind, ClipKind::Views);
    assert_eq!(clips[0].frames, vec![0; 10]);
    assert_eq!(clips[1].frames, vec![3; 10]);
    // Video 001 in list a: lines 4..29.
    assert_eq!(clips[2].frames, (4..14).collect::<Vec<_>>());
    assert_eq!(clips[3].frames, (14..24).collect::<Vec<_>>());
    assert_eq!(clips[4].frames, (19..29).collect::<Vec<_>>(), "the last 10 frames, overlapping");
    // Video 002 (4 frames) reflected: 0 1 2 3 2 1 0 1 2 3.
    let base = 29;
    assert_eq!(clips[5].frames, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3].map(|k| base + k));
    assert_eq!(clips[5].padded, 6);
    assert_eq!(clips[6].kind, ClipKind::Views);
    // List b's five frames of 001 form their own (padded) clip.
    assert_eq!(clips[7].frames.iter().collect::<BTreeSet<_>>().len(), 5);
    for c in &clips {
        assert_eq!(c.frames.len(), 10);
        let files: BTreeSet<_> = c.frames.iter().map(|&k| entries[k].origin.file.clone()).collect();
        let videos: BTreeSet<_> =
            c.frames.iter().map(|&k| entries[k].video().map(Path::to_path_buf)).collect();
        assert_eq!((files.len(), videos.len()), (1, 1), "a clip crosses a list or a video");
        if c.kind == ClipKind::Video && c.padded == 0 {
            let nums: Vec<u32> = c
                .frames
                .iter()
                .map(|&k| entries[k].image.file_stem().unwrap().to_str().unwrap().parse().unwrap())
                .collect();
            assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "not consecutive: {nums:?}");
        }
    }
}

#[test]
fn gaps_split_videos_into_stills() {
    // A sparse list: every 10th frame of one video.
    let text: String =
        [14, 24, 34].iter().map(|i| format!("v/extraction/{i:06}.png None 1 1 9 9\n")).collect();
    let entries = list::parse(&text, Path::new("s.lst"), &[]).unwrap();
    let (clips, stats) = group(&entries, 4);
    assert_eq!((stats.view_clips, stats.video_clips), (3, 0));
    assert!(clips.iter().all(|c| c.kind == ClipKind::Views));
}

#[test]
fn strided_clips_take_every_kth_frame_and_use_each_frame() {
    let mut a = String::new();
    a += &lines("001", 1..=10); // 10 frames at stride 4: phases 0 4 8 | 1 5 9 | 2 6 | 3 7
    a += "300W/afw/111_1.jpg 300W/afw/111_1.pts 1 1 50 50\n";
    a += &lines("002", 1..=3); // 3 frames: stride 4 shrinks to 2: (0 2), and 1 is left out
    a += &lines("003", 1..=10); // stride 4 is kept: 0 4 8 | 1 5 9 | 2 6 | 3 7
    let entries = list::parse(&a, Path::new("/l/a.lst"), &[]).unwrap();
    let (clips, stats) = group_strided(&entries, 2, 4);
    let frames: Vec<Vec<usize>> = clips.iter().map(|c| c.frames.clone()).collect();
    assert_eq!(
        frames,
        vec![
            vec![0, 4],
            vec![4, 8], // the last 2 frames of phase 0 (3 frames), overlapping
            vec![1, 5],
            vec![5, 9],
            vec![2, 6],
            vec![3, 7],
            vec![10, 10], // the still image's two views
            vec![11, 13],
            vec![14, 18],
            vec![18, 22],
            vec![15, 19],
            vec![19, 23],
            vec![16, 20],
            vec![17, 21],
        ]
    );
    assert_eq!((stats.video_clips, stats.view_clips, stats.overlapping), (13, 1, 4));
    assert_eq!(stats.left_out, 1);
    let used: BTreeSet<usize> = clips.iter().flat_map(|c| c.frames.clone()).collect();
    assert_eq!(used.len(), 24 - 1, "every frame but 002's middle one (no partner at stride 2)");
    // At stride 8 a 10-frame video keeps two pairs (0 8, 1 9); its other 6 frames are left out.
    let (clips, stats) = group_strided(&entries[..10], 2, 8);
    assert_eq!(clips.iter().map(|c| c.frames.clone()).collect::<Vec<_>>(), [[0, 8], [1, 9]]);
    assert_eq!(stats.left_out, 6);
    // Stride 1 is plain grouping.
    assert_eq!(group_strided(&entries, 2, 1), group(&entries, 2));
}
