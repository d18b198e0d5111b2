#!/usr/bin/env python3
"""How ONNX Runtime likes the cores: sessions per core vs intra-op threads, by batch size.

For the fp32 and int8 Lite0 at 160x120, on real catalogue images preprocessed as lookalike
does, measures images/second of
  - one session with N intra-op threads, called from one thread, and
  - N single-threaded sessions, each called from its own thread (what lookalike does),
at batch sizes 1, 8 and 32, plus the latency of one batch-1 call on an idle machine with
1 and N intra-op threads (a single upload). ONNX Runtime releases the GIL while it runs.

    python3 scripts/ort_layouts.py --catalog ../shared/datasets/fashion-product-images-small
"""
import argparse
import json
import os
import sys
import threading
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python_baseline import letterbox  # noqa: E402


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def run_for(fn, seconds):
    fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        n += fn()
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    args = ap.parse_args()
    d = os.path.join(args.catalog, "images")
    names = sorted(os.listdir(d))[1000:1064]
    x = np.stack([
        (np.asarray(letterbox(Image.open(os.path.join(d, n)).convert("RGB"), 160, 120), np.float32) - 127) / 128
        for n in names
    ]).transpose(0, 3, 1, 2).copy()
    here = os.path.join(os.path.dirname(__file__), "..", "models")
    out = {}
    for label, file in [("fp32", "efficientnet_lite0.onnx"), ("int8", "efficientnet_lite0_int8.onnx")]:
        path = os.path.join(here, file)
        one = session(path, args.cores)
        many = [session(path, 1) for _ in range(args.cores)]
        res = {}
        for b in (1, 8, 32):
            def shared():
                for i in range(0, 64, b):
                    one.run(["features"], {"input": x[i:i + b]})
                return 64

            def parallel():
                def work(s, part):
                    for i in range(0, len(part), b):
                        s.run(["features"], {"input": part[i:i + b]})
                parts = np.array_split(x, args.cores)
                ts = [threading.Thread(target=work, args=(s, p)) for s, p in zip(many, parts)]
                [t.start() for t in ts]
                [t.join() for t in ts]
                return 64

            res[f"batch{b}"] = {
                f"1_session_{args.cores}_threads": round(run_for(shared, args.seconds), 1),
                f"{args.cores}_sessions_1_thread": round(run_for(parallel, args.seconds), 1),
            }
        lat = {}
        for threads, s in [(1, many[0]), (args.cores, one)]:
            times = []
            for i in range(200):
                t = time.perf_counter()
                s.run(["features"], {"input": x[i % 64:i % 64 + 1]})
                times.append(time.perf_counter() - t)
            lat[f"{threads}_threads_p50_ms"] = round(1e3 * float(np.median(times)), 2)
        res["single_image_latency"] = lat
        out[label] = res
    print(json.dumps({"images_per_second": out, "onnxruntime": ort.__version__, "cores": args.cores}, indent=2))


if __name__ == "__main__":
    main()
