#!/usr/bin/env bash
# A 2 / 2 partition of 4 equal-stake validators (tools/cluster.sh partition: nftables drops
# every datagram between the halves).
#   - before: every node finalizes
#   - split for 25 s: neither side confirms nor finalizes anything new (2 of 4 is not > 2/3)
#   - healed: within 150 s every node finalizes past the newest block any node had when the
#     partition healed (so one side's split-time fork is final everywhere, the other's
#     abandoned), and all agree (within 8 slots)
#   - three transfers sent into each side while split: afterwards every node reports each as
#     finalized and received, or as neither (the losing side's: its status forgotten); no
#     node ever said "confirmed" or "finalized" of one while split, nor (sampled every second
#     after the heal) of one that ends up on the abandoned fork
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
# Three transfers into each side, a second apart, each to a new receiver and handed to both
# nodes of its side: only the winning side's fork can hold its transfers (some may be lost:
# while split, a node forwards to the coming leaders, who may be across the cut).
declare -a to_key sig amount side_of
for k in 0 1 2 3 4 5; do
  side_of[$k]=$((k % 2))
  to_key[$k]=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  amount[$k]=$((700 + k))
  a=$((2 * side_of[k]))
  hex=$("$bin" transfer --rpc "$(rpc $a)" --from "$tmp/c/faucet.key" --to "${to_key[$k]}" --lamports "${amount[$k]}" \
    --print 2>/dev/null)
  sig[$k]=$("$bin" rpc --url "$(rpc $a)" POST /tx "$hex" 2>/dev/null | jq -r '.signature // empty')
  "$bin" rpc --url "$(rpc $((a + 1)))" POST /tx "$hex" >/dev/null 2>&1
  [ $((k % 2)) -eq 1 ] && sleep 1
done
sent=$(for k in 0 1 2 3 4 5; do [ -n "${sig[$k]}" ] && echo "$k"; done | wc -l)
check "three transfers went into each side ($sent of 6 accepted)" [ "$sent" -eq 6 ]
# What every node says of each transfer: a line "PHASE NODE K COMMITMENT" per node and
# transfer (unknown: no status there), from one POST /tx/status per node.
: >"$tmp/tx_samples"
sigs_json=$(printf '%s\n' "${sig[@]}" | jq -R . | jq -sc '{signatures: .}')
sample_tx() {
  local i
  for i in 0 1 2 3; do
    "$bin" rpc --url "$(rpc "$i")" POST /tx/status "$sigs_json" 2>/dev/null |
      jq -r --arg p "$1" --arg i "$i" '.statuses | to_entries[] | "\($p) \($i) \(.key) \(.value.commitment // "unknown")"' \
        >>"$tmp/tx_samples"
  done
}
said() {  # said PHASE K : how often a node called transfer K confirmed or finalized
  awk -v p="$1" -v k="$2" '($1 == p || p == "any") && $3 == k && ($4 == "confirmed" || $4 == "finalized") {n++} END {print n + 0}' \
    "$tmp/tx_samples"
}
declare -a c0 f0
for i in 0 1 2 3; do c0[$i]=$(confirmed_of $i); f0[$i]=$(finalized_of $i); done
# 22 s by the wall clock, however long a round of samples takes (a sanitizer build's `riptide
# rpc` starts slowly, and a split that runs on for minutes is another test).
split_end=$(( $(date +%s) + 22 ))
while [ "$(date +%s)" -lt "$split_end" ]; do sample split; sample_tx split; sleep 1; done
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
    sample_tx healed
    converged && return 0
    sleep 1
  done
  return 1
}
check "healed: every node finalizes past slot $target (the newest block at the heal) and they agree" \
  sample_until_converged
echo "    $(( $(date +%s) - healed_at )) s after the heal"
# A few samples more: a node whose tower is still locked out holds the abandoned fork longer.
extra_end=$(( $(date +%s) + 5 ))
while [ "$(date +%s)" -lt "$extra_end" ]; do sample healed; sample_tx healed; sleep 1; done
for i in 0 1 2 3; do echo "    node $i: $(get_json "$(rpc "$i")" /slot '"processed \(.processed) confirmed \(.confirmed) finalized \(.finalized) root \(.root)"')"; done
back=$(went_back "$tmp/samples")
check "no node's confirmed or finalized slot went back ($back times in $(wc -l <"$tmp/samples") samples)" [ "$back" -eq 0 ]
# Each transfer, on every node: finalized with its amount in the receiver's balance, or not
# finalized (an abandoned fork's statuses are forgotten) and nothing received.
consistent=0 finalized_count=0
declare -a end_state
for k in 0 1 2 3 4 5; do
  for i in 0 1 2 3; do
    # An unknown transaction is a 404 whose body has no commitment.
    st=$(get_json "$(rpc "$i")" "/tx/${sig[$k]}" '.commitment // "unknown"' | head -1)
    [ -n "$st" ] || st=unknown
    bal=$(get_json "$(rpc "$i")" "/balance/${to_key[$k]}" .lamports || echo -1)
    if [ "$st" = finalized ]; then
      finalized_count=$((finalized_count + 1))
      [ "$bal" = "${amount[$k]}" ] && consistent=$((consistent + 1))
    else
      [ "$bal" = 0 ] && consistent=$((consistent + 1))
    fi
    end_state[$k]+="$st "
  done
  echo "    transfer $k into side ${side_of[$k]}: ${end_state[$k]}"
done
check "every node tells the truth of every transfer: finalized and received, or neither ($consistent of 24 consistent, $finalized_count finalized)" \
  [ "$consistent" -eq 24 ]
split_said=0
for k in 0 1 2 3 4 5; do split_said=$((split_said + $(said split $k))); done
check "split: no node called a transfer confirmed or finalized ($split_said times)" [ "$split_said" -eq 0 ]
# A transfer no node holds as finalized at the end was on the abandoned fork (or never
# landed): no node may have called it confirmed at any time, though its slot number was soon
# below the confirmed slot on every node.
lost=0 lost_said=0 lost_seen=0
for k in 0 1 2 3 4 5; do
  grep -q finalized <<<"${end_state[$k]}" && continue
  lost=$((lost + 1))
  lost_said=$((lost_said + $(said any $k) + $(grep -o confirmed <<<"${end_state[$k]}" | wc -l)))
  lost_seen=$((lost_seen + $(grep -c "^[a-z]* [0-3] $k processed\$" "$tmp/tx_samples")))
done
check "the $lost transfers not in the final chain were never called confirmed ($lost_said times; seen processed in $lost_seen samples)" \
  [ "$lost_said" -eq 0 ]
final=$(for i in 0 1 2 3; do finalized_of $i; root_of $i; done | sort -n | head -1)
# The node whose ledger holds the longest rooted chain (a node whose tower is locked out on
# the abandoned fork roots later than the others: its own root may still be below the split).
longest=$(for i in 0 1 2 3; do echo "$(root_of $i) $i"; done | sort -n | tail -1 | cut -d' ' -f2)
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
  '.slots[] | select(.slot >= $a and .slot <= $b and .rooted) | .leader' "$tmp/digest-$longest.json" | sort -u >"$tmp/winners"
side() { local id; while read -r id; do [ "$id" = "${ids[$1]}" ] || [ "$id" = "${ids[$2]}" ] || return 1; done <"$tmp/winners"; }
blocks=$(jq --argjson a $((split_start + 4)) --argjson b "$target" '[.slots[] | select(.slot >= $a and .slot <= $b)] | length' \
  "$tmp/digest-$longest.json")
won=none
side 0 1 && won="0,1"
side 2 3 && won="2,3"
echo "    the finalized chain (node $longest's ledger) holds $blocks blocks of slots $((split_start + 4))..$target, side $won's"
check "the finalized chain holds one side's split-time blocks only ($blocks blocks, side $won)" \
  all "[ $blocks -gt 0 ]" "[ $won != none ]"
finish
