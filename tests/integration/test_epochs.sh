#!/usr/bin/env bash
# Epochs past the first: 4 equal-stake validators with 32-slot epochs (12.8 s each) run for
# about 40 s under 200 transfers/s. Every epoch's schedule is drawn anew, so PoH (who leads),
# the forward tile (whom to forward to) and the TVU (whose signature a shred needs) must each
# move on to the next epoch's schedule; a node stuck on the first would stop at slot 32.
#   - the chain crosses >= 3 epochs, >= 95 % of the scheduled slots have a block, and every
#     block names its slot's leader in its own epoch's schedule
#   - >= 99 % of the transfers confirmed, balances conserved
#   - every ledger holds the same blocks
# Facts from `riptide ledger digest --json`, `riptide leader-schedule --json`, bench-tps --json.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=940
spe=32
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

cluster up 4 --staked 0 --fanout 2 --slots-per-epoch $spe -- --set layout.pin=false >"$tmp/up.out" 2>&1
check "a cluster of 4 validators with $spe-slot epochs starts" wait_until 30 slot_at_least 0 2
"$bin" bench-tps --rpc "$(rpc 1)" --all-nodes --faucet-key "$tmp/c/faucet.key" --rate 200 --seconds 30 --json \
  >"$tmp/bench.json" 2>"$tmp/bench.err"
sent=$(jq -r '.sent // 0' "$tmp/bench.json") ok=$(jq -r '.confirmed_ok // 0' "$tmp/bench.json")
check "transfers across epoch boundaries: >= 99 % confirmed ($ok of $sent)" \
  all '[ "$sent" -gt 0 ]' '[ $((ok * 100)) -ge $((sent * 99)) ]'
check "balances conserved (minus fees)" [ "$(jq -r '.balances.conserved' "$tmp/bench.json")" = true ]
wait_until 20 slot_at_least 0 $((3 * spe + 8))
end=$(slot_of 0)
cluster down >/dev/null

for i in 0 1 2 3; do "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"; done
tip=$(for i in 0 1 2 3; do jq '[.slots[].slot] | max' "$tmp/digest-$i.json"; done | sort -n | head -1)
common=$((tip - 3))
for e in $(seq 0 $((tip / spe))); do
  "$bin" leader-schedule --genesis "$tmp/c/genesis.toml" --epoch "$e" --count $spe --json
done | jq -s '[.[].slots[] | {key: (.slot | tostring), value: .leader}] | from_entries' >"$tmp/schedule.json"
epochs=$(jq --argjson n $spe --argjson c "$common" '[.slots[] | select(.slot <= $c) | .slot / $n | floor] | unique | length' "$tmp/digest-0.json")
echo "    node 0 at slot $end; lowest tip $tip; compared up to $common"
check "the chain crosses $epochs epochs of $spe slots (>= 3)" [ "$epochs" -ge 3 ]
blocks=$(jq --argjson c "$common" '[.slots[] | select(.slot <= $c and .complete)] | length' "$tmp/digest-0.json")
check "$blocks blocks for $((common + 1)) scheduled slots (>= 95 %)" [ $((blocks * 100)) -ge $(((common + 1) * 95)) ]
wrong=$(jq --slurpfile s "$tmp/schedule.json" --argjson c "$common" \
  '[.slots[] | select(.slot <= $c and .leader != $s[0][(.slot | tostring)])] | length' "$tmp/digest-0.json")
check "every block names its slot's leader in its epoch's schedule (wrong: $wrong)" [ "$wrong" -eq 0 ]
later=$(jq --argjson n $spe --argjson c "$common" '[.slots[] | select(.slot >= $n and .slot <= $c) | .leader] | unique | length' "$tmp/digest-0.json")
check "past the first epoch, blocks of $later distinct leaders (4)" [ "$later" -eq 4 ]
chain() { jq -c --argjson c "$common" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in 0 1 2 3; do [ "$(chain "$i")" = "$(chain 0)" ] && same=$((same + 1)); done
check "every ledger holds the same blocks up to slot $common ($same of 4)" [ "$same" -eq 4 ]
finish
