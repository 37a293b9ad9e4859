#!/usr/bin/env bash
# The paper's claim in miniature (issue 11): DETR, Conditional DETR and its spatial-query ablations
# (CSQ-P, CSQ-T, CSQ-C, CSQ-I, and CSQ without the box offset from the reference point) trained from
# scratch with the same budget, data, backbone, sizes and seeds on the synthetic shapes; COCO AP on
# held-out images after every epoch (`cdetr train --val`, results.csv). The models are the test fixtures'
# tiny configurations (tests/fixtures/tiny and detr_tiny: the same tiny ResNet, d 32, 2+2 layers, 4 heads,
# 12 queries), so a run takes seconds on a CPU. Writes OUT/convergence.md (the table) and
# OUT/convergence.svg (AP against epochs, mean over the seeds).
# Usage: scripts/convergence.sh [OUT] [EPOCHS] [SEEDS] [IMAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/experiments/convergence}
epochs=${2:-40}
seeds=${3:-3}
images=${4:-256}
cargo build --quiet --locked --bin cdetr # the test build: dependencies optimised
cdetr=target/debug/cdetr
mkdir -p "$out/configs"
[ -f "$out/train/annotations.json" ] || "$cdetr" synth --output "$out/train" --images "$images" --size 64 --seed 11
[ -f "$out/val/annotations.json" ] || "$cdetr" synth --output "$out/val" --images 64 --size 64 --seed 2

# One config.json per model: DETR's fixture, and Conditional DETR's with each ablation switch.
python3 - "$out/configs" <<'PY'
import json, sys
out = sys.argv[1]
cdetr = json.load(open("tests/fixtures/tiny/config.json"))
detr = json.load(open("tests/fixtures/detr_tiny/config.json"))
variants = {"detr": detr, "cdetr": dict(cdetr)}
for sq in ["csq-p", "csq-t", "csq-c", "csq-i"]:
    variants[sq] = {**cdetr, "spatial_query": sq}
variants["no-offset"] = {**cdetr, "box_offset": False}
for name, cfg in variants.items():
    json.dump(cfg, open(f"{out}/{name}.json", "w"), indent=1)
PY

for model in detr cdetr csq-p csq-t csq-c csq-i no-offset; do
  for seed in $(seq 1 "$seeds"); do
    run="$out/runs/$model-seed$seed"
    if [ -f "$run/results.csv" ] && [ "$(($(wc -l <"$run/results.csv") - 1))" -ge "$epochs" ]; then continue; fi
    rm -rf "$run"
    echo "== $model, seed $seed"
    "$cdetr" train --data "$out/train/annotations.json" --val "$out/val/annotations.json" \
      --weights none --config "$out/configs/$model.json" --epochs "$epochs" --batch-size 8 \
      --lr 5e-4 --lr-backbone 5e-4 --lr-drop $((epochs * 4 / 5)) --augment default --max-size 64 \
      --resize 64,64 --seed "$seed" --output "$run" 2>&1 | grep -E "^epoch $epochs:|trained" || true
  done
done
python3 scripts/convergence_report.py "$out" "$epochs"
