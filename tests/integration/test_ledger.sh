#!/usr/bin/env bash
# A node writes its PoH entries to a ledger; `riptide ledger verify` replays the chain;
# corruption is found and located, and `ledger repair` cuts it off so the node can go on;
# kill -9 loses nothing that was reported durable; the read-only tools never write.
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
node_args=(--set ledger.enabled=true --set ledger.segment_mib=4 --set load.enabled=false
           --set verify.tiles=0 --set bank.tiles=0 --set gossip.enabled=false --set net.enabled=false --set rpc.enabled=false
           --set poh.hashes_per_tick=2000 --set poh.tick_us=1000 --set poh.ticks_per_slot=8 --set layout.pin=false)
verify_json() { "$bin" ledger verify --json "$1" 2>/dev/null >"$tmp/verify.json"; jq -r "$2" "$tmp/verify.json"; }

"$bin" run --seconds 3 --set ledger.dir="\"$tmp/a\"" --set metrics.path="\"$tmp/a.metrics\"" "${node_args[@]}" >"$tmp/run.out" 2>&1
check "node with a ledger runs and exits 0" [ $? -eq 0 ]
check "ledger verifies" [ "$(verify_json "$tmp/a" .ok)" = true ]
slots=$(verify_json "$tmp/a" .slots)
check "it holds many slots (${slots:-0})" [ "${slots:-0}" -ge 100 ]
"$bin" ledger verify "$tmp/a" >/dev/null 2>"$tmp/v.err"
check "progress is shown" grep -q '100%' "$tmp/v.err"
check "show prints a slot's ticks" bash -c "'$bin' ledger show '$tmp/a' --slot 5 | grep -c '^  tick' | grep -qx 8"
check "show of a missing slot fails" bash -c "! '$bin' ledger show '$tmp/a' --slot 999999 >/dev/null"
check "show lists the slot end's bank hash" bash -c "'$bin' ledger show '$tmp/a' --slot 5 | grep -q 'slot end .* bank_hash '"

# A used ledger dir is resumed: the chain goes on and still verifies.
"$bin" run --seconds 1 --set ledger.dir="\"$tmp/a\"" --set metrics.path="\"$tmp/x.metrics\"" "${node_args[@]}" >"$tmp/reuse.out" 2>&1
check "a node on a used ledger dir exits 0" [ $? -eq 0 ]
slots2=$(verify_json "$tmp/a" .slots)
check "it resumed the chain, which verifies (${slots:-0} -> ${slots2:-0} slots)" \
  all '[ "$(verify_json "$tmp/a" .ok)" = true ]' '[ "${slots2:-0}" -gt "${slots:-0}" ]'

# Flip one byte in the middle of the first segment: verify fails and says where.
seg=$(ls "$tmp/a"/segment-* | head -1)
printf '\xff' | dd of="$seg" bs=1 seek=20000 conv=notrunc status=none
check "corruption is found" [ "$(verify_json "$tmp/a" .ok)" = false ]
check "and located (file and offset)" bash -c "jq -r .error '$tmp/verify.json' | grep -q 'segment-00000000.log.*offset'"
check "a node refuses the damaged ledger (exit != 0)" bash -c "! '$bin' run --seconds 1 --set ledger.dir='\"$tmp/a\"' \
  --set metrics.path='\"$tmp/y.metrics\"' ${node_args[*]} >/dev/null 2>&1"
# Repair cuts the ledger back to its last valid record; the node goes on from there.
"$bin" ledger repair --json "$tmp/a" >"$tmp/repair.json" 2>"$tmp/repair.err"
check "ledger repair exits 0" [ $? -eq 0 ]
check "it cut the ledger" [ "$(jq -r .cut "$tmp/repair.json")" = true ]
kept=$(jq -r .last_slot_kept "$tmp/repair.json"); dropped=$(jq -r .slots_dropped "$tmp/repair.json")
check "it says which slots went (kept through ${kept:-?}, dropped ${dropped:-?})" \
  all '[ "${kept:-0}" -ge 1 ]' '[ "${dropped:-0}" -ge 1 ]' '[ $((kept + dropped)) -le "$slots2" ]'
check "the repaired ledger verifies" [ "$(verify_json "$tmp/a" .ok)" = true ]
"$bin" run --seconds 1 --set ledger.dir="\"$tmp/a\"" --set metrics.path="\"$tmp/z.metrics\"" "${node_args[@]}" >/dev/null 2>&1
resumed=$?
check "a node resumes the repaired ledger" all '[ "$resumed" -eq 0 ]' '[ "$(verify_json "$tmp/a" .ok)" = true ]'
"$bin" ledger repair --json "$tmp/a" >"$tmp/repair2.json" 2>/dev/null
check "a second repair finds nothing to cut" [ "$(jq -r .cut "$tmp/repair2.json")" = false ]

# kill -9 while writing: every slot reported durable (GET /slot) before the kill is there.
rpc_port=11977
"$bin" run --seconds 30 --set ledger.dir="\"$tmp/b\"" --set metrics.path="\"$tmp/b.metrics\"" "${node_args[@]}" \
  --set rpc.enabled=true --set rpc.port=$rpc_port >"$tmp/b.out" 2>&1 &
pid=$!
durable_past() { local d; d=$(get_json "127.0.0.1:$rpc_port" /slot .durable_slot) && [ "$d" -ge "$1" ]; }
check "the node reports durable slots" wait_until 20 durable_past 20
durable=$(get_json "127.0.0.1:$rpc_port" /slot .durable_slot)
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
check "after kill -9 the ledger verifies" [ "$(verify_json "$tmp/b" .ok)" = true ]
"$bin" ledger digest --json "$tmp/b" >"$tmp/b-digest.json" 2>/dev/null
slot_fact() { jq -r --argjson s "${durable:--1}" ".slots[] | select(.slot == \$s) | .$1" "$tmp/b-digest.json"; }
check "slot ${durable:-?} (reported durable before the kill) is there, complete" [ "$(slot_fact complete)" = true ]
check "  and rooted: the root is durable with its slot (root $(jq -r .root "$tmp/b-digest.json"))" \
  [ "$(slot_fact rooted)" = true ]

# The read-only tools never create, truncate or extend anything.
mkdir -p "$tmp/empty" "$tmp/src"
echo 'int main() {}' >"$tmp/src/main.cpp"
for d in empty src; do
  before=$(ls -la --time-style=+%s.%N "$tmp/$d" | md5sum)
  check "verify of a dir without a ledger fails ($d)" bash -c "! '$bin' ledger verify '$tmp/$d' >/dev/null 2>&1"
  check "show of it fails ($d)" bash -c "! '$bin' ledger show '$tmp/$d' --slot 0 >/dev/null 2>&1"
  check "digest of it fails ($d)" bash -c "! '$bin' ledger digest '$tmp/$d' >/dev/null 2>&1"
  check "and nothing in it changed ($d)" [ "$(ls -la --time-style=+%s.%N "$tmp/$d" | md5sum)" = "$before" ]
done
before=$(ls -la --time-style=+%s.%N "$tmp/b" | md5sum; md5sum "$tmp"/b/*)
"$bin" ledger verify "$tmp/b" >/dev/null 2>&1; "$bin" ledger digest "$tmp/b" >/dev/null 2>&1
"$bin" ledger show "$tmp/b" --slot 1 >/dev/null 2>&1
check "verify, digest and show leave a real ledger byte for byte as it was" \
  [ "$(ls -la --time-style=+%s.%N "$tmp/b" | md5sum; md5sum "$tmp"/b/*)" = "$before" ]
finish
