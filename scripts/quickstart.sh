#!/usr/bin/env bash
# The main job on the embedded default: set up, check the machine, make the synthetic
# 300W/300VW quickstart dataset (no download needed), validate its lists, train a detector on
# it (about five minutes on a 2-core CPU), and evaluate it on the synthetic test lists.
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
  # A small member of the same architecture family (widths ÷4, 128² crops), the teacher alone
  # on the labelled 300W training faces (configs/small/README.md says why these settings); the
  # crop jitter is the reference's 30 px at 256², scaled to the 128² crop.
  model=(--model_config configs/small/Detector.config --opt_config configs/small/optimizer.config
         --crop_width 128 --crop_height 128 --crop_perturb_max 15 --batch_size 16 --clip_frames 1)
else
  # The reference architecture at 256², trained from scratch (tsal never downloads ImageNet
  # weights; pass --pretrained vgg16-397923af.pth by hand to start from them).
  model=(--model_config configs/scratch/Detector.config --opt_config configs/small/optimizer.config
         --batch_size 16 --clip_frames 1)
fi
# The same command continues a run that was stopped (Ctrl-C) where its last snapshot stood.
$tsal train --device "$device" "${model[@]}" --supervised_only --rand_seed 1 --cache_images \
  --train_lists "$data/lists/300W/300w.train.GTB" \
  --eval_ilists "$data/lists/300W/300w.test.common.GTB" "$data/lists/300W/300w.test.challenge.GTB" \
  --save_path "$out/runs/quickstart" --print_freq 50
$tsal eval --model "$out/runs/quickstart" --snapshot last --out "$out/runs/quickstart-eval" \
  --lists "$data/lists/300W/300w.test.common.GTB" "$data/lists/300W/300w.test.challenge.GTB" \
          "$data"/lists/300VW/300VW.test-?.lst
