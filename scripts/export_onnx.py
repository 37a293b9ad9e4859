#!/usr/bin/env python3
"""Exports a Conditional DETR checkpoint folder (HF layout: model.safetensors + config.json, e.g. the
random-weight R50 of `cdetr init`) to ONNX with transformers + torch, for the onnxruntime peers of
scripts/bench_peers.sh, and checks the ONNX model against PyTorch with ONNX Runtime.

    python scripts/export_onnx.py --model target/bench/r50 --output target/bench/r50.onnx --size 640x480

The input is `pixel_values [1, 3, H, W]` at the fixed size given (no pixel mask: all pixels valid, as the
benchmarks feed one unpadded frame); the outputs are `logits` and `pred_boxes`. Needs torch, transformers
4.57, onnx, onnxscript and onnxruntime (a heavy install kept out of the test command).
"""
import argparse
import json

import numpy as np
import onnxruntime as ort
import torch
from transformers import ConditionalDetrForObjectDetection


class Wrapped(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        return out.logits, out.pred_boxes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="folder with model.safetensors + config.json")
    ap.add_argument("--output", required=True)
    ap.add_argument("--size", default="640x480", help="width x height of the network input")
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    model = Wrapped(ConditionalDetrForObjectDetection.from_pretrained(a.model).eval())
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, h, w), dtype=np.float32))
    with torch.inference_mode():
        ref_logits, ref_boxes = model(x)
    torch.onnx.export(model, (x,), a.output, input_names=["pixel_values"], output_names=["logits", "pred_boxes"],
                      opset_version=a.opset, dynamo=False)
    session = ort.InferenceSession(a.output, providers=["CPUExecutionProvider"])
    logits, boxes = session.run(None, {"pixel_values": x.numpy()})
    report = {
        "onnx": a.output, "width": w, "height": h, "opset": a.opset,
        "max_abs_logits_diff_vs_torch": float(np.abs(logits - ref_logits.numpy()).max()),
        "max_abs_boxes_diff_vs_torch": float(np.abs(boxes - ref_boxes.numpy()).max()),
    }
    print(json.dumps(report, indent=1))
    if report["max_abs_logits_diff_vs_torch"] > 1e-3 or report["max_abs_boxes_diff_vs_torch"] > 1e-3:
        raise SystemExit("the ONNX export does not compute what PyTorch does")


if __name__ == "__main__":
    main()
