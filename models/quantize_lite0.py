#!/usr/bin/env python3
"""Static int8 quantisation of EfficientNet-Lite0 for ONNX Runtime.

    python3 models/quantize_lite0.py --catalog ../shared/datasets/fashion-product-images-small \
        --out models/efficientnet_lite0_int8.onnx

Recipe (see models/README.md, "The int8 network"):
- QDQ format, uint8 activations, int8 weights per output channel, MinMax
  calibration on 300 catalogue images drawn with a fixed seed (42) and
  preprocessed as lookalike does (160x120 white letterbox, (x - 127) / 128).
- The first three convolutions and the activations between them stay fp32:
  the stem sees raw pixels, where int8 loses the most, and they cost little.
  Their Clip nodes are excluded too, so that no DequantizeLinear feeds an
  excluded convolution (ONNX Runtime's WeightBiasQuantization pass would
  otherwise quantise its weights behind our back).
- The unused `logits` head and the inferred shapes are dropped; the four taps lookalike reads
  (`res7`, `res10`, `res14`, `n48_c`) become graph outputs before
  quantisation, so they keep their names and come out as float.

Needs `onnx`, `onnxruntime` (1.32 was used), `numpy` and `pillow`. The output
is deterministic for a given catalogue and library versions: the script
prints the sha256 of the file it wrote.
"""
import argparse
import hashlib
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from PIL import Image

# The preprocessing the Python baseline shares with lookalike (160x120 white letterbox).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bench_python_baseline import letterbox  # noqa: E402

TAPS = ["res7", "res10", "res14", "n48_c"]
FP32_CONVS = 3


class Images(CalibrationDataReader):
    def __init__(self, paths, height, width):
        self.paths = iter(paths)
        self.height, self.width = height, width

    def get_next(self):
        path = next(self.paths, None)
        if path is None:
            return None
        img = letterbox(Image.open(path).convert("RGB"), self.height, self.width)
        x = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
        return {"input": x.transpose(2, 0, 1)[None]}


def is_test_id(photo_id):
    """lookalike's held-out rule (src/split.rs) for a non-numeric id."""
    import blake3
    return blake3.blake3(photo_id.encode()).digest()[0] % 5 == 0


def training_photos(root, n, rng):
    """`n` shopper photos outside the test split, drawn with `rng`."""
    ids = sorted(
        f"{kind}/{os.path.splitext(f)[0]}"
        for kind in os.listdir(root) if os.path.isdir(os.path.join(root, kind))
        for f in os.listdir(os.path.join(root, kind)) if f.lower().endswith(".jpg")
    )
    ids = [i for i in ids if not is_test_id(i)]
    pick = sorted(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    return [os.path.join(root, ids[i] + ".jpg") for i in pick]


def prepared_model(src, dst):
    """Names every node (the quantiser excludes by name), drops `logits`,
    adds the taps as float outputs; returns the names of nodes kept fp32."""
    model = onnx.load(src)
    graph = model.graph
    for node in graph.node:
        if not node.name:
            node.name = node.output[0]
    keep = [o for o in graph.output if o.name == "features"]
    del graph.output[:]
    graph.output.extend(keep)
    for tap in TAPS:
        graph.output.append(helper.make_tensor_value_info(tap, TensorProto.FLOAT, None))
    # Drop nodes nothing reads any more (the logits Gemm).
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(live))
    used = {i for n in graph.node for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    onnx.save(model, dst)

    fp32, convs = [], 0
    for node in graph.node:
        if node.op_type == "Conv":
            convs += 1
            if convs > FP32_CONVS:
                break
        fp32.append(node.name)
    return fp32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "efficientnet_lite0.onnx"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--photos", help="shopper photos (<kind>/*.jpg): add training-split ones to the calibration")
    ap.add_argument("--photo-images", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=120)
    args = ap.parse_args()

    image_dir = os.path.join(args.catalog, "images")
    names = sorted(n for n in os.listdir(image_dir) if n.lower().endswith(".jpg"))
    rng = np.random.default_rng(args.seed)
    pick = sorted(rng.choice(len(names), size=args.images, replace=False))
    paths = [os.path.join(image_dir, names[i]) for i in pick]
    if args.photos:
        paths += training_photos(args.photos, args.photo_images, rng)

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "lite0.onnx")
        fp32_nodes = prepared_model(args.model, src)
        print("kept fp32:", ", ".join(fp32_nodes))
        quantize_static(
            src,
            args.out,
            Images(paths, args.height, args.width),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=fp32_nodes,
        )
    # Shapes the calibration inferred carry a symbolic batch that tract
    # cannot unify with a concrete one: runtimes infer them anyway.
    model = onnx.load(args.out)
    del model.graph.value_info[:]
    onnx.save(model, args.out)
    with open(args.out, "rb") as f:
        print(f"wrote {args.out}: sha256 {hashlib.sha256(f.read()).hexdigest()}")


if __name__ == "__main__":
    main()
