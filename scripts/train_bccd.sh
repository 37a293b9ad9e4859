#!/usr/bin/env bash
# The BCCD experiment of the README: a small Conditional DETR (scripts/configs/bccd-small.json) trained from
# scratch (no pretrained weights can be downloaded here) on the BCCD train split (205 images, VOC XML) with
# the official augmentation scaled to a 320-pixel longest side, evaluated on the val split (87 images).
# Usage: scripts/train_bccd.sh [BCCD_ROOT] [OUTPUT_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets/bccd}
out=${2:-target/experiments/bccd}
epochs=${3:-60}
cdetr() { cargo run --quiet --bin cdetr -- "$@"; }   # the test build: dependencies optimised
time cdetr train --data "$data" --split train --config scripts/configs/bccd-small.json \
  --epochs "$epochs" --batch-size 4 --lr 2e-4 --lr-backbone 1e-4 --lr-drop $((epochs * 4 / 5)) \
  --max-size 320 --output "$out/run"
cdetr eval --weights "$out/run/model.safetensors" --config "$out/run/config.json" \
  --data "$data" --split val --resize 192,320 --output "$out/val_metrics.json"
