#!/usr/bin/env python3
"""Times ONNX Runtime (CPU execution provider) on the ONNX export of scripts/export_onnx.py: one frame,
the same thread count as `cdetr bench`, median of several runs after warm-up; JSON like `cdetr bench --json`
(forward only: ONNX Runtime runs the graph as one piece).

    python scripts/bench_ort.py --model target/bench/r50.onnx --threads 2 --runs 7
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    def forward():
        t = time.perf_counter()
        session.run(None, {"pixel_values": x})
        return time.perf_counter() - t

    for _ in range(a.warmup):
        forward()
    runs = [forward() for _ in range(a.runs)]
    print(json.dumps({
        "backend": f"ONNX Runtime {ort.__version__} CPU",
        "width": shape[3], "height": shape[2], "runs": a.runs, "threads": a.threads,
        "forward_median_s": statistics.median(runs), "forward_all_s": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
