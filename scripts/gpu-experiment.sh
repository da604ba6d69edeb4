#!/usr/bin/env bash
# The few-label experiment (scripts/experiment.sh: the same data, arms, schedule, seeds, metric
# and pass criterion) at the reference's scale on a CUDA GPU: 256² crops, the reference widths
# (configs/scratch/Detector.config: the reference detector, from scratch as every arm of the
# experiment is; configs/MFDS.json: the reference trackers, pretrained on the GPU by `tsal
# tracker pretrain`), fp32 (train's default; add `--precision bf16` to TSAL_FLAGS for autocast,
# which ran slower than fp32 on an H200, docs/performance.md). Several runs share the GPU at
# once (PARALLEL), and a time budget stops starting runs so that the summary covers whole seeds.
#
#   bash scripts/gpu-check.sh --prepare      here: the release binary in gpu/tsal (gitignored)
#   bash scripts/gpu-experiment.sh           there, with gpu/ carried: outputs and summary.md
#                                            in $TSAL_EXPERIMENT (default: gpu-experiment/)
#
#   BUDGET_S=N        start no run after N seconds of runs (default 300)
#   PARALLEL=N        runs at a time on the GPU (default 4: one seed's four arms)
#   PRETRAIN_ITERS=N  tracker pretraining iterations (default 2000; the command's is 6000)
#   SEEDS, ITERS, BATCH, ARMS, TSAL_FLAGS, DATA: as scripts/experiment.sh (ARMS default:
#                     baseline tsal unsup0 zeroflow; the dose-response is left to the CPU run)
#   TSAL_PYTHON=FILE  the Python whose torch provides libtorch (default /opt/torch/.venv/bin/python,
#                     else .venv/bin/python; scripts/torch-lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export TSAL_BIN=${TSAL_BIN:-gpu/tsal}
[ -x "$TSAL_BIN" ] || { echo "gpu-experiment: no tsal binary at $TSAL_BIN (run scripts/gpu-check.sh --prepare here first)" >&2; exit 1; }
. scripts/torch-lib.sh gpu-experiment
"$TSAL_BIN" doctor --require_cuda >/dev/null || { echo "gpu-experiment: tsal sees no CUDA device" >&2; exit 1; }
export TSAL_EXPERIMENT=${TSAL_EXPERIMENT:-gpu-experiment}
export TSAL_DEVICE=${TSAL_DEVICE:-cuda}
export SIZE=${SIZE:-256}
export MODEL_CONFIG=${MODEL_CONFIG:-configs/scratch/Detector.config}
export TRACKER_CONFIG=${TRACKER_CONFIG:-configs/MFDS.json}
export ARMS=${ARMS:-baseline tsal unsup0 zeroflow}
export PARALLEL=${PARALLEL:-4}
export BUDGET_S=${BUDGET_S:-300}
export PRETRAIN_ITERS=${PRETRAIN_ITERS:-2000}
exec bash scripts/experiment.sh
