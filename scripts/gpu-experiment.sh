#!/usr/bin/env bash
# The few-label experiment (scripts/experiment.sh: the same data, arms, schedule, seeds, metric
# and pass criterion) at the reference's scale on a CUDA GPU: 256² crops, the reference widths
# (configs/scratch/Detector.config: the reference detector, from scratch as every arm of the
# experiment is; configs/MFDS.json: the reference trackers, pretrained on the GPU by `tsal
# tracker pretrain`), bf16 autocast (`--precision auto` on CUDA). Several runs share the GPU at
# once (PARALLEL), and a time budget stops starting runs so that the summary covers whole seeds.
#
#   bash scripts/gpu-check.sh --prepare      here: the release binary in gpu/tsal (gitignored)
#   bash scripts/gpu-experiment.sh           there, with gpu/ carried: outputs and summary.md
#                                            in $TSAL_EXPERIMENT (default: gpu-experiment/)
#
#   BUDGET_S=N        start no run after N seconds of runs (default 300)
#   PARALLEL=N        runs at a time on the GPU (default 4: one seed's four arms)
#   PRETRAIN_ITERS=N  tracker pretraining iterations (default 2000, half the command's default)
#   SEEDS, ITERS, BATCH, ARMS, TSAL_FLAGS, DATA: as scripts/experiment.sh (ARMS default:
#                     baseline tsal unsup0 zeroflow; the dose-response is left to the CPU run)
#   TSAL_PYTHON=FILE  the Python whose torch provides libtorch (default /opt/torch/.venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
export TSAL_BIN=${TSAL_BIN:-gpu/tsal}
[ -x "$TSAL_BIN" ] || { echo "gpu-experiment: no tsal binary at $TSAL_BIN (run scripts/gpu-check.sh --prepare here first)" >&2; exit 1; }
py=${TSAL_PYTHON:-/opt/torch/.venv/bin/python}
[ -x "$py" ] || py=.venv/bin/python
torch_lib=$("$py" -c 'import os, importlib.util as u; s = u.find_spec("torch"); print(os.path.join(s.submodule_search_locations[0], "lib") if s else "")')
[ -d "$torch_lib" ] || { echo "gpu-experiment: $py has no torch (libtorch is taken from it)" >&2; exit 1; }
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
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
