#!/usr/bin/env bash
# Load run for `lookalike serve` (issue 3): 32 concurrent clients for 30 s on
# loopback against "more like this" (GET /api/products/{id}/similar) and
# search by photo (POST /api/search, real catalogue images as the body).
# Prints requests/s, p50/p99 latency and errors for each.
#
#   scripts/load_test.sh [INDEX_DIR] [CATALOGUE_DIR]
#
# Needs wrk (apt-get install wrk) and a built index (README, "The two commands").
# Env: CONNECTIONS (32), DURATION (30s), THREADS (1: the server gets the
# other core), PORT (18080), LOOKALIKE (the binary; default target/release).
# With QDRANT=URL[,URL..] (and COLLECTION, KIT) the server searches that
# Qdrant collection instead; the queries still come from INDEX_DIR, so the
# same products and queries can be run embedded and through a cluster
# (scripts/cluster_vs_embedded.sh does both in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
INDEX=${1:-./lookalike-index}
CATALOG=${2:-../shared/datasets/fashion-product-images-small}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-30s}
THREADS=${THREADS:-1}
PORT=${PORT:-18080}
BIN=${LOOKALIKE:-${CARGO_TARGET_DIR:-target}/release/lookalike}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release" >&2; exit 2; }
[ -f "$INDEX/manifest.json" ] || { echo "no index in $INDEX" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

if [ -n "${QDRANT:-}" ]; then
  source=(--qdrant "$QDRANT" --collection "${COLLECTION:-lookalike}" --kit "${KIT:-./lookalike-kit}")
else
  source=(--index "$INDEX")
fi
"$BIN" serve "${source[@]}" --addr "127.0.0.1:$PORT" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null || { cat "$work/serve.log"; exit 1; }

# 1,000 product ids spread over the catalogue, and 200 of their images.
curl -fs "http://127.0.0.1:$PORT/api/products?limit=200&offset=0" >/dev/null
python3 - "$INDEX" "$CATALOG" "$work" <<'PY'
import json, os, random, sys
index, catalog, work = sys.argv[1:4]
m = json.load(open(os.path.join(index, "manifest.json")))
products = json.load(open(os.path.join(index, m["products_file"])))
random.seed(7)
sample = random.sample(products, min(1000, len(products)))
with open(os.path.join(work, "ids"), "w") as f:
    for p in sample:
        f.write(p["id"] + "\n")
root = m["catalog_root"] if os.path.isdir(m["catalog_root"]) else catalog
with open(os.path.join(work, "images"), "w") as f:
    for p in sample[:200]:
        path = p["image"] if os.path.isabs(p["image"]) else os.path.join(root, p["image"])
        f.write(path + "\n")
PY

export IDS_FILE="$work/ids" IMAGES_FILE="$work/images" REPORT_LUA="$PWD/scripts/load/report.lua"
if [ -n "${QDRANT:-}" ]; then served="Qdrant $QDRANT"; else served="index $INDEX"; fi
echo "lookalike $("$BIN" --version | cut -d' ' -f2), $(nproc) cores, $CONNECTIONS connections, $DURATION, wrk threads $THREADS, $served"
for run in similar search; do
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency \
        -s "scripts/load/$run.lua" "http://127.0.0.1:$PORT")
  echo "$run: $(grep '^RESULT' <<<"$out" | cut -d' ' -f2-)"
done
