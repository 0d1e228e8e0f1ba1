#!/usr/bin/env bash
# A local riptide cluster on loopback.
#
#   tools/cluster.sh up N [--dir DIR] [--port-offset K] [--fanout F] [--tick-us T] [--slots-per-epoch S] [--ip-base IP]
#                         [--staked S | --stakes S0,S1,...] [--netns PREFIX] [-- --set key=value ...]
#        writes genesis, keys and configs for N nodes into DIR (default: cluster/; old ledgers
#        there are removed: a new genesis starts new chains), starts
#        them in the background (logs DIR/logs/node-<i>.log, pids DIR/pids/node-<i>.pid; a node
#        that stops cleanly leaves its summary and every tile's counters in
#        DIR/logs/node-<i>.summary.json, riptide run --summary-json);
#        arguments after -- go to every `riptide run`. --ip-base: node i on IP+i instead of
#        127.0.0.1 (riptide genesis --ip-base); --netns: node i runs in the network namespace
#        PREFIX<i>, which must exist (ip netns exec; tools/stress-loss.sh --kernel makes them);
#        --tick-us: wall-clock microseconds per PoH tick (riptide genesis --tick-us; 64 ticks a slot)
#        --slots-per-epoch S: slots of one leader schedule (riptide genesis --slots-per-epoch)
#        --staked S: the first S validators have stake (riptide genesis --staked; 0: all of
#        them, who then take turns to lead; 1: node 0 leads every slot); --stakes: every node's
#        stake, node 0 first (riptide genesis --stakes, e.g. 2,2,2,1,1)
#   tools/cluster.sh down [--dir DIR]          stops every node (TERM, then KILL after 5 s)
#   tools/cluster.sh status [--dir DIR]        each node's health and peers from its HTTP API
#   tools/cluster.sh start-node I [--dir DIR] [--netns PREFIX] [-- --set ...]   (re)start one node
#   tools/cluster.sh kill-node I [--dir DIR] [--signal KILL]   stop one node
#   tools/cluster.sh partition 0,1 / 2,3 [--dir DIR]   cut the cluster into groups: every UDP
#        datagram from one group's ports to another group's is dropped (nftables, table inet
#        riptide_part_<K> in this network namespace; needs root and nft). Nodes left out of
#        every group keep talking to all. Loopback clusters only (nodes told apart by ports;
#        --netns clusters are refused). A new partition replaces the old one.
#   tools/cluster.sh heal [--dir DIR]          removes the partition (down does too)
#
# Ports of node i: gossip 12000+K+i, HTTP 11000+K+i, tpu 13000+K+i, tvu 14000+K+i,
# repair 15000+K+i, tpu_forwards 16000+K+i. Nodes are pinned round-robin to the CPUs there are.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${RIPTIDE_BIN:-$root/build/src/app/riptide}
dir=$root/cluster
port_offset=0
fanout=200
tick_us=
slots_per_epoch=
staked=
stakes=
signal=TERM
ip_base=
netns=
extra=()

cmd=${1:-}
[ $# -gt 0 ] && shift
pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$(realpath -m "$2"); shift 2 ;;
    --port-offset) port_offset=$2; shift 2 ;;
    --fanout) fanout=$2; shift 2 ;;
    --tick-us) tick_us=$2; shift 2 ;;
    --slots-per-epoch) slots_per_epoch=$2; shift 2 ;;
    --staked) staked=$2; shift 2 ;;
    --stakes) stakes=$2; shift 2 ;;
    --signal) signal=$2; shift 2 ;;
    --ip-base) ip_base=$2; shift 2 ;;
    --netns) netns=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) pos+=("$1"); shift ;;
  esac
done

die() { echo "cluster.sh: $*" >&2; exit 2; }
[ -x "$bin" ] || die "no riptide binary at $bin (run tools/dev.sh test or set RIPTIDE_BIN)"

node_count() { ls "$dir"/node-*.toml 2>/dev/null | wc -l; }
rpc_port() { sed -n 's/^port = \([0-9]*\)/\1/p' "$dir/node-$1.toml" | head -1; }
rpc_ip() {
  local ip
  ip=$(sed -n '/^\[rpc\]/,/^\[/s/^ip = "\([0-9.]*\)"/\1/p' "$dir/node-$1.toml" | head -1)
  echo "${ip:-127.0.0.1}"
}

# Node i's UDP ports (gossip, tpu, tvu, repair, tpu_forwards) from its config.
udp_ports() {
  sed -n 's/^\(gossip\|tpu\|tvu\|repair\|tpu_forwards\)_port = \([0-9]*\)/\2/p' "$dir/node-$1.toml"
}
# One nftables table per cluster, named by node 0's port offset.
partition_table() { echo "riptide_part_$(( $(udp_ports 0 | head -1) - 12000 ))"; }
heal() {
  command -v nft >/dev/null || return 0
  nft delete table inet "$(partition_table)" 2>/dev/null || true
}

start_node() {
  local i=$1
  [ -f "$dir/node-$i.toml" ] || die "no node $i in $dir"
  mkdir -p "$dir/logs" "$dir/pids"
  if [ -f "$dir/pids/node-$i.pid" ] && kill -0 "$(cat "$dir/pids/node-$i.pid")" 2>/dev/null; then
    echo "node $i already running (pid $(cat "$dir/pids/node-$i.pid"))"
    return 0
  fi
  rm -f "$dir/logs/node-$i.summary.json"
  local run=("$bin" run --config "$dir/node-$i.toml" --summary-json "$dir/logs/node-$i.summary.json" "${extra[@]}")
  if [ -n "$netns" ]; then
    [ -e "/run/netns/$netns$i" ] || die "no network namespace $netns$i"
    run=(ip netns exec "$netns$i" "${run[@]}")  # execs the node: the pid below is the node's
  fi
  # setsid: the node survives this script and is not hit by the caller's Ctrl-C.
  setsid "${run[@]}" >>"$dir/logs/node-$i.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/node-$i.pid"
  echo "node $i started (pid $!, log $dir/logs/node-$i.log)"
}

stop_node() {
  local i=$1 sig=$2 pidfile="$dir/pids/node-$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      echo "node $i did not stop in 5 s: killed"
    fi
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  up)
    n=${pos[0]:-4}
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "up: N must be a positive number"
    if [ -d "$dir/pids" ] && ls "$dir"/pids/*.pid >/dev/null 2>&1; then
      die "a cluster seems to be running in $dir (tools/cluster.sh down first)"
    fi
    rm -rf "$dir/logs" "$dir"/ledger-*  # a new genesis starts new chains
    "$bin" genesis -o "$dir" --nodes "$n" --port-offset "$port_offset" --fanout "$fanout" --force \
      ${ip_base:+--ip-base "$ip_base"} ${tick_us:+--tick-us "$tick_us"} ${staked:+--staked "$staked"} \
      ${stakes:+--stakes "$stakes"} \
      ${slots_per_epoch:+--slots-per-epoch "$slots_per_epoch"}
    for i in $(seq 0 $((n - 1))); do start_node "$i"; done
    ;;
  down)
    [ -f "$dir/node-0.toml" ] && heal
    for f in "$dir"/pids/node-*.pid; do
      [ -f "$f" ] || continue
      i=${f##*/node-}; i=${i%.pid}
      stop_node "$i" TERM
      echo "node $i stopped"
    done
    ;;
  start-node)
    start_node "${pos[0]:?start-node needs a node index}"
    ;;
  kill-node)
    stop_node "${pos[0]:?kill-node needs a node index}" "$signal"
    echo "node ${pos[0]} stopped with SIG$signal"
    ;;
  partition)
    n=$(node_count)
    [ "$n" -gt 0 ] || die "no cluster in $dir"
    command -v nft >/dev/null || die "partition needs nft (apt-get install -y nftables)"
    [ "$(id -u)" -eq 0 ] || die "partition needs root (nftables)"
    for i in $(seq 0 $((n - 1))); do
      grep -q '^ip = "127.0.0.1"' "$dir/node-$i.toml" || die "partition: node $i is not on 127.0.0.1 (loopback clusters only)"
    done
    # Groups: the arguments split at "/", each a comma-separated list of node indexes.
    groups=() cur="" seen=" "
    for a in "${pos[@]}" /; do
      if [ "$a" = / ]; then
        [ -n "$cur" ] || die "partition: an empty group (usage: partition 0,1 / 2,3)"
        groups+=("$cur"); cur=""
        continue
      fi
      for k in ${a//,/ }; do
        [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -lt "$n" ] || die "partition: '$k' is not a node of this cluster (0..$((n - 1)))"
        case "$seen" in *" $k "*) die "partition: node $k is in two groups" ;; esac
        seen="$seen$k "
        cur="${cur:+$cur }$k"
      done
    done
    [ ${#groups[@]} -ge 2 ] || die "partition: at least two groups (usage: partition 0,1 / 2,3)"
    ports_of() { local k; for k in $1; do udp_ports "$k"; done | paste -sd, -; }
    table=$(partition_table)
    rules=""
    for a in "${!groups[@]}"; do
      for b in "${!groups[@]}"; do
        [ "$a" != "$b" ] || continue
        rules+="    udp sport { $(ports_of "${groups[$a]}") } udp dport { $(ports_of "${groups[$b]}") } counter drop"$'\n'
      done
    done
    heal
    nft -f - <<NFT
table inet $table {
  chain input {
    type filter hook input priority -10; policy accept;
$rules  }
}
NFT
    printf 'partitioned:'; printf ' [%s]' "${groups[@]}"; echo " (nftables table inet $table)"
    ;;
  heal)
    [ -f "$dir/node-0.toml" ] || die "no cluster in $dir"
    heal
    echo "healed (nftables table inet $(partition_table) removed)"
    ;;
  status)
    n=$(node_count)
    [ "$n" -gt 0 ] || die "no cluster in $dir"
    for i in $(seq 0 $((n - 1))); do
      port=$(rpc_port "$i")
      if health=$("$bin" rpc --url "$(rpc_ip "$i"):$port" GET /gossip/health 2>/dev/null); then
        read -r node active suspected dead < <(echo "$health" | jq -r '"\(.node) \(.peers.active) \(.peers.suspected) \(.peers.dead)"')
        printf 'node %-3s http :%-5s %-9s peers active %-3s suspected %-3s dead %s\n' \
          "$i" "$port" "$node" "$active" "$suspected" "$dead"
      else
        printf 'node %-3s http :%-5s not answering\n' "$i" "$port"
      fi
    done
    ;;
  *)
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
