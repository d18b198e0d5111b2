#!/usr/bin/env bash
# Embedded index vs a 3-node Qdrant cluster on this machine (issue
# "Scale-out"), same products, same queries, one run:
#   1. starts a local cluster with ../shared/qdrant/cluster.sh (or $QDRANT_DIR),
#   2. writes INDEX's catalogue into a new collection (6 shards x 2 replicas)
#      with `lookalike index --qdrant`, printing the upsert rate,
#   3. runs scripts/load_test.sh against `serve --index` and `serve --qdrant`,
#   4. prints both and their ratios, and stops the cluster.
#
#   scripts/cluster_vs_embedded.sh INDEX_DIR CATALOGUE_DIR
#
# Env: as scripts/load_test.sh (CONNECTIONS, DURATION, ...); BASE_PORT (27000);
# NODES (3), SHARDS (6), REPLICAS (2): NODES=1 SHARDS=1 REPLICAS=1 measures
# Qdrant itself without the distribution.
set -euo pipefail
cd "$(dirname "$0")/.."
INDEX=${1:?INDEX_DIR}
CATALOG=${2:?CATALOGUE_DIR}
QDRANT_DIR=${QDRANT_DIR:-../shared/qdrant}
BASE_PORT=${BASE_PORT:-27000}
BIN=${LOOKALIKE:-${CARGO_TARGET_DIR:-target}/release/lookalike}
export LOOKALIKE="$BIN"
[ -x "$QDRANT_DIR/cluster.sh" ] || { echo "no $QDRANT_DIR/cluster.sh (set QDRANT_DIR)" >&2; exit 2; }

work=$(mktemp -d)
trap '"$QDRANT_DIR/cluster.sh" stop "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
NODES=${NODES:-3}; SHARDS=${SHARDS:-6}; REPLICAS=${REPLICAS:-2}
urls=$("$QDRANT_DIR/cluster.sh" start "$work/cluster" "$BASE_PORT" "$NODES")
echo "cluster: $NODES nodes, $SHARDS shards x $REPLICAS replicas: $urls"

collection="bench_$(date +%s)"
"$BIN" index "$CATALOG" --index "$INDEX" --qdrant "$urls" --collection "$collection" \
  --shards "$SHARDS" --replicas "$REPLICAS" --kit "$work/kit"
# Qdrant builds its HNSW graphs in the background after the upserts: the
# figures are taken once the collection is green (at most 10 minutes).
first=${urls%%,*}
for _ in $(seq 600); do
  status=$(curl -fs "$first/collections/$collection" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["status"])' || true)
  [ "$status" = green ] && break
  sleep 1
done
echo "collection $collection: $status"

embedded=$(scripts/load_test.sh "$INDEX" "$CATALOG")
echo "$embedded"
cluster=$(QDRANT="$urls" COLLECTION="$collection" KIT="$work/kit" scripts/load_test.sh "$INDEX" "$CATALOG")
echo "$cluster"

python3 - "$embedded" "$cluster" <<'PY'
import re, sys
def parse(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"(similar|search): (.*)", line)
        if m:
            out[m.group(1)] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", m.group(2))}
    return out
e, c = parse(sys.argv[1]), parse(sys.argv[2])
print(f"{'endpoint':<10} {'embedded req/s':>15} {'cluster req/s':>14} {'ratio':>6} {'p50 ms e/c':>14} {'p99 ms e/c':>16} {'errors e/c':>11}")
for run in ("similar", "search"):
    a, b = e[run], c[run]
    print(f"{run:<10} {a['rps']:>15.1f} {b['rps']:>14.1f} {b['rps'] / a['rps']:>6.2f} "
          f"{a['p50_ms']:>6.1f}/{b['p50_ms']:<7.1f} {a['p99_ms']:>7.1f}/{b['p99_ms']:<8.1f} "
          f"{a['errors']:>4.0f}/{b['errors']:<4.0f}")
PY
