"""The table and plot of scripts/convergence.sh: AP (IoU .50:.95) and AP50 on the held-out shapes after
each epoch, mean and spread over the seeds, for every model; the epochs each model needs to reach the AP
that DETR reaches at the end of its budget. Reads OUT/runs/MODEL-seedN/results.csv; writes
OUT/convergence.md and OUT/convergence.svg. Standard library only."""
import csv
import glob
import os
import statistics
import sys

out, epochs = sys.argv[1], int(sys.argv[2])
NAMES = {
    "detr": "DETR",
    "cdetr": "Conditional DETR (CSQ)",
    "csq-p": "CSQ-P (p_s only)",
    "csq-t": "CSQ-T (λ_q only)",
    "csq-c": "CSQ-C (content f)",
    "csq-i": "CSQ-I (c_q ⊙ p_s)",
    "no-offset": "CSQ, no box offset",
}
# An AP this low is what a model that has not learnt yet scores by chance on these images.
NOISE_AP = 0.05
COLOURS = ["#444444", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

curves = {}
for model in NAMES:
    runs = []
    for path in sorted(glob.glob(f"{out}/runs/{model}-seed*/results.csv")):
        rows = list(csv.DictReader(open(path)))
        if len(rows) >= epochs:
            runs.append([(float(r["ap"]), float(r["ap50"])) for r in rows[:epochs]])
    if runs:
        curves[model] = runs

def mean_curve(runs, k):
    return [statistics.mean(r[e][k] for r in runs) for e in range(epochs)]

def first_epoch_reaching(curve, target):
    return next((e + 1 for e, v in enumerate(curve) if v >= target), None)

detr_final = mean_curve(curves["detr"], 0)[-1] if "detr" in curves else None
lines = [
    f"| model | seeds | AP @ {epochs // 4} | AP @ {epochs // 2} | AP @ {epochs} (± sd) | AP50 @ {epochs} | epochs to DETR's final AP |",
    "|---|---|---|---|---|---|---|",
]
for model, runs in curves.items():
    ap = mean_curve(runs, 0)
    ap50 = mean_curve(runs, 1)
    final = [r[-1][0] for r in runs]
    sd = statistics.stdev(final) if len(final) > 1 else 0.0
    # Below NOISE_AP the models have not learnt to detect yet: "epochs to reach it" would compare noise.
    reach = first_epoch_reaching(ap, detr_final) if detr_final is not None and detr_final >= NOISE_AP else "—"
    lines.append(
        f"| {NAMES[model]} | {len(runs)} | {ap[epochs // 4 - 1]:.3f} | {ap[epochs // 2 - 1]:.3f} | "
        f"{ap[-1]:.3f} ± {sd:.3f} | {ap50[-1]:.3f} | {reach if reach else f'not within {epochs}'} |"
    )
if detr_final is not None and detr_final < NOISE_AP:
    lines.append("")
    lines.append(f"DETR ends at AP {detr_final:.3f}, below {NOISE_AP}: no model has learnt to detect within this budget, so the epochs-to-reach column is left empty; give more epochs or images.")
open(f"{out}/convergence.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))

# AP against epochs, mean over the seeds.
W, H, L, T, R, B = 760, 420, 60, 30, 560, 370
top = max([max(mean_curve(r, 0)) for r in curves.values()] + [0.01]) * 1.1
x = lambda e: L + (R - L) * (e - 1) / max(1, epochs - 1)
y = lambda v: B - (B - T) * v / top
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">COCO AP on held-out synthetic shapes, trained from scratch (mean of the seeds)</text>']
for i in range(6):
    v = top * i / 5
    svg.append(f'<line x1="{L}" x2="{R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/><text x="{L - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
for e in range(1, epochs + 1, max(1, epochs // 8)):
    svg.append(f'<text x="{x(e):.1f}" y="{B + 16}" text-anchor="middle">{e}</text>')
svg.append(f'<line x1="{L}" x2="{R}" y1="{B}" y2="{B}" stroke="black"/><line x1="{L}" x2="{L}" y1="{T}" y2="{B}" stroke="black"/>')
svg.append(f'<text x="{(L + R) / 2}" y="{B + 34}" text-anchor="middle">epoch</text>')
for k, (model, runs) in enumerate(curves.items()):
    c = COLOURS[k % len(COLOURS)]
    pts = " ".join(f"{x(e + 1):.1f},{y(v):.1f}" for e, v in enumerate(mean_curve(runs, 0)))
    svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
    svg.append(f'<rect x="{R + 16}" y="{T + 18 * k}" width="12" height="12" fill="{c}"/><text x="{R + 34}" y="{T + 18 * k + 11}">{NAMES[model]}</text>')
svg.append("</svg>")
open(f"{out}/convergence.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/convergence.md and {out}/convergence.svg")
