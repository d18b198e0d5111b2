#!/usr/bin/env python3
"""The seed's stack, for comparison: PIL + numpy + ONNX Runtime, batch 32.

Embeds the first N catalogue images (sorted by id, as `lookalike bench` does)
with the same model, input size and letterbox preprocessing as lookalike, and
prints images/second and a per-stage breakdown as JSON.

    python3 scripts/bench_python_baseline.py --catalog ../shared/datasets/fashion-product-images-small \
        --images 2000 --height 160 --width 120 --model models/efficientnet_lite0.onnx
"""
import argparse
import json
import os
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def letterbox(img, height, width):
    scale = min(width / img.width, height / img.height)
    nw = max(1, min(width, round(img.width * scale)))
    nh = max(1, min(height, round(img.height * scale)))
    resized = img.resize((nw, nh), Image.BICUBIC)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(resized, ((width - nw) // 2, (height - nh) // 2))
    return canvas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--model", default="models/efficientnet_lite0.onnx")
    args = ap.parse_args()

    image_dir = os.path.join(args.catalog, "images")
    names = sorted(os.listdir(image_dir), key=lambda n: os.path.splitext(n)[0])[: args.images]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])

    t_decode = t_resize = t_embed = 0.0
    vectors = []
    start = time.perf_counter()
    batch = []

    def flush():
        nonlocal t_embed
        t = time.perf_counter()
        x = np.stack(batch).astype(np.float32)
        feats = session.run(["features"], {"input": x})[0]
        feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12
        vectors.append(feats)
        t_embed += time.perf_counter() - t
        batch.clear()

    for name in names:
        t = time.perf_counter()
        img = Image.open(os.path.join(image_dir, name))
        img = img.convert("RGB")
        t_decode += time.perf_counter() - t
        t = time.perf_counter()
        fitted = letterbox(img, args.height, args.width)
        arr = (np.asarray(fitted, dtype=np.float32) - 127.0) / 128.0
        batch.append(arr.transpose(2, 0, 1))
        t_resize += time.perf_counter() - t
        if len(batch) == args.batch:
            flush()
    if batch:
        flush()
    elapsed = time.perf_counter() - start
    n = len(names)
    print(json.dumps({
        "images": n,
        "seconds": elapsed,
        "images_per_second": n / elapsed,
        "threads": args.threads,
        "batch_size": args.batch,
        "onnxruntime": ort.__version__,
        "ms_per_image": {"decode": 1e3 * t_decode / n, "resize": 1e3 * t_resize / n, "embed": 1e3 * t_embed / n},
    }, indent=2))


if __name__ == "__main__":
    main()
