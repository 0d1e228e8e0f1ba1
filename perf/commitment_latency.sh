#!/usr/bin/env bash
# Time from send to each commitment level for transfers on a local 4-validator cluster:
# bench-tps at 200 transfers/s for 20 s, counted at processed, then confirmed, then finalized
# (three runs against one cluster, so the levels compare within one run). About 4 minutes;
# the cluster goes down at the end. Usage: perf/commitment_latency.sh [build dir]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/${1:-build}/src/app/riptide"
dir=$(mktemp -d)
off=820
trap 'RIPTIDE_BIN=$bin "$root/tools/cluster.sh" down --dir "$dir/c" --port-offset $off >/dev/null 2>&1; rm -rf "$dir"' EXIT
RIPTIDE_BIN=$bin "$root/tools/cluster.sh" up 4 --dir "$dir/c" --port-offset $off -- --set layout.pin=false >"$dir/up.log"
rpc="127.0.0.1:$((11000 + off + 1))"
for _ in $(seq 60); do
  f=$("$bin" rpc --url "$rpc" GET /slot 2>/dev/null | jq -r '.finalized // -1') || f=-1
  [ "$f" -ge 4 ] && break
  sleep 1
done
for level in processed confirmed finalized; do
  "$bin" bench-tps --rpc "$rpc" --all-nodes --faucet-key "$dir/c/faucet.key" --rate 200 --seconds 20 \
    --commitment "$level" --timeout-s 60 --json >"$dir/$level.json" 2>"$dir/$level.err"
  jq -c '{commitment, sent, confirmed_ok, unconfirmed, latency_ms, conserved: .balances.conserved}' "$dir/$level.json"
done
