#!/usr/bin/env python3
"""Times Hugging Face transformers' PyTorch Conditional DETR forward, the peer of `cdetr bench`.

Same model (the R50 COCO configuration of microsoft/conditional-detr-resnet-50 with random weights, eval mode),
same input (one 640x480 image, all-valid pixel mask), same machine and thread count; prints the median of
several runs after warm-up, and the backbone alone, like `cdetr bench --json`.

Needs torch + transformers + timm, a heavy install kept out of the test command:
    bash ../shared/reference/setup_torch_cpu.sh /tmp/torchenv      # or: pip install torch transformers timm
    /tmp/torchenv/bin/python scripts/bench_pytorch.py --threads 2
"""
import argparse
import json
import statistics
import time

import torch
from transformers import ConditionalDetrConfig, ConditionalDetrForObjectDetection


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="640x480", help="width x height")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--model", help="checkpoint folder (HF layout, e.g. from `cdetr init`); default: random R50")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    torch.set_num_threads(a.threads)
    # Random weights can drive activations into subnormal floats, which x86 computes ~10× slower unless they
    # are flushed to zero (Burn's and ONNX Runtime's kernels are not slowed down by them here); flush them,
    # as a speed-minded PyTorch user would, so the peer is timed at its best.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    if a.model:
        model = ConditionalDetrForObjectDetection.from_pretrained(a.model).eval()
    else:
        config = ConditionalDetrConfig(use_pretrained_backbone=False, num_labels=91)
        model = ConditionalDetrForObjectDetection(config).eval()
    pixel_values = torch.randn(1, 3, h, w)
    pixel_mask = torch.ones(1, h, w, dtype=torch.long)

    def forward():
        t = time.perf_counter()
        with torch.inference_mode():
            model(pixel_values=pixel_values, pixel_mask=pixel_mask)
        return time.perf_counter() - t

    def backbone():
        t = time.perf_counter()
        with torch.inference_mode():
            model.model.backbone.conv_encoder(pixel_values, pixel_mask)
        return time.perf_counter() - t

    def stages():
        # The same split as `cdetr bench`: stem (conv, bn, relu, maxpool), then each ResNet stage.
        net = model.model.backbone.conv_encoder.model
        out = []
        with torch.inference_mode():
            t = time.perf_counter()
            x = net.maxpool(net.act1(net.bn1(net.conv1(pixel_values))))
            out.append(("stem", time.perf_counter() - t))
            for name in ("layer1", "layer2", "layer3", "layer4"):
                t = time.perf_counter()
                x = getattr(net, name)(x)
                out.append((name, time.perf_counter() - t))
        return out

    for _ in range(a.warmup):
        forward()
    runs = [forward() for _ in range(a.runs)]
    bb = [backbone() for _ in range(a.runs)]
    f, b = statistics.median(runs), statistics.median(bb)
    split = [stages() for _ in range(a.runs)]
    breakdown = [[name, statistics.median(r[i][1] for r in split)] for i, (name, _) in enumerate(split[0])]
    print(json.dumps({
        "backend": f"PyTorch {torch.__version__} CPU, transformers",
        "width": w, "height": h, "runs": a.runs, "threads": a.threads,
        "forward_median_s": f, "forward_all_s": runs,
        "backbone_median_s": b, "transformer_and_heads_median_s": f - b,
        "backbone_stages_s": breakdown,
    }, indent=2))


if __name__ == "__main__":
    main()
