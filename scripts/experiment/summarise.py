"""The few-label experiment's tables and verdict, from what scripts/experiment.sh left in OUT:
the reports of `tsal eval` under OUT/eval/ARM-SEED/ and the runs' metrics.jsonl under
OUT/runs/ARM-SEED/.

    python3 summarise.py OUT --seeds 1 2 3 4 5 --dose_seeds 1 2 3

Primary metric (fixed before running): the teacher's mean NME (%) over 300W common and 300VW
test-1/2/3. Secondary: the teacher's mean jitter (%) over 300VW test-1/2/3. Pass: TSAL better
than the baseline, than --unsup_weight 0 and than --zero_flow on the primary metric, each as a
paired mean difference over the seeds whose 95 % interval (Student t) excludes 0.
"""
import argparse
import json
import math
import statistics
from pathlib import Path

# Two-sided 95 % quantiles of Student's t, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
       17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}
LISTS = ["300w.test.common.GTB", "300w.test.challenge.GTB", "300VW.test-1.lst",
         "300VW.test-2.lst", "300VW.test-3.lst"]
PRIMARY = ["300w.test.common.GTB", "300VW.test-1.lst", "300VW.test-2.lst", "300VW.test-3.lst"]
VIDEO = ["300VW.test-1.lst", "300VW.test-2.lst", "300VW.test-3.lst"]
NAMES = {"baseline": "supervised baseline", "tsal": "TSAL (40 videos)",
         "unsup0": "TSAL --unsup_weight 0", "zeroflow": "TSAL --zero_flow",
         "dose0": "TSAL, 0 videos", "dose10": "TSAL, 10 videos", "dose160": "TSAL, 160 videos"}


def t95(df):
    if df in T95:
        return T95[df]
    return T95[max(k for k in T95 if k <= df)]


def scores(out, arm, seed, role="teacher"):
    """{list file name: (NME %, jitter % or None)} of one run, or None when it did not run."""
    d = out / "eval" / f"{arm}-{seed}"
    rep = d / role / "report.json" if (d / role).is_dir() else d / "report.json"
    return report_scores(rep)


def report_scores(rep):
    """{list file name: (NME %, jitter % or None)} of one `tsal eval` report.json, or None."""
    if not rep.is_file():
        return None
    r = json.loads(rep.read_text())
    res = {}
    for item in r["lists"]:
        s = item["score"]
        j = s.get("jitter")
        res[Path(item["list"]).name] = (100 * s["summary"]["nme_mean"],
                                        100 * j["mean"] if j else None)
    return res


def primary(s):
    return statistics.mean(s[n][0] for n in PRIMARY)


def secondary(s):
    return statistics.mean(s[n][1] for n in VIDEO)


def mean_sd(values):
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f}"


def paired(a, b):
    """Mean of a − b over paired values and its 95 % interval (None with fewer than 2)."""
    d = [x - y for x, y in zip(a, b)]
    m = statistics.mean(d)
    if len(d) < 2:
        return m, None
    half = t95(len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
    return m, (m - half, m + half)


def fmt_diff(m, ci, digits=2):
    if ci is None:
        return f"{m:+.{digits}f} (one seed: no interval)"
    return f"{m:+.{digits}f} [{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def pair_means(out, arm, seeds):
    """Per pair kind, the mean over seeds of each diagnostic over the last quarter of the
    iteration records of runs/ARM-SEED/metrics.jsonl."""
    acc = {}
    for seed in seeds:
        f = out / "runs" / f"{arm}-{seed}" / "metrics.jsonl"
        if not f.is_file():
            continue
        recs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        recs = [r for r in recs if r.get("kind") == "iter" and r.get("pairs")]
        if not recs:
            continue
        last = recs[len(recs) * 3 // 4:]
        for kind in ("video", "views"):
            per = {}
            for r in last:
                for k, v in (r["pairs"].get(kind) or {}).items():
                    if v is not None:
                        per.setdefault(k, []).append(v)
            for k, v in per.items():
                acc.setdefault(kind, {}).setdefault(k, []).append(statistics.mean(v))
    return {kind: {k: statistics.mean(v) for k, v in d.items()} for kind, d in acc.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", nargs="+", required=True)
    ap.add_argument("--dose_seeds", nargs="*", default=[])
    a = ap.parse_args()
    out = a.out
    runs = {}
    for arm in NAMES:
        seeds = a.dose_seeds if arm.startswith("dose") else a.seeds
        got = {s: scores(out, arm, s) for s in seeds}
        got = {s: v for s, v in got.items() if v is not None}
        if got:
            runs[arm] = got
    if not runs:
        raise SystemExit(f"no evaluated runs under {out}/eval")

    print(f"Seeds {' '.join(a.seeds)} (dose-response: {' '.join(a.dose_seeds) or 'none'}). "
          "Teacher NME % (inter-ocular) per list, mean ± sd over seeds; primary = mean NME over "
          "300W common + 300VW test-1/2/3; jitter % = mean over 300VW test-1/2/3.\n")
    print("| arm | seeds | 300W common | challenge | 300VW test-1 | test-2 | test-3 | "
          "**primary** | jitter |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arm, got in runs.items():
        vals = list(got.values())
        cells = [mean_sd([v[n][0] for v in vals]) for n in LISTS]
        print(f"| {NAMES[arm]} | {len(vals)} | " + " | ".join(cells)
              + f" | **{mean_sd([primary(v) for v in vals])}** | "
              + f"{mean_sd([secondary(v) for v in vals])} |")

    print("\nPaired differences, TSAL − arm (negative: TSAL better), mean [95 % interval] over "
          "the seeds both ran:\n")
    print("| TSAL − | seeds | primary NME | jitter | TSAL better (interval below 0) |")
    print("|---|---|---|---|---|")
    verdict = []
    for arm in ("baseline", "unsup0", "zeroflow"):
        if "tsal" not in runs or arm not in runs:
            verdict.append((arm, None))
            continue
        common = [s for s in runs["tsal"] if s in runs[arm]]
        t = [runs["tsal"][s] for s in common]
        o = [runs[arm][s] for s in common]
        m, ci = paired([primary(v) for v in t], [primary(v) for v in o])
        mj, cij = paired([secondary(v) for v in t], [secondary(v) for v in o])
        better = ci is not None and ci[1] < 0
        verdict.append((arm, better))
        print(f"| {NAMES[arm]} | {len(common)} | {fmt_diff(m, ci)} | {fmt_diff(mj, cij, 3)} | "
              f"{'yes' if better else 'no'} |")
    if "dose0" in runs or "dose10" in runs or "dose160" in runs:
        print("\nDose-response (primary NME, mean ± sd over the dose seeds; 40 = the TSAL arm on "
              "those seeds):\n")
        print("| unlabelled videos | 0 | 10 | 40 | 160 | 160 − 0, paired |")
        print("|---|---|---|---|---|---|")
        cells = []
        for arm in ("dose0", "dose10", "tsal", "dose160"):
            got = runs.get(arm, {})
            vals = [primary(got[s]) for s in a.dose_seeds if s in got]
            cells.append(mean_sd(vals) if vals else "–")
        d0, d160 = runs.get("dose0", {}), runs.get("dose160", {})
        both = [s for s in a.dose_seeds if s in d0 and s in d160]
        diff = "–"
        if both:
            m, ci = paired([primary(d160[s]) for s in both], [primary(d0[s]) for s in both])
            diff = fmt_diff(m, ci)
        print("| primary NME | " + " | ".join(cells) + f" | {diff} |")

    print("\nMechanism (the runs' metrics.jsonl, last quarter of the iterations, mean over "
          "seeds; px at the crop; track / flow: the teacher's tracker; pseudo: the student's "
          "fused pseudo-label; det: the student's own error on frame j+1):\n")
    print("| arm | pairs | static_px | track_px | flow_px | pseudo_px | det_px | "
          "pseudo − det |")
    print("|---|---|---|---|---|---|---|---|")
    for arm in ("tsal", "unsup0", "zeroflow", "dose10", "dose160"):
        if arm not in runs:
            continue
        pm = pair_means(out, arm, list(runs[arm]))
        for kind in ("video", "views"):
            p = pm.get(kind)
            if not p or "static_px" not in p:
                continue
            g = lambda k: p.get(k, float("nan"))  # noqa: E731
            print(f"| {NAMES[arm]} | {kind} | {g('static_px'):.3f} | "
                  f"{g('track_px_teacher'):.3f} | {g('flow_px_teacher'):.3f} | "
                  f"{g('pseudo_px'):.3f} | {g('det_px_student'):.3f} | "
                  f"{g('pseudo_px') - g('det_px_student'):+.3f} |")

    print()
    missing = [NAMES[arm] for arm, ok in verdict if ok is None]
    if missing:
        print(f"**Verdict: not evaluated** (arms not run: {', '.join(missing)}).")
    elif all(ok for _, ok in verdict):
        print("**Verdict: PASS** — TSAL beats the baseline, --unsup_weight 0 and --zero_flow, "
              "each interval below 0.")
    else:
        lost = [NAMES[arm] for arm, ok in verdict if not ok]
        print(f"**Verdict: FAIL** — TSAL is not better, with a 95 % interval below 0, than: "
              f"{', '.join(lost)}.")


if __name__ == "__main__":
    main()
