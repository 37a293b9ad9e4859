#!/usr/bin/env bash
# The paper's claim in miniature (issue 11): DETR, Conditional DETR and its spatial-query ablations
# (CSQ-P, CSQ-T, CSQ-C, CSQ-I, and CSQ without the box offset from the reference point) trained from
# scratch with the same budget, data, backbone, sizes and seeds on the synthetic shapes; COCO AP on
# held-out images after every epoch (`cdetr train --val`, results.csv).
# The models are the size of scripts/configs/synth-small.json (a model that learns on this data: tiny
# ResNet with DC5, d 64, 2+3 layers, 4 heads, 20 queries); each keeps its own loss recipe (DETR: softmax
# with no-object weight 0.1, costs 1/5/2; Conditional DETR: focal loss, costs 2/5/2), the rest is equal.
# Runs go seed by seed (every model's seed 1 first), so a budget cut short still compares every model.
# Writes OUT/convergence.md (the table), OUT/convergence.csv (mean AP per epoch) and OUT/convergence.png.
# Usage: scripts/convergence.sh [OUT] [EPOCHS] [SEEDS] [IMAGES] [SIZE] [MODELS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/experiments/convergence}
epochs=${2:-30}
seeds=${3:-3}
images=${4:-1024}
size=${5:-96}
models=${6:-detr cdetr csq-p csq-t csq-c csq-i no-offset}
cargo build --quiet --locked --bin cdetr # the test build: dependencies optimised
cdetr=target/debug/cdetr
mkdir -p "$out/configs"
[ -f "$out/train/annotations.json" ] || "$cdetr" synth --output "$out/train" --images "$images" --size "$size" --seed 11
[ -f "$out/val/annotations.json" ] || "$cdetr" synth --output "$out/val" --images 64 --size "$size" --seed 2

# One config.json per model: the fixtures' full HF configs (DETR's and Conditional DETR's) at the
# synth-small size, and Conditional DETR's with each ablation switch.
python3 - "$out/configs" <<'PY'
import json, sys
out = sys.argv[1]
size = json.load(open("scripts/configs/synth-small.json"))
size["label2id"] = {v: int(k) for k, v in size["id2label"].items()}
cdetr = {**json.load(open("tests/fixtures/tiny/config.json")), **size}
detr = {**json.load(open("tests/fixtures/detr_tiny/config.json")), **size}
variants = {"detr": detr, "cdetr": cdetr}
for sq in ["csq-p", "csq-t", "csq-c", "csq-i"]:
    variants[sq] = {**cdetr, "spatial_query": sq}
variants["no-offset"] = {**cdetr, "box_offset": False}
for name, cfg in variants.items():
    json.dump(cfg, open(f"{out}/{name}.json", "w"), indent=1)
PY

max_size=$((size * 5 / 3)) # the official 800/1333 ratio: scales of about 0.6-1.0 of the image side
for seed in $(seq 1 "$seeds"); do
  for model in $models; do
    run="$out/runs/$model-seed$seed"
    if [ -f "$run/results.csv" ] && [ "$(($(wc -l <"$run/results.csv") - 1))" -ge "$epochs" ]; then continue; fi
    rm -rf "$run"
    echo "== $model, seed $seed ($(date +%T))"
    "$cdetr" train --data "$out/train/annotations.json" --val "$out/val/annotations.json" \
      --weights none --config "$out/configs/$model.json" --epochs "$epochs" --batch-size 8 \
      --lr 2e-4 --lr-backbone 1e-4 --lr-drop $((epochs * 4 / 5)) --augment default --max-size "$max_size" \
      --resize "$size,$size" --seed "$seed" --output "$run" 2>&1 | grep -E "^epoch $epochs:|trained" || true
  done
done
python3 scripts/convergence_report.py "$out" "$epochs"
"$cdetr" plot "$out/convergence.csv" --output "$out/convergence.png" \
  --title "COCO AP on held-out synthetic shapes, trained from scratch (mean of the seeds)" --y-label AP
