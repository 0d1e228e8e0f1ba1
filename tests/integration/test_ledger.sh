#!/usr/bin/env bash
# A node writes its PoH entries to a ledger; `riptide ledger verify` replays the chain;
# corruption is found and located; kill -9 loses nothing that was reported durable.
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi; }
node_args=(--set ledger.enabled=true --set ledger.segment_mib=4 --set load.enabled=false
           --set verify.tiles=0 --set bank.tiles=0 --set gossip.enabled=false --set net.enabled=false --set rpc.enabled=false
           --set poh.hashes_per_tick=2000 --set poh.tick_us=1000 --set poh.ticks_per_slot=8 --set layout.pin=false)

"$bin" run --seconds 3 --set ledger.dir="\"$tmp/a\"" --set metrics.path="\"$tmp/a.metrics\"" "${node_args[@]}" >"$tmp/run.out" 2>&1
check "node with a ledger runs" grep -q 'drained cleanly' "$tmp/run.out"
"$bin" ledger verify "$tmp/a" >"$tmp/v.out" 2>"$tmp/v.err"
check "ledger verifies" grep -q '^ok: ' "$tmp/v.out"
slots=$(sed -n 's/^ok: [0-9]* records, \([0-9]*\) slots.*/\1/p' "$tmp/v.out")
check "it holds many slots (${slots:-0})" [ "${slots:-0}" -ge 100 ]
check "progress is shown" grep -q '100%' "$tmp/v.err"
check "show prints a slot's ticks" bash -c "'$bin' ledger show '$tmp/a' --slot 5 | grep -c '^  tick' | grep -qx 8"
check "show of a missing slot fails" bash -c "! '$bin' ledger show '$tmp/a' --slot 999999 >/dev/null"
check "show lists the slot end's bank hash" bash -c "'$bin' ledger show '$tmp/a' --slot 5 | grep -q 'slot end .* bank_hash '"
# A used ledger dir: a node either resumes the chain (and the ledger still verifies, with
# more slots) or refuses it with a clear message.
"$bin" run --seconds 1 --set ledger.dir="\"$tmp/a\"" --set metrics.path="\"$tmp/x.metrics\"" "${node_args[@]}" >"$tmp/reuse.out" 2>&1
if grep -q 'drained cleanly' "$tmp/reuse.out"; then
  "$bin" ledger verify "$tmp/a" >"$tmp/v2.out" 2>/dev/null
  slots2=$(sed -n 's/^ok: [0-9]* records, \([0-9]*\) slots.*/\1/p' "$tmp/v2.out")
  check "a used ledger dir is resumed and verifies (${slots:-0} -> ${slots2:-0} slots)" [ "${slots2:-0}" -gt "${slots:-0}" ]
else
  check "a used ledger dir is refused" grep -q 'already holds' "$tmp/reuse.out"
fi

# Flip one byte in the middle of the first segment: verify must fail and say where.
seg=$(ls "$tmp/a"/segment-* | head -1)
printf '\xff' | dd of="$seg" bs=1 seek=20000 conv=notrunc status=none
check "corruption is found" bash -c "! '$bin' ledger verify '$tmp/a' >'$tmp/bad.out' 2>&1"
check "and located" grep -qE 'offset|checksum|slot' "$tmp/bad.out"

# kill -9 while writing: every slot reported durable before the kill is there and verifies.
"$bin" run --seconds 30 --set ledger.dir="\"$tmp/b\"" --set metrics.path="\"$tmp/b.metrics\"" "${node_args[@]}" >"$tmp/b.out" 2>&1 &
pid=$!
sleep 2.5
durable=$(grep -o 'durable slot [0-9]*' "$tmp/b.out" | tail -1 | awk '{print $3}')
kill -9 "$pid"
wait "$pid" 2>/dev/null
"$bin" ledger verify "$tmp/b" >"$tmp/vb.out" 2>/dev/null
check "after kill -9 the ledger verifies" grep -q '^ok: ' "$tmp/vb.out"
check "slot ${durable:-?} (reported durable before the kill) is there" \
  bash -c "'$bin' ledger show '$tmp/b' --slot ${durable:-0} | grep -q 'slot end'"
echo "$fails check(s) failed"
[ "$fails" -eq 0 ]
