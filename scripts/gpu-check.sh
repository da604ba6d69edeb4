#!/usr/bin/env bash
# The GPU check, prepared to the last command: one call on a machine with a CUDA GPU (libtorch
# from a PyTorch 2.11 install, no cargo, no network) measures what tsal does there and writes
# every figure to one JSON file.
#
#   bash scripts/gpu-check.sh --prepare     here: release build, the binary copied to gpu/tsal
#                                           (gitignored); then carry gpu/ to the GPU machine
#   bash scripts/gpu-check.sh               there: the check, figures to $OUT/gpu-check.json
#   bash scripts/gpu-check.sh --device cpu  the dry path: the same steps at toy sizes on this
#                                           CPU (the test suite runs it so the script cannot rot)
#   --pack                                  leave two files in OUT: gpu-check.json and
#                                           gpu-check-logs.tgz (logs/ and parts/), for a
#                                           machine that returns only a few files
# gpu-check.json is rewritten after every step: a call cut short keeps what it measured. On one
# NVIDIA H200 the steps up to the smoke run took 2 min 20 s; give the whole script 5 minutes.
#
# Steps: `tsal doctor` (and `--require_cuda` on CUDA); `bench model` (fp32 and bf16) and
# `bench train --peer` (the same supervised step in PyTorch eager) with the reference detector
# at 256²; `bench train --round` with the reference trackers at the reference batch (8 clips ×
# 10 frames); a 200-iteration TSAL run on synthetic data, evaluated after each epoch. It ends
# with what the reference schedule would take at the measured round rate.
#
#   OUT=DIR          where the JSON, the logs and the parts go (default: gpu-check-out)
#   TSAL_BIN=FILE    the binary (default: gpu/tsal, else target/release/tsal)
#   TSAL_PYTHON=FILE Python with torch, for the peer and for libtorch's folder (default:
#                    /opt/torch/.venv/bin/python, else .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda
prepare=false
pack=false
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) prepare=true ;;
    --pack) pack=true ;;
    --device)
      [ $# -ge 2 ] || { echo "gpu-check: --device needs cuda or cpu" >&2; exit 2; }
      device=$2
      shift
      ;;
    --device=*) device=${1#--device=} ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument \`$1\` (expected --prepare, --pack, --device cuda|cpu)" >&2; exit 2 ;;
  esac
  shift
done
case "$device" in
  cuda | cpu) ;;
  *) echo "gpu-check: --device \`$device\`: expected cuda or cpu" >&2; exit 2 ;;
esac

if $prepare; then
  bash scripts/setup.sh
  mkdir -p gpu
  cp target/release/tsal gpu/tsal
  echo "gpu-check: gpu/tsal ready ($(du -h gpu/tsal | cut -f1)); on the GPU machine, with gpu carried:"
  echo "  OUT=\$OUT bash scripts/gpu-check.sh"
  exit 0
fi

tsal=${TSAL_BIN:-}
if [ -z "$tsal" ]; then
  if [ -x gpu/tsal ]; then tsal=gpu/tsal; else tsal=target/release/tsal; fi
fi
[ -x "$tsal" ] || { echo "gpu-check: no tsal binary at $tsal (run --prepare, or set TSAL_BIN)" >&2; exit 1; }
# A Python with torch, its libtorch on LD_LIBRARY_PATH.
. scripts/torch-lib.sh gpu-check

out=${OUT:-gpu-check-out}
rm -rf "$out/parts" "$out/logs" "$out/gpu-check.json" "$out/gpu-check-logs.tgz"
mkdir -p "$out/parts" "$out/logs"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tsal-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$device" = cuda ]; then
  # The reference architecture and trackers; bench sizes as a training run uses them.
  det=configs/Detector.config
  trk=configs/MFDS.json
  scratch=configs/scratch/Detector.config
  size=256
  bench=(--iters 10 --warmup 3)
  model_batch=8
  peer_batch=(--batch_size 8 --clip_frames 2)
  round_batch=(--batch_size 8 --clip_frames 10) # the reference: 8 sequences of 10 frames
  synth=()                                        # the quickstart's synthetic data
  smoke=(--batch_size 8 --clip_frames 2 --epochs 7 --max_iters 200 --print_freq 20)
else
  # The dry path: every step and every figure, at toy sizes.
  det=configs/tiny/Detector.config
  trk=configs/tiny/MFDS.json
  scratch=configs/tiny/Detector.config
  size=64
  bench=(--iters 1 --warmup 0)
  model_batch=2
  peer_batch=(--batch_size 2 --clip_frames 2)
  round_batch=(--batch_size 2 --clip_frames 2)
  synth=(--images 12 --videos 4 --video_frames 12)
  smoke=(--batch_size 2 --clip_frames 2 --epochs 2 --print_freq 3)
fi
opt=configs/small/optimizer.config

# report quiet|print: one JSON file of every figure so far, and the reference schedule at the
# measured round rate; after every step, so that a call cut short keeps what it measured.
report() {
  "$py" - "$out" "$device" "$1" "${failed[@]}" <<'PY'
import json, os, sys
out, device, mode, failed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
parts = os.path.join(out, "parts")

def load(name):
    path = os.path.join(parts, name + ".out")
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError) as e:
        return {"unreadable": f"{path}: {e}"}

def seconds(name):
    try:
        with open(os.path.join(parts, name + ".seconds")) as f:
            return float(f.read())
    except (OSError, ValueError):
        return None

steps = ["doctor", "synth", "bench_model", "bench_peer", "bench_round", "smoke"]
report = {"device": device, "failed": failed,
          "steps": {s: {"seconds": seconds(s)} for s in steps}}
for s in ["doctor", "bench_model", "bench_peer", "bench_round"]:
    report[s] = load(s)

epochs = []
try:
    with open(os.path.join(parts, "smoke.metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "epoch":
                epochs.append({"epoch": r["epoch"], "iter": r["iter"], "elapsed_s": r["elapsed_s"],
                               "nme": {f'{l["role"]} {os.path.basename(l["list"])}': l["nme"] for l in r["lists"]}})
except (OSError, ValueError):
    pass
report["smoke"] = {"epochs": epochs}

# The reference schedule: 150 epochs over 300W's training list (3,148 images written 10 times:
# 31,480 lines) and 300VW's (50 videos: 95,470 lines), counts from the reference's list
# generators (generate_300W.py, generate_300VW.py).
frames = 150 * (31_480 + 95_470)
rnd = (report.get("bench_round") or {}).get("round") or {}
fps = rnd.get("frames_per_s")
if fps:
    hours = frames / fps / 3600
    report["reference_schedule"] = {"frames": frames, "round_frames_per_s": fps, "hours": hours,
                                    "batch": [report["bench_round"].get("clips_per_batch"),
                                              report["bench_round"].get("frames_per_clip")],
                                    "size": report["bench_round"].get("size")}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(report, f, indent=2)
if mode != "print":
    sys.exit(0)

doc = report.get("doctor") or {}
print(f"gpu-check on {device}: {', '.join(doc.get('cuda_device_names') or []) or 'no CUDA device'}"
      f" (libtorch {doc.get('libtorch_version')})")
for row in (report.get("bench_model") or {}).get("rows", []):
    print(f"  bench model  {row['model']:8} {row['pass']:8} {row['precision']} {row['size']}² batch {row['batch']}: "
          f"{row['images_per_s']:.1f} images/s")
peer = report.get("bench_peer") or {}
if peer.get("step"):
    line = f"  bench train  supervised step {peer['step']['frames_per_s']:.1f} frames/s"
    if peer.get("ratio"):
        line += f", {peer['ratio']:.2f}× PyTorch eager"
    print(line)
if fps:
    r = report["bench_round"]
    print(f"  bench train  TSAL round {fps:.1f} frames/s at {r.get('size')}², "
          f"{r.get('clips_per_batch')} clips × {r.get('frames_per_clip')} frames")
for e in epochs:
    print(f"  smoke run    epoch {e['epoch'] + 1} (iteration {e['iter']}, {e['elapsed_s']:.0f} s): "
          + ", ".join(f"{k} {100 * v:.2f} %" for k, v in e["nme"].items()))
if fps:
    print(f"  the reference schedule (150 epochs, {frames:,} frames) at this rate: "
          f"{hours:.1f} h (the goal: under one hour)")
print(f"  figures: {os.path.join(out, 'gpu-check.json')}")
PY
}

failed=()
# step NAME CMD...: stdout to parts/NAME.out, stderr to logs/NAME.log, seconds to
# parts/NAME.seconds; a failure is recorded and the next step still runs.
step() {
  local name=$1
  shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$@" >"$out/parts/$name.out" 2>"$out/logs/$name.log" || rc=$?
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.2f\n", $2 - $1}' >"$out/parts/$name.seconds"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "gpu-check: $name failed (exit $rc); its log: $out/logs/$name.log" >&2
    tail -n 5 "$out/logs/$name.log" | sed 's/^/    /' >&2
  else
    echo "gpu-check: $name done in $(cat "$out/parts/$name.seconds") s" >&2
  fi
  report quiet
}

step doctor "$tsal" doctor --json
usable=true
if [ "$device" = cuda ] && ! "$tsal" doctor --require_cuda >"$out/logs/require_cuda.log" 2>&1; then
  echo "gpu-check: tsal sees no CUDA device here ($out/logs/require_cuda.log); nothing else to measure" >&2
  sed 's/^/    /' "$out/logs/require_cuda.log" >&2
  failed+=(require_cuda)
  usable=false
fi
# Both precisions where bf16 is native (CUDA; a CPU with avx512_bf16 or amx_bf16).
precisions=(fp32 bf16)
if [ "$device" = cpu ] && grep -q '"cpu_bf16": null' "$out/parts/doctor.out"; then
  precisions=(fp32)
fi
if $usable; then
  step synth "$tsal" synth --out "$work/data" --no_avi "${synth[@]}"
  lists=$work/data/lists
  step bench_model "$tsal" bench model --json --device "$device" --model_config "$det" \
    --tracker_config "$trk" --size "$size" --batch_size "$model_batch" "${bench[@]}" \
    --precision "${precisions[@]}"
  step bench_peer "$tsal" bench train --json --device "$device" --peer --peer_python "$py" \
    --model_config "$det" --opt_config "$opt" --size "$size" "${peer_batch[@]}" "${bench[@]}" \
    --lists "$lists/300W/300w.train.GTB"
  step bench_round "$tsal" bench train --json --device "$device" --round --breakdown \
    --model_config "$det" --opt_config "$opt" --tracker_config "$trk" --size "$size" \
    "${round_batch[@]}" "${bench[@]}" \
    --lists "$lists/300W/300w.train.GTB" "$lists/300VW/300VW.train.lst.none"
  step smoke "$tsal" train --device "$device" --model_config "$scratch" --opt_config "$opt" \
    --tracker_config "$trk" --crop_width "$size" --crop_height "$size" \
    --rand_seed 1 --cache_images "${smoke[@]}" \
    --train_lists "$lists/300W/300w.train.GTB" "$lists/300VW/300VW.train.lst.none" \
    --eval_ilists "$lists/300W/300w.test.common.GTB" "$lists/300W/300w.test.challenge.GTB" \
    --save_path "$work/run"
  cp "$work/run/metrics.jsonl" "$out/parts/smoke.metrics.jsonl" 2>/dev/null || true
fi

report print
if $pack; then
  # At most a handful of files for a machine that returns few: the JSON, and one archive of
  # the logs and the parts.
  tar czf "$out/gpu-check-logs.tgz" -C "$out" logs parts
  rm -rf "$out/logs" "$out/parts"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu-check: failed steps: ${failed[*]}" >&2
  exit 1
fi
