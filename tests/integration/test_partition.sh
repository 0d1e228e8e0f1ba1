#!/usr/bin/env bash
# A 2 / 2 partition of 4 equal-stake validators (tools/cluster.sh partition: nftables drops
# every datagram between the halves).
#   - before: every node finalizes
#   - split for 25 s: neither side confirms nor finalizes anything new (2 of 4 is not > 2/3)
#   - healed: within 150 s every node finalizes past the newest block any node had when the
#     partition healed (so one side's split-time fork is final everywhere, the other's
#     abandoned), and all agree (within 8 slots)
#   - a transfer sent into each side while split: afterwards every node reports each as
#     finalized and received, or as neither (the losing side's: its status forgotten)
#   - no node's confirmed or finalized slot ever goes back (sampled every second)
#   - every ledger holds the same blocks up to the lowest finalized slot
# Facts from GET /slot and `riptide ledger digest --json`.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=860
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
skip_unless_partition_tools

cluster up 4 --staked 0 -- --set layout.pin=false >"$tmp/up.out" 2>&1
finalized_of() { slot_field "$1" finalized; }
confirmed_of() { slot_field "$1" confirmed; }
processed_of() { slot_field "$1" processed; }
root_of() { slot_field "$1" root; }
: >"$tmp/samples"
sample() { sample_slots "$tmp/samples" "$1" 0 1 2 3; }
all_finalized_at_least() { local i f; for i in 0 1 2 3; do f=$(finalized_of $i) && [ "$f" -ge "$1" ] || return 1; done; }
check "a cluster of 4 equal-stake validators finalizes" wait_until 60 all_finalized_at_least 8
for _ in $(seq 5); do sample before; sleep 1; done

split_start=$(for i in 0 1 2 3; do processed_of $i; done | sort -n | tail -1)
cluster partition 0,1 / 2,3 >"$tmp/partition.out" 2>&1
check "the cluster splits 0,1 / 2,3" [ $? -eq 0 ]
sleep 3  # what was in flight lands
# One transfer into each side (through node 0 and node 2), to a new receiver each: only the
# winning side's fork can hold its transfer (which may also have been lost: while split, a
# node forwards to the coming leaders, who may be across the cut).
declare -a to_key sig amount
for side in 0 1; do
  to_key[$side]=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  amount[$side]=$((700 + side))
  sig[$side]=$("$bin" transfer --rpc "$(rpc $((2 * side)))" --from "$tmp/c/faucet.key" --to "${to_key[$side]}" \
    --lamports "${amount[$side]}" 2>/dev/null | awk '/^signature/ { print $2 }')
done
check "a transfer went into each side (${sig[0]:0:12}… via node 0, ${sig[1]:0:12}… via node 2)" \
  all '[ -n "${sig[0]}" ]' '[ -n "${sig[1]}" ]'
declare -a c0 f0
for i in 0 1 2 3; do c0[$i]=$(confirmed_of $i); f0[$i]=$(finalized_of $i); done
for _ in $(seq 22); do sample split; sleep 1; done
for i in 0 1 2 3; do
  c1=$(confirmed_of $i) f1=$(finalized_of $i)
  check "split: node $i confirms and finalizes nothing new (confirmed ${c0[$i]} -> $c1, finalized ${f0[$i]} -> $f1)" \
    all "[ $c1 -eq ${c0[$i]} ]" "[ $f1 -eq ${f0[$i]} ]"
done
target=$(for i in 0 1 2 3; do processed_of $i; done | sort -n | tail -1)

cluster heal >/dev/null
healed_at=$(date +%s)
converged() {
  local i f lo=-1 hi=-1
  for i in 0 1 2 3; do
    f=$(finalized_of $i) || return 1
    [ "$f" -ge "$target" ] || return 1
    [ "$lo" -lt 0 ] || [ "$f" -lt "$lo" ] && lo=$f
    [ "$f" -gt "$hi" ] && hi=$f
  done
  [ $((hi - lo)) -le 8 ]
}
sample_until_converged() {
  local end=$(( $(date +%s) + 150 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sample healed
    converged && return 0
    sleep 1
  done
  return 1
}
check "healed: every node finalizes past slot $target (the newest block at the heal) and they agree" \
  sample_until_converged
echo "    $(( $(date +%s) - healed_at )) s after the heal"
for i in 0 1 2 3; do echo "    node $i: $(get_json "$(rpc "$i")" /slot '"processed \(.processed) confirmed \(.confirmed) finalized \(.finalized) root \(.root)"')"; done
back=$(went_back "$tmp/samples")
check "no node's confirmed or finalized slot went back ($back times in $(wc -l <"$tmp/samples") samples)" [ "$back" -eq 0 ]
# Each transfer, on every node: finalized with its amount in the receiver's balance, or not
# finalized (an abandoned fork's statuses are forgotten) and nothing received.
consistent=0 finalized_count=0
for side in 0 1; do
  for i in 0 1 2 3; do
    # An unknown transaction is a 404 whose body has no commitment.
    st=$(get_json "$(rpc "$i")" "/tx/${sig[$side]}" '.commitment // "unknown"' | head -1)
    [ -n "$st" ] || st=unknown
    bal=$(get_json "$(rpc "$i")" "/balance/${to_key[$side]}" .lamports || echo -1)
    if [ "$st" = finalized ]; then
      finalized_count=$((finalized_count + 1))
      [ "$bal" = "${amount[$side]}" ] && consistent=$((consistent + 1))
    else
      [ "$bal" = 0 ] && consistent=$((consistent + 1))
    fi
    echo "    transfer into side $side on node $i: $st, receiver has $bal"
  done
done
check "every node tells the truth of both transfers: finalized and received, or neither ($consistent of 8 consistent, $finalized_count finalized)" \
  [ "$consistent" -eq 8 ]
final=$(for i in 0 1 2 3; do finalized_of $i; root_of $i; done | sort -n | head -1)
cluster down >/dev/null

for i in 0 1 2 3; do "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"; done
chain() { jq -c --argjson c "$final" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in 0 1 2 3; do [ "$(chain "$i")" = "$(chain 0)" ] && [ "$(chain "$i")" != "[]" ] && same=$((same + 1)); done
check "every ledger holds the same blocks up to the lowest finalized or root slot $final ($same of 4)" [ "$same" -eq 4 ]
# The split's slots in the finalized chain (from a few slots in, when blocks in flight had
# landed): one side's blocks only, the other side's fork was abandoned by all.
ids=($(validator_ids "$tmp/c/genesis.toml"))
jq -r --argjson a $((split_start + 4)) --argjson b "$target" \
  '.slots[] | select(.slot >= $a and .slot <= $b and .rooted) | .leader' "$tmp/digest-0.json" | sort -u >"$tmp/winners"
side() { local id; while read -r id; do [ "$id" = "${ids[$1]}" ] || [ "$id" = "${ids[$2]}" ] || return 1; done <"$tmp/winners"; }
blocks=$(jq --argjson a $((split_start + 4)) --argjson b "$target" '[.slots[] | select(.slot >= $a and .slot <= $b)] | length' \
  "$tmp/digest-0.json")
won=none
side 0 1 && won="0,1"
side 2 3 && won="2,3"
echo "    the finalized chain holds $blocks blocks of slots $((split_start + 4))..$target, side $won's"
check "the finalized chain holds one side's split-time blocks only ($blocks blocks, side $won)" \
  all "[ $blocks -gt 0 ]" "[ $won != none ]"
finish
