#!/usr/bin/env bash
# The README's few-label experiment: the supervised baseline against TSAL with the same 40
# labelled synthetic 300W faces and the same schedule and seeds; TSAL also sees 40 unlabelled
# synthetic videos (the 300VW training videos as a `.none` list). Both arms see the same
# number of labelled frames per iteration: the baseline's batches are BATCH clips of labelled
# faces, TSAL's 2·BATCH clips of which about half are labelled (and the rest unlabelled video).
# Teacher and student are scored on the synthetic 300W common / challenge and 300VW test-1/2/3
# lists; the table goes to $OUT/summary.md.
#
#   TSAL_EXPERIMENT=DIR   outputs (default: experiment/)
#   SEEDS="1 2 3"         seeds
#   ITERS=400             iterations per run (constant LR)
#   SIZE=64               crop side in pixels (a multiple of 64)
#   BATCH=8               the baseline's clips (of 2 frames) per batch; TSAL's is twice that
#   TSAL_FLAGS="…"        extra flags for the TSAL runs (e.g. --lambda 0.99)
#   ARMS="baseline tsal"  which arms to run (e.g. ARMS=tsal for another TSAL setting)
#   DATA=DIR              the synthetic data (default: $TSAL_EXPERIMENT/data; share it
#                         between experiments)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
tsal=target/release/tsal
out=${TSAL_EXPERIMENT:-experiment}
seeds=${SEEDS:-1 2 3}
iters=${ITERS:-400}
size=${SIZE:-64}
batch=${BATCH:-8}
arms=${ARMS:-baseline tsal}
data=${DATA:-$out/data}
if [ ! -f "$data/.tsal-output" ]; then
  # 200 training faces (the test sets scale with them: ~36 common, ~10 challenge), 80 videos of
  # 10 frames (about half for training, the rest in test-1/2/3).
  $tsal synth --out "$data" --force --images 200 --videos 80 --video_frames 10 --no_avi --rand_seed 11 >/dev/null
fi
lists=$data/lists
# Next to the list it is cut from, so its relative paths still resolve.
labelled=$lists/300W/labelled40.GTB
head -n 40 "$lists/300W/300w.train.GTB" > "$labelled"
unlabelled=$lists/300VW/300VW.train.lst.none
videos=$(cut -d' ' -f1 "$unlabelled" | xargs -n1 dirname | sort -u | wc -l)
echo "labelled: 40 faces; unlabelled: $(wc -l < "$unlabelled") frames of $videos videos"
common=(--model_config configs/small/Detector.config --opt_config scripts/experiment/optimizer.config
        --tracker_config configs/small/MFDS.json --crop_width "$size" --crop_height "$size"
        --crop_perturb_max $((size * 15 / 128)) --clip_frames 2 --cache_images --print_freq 50
        --device "${TSAL_DEVICE:-cpu}")
eval_lists=("$lists/300W/300w.test.common.GTB" "$lists/300W/300w.test.challenge.GTB"
            "$lists"/300VW/300VW.test-?.lst)
mkdir -p "$out"
for seed in $seeds; do
  for run in $arms; do
    case $run in
      baseline)
        # 40 clips per epoch: 40 / BATCH iterations.
        $tsal train "${common[@]}" --supervised_only --batch_size "$batch" --rand_seed "$seed" \
          --epochs $((iters * batch / 40)) --train_lists "$labelled" \
          --save_path "$out/runs/baseline-$seed" > "$out/baseline-$seed.log" ;;
      tsal)
        # The labelled list 5 times (200 clips, each list its own clips) and 200 unlabelled
        # video clips: labelled frames are half of each batch of 2·BATCH clips; 400 clips per
        # epoch.
        # shellcheck disable=SC2086
        $tsal train "${common[@]}" --batch_size $((2 * batch)) --rand_seed "$seed" \
          --epochs $((iters * 2 * batch / 400)) ${TSAL_FLAGS:-} \
          --train_lists "$labelled" "$labelled" "$labelled" \
                        "$labelled" "$labelled" "$unlabelled" \
          --save_path "$out/runs/tsal-$seed" > "$out/tsal-$seed.log" ;;
      *) echo "ARMS: unknown arm $run (baseline or tsal)" >&2; exit 1 ;;
    esac
    which=both; [ "$run" = baseline ] && which=teacher
    $tsal eval --model "$out/runs/$run-$seed" --which $which --lists "${eval_lists[@]}" \
      --out "$out/eval/$run-$seed" >/dev/null
  done
  echo "seed $seed done"
done
python3 scripts/experiment/summarise.py "$out" $seeds | tee "$out/summary.md"
