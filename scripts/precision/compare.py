"""fp32 against bf16 on the same seeds: the teacher's NME per list and the primary metric (mean
NME over 300W common and 300VW test-1/2/3), per seed, then the paired difference bf16 − fp32
with its 95 % interval (Student's t), beside the seed spread of each precision, and the
training time of each run from its log."""
import json
import re
import statistics
import sys
from pathlib import Path

# Two-sided 95 % quantiles of Student's t by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
PRIMARY = ["300w.test.common.GTB", "300VW.test-1.lst", "300VW.test-2.lst", "300VW.test-3.lst"]

a_dir, b_dir, seeds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]


def nmes(out, seed):
    r = json.loads((out / "eval" / f"tsal-{seed}" / "teacher" / "report.json").read_text())
    return {Path(i["list"]).name: 100 * i["score"]["summary"]["nme_mean"] for i in r["lists"]}


def seconds(out, seed):
    """Training wall time: the last `elapsed` the run's metrics recorded."""
    last = None
    for line in (out / "runs" / f"tsal-{seed}" / "metrics.jsonl").read_text().splitlines():
        m = re.search(r'"elapsed_s":\s*([0-9.]+)', line)
        if m:
            last = float(m.group(1))
    return last


names = list(nmes(a_dir, seeds[0]))
print("teacher NME % per list and the primary metric (mean of " + ", ".join(PRIMARY) + ")\n")
print("| seed | precision | " + " | ".join(names) + " | primary | training s |")
print("|---|---|" + "---|" * len(names) + "---|---|")
prim = {"fp32": [], "bf16": []}
for seed in seeds:
    for label, d in [("fp32", a_dir), ("bf16", b_dir)]:
        n = nmes(d, seed)
        p = statistics.mean(n[k] for k in PRIMARY)
        prim[label].append(p)
        t = seconds(d, seed)
        cells = " | ".join(f"{n[k]:.2f}" for k in names)
        print(f"| {seed} | {label} | {cells} | {p:.2f} | {t:.0f} |" if t else
              f"| {seed} | {label} | {cells} | {p:.2f} | – |")
diff = [b - a for a, b in zip(prim["fp32"], prim["bf16"])]
k = len(diff)
m = statistics.mean(diff)
if k > 1:
    half = T95[k - 1] * statistics.stdev(diff) / k ** 0.5
    ci = f"[{m - half:+.2f}, {m + half:+.2f}]"
else:
    ci = "(one seed: no interval)"
spread = {p: statistics.stdev(v) if k > 1 else 0.0 for p, v in prim.items()}
print(f"\nprimary metric, bf16 − fp32 paired over {k} seeds: {m:+.2f} points, 95 % interval {ci}")
print(f"seed spread (std over seeds): fp32 {spread['fp32']:.2f}, bf16 {spread['bf16']:.2f} points")
