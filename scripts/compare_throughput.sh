#!/usr/bin/env bash
# Indexing throughput, lookalike vs the seed's Python stack, side by side in one run:
# same images, same model, same input size. Prints both and the ratio.
#
#   scripts/compare_throughput.sh [IMAGES] [HEIGHTxWIDTH]
#
# Needs a release build and a Python with onnxruntime, numpy and pillow; the script
# makes a virtual environment under ~/.cache/lookalike-py with them if there is none.
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
cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/lookalike"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "== lookalike (Rust, tract) =="
RUST_JSON="$("$BIN" bench --index "$TMP/none" --model lite0 --catalog "$CATALOG" --images "$N" --input-size "$SIZE" --queries 1 --json)"
echo "$RUST_JSON" | "$PY/bin/python" -c 'import json,sys; d=json.load(sys.stdin)["indexing"]; print(json.dumps(d, indent=2))'
echo "== Python: PIL + numpy + onnxruntime, batch 32 =="
PY_JSON="$("$PY/bin/python" scripts/bench_python_baseline.py --catalog "$CATALOG" --images "$N" --height "$H" --width "$W" --model models/efficientnet_lite0.onnx)"
echo "$PY_JSON"
"$PY/bin/python" - "$RUST_JSON" "$PY_JSON" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])["indexing"]["images_per_second"]
p = json.loads(sys.argv[2])["images_per_second"]
print(f"lookalike {r:.1f} img/s, python+onnxruntime {p:.1f} img/s: ratio {r / p:.2f}x")
PYEOF
