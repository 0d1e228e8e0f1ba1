#!/usr/bin/env bash
# Packet-loss stress test: a local cluster with one leader under load and loss, duplication
# and reordering injected in every node's net tile (tvu and repair ports); afterwards every
# node's ledger is compared with the leader's, slot by slot, and a table says how each slot
# reached the followers. Per node: datagrams the loss injector dropped, shreds received,
# data shreds rebuilt by FEC, shreds repaired, repair requests sent and answered.
#
#   tools/stress-loss.sh [--nodes N] [--fanout F] [--loss P] [--duplicate P] [--reorder W]
#                        [--seconds S] [--rate TPS] [--dir DIR] [--port-offset K] [--catch-up-s S]
#
#   --nodes 6        validators: node 0 leads every slot, the others follow
#   --fanout 2       Turbine fanout (small, so the tree has several levels)
#   --loss 0.2       probability each received shred, repair request or answer is dropped
#   --duplicate 0    probability a received datagram is delivered twice
#   --reorder 0      reorder window (datagrams held back and released out of order)
#   --seconds 20     how long bench-tps loads the leader
#   --rate 200       transfers per second sent to the leader
#   --catch-up-s 30  how long followers get to store every slot of the window afterwards
#
# The window: slots 0..W, where W is the leader's slot when the load ends, plus 2. Every node
# must hold every slot of the window, identical to the leader's (records and bank hash).
# Exit status 0 only then. Logs, ledgers and per-slot CSVs stay in DIR (default
# /tmp/riptide-stress) for a look afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${RIPTIDE_BIN:-$root/build/src/app/riptide}
nodes=6 fanout=2 loss=0.2 duplicate=0 reorder=0 seconds=20 rate=200 catch_up=30
dir=/tmp/riptide-stress port_offset=600
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --fanout) fanout=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --duplicate) duplicate=$2; shift 2 ;;
    --reorder) reorder=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --catch-up-s) catch_up=$2; shift 2 ;;
    --dir) dir=$(realpath -m "$2"); shift 2 ;;
    --port-offset) port_offset=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stress-loss.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
[[ "$nodes" =~ ^[0-9]+$ ]] && [ "$nodes" -ge 2 ] || { echo "stress-loss.sh: --nodes must be >= 2" >&2; exit 2; }
[ -x "$bin" ] || { echo "stress-loss.sh: no riptide binary at $bin (tools/dev.sh test builds it)" >&2; exit 2; }

cluster() { "$root/tools/cluster.sh" "$1" --dir "$dir" --port-offset "$port_offset" "${@:2}"; }
http() { "$bin" rpc --url "127.0.0.1:$((11000 + port_offset + $1))" GET "$2" 2>/dev/null; }
slot_of() { http "$1" /slot | sed -n 's/.*"slot": \([0-9]*\).*/\1/p'; }
cleanup() { cluster down >/dev/null 2>&1 || true; }
trap cleanup EXIT

mkdir -p "$dir"
rm -f "$dir"/slots-*.csv
echo "== $nodes nodes, fanout $fanout, loss $loss, duplicate $duplicate, reorder $reorder; load $rate tx/s for $seconds s"
cluster up "$nodes" --fanout "$fanout" -- --set layout.pin=false \
  --set net.drop_tvu="$loss" --set net.drop_repair="$loss" --set net.duplicate="$duplicate" \
  --set net.reorder_window="$reorder" --set tvu.slot_log="\"$dir/slots-{name}.csv\"" >/dev/null
for _ in $(seq 100); do [ -n "$(slot_of 0)" ] && break; sleep 0.1; done
[ -n "$(slot_of 0)" ] || { echo "FAIL: the leader's HTTP API never answered (see $dir/logs/node-0.log)"; exit 1; }

"$bin" bench-tps --rpc "127.0.0.1:$((11000 + port_offset))" --tpu "127.0.0.1:$((13000 + port_offset))" \
  --faucet-key "$dir/faucet.key" --accounts 64 --rate "$rate" --seconds "$seconds" >"$dir/bench-tps.log" 2>&1 || true
grep -E "^(sent|balances)" "$dir/bench-tps.log" | sed 's/^/  bench-tps: /' || true
window=$(( $(slot_of 0) + 2 ))
echo "== window: slots 0..$window; waiting up to ${catch_up}s for every follower to store it"
deadline=$((SECONDS + catch_up))
while [ $SECONDS -lt "$deadline" ]; do
  behind=0
  for i in $(seq 1 $((nodes - 1))); do
    s=$(slot_of "$i"); [ -n "$s" ] && [ "$s" -gt "$window" ] || behind=$((behind + 1))
  done
  [ "$behind" -eq 0 ] && break
  sleep 0.5
done
cluster down >/dev/null

# ---- ledgers, slot by slot
for i in $(seq 0 $((nodes - 1))); do
  "$bin" ledger digest "$dir/ledger-$i" | awk -v w="$window" '$1 <= w' >"$dir/digest-$i.txt"
done
leader_slots=$(awk '$5 == 1' "$dir/digest-0.txt" | wc -l)
fail=0
[ "$leader_slots" -ge 2 ] || { echo "FAIL: the leader completed only $leader_slots slots in the window"; fail=1; }
for i in $(seq 1 $((nodes - 1))); do
  if ! diff -q "$dir/digest-0.txt" "$dir/digest-$i.txt" >/dev/null; then
    missing=$(join -v1 <(cut -d' ' -f1 "$dir/digest-0.txt" | sort) <(cut -d' ' -f1 "$dir/digest-$i.txt" | sort) | wc -l)
    differ=$(join <(sort "$dir/digest-0.txt") <(sort "$dir/digest-$i.txt") | awk '$3 != $7 || $4 != $8' | wc -l)
    echo "FAIL: node $i's ledger differs from the leader's: $missing slots missing, $differ slots differ"
    fail=1
  fi
done

# ---- how slots travelled (per-slot CSVs written by the leader's shred tile and each replay tile)
awk -F, -v n="$nodes" -v w="$window" '
  FNR == 1 { file++; next }
  file == 1 { if ($1 <= w) { sent[$1] = $2; slots++ } next }
  $1 > w { next }
  $7 == "ok" { got[$1]++; if ($6 > 0) rep[$1] = 1; d = ($2 - sent[$1]) / 1e6; if (d > lat[$1]) lat[$1] = d }
  END {
    for (s in sent) {
      if (got[s] == n - 1) { if (rep[s]) repaired++; else fec++; print lat[s] > "/dev/stderr" }
      else missing++
    }
    printf "slots produced %d | delivered to every follower by Turbine+FEC alone %d | needed repair %d | missing somewhere %d\n",
      slots, fec, repaired, missing
  }' "$dir/slots-node0.csv" $(for i in $(seq 1 $((nodes - 1))); do echo "$dir/slots-node$i.csv"; done) \
  2>"$dir/latency-ms.txt" | sed 's/^/  /'
sort -n "$dir/latency-ms.txt" | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "  leader -> last follower: no slot reached every follower"; exit }
  i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
  printf "  leader -> last follower (slot sent -> slot stored): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d slots\n", v[i50], v[i99], v[NR], NR }'

printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s\n' node role "net dropped" received "rebuilt" repaired "repair req" "answers sent"
for i in $(seq 0 $((nodes - 1))); do
  log=$dir/logs/node-$i.log
  dropped=$(sed -n 's/^summary: net: injected drops \([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ "$i" -eq 0 ]; then
    answers=$(sed -n 's/^summary: shred:.*answers \([0-9]*\)$/\1/p' "$log" | tail -1)
    printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s\n' "$i" leader "${dropped:-?}" - - - - "${answers:-?}"
  else
    line=$(grep '^summary: tvu:' "$log" | tail -1)
    field() { echo "$line" | sed -n "s/.*$1 \([0-9]*\).*/\1/p"; }
    printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s\n' "$i" follower "${dropped:-?}" "$(field received)" \
      "$(field '(data')" "$(field repaired)" "$(field '(requests')" "$(field served)"
  fi
done
if [ "$fail" -eq 0 ]; then
  echo "ok: $nodes ledgers identical over slots 0..$window ($leader_slots slots; records and bank hashes)"
fi
exit "$fail"
