#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/) from the test fixtures.

Text formats are copied (or converted: the YOLO and upload seeds are the BCCD VOC boxes written in those
formats); checkpoints are shrunk to a few small tensors of the tiny fixture model, so that each execution is
fast: a safetensors file, a Burnpack (the format burn-pack 0.22.1 writes: header, CBOR metadata, 256-aligned
data), a zip `.pth` and a legacy pickle `.pth` as torch.save writes them. Standard library only.
"""
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FX = ROOT / "tests" / "fixtures"
OUT = Path(__file__).resolve().parent / "seeds"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def small_tensors(n=4):
    """The n smallest tensors of the tiny model, as (name, shape, raw f32 bytes)."""
    b = (FX / "tiny" / "model.safetensors").read_bytes()
    hlen = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8 : 8 + hlen])
    data = b[8 + hlen :]
    items = sorted(
        (v["data_offsets"][1] - v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__"
    )
    out = []
    for _, k in items[:n]:
        v = header[k]
        assert v["dtype"] == "F32"
        s, e = v["data_offsets"]
        out.append((k, v["shape"], data[s:e]))
    return out


def safetensors(tensors, metadata=None):
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, shape, raw in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


# --- CBOR (the subset ciborium writes for burn-pack's metadata) ---------------------------------------
def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v)
    if isinstance(v, str):
        e = v.encode()
        return cbor_head(3, len(e)) + e
    if isinstance(v, (list, tuple)):
        return cbor_head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def burnpack(tensors, metadata=None):
    descs, off, blobs = {}, 0, []
    for name, shape, raw in tensors:
        pad = -off % 256
        blobs.append(b"\0" * pad + raw)
        off += pad
        descs[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    meta = {"tensors": descs}
    if metadata:
        meta["metadata"] = metadata
    m = cbor(meta)
    head = struct.pack("<IHI", 0x4255524E, 1, len(m)) + m
    head += b"\0" * (-len(head) % 256)
    return head + b"".join(blobs)


# --- torch.save without torch ---------------------------------------------------------------------------
class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class _Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (_rebuild, (self.storage, 0, tuple(self.shape), tuple(stride), False, _OrderedDict()))


def _named(module, name, obj):
    obj.__module__, obj.__qualname__, obj.__name__ = module, name, name
    if module not in sys.modules:
        sys.modules[module] = type(sys)(module)
    setattr(sys.modules[module], name, obj)
    return obj


def _rebuild(*a):
    pass


_named("torch._utils", "_rebuild_tensor_v2", _rebuild)
_FloatStorage = _named("torch", "FloatStorage", type("FloatStorage", (), {}))
_OrderedDict = __import__("collections").OrderedDict


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", _FloatStorage, obj.key, "cpu", obj.numel)
        return None


def torch_pickle(tensors):
    state = _OrderedDict()
    for i, (name, shape, raw) in enumerate(tensors):
        state[name] = _Tensor(_Storage(str(i), len(raw) // 4), shape)
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({"model": state})
    return buf.getvalue()


def pth_zip(tensors):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", torch_pickle(tensors))
        z.writestr("archive/byteorder", "little")
        for i, (_, _, raw) in enumerate(tensors):
            z.writestr(f"archive/data/{i}", raw)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def pth_legacy(tensors):
    """The pre-1.6 format: magic, protocol, sys info, the pickle, storage keys, then each storage."""
    p = lambda o: pickle.dumps(o, protocol=2)
    out = p(0x1950A86A20F9469CFC6C) + p(1001) + p({"protocol_version": 1001, "little_endian": True})
    out += torch_pickle(tensors) + p([str(i) for i in range(len(tensors))])
    for _, _, raw in tensors:
        out += struct.pack("<q", len(raw) // 4) + raw
    return out


# --- tiny PNGs ------------------------------------------------------------------------------------------
def png(w, h, color_type, depth, rows, interlace=0, extra=b""):
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\0" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    # COCO
    put("coco", "annotations.json", (FX / "eval/cli/annotations.json").read_text())
    for f in ["eval/edge_cases.json", "eval/realistic.json"]:
        # the evaluation fixtures hold the ground truth as `gts` with `image_ids` and `category_ids`
        data = json.loads((FX / f).read_text())
        images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in data["image_ids"]]
        if f.endswith("realistic.json"):
            images = [{"id": i, "file_name": f"{i}.jpg"} for i in data["image_ids"]]  # sizes from the images
        cats = [{"id": c, "name": f"class{c}"} for c in data["category_ids"]]
        coco = {"images": images, "annotations": data["gts"], "categories": cats}
        put("coco", Path(f).name, json.dumps(coco, indent=1))
    # VOC, and the same boxes as YOLO labels and page uploads
    yolo_classes = ["RBC", "WBC", "Platelets"]
    for xml in sorted((FX / "data/bccd/Annotations").glob("*.xml")):
        text = xml.read_text()
        put("voc", xml.name, struct.pack("<HH", 640, 480) + text.encode())
        import xml.etree.ElementTree as ET

        root = ET.fromstring(text)
        w, h = int(root.find("size/width").text), int(root.find("size/height").text)
        lines = []
        for o in root.findall("object"):
            b = [float(o.find(f"bndbox/{t}").text) for t in ("xmin", "ymin", "xmax", "ymax")]
            c = yolo_classes.index(o.find("name").text)
            lines.append(f"{c} {(b[0]+b[2])/2/w:.6f} {(b[1]+b[3])/2/h:.6f} {(b[2]-b[0])/w:.6f} {(b[3]-b[1])/h:.6f}")
        labels = "\n".join(lines) + "\n"
        stem = xml.stem
        put("yolo", stem + "_classes", bytes([0]) + struct.pack("<HH", w, h) + ("\n".join(yolo_classes) + "\n\0" + labels).encode())
        put("yolo", stem + "_yaml", bytes([2]) + struct.pack("<HH", w, h) + (f"nc: 3\nnames: [{', '.join(yolo_classes)}]\n\0" + labels).encode())
        imgs = f"{stem}.jpg {w} {h}\n"
        put("upload", stem + "_voc", imgs + f"\0{xml.name}\n{text}")
        put("upload", stem + "_yolo", imgs + f"\0classes.txt\n" + "\n".join(yolo_classes) + f"\n\0{stem}.txt\n{labels}")
    put("yolo", "index_map", bytes([2]) + struct.pack("<HH", 100, 80) + "names:\n  0: cat\n  1: 'dog'\n\0 1 0.5 0.5 0.2 0.25\n\n0 0.1 0.1 0.4 0.4\n".encode())
    coco = (FX / "eval/cli/annotations.json").read_text()
    put("upload", "coco", "chelsea.png 451 300\nrocket.jpg 640 427\n\0annotations.json\n" + coco)
    # config.json
    for f in ["tiny/config.json", "tiny_dc5/config.json", "detr_tiny/config.json"]:
        put("config", f.replace("/", "_"), (FX / f).read_text())
    # checkpoints
    ts = small_tensors()
    config = (FX / "tiny/config.json").read_text()
    put("safetensors", "small.safetensors", safetensors(ts))
    put("safetensors", "with_config.safetensors", safetensors(ts[:2], {"format": "pt", "config": config}))
    put("burnpack", "small.bpk", burnpack(ts))
    put("burnpack", "with_config.bpk", burnpack(ts[:2], {"config.json": config}))
    official = [("transformer.decoder.norm.bias" if i == 0 else n, s, r) for i, (n, s, r) in enumerate(ts)]
    put("pth", "small_zip.pth", pth_zip(ts))
    put("pth", "official_zip.pth", pth_zip(official))
    put("pth", "small_legacy.pth", pth_legacy(ts))
    # images
    gray = [bytes(range(i, i + 8)) for i in range(6)]
    rgb = [bytes((i * 40 + j * 3 + k) & 255 for j in range(5) for k in range(3)) for i in range(4)]
    put("image", "gray8.png", png(8, 6, 0, 8, gray))
    put("image", "rgb8.png", png(5, 4, 2, 8, rgb))
    put("image", "rgb8_interlaced.png", png(5, 4, 2, 8, rgb, interlace=1))
    put("image", "rgba16.png", png(2, 2, 6, 16, [bytes(range(16)), bytes(range(16, 32))]))
    plte = struct.pack(">I", 6) + b"PLTE" + b"\xff\0\0\0\xff\0" + struct.pack(">I", zlib.crc32(b"PLTE\xff\0\0\0\xff\0"))
    put("image", "palette1.png", png(8, 2, 3, 1, [b"\xaa", b"\x55"], extra=plte))
    put("image", "bccd.jpg", (FX / "data/bccd/JPEGImages/BloodImage_00004.jpg").read_bytes())
    # HTTP requests, one connection each
    reqs = {
        "get_index": "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "head_wasm_gzip": "HEAD /pkg/cdetr_bg.wasm HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n",
        "traversal": "GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /pkg/../Cargo.toml HTTP/1.1\r\nHost: x\r\n\r\n",
        "revalidate": "GET /app.js HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Wed, 21 Oct 2015 07:28:00 GMT\r\nRange: bytes=0-3\r\n\r\n",
        "post": "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "pipelined_keepalive": "GET /sub/a%20b.css HTTP/1.1\r\nHost: x\r\n\r\nGET /link.txt HTTP/1.0\r\n\r\nGET /.hidden HTTP/1.1\r\nConnection: close\r\n\r\n",
    }
    for k, v in reqs.items():
        put("serve", k, v)


if __name__ == "__main__":
    main()
