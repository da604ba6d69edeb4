"""Would a gate on the pseudo-label help? From the per-landmark logs `tsal train --landmark_log`
writes (scripts/experiment.sh with LANDMARK_LOG=1 leaves one per TSAL seed under
OUT/landmarks/):

    python3 gate_signals.py OUT/landmarks/tsal-*.csv

A pseudo-label can only teach the student where it is closer to the truth than the student's
own reading of the frame: gain = det_px − pseudo_px (pixels at the crop, > 0: the label is
better). A gate keeps the landmarks whose signal passes a threshold; it helps if the landmarks
it drops are those where the gain is below 0. For each signal the rows are split into quintiles
of the signal and the gain is shown per quintile, with Spearman's rank correlation between the
signal and the gain.
"""
import argparse
import csv
import statistics
from pathlib import Path

SIGNALS = [
    ("peak", "the source detector's heatmap peak at frame j (confidence)"),
    ("fb_px", "forward–backward distance of the source's tracker"),
    ("to_teacher_px", "the label's distance to the teacher's frame-j+1 landmark"),
    ("to_student_px", "the label's distance to the student's frame-j+1 landmark"),
]


def read(paths):
    rows = []
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                rows.append({k: float(v) for k, v in r.items()})
    return rows


def ranks(xs):
    order = sorted(range(len(xs)), key=xs.__getitem__)
    out = [0.0] * len(xs)
    for rank, i in enumerate(order):
        out[i] = float(rank)
    return out


def spearman(xs, ys):
    return statistics.correlation(ranks(xs), ranks(ys))


def describe(rows):
    pseudo = statistics.fmean(r["pseudo_px"] for r in rows)
    det = statistics.fmean(r["det_px"] for r in rows)
    better = sum(r["det_px"] > r["pseudo_px"] for r in rows) / len(rows)
    return f"| {len(rows)} | {pseudo:.2f} | {det:.2f} | {det - pseudo:+.3f} | {100 * better:.0f} % |"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", type=Path)
    a = ap.parse_args()
    rows = read(a.logs)
    if not rows:
        raise SystemExit("no landmark rows in " + ", ".join(map(str, a.logs)))
    last = max(r["iter"] for r in rows)
    print(f"{len(rows)} landmark-pairs from {len(a.logs)} log(s), iterations 1–{last:.0f}.\n")
    print("| iterations | landmarks | pseudo_px | det_px | gain | label better |")
    print("|---|---|---|---|---|---|")
    thirds = [(0, last / 3), (last / 3, 2 * last / 3), (2 * last / 3, last)]
    for lo, hi in thirds:
        part = [r for r in rows if lo < r["iter"] <= hi]
        if part:
            print(f"| {lo + 1:.0f}–{hi:.0f} " + describe(part))
    print("| all " + describe(rows))
    gain = [r["det_px"] - r["pseudo_px"] for r in rows]
    for name, what in SIGNALS:
        xs = [r[name] for r in rows]
        print(f"\n**{name}**: {what}; Spearman with the gain {spearman(xs, gain):+.3f}.\n")
        print("| quintile | range | landmarks | pseudo_px | det_px | gain | label better |")
        print("|---|---|---|---|---|---|---|")
        order = sorted(range(len(rows)), key=xs.__getitem__)
        for q in range(5):
            idx = order[q * len(order) // 5:(q + 1) * len(order) // 5]
            part = [rows[i] for i in idx]
            lo, hi = xs[idx[0]], xs[idx[-1]]
            print(f"| {q + 1} | {lo:.3f}–{hi:.3f} " + describe(part))


if __name__ == "__main__":
    main()
