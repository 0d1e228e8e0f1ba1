# Helpers the integration tests share (sourced, after the test has set $bin and $tmp; the
# cluster helpers also want $root, the checkout, and $off, the cluster's port offset).
# Tests read facts: JSON from the HTTP API or a command's --json (jq), counters from
# /metrics. A counter that does not exist is not 0: metric() records it and finish() fails.
fails=0
missing_metrics="$tmp/missing-metrics"
: >"$missing_metrics"

check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

expect_exit() {  # expect_exit CODE CMD... ; stdout in $tmp/out, stderr in $tmp/err
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  exit $got, wanted $want: $*"; head -5 "$tmp/err"; return 1; }
}

all() {  # all 'COND' 'COND' ... : true when every condition (a shell command line) holds;
  # a check of several conditions must use it: `check NAME [ a ] && [ b ]` checks only [ a ]
  local c
  for c in "$@"; do eval "$c" || return 1; done
}

wait_until() {  # wait_until SECONDS CMD... : polls every 0.2 s
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.2; done
}

get_json() {  # get_json HOST:PORT PATH JQ-FILTER : prints the filter's value, fails if null/absent
  "$bin" rpc --url "$1" GET "$2" 2>/dev/null | jq -er "$3" 2>/dev/null
}

metric() {  # metric HOST:PORT TILE COUNTER : the counter summed over tiles named TILE*
  local v
  v=$("$bin" rpc --url "$1" GET /metrics 2>/dev/null |
    awk -v n="riptide_tile_$3" -v t="$2" '$1 ~ "^"n"[{]" && $1 ~ "tile=\""t {s += $2; found = 1} END {if (found) print s}')
  if [ -z "$v" ]; then
    echo "$2.$3 at $1" >>"$missing_metrics"
    return 1
  fi
  echo "$v"
}

cluster() {  # cluster up|down|start-node|kill-node ... : tools/cluster.sh on $tmp/c, offset $off
  RIPTIDE_BIN=$bin "$root/tools/cluster.sh" "$1" --dir "$tmp/c" --port-offset "$off" "${@:2}"
}
rpc() { echo "127.0.0.1:$((11000 + off + $1))"; }  # rpc NODE : its HTTP address
slot_of() { get_json "$(rpc "$1")" /slot .slot; }
slot_at_least() { local s; s=$(slot_of "$1") && [ "$s" -ge "$2" ]; }  # slot_at_least NODE SLOT

slot_field() { get_json "$(rpc "$1")" /slot ".$2 // -1"; }  # slot_field NODE FIELD : -1 when null
sample_slots() {  # sample_slots FILE PHASE NODE... : a line "PHASE NODE processed confirmed finalized root" per node
  local file=$1 phase=$2 i; shift 2
  for i in "$@"; do
    get_json "$(rpc "$i")" /slot '"\(.processed // -1) \(.confirmed // -1) \(.finalized // -1) \(.root // -1)"' |
      sed "s/^/$phase $i /" >>"$file"
  done
}
went_back() {  # went_back FILE : how often a node's confirmed or finalized slot was lower than in its sample before
  awk '{ if (($2 in c) && ($4 < c[$2] || $5 < f[$2])) n++; c[$2] = $4; f[$2] = $5 } END { print n + 0 }' "$1"
}
validator_ids() {  # validator_ids GENESIS : each validator's pubkey, node order, one per line
  awk '/^\[\[validators\]\]/ {v++} v > 0 && /^pubkey/ {gsub(/"/, "", $3); print $3}' "$1"
}
skip_unless_partition_tools() {  # tools/cluster.sh partition needs root and nft
  if [ "$(id -u)" -ne 0 ] || ! command -v nft >/dev/null; then
    echo "SKIP: the partition needs root and nft"
    exit 77
  fi
}

finish() {  # the last line of a test
  if [ -s "$missing_metrics" ]; then
    echo "FAIL counters read but not exported: $(sort -u "$missing_metrics" | tr '\n' ' ')"
    fails=$((fails + 1))
  fi
  echo "$fails check(s) failed"
  [ "$fails" -eq 0 ]
}
