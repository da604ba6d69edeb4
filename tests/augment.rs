//! One affine per frame: image and landmarks move together, the inverse is exact, clips share
//! or do not share transforms as they should.
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tsal::data::augment::{
    clip_matrices, crop_matrix, shrink_factor, warp, warp_points, AugParams, Draw, Region,
    VideoDraws,
};
use tsal::data::clip;
use tsal::formats::list;

fn params() -> AugParams {
    AugParams {
        crop: tsal::data::crop::CropSpec { expand: 0.2, width: 256, height: 256 },
        scale_prob: 1.0,
        scale_min: 0.9,
        scale_max: 1.1,
        rotate_max: 20.0,
        crop_perturb_max: 30.0,
        video_draws: VideoDraws::Shared,
    }
}

/// A dark image with a bright Gaussian marker at sub-pixel `(mx, my)`.
fn marked(w: u32, h: u32, mx: f64, my: f64, sigma: f64) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let d2 = (x as f64 - mx).powi(2) + (y as f64 - my).powi(2);
        let v = (20.0 + 230.0 * (-d2 / (2.0 * sigma * sigma)).exp()).round() as u8;
        image::Rgb([v, v, v])
    })
}

/// Intensity-weighted centre of the bright part of `img` near `around`.
fn find_marker(img: &RgbImage, around: [f64; 2], r: i64) -> [f64; 2] {
    let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
    for y in around[1] as i64 - r..=around[1] as i64 + r {
        for x in around[0] as i64 - r..=around[0] as i64 + r {
            if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 {
                continue;
            }
            let v = img.get_pixel(x as u32, y as u32).0[0] as f64 - 20.0;
            if v > 2.0 {
                sx += v * x as f64;
                sy += v * y as f64;
                sw += v;
            }
        }
    }
    [sx / sw, sy / sw]
}

#[test]
fn landmarks_land_on_the_warped_marker() {
    let p = params();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // A 0.5 px bound would do; 0.15 also catches a block-centre slip of the prepared sources.
    let mut worst: f64 = 0.0;
    // Enlarging crops (box ~150 px → 256) and shrinking ones (box 600 px: sources averaged in
    // 2×2 blocks before the draw; 900 px: 4×4 blocks, then antialiased again by some draws),
    // from the whole image and from the prepared part training uses.
    for (w, h, bbox, sigma) in [
        (400u32, 300u32, [60.0, 40.0, 210.0, 190.0], 1.5),
        (1000, 900, [200.0, 150.0, 800.0, 750.0], 5.0),
        (1400, 1200, [200.0, 150.0, 1100.0, 1050.0], 8.0),
    ] {
        let shrink = shrink_factor(bbox, &p);
        for _ in 0..6 {
            let mx = rng.random_range(
                bbox[0] + 0.3 * (bbox[2] - bbox[0])..bbox[2] - 0.3 * (bbox[2] - bbox[0]),
            );
            let my = rng.random_range(
                bbox[1] + 0.3 * (bbox[3] - bbox[1])..bbox[3] - 0.3 * (bbox[3] - bbox[1]),
            );
            let src = marked(w, h, mx, my, sigma);
            let m = crop_matrix(bbox, &p, &Draw::random(&mut rng, &p));
            let prepared = Region::prepare(&src, bbox, &p);
            assert_eq!(prepared.shrink, shrink);
            for (name, region) in [("whole", Region::whole(src)), ("prepared", prepared)] {
                let out = warp(&region, &m, 256, 256);
                let want = m.apply([mx, my]);
                let r = (4.0 * sigma * m.zoom()).ceil() as i64 + 2;
                let got = find_marker(&out, want, r);
                let err = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
                worst = worst.max(err);
                assert!(
                    err < 0.15,
                    "{name}, zoom {:.2}, shrink {shrink}: marker at {got:?}, landmark at \
                     {want:?} ({err:.3} px)",
                    m.zoom()
                );
            }
        }
    }
    eprintln!("worst marker error {worst:.3} px");
}

use rand::Rng;

#[test]
fn inverse_returns_predictions_to_the_original_image() {
    let p = params();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..20 {
        let bbox = [rng.random_range(0.0..300.0), rng.random_range(0.0..300.0), 0.0, 0.0];
        let bbox = [
            bbox[0],
            bbox[1],
            bbox[0] + rng.random_range(40.0..500.0),
            bbox[1] + rng.random_range(40.0..500.0),
        ];
        for draw in [Draw::NONE, Draw::random(&mut rng, &p)] {
            let m = crop_matrix(bbox, &p, &draw);
            let inv = m.inverse();
            let q = [rng.random_range(-50.0..900.0), rng.random_range(-50.0..900.0)];
            let back = inv.apply(m.apply(q));
            assert!(
                (back[0] - q[0]).abs() < 1e-3 && (back[1] - q[1]).abs() < 1e-3,
                "{q:?} → {back:?}"
            );
        }
    }
    // The evaluation transform maps the expanded box onto the crop exactly.
    let m = crop_matrix([100.0, 50.0, 200.0, 250.0], &p, &Draw::NONE);
    let a = m.apply([100.0 - 20.0, 50.0 - 40.0]);
    let b = m.apply([200.0 + 20.0, 250.0 + 40.0]);
    assert!(
        a[0].abs() < 1e-9
            && a[1].abs() < 1e-9
            && (b[0] - 256.0).abs() < 1e-9
            && (b[1] - 256.0).abs() < 1e-9
    );
}

#[test]
fn points_leaving_the_crop_become_invisible() {
    let p = params();
    let m = crop_matrix([100.0, 100.0, 200.0, 200.0], &p, &Draw::NONE);
    let (pts, vis) = warp_points(
        &[[150.0, 150.0], [10.0, 150.0], [150.0, 500.0]],
        &[true, true, true],
        &m,
        256,
        256,
    );
    assert_eq!(vis, vec![true, false, false]);
    assert!((pts[0][0] - 128.0).abs() < 1e-9);
    let (_, vis) = warp_points(&[[150.0, 150.0]], &[false], &m, 256, 256);
    assert_eq!(vis, vec![false], "an invisible point stays invisible");
}

#[test]
fn video_clips_share_one_transform_views_do_not() {
    let mut text = String::from("img/a_1.jpg None 10 10 110 110\n");
    for i in 1..=4 {
        text += &format!("v/extraction/{i:06}.png None {} 10 {} 110\n", 10 + i, 110 + i);
    }
    let entries = list::parse(&text, Path::new("l.lst"), &[]).unwrap();
    let (clips, _) = clip::group(&entries, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let views = clip_matrices(&clips[0], &entries, &params(), &mut rng);
    assert!(views.windows(2).all(|w| w[0] != w[1]), "views get their own transforms");
    let video = clip_matrices(&clips[1], &entries, &params(), &mut rng);
    assert!(video.windows(2).all(|w| w[0] == w[1]), "video frames share one transform");

    // --video_draws independent: every frame its own draw, all placed by the first frame's box.
    let ind = AugParams { video_draws: VideoDraws::Independent, ..params() };
    let video = clip_matrices(&clips[1], &entries, &ind, &mut rng);
    assert_eq!(video.len(), 4);
    assert!(video.windows(2).all(|w| w[0] != w[1]), "independent draws differ");
    // --video_draws anchored: the first frame is the evaluation crop of the first box, the rest
    // drawn (and differing from it and from each other).
    let anch = AugParams { video_draws: VideoDraws::Anchored, ..params() };
    let video = clip_matrices(&clips[1], &entries, &anch, &mut rng);
    let first_box = entries[clips[1].frames[0]].bbox;
    assert_eq!(video[0], crop_matrix(first_box, &anch, &Draw::NONE));
    assert!(video.windows(2).all(|w| w[0] != w[1]), "later frames drawn: {video:?}");
    // Zero augmentation: anchored and independent frames all equal the evaluation crop.
    let flat =
        AugParams { scale_prob: 0.0, rotate_max: 0.0, crop_perturb_max: 0.0, ..anch.clone() };
    let video = clip_matrices(&clips[1], &entries, &flat, &mut rng);
    assert!(video.iter().all(|m| *m == video[0]));
}

/// Training keeps only what crops need (`Region::prepare`): where no crop shrinks the face by 2×
/// or more, crops from it equal crops from the whole image bit for bit, for any draw (the
/// extremes included); where sources are block-averaged first, they differ only by filtering.
#[test]
fn prepared_regions_warp_like_the_whole_image() {
    let p = params();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let noise = RgbImage::from_fn(1600, 1300, |x, y| {
        image::Rgb([(x * 7 + y * 3) as u8, (x ^ y) as u8, (x * y % 251) as u8])
    });
    // Smooth, for comparing differently filtered crops.
    let smooth = RgbImage::from_fn(1600, 1300, |x, y| {
        let (x, y) = (x as f64, y as f64);
        let v = |f: f64, g: f64| (127.5 + 120.0 * (x / f + y / g).sin()) as u8;
        image::Rgb([v(90.0, 130.0), v(150.0, 70.0), v(60.0, 200.0)])
    });
    let j = p.crop_perturb_max;
    // `reach` holds for any rotation: at 45° with the shift along a diagonal, a crop corner
    // lands exactly on the bound's extent along an axis.
    let mut extremes = vec![Draw::NONE, Draw { scale: p.scale_max, degrees: 0.0, shift: [j, j] }];
    for (deg, sx, sy) in [(45.0, -j, -j), (-45.0, j, -j), (135.0, j, j), (-135.0, -j, j)] {
        extremes.push(Draw { scale: p.scale_min, degrees: deg, shift: [sx, sy] });
        extremes.push(Draw { scale: p.scale_min, degrees: deg, shift: [-sx, -sy] });
    }
    let (mut exact, mut averaged) = (0, 0);
    // Small faces (enlarged), mid-size ones (shrunk < 2×), and large ones (shrink 2..4), some
    // near the image border.
    for (side, n) in [(60.0, 6), (250.0, 6), (700.0, 4), (1000.0, 2)] {
        for _ in 0..n {
            let (w, h) = (side * rng.random_range(0.8..1.2), side * rng.random_range(0.8..1.2));
            let x0 = rng.random_range(-0.2 * w..1600.0 - 0.8 * w);
            let y0 = rng.random_range(-0.2 * h..1300.0 - 0.8 * h);
            let bbox = [x0, y0, x0 + w, y0 + h];
            let img = if shrink_factor(bbox, &p) == 1 { &noise } else { &smooth };
            let part = Region::prepare(img, bbox, &p);
            assert!(part.bytes() < img.as_raw().len(), "box {bbox:?}: nothing left out");
            let whole = Region::whole(img.clone());
            let draws = extremes.iter().copied().chain((0..3).map(|_| Draw::random(&mut rng, &p)));
            for d in draws {
                let m = crop_matrix(bbox, &p, &d);
                let (a, b) = (warp(&part, &m, 256, 256), warp(&whole, &m, 256, 256));
                if part.shrink == 1 {
                    assert!(a == b, "box {bbox:?}, draw {d:?}: the prepared part differs");
                } else {
                    let diff = a
                        .as_raw()
                        .iter()
                        .zip(b.as_raw())
                        .map(|(&x, &y)| (x as f64 - y as f64).abs());
                    let mean = diff.sum::<f64>() / a.as_raw().len() as f64;
                    assert!(mean < 1.0, "box {bbox:?}, draw {d:?}: mean difference {mean:.2}");
                }
            }
            if part.shrink == 1 {
                exact += 1;
            } else {
                averaged += 1;
            }
        }
    }
    assert!(exact >= 10 && averaged >= 3, "{exact} exact, {averaged} averaged boxes");
}
