#!/usr/bin/env bash
# A validator restarted while the cluster is in a later run of its own slots. 4 equal-stake
# validators, 64-slot epochs. The victim V leads a long run R1 in epoch 0; it is killed -9 at
# R1's second slot and started again two slots into its next run R2, many slots later. The
# others skip R1 and R2 (V is down, then its slots are nobody else's), so when V comes back
# nobody is sending; its clock starts at its ledger's tip, in R1, whose next slots are its
# own. Without listening first it would make blocks for R1's slots on that stale tip and fork
# itself off the cluster for good (it did: its chain stopped at R1's end).
#   - V makes no block for a slot in R1 after the restart, and listened (poh listen_ticks > 0)
#     if it resumed inside R1 (a voting validator resumes at its ledger's root, a tower's depth
#     behind the kill, so usually before R1: then its clock follows the cluster's shreds)
#   - V catches up (its slot near node 0's past R2) and leads again later
#   - every ledger holds the same blocks up to the lowest tip
# Facts from `riptide leader-schedule --json`, `riptide ledger digest --json`, /slot, /metrics.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=960
spe=64
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
  cluster down >/dev/null 2>&1
  if [ -n "${RIPTIDE_KEEP_TMP:-}" ]; then echo "    kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

cluster up 4 --staked 0 --fanout 2 --slots-per-epoch $spe -- --set layout.pin=false >"$tmp/up.out" 2>&1
check "a cluster of 4 validators with $spe-slot epochs starts" wait_until 30 slot_at_least 0 2
for e in 0 1 2 3; do
  "$bin" leader-schedule --genesis "$tmp/c/genesis.toml" --epoch "$e" --count $spe --json
done | jq -s '[.[].slots[]]' >"$tmp/schedule.json"
# Runs of one leader: [{first, len, leader}], in slot order.
jq 'reduce .[] as $s ([];
      if length > 0 and .[-1].leader == $s.leader and .[-1].first + .[-1].len == $s.slot
      then .[-1].len += 1 else . + [{first: $s.slot, len: 1, leader: $s.leader}] end)' \
  "$tmp/schedule.json" >"$tmp/runs.json"
r1=$(jq -c '[.[] | select(.first >= 24 and .len >= 8)][0] // empty' "$tmp/runs.json")
check "the schedule has a run of >= 8 slots past slot 24 ($r1)" [ -n "$r1" ]
r1_first=$(jq '.first' <<<"$r1") r1_len=$(jq '.len' <<<"$r1") victim_id=$(jq -r '.leader' <<<"$r1")
r1_end=$((r1_first + r1_len))
r2=$(jq -c --arg l "$victim_id" --argjson after $((r1_end + 8)) \
  '[.[] | select(.leader == $l and .first >= $after and .len >= 4)][0] // empty' "$tmp/runs.json")
check "its leader has a later run ($r2)" [ -n "$r2" ]
r2_first=$(jq '.first' <<<"$r2") r2_end=$(( $(jq '.first' <<<"$r2") + $(jq '.len' <<<"$r2") ))
# The genesis lists the validators in node order.
victim=$(awk '/^\[\[validators\]\]/ {v++} v > 0 && /^pubkey/ {gsub(/"/, "", $3); print $3}' "$tmp/c/genesis.toml" |
  grep -n -x "$victim_id" | cut -d: -f1)
victim=$((victim - 1))
other=$(( (victim + 1) % 4 ))
echo "    victim node $victim leads $r1_first..$((r1_end - 1)) and $r2_first..$((r2_end - 1))"

check "node $other reaches slot $((r1_first + 1))" wait_until 60 slot_at_least $other $((r1_first + 1))
cluster kill-node "$victim" --signal KILL >/dev/null
killed_at=$(slot_of $other)
# The PoH clock (GET /slot's slot is the one after the newest block, which stands still
# while nobody makes blocks).
clock_of() { metric "$(rpc "$1")" poh slot; }
clock_at_least() { local c; c=$(clock_of "$1") && [ "$c" -ge "$2" ]; }
check "node $other's clock reaches slot $((r2_first + 2)) with node $victim down" \
  wait_until $(( (r2_first - r1_first) / 2 + 30 )) clock_at_least $other $((r2_first + 2))
restart_at=$(clock_of $other)
# Where it resumes: its ledger's root (a voting validator's ledger holds the rooted chain).
resume_root=$("$bin" ledger digest "$tmp/c/ledger-$victim" --json | jq '.root // -1')
# The blocks it made before the kill (<ledger.dir>/produced holds a validator's own blocks): a
# slow node may have made R1's third or fourth block before the signal landed; those are not stale.
produced() { "$bin" ledger digest "$tmp/c/ledger-$victim/produced" --json |
  jq -c --argjson a $r1_first --argjson b $r1_end '[.slots[].slot | select(. >= $a and . < $b)]'; }
before_kill=$(produced)
check "restarted inside its run $r2_first..$((r2_end - 1)), where nobody else sends (node $other at $restart_at)" \
  [ "$restart_at" -le $((r2_end - 2)) ]
cluster start-node "$victim" -- --set layout.pin=false >/dev/null
target=$((r2_end + 8))
caught() { local v o; v=$(slot_of "$victim") && o=$(slot_of $other) && [ "$v" -ge "$target" ] && [ $((o - v)) -le 4 ]; }
check "node $victim caught up past slot $target (within 4 slots of node $other)" wait_until 60 caught
listened=$(metric "$(rpc "$victim")" poh listen_ticks || echo 0)
# A clock resumed inside its stale run must listen first; one resumed before the run (its
# ledger's root is a tower's depth behind the kill) follows the cluster's shreds from the start.
if [ "$resume_root" -ge $((r1_first - 1)) ]; then
  check "node $victim, resumed at slot $((resume_root + 1)) in its stale run, listened before leading ($listened ticks)" \
    [ "$listened" -gt 0 ]
else
  echo "    node $victim resumed at slot $((resume_root + 1)), before its stale run: it had nothing to listen for ($listened ticks)"
fi
next=$(jq --arg l "$victim_id" --argjson t "$target" '[.[] | select(.leader == $l and .first > $t)][0].first // empty' \
  "$tmp/runs.json")
led_again() { local p; p=$(metric "$(rpc "$victim")" poh slots_produced) && [ "$p" -ge 1 ]; }
if [ -n "$next" ] && [ "$next" -lt $((3 * spe)) ]; then
  check "node $victim leads again in its run from slot $next" wait_until $(( (next - target) / 2 + 20 )) led_again
fi
sleep 1
cluster down >/dev/null

for i in 0 1 2 3; do "$bin" ledger digest "$tmp/c/ledger-$i" --json >"$tmp/digest-$i.json"; done
stale=$(jq -n --argjson a "$before_kill" --argjson b "$(produced)" '$b - $a | length')
check "node $victim made no block for its stale run $r1_first..$((r1_end - 1)) after the restart ($stale; before the kill: $before_kill)" \
  [ "$stale" -eq 0 ]
tip=$(for i in 0 1 2 3; do jq '[.slots[].slot] | max' "$tmp/digest-$i.json"; done | sort -n | head -1)
common=$((tip - 3))
chain() { jq -c --argjson c "$common" '[.slots[] | select(.slot <= $c) | [.slot, .records_sha256, .bank_hash, .parent, .leader]]' "$tmp/digest-$1.json"; }
same=0
for i in 0 1 2 3; do [ "$(chain "$i")" = "$(chain 0)" ] && same=$((same + 1)); done
echo "    killed at $killed_at, restarted at $restart_at, lowest tip $tip"
check "every ledger holds the same blocks up to slot $common ($same of 4)" [ "$same" -eq 4 ]
finish
