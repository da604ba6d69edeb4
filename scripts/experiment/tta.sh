#!/usr/bin/env bash
# Does a detector's mean over K augmented views of a face beat its one crop? On the runs that
# scripts/experiment.sh left in $TSAL_EXPERIMENT, the teacher of each (arm, seed) is evaluated
# with `tsal eval --tta 1` and `--tta K` on the experiment's test lists; the script prints the
# primary metric (mean NME over 300W common and 300VW test-1/2/3) of both and their paired
# difference with its 95 % interval. This is the gain a pseudo-label made of K independently
# augmented views of a frame could have over the detector's own prediction, before any
# tracker's residual is added. It also scores one augmented view alone (from `--tta 2`, the
# mean of the evaluation crop c and one view v: v = 2·mean − c, face by face, scored by `tsal
# eval --predictions`): how much worse the detector is on a view drawn as training draws them
# than on the centred crop, the gap a label from the centred crop could teach.
#
#   TSAL_EXPERIMENT=DIR   the experiment's outputs (default: experiment/); results in DIR/tta/
#   K=8                   views per face
#   ARMS="baseline tsal"  which arms' runs
#   SEEDS="1 2 3 4 5"     which seeds
#   TSAL_BIN=FILE         a tsal binary (default: scripts/setup.sh builds one)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/experiment/common.sh
out=${TSAL_EXPERIMENT:-experiment}
k=${K:-8}
arms=${ARMS:-baseline tsal}
seeds=${SEEDS:-1 2 3 4 5}
case $k in
  '' | *[!0-9]*) echo "K=$k: the number of views, from 3 to 64" >&2; exit 2 ;;
esac
if [ "$k" -lt 3 ] || [ "$k" -gt 64 ]; then
  echo "K=$k: the number of views, from 3 to 64 (1 and 2 are always evaluated)" >&2
  exit 2
fi
lists=${DATA:-$out/data}/main/lists
test_lists "$lists"
for arm in $arms; do
  for seed in $seeds; do
    run=$out/runs/$arm-$seed
    [ -d "$run" ] || { echo "tta: no run $run (run scripts/experiment.sh first)" >&2; exit 1; }
    for views in 1 2 "$k"; do
      dest=$out/tta/$arm-$seed/k$views
      [ -f "$dest/report.json" ] && continue
      $tsal eval --model "$run" --which teacher --lists "${eval_lists[@]}" --tta "$views" \
        --device "${TSAL_DEVICE:-cpu}" --out "$dest" >/dev/null
    done
    # One augmented view alone: v = 2·(mean of 2 views) − (the evaluation crop), per point.
    one=$out/tta/$arm-$seed/one-view
    if [ ! -f "$one/report.json" ]; then
      python3 - "$out/tta/$arm-$seed" <<'PY'
import sys
from pathlib import Path
d = Path(sys.argv[1])
def read(p):
    lines = p.read_text().split("\n")
    i = lines.index("{")
    return lines[:i + 1], [tuple(map(float, l.split())) for l in lines[i + 1:] if l.strip() not in ("", "}")]
for c_path in (d / "k1" / "predictions").rglob("*.pts"):
    rel = c_path.relative_to(d / "k1" / "predictions")
    head, c = read(c_path)
    _, m = read(d / "k2" / "predictions" / rel)
    v = [(2 * mx - cx, 2 * my - cy) for (cx, cy), (mx, my) in zip(c, m)]
    out = d / "one-view-predictions" / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(head + [f"{x:.3f} {y:.3f}" for x, y in v] + ["}", ""]))
PY
      $tsal eval --predictions "$out/tta/$arm-$seed/one-view-predictions" \
        --lists "${eval_lists[@]}" --out "$one" >/dev/null
    fi
    echo "evaluated $arm-$seed"
  done
done
# shellcheck disable=SC2086
python3 - "$out" "$k" "$arms" "$seeds" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "scripts/experiment")
from summarise import report_scores, primary, paired, fmt_diff, mean_sd, LISTS

out, k, arms, seeds = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
print(f"Teacher NME % (primary: mean over 300W common + 300VW test-1/2/3), one crop against the "
      f"mean over {k} views (`tsal eval --tta {k}`), seeds {' '.join(seeds)}:\n")
print("| arm | prediction | 300W common | challenge | 300VW test-1 | test-2 | test-3 | **primary** |")
print("|---|---|---|---|---|---|---|---|")
diffs = {}
for arm in arms:
    got = {}
    for views in ["1", k, "one"]:
        sub = "one-view" if views == "one" else f"k{views}"
        got[views] = [report_scores(out / "tta" / f"{arm}-{s}" / sub / "report.json")
                      for s in seeds]
        vals = got[views]
        cells = [mean_sd([v[n][0] for v in vals]) for n in LISTS]
        label = {"one": "one augmented view", "1": "evaluation crop"}.get(views, f"mean of {views} views")
        print(f"| {arm} | {label} | " + " | ".join(cells)
              + f" | **{mean_sd([primary(v) for v in vals])}** |")
    diffs[arm] = (paired([primary(v) for v in got[k]], [primary(v) for v in got["1"]]),
                  paired([primary(v) for v in got["one"]], [primary(v) for v in got["1"]]))
print(f"\nPaired differences against the evaluation crop alone, mean [95 % interval], points "
      "of primary NME:\n")
for arm, ((m, ci), (m1, ci1)) in diffs.items():
    print(f"- {arm}: mean of {k} views − one crop {fmt_diff(m, ci)} (negative: the mean is "
          f"better); one augmented view − one crop {fmt_diff(m1, ci1)}")
PY
