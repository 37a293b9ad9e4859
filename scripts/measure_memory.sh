#!/usr/bin/env bash
# Peak resident memory of the full-size R50 (random weights from `cdetr init`) on Burn's CPU backend — the
# backend of the page's CPU fallback — for detection at 480×800 and 800×1333 and for fine-tuning at max size
# 512 and 800, batch 1 and 2, with the backbone trained (from layer2, the default), frozen, and cached (fast
# mode). src/memory.rs is fitted to these numbers. Measured with GNU time's maximum RSS.
# Usage: [PYTHON=python-with-pillow] scripts/measure_memory.sh [CDETR_BINARY]
#   (default target/release/cdetr; about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/cdetr}
[ -x "$bin" ] || cargo build --release --locked --quiet --bin cdetr
out=target/bench
mkdir -p "$out"
[ -f "$out/r50/model.safetensors" ] || "$bin" init --output "$out/r50"
w=(--weights "$out/r50/model.safetensors" --config "$out/r50/config.json")
# A 1333×800 frame, so detection runs at exactly 800×1333 (Pillow from $PYTHON, default python3).
frame="$out/frame1333x800.png"
[ -f "$frame" ] || "${PYTHON:-python3}" -c "from PIL import Image; Image.open('tests/fixtures/images/astronaut.png').convert('RGB').resize((1333, 800)).save('$frame')"

peak() { # name, command…
  local name=$1; shift
  /usr/bin/time -f "%M %e" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt" || { echo "| $name | failed: $(tail -1 "$out/stderr.txt") |"; return; }
  read -r kb secs < "$out/time.txt"
  echo "| $name | $((kb / 1024)) MiB | ${secs} s |"
}
echo "| workload (R50, $(nproc) threads) | peak RSS | wall time |"
echo "|---|---|---|"
peak "loading the checkpoint only" "$bin" detect tests/fixtures/images/chelsea.png "${w[@]}" --resize 32,32
peak "detection at 480×800" "$bin" detect "$frame" "${w[@]}" --resize 480,800
peak "detection at 800×1333" "$bin" detect "$frame" "${w[@]}" --resize 800,1333
for size in 512 800; do
  for batch in 1 2; do
    for mode in trained frozen cached; do
      extra=()
      [ $mode = frozen ] && extra=(--freeze-backbone)
      [ $mode = cached ] && extra=(--cache-features)
      rm -rf "$out/memrun"
      peak "fine-tuning, max size $size, batch $batch, backbone $mode" "$bin" train --data tests/fixtures/data/bccd --split val "${w[@]}" \
        --epochs 1 --batch-size $batch --augment none --resize $((size * 3 / 4)),$size --max-size $size "${extra[@]}" --output "$out/memrun"
    done
  done
done
