#!/usr/bin/env bash
# The main job of `tools/dev.sh start`: a 4-node cluster on loopback that shows gossip and
# the leader pipeline at work, and stops by itself.
#   1. writes genesis + keys, starts 4 nodes (tools/cluster.sh)
#   2. prints, once a second, how many peers each node sees as active, until all see all
#   3. sets a key on node 0 through its HTTP API and shows when it arrives on each node
#   4. runs `riptide bench-tps` against node 0's tpu port (funded from the genesis faucet):
#      its live line each second, then sent / confirmed / TPS / latency percentiles and the
#      balance check; node 0's own live lines (slots, entries, bank tx/s) follow
#   5. waits for the followers (nodes 1..N-1 receive node 0's slots as shreds over Turbine,
#      replay and store them) to catch up, prints each node's status and last log line, stops
#      the cluster, re-verifies node 0's ledger (PoH chain, checksums, every entry's
#      transactions) and compares every follower's ledger with it, slot by slot
# Environment: RIPTIDE_NODES (4), RIPTIDE_CLUSTER_DIR (cluster/), RIPTIDE_PORT_OFFSET (0),
# RIPTIDE_LOAD_SECONDS (10), RIPTIDE_LOAD_TPS (2000; 0 = as fast as it can).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${RIPTIDE_BIN:-$root/build/src/app/riptide}
n=${RIPTIDE_NODES:-4}
dir=${RIPTIDE_CLUSTER_DIR:-$root/cluster}
offset=${RIPTIDE_PORT_OFFSET:-0}
cluster() { "$root/tools/cluster.sh" "$1" --dir "$dir" --port-offset "$offset" "${@:2}"; }
trap 'echo "==> stopping the cluster"; cluster down >/dev/null' EXIT

echo "==> starting a $n-node cluster in $dir"
cluster up "$n" -- "$@"

active_of() {  # active peer count of node $1, or - if it does not answer
  "$bin" rpc --url "127.0.0.1:$((11000 + offset + $1))" GET /gossip/health 2>/dev/null |
    jq -er .peers.active 2>/dev/null || echo -
}

echo "==> waiting for gossip to converge (every node sees $((n - 1)) active peers)"
start=$(date +%s.%N)
converged=0
for t in $(seq 1 60); do
  sleep 1
  line="" all=1
  for i in $(seq 0 $((n - 1))); do
    a=$(active_of "$i")
    line+=" node$i=$a/$((n - 1))"
    [ "$a" = "$((n - 1))" ] || all=0
  done
  echo "  [${t}s]$line"
  if [ "$all" = 1 ]; then converged=1; break; fi
done
[ "$converged" = 1 ] || { echo "gossip did not converge in 60 s"; cluster status; exit 1; }
printf '==> converged in %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

value="hello from node0 at $(date -u +%H:%M:%S)"
echo "==> setting greeting=\"$value\" on node 0"
"$bin" rpc --url "127.0.0.1:$((11000 + offset))" POST /gossip/data "{\"key\":\"greeting\",\"value\":\"$value\"}" >/dev/null
start=$(date +%s.%N)
declare -A arrived=()
for _ in $(seq 1 100); do
  for i in $(seq 0 $((n - 1))); do
    [ -n "${arrived[$i]:-}" ] && continue
    if "$bin" rpc --url "127.0.0.1:$((11000 + offset + i))" GET /gossip/data/greeting 2>/dev/null | grep -qF "$value"; then
      arrived[$i]=$(echo "$(date +%s.%N) - $start" | bc)
      printf '  node%s has it after %.2f s\n' "$i" "${arrived[$i]}"
    fi
  done
  [ "${#arrived[@]}" = "$n" ] && break
  sleep 0.1
done
[ "${#arrived[@]}" = "$n" ] || { echo "the key did not reach every node in 10 s"; exit 1; }

load_s=${RIPTIDE_LOAD_SECONDS:-10}
load_tps=${RIPTIDE_LOAD_TPS:-2000}
echo "==> ${load_s}s of signed transfers into node 0's tpu port (riptide bench-tps, ${load_tps}/s)"
"$bin" bench-tps --rpc "127.0.0.1:$((11000 + offset))" --tpu "127.0.0.1:$((13000 + offset))" \
  --faucet-key "$dir/faucet.key" --accounts 64 --rate "$load_tps" --seconds "$load_s" || {
  echo "bench-tps failed"; exit 1; }
echo "==> node 0 while under load (its live lines: slots, ledger entries, bank tx/s)"
grep '^\[' "$dir/logs/node-0.log" | tail -n "$((load_s + 2))" | sed 's/^/  /'

window=$(( $("$bin" rpc --url "127.0.0.1:$((11000 + offset))" GET /slot | jq -er .slot) + 1 ))
echo "==> waiting for the followers to store every slot up to $window"
for _ in $(seq 1 100); do
  behind=0
  for i in $(seq 1 $((n - 1))); do
    s=$("$bin" rpc --url "127.0.0.1:$((11000 + offset + i))" GET /slot 2>/dev/null | jq -er .slot)
    [ -n "$s" ] && [ "$s" -gt "$window" ] || behind=$((behind + 1))
  done
  [ "$behind" = 0 ] && break
  sleep 0.2
done
echo "==> cluster status"
cluster status
echo "==> last log line of each node"
for i in $(seq 0 $((n - 1))); do printf '  node%s: %s\n' "$i" "$(grep '^\[' "$dir/logs/node-$i.log" | tail -1)"; done
echo "==> stopping the cluster"
cluster down >/dev/null
trap - EXIT
grep '^summary' "$dir/logs/node-0.log" | grep -v '^summary: net' | tail -5 | sed 's/^/  node0 /'
for i in $(seq 1 $((n - 1))); do grep -E '^summary: (tvu|replay)' "$dir/logs/node-$i.log" | sed "s/^/  node$i /"; done
echo "==> re-verifying node 0's ledger"
"$bin" ledger verify "$dir/ledger-0"
echo "==> comparing each follower's ledger with node 0's, slot by slot (slots 0..$window)"
digest() {  # digest NODE: the window's slots, one JSON object a line (ledger digest --json)
  "$bin" ledger digest --json "$dir/ledger-$1" | jq -c --argjson w "$window" '.slots[] | select(.slot <= $w)' \
    >"$dir/digest-$1.txt"
}
digest 0
same=1
for i in $(seq 1 $((n - 1))); do
  digest "$i"
  if cmp -s "$dir/digest-0.txt" "$dir/digest-$i.txt"; then
    echo "  node$i: $(wc -l <"$dir/digest-$i.txt") slots, identical records and bank hashes"
  else
    echo "  node$i: DIFFERS from node 0 (see $dir/digest-0.txt and $dir/digest-$i.txt)"
    same=0
  fi
done
[ "$same" = 1 ]
