#!/usr/bin/env bash
# Times the R50 forward at 640×480 on the CPU with Burn (`cdetr bench`) and with HF transformers' PyTorch
# model (scripts/bench_pytorch.py) back to back on the same machine and threads, and prints the ratio.
# Usage: scripts/bench_compare.sh PYTHON_WITH_TORCH [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?usage: scripts/bench_compare.sh PYTHON_WITH_TORCH [RUNS]}
runs=${2:-7}
threads=$(nproc)
cargo build --release --quiet --bin cdetr
./target/release/cdetr bench --runs "$runs" --json > target/bench_burn.json
"$python" scripts/bench_pytorch.py --runs "$runs" --threads "$threads" > target/bench_pytorch.json
python3 - <<'PY'
import json
b = json.load(open("target/bench_burn.json"))
t = json.load(open("target/bench_pytorch.json"))
print(f"{t['backend']} vs Burn flex, {b['width']}x{b['height']}, {b['threads']} threads, median of {b['runs']}")
for key, label in [("forward_median_s", "forward"), ("backbone_median_s", "backbone"),
                   ("transformer_and_heads_median_s", "transformer + heads")]:
    print(f"  {label:20s} Burn {b[key]:.3f} s   PyTorch {t[key]:.3f} s   Burn/PyTorch {b[key] / t[key]:.2f}")
print("  Burn backbone stages:   ", ", ".join(f"{n} {s:.3f} s" for n, s in b["backbone_stages_s"]))
print("  PyTorch backbone stages:", ", ".join(f"{n} {s:.3f} s" for n, s in t["backbone_stages_s"]))
PY
