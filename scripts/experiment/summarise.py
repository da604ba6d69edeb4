"""The experiment's table: NME and AUC@0.08 (%) per list, mean ± std over seeds, per run kind
and role, from the reports `tsal eval` wrote under OUT/eval/."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
seeds = sys.argv[2:]
rows = {}
names = []
for kind, roles in [("baseline", ["teacher"]), ("tsal", ["teacher", "student"])]:
    if not (out / "eval" / f"{kind}-{seeds[0]}").is_dir():
        continue  # an arm this experiment did not run (ARMS)
    for role in roles:
        per_list = {}
        for seed in seeds:
            d = out / "eval" / f"{kind}-{seed}"
            rep = d / role / "report.json" if (d / role).is_dir() else d / "report.json"
            r = json.loads(rep.read_text())
            for item in r["lists"]:
                name = Path(item["list"]).name
                if name not in names:
                    names.append(name)
                s = item["score"]["summary"]
                per_list.setdefault(name, []).append((100 * s["nme_mean"], 100 * s["at"][0][1]))
        rows[f"{kind} {role}"] = per_list


def fmt(values):
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f}"


print(f"seeds {' '.join(seeds)}; NME % (inter-ocular), then AUC@0.08 %, mean ± std over seeds\n")
print("| run | " + " | ".join(names) + " |")
print("|---|" + "---|" * len(names))
for key, per_list in rows.items():
    nme = [fmt([v[0] for v in per_list[n]]) for n in names]
    auc = [fmt([v[1] for v in per_list[n]]) for n in names]
    print(f"| {key} NME | " + " | ".join(nme) + " |")
    print(f"| {key} AUC | " + " | ".join(auc) + " |")
