#!/usr/bin/env bash
# The few-label experiment: does TSAL's use of unlabelled video help, and through what?
#
# 40 labelled synthetic 300W faces; unlabelled synthetic 300VW training videos of 8 frames.
# Arms, all with the same labelled frames per iteration (BATCH clips' worth), the same
# schedule (ITERS planned iterations, so the same ramp) and the same seeds:
#   baseline  --supervised_only on the labelled faces, BATCH clips per batch
#   tsal      TSAL, 2·BATCH clips per batch: half views of the labelled faces, half clips of
#             the 40 unlabelled videos; TSAL_FLAGS apply to every TSAL arm (by default the
#             levers: trackers pretrained by `tsal tracker pretrain` on the training images,
#             video clips' frames 4 apart, the pseudo-label from the tracked landmarks alone,
#             each video clip's first frame the evaluation crop and its second its own draw of
#             the augmentation, aligned by the known affine: --video_draws anchored)
#   unsup0    tsal with --unsup_weight 0: no pseudo-label terms (isolates the averaging)
#   zeroflow  tsal with --zero_flow: trackers replaced by zero flow (isolates tracking)
#   dose      tsal on 0 / 10 / 160 unlabelled videos (40 is the tsal arm), DOSE_SEEDS; the
#             unlabelled half of each batch stays half (lists repeated to keep the mix),
#             except at 0 videos, where the batch is the BATCH labelled clips alone
# The unlabelled videos train as unlabelled lines: their annotations are given as
# --shadow_lists, read for the pair diagnostics only (no loss sees them).
# Fixed in advance: primary metric = the teacher's mean NME over 300W common and 300VW
# test-1/2/3; secondary = the teacher's mean jitter over 300VW test-1/2/3. Pass = TSAL better
# than baseline, unsup0 and zeroflow, each a paired mean difference over SEEDS with a 95 %
# interval (Student t) that excludes 0. The script writes the tables, the mechanism figures
# and the verdict to $OUT/summary.md.
#
#   TSAL_EXPERIMENT=DIR   outputs (default: experiment/)
#   SEEDS="1 2 3 4 5"     seeds of baseline, tsal, unsup0, zeroflow
#   DOSE_SEEDS="1 2 3"    seeds of the dose-response (a subset of SEEDS)
#   ITERS=240             iterations per run (constant LR; a multiple of 80)
#   SIZE=64               crop side in pixels (a multiple of 64)
#   BATCH=8               labelled clips (of 2 frames) per batch; TSAL's batch is twice that
#   TSAL_FLAGS="…"        flags of every TSAL arm (default: the levers above; --clip_stride
#                         1, 2 or 4 keeps every frame of an 8-frame video in exactly one clip)
#   ARMS="…"              which arms (default: baseline tsal unsup0 zeroflow dose)
#   DATA=DIR              the synthetic data and the pretrained tracker (default:
#                         $TSAL_EXPERIMENT/data; share it between experiments)
#   TSAL_BIN=FILE         a tsal binary to use (default: scripts/setup.sh builds one)
#   MODEL_CONFIG=FILE     the detectors (default: configs/small/Detector.config)
#   TRACKER_CONFIG=FILE   the trackers (default: configs/small/MFDS.json)
#   PRETRAIN_ITERS=N      the tracker pretraining's iterations (default: the command's 6000)
#   TSAL_DEVICE=D         where every run trains and evaluates (default: cpu)
#   PARALLEL=N            runs at a time (default 1; on a GPU several small runs share it)
#   BUDGET_S=N            start no run after N seconds; the summary covers the seeds whose
#                         runs all finished (default: no limit)
#   LANDMARK_LOG=1        the tsal arm's runs also write `--landmark_log` (OUT/landmarks/) and
#                         scripts/experiment/gate_signals.py reads them into OUT/gate-signals.md:
#                         where the pseudo-label beats the detector, by what a gate could read
#   scripts/gpu-experiment.sh runs this at 256² with the reference widths on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/experiment/common.sh
out=${TSAL_EXPERIMENT:-experiment}
seeds=${SEEDS:-1 2 3 4 5}
dose_seeds=${DOSE_SEEDS:-1 2 3}
iters=${ITERS:-240}
size=${SIZE:-64}
batch=${BATCH:-8}
arms=${ARMS:-baseline tsal unsup0 zeroflow dose}
data=${DATA:-$out/data}
model_config=${MODEL_CONFIG:-configs/small/Detector.config}
tracker_config=${TRACKER_CONFIG:-configs/small/MFDS.json}
parallel=${PARALLEL:-1}
budget=${BUDGET_S:-}
for v in "ITERS=$iters" "SIZE=$size" "BATCH=$batch" "PARALLEL=$parallel" ${budget:+"BUDGET_S=$budget"}; do
  case ${v#*=} in
    '' | *[!0-9]*) echo "$v: expected a whole number" >&2; exit 2 ;;
  esac
done
if [ $((iters % 80)) -ne 0 ]; then
  echo "ITERS=$iters: must be a multiple of 80 (every arm's epochs divide it)" >&2
  exit 2
fi
for a in $arms; do
  case $a in baseline|tsal|unsup0|zeroflow|dose) ;;
    *) echo "ARMS: unknown arm $a (baseline, tsal, unsup0, zeroflow or dose)" >&2; exit 2 ;;
  esac
done
synth() { $tsal synth --force --video_frames 8 --no_avi "$@" >/dev/null; }
if [ ! -f "$data/main/.tsal-output" ]; then
  # 40 training faces (all labelled), 300 common and 100 challenge test faces; 40 training
  # videos and 24 test videos (8 per 300VW category) of 8 frames.
  synth --out "$data/main" --images 40 --common 300 --challenge 100 --videos 40 \
    --test_videos 24 --rand_seed 11
fi
for p in 1 2 3; do
  # Three more pools of 40 unlabelled training videos each, for the dose of 160.
  if [[ " $arms " == *" dose "* && ! -f "$data/pool$p/.tsal-output" ]]; then
    synth --out "$data/pool$p" --only 300vw --videos 40 --test_videos 0 --rand_seed $((11 + p))
  fi
done
lists=$data/main/lists
labelled=$lists/300W/300w.train.GTB
videos40=$lists/300VW/300VW.train.lst
# Next to the list it is cut from, so its relative paths still resolve: the first 10 videos.
videos10=$lists/300VW/300VW.train.first10.lst
head -n 80 "$videos40" > "$videos10"
pools=("$videos40" "$data"/pool{1,2,3}/lists/300VW/300VW.train.lst)
echo "labelled: $(wc -l < "$labelled") faces; unlabelled: 10 / 40 / 160 videos of 8 frames"
# Named after the tracker configuration's folder: tracker-small-128 for configs/small/MFDS.json.
tracker_name=$(basename "$(dirname "$tracker_config")")
[ "$tracker_name" = configs ] && tracker_name=reference
tracker=$data/tracker-$tracker_name-128.safetensors
tsal_flags=${TSAL_FLAGS-"--tracker_weights $tracker --clip_stride 4 --mu 1 --video_draws anchored"}
if [[ " $tsal_flags " == *" $tracker "* && ! -f "$tracker" ]]; then
  # No labels: pairs with exact flow made from the training images and video frames (the
  # command's defaults: 6000 iterations at 128², about 19 minutes on 2 CPU cores).
  echo "pretraining the trackers ($tracker)"
  $tsal tracker pretrain --out "$tracker" --tracker_config "$tracker_config" \
    --lists "$labelled" "$videos40" --seed 1 --device "${TSAL_DEVICE:-cpu}" \
    ${PRETRAIN_ITERS:+--iters "$PRETRAIN_ITERS"} > "$data/tracker-pretrain.log"
fi
common=(--model_config "$model_config" --opt_config scripts/experiment/optimizer.config
        --tracker_config "$tracker_config" --crop_width "$size" --crop_height "$size"
        --crop_perturb_max $((size * 15 / 128)) --clip_frames 2 --cache_images --print_freq 25
        --keep 1 --no_resume --device "${TSAL_DEVICE:-cpu}")
test_lists "$lists"
rep() { for _ in $(seq "$1"); do echo "$2"; done; }
mkdir -p "$out"

# One TSAL run: name, seed, batch (clips), epochs, then the lists and flags after --.
tsal_run() {
  local name=$1 seed=$2 b=$3 epochs=$4; shift 4
  local log=()
  if [ "${LANDMARK_LOG:-0}" = 1 ] && [ "$name" = tsal ]; then
    mkdir -p "$out/landmarks"
    log=(--landmark_log "$out/landmarks/$name-$seed.csv")
  fi
  # shellcheck disable=SC2086
  $tsal train "${common[@]}" --batch_size "$b" --rand_seed "$seed" --epochs "$epochs" \
    "$@" $tsal_flags "${log[@]}" --save_path "$out/runs/$name-$seed" --force \
    > "$out/$name-$seed.log"
}
# Clips per epoch: 40 labelled faces → 40 view clips; an 8-frame video → 4 clips of 2 frames
# (at a clip stride of 1, 2 or 4 alike). The labelled list ×4 (160 clips) beside 40 videos
# (160 clips): 320 clips, 20 iterations of 2·BATCH = 16 clips; the schedules below keep every
# arm at ITERS planned iterations.
run_arm() {
  local arm=$1 seed=$2
  case $arm in
    baseline)
      $tsal train "${common[@]}" --supervised_only --batch_size "$batch" --rand_seed "$seed" \
        --epochs $((iters * batch / 40)) --train_lists "$labelled" \
        --save_path "$out/runs/baseline-$seed" --force > "$out/baseline-$seed.log" ;;
    tsal|unsup0|zeroflow)
      local extra=()
      [ "$arm" = unsup0 ] && extra=(--unsup_weight 0)
      [ "$arm" = zeroflow ] && extra=(--zero_flow)
      # shellcheck disable=SC2046
      tsal_run "$arm" "$seed" $((2 * batch)) $((iters * 2 * batch / 320)) \
        --train_lists $(rep 4 "$labelled") --shadow_lists "$videos40" "${extra[@]}" ;;
    dose0)
      # shellcheck disable=SC2046
      tsal_run dose0 "$seed" "$batch" $((iters * batch / 160)) --train_lists $(rep 4 "$labelled") ;;
    dose10)
      # shellcheck disable=SC2046
      tsal_run dose10 "$seed" $((2 * batch)) $((iters * 2 * batch / 320)) \
        --train_lists $(rep 4 "$labelled") --shadow_lists $(rep 4 "$videos10") ;;
    dose160)
      # shellcheck disable=SC2046
      tsal_run dose160 "$seed" $((2 * batch)) $((iters * 2 * batch / 1280)) \
        --train_lists $(rep 16 "$labelled") --shadow_lists "${pools[@]}" ;;
  esac
  local which=both
  [ "$arm" = baseline ] && which=teacher
  $tsal eval --model "$out/runs/$arm-$seed" --which $which --lists "${eval_lists[@]}" \
    --device "${TSAL_DEVICE:-cpu}" --out "$out/eval/$arm-$seed" >/dev/null
}

start=$(date +%s)
# Every run, in order (seed by seed, so that a budget cut leaves whole seeds paired).
jobs_list=()
for seed in $seeds; do
  for arm in $arms; do
    [ "$arm" = dose ] && continue
    jobs_list+=("$arm $seed")
  done
  if [[ " $arms " == *" dose "* && " $dose_seeds " == *" $seed "* ]]; then
    for d in dose0 dose10 dose160; do jobs_list+=("$d $seed"); done
  fi
done
failed=0
running=0
for job in "${jobs_list[@]}"; do
  if [ -n "$budget" ] && [ $(($(date +%s) - start)) -ge "$budget" ]; then
    echo "budget of $budget s spent: no more runs started"
    break
  fi
  if [ "$parallel" -le 1 ]; then
    # shellcheck disable=SC2086
    run_arm $job
  else
    if [ "$running" -ge "$parallel" ]; then
      wait -n || failed=$((failed + 1))
      running=$((running - 1))
    fi
    # shellcheck disable=SC2086
    run_arm $job &
    running=$((running + 1))
  fi
  echo "started $job ($(( ($(date +%s) - start) / 60 )) min)"
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
[ "$failed" -eq 0 ] || echo "$failed runs failed: see $out/*.log" >&2
echo "runs done ($(( ($(date +%s) - start) / 60 )) min)"
if [ "${LANDMARK_LOG:-0}" = 1 ] && compgen -G "$out/landmarks/tsal-*.csv" >/dev/null; then
  python3 scripts/experiment/gate_signals.py "$out"/landmarks/tsal-*.csv > "$out/gate-signals.md"
  echo "gate signals: $out/gate-signals.md"
fi
# The seeds whose runs all finished (all of them unless a budget or a failure cut them).
done_seeds=()
for seed in $seeds; do
  whole=true
  for arm in $arms; do
    [ "$arm" = dose ] && continue
    [ -f "$out/eval/$arm-$seed/report.json" ] || [ -f "$out/eval/$arm-$seed/teacher/report.json" ] \
      || whole=false
  done
  $whole && done_seeds+=("$seed")
done
if [ ${#done_seeds[@]} -eq 0 ]; then
  echo "no seed finished every arm: nothing to summarise" >&2
  exit 1
fi
dose_done=()
# shellcheck disable=SC2206
[[ " $arms " == *" dose "* ]] && dose_done=($dose_seeds)
python3 scripts/experiment/summarise.py "$out" --seeds "${done_seeds[@]}" \
  --dose_seeds "${dose_done[@]}" | tee "$out/summary.md"
