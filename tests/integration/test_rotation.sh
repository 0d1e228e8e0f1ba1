#!/usr/bin/env bash
# Leader rotation on real nodes (loopback, one process per node): 4 validators with equal
# stake take turns by the genesis's leader schedule (epochs past the first: test_epochs.sh).
#   - a validator that has stored no block yet gives out its chain's start hash as the recent
#     blockhash, and takes a transfer signed with it (a client asking at once gets no zeros)
#   - all up, with bench-tps sending 500 transfers/s round-robin to the four nodes (their
#     addresses from gossip): >= 99 % confirmed, balances conserved; a transfer through
#     POST /tx lands from each node; every node leads its 4-slot spans, >= 95 % of the
#     scheduled slots have a block, every block names its scheduled leader, and every ledger
#     is the same chain
#   - one node killed -9: only its slots are skipped, the other three produce theirs
#   - restarted on other ports (all five UDP ports moved): the others learn them from its
#     gossip ContactInfo (their contact books change), so repair answers, Turbine and
#     forwarded transactions reach it at the new ports; it catches up by repair and replay,
#     ends with the same chain, and never makes a block for a slot it made before
# Facts come from `riptide ledger digest --json`, `riptide leader-schedule --json` and
# GET /slot; nothing is read from a log line.
# RIPTIDE_ROTATION_SECONDS (default 20): how long each phase (all up, one down) lasts.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=980
phase_s=${RIPTIDE_ROTATION_SECONDS:-20}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

down_node=3
# ---- one validator alone, not slot 0's leader: nothing to build on, so it stores no block
"$bin" genesis -o "$tmp/c" --nodes 4 --port-offset "$off" --fanout 2 --force >/dev/null
id_of() { awk '/^\[\[validators\]\]/ {v++} v > 0 && /^pubkey/ {gsub(/"/, "", $3); print $3}' "$tmp/c/genesis.toml" | sed -n "$(($1 + 1))p"; }
lead0=$("$bin" leader-schedule --genesis "$tmp/c/genesis.toml" --from 0 --count 1 --json | jq -r '.slots[0].leader')
alone=0
[ "$(id_of 0)" = "$lead0" ] && alone=1
cluster start-node $alone -- --set layout.pin=false >/dev/null
answering() { get_json "$(rpc $alone)" /slot .slot >/dev/null; }
wait_until 20 answering
bh=$(get_json "$(rpc $alone)" /slot .blockhash)
"$bin" transfer --rpc "$(rpc $alone)" --from "$tmp/c/faucet.key" --to "$(id_of 2)" --lamports 5 >/dev/null 2>&1
took() { local u; u=$(metric "$(rpc $alone)" dedup unique) && [ "$u" -ge 1 ]; }
wait_until 10 took
unknown=$(metric "$(rpc $alone)" dedup blockhash_unknown || echo missing) unique=$(metric "$(rpc $alone)" dedup unique || echo 0)
check "a validator with no block stored gives a known blockhash (${bh:0:16}…): its dedup took a transfer signed with it (unique $unique, unknown $unknown)" \
  all '[ -n "$bh" ]' '[ "$bh" != "$(printf "%064d" 0)" ]' '[ "$unique" -ge 1 ]' '[ "$unknown" = 0 ]'
cluster kill-node $alone >/dev/null

cluster up 4 --staked 0 --fanout 2 -- --set layout.pin=false >"$tmp/up.out" 2>&1
"$bin" leader-schedule --genesis "$tmp/c/genesis.toml" --from 0 --count 4096 --json |
  jq '[.slots[] | {key: (.slot | tostring), value: .leader}] | from_entries' >"$tmp/schedule.json"
down_id=$(awk '/^\[\[validators\]\]/ {v++} v > 0 && /^pubkey/ {gsub(/"/, "", $3); print $3}' "$tmp/c/genesis.toml" | sed -n "$((down_node + 1))p")
check "a cluster of 4 equal-stake validators starts" wait_until 30 slot_at_least 0 2
active() { [ "$(get_json "$(rpc 1)" /gossip/health .peers.active)" = 3 ]; }
check "node 1's gossip knows the 3 others" wait_until 30 active
# Transfers at 500/s, round-robin to the four tpu ports as node 1's gossip knows them: whoever
# gets one forwards it to the coming leaders (Gulf Stream) or keeps it for its own block.
"$bin" bench-tps --rpc "$(rpc 1)" --all-nodes --faucet-key "$tmp/c/faucet.key" --rate 500 \
  --seconds "$phase_s" --json >"$tmp/bench.json" 2>"$tmp/bench.err"
got=0
for i in 0 1 2 3; do [ "$(metric "$(rpc "$i")" net rx_tpu || echo 0)" -gt 100 ] && got=$((got + 1)); done
check "bench-tps --all-nodes sent to every node's tpu port ($got of 4 got transfers)" [ "$got" -eq 4 ]
sent=$(jq -r '.sent // 0' "$tmp/bench.json")
ok=$(jq -r '.confirmed_ok // 0' "$tmp/bench.json")
echo "    bench-tps: sent $sent, confirmed ok $ok, latency p50 $(jq -r '.latency_ms.p50 // "?"' "$tmp/bench.json") ms p99 $(jq -r '.latency_ms.p99 // "?"' "$tmp/bench.json") ms"
check "transfers sent round-robin to all 4 nodes: >= 99 % confirmed ($ok of $sent)" \
  all '[ "$sent" -gt 0 ]' '[ $((ok * 100)) -ge $((sent * 99)) ]'
check "balances conserved (minus fees)" [ "$(jq -r '.balances.conserved' "$tmp/bench.json")" = true ]
fwd=0
for i in 0 1 2 3; do fwd=$((fwd + $(metric "$(rpc "$i")" forward forwarded_txs || echo 0))); done
check "transactions were forwarded to the coming leaders ($fwd)" [ "$fwd" -gt 0 ]
# POST /tx works on any node: one transfer through each node's HTTP API, each seen on the
# next node's rooted balances.
landed=0
for i in 0 1 2 3; do
  to=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  "$bin" transfer --rpc "$(rpc "$i")" --from "$tmp/c/faucet.key" --to "$to" --lamports $((1000 + i)) >/dev/null 2>&1
  has() { [ "$(get_json "$(rpc $(( (i + 1) % 4 )))" "/balance/$to" .lamports)" = $((1000 + i)) ]; }
  wait_until 20 has && landed=$((landed + 1))
done
check "a transfer sent through POST /tx to each node landed ($landed of 4)" [ "$landed" -eq 4 ]
kill_slot=$(slot_of 0)
cluster kill-node $down_node --signal KILL >/dev/null
sleep "$phase_s"
restart_slot=$(slot_of 0)
# Back on other ports (its HTTP port stays, for this script): nobody listens on the old ones,
# so only addresses learnt from its new ContactInfo reach it.
moved=$((off + 13))
changed_before=0
for i in 0 1 2; do changed_before=$((changed_before + $(metric "$(rpc "$i")" gossip contacts_changed || echo 0))); done
cluster start-node $down_node -- --set layout.pin=false --set net.gossip_port=$((12000 + moved)) \
  --set net.tpu_port=$((13000 + moved)) --set net.tvu_port=$((14000 + moved)) \
  --set net.repair_port=$((15000 + moved)) --set net.tpu_forwards_port=$((16000 + moved)) >/dev/null
# Caught up: its chain reaches where node 0's was a moment after the restart.
target=$(( $(slot_of 0) + 4 ))
check "restarted node $down_node caught up to slot $target" wait_until 60 slot_at_least $down_node "$target"
learnt=0
for i in 0 1 2; do
  c=$(metric "$(rpc "$i")" gossip contacts_changed || echo 0)
  [ "$c" -ge 5 ] && learnt=$((learnt + 1))
done
check "the other three learnt the restarted node's five new ports from gossip ($learnt of 3; before: $changed_before changes)" \
  all '[ "$learnt" -eq 3 ]' '[ "$changed_before" -eq 0 ]'
# Transfers to node 0 only while the restarted node leads again: node 0 forwards them to the
# coming leaders, the restarted one at its new tpu_forwards port.
"$bin" bench-tps --rpc "$(rpc 0)" --tpu "127.0.0.1:$((13000 + off))" --faucet-key "$tmp/c/faucet.key" --rate 200 \
  --seconds "$phase_s" --json >"$tmp/bench-moved.json" 2>"$tmp/bench-moved.err" &
bench_pid=$!
# Then on until it has made a whole span of blocks again (at most 60 s: several spans).
next_span=$(jq --arg l "$down_id" --argjson t "$target" \
  '[to_entries[] | select(.value == $l and (.key | tonumber) > $t) | .key | tonumber] | min' "$tmp/schedule.json")
led_again() { local p; p=$(metric "$(rpc $down_node)" poh slots_produced) && [ "$p" -ge 4 ]; }
wait_until 60 led_again
wait "$bench_pid"
moved_ok=$(jq -r '.confirmed_ok // 0' "$tmp/bench-moved.json") moved_sent=$(jq -r '.sent // 0' "$tmp/bench-moved.json")
check "transfers to node 0 while node $down_node was back: >= 99 % confirmed ($moved_ok of $moved_sent)" \
  all '[ "$moved_sent" -gt 0 ]' '[ $((moved_ok * 100)) -ge $((moved_sent * 99)) ]'
rx_tvu=$(metric "$(rpc $down_node)" net rx_tvu || echo 0)
check "Turbine reached the restarted node at its new tvu port ($rx_tvu shreds)" [ "$rx_tvu" -ge 50 ]
rx_fwd=$(metric "$(rpc $down_node)" net rx_tpu_forwards || echo 0)
check "forwarded transactions reached its new tpu_forwards port ($rx_fwd)" [ "$rx_fwd" -gt 0 ]
repaired=$(metric "$(rpc $down_node)" tvu repaired || echo 0)
check "repair answers reached its new repair port ($repaired shreds repaired)" [ "$repaired" -gt 0 ]
sleep 1
end_slot=$(slot_of 0)
cluster down >/dev/null
echo "    slots: killed node $down_node at $kill_slot, restarted at $restart_slot, stopped at $end_slot"

# ---- facts
for i in 0 1 2 3; do
  "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"
  "$bin" ledger digest "$tmp/c/ledger-$i/produced" --json >"$tmp/produced-$i.json"
done
tips=$(for i in 0 1 2 3; do jq '[.slots[].slot] | max' "$tmp/digest-$i.json"; done | sort -n | head -1)
common=$((tips - 3))
echo "    lowest tip of the four ledgers: $tips; compared up to slot $common"

# The same chain everywhere: every block up to `common`, byte for byte.
chain() { jq -c --argjson c "$common" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in 0 1 2 3; do [ "$(chain "$i")" = "$(chain 0)" ] && same=$((same + 1)); done
check "every ledger holds the same blocks up to slot $common ($same of 4)" [ "$same" -eq 4 ]

# Every block names the leader the schedule gives its slot.
wrong=$(jq --slurpfile s "$tmp/schedule.json" '[.slots[] | select(.leader != $s[0][(.slot | tostring)])] | length' "$tmp/digest-0.json")
check "every block's leader is its slot's scheduled leader (wrong: $wrong)" [ "$wrong" -eq 0 ]

# Blocks per phase, and whose slots went without one.
count_blocks() {  # FROM TO [LEADER]: blocks in node 0's chain for slots FROM..TO (led by LEADER)
  jq --argjson a "$1" --argjson b "$2" --arg l "${3:-}" \
    '[.slots[] | select(.slot >= $a and .slot <= $b and .complete and ($l == "" or .leader == $l))] | length' "$tmp/digest-0.json"
}
scheduled() {  # FROM TO [LEADER]
  jq --argjson a "$1" --argjson b "$2" --arg l "${3:-}" \
    '[to_entries[] | select((.key | tonumber) >= $a and (.key | tonumber) <= $b and ($l == "" or .value == $l))] | length' "$tmp/schedule.json"
}
up_blocks=$(count_blocks 0 "$kill_slot")
up_slots=$((kill_slot + 1))
check "all up: $up_blocks blocks for $up_slots scheduled slots (>= 95 %)" [ $((up_blocks * 100)) -ge $((up_slots * 95)) ]
leaders=$(jq -r --argjson b "$kill_slot" '[.slots[] | select(.slot <= $b) | .leader] | unique | length' "$tmp/digest-0.json")
check "all up: blocks of $leaders distinct leaders" [ "$leaders" -eq 4 ]
spans=0
for l in $(jq -r '[.[]] | unique | .[]' "$tmp/schedule.json"); do
  # A full span: 4 consecutive blocks of one leader, starting on a group boundary.
  full=$(jq --arg l "$l" --argjson b "$kill_slot" \
    '[.slots[] | select(.leader == $l and .slot <= $b) | .slot] as $s | [$s[] | select(. % 4 == 0 and ([. + 1, . + 2, . + 3] - $s | length) == 0)] | length' \
    "$tmp/digest-0.json")
  [ "$full" -ge 1 ] && spans=$((spans + 1))
done
check "all up: every validator led a whole 4-slot span ($spans of 4)" [ "$spans" -eq 4 ]

# From past the run the kill may have cut short, and the grace its successor waited for the
# rest of it (the down node had made blocks of that run: it looked alive).
run_end=$(jq --arg l "$down_id" --argjson k "$kill_slot" \
  '[to_entries[] | select((.key | tonumber) >= $k and .value != $l) | .key | tonumber] | min' "$tmp/schedule.json")
from=$((run_end + 2)) to=$((restart_slot - 1))
skipped_others=$(( $(scheduled "$from" "$to") - $(scheduled "$from" "$to" "$down_id") - ( $(count_blocks "$from" "$to") - $(count_blocks "$from" "$to" "$down_id") ) ))
others=$(( $(scheduled "$from" "$to") - $(scheduled "$from" "$to" "$down_id") ))
down_blocks=$(count_blocks "$from" "$to" "$down_id")
echo "    one down (slots $from-$to): the others' slots $others, without a block $skipped_others; the down node's slots $(scheduled "$from" "$to" "$down_id"), blocks $down_blocks"
check "one down: the other three made >= 95 % of their slots' blocks" [ $((skipped_others * 100)) -le $((others * 5)) ]
check "one down: the down node made no block while it was down" [ "$down_blocks" -eq 0 ]

# Never two blocks for one slot: every slot of the restarted node's produced ledger that is
# in the chain holds exactly the chain's records for it (a second block would add records).
twice=$(jq -n --slurpfile p "$tmp/produced-$down_node.json" --slurpfile d "$tmp/digest-0.json" \
  '($d[0].slots | map({key: (.slot | tostring), value: .records}) | from_entries) as $chain
   | [$p[0].slots[] | select($chain[(.slot | tostring)] != null and $chain[(.slot | tostring)] != .records)] | length')
after=$(count_blocks "$restart_slot" "$end_slot" "$down_id")
echo "    restarted node: $after blocks after its restart (its first span after catching up began at slot $next_span)"
check "restarted node led again after catching up ($after blocks)" [ "$after" -ge 1 ]
check "no slot has two blocks from the restarted node ($twice)" [ "$twice" -eq 0 ]
finish
