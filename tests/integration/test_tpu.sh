#!/usr/bin/env bash
# The leader pipeline end to end on one node: UDP tpu port → verify → dedup → bank → PoH →
# ledger, driven by `riptide bench-tps` and by hand-made packets.
#   - transfers confirm and balances are conserved minus fees (bench-tps checks and exits 0)
#   - a replayed transaction executes once; a double spend of the same funds fails in the bank
#   - a transaction with a bad signature never reaches the bank
#   - malformed packets are dropped and counted by reason while slots keep coming
#   - kill -9 under load, then restart: the ledger verifies, every slot reported durable is
#     there, and the node resumes the chain with balances rebuilt by replay
#   - replay protection survives the restart: a transfer that executed before the kill is a
#     duplicate when sent again after it, and one signed before the kill and first sent after
#     the restart executes (its blockhash is still recent on the resumed chain)
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
both() { [ "$1" = "$2" ] && [ "$3" = "$4" ]; }
off=700
rpc=127.0.0.1:$((11000 + off))
tpu=127.0.0.1:$((13000 + off))

"$bin" genesis -o "$tmp/c" --nodes 1 --port-offset $off >/dev/null || { echo "FAIL genesis"; exit 1; }
node_args=(--config "$tmp/c/node-0.toml" --set layout.pin=false --set ledger.enabled=true
           --set ledger.dir="\"$tmp/ledger\"" --set ledger.segment_mib=16 --set verify.tiles=1
           --set 'layout.cores=[["net", "gossip", "poh", "ledger", "dedup", "bank", "verify"]]')
start_node() {
  "$bin" run "${node_args[@]}" "$@" >>"$tmp/node.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    "$bin" rpc --url "$rpc" GET /slot >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
slot_of() { get_json "$rpc" /slot .slot; }
tile_metric() { metric "$rpc" "$1" "$2"; }  # tile_metric TILE COUNTER, e.g. tile_metric verify parse_too_long
balance() { get_json "$rpc" "/balance/$1" .lamports; }

check "node starts with a tpu pipeline" start_node

# 1. load: transfers confirm, balances are conserved minus fees.
"$bin" bench-tps --rpc "$rpc" --tpu "$tpu" --faucet-key "$tmp/c/faucet.key" --accounts 32 \
  --rate 400 --seconds 4 --json >"$tmp/bench.json" 2>"$tmp/bench.out"
code=$?
ok_txs=$(jq -e '.confirmed_ok' "$tmp/bench.json" 2>/dev/null)
check "bench-tps confirms transfers (exit $code, ${ok_txs:-?} ok)" all '[ "$code" = 0 ]' '[ "${ok_txs:-0}" -gt 0 ]'
check "bench-tps: balances conserved minus fees" all \
  '[ "$(jq -e .balances.conserved "$tmp/bench.json")" = true ]' \
  '[ "$(jq -e ".balances.after == .balances.expected" "$tmp/bench.json")" = true ]'

# 2. replay and double spend, with hand-made transfers.
newkey() { "$bin" keygen -o "$tmp/$1.key" | sed -n 's/^pubkey //p'; }
dest=$(newkey dest); x1=$(newkey x1); x2=$(newkey x2)
tx=$("$bin" transfer --rpc "$rpc" --from "$tmp/c/faucet.key" --to "$dest" --lamports 7000 --print)
check "transfer builds a transaction" [ -n "$tx" ]
"$bin" rpc --url "$rpc" POST /tx "$tx" >/dev/null
sleep 0.5
"$bin" rpc --url "$rpc" POST /tx "$tx" >/dev/null  # the same bytes again: a replay
sleep 1
check "a replayed transaction executes once (dest has $(balance "$dest"))" [ "$(balance "$dest")" = 7000 ]
check "the replay is dropped as a duplicate" [ "$(tile_metric dedup duplicate)" -ge 1 ]
# dest (7000) pays 1500 to x1 and 1500 to x2, fee 5000 each: only one can be paid.
s1=$("$bin" transfer --rpc "$rpc" --from "$tmp/dest.key" --to "$x1" --lamports 1500 --print)
s2=$("$bin" transfer --rpc "$rpc" --from "$tmp/dest.key" --to "$x2" --lamports 1500 --print)
"$bin" rpc --url "$rpc" POST /tx "$s1" >/dev/null
"$bin" rpc --url "$rpc" POST /tx "$s2" >/dev/null
sleep 1
moved=$(( $(balance "$x1") + $(balance "$x2") ))
check "a double spend pays once (x1+x2 = $moved, dest = $(balance "$dest"))" \
  both "$moved" 1500 "$(balance "$dest")" 500
failed=$("$bin" rpc --url "$rpc" POST /tx/status "{\"signatures\": [\"${s1:2:128}\", \"${s2:2:128}\"]}")
check "the losing spend is recorded as failed" grep -q insufficient_funds_for_fee <<<"$failed"

# 3. a bad signature never reaches the bank.
executed=$(tile_metric bank0 executed)
bad=$("$bin" transfer --rpc "$rpc" --from "$tmp/c/faucet.key" --to "$x1" --lamports 5 --print)
bad="${bad:0:2}$(printf '%02x' $(( (16#${bad:2:2}) ^ 1 )))${bad:4}"  # flip a bit of the signature
"$bin" rpc --url "$rpc" POST /tx "$bad" >/dev/null
sleep 0.5
check "a bad signature is counted by verify" [ "$(tile_metric verify0 sig_failed)" -ge 1 ]
check "and never reaches the bank" [ "$(tile_metric bank0 executed)" = "$executed" ]

# 4. malformed packets: dropped, counted by reason, and slots keep coming.
before=$(slot_of)
port=$((13000 + off))
for _ in $(seq 1 50); do head -c $((RANDOM % 1400 + 1)) /dev/urandom >/dev/udp/127.0.0.1/$port; done
printf '\x00' >/dev/udp/127.0.0.1/$port                                   # no signatures
printf '\x01\x02\x03' >/dev/udp/127.0.0.1/$port                           # truncated signatures
head -c 1300 /dev/zero | tr '\0' '\001' >/dev/udp/127.0.0.1/$port          # longer than a tx may be
sleep 1.5
reasons=$("$bin" rpc --url "$rpc" GET /metrics | grep -c 'riptide_tile_parse_[a-z_]*{[^}]*tile="verify0"} [1-9]')
check "malformed packets are counted under $reasons distinct reasons" [ "$reasons" -ge 3 ]
check "slots keep coming ($before -> $(slot_of))" [ "$(slot_of)" -gt "$before" ]

# 5. kill -9 under load, restart: durable slots survive, the chain resumes, balances replay.
ra=$(newkey ra)
txa=$("$bin" transfer --rpc "$rpc" --from "$tmp/c/faucet.key" --to "$ra" --lamports 1000 --print)
txb=$("$bin" transfer --rpc "$rpc" --from "$tmp/c/faucet.key" --to "$ra" --lamports 2000 --print)  # sent after the restart
"$bin" rpc --url "$rpc" POST /tx "$txa" >/dev/null
balance_at_least() { local b; b=$(balance "$1") && [ "$b" -ge "$2" ]; }
check "a transfer executes before the kill" wait_until 10 balance_at_least "$ra" 1000
slot_a=$(get_json "$rpc" "/tx/${txa:2:128}" .slot)
durable_at_least() { local d; d=$(get_json "$rpc" /slot .durable_slot) && [ "$d" -ge "$1" ]; }
check "  and its slot ${slot_a:-?} becomes durable" wait_until 10 durable_at_least "${slot_a:-999999999}"
"$bin" bench-tps --rpc "$rpc" --tpu "$tpu" --faucet-key "$tmp/c/faucet.key" --accounts 16 \
  --rate 0 --seconds 3 >"$tmp/bench2.out" 2>&1 &
bench=$!
sleep 2
durable=$(get_json "$rpc" /slot .durable_slot)
dest_before=$(balance "$dest")
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
wait "$bench" 2>/dev/null
"$bin" ledger verify --json "$tmp/ledger" >"$tmp/verify.json" 2>/dev/null
check "after kill -9 the ledger verifies" [ "$(jq -r .ok "$tmp/verify.json")" = true ]
last=$("$bin" ledger show "$tmp/ledger" --slot "${durable:-0}" >/dev/null 2>&1 && echo yes)
check "durable slot ${durable:-none} is in the ledger" both "${durable:+set}" set "$last" yes
check "the node restarts on its ledger" start_node
check "balances come back from the ledger (dest $(balance "$dest") = $dest_before)" [ "$(balance "$dest")" = "$dest_before" ]
s0=$(slot_of); sleep 1
check "the chain goes on after the restart ($s0 -> $(slot_of))" [ "$(slot_of)" -gt "${durable:-0}" ]
"$bin" rpc --url "$rpc" POST /tx "$txa" >/dev/null  # executed before the kill
"$bin" rpc --url "$rpc" POST /tx "$txb" >/dev/null  # signed before the kill, never sent
check "the transfer signed before the kill executes after the restart" wait_until 10 balance_at_least "$ra" 3000
sleep 1
check "the one that executed before the kill does not again (ra has $(balance "$ra"), 3000 expected)" \
  [ "$(balance "$ra")" = 3000 ]
check "  it is dropped as a duplicate" [ "$(tile_metric dedup duplicate)" -ge 1 ]
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
"$bin" ledger verify --json "$tmp/ledger" >"$tmp/verify2.json" 2>/dev/null
check "the resumed ledger verifies end to end" [ "$(jq -r .ok "$tmp/verify2.json")" = true ]
finish
