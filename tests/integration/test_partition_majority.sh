#!/usr/bin/env bash
# Majority and minority: 5 validators with stakes 2,2,2,1,1 (riptide genesis --stakes) split
# into the three heavy ones (6 of 8: 75 % > 2/3) and the two light ones (25 %).
#   - split for 25 s: the heavy side keeps finalizing (>= 16 slots); the light side confirms
#     and finalizes nothing new
#   - healed: the light side switches to the heavy side's fork and catches up without help:
#     within 150 s its finalized slot is within 8 of the heavy side's, and its finalized slot
#     and its own root are past the newest block the light side had made while split (so its
#     split-time fork was abandoned: its tower waits out its lockouts on that fork first)
#   - no node's confirmed or finalized slot ever goes back (sampled every second)
#   - every ledger holds the same blocks up to the lowest finalized slot, and none of the
#     light side's split-time blocks is among them
# Facts from GET /slot and `riptide ledger digest --json`.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=880
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
skip_unless_partition_tools
nodes="0 1 2 3 4"

cluster up 5 --stakes 2,2,2,1,1 -- --set layout.pin=false >"$tmp/up.out" 2>&1
finalized_of() { slot_field "$1" finalized; }
confirmed_of() { slot_field "$1" confirmed; }
processed_of() { slot_field "$1" processed; }
root_of() { slot_field "$1" root; }
: >"$tmp/samples"
sample() { sample_slots "$tmp/samples" "$1" $nodes; }
all_finalized_at_least() { local i f; for i in $nodes; do f=$(finalized_of $i) && [ "$f" -ge "$1" ] || return 1; done; }
check "5 validators with stakes 2,2,2,1,1 finalize" wait_until 60 all_finalized_at_least 8
for _ in $(seq 5); do sample before; sleep 1; done

split_start=$(for i in $nodes; do processed_of $i; done | sort -n | tail -1)
cluster partition 0,1,2 / 3,4 >"$tmp/partition.out" 2>&1
check "the cluster splits into the heavy 0,1,2 and the light 3,4" [ $? -eq 0 ]
sleep 3  # what was in flight lands
declare -a c0 f0
for i in $nodes; do c0[$i]=$(confirmed_of $i); f0[$i]=$(finalized_of $i); done
for _ in $(seq 22); do sample split; sleep 1; done
for i in 0 1 2; do
  f1=$(finalized_of $i)
  check "split: heavy node $i keeps finalizing (${f0[$i]} -> $f1, >= 16 more)" [ "$f1" -ge $(( ${f0[$i]} + 16 )) ]
done
for i in 3 4; do
  c1=$(confirmed_of $i) f1=$(finalized_of $i)
  check "split: light node $i confirms and finalizes nothing new (confirmed ${c0[$i]} -> $c1, finalized ${f0[$i]} -> $f1)" \
    all "[ $c1 -eq ${c0[$i]} ]" "[ $f1 -eq ${f0[$i]} ]"
done
light_tip=$(for i in 3 4; do processed_of $i; done | sort -n | tail -1)

cluster heal >/dev/null
healed_at=$(date +%s)
# Its finalized slot follows the others' votes; its root (and ledger) moves once its own tower,
# locked out on the abandoned fork for a while, has voted 32 deep on the heavy side's.
caught_up() {
  local i f r h
  h=$(finalized_of 0) || return 1
  for i in 3 4; do
    f=$(finalized_of $i) && r=$(root_of $i) || return 1
    [ "$f" -gt "$light_tip" ] && [ $((h - f)) -le 8 ] && [ "$r" -gt "$light_tip" ] || return 1
  done
}
sample_until_caught_up() {
  local end=$(( $(date +%s) + 150 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sample healed
    caught_up && return 0
    sleep 1
  done
  return 1
}
check "healed: the light side finalizes and roots past its split-time tip $light_tip, within 8 slots of the heavy side" \
  sample_until_caught_up
echo "    $(( $(date +%s) - healed_at )) s after the heal"
for i in $nodes; do echo "    node $i: $(get_json "$(rpc "$i")" /slot '"processed \(.processed) confirmed \(.confirmed) finalized \(.finalized) root \(.root)"')"; done
back=$(went_back "$tmp/samples")
check "no node's confirmed or finalized slot went back ($back times in $(wc -l <"$tmp/samples") samples)" [ "$back" -eq 0 ]
final=$(for i in $nodes; do finalized_of $i; root_of $i; done | sort -n | head -1)
cluster down >/dev/null

for i in $nodes; do "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"; done
chain() { jq -c --argjson c "$final" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in $nodes; do [ "$(chain "$i")" = "$(chain 0)" ] && [ "$(chain "$i")" != "[]" ] && same=$((same + 1)); done
check "every ledger holds the same blocks up to the lowest finalized or root slot $final ($same of 5)" [ "$same" -eq 5 ]
ids=($(validator_ids "$tmp/c/genesis.toml"))
light=$(jq --arg a "${ids[3]}" --arg b "${ids[4]}" --argjson s $((split_start + 4)) --argjson e "$light_tip" \
  '[.slots[] | select(.slot >= $s and .slot <= $e and (.leader == $a or .leader == $b))] | length' "$tmp/digest-0.json")
heavy=$(jq --arg a "${ids[3]}" --arg b "${ids[4]}" --argjson s $((split_start + 4)) --argjson e "$light_tip" \
  '[.slots[] | select(.slot >= $s and .slot <= $e and .leader != $a and .leader != $b)] | length' "$tmp/digest-0.json")
check "the finalized chain holds the heavy side's split-time blocks ($heavy), none of the light side's ($light)" \
  all "[ $heavy -gt 0 ]" "[ $light -eq 0 ]"
finish
