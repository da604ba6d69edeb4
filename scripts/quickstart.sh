#!/usr/bin/env bash
# The main job on the embedded default: set up, check the machine, make the synthetic
# 300W/300VW quickstart dataset (no download needed) and validate its lists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
tsal=target/release/tsal
out=${TSAL_QUICKSTART:-quickstart}
$tsal doctor
$tsal synth --out "$out/data" --force
$tsal lists check "$out"/data/lists/300W/*.GTB "$out"/data/lists/300VW/300VW.*.lst
