#!/usr/bin/env bash
# Same-run peer benchmark of the full-size R50 (random weights, the hub checkpoint's layout) on one 640×480
# frame, on this machine, one peer right after the other:
#   native:  `cdetr bench` (Burn, CPU) against PyTorch + transformers and ONNX Runtime (CPU), same threads;
#   browser: the page's `?bench` against onnxruntime-web in the same headless Chromium, on the CPU (wasm;
#            onnxruntime-web with 1 and 2 threads) and, with --webgpu, on WebGPU; with --train, the page's
#            fine-tuning step (max size 512, batch 1) by default and in the fast mode.
# The ONNX model is exported by transformers from the very checkpoint `cdetr init` wrote, so every runtime
# computes the same network. Prints the ratios and a Markdown table (also in target/bench/report.md).
#
# Usage: scripts/bench_peers.sh PYTHON [RUNS] [--webgpu] [--train]
#   PYTHON: a Python with torch, transformers 4.57, onnx, onnxscript, onnxruntime, e.g.
#     bash ../shared/reference/setup_torch_cpu.sh /tmp/torchenv && /tmp/torchenv/bin/pip install onnx onnxscript onnxruntime
# Not part of the test command (heavy installs, minutes of runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?usage: scripts/bench_peers.sh PYTHON [RUNS] [--webgpu]}
runs=${2:-5}
extra=()
for a in "${@:3}"; do
  case $a in --webgpu|--train) extra+=("$a");; *) echo "unknown option $a"; exit 2;; esac
done
threads=$(nproc)
out=target/bench
mkdir -p "$out"

cargo build --release --locked --quiet --bin cdetr
./scripts/build-web.sh >/dev/null
[ -f "$out/r50/model.safetensors" ] || ./target/release/cdetr init --output "$out/r50"
[ -f "$out/r50.onnx" ] || "$python" scripts/export_onnx.py --model "$out/r50" --output "$out/r50.onnx" --size 640x480 > "$out/export.json"

echo "== native, $threads threads, median of $runs"
./target/release/cdetr bench --runs "$runs" --json > "$out/burn.json"
"$python" scripts/bench_pytorch.py --model "$out/r50" --runs "$runs" --threads "$threads" > "$out/pytorch.json"
"$python" scripts/bench_ort.py --model "$out/r50.onnx" --runs "$runs" --threads "$threads" > "$out/ort.json"

echo "== browser (headless Chromium)"
(cd scripts/bench-web && npm ci --no-audit --no-fund --loglevel=error)
node scripts/bench-web/run.mjs --weights "$out/r50" --onnx "$out/r50.onnx" --frames "$runs" "${extra[@]}" > "$out/web.json"

python3 scripts/bench_report.py "$out" | tee "$out/report.md"
