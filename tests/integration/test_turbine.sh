#!/usr/bin/env bash
# Shreds from a leader to its followers on real nodes (loopback, one process per node):
#   - tools/stress-loss.sh with 4 nodes, fanout 2, 20 % loss, duplicates and reordering in
#     every node's net tile: every follower's ledger equals the leader's, slot by slot
#   - forged shreds (signed by the wrong key; the leader's with an altered payload; the
#     leader's with an altered merkle proof) sent to one follower are dropped there, counted,
#     never retransmitted (no other node sees one) and never stored (ledgers stay identical)
#   - a follower stopped and restarted resumes its ledger, repairs the slots it missed and
#     ends with the same ledger
#   - with shred stores of 8 slots, a follower killed while the leader makes 200+ slots is
#     served the slots it missed from its peers' shred archives (on disk) and ends with the
#     leader's ledger
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=800
cleanup() {
  "$root/tools/cluster.sh" down --dir "$tmp/c" >/dev/null 2>&1
  "$root/tools/cluster.sh" down --dir "$tmp/a" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- 1. loss, duplication, reordering
RIPTIDE_BIN=$bin "$root/tools/stress-loss.sh" --nodes 4 --fanout 2 --loss 0.2 --duplicate 0.05 --reorder 8 \
  --seconds 6 --rate 100 --catch-up-s 30 --dir "$tmp/s" --port-offset $off >"$tmp/stress.out" 2>&1
status=$?
sed 's/^/    /' "$tmp/stress.out"
check "20 % loss: every ledger identical to the leader's" [ "$status" -eq 0 ]

# ---- 2. forged shreds into follower 1
cluster() { RIPTIDE_BIN=$bin "$root/tools/cluster.sh" "$1" --dir "$tmp/c" --port-offset $((off + 50)) "${@:2}"; }
rpc() { echo "127.0.0.1:$((11000 + off + 50 + $1))"; }
slot_of() { get_json "$(rpc "$1")" /slot .slot; }
node_metric() { metric "$(rpc "$1")" "$2" "$3"; }  # node, tile, counter
cluster up 4 --staked 1 --fanout 2 -- --set layout.pin=false >/dev/null
for _ in $(seq 100); do [ -n "$(slot_of 1)" ] && [ "$(slot_of 1)" -ge 2 ] && break; sleep 0.2; done
check "follower 1 replays the leader's slots" [ "$(slot_of 1)" -ge 2 ]
# Every node serves the genesis's leader schedule: the digest the CLI computes from the file.
want_digest=$("$bin" leader-schedule --genesis "$tmp/c/genesis.toml" --json --count 0 | jq -r .digest)
same=0
for i in 0 1 2 3; do [ "$(get_json "$(rpc "$i")" "/leader-schedule?epoch=0&count=4" .digest)" = "$want_digest" ] && same=$((same + 1)); done
check "GET /leader-schedule on every node has the genesis's digest ($same of 4)" all '[ -n "$want_digest" ]' '[ "$same" -eq 4 ]'
target=$(( $(slot_of 0) + 3 ))
forged=0
for kind in wrong-signer altered-payload altered-proof; do
  out=$("$bin" forge-shreds --genesis "$tmp/c/genesis.toml" --leader-key "$tmp/c/node-0.key" \
        --to "127.0.0.1:$((14000 + off + 50 + 1))" --slot "$target" --kind "$kind")
  n=$(echo "$out" | sed -n 's/^sent \([0-9]*\) of.*/\1/p')
  forged=$((forged + ${n:-0}))
done
check "forged shreds sent ($forged)" [ "$forged" -ge 100 ]
for _ in $(seq 50); do [ "$(slot_of 1)" -gt $((target + 2)) ] && break; sleep 0.2; done
check "the forged slot $target and the next ones are replayed" [ "$(slot_of 1)" -gt $((target + 2)) ]
rejected() {  # shreds a node's resolver refused as not the leader's
  echo $(( $(node_metric "$1" tvu drop_bad_signature) + $(node_metric "$1" tvu drop_wrong_root) + $(node_metric "$1" tvu drop_parse_error) ))
}
r1=$(rejected 1)
check "follower 1 refused every forged shred ($r1 of $forged)" [ "$r1" -eq "$forged" ]
for i in 2 3; do
  ri=$(rejected "$i")
  check "follower $i never received a forged shred (refused $ri)" [ "$ri" -eq 0 ]
done
echo "    follower 1: accepted $(node_metric 1 tvu accepted), retransmitted $(node_metric 1 tvu retransmitted), dead slots $(node_metric 1 replay slots_dead)"
dead=0
for i in 1 2 3; do dead=$((dead + $(node_metric "$i" replay slots_dead))); done
check "no dead slot on any follower" [ "$dead" -eq 0 ]

# ---- 3. a follower that restarts resumes its ledger and repairs the slots it missed
cluster kill-node 2 >/dev/null
sleep 2
cluster start-node 2 -- --set layout.pin=false >/dev/null
lead=$(slot_of 0)
for _ in $(seq 150); do s=$(slot_of 2); [ -n "$s" ] && [ "$s" -gt "$lead" ] && break; sleep 0.2; done
check "restarted follower 2 caught up with the leader's slot $lead" [ "$(slot_of 2)" -gt "$lead" ]
stored=$(node_metric 2 replay slots_stored)
check "follower 2 resumed its ledger: it stored only the slots it missed (${stored:-?} < $lead)" \
  all '[ -n "$stored" ]' '[ "$stored" -lt "$lead" ]'
window=$(( $(slot_of 0) ))
cluster down >/dev/null
# Ledgers compared by their JSON digests: every slot of the window equal (records, bank hash,
# parent, leader, rooted), complete, naming the slot before it as parent and the leader's
# identity, and rooted on every node.
for i in 0 1 2 3; do
  "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/j$i.json"
  jq -c --argjson w "$window" '.slots[] | select(.slot < $w)' "$tmp/j$i.json" >"$tmp/d$i.txt"
done
for i in 1 2 3; do
  check "follower $i's ledger equals the leader's over slots 0..$((window - 1))" \
    all '[ -s "$tmp/d0.txt" ]' 'cmp -s "$tmp/d0.txt" "$tmp/d$i.txt"'
done
leader_id=$(awk '/^\[\[validators\]\]/ {v = 1} v && $1 == "pubkey" {gsub(/"/, "", $3); print $3; exit}' \
  "$tmp/c/genesis.toml")
for i in 0 1 2 3; do
  bad=$(jq --argjson w "$window" --arg id "$leader_id" '[.slots[] | select(.slot < $w)
          | select(.complete != true or .rooted != true or .leader != $id
                   or .parent != (if .slot == 0 then 0 else .slot - 1 end))] | length' "$tmp/j$i.json")
  check "node $i: slots 0..$((window - 1)) complete, rooted, parent = slot - 1, leader = node 0 (${bad:-?} not)" \
    all '[ -n "$leader_id" ]' '[ "$bad" = 0 ]'
done
# ---- 4. repair from the shred archives: stores of 8 slots, a follower away for 200+ slots
# Slots of 64 ticks of 1.5 ms (96 ms) so that 200 slots take ~20 s. Every node keeps only the
# last 8 slots in memory, so what the restarted follower missed can only come from disk.
acluster() { RIPTIDE_BIN=$bin "$root/tools/cluster.sh" "$1" --dir "$tmp/a" --port-offset $((off + 70)) "${@:2}"; }
arpc() { echo "127.0.0.1:$((11000 + off + 70 + $1))"; }
aslot() { get_json "$(arpc "$1")" /slot .slot; }
aslot_at_least() { local s; s=$(aslot "$1") && [ "$s" -ge "$2" ]; }
small=(--set layout.pin=false --set tvu.store_slots=8 --set tvu.store_shreds=1024)
acluster up 3 --staked 1 --tick-us 1500 -- "${small[@]}" >/dev/null
check "archive cluster: follower 2 replays" wait_until 30 aslot_at_least 2 5
acluster kill-node 2 --signal KILL >/dev/null
away=$(aslot 0)
check "the leader makes 220 slots while follower 2 is down (from $away)" wait_until 90 aslot_at_least 0 $((away + 220))
acluster start-node 2 -- "${small[@]}" >/dev/null
lead=$(aslot 0)
check "restarted follower 2 catches up with the leader's slot $lead" wait_until 90 aslot_at_least 2 $((lead + 1))
served=$(( $(metric "$(arpc 0)" shred repair_from_archive) + $(metric "$(arpc 1)" tvu repair_from_archive) ))
repaired=$(metric "$(arpc 2)" tvu repaired)
echo "    answers from the archives: $served (leader $(metric "$(arpc 0)" shred repair_from_archive)), shreds repaired by follower 2: $repaired"
check "peers answered follower 2 from their shred archives ($served answers)" [ "${served:-0}" -gt 0 ]
check "follower 2 repaired what it missed ($repaired shreds)" [ "${repaired:-0}" -gt 0 ]
incomplete=$(metric "$(arpc 1)" tvu archive_incomplete)
archived=$(metric "$(arpc 1)" tvu archived)
refused=$(metric "$(arpc 1)" tvu archive_refused)
check "follower 1 archived every slot it delivered ($archived shreds; ${incomplete:-?} slots incomplete, ${refused:-?} shreds refused)" \
  all '[ "${archived:-0}" -gt 0 ]' '[ "$incomplete" = 0 ]' '[ "$refused" = 0 ]'

window=$(aslot 2)
acluster down >/dev/null
for i in 0 2; do
  "$bin" ledger digest "$tmp/a/ledger-$i" --json >"$tmp/a$i.json"
  jq -c --argjson w "$window" '.slots[] | select(.slot < $w)' "$tmp/a$i.json" >"$tmp/ad$i.txt"
done
check "follower 2's ledger equals the leader's over slots 0..$((window - 1))" \
  all '[ -s "$tmp/ad0.txt" ]' 'cmp -s "$tmp/ad0.txt" "$tmp/ad2.txt"'
finish
