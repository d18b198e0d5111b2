#!/usr/bin/env bash
# Indexing throughput, lookalike (tract and ONNX Runtime backends) vs the seed's Python
# stack, side by side in one run: same images, same model, same input size.
#
#   scripts/compare_throughput.sh [IMAGES] [HEIGHTxWIDTH]
#
# Needs a Python with onnxruntime, numpy and pillow; the script makes a virtual
# environment under ~/.cache/lookalike-py with them if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"
SIZE="${2:-160x120}"
H="${SIZE%x*}"; W="${SIZE#*x}"
CATALOG="../shared/datasets/fashion-product-images-small"
PY="${LOOKALIKE_PY:-$HOME/.cache/lookalike-py}"
if [ ! -x "$PY/bin/python" ]; then
  python3 -m venv "$PY"
  "$PY/bin/pip" install -q onnxruntime numpy pillow
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lookalike-target}"
cargo build --release -q --features ort
BIN="$CARGO_TARGET_DIR/release/lookalike"
ORT_LIB="$(ls "$PY"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
bench() {
  "$BIN" bench --index "$TMP/none" --model lite0 --catalog "$CATALOG" --images "$N" \
    --input-size "$SIZE" --queries 1 --json "$@"
}
show() { "$PY/bin/python" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["indexing"], indent=2))'; }

echo "== lookalike, tract backend (default) =="
TRACT_JSON="$(env -u LOOKALIKE_ONNXRUNTIME bash -c "$(declare -f bench); BIN='$BIN' TMP='$TMP' CATALOG='$CATALOG' N='$N' SIZE='$SIZE' bench")"
echo "$TRACT_JSON" | show
echo "== lookalike, ONNX Runtime backend (--features ort, batch 8) =="
ORT_JSON="$(LOOKALIKE_ONNXRUNTIME="$ORT_LIB" bench --batch-size 8)"
echo "$ORT_JSON" | show
echo "== Python: PIL + numpy + onnxruntime, batch 32 =="
PY_JSON="$("$PY/bin/python" scripts/bench_python_baseline.py --catalog "$CATALOG" --images "$N" \
  --height "$H" --width "$W" --model models/efficientnet_lite0.onnx)"
echo "$PY_JSON"
"$PY/bin/python" - "$TRACT_JSON" "$ORT_JSON" "$PY_JSON" <<'PYEOF'
import json, sys
t = json.loads(sys.argv[1])["indexing"]["images_per_second"]
o = json.loads(sys.argv[2])["indexing"]["images_per_second"]
p = json.loads(sys.argv[3])["images_per_second"]
print(f"python+onnxruntime {p:.1f} img/s")
print(f"lookalike tract    {t:.1f} img/s: ratio {t / p:.2f}x")
print(f"lookalike ort      {o:.1f} img/s: ratio {o / p:.2f}x")
PYEOF
