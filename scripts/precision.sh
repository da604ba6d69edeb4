#!/usr/bin/env bash
# Does bf16 change what TSAL learns? The few-label experiment's TSAL arm (scripts/experiment.sh:
# 40 labelled synthetic faces, 40 unlabelled videos, 240 iterations at 64²; its TSAL_FLAGS
# replaced by --precision, so with the reference's round: trackers from scratch, consecutive
# frames, μ 0.5; docs/performance.md's figures come from its earlier design) run twice with the
# same data, schedule and seeds, once per precision, then the paired comparison of the
# teacher's mean NME over 300W common and 300VW test-1/2/3 (fixed in advance) with its 95 %
# interval, beside the seed spread of fp32 (scripts/precision/compare.py).
#
#   TSAL_PRECISION_OUT=DIR   outputs (default: precision-experiment/)
#   SEEDS="1 2 3"            paired seeds
#   ITERS, SIZE, BATCH       as scripts/experiment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TSAL_PRECISION_OUT:-precision-experiment}
seeds=${SEEDS:-1 2 3}
export SEEDS=$seeds ARMS=tsal DATA=$out/data
for p in fp32 bf16; do
  echo "== $p"
  TSAL_EXPERIMENT=$out/$p TSAL_FLAGS="--precision $p" bash scripts/experiment.sh >/dev/null
  grep -h "step alone\|it/s\|frames/s" "$out/$p"/tsal-*.log | tail -n 1 || true
done
# shellcheck disable=SC2086
python3 scripts/precision/compare.py "$out/fp32" "$out/bf16" $seeds | tee "$out/summary.md"
