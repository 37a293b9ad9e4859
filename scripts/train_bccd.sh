#!/usr/bin/env bash
# The BCCD experiments of the README, on the train split (205 images, VOC XML) with the official augmentation
# scaled to a 320-px longest side, evaluated on the val split (87 images). No pretrained weights can be
# downloaded on the development machine, so:
#   scripts/train_bccd.sh BCCD_ROOT OUT 60           from random weights (scripts/configs/bccd-small.json)
#   scripts/train_bccd.sh BCCD_ROOT OUT 60 SYNTH_RUN fine-tuned from the synthetic-shapes model of
#                                                    scripts/train_synth.sh (SYNTH_RUN = its run/ folder:
#                                                    model.safetensors + config.json; a new class head)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets/bccd}
out=${2:-target/experiments/bccd}
epochs=${3:-60}
init=${4:-}
cdetr() { cargo run --quiet --bin cdetr -- "$@"; }   # the test build: dependencies optimised
if [ -n "$init" ]; then
  start=(--weights "$init/model.safetensors" --config "$init/config.json")
else
  start=(--config scripts/configs/bccd-small.json)
fi
time cdetr train --data "$data" --split train "${start[@]}" \
  --epochs "$epochs" --batch-size 4 --lr 2e-4 --lr-backbone 1e-4 --lr-drop $((epochs * 4 / 5)) \
  --max-size 320 --output "$out/run"
cdetr eval --weights "$out/run/model.safetensors" --config "$out/run/config.json" \
  --data "$data" --split val --resize 192,320 --output "$out/val_metrics.json"
