#!/usr/bin/env bash
# The main job of `tools/dev.sh start`: a cluster of 4 equal-stake validators on loopback that
# take turns to lead, shown at work, stopping by itself.
#   1. writes genesis + keys (every validator staked), starts the nodes (tools/cluster.sh)
#   2. prints, once a second, how many peers each node sees as active, until all see all,
#      then sets a key on node 0 through its HTTP API and shows when it arrives on each node
#   3. shows the leader schedule of the next slots (which node leads which 4-slot span)
#   4. runs `riptide bench-tps --all-nodes`: its transfers go round-robin to every node's tpu
#      port, as node 0's gossip knows them (funded from the genesis faucet; a node that is not
#      leading forwards them to the coming leaders): its live line each second, then sent /
#      confirmed / TPS / latency and the balance check
#   5. prints per node, from its counters (GET /metrics): slots led, blocks produced, own
#      slots skipped, grace waited, transactions forwarded and executed; then its votes, last
#      voted slot, confirmed and finalized slots, and how far behind the clock slots became
#      confirmed
#   6. waits until every node has rooted a slot past the same one, stops the cluster, re-verifies node
#      0's ledger (PoH chain, checksums, every transaction, bank hashes) and compares every
#      node's ledger with it, block by block
# Environment: RIPTIDE_NODES (4), RIPTIDE_CLUSTER_DIR (cluster/), RIPTIDE_PORT_OFFSET (0),
# RIPTIDE_LOAD_SECONDS (10), RIPTIDE_LOAD_TPS (1000; 0 = as fast as it can), RIPTIDE_STAKED
# (0: every validator; 1: node 0 leads every slot, the others follow).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${RIPTIDE_BIN:-$root/build/src/app/riptide}
n=${RIPTIDE_NODES:-4}
dir=${RIPTIDE_CLUSTER_DIR:-$root/cluster}
offset=${RIPTIDE_PORT_OFFSET:-0}
staked=${RIPTIDE_STAKED:-0}
cluster() { "$root/tools/cluster.sh" "$1" --dir "$dir" --port-offset "$offset" "${@:2}"; }
rpc() { echo "127.0.0.1:$((11000 + offset + $1))"; }
trap 'echo "==> stopping the cluster"; cluster down >/dev/null' EXIT

echo "==> starting a $n-node cluster in $dir ($( [ "$staked" = 0 ] && echo "every validator staked: they take turns to lead" || echo "$staked staked"))"
cluster up "$n" --staked "$staked" -- "$@"

active_of() {  # active peer count of node $1, or - if it does not answer
  "$bin" rpc --url "$(rpc "$1")" GET /gossip/health 2>/dev/null | jq -er .peers.active 2>/dev/null || echo -
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
"$bin" rpc --url "$(rpc 0)" POST /gossip/data "{\"key\":\"greeting\",\"value\":\"$value\"}" >/dev/null
start=$(date +%s.%N)
declare -A arrived=()
for _ in $(seq 1 100); do
  for i in $(seq 0 $((n - 1))); do
    [ -n "${arrived[$i]:-}" ] && continue
    if "$bin" rpc --url "$(rpc "$i")" GET /gossip/data/greeting 2>/dev/null | grep -qF "$value"; then
      arrived[$i]=$(echo "$(date +%s.%N) - $start" | bc)
      printf '  node%s has it after %.2f s\n' "$i" "${arrived[$i]}"
    fi
  done
  [ "${#arrived[@]}" = "$n" ] && break
  sleep 0.1
done
[ "${#arrived[@]}" = "$n" ] || { echo "the key did not reach every node in 10 s"; exit 1; }

# Node names by identity (genesis order), for the schedule and the ledgers.
declare -A name_of=()
i=0
for id in $(awk '/^\[\[validators\]\]/ {v++} v > 0 && /^pubkey/ {gsub(/"/, "", $3); print $3}' "$dir/genesis.toml"); do
  name_of[$id]=node$i
  i=$((i + 1))
done
now=$("$bin" rpc --url "$(rpc 0)" GET /slot | jq -er .slot)
echo "==> the leader schedule from slot $now (4 slots per leader, stake-weighted)"
while read -r slot id; do
  printf '  slots %5s-%-5s %s\n' "$slot" "$((slot - slot % 4 + 3))" "${name_of[$id]:-$id}"
done < <("$bin" leader-schedule --genesis "$dir/genesis.toml" --from "$now" --count 48 --json |
  jq -r --argjson now "$now" '.slots[] | select(.slot % 4 == 0 or .slot == $now) | "\(.slot) \(.leader)"')

load_s=${RIPTIDE_LOAD_SECONDS:-10}
load_tps=${RIPTIDE_LOAD_TPS:-1000}
echo "==> ${load_s}s of signed transfers, round-robin to every node's tpu port as node 0's gossip knows them"
echo "    (riptide bench-tps --all-nodes, ${load_tps}/s)"
"$bin" bench-tps --rpc "$(rpc 0)" --all-nodes --faucet-key "$dir/faucet.key" --accounts 64 \
  --rate "$load_tps" --seconds "$load_s" || { echo "bench-tps failed"; exit 1; }

metric() {  # metric NODE TILE COUNTER
  "$bin" rpc --url "$(rpc "$1")" GET /metrics 2>/dev/null |
    awk -v n="riptide_tile_$3" -v t="$2" '$1 ~ "^"n"[{]" && $1 ~ "tile=\""t {s += $2; f = 1} END {print f ? s : "-"}'
}
echo "==> rotation, per node (its own counters)"
printf '  %-6s %9s %9s %9s %12s %10s %9s %9s\n' node "slots led" produced skipped "grace ticks" forwarded executed stored
for i in $(seq 0 $((n - 1))); do
  printf '  %-6s %9s %9s %9s %12s %10s %9s %9s\n' "node$i" "$(metric "$i" poh slots_led)" \
    "$(metric "$i" poh slots_produced)" "$(metric "$i" poh own_slots_skipped)" "$(metric "$i" poh grace_ticks)" \
    "$(metric "$i" forward forwarded_txs)" "$(metric "$i" bank executed)" "$(metric "$i" replay slots_stored)"
done

echo "==> waiting for node 0 to finalize a slot (a root needs 32 votes on top of it)"
for _ in $(seq 1 150); do
  "$bin" rpc --url "$(rpc 0)" GET /slot 2>/dev/null | jq -e '.finalized != null' >/dev/null 2>&1 && break
  sleep 0.2
done
echo "==> Tower BFT, per node (its own counters and GET /slot)"
printf '  %-6s %7s %10s %10s %10s %10s %24s\n' node votes "last vote" processed confirmed finalized "confirmed <=3 slots late"
for i in $(seq 0 $((n - 1))); do
  late=0 total=0
  for b in le1 le2 le3 le4 le8 gt8; do
    c=$(metric "$i" consensus "confirm_lag_$b")
    [ "$c" = - ] && continue
    total=$((total + c))
    case $b in le1 | le2 | le3) late=$((late + c)) ;; esac
  done
  slot_json=$("$bin" rpc --url "$(rpc "$i")" GET /slot 2>/dev/null || echo '{}')
  printf '  %-6s %7s %10s %10s %10s %10s %24s\n' "node$i" "$(metric "$i" consensus votes)" \
    "$(metric "$i" consensus last_vote_slot)" "$(jq -r '.processed // "-"' <<<"$slot_json")" \
    "$(jq -r '.confirmed // "-"' <<<"$slot_json")" "$(jq -r '.finalized // "-"' <<<"$slot_json")" "$late of $total"
done

window=$(( $("$bin" rpc --url "$(rpc 0)" GET /slot | jq -er .slot) + 1 ))
echo "==> waiting for every node to root a block past slot $window (a ledger holds rooted blocks: a tower's depth behind)"
for _ in $(seq 1 300); do
  behind=0
  for i in $(seq 0 $((n - 1))); do
    s=$("$bin" rpc --url "$(rpc "$i")" GET /slot 2>/dev/null | jq -er .root) || s=0
    [ "$s" -gt "$window" ] || behind=$((behind + 1))
  done
  [ "$behind" = 0 ] && break
  sleep 0.2
done
echo "==> cluster status"
cluster status
echo "==> stopping the cluster"
cluster down >/dev/null
trap - EXIT
echo "==> re-verifying node 0's ledger"
"$bin" ledger verify "$dir/ledger-0"
echo "==> comparing each node's ledger with node 0's, block by block (slots 0..$window)"
digest() {  # digest NODE: the window's blocks, one JSON object a line (ledger digest --json)
  "$bin" ledger digest --json "$dir/ledger-$1" | jq -c --argjson w "$window" '.slots[] | select(.slot <= $w)' \
    >"$dir/digest-$1.txt"
}
digest 0
declare -A led=()
while read -r id; do led[${name_of[$id]:-$id}]=$(( ${led[${name_of[$id]:-$id}]:-0} + 1 )); done < <(jq -r .leader "$dir/digest-0.txt")
line=""
for i in $(seq 0 $((n - 1))); do line+=" node$i ${led[node$i]:-0},"; done
echo "  node0: $(wc -l <"$dir/digest-0.txt") blocks for $((window + 1)) slots; blocks by leader:${line%,}"
same=1
for i in $(seq 1 $((n - 1))); do
  digest "$i"
  if cmp -s "$dir/digest-0.txt" "$dir/digest-$i.txt"; then
    echo "  node$i: $(wc -l <"$dir/digest-$i.txt") blocks, identical records, parents, leaders and bank hashes"
  else
    echo "  node$i: DIFFERS from node 0 (see $dir/digest-0.txt and $dir/digest-$i.txt)"
    same=0
  fi
done
[ "$same" = 1 ]
