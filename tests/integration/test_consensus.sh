#!/usr/bin/env bash
# Tower BFT on a live cluster: 4 equal-stake validators vote on every block they store.
#   - for 60 s: every node's finalized slot advances by >= 16; confirmed slots come at most 3
#     slots behind the PoH clock at the median (the consensus tile's confirm_lag histogram);
#     finalized stays about a tower's depth (32) behind the newest stored block; no node's
#     confirmed or finalized slot ever goes back; every node votes and sees the others' votes;
#     the bank's root (GET /slot root: the ledger's too) is the tower's, as far behind
#   - one node killed -9 for 25 s: the other three (75 % > 2/3) keep finalizing; restarted, it
#     restores its tower, votes again within 30 s and finalizes what the others do
#   - at the end every ledger holds the same blocks up to the lowest finalized slot
# Facts from GET /slot, /metrics and `riptide ledger digest --json`.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=740
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

cluster up 4 --staked 0 -- --set layout.pin=false >"$tmp/up.out" 2>&1
check "a cluster of 4 equal-stake validators starts" wait_until 30 all 'slot_at_least 0 2' 'slot_at_least 3 2'

# One line per node per second: node processed confirmed finalized root (null: -1).
sample() {
  local i
  for i in "$@"; do
    get_json "$(rpc "$i")" /slot '"\(.processed // -1) \(.confirmed // -1) \(.finalized // -1) \(.root // -1)"' |
      sed "s/^/$i /" >>"$tmp/samples"
  done
}
finalized_of() { get_json "$(rpc "$1")" /slot '.finalized // -1'; }
: >"$tmp/samples"
declare -a f0
for i in 0 1 2 3; do f0[$i]=$(finalized_of $i || echo -1); done
end=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$end" ]; do sample 0 1 2 3; sleep 1; done
for i in 0 1 2 3; do
  f1=$(finalized_of $i || echo -1)
  check "node $i finalized ${f0[$i]} -> $f1 in 60 s (>= 16 more)" [ "$f1" -ge $(( ${f0[$i]} + 16 )) ]
done
# No node's confirmed or finalized slot goes back.
back=$(awk '{ if (($1 in c) && ($3 < c[$1] || $4 < f[$1])) n++; c[$1] = $3; f[$1] = $4 } END { print n + 0 }' "$tmp/samples")
check "no node's confirmed or finalized slot went back ($back times in $(wc -l <"$tmp/samples") samples)" [ "$back" -eq 0 ]
# Finalized lag behind the newest stored block, median over the samples with a finalized slot.
lag=$(awk '$4 >= 0 { print $2 - $4 }' "$tmp/samples" | sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : -1) }')
check "finalized is a tower's depth behind the newest block (median $lag slots, 28..44)" \
  all "[ $lag -ge 28 ]" "[ $lag -le 44 ]"
# The bank's root (and the ledger's) is the tower's: as far behind as finalized, not the
# newest block (which it was while every replayed block was rooted at once).
rlag=$(awk '$5 >= 0 { print $2 - $5 }' "$tmp/samples" | sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : -1) }')
check "the bank's root is the tower's root (median $rlag slots behind the newest block, 28..44)" \
  all "[ $rlag -ge 28 ]" "[ $rlag -le 44 ]"
for i in 0 1 2 3; do
  a=$(rpc $i)
  votes=$(metric "$a" consensus votes) seen=$(metric "$a" consensus votes_seen)
  le1=$(metric "$a" consensus confirm_lag_le1) le2=$(metric "$a" consensus confirm_lag_le2)
  le3=$(metric "$a" consensus confirm_lag_le3) le4=$(metric "$a" consensus confirm_lag_le4)
  le8=$(metric "$a" consensus confirm_lag_le8) gt8=$(metric "$a" consensus confirm_lag_gt8)
  total=$((le1 + le2 + le3 + le4 + le8 + gt8))
  echo "    node $i: votes $votes, others' votes seen $seen, confirmed lag <=1: $le1, 2: $le2, 3: $le3, 4: $le4, 5-8: $le8, >8: $gt8"
  check "node $i votes and sees the others' votes ($votes, $seen)" all "[ $votes -ge 100 ]" "[ $seen -ge 300 ]"
  check "node $i confirms at most 3 slots behind the clock at the median ($((le1 + le2 + le3)) of $total)" \
    all "[ $total -ge 100 ]" "[ $(( 2 * (le1 + le2 + le3) )) -ge $total ]"
done

# ---- one of four down
last_vote=$(metric "$(rpc 3)" consensus last_vote_slot)
cluster kill-node 3 --signal KILL >/dev/null
declare -a k0
for i in 0 1 2; do k0[$i]=$(finalized_of $i || echo -1); done
sleep 25
for i in 0 1 2; do
  k1=$(finalized_of $i || echo -1)
  check "with node 3 down node $i finalized ${k0[$i]} -> $k1 in 25 s (>= 16 more)" [ "$k1" -ge $(( ${k0[$i]} + 16 )) ]
done
check "node 3 left its tower on disk" [ -s "$tmp/c/ledger-3/tower.bin" ]
cluster start-node 3 -- --set layout.pin=false >/dev/null
# Polled while node 3 starts (its metrics are not up at first: not a missing counter).
last_vote_now() {
  "$bin" rpc --url "$(rpc 3)" GET /metrics 2>/dev/null |
    awk '$1 ~ /^riptide_tile_last_vote_slot[{]/ && $1 ~ /tile="consensus"/ { print $2 }'
}
votes_again() { local v; v=$(last_vote_now) && [ -n "$v" ] && [ "$v" -gt "$last_vote" ]; }
check "node 3 votes again within 30 s of its restart (last vote before: $last_vote)" wait_until 30 votes_again
echo "    node 3 voted slot $(metric "$(rpc 3)" consensus last_vote_slot) after its restart"
agrees() { local a b; a=$(finalized_of 3) && b=$(finalized_of 0) && [ "$a" -ge 0 ] && [ $((b - a)) -le 4 ]; }
check "node 3 finalizes with the others (within 4 slots of node 0)" wait_until 30 agrees
for i in 0 1 2 3; do sample "$i"; done
final=$(for i in 0 1 2 3; do finalized_of $i; done | sort -n | head -1)
cluster down >/dev/null

check "node 0's ledger, votes and all, verifies on its own (ledger verify)" \
  expect_exit 0 "$bin" ledger verify "$tmp/c/ledger-0"
for i in 0 1 2 3; do "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"; done
chain() { jq -c --argjson c "$final" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in 0 1 2 3; do [ "$(chain "$i")" = "$(chain 0)" ] && [ "$(chain "$i")" != "[]" ] && same=$((same + 1)); done
check "every ledger holds the same blocks up to the lowest finalized slot $final ($same of 4)" [ "$same" -eq 4 ]
finish
