#!/usr/bin/env python3
"""Checks that Hugging Face transformers loads a model exported by `cdetr train` / `cdetr convert --format
safetensors` and computes the same detections as `cdetr detect`.

    cdetr detect IMAGE --weights DIR/model.safetensors --config DIR/config.json --resize none --threshold 0 \
        --top-k 50 --output dets.json
    python scripts/check_hf_export.py DIR IMAGE dets.json

Needs torch, transformers 4.57 and timm (see scripts/bench_pytorch.py); not part of the test command. The
tiny test backbones (resnet_cdetr_tiny_*) are registered from tests/fixtures/tiny/tiny_timm_backbones.py.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tiny"))
import tiny_timm_backbones  # noqa: E402,F401  (registers resnet_cdetr_tiny_{a,b} with timm)
from transformers import ConditionalDetrForObjectDetection, ConditionalDetrImageProcessor  # noqa: E402


def main():
    export_dir, image_path, dets_path = sys.argv[1:4]
    model = ConditionalDetrForObjectDetection.from_pretrained(export_dir).eval()
    image = np.array(Image.open(image_path).convert("RGB"))
    proc = ConditionalDetrImageProcessor(do_resize=False)
    inputs = proc(images=[image], return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    ours = json.load(open(dets_path))[0]["detections"]
    ref = proc.post_process_object_detection(out, threshold=0.0, target_sizes=[image.shape[:2]], top_k=len(ours))[0]
    worst_score = max(abs(d["score"] - s) for d, s in zip(ours, ref["scores"].tolist()))
    worst_box = max(abs(a - b) for d, bx in zip(ours, ref["boxes"].tolist()) for a, b in zip(d["box"], bx))
    labels_equal = [d["label"] for d in ours] == ref["labels"].tolist()
    print(json.dumps({"loaded": True, "detections": len(ours), "labels_equal": labels_equal,
                      "max_score_diff": worst_score, "max_box_diff_px": worst_box}, indent=1))
    ok = labels_equal and worst_score < 1e-4 and worst_box < 1e-2
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
