#!/usr/bin/env bash
# The main job on the embedded default: set up, check the machine, make the synthetic
# 300W/300VW quickstart dataset (no download needed), validate its lists, train TSAL on it
# (teacher, student and their trackers, on the labelled faces and the unlabelled videos; about
# two minutes on a 2-core CPU), evaluate teacher and student on the synthetic test lists, and
# draw their landmarks on a synthetic test video (quickstart/demo.mp4).
#
#   TSAL_QUICKSTART=DIR   outputs elsewhere (default: quickstart/)
#   TSAL_DEVICE=cpu|cuda  force the device (default: CUDA when tsal doctor sees it)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
tsal=target/release/tsal
out=${TSAL_QUICKSTART:-quickstart}
data=$out/data
$tsal doctor
if [ ! -f "$data/.tsal-output" ]; then
  $tsal synth --out "$data" --force
fi
$tsal lists check "$data"/lists/300W/*.GTB "$data"/lists/300VW/300VW.*.lst

device=${TSAL_DEVICE:-}
if [ -z "$device" ]; then
  if $tsal doctor --require-cuda >/dev/null 2>&1; then device=cuda; else device=cpu; fi
fi
if [ "$device" = cpu ]; then
  # A small member of the same architecture family (widths ÷4; trackers ÷8) at 64² crops, TSAL
  # on the labelled 300W training faces and the unlabelled 300VW training videos: 16 clips of
  # 2 frames per batch (about half of them labelled), 12 epochs of ~20 iterations
  # (configs/small/README.md says why these settings); the crop jitter is the reference's
  # 30 px at 256², scaled to the 64² crop.
  model=(--model_config configs/small/Detector.config --opt_config configs/small/optimizer.config
         --tracker_config configs/small/MFDS.json --crop_width 64 --crop_height 64
         --crop_perturb_max 7 --batch_size 16 --clip_frames 2 --epochs 12)
else
  # The reference architecture at 256² with the reference tracker, trained from scratch
  # (tsal never downloads ImageNet or ARFlow weights; pass --pretrained vgg16-397923af.pth and
  # --tracker_weights FILE by hand to start from them).
  model=(--model_config configs/scratch/Detector.config --opt_config configs/small/optimizer.config
         --batch_size 8 --clip_frames 2)
fi
# The same command continues a run that was stopped (Ctrl-C) where its last snapshot stood.
$tsal train --device "$device" "${model[@]}" --rand_seed 1 --cache_images \
  --train_lists "$data/lists/300W/300w.train.GTB" "$data/lists/300VW/300VW.train.lst.none" \
  --eval_ilists "$data/lists/300W/300w.test.common.GTB" "$data/lists/300W/300w.test.challenge.GTB" \
  --save_path "$out/runs/quickstart" --print_freq 20
# Teacher and student on every synthetic test list.
$tsal eval --model "$out/runs/quickstart" --snapshot last --which both \
  --out "$out/runs/quickstart-eval" \
  --lists "$data/lists/300W/300w.test.common.GTB" "$data/lists/300W/300w.test.challenge.GTB" \
          "$data"/lists/300VW/300VW.test-?.lst
# The demo on one synthetic test clip (its vid.avi, never seen in training): teacher and student
# drawn in two colours, the landmarks of every frame, and their NME and jitter against the
# clip's ground truth.
clip=$(dirname "$(dirname "$(head -n 1 "$data/lists/300VW/300VW.test-1.lst" | cut -d' ' -f1)")")
clip=$data/lists/300VW/$clip
$tsal demo --model "$out/runs/quickstart" --video "$clip/vid.avi" --which both --device "$device" \
  --truth "$clip/annot" --out "$out/demo.mp4" --landmarks "$out/demo.json" --force
