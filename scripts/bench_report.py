#!/usr/bin/env python3
"""Turns the JSON files of scripts/bench_peers.sh (target/bench/{burn,pytorch,ort,web}.json) into the
README's Markdown table of same-run ratios, with the date and the CPU. Standard library only."""
import json
import os
import platform
import sys


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    load = lambda name: json.load(open(os.path.join(d, name))) if os.path.exists(os.path.join(d, name)) else None
    burn, torch, ort, web = load("burn.json"), load("pytorch.json"), load("ort.json"), load("web.json")
    date = (web or {}).get("date", "")[:10]
    print(f"Same-run benchmark, {date}, {cpu_name()}, {os.cpu_count()} threads; full-size R50 (random weights), "
          f"one 640×480 frame, median of {burn['runs'] if burn else '?'} runs.\n")
    print("| where | cdetr | peer | cdetr / peer |")
    print("|---|---|---|---|")
    if burn and torch:
        print(f"| native CPU | {burn['forward_median_s']:.3f} s (Burn) | {torch['forward_median_s']:.3f} s ({torch['backend']}) "
              f"| **{burn['forward_median_s'] / torch['forward_median_s']:.2f}** |")
    if burn and ort:
        print(f"| native CPU | {burn['forward_median_s']:.3f} s (Burn) | {ort['forward_median_s']:.3f} s ({ort['backend']}) "
              f"| **{burn['forward_median_s'] / ort['forward_median_s']:.2f}** |")
    if web:
        runs = {(r["runtime"].split()[0], r["ep"], r["threads"]): r for r in web["runs"] if r.get("kind") != "train"}
        page_cpu = runs.get(("cdetr", "cpu", 1))
        for threads in (1, 2):
            peer = runs.get(("onnxruntime-web", "wasm", threads))
            if page_cpu and peer:
                print(f"| Chromium {web['chromium']}, CPU (wasm) | {page_cpu['medianMs'] / 1e3:.2f} s per frame "
                      f"(network {page_cpu['netMs'] / 1e3:.2f} s) | {peer['medianMs'] / 1e3:.2f} s ({peer['runtime']}, "
                      f"wasm, {threads} thread{'s' if threads > 1 else ''}) | **{page_cpu['netMs'] / peer['medianMs']:.2f}** |")
        page_gpu, peer = runs.get(("cdetr", "webgpu", 1)), runs.get(("onnxruntime-web", "webgpu", 1))
        if page_gpu and peer:
            print(f"| Chromium {web['chromium']}, WebGPU | {page_gpu['medianMs'] / 1e3:.1f} s per frame "
                  f"(network {page_gpu['netMs'] / 1e3:.1f} s) | {peer['medianMs'] / 1e3:.1f} s ({peer['runtime']}, webgpu) "
                  f"| **{page_gpu['netMs'] / peer['medianMs']:.2f}** |")
        full = next((r for r in web["runs"] if r.get("kind") == "train" and not r["fastMode"]), None)
        fast = next((r for r in web["runs"] if r.get("kind") == "train" and r["fastMode"]), None)
        if full and fast:
            print(f"| Chromium {web['chromium']}, CPU (wasm), fine-tuning step, max size 512, batch 1 | "
                  f"fast mode {fast['medianMs'] / 1e3:.2f} s | default (backbone from layer2) {full['medianMs'] / 1e3:.2f} s "
                  f"| **{fast['medianMs'] / full['medianMs']:.2f}** ({full['medianMs'] / fast['medianMs']:.1f}× faster) |")
        print()
        print("Ratios compare the page's network time (`netMs`: forward + read-back, without pre- and post-processing) "
              "with `session.run` of onnxruntime-web.")
        for r in web["runs"]:
            if r.get("profile"):
                parts = " · ".join(f"{p['name']} {p['ms']:.0f} ms" for p in r["profile"])
                print(f"\nWhere the page's time goes ({r['ep']}, one profiled frame at {r['input']}): {parts}.")
    if burn:
        parts = ", ".join(f"{n} {s * 1e3:.0f} ms" for n, s in burn["backbone_stages_s"])
        print(f"\nNative Burn parts: {parts}, transformer + heads {burn['transformer_and_heads_median_s'] * 1e3:.0f} ms.")
    if torch:
        parts = ", ".join(f"{n} {s * 1e3:.0f} ms" for n, s in torch["backbone_stages_s"])
        print(f"PyTorch parts: {parts}, transformer + heads {torch['transformer_and_heads_median_s'] * 1e3:.0f} ms.")


if __name__ == "__main__":
    main()
