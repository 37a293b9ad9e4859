#!/usr/bin/env bash
# The from-scratch experiment of the README: a small Conditional DETR (scripts/configs/synth-small.json:
# tiny ResNet with DC5, d 64, 2+3 layers, 20 queries) trained from scratch on 2048 synthetic 128×128 shape
# images on the CPU with the official augmentation (max size 213: scales 77-128 px), evaluated on 64 held-out
# images. Usage: scripts/train_synth.sh [OUTPUT_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/experiments/synth}
epochs=${2:-40}
cdetr() { cargo run --quiet --bin cdetr -- "$@"; }   # the test build: dependencies optimised
cdetr synth --output "$out/train" --images 2048 --size 128 --seed 11
cdetr synth --output "$out/val" --images 64 --size 128 --seed 2
time cdetr train --data "$out/train/annotations.json" --config scripts/configs/synth-small.json \
  --epochs "$epochs" --batch-size 8 --lr 2e-4 --lr-backbone 1e-4 --lr-drop $((epochs * 4 / 5)) \
  --augment default --max-size 213 --output "$out/run"
cdetr eval --weights "$out/run/model.safetensors" --config "$out/run/config.json" \
  --data "$out/val/annotations.json" --resize none --output "$out/val_metrics.json"
