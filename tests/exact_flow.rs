//! Exact flow between two crops of one image: it agrees with a numerical warp of the crops, it
//! carries the annotation of one augmented view onto the other's, and the end-point error is
//! what it says.
mod common;
use common::synth;
use tch::{Device, Kind, Tensor};
use tsal::data::augment::{AugParams, CropSpec, VideoDraws};
use tsal::data::clip::{Clip, ClipKind};
use tsal::data::crop::to_unit;
use tsal::data::sample::{ClipBuilder, TargetParams};
use tsal::losses::exact_flow::{affine_flow, between_crops, epe, invert, lands_inside};
use tsal::losses::tracking::carry_points;
use tsal::models::ops::{warp, Padding};

fn affine(a: [[f64; 3]; 2]) -> Tensor {
    Tensor::from_slice(&a.concat()).view([1, 2, 3])
}

/// Crop → source maps of two views: scale, rotation and shift, as augmentation draws them.
fn view(zoom: f64, deg: f64, tx: f64, ty: f64) -> Tensor {
    let (sn, cs) = deg.to_radians().sin_cos();
    affine([[cs / zoom, -sn / zoom, tx], [sn / zoom, cs / zoom, ty]])
}

/// A crop `h × w` of `src` `[1, C, Hs, Ws]` through the crop → source map `t` `[1, 2, 3]`,
/// bilinear, pixel centres at integers.
fn crop(src: &Tensor, t: &Tensor, h: i64, w: i64) -> Tensor {
    let (_, _, hs, ws) = src.size4().unwrap();
    // affine_flow gives t(x) − x; the sample points are t(x).
    let to_src = affine_flow(&t.to_kind(Kind::Double), h, w).to_kind(Kind::Double);
    let u = Tensor::arange(w, (Kind::Double, Device::Cpu)).view([1, 1, w]);
    let v = Tensor::arange(h, (Kind::Double, Device::Cpu)).view([1, h, 1]);
    let x = (to_src.select(1, 0) + u) * (2.0 / (ws - 1) as f64) - 1.0;
    let y = (to_src.select(1, 1) + v) * (2.0 / (hs - 1) as f64) - 1.0;
    src.grid_sampler(&Tensor::stack(&[x, y], -1), 0, 1, true)
}

#[test]
fn exact_flow_equals_a_numerical_warp_of_the_crop() {
    // A source whose two channels are its own pixel coordinates: a crop's values are the
    // source points its pixels show, exactly (bilinear interpolation of a linear ramp).
    let (hs, ws) = (300, 400);
    let x = Tensor::arange(ws, (Kind::Double, Device::Cpu))
        .view([1, 1, 1, ws])
        .expand([1, 1, hs, ws], false);
    let y = Tensor::arange(hs, (Kind::Double, Device::Cpu))
        .view([1, 1, hs, 1])
        .expand([1, 1, hs, ws], false);
    let src = Tensor::cat(&[x, y], 1);
    let (h, w) = (64, 64);
    for (a, b) in [
        (view(0.5, 0.0, 100.0, 80.0), view(0.55, 12.0, 96.0, 70.0)),
        (view(0.4, -20.0, 120.0, 90.0), view(0.45, 25.0, 110.0, 60.0)),
        (view(1.0, 3.0, 150.0, 100.0), view(0.9, -4.0, 152.0, 103.0)),
    ] {
        let to_original = Tensor::cat(&[&a, &b], 0);
        let rel =
            between_crops(&to_original, &Tensor::from_slice(&[0i64]), &Tensor::from_slice(&[1i64]));
        let flow = affine_flow(&rel, h, w);
        let (c1, c2) = (crop(&src, &a, h, w), crop(&src, &b, h, w));
        // Frame 2 warped onto frame 1 by the flow shows what frame 1 shows.
        let back = warp(&c2.to_kind(Kind::Float), &flow, Padding::Border);
        let mask = lands_inside(&flow);
        let inside = mask.sum(Kind::Float).double_value(&[]);
        assert!(inside > 0.3 * (h * w) as f64, "the views overlap: {inside} pixels");
        let err = ((back - c1.to_kind(Kind::Float)).abs() * &mask).max().double_value(&[]);
        assert!(err < 0.05, "numerical warp differs by {err} px");
        // The backward flow is the inverse map's.
        let inv = affine_flow(&invert(&rel), h, w);
        let there = warp(&c1.to_kind(Kind::Float), &inv, Padding::Border);
        let m2 = lands_inside(&inv);
        let err2 = ((there - c2.to_kind(Kind::Float)).abs() * &m2).max().double_value(&[]);
        assert!(err2 < 0.05, "backward: {err2} px");
    }
}

/// Two augmented views of a synthetic still, as training builds them: the exact flow carries
/// the first view's annotation onto the second's and its pixels onto the second's pixels.
#[test]
fn exact_flow_carries_one_view_onto_the_other() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "3", "--videos", "1", "--frames", "2", "--no-avi", "--seed", "4"]);
    let list = data.join("lists/300W/300w.train.GTB");
    let entries = tsal::formats::list::read(&list, &[]).unwrap();
    let aug = AugParams {
        crop: CropSpec { expand: 0.2, width: 96, height: 96 },
        scale_prob: 1.0,
        scale_min: 0.9,
        scale_max: 1.1,
        rotate_max: 20.0,
        crop_perturb_max: 10.0,
        video_draws: VideoDraws::Shared,
    };
    let targets = TargetParams {
        num_pts: 68,
        sigma: 4.0,
        shape: tsal::codec::heatmap::Shape::Gaussian,
        cutoff: -1.0,
    };
    let b = ClipBuilder { entries: &entries, aug: &aug, targets: &targets, cache: None };
    let clip = Clip { kind: ClipKind::Views, frames: vec![0, 0], padded: 0 };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let hb = tsal::data::loader::HostBatch {
        clips: vec![0],
        samples: vec![b.build(&clip, Some(&mut rng)).unwrap()],
    };
    let batch = tsal::data::batch::Batch::from_host(&hb, 96, 96, 68, Device::Cpu).unwrap();
    let (first, second) = (Tensor::from_slice(&[0i64]), Tensor::from_slice(&[1i64]));
    let flow = affine_flow(&between_crops(&batch.to_original, &first, &second), 96, 96);
    let (p1, p2) = (batch.points.narrow(0, 0, 1), batch.points.narrow(0, 1, 1));
    let moved = (&p2 - &p1).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Float).sqrt();
    let carried = carry_points(&p1, &flow);
    let left =
        (&carried - &p2).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Float).sqrt();
    let vis = batch
        .visible
        .narrow(0, 0, 1)
        .logical_and(&batch.visible.narrow(0, 1, 1))
        .to_kind(Kind::Float);
    let n = vis.sum(Kind::Float).double_value(&[]);
    assert!(n > 40.0, "{n} landmarks visible in both views");
    let static_px = (moved * &vis).sum(Kind::Float).double_value(&[]) / n;
    let track_px = (left * &vis).max().double_value(&[]);
    assert!(static_px > 2.0, "the views differ: {static_px} px");
    assert!(track_px < 0.01, "carried landmarks miss by up to {track_px} px");
    // Pixels too: frame 2 warped back is frame 1 up to resampling, far closer than frame 2.
    let unit = to_unit(&batch.images);
    let (im1, im2) = (unit.narrow(0, 0, 1), unit.narrow(0, 1, 1));
    let mask = lands_inside(&flow);
    let back = warp(&im2, &flow, Padding::Border);
    let mean = |t: Tensor| {
        (t.abs() * &mask).sum(Kind::Float).double_value(&[])
            / mask.sum(Kind::Float).double_value(&[])
    };
    let (warped, raw) = (mean(back - &im1), mean(&im2 - &im1));
    assert!(warped < 0.25 * raw, "warped {warped} vs unwarped {raw}");
}

#[test]
fn end_point_error_is_the_mean_distance_over_the_mask() {
    let truth = Tensor::zeros([2, 2, 4, 4], (Kind::Float, Device::Cpu));
    // Pair 0: 3-4-5 everywhere; pair 1: 1 px, weighted 0.
    let flow = Tensor::cat(
        &[
            Tensor::from_slice(&[3.0f32, 4.0]).view([1, 2, 1, 1]).expand([1, 2, 4, 4], false),
            Tensor::ones([1, 2, 4, 4], (Kind::Float, Device::Cpu)),
        ],
        0,
    );
    let mask = Tensor::ones([2, 1, 4, 4], (Kind::Float, Device::Cpu));
    let weight = Tensor::from_slice(&[1.0f32, 0.0]);
    assert!((epe(&flow, &truth, &mask, &weight).double_value(&[]) - 5.0).abs() < 1e-6);
    let both = Tensor::from_slice(&[1.0f32, 1.0]);
    let want = (5.0 + 2f64.sqrt()) / 2.0;
    assert!((epe(&flow, &truth, &mask, &both).double_value(&[]) - want).abs() < 1e-5);
    // Masked-out pixels do not count; no weight at all gives 0.
    let half = Tensor::cat(
        &[
            Tensor::ones([2, 1, 2, 4], (Kind::Float, Device::Cpu)),
            Tensor::zeros([2, 1, 2, 4], (Kind::Float, Device::Cpu)),
        ],
        2,
    );
    let flow2 = flow.copy();
    let _ = flow2.narrow(2, 2, 2).fill_(100.0);
    assert!((epe(&flow2, &truth, &half, &weight).double_value(&[]) - 5.0).abs() < 1e-6);
    let none = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    assert_eq!(epe(&flow, &truth, &mask, &none).double_value(&[]), 0.0);
}
