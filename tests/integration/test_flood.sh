#!/usr/bin/env bash
# A 10 s flood of valid-looking transactions (riptide flood: well-formed transfers whose
# signatures do not verify, as fast as this machine sends) at the leader's tpu port must not
# starve its other ports: a gossip key set on the follower reaches the flooded leader within
# 2 s, and the follower stores every slot the leader makes meanwhile. The nodes run with a
# receive pool smaller than the verify ring (net.rx_frames=1024), so only the per-port frame
# quota keeps the tpu from holding every frame.
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
off=660
flood_pid=
cleanup() {
  [ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null
  cluster down >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
drop() { get_json "$(rpc 0)" /drops ".drops[\"$1\"]"; }  # a node-0 drop counter; absent fails

cluster up 2 --staked 1 -- --set layout.pin=false --set net.rx_frames=1024 >/dev/null
check "the leader produces slots" wait_until 30 slot_at_least 0 3
check "the follower stores them" wait_until 30 slot_at_least 1 2

"$bin" flood --to "127.0.0.1:$((13000 + off))" --seconds 10 --json >"$tmp/flood.json" 2>"$tmp/flood.err" &
flood_pid=$!
sleep 3
follower_before=$(slot_of 1)
"$bin" rpc --url "$(rpc 1)" POST /gossip/data '{"key":"during-flood","value":"v"}' >/dev/null
t0=$(date +%s%N)
key_at_leader() { "$bin" rpc --url "$(rpc 0)" GET /gossip/data/during-flood >/dev/null 2>&1; }
wait_until 5 key_at_leader
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a key set on the follower reaches the flooded leader within 2 s (${ms} ms)" all key_at_leader '[ "$ms" -le 2000 ]'
wait "$flood_pid"; flood_pid=
sent=$(jq -r .sent "$tmp/flood.json"); rate=$(jq -r '.rate | floor' "$tmp/flood.json")
echo "    flood: sent ${sent:-?} datagrams at ${rate:-?}/s"
check "the flood was a flood (${sent:-0} datagrams, at least 200000)" [ "${sent:-0}" -ge 200000 ]
follower_after=$(slot_of 1)
check "the follower kept storing slots during the flood (${follower_before:-?} -> ${follower_after:-?})" \
  all '[ -n "$follower_before" ]' '[ "${follower_after:-0}" -ge $((follower_before + 10)) ]'
tpu_lost=$(( $(drop net.rx_kernel_drops_tpu) + $(drop net.rx_drop_quota_tpu) + $(drop net.rx_drop_ring_full_tpu) ))
check "the leader dropped flood datagrams at the tpu, counted ($tpu_lost)" [ "$tpu_lost" -gt 0 ]
check "  and verify refused the ones it checked ($(drop verify0.sig_failed))" [ "$(drop verify0.sig_failed)" -gt 0 ]
for port in gossip tvu repair; do
  lost=$(( $(drop net.rx_drop_quota_$port) + $(drop net.rx_drop_ring_full_$port) + $(drop net.rx_kernel_drops_$port) ))
  check "  but lost nothing on its $port port ($lost)" [ "$lost" -eq 0 ]
done
check "no flood transaction reached the bank" [ "$(metric "$(rpc 0)" bank executed)" = 0 ]
last=$(slot_of 0)
cluster down >/dev/null
for i in 0 1; do
  "$bin" ledger digest --json "$tmp/c/ledger-$i" | jq -c --argjson w "${last:-0}" '.slots[] | select(.slot < $w)' >"$tmp/d$i"
done
check "the follower's ledger equals the leader's over slots 0..$((last - 1))" all '[ -s "$tmp/d0" ]' 'cmp -s "$tmp/d0" "$tmp/d1"'
complete=$(jq -s '[.[] | select(.complete)] | length' "$tmp/d1")
check "  and holds every one of them, complete (${complete:-?} of $last)" [ "${complete:-0}" -eq "$last" ]
finish
