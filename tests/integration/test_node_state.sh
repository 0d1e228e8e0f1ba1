#!/usr/bin/env bash
# A node's state belongs to one process, and a node never accepts what it then drops
# (two nodes on loopback, node 0 leads):
#   - a second start of a running node, with the same config or on other ports with
#     tvu.enabled=false, exits 2 naming the running node's pid and touches nothing: node 0's
#     counters go on from where they were, /metrics answers, its ledger verifies once it has
#     stopped, and it restarts on that ledger
#   - POST /gossip/data beyond gossip.max_own_data_keys is refused with 409, and every key it
#     accepted reaches the other node
#   - a second live process with node 0's identity makes node 0 stop leading (/health says
#     so, poh halted, the slot stops moving)
#   - a ledger of another genesis is refused (exit 2, both hashes named) and left as it was;
#     `genesis --force` removes the replaced cluster's ledgers
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=620
dup_pid=
cleanup() {
  [ -n "$dup_pid" ] && kill -9 "$dup_pid" 2>/dev/null
  cluster down >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
other_ports=(--set net.gossip_port=$((12090 + off)) --set net.tpu_port=$((13090 + off))
             --set net.tvu_port=$((14090 + off)) --set net.repair_port=$((15090 + off))
             --set net.tpu_forwards_port=$((16090 + off)) --set rpc.port=$((11090 + off)))

cluster up 2 --staked 1 -- --set layout.pin=false --set gossip.max_own_data_keys=3 >/dev/null
check "the leader produces slots" wait_until 30 slot_at_least 0 3
check "the follower replays them" wait_until 30 slot_at_least 1 2
pid0=$(cat "$tmp/c/pids/node-0.pid")

# ---- 1. a second start of node 0
hashes_before=$(metric "$(rpc 0)" poh hashes)
check "same config: exit 2" expect_exit 2 "$bin" run --config "$tmp/c/node-0.toml" --seconds 3
check "  and the error names node 0's pid (${pid0:-?})" all '[ -n "$pid0" ]' 'grep -q "pid $pid0[^0-9]" "$tmp/err"'
check "other ports, tvu off: exit 2" expect_exit 2 "$bin" run --config "$tmp/c/node-0.toml" --seconds 3 \
  --set tvu.enabled=false "${other_ports[@]}"
check "  and the error names node 0's pid" all '[ -n "$pid0" ]' 'grep -q "pid $pid0[^0-9]" "$tmp/err"'
check "node 0's metrics file is still there" [ -f "$tmp/c/node-0.metrics" ]
metrics_answers() { "$bin" rpc --url "$(rpc 0)" GET /metrics >/dev/null; }
check "GET /metrics still answers" metrics_answers
hashes_after=$(metric "$(rpc 0)" poh hashes)
check "node 0's counters went on, not reset (poh hashes ${hashes_before:-?} -> ${hashes_after:-?})" \
  [ "${hashes_after:-0}" -gt "${hashes_before:-0}" ]
check "node 0 still leads" wait_until 10 slot_at_least 0 $(( $(slot_of 0) + 2 ))

# ---- 2. own gossip keys: 3 accepted, the 4th refused, all 3 reach node 1
for k in k0 k1 k2; do
  check "POST /gossip/data $k: accepted" "$bin" rpc --url "$(rpc 0)" POST /gossip/data "{\"key\":\"$k\",\"value\":\"v\"}"
done
"$bin" rpc --url "$(rpc 0)" POST /gossip/data '{"key":"k3","value":"v"}' >"$tmp/k3.json" 2>&1
check "a 4th key is refused, not accepted and dropped" [ "$(jq -r .max_own_data_keys "$tmp/k3.json" 2>/dev/null)" = 3 ]
check "an update of an accepted key is accepted" "$bin" rpc --url "$(rpc 0)" POST /gossip/data '{"key":"k1","value":"w"}'
id0=$(get_json "$(rpc 0)" /gossip/state .self.id)
keys_at_1() { "$bin" rpc --url "$(rpc 1)" GET /gossip/data 2>/dev/null |
  jq -r --arg o "$id0" '[.[] | select(.origin == $o) | .key] | sort | join(",")'; }
has_three() { [ "$(keys_at_1)" = "k0,k1,k2" ]; }
check "node 1 receives exactly k0, k1, k2 from node 0" wait_until 15 has_three

# ---- 3. stop node 0: its ledger verifies, it restarts on it
last=$(slot_of 0)
cluster kill-node 0 >/dev/null
"$bin" ledger verify --json "$tmp/c/ledger-0" >"$tmp/v0.json" 2>/dev/null
check "node 0's ledger verifies" [ "$(jq -r .ok "$tmp/v0.json")" = true ]
check "  and holds its slots ($(jq -r .slots "$tmp/v0.json") >= ${last:-?})" [ "$(jq -r .slots "$tmp/v0.json")" -ge "${last:-1}" ]
cluster start-node 0 -- --set layout.pin=false --set gossip.max_own_data_keys=3 >/dev/null
check "node 0 restarts on its ledger and goes on past slot $last" wait_until 30 slot_at_least 0 $((last + 2))

# ---- 4. node 0's identity live in a second process: node 0 stops leading
"$bin" run --config "$tmp/c/node-0.toml" --seconds 60 --set tvu.enabled=false --set layout.pin=false \
  "${other_ports[@]}" --set ledger.dir="\"$tmp/dup-ledger\"" --set metrics.path="\"$tmp/dup.metrics\"" \
  >"$tmp/dup.out" 2>&1 &
dup_pid=$!
duplicate_seen() { [ "$(get_json "$(rpc 0)" /health .duplicate_identity)" = true ]; }
check "node 0 detects its identity in another process (/health)" wait_until 30 duplicate_seen
halted() { [ "$(metric "$(rpc 0)" poh halted)" = 1 ]; }
check "node 0's PoH halts at the end of its slot" wait_until 5 halted
s1=$(slot_of 0)
sleep 2  # five slots at 0.4 s each
s2=$(slot_of 0)
check "node 0 makes no more slots (${s1:-?} then ${s2:-?})" all '[ -n "$s1" ]' '[ "$s1" = "$s2" ]'
kill "$dup_pid" 2>/dev/null; wait "$dup_pid" 2>/dev/null; dup_pid=

# ---- 5. a ledger of another genesis is refused and left as it was
cluster down >/dev/null
"$bin" ledger digest "$tmp/c/ledger-0" >"$tmp/digest-before" 2>/dev/null
"$bin" genesis -o "$tmp/other" --nodes 2 --staked 1 --port-offset $off >"$tmp/other.out"
other_hash=$(sed -n 's/.*genesis hash \([0-9a-f]*\).*/\1/p' "$tmp/other.out")
check "a node of another genesis on node 0's ledger: exit 2" expect_exit 2 "$bin" run \
  --config "$tmp/other/node-0.toml" --seconds 3 --set layout.pin=false --set ledger.dir="\"$tmp/c/ledger-0\""
check "  the error names the new genesis hash (${other_hash:-none printed})" \
  bash -c "[ \${#1} -eq 64 ] && grep -q \"\$1\" '$tmp/err'" _ "$other_hash"
"$bin" ledger digest "$tmp/c/ledger-0" >"$tmp/digest-after" 2>/dev/null
check "  and the ledger is unchanged ($(wc -l <"$tmp/digest-before") slots)" \
  all '[ -s "$tmp/digest-before" ]' 'cmp -s "$tmp/digest-before" "$tmp/digest-after"'
check "genesis --force replaces the cluster" expect_exit 0 "$bin" genesis -o "$tmp/c" --nodes 2 --staked 1 --port-offset $off --force
check "  and removes the old cluster's ledgers" all '[ ! -e "$tmp/c/ledger-0" ]' '[ ! -e "$tmp/c/ledger-1" ]'
finish
