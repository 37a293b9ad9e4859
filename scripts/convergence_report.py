"""The table and plot data of scripts/convergence.sh: AP (IoU .50:.95) and AP50 on the held-out shapes
after each epoch, mean and spread over the seeds, for every model; the epochs each model needs to reach a
target AP (half of what Conditional DETR (CSQ) reaches at the end, and DETR's final AP where DETR learns
at all), on the seeds' mean smoothed over 3 epochs so that one lucky epoch does not count. Reads
OUT/runs/MODEL-seedN/results.csv; writes OUT/convergence.md (the table), OUT/convergence.csv (mean AP per
epoch, one column per model, drawn by `cdetr plot`) and OUT/convergence.svg. Standard library only."""
import csv
import glob
import statistics
import sys

out, epochs = sys.argv[1], int(sys.argv[2])
# Table name, and the ASCII name of the CSV column and the PNG legend.
NAMES = {
    "detr": ("DETR", "DETR"),
    "cdetr": ("Conditional DETR (CSQ)", "Conditional DETR (CSQ)"),
    "csq-p": ("CSQ-P (p_s only)", "CSQ-P (p_s only)"),
    "csq-t": ("CSQ-T (λ_q only)", "CSQ-T (lambda_q only)"),
    "csq-c": ("CSQ-C (content f)", "CSQ-C (content f)"),
    "csq-i": ("CSQ-I (c_q ⊙ p_s)", "CSQ-I (c_q * p_s)"),
    "no-offset": ("CSQ, no box offset", "CSQ without box offset"),
}
# An AP this low is what a model that has not learnt yet scores by chance on these images.
NOISE_AP = 0.01
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

def smoothed(curve):
    return [statistics.mean(curve[max(0, e - 1):e + 2]) for e in range(len(curve))]

def first_epoch_reaching(curve, target):
    return next((e + 1 for e, v in enumerate(smoothed(curve)) if v >= target), None)

def reach_cell(curve, target):
    if target is None:
        return "—"
    e = first_epoch_reaching(curve, target)
    return str(e) if e else f"not within {epochs}"

final = lambda m: smoothed(mean_curve(curves[m], 0))[-1]
csq_half = final("cdetr") / 2 if "cdetr" in curves and final("cdetr") >= 2 * NOISE_AP else None
detr_final = final("detr") if "detr" in curves and final("detr") >= NOISE_AP else None
half_txt = f"{csq_half:.3f}" if csq_half else "—"
detr_txt = f"{detr_final:.3f}" if detr_final else "—"
lines = [
    f"| model | seeds | AP @ {epochs // 3} | AP @ {2 * epochs // 3} | AP @ {epochs} (± sd) | AP50 @ {epochs} | epochs to AP {half_txt} (half of CSQ's final) | epochs to AP {detr_txt} (DETR's final) |",
    "|---|---|---|---|---|---|---|---|",
]
for model, runs in curves.items():
    ap = mean_curve(runs, 0)
    ap50 = mean_curve(runs, 1)
    last = [r[-1][0] for r in runs]
    sd = statistics.stdev(last) if len(last) > 1 else 0.0
    lines.append(
        f"| {NAMES[model][0]} | {len(runs)} | {ap[epochs // 3 - 1]:.3f} | {ap[2 * epochs // 3 - 1]:.3f} | "
        f"{ap[-1]:.3f} ± {sd:.3f} | {ap50[-1]:.3f} | {reach_cell(ap, csq_half)} | {reach_cell(ap, detr_final)} |"
    )
if "detr" in curves and detr_final is None:
    lines.append("")
    lines.append(f"DETR ends at AP {final('detr'):.3f} (3-epoch mean), below {NOISE_AP}: it has not learnt to detect within {epochs} epochs, so no model is timed to DETR's final AP.")
open(f"{out}/convergence.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))

with open(f"{out}/convergence.csv", "w") as f:
    models = list(curves)
    f.write(",".join(["epoch"] + [NAMES[m][1] for m in models]) + "\n")
    means = {m: mean_curve(curves[m], 0) for m in models}
    for e in range(epochs):
        f.write(",".join([str(e + 1)] + [f"{means[m][e]:.5f}" for m in models]) + "\n")

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
    svg.append(f'<rect x="{R + 16}" y="{T + 18 * k}" width="12" height="12" fill="{c}"/><text x="{R + 34}" y="{T + 18 * k + 11}">{NAMES[model][0]}</text>')
svg.append("</svg>")
open(f"{out}/convergence.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/convergence.md, {out}/convergence.csv and {out}/convergence.svg")
