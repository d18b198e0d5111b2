#!/usr/bin/env bash
# Indexing throughput in one run, same images, same input size: the seed's Python stack
# (PIL + numpy + ONNX Runtime, batch 32), lookalike on tract, lookalike on ONNX Runtime with
# its defaults (the fp32 Lite0), and lookalike on ONNX Runtime with the int8 Lite0.
#
#   scripts/compare_throughput.sh [IMAGES] [HEIGHTxWIDTH]
#
# With FP32_INDEX and INT8_INDEX naming full-catalogue indexes of the two models
# (`lookalike index CATALOG --model lite0|lite0-int8`), it also prints their eval
# figures (packshot test split, full-size photos, shopper photos) side by side.
#
# Needs a Python with onnxruntime, numpy and pillow; the script makes a virtual
# environment under ~/.cache/lookalike-py with them if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"
SIZE="${2:-160x120}"
H="${SIZE%x*}"; W="${SIZE#*x}"
CATALOG="../shared/datasets/fashion-product-images-small"
SHOPPER="../shared/datasets/shopper-photos-dev"
PY="${LOOKALIKE_PY:-$HOME/.cache/lookalike-py}"
if [ ! -x "$PY/bin/python" ]; then
  python3 -m venv "$PY"
  "$PY/bin/pip" install -q onnxruntime numpy pillow
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lookalike-target}"
cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/lookalike"
ORT_LIB="$(ls "$PY"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
bench() {
  "$BIN" bench --index "$TMP/none" --catalog "$CATALOG" --images "$N" \
    --input-size "$SIZE" --queries 1 --train-steps 0 --json "$@"
}
show() { "$PY/bin/python" -c 'import json,sys; d=json.load(sys.stdin)["indexing"]; d.pop("full_catalogue_estimate_s", None); print(json.dumps(d, indent=2))'; }

echo "== lookalike on tract, fp32 Lite0 =="
TRACT_JSON="$(LOOKALIKE_ONNXRUNTIME=tract bench --model lite0)"
echo "$TRACT_JSON" | show
echo "== lookalike defaults on ONNX Runtime (the model a new index gets: fp32 Lite0) =="
ORT_JSON="$(LOOKALIKE_ONNXRUNTIME="$ORT_LIB" bench)"
echo "$ORT_JSON" | show
echo "== lookalike on ONNX Runtime, int8 Lite0 (--model lite0-int8) =="
DEF_JSON="$(LOOKALIKE_ONNXRUNTIME="$ORT_LIB" bench --model lite0-int8)"
echo "$DEF_JSON" | show
echo "== Python: PIL + numpy + onnxruntime, fp32 Lite0, batch 32 =="
PY_JSON="$("$PY/bin/python" scripts/bench_python_baseline.py --catalog "$CATALOG" --images "$N" \
  --height "$H" --width "$W" --model models/efficientnet_lite0.onnx)"
echo "$PY_JSON"
"$PY/bin/python" - "$TRACT_JSON" "$ORT_JSON" "$DEF_JSON" "$PY_JSON" <<'PYEOF'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:4]]
p = json.loads(sys.argv[4])["images_per_second"]
print(f"{'python+onnxruntime fp32':38s} {p:6.1f} img/s")
for label, r in zip(["lookalike tract fp32", "lookalike onnxruntime fp32 (default)", "lookalike onnxruntime int8"], runs):
    i = r["indexing"]
    print(f"{label:38s} {i['images_per_second']:6.1f} img/s: ratio {i['images_per_second'] / p:.2f}x"
          f"  ({r['model']['model']}, batch {i['batch_size']})")
PYEOF

if [ -n "${FP32_INDEX:-}" ] && [ -n "${INT8_INDEX:-}" ]; then
  echo "== eval figures (test split) =="
  for IDX in "$FP32_INDEX" "$INT8_INDEX"; do
    PACK="$(LOOKALIKE_ONNXRUNTIME="$ORT_LIB" "$BIN" eval --index "$IDX" --split test --json)"
    PHOTO="$(LOOKALIKE_ONNXRUNTIME="$ORT_LIB" "$BIN" eval --index "$IDX" --photos "$SHOPPER" --split test --json)"
    "$PY/bin/python" - "$IDX" "$PACK" "$PHOTO" <<'PYEOF'
import json, sys
idx, pack, photo = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
rel, acc, inst = pack["relevance"], pack["accuracy"], pack.get("instance") or {}
print(f"{pack['model']['model']:24s} type NDCG@10 {rel['type']['ndcg10']:.3f}"
      f"  type+colour NDCG@10 {rel['type_colour']['ndcg10']:.3f}"
      f"  articleType {acc.get('articleType', float('nan')):.3f}  baseColour {acc.get('baseColour', float('nan')):.3f}"
      f"  photos R@1 {inst.get('r1', float('nan')):.3f}"
      f"  shopper P@10 {photo['macro_p10']:.3f} P@1 {photo['macro_p1']:.3f}  ({idx})")
PYEOF
  done
fi
