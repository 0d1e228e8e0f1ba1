#!/usr/bin/env bash
# Packet-loss stress test: a local cluster with one leader (or, with --rotation, validators
# that all lead their slots in turn) under load and loss, duplication and reordering injected
# in every node's net tile (tvu and repair ports; with --kernel the loss is nftables' instead,
# in one network namespace per node); afterwards every node's ledger is compared with node
# 0's, slot by slot, and a table says how each slot reached the nodes that did not make it.
# Per node: datagrams the loss injector dropped, shreds received, data shreds rebuilt by FEC,
# shreds repaired, repair requests sent and answered (and, with --rotation, blocks it made).
#
#   tools/stress-loss.sh [--kernel] [--rotation] [--nodes N] [--fanout F] [--loss P] [--duplicate P]
#                        [--reorder W] [--seconds S] [--rate TPS] [--dir DIR] [--port-offset K]
#                        [--catch-up-s S]
#
#   --kernel         drop in the kernel instead of the net tile: each node in its own network
#                    namespace (rt-n<i>, 10.77.0.<1+i>/24, a veth into the bridge rt-br0 whose
#                    host side is 10.77.0.254), and in each an nftables table (inet
#                    riptide_loss) dropping a fraction --loss of the UDP datagrams arriving at
#                    its tvu and repair ports (numgen random); --duplicate and --reorder stay in
#                    the net tile. Needs root, ip and nft; namespaces, bridge and nodes are
#                    removed on exit, Ctrl-C and failure alike
#   --rotation       every validator staked: each leads its 4-slot spans of the schedule and
#                    follows the others'; the load goes round-robin to every node's tpu port
#   --nodes 6        validators: node 0 leads every slot, the others follow (or all take turns)
#   --fanout 2       Turbine fanout (small, so the tree has several levels)
#   --loss 0.2       probability each received shred, repair request or answer is dropped
#   --duplicate 0    probability a received datagram is delivered twice
#   --reorder 0      reorder window (datagrams held back and released out of order)
#   --seconds 20     how long bench-tps loads the leader (with --rotation: every node)
#   --rate 200       transfers per second sent
#   --catch-up-s 30  how long followers get to store every slot of the window afterwards
#
# The window: slots 0..W, where W is node 0's slot when the load ends, plus 2. Every node
# must hold every block of the window, identical to node 0's (records, bank hash, parent,
# leader); with --rotation a slot whose leader made no block is skipped by all alike.
# Exit status 0 only then. Logs, ledgers and per-slot CSVs stay in DIR (default
# /tmp/riptide-stress) for a look afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${RIPTIDE_BIN:-$root/build/src/app/riptide}
nodes=6 fanout=2 loss=0.2 duplicate=0 reorder=0 seconds=20 rate=200 catch_up=30
dir=/tmp/riptide-stress port_offset=600 kernel=0 rotation=0
bridge=rt-br0 netns=rt-n subnet=10.77.0  # --kernel: node i at $subnet.(1+i), host at $subnet.254
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
    --kernel) kernel=1; shift ;;
    --rotation) rotation=1; shift ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stress-loss.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
[[ "$nodes" =~ ^[0-9]+$ ]] && [ "$nodes" -ge 2 ] || { echo "stress-loss.sh: --nodes must be >= 2" >&2; exit 2; }
[ -x "$bin" ] || { echo "stress-loss.sh: no riptide binary at $bin (tools/dev.sh test builds it)" >&2; exit 2; }
if [ "$kernel" -eq 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "stress-loss.sh: --kernel needs root (network namespaces, bridge, nftables)" >&2; exit 2; }
  for tool in ip nft; do
    command -v "$tool" >/dev/null || { echo "stress-loss.sh: --kernel needs '$tool' (apt-get install -y iproute2 nftables)" >&2; exit 2; }
  done
  [ "$nodes" -le 253 ] || { echo "stress-loss.sh: --kernel takes at most 253 nodes" >&2; exit 2; }
fi

cluster() { "$root/tools/cluster.sh" "$1" --dir "$dir" --port-offset "$port_offset" "${@:2}"; }
host() { if [ "$kernel" -eq 1 ]; then echo "$subnet.$((1 + $1))"; else echo 127.0.0.1; fi; }
http() { "$bin" rpc --url "$(host "$1"):$((11000 + port_offset + $1))" GET "$2" 2>/dev/null; }
slot_of() { http "$1" /slot | jq -er .slot; }

# ---- --kernel: one network namespace per node on a bridge, loss by nftables
kernel_made=0
kernel_up() {
  local i ns per_mille
  for i in $(seq 0 $((nodes - 1))); do
    if [ -e "/run/netns/$netns$i" ]; then
      echo "stress-loss.sh: network namespace $netns$i exists (another run, or left behind: ip netns del $netns$i)" >&2
      exit 2
    fi
  done
  if ip link show "$bridge" >/dev/null 2>&1; then
    echo "stress-loss.sh: $bridge exists (another run, or left behind: ip link del $bridge)" >&2
    exit 2
  fi
  kernel_made=1
  per_mille=$(awk -v p="$loss" 'BEGIN { printf "%d", p * 1000 + 0.5 }')
  ip link add "$bridge" type bridge
  ip addr add "$subnet.254/24" dev "$bridge"
  ip link set "$bridge" up
  for i in $(seq 0 $((nodes - 1))); do
    ns=$netns$i
    ip netns add "$ns"
    ip link add "rt-v$i" type veth peer name eth0 netns "$ns"
    ip link set "rt-v$i" master "$bridge" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$subnet.$((1 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" nft -f - <<NFT
table inet riptide_loss {
  counter seen {}
  counter dropped {}
  chain input {
    type filter hook input priority filter; policy accept;
    udp dport { $((14000 + port_offset + i)), $((15000 + port_offset + i)) } counter name "seen"
    udp dport { $((14000 + port_offset + i)), $((15000 + port_offset + i)) } numgen random mod 1000 < $per_mille counter name "dropped" drop
  }
}
NFT
  done
}
kernel_count() {  # kernel_count I seen|dropped: datagrams that counter saw in node I's namespace
  ip netns exec "$netns$1" nft list counter inet riptide_loss "$2" 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}
kernel_down() {
  local i pid
  for i in $(seq 0 $((nodes - 1))); do
    [ -e "/run/netns/$netns$i" ] || continue
    for pid in $(ip netns pids "$netns$i" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$netns$i" 2>/dev/null || true  # takes its veth and nftables table along
  done
  ip link del "$bridge" 2>/dev/null || true
}

cleanup() {
  cluster down >/dev/null 2>&1 || true
  if [ "$kernel_made" -eq 1 ]; then kernel_down; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$dir"
rm -f "$dir"/slots-*.csv
staked=1 mode="one leader"
if [ "$rotation" -eq 1 ]; then staked=0 mode="rotation: $nodes staked validators"; fi
if [ "$kernel" -eq 1 ]; then
  echo "== $nodes nodes ($mode), fanout $fanout, loss $loss (kernel: nftables in one network namespace per node), duplicate $duplicate, reorder $reorder; load $rate tx/s for $seconds s"
  kernel_up
  cluster up "$nodes" --staked "$staked" --fanout "$fanout" --ip-base "$subnet.1" --netns "$netns" -- --set layout.pin=false \
    --set net.duplicate="$duplicate" \
    --set net.reorder_window="$reorder" --set tvu.slot_log="\"$dir/slots-{name}.csv\"" >/dev/null
else
  echo "== $nodes nodes ($mode), fanout $fanout, loss $loss, duplicate $duplicate, reorder $reorder; load $rate tx/s for $seconds s"
  cluster up "$nodes" --staked "$staked" --fanout "$fanout" -- --set layout.pin=false \
    --set net.drop_tvu="$loss" --set net.drop_repair="$loss" --set net.duplicate="$duplicate" \
    --set net.reorder_window="$reorder" --set tvu.slot_log="\"$dir/slots-{name}.csv\"" >/dev/null
fi
for _ in $(seq 100); do [ -n "$(slot_of 0)" ] && break; sleep 0.1; done
[ -n "$(slot_of 0)" ] || { echo "FAIL: the leader's HTTP API never answered (see $dir/logs/node-0.log)"; exit 1; }

tpus="$(host 0):$((13000 + port_offset))"
if [ "$rotation" -eq 1 ]; then
  tpus=$(for i in $(seq 0 $((nodes - 1))); do echo "$(host "$i"):$((13000 + port_offset + i))"; done | paste -sd,)
fi
"$bin" bench-tps --rpc "$(host 0):$((11000 + port_offset))" --tpu "$tpus" \
  --faucet-key "$dir/faucet.key" --accounts 64 --rate "$rate" --seconds "$seconds" >"$dir/bench-tps.log" 2>&1 || true
grep -E "^ *(sent|balances)" "$dir/bench-tps.log" | sed 's/^/  bench-tps: /' || true
window=$(( $(slot_of 0) + 2 ))
echo "== window: slots 0..$window; waiting up to ${catch_up}s for every node to store it"
deadline=$((SECONDS + catch_up))
while [ $SECONDS -lt "$deadline" ]; do
  behind=0
  for i in $(seq $((1 - rotation)) $((nodes - 1))); do
    s=$(slot_of "$i"); [ -n "$s" ] && [ "$s" -gt "$window" ] || behind=$((behind + 1))
  done
  [ "$behind" -eq 0 ] && break
  sleep 0.5
done
cluster down >/dev/null

# ---- ledgers, slot by slot
# (from `ledger digest --json`: one line per slot of the window, "slot records_sha256 bank_hash
# complete parent leader rooted")
for i in $(seq 0 $((nodes - 1))); do
  "$bin" ledger digest --json "$dir/ledger-$i" |
    jq -r --argjson w "$window" '.slots[] | select(.slot <= $w)
      | "\(.slot) \(.records_sha256) \(.bank_hash) \(.complete) \(.parent) \(.leader) \(.rooted)"' >"$dir/digest-$i.txt"
done
leader_slots=$(awk '$4 == "true"' "$dir/digest-0.txt" | wc -l)
fail=0
[ "$leader_slots" -ge 2 ] || { echo "FAIL: node 0's chain has only $leader_slots complete blocks in the window"; fail=1; }
if [ "$rotation" -eq 1 ]; then
  echo "  blocks in the window: $leader_slots for $((window + 1)) slots ($((window + 1 - leader_slots)) skipped), by leader:"
  awk '{ n[$6]++ } END { for (l in n) printf "    %s… %d\n", substr(l, 1, 12), n[l] }' "$dir/digest-0.txt" | sort
fi
for i in $(seq 1 $((nodes - 1))); do
  if ! diff -q "$dir/digest-0.txt" "$dir/digest-$i.txt" >/dev/null; then
    missing=$(join -v1 <(cut -d' ' -f1 "$dir/digest-0.txt" | sort) <(cut -d' ' -f1 "$dir/digest-$i.txt" | sort) | wc -l)
    differ=$(join <(sort "$dir/digest-0.txt") <(sort "$dir/digest-$i.txt") | awk '$2 != $8 || $3 != $9' | wc -l)
    echo "FAIL: node $i's ledger differs from node 0's: $missing slots missing, $differ slots differ"
    fail=1
  fi
done

# ---- how slots travelled (per-slot CSVs: when a block's shreds left its leader, from the
# leader's shred tile; when each other node stored it and how its shreds came, from replay)
# One leader: node 0's slots-node0.csv, then the followers' logs. Rotation: every node's
# slots-node<i>.sent.csv (its own blocks), then every node's log (a node's own blocks in it
# are left out: they did not travel).
if [ "$rotation" -eq 1 ]; then
  logs=$(for i in $(seq 0 $((nodes - 1))); do echo "$dir/slots-node$i.sent.csv"; done
         for i in $(seq 0 $((nodes - 1))); do echo "$dir/slots-node$i.csv"; done)
else
  logs=$(echo "$dir/slots-node0.csv"; for i in $(seq 1 $((nodes - 1))); do echo "$dir/slots-node$i.csv"; done)
fi
# shellcheck disable=SC2086  # one file name per word
awk -F, -v n="$nodes" -v w="$window" -v rot="$rotation" '
  FNR == 1 { file++; next }
  # file k: the sent log of node k-1 (rotation: k <= n) or of node 0 (k == 1)
  (rot && file <= n) || (!rot && file == 1) {
    if ($1 <= w) { sent[$1] = $2; from[$1] = file - 1; slots++ }
    next
  }
  $1 > w { next }
  { node = rot ? file - n - 1 : file - 1 }
  node == from[$1] { next }
  $7 == "ok" { got[$1]++; if ($6 > 0) rep[$1] = 1; d = ($2 - sent[$1]) / 1e6; if (d > lat[$1]) lat[$1] = d }
  END {
    for (s in sent) {
      if (got[s] == n - 1) { if (rep[s]) repaired++; else fec++; print lat[s] > "/dev/stderr" }
      else missing++
    }
    printf "slots produced %d | delivered to every other node by Turbine+FEC alone %d | needed repair %d | missing somewhere %d\n",
      slots, fec, repaired, missing
  }' $logs 2>"$dir/latency-ms.txt" | sed 's/^/  /'
sort -n "$dir/latency-ms.txt" | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "  leader -> last node: no slot reached every node"; exit }
  i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
  printf "  leader -> last node (slot sent -> slot stored): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d slots\n", v[i50], v[i99], v[NR], NR }'

if [ "$rotation" -eq 1 ]; then
  # Slot time: for each pair of consecutive slots that both have a block, from the last shred
  # of slot s leaving its leader to the last shred of s + 1 leaving its (maybe another) leader.
  for i in $(seq 0 $((nodes - 1))); do tail -n +2 "$dir/slots-node$i.sent.csv"; done |
    awk -F, -v w="$window" '$1 <= w { print $1, $2 }' | sort -n |
    awk 'NR > 1 && $1 == prev + 1 { printf "%.3f\n", ($2 - t) / 1e6 } { prev = $1; t = $2 }' | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "  slot time: no two consecutive blocks"; exit }
      i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
      printf "  slot time (consecutive blocks leaving their leaders): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d pairs\n", v[i50], v[i99], v[NR], NR }'
fi
printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s %7s\n' node role "net dropped" received "rebuilt" repaired "repair req" \
  "answers sent" blocks
# Each node's counters at exit, from its summary file (cluster.sh: riptide run --summary-json);
# a node that did not stop cleanly has none, and its figures show as '?'.
counter() {  # counter NODE TILE NAME
  jq -er --arg t "$2" --arg c "$3" '.tiles[$t][$c]' "$dir/logs/node-$1.summary.json" 2>/dev/null || echo '?'
}
for i in $(seq 0 $((nodes - 1))); do
  if [ "$kernel" -eq 1 ]; then
    dropped=$(kernel_count "$i" dropped)
  else
    dropped=$(counter "$i" net fault_dropped)
  fi
  if [ "$rotation" -eq 0 ] && [ "$i" -eq 0 ]; then
    printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s %7s\n' "$i" leader "${dropped:-?}" - - - - \
      "$(counter "$i" shred repair_responses)" "$(counter "$i" poh slots_produced)"
  else
    printf '  %-6s %-9s %12s %10s %10s %10s %10s %12s %7s\n' "$i" "$([ "$rotation" -eq 1 ] && echo validator || echo follower)" \
      "${dropped:-?}" "$(counter "$i" tvu received)" \
      "$(counter "$i" tvu recovered_data)" "$(counter "$i" tvu repaired)" "$(counter "$i" tvu repair_sent)" \
      "$(counter "$i" tvu repair_served)" "$([ "$rotation" -eq 1 ] && counter "$i" poh slots_produced || echo -)"
  fi
done
if [ "$kernel" -eq 1 ]; then
  seen=0 dropped=0
  for i in $(seq 0 $((nodes - 1))); do
    n=$(kernel_count "$i" seen); seen=$((seen + ${n:-0}))
    n=$(kernel_count "$i" dropped); dropped=$((dropped + ${n:-0}))
  done
  awk -v s="$seen" -v d="$dropped" 'BEGIN {
    printf "  kernel (nftables): dropped %d of %d datagrams to tvu/repair ports (%.1f%%)\n", d, s, s ? 100 * d / s : 0 }'
fi
if [ "$fail" -eq 0 ]; then
  echo "ok: $nodes ledgers identical over slots 0..$window ($leader_slots slots; records and bank hashes)"
fi
exit "$fail"
