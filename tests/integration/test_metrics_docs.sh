#!/usr/bin/env bash
# The counters docs/operations.md lists ("Counter reference") against what running nodes
# export on GET /metrics, both ways:
#   - every counter the docs list for a block is exported by that block (a missing counter
#     fails; nothing is read as 0), and every counter a block exports is in the docs
#   - every block a node exports is documented (links also by name), and every documented
#     block is exported by at least one of the nodes here
#   - a counter documented as one reason's (parse_error `x`, drop_reason `x`, ...) is named
#     after that reason by the rule the tile uses
# The nodes: a two-node cluster (node 0 leads, node 1 follows), a validator of a two-node
# rotating cluster, and a standalone node with the load tile (a cluster's followers could
# not replay the load signers' transfers: their funding
# is not in the genesis).
set -uo pipefail
bin=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
docs=$root/docs/operations.md
tmp=$(mktemp -d)
off=900
load_pid=
cleanup() {
  if [ -n "$load_pid" ]; then
    kill "$load_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$load_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$load_pid" 2>/dev/null
  fi
  RIPTIDE_BIN=$bin "$root/tools/cluster.sh" down --dir "$tmp/c" >/dev/null 2>&1
  RIPTIDE_BIN=$bin "$root/tools/cluster.sh" down --dir "$tmp/v" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- 1. the documented names: "<kind> <block> <counter>" and "linkname <link>" lines
# Grammar of the section: "### <kind> `<block>`" headings (kind tile, link or core), then
# tables whose header row starts "| counter |" (counters) or "| link |" (link names); every
# row of such a table starts with a backquoted name. Anything else that looks like a table
# row or a block heading there is an error, so a reshaped page cannot silently check nothing.
awk -v out="$tmp/doc.txt" -v errs="$tmp/doc_errors.txt" '
  function err(msg) { print "docs/operations.md:" NR ": " msg > errs }
  /^## / { in_ref = ($0 == "## Counter reference"); kind = ""; table = ""; next }
  !in_ref { next }
  /^### / {
    table = ""
    if (match($0, /^### (tile|link|core) `[^`]+`/)) {
      split(substr($0, 5, RLENGTH - 4), h, " ")
      kind = h[1]; block = h[2]; gsub(/`/, "", block)
      blocks++
    } else { err("heading not of the form ### <kind> `<block>`: " $0); kind = "" }
    next
  }
  /^\| *counter *\|/ { table = "counter"; next }
  /^\| *link *\|/ { table = "link"; next }
  /^\|[-| ]*$/ { next }
  /^\|/ {
    if (kind == "" || table == "") { err("table row outside a block'"'"'s counter or link table: " $0); next }
    if (!match($0, /^\| `[^`]+` \|/)) { err("row does not start with a backquoted name: " $0); next }
    name = substr($0, 4, RLENGTH - 6)
    if (table == "link") { print "linkname", name > out; next }
    print kind, block, name > out
    # "parse_error `x`" and the like: the counter must be named after the reason.
    if (match($0, /\| (parse_error|drop_reason|insert_result|replay_error) `[^`]+`/)) {
      split(substr($0, RSTART + 2, RLENGTH - 2), r, " ")
      reason = r[2]; gsub(/`/, "", reason)
      prefix = r[1] == "parse_error" ? "parse_" : r[1] == "drop_reason" ? "drop_" : r[1] == "insert_result" ? "asm_" : "dead_"
      want = prefix reason
      if (r[1] == "parse_error") {
        gsub(/truncated/, "trunc", want); gsub(/instruction/, "ix", want); gsub(/account/, "acct", want)
        gsub(/readonly/, "ro", want); gsub(/index/, "idx", want)
      }
      if (name != want) err("counter " name " is documented for " r[1] " " reason ", which is counted as " want)
    }
    next
  }
  { if (table != "" && $0 != "") table = "" }
  END { if (blocks == 0) err("no \"## Counter reference\" section with block headings") }
' "$docs"
touch "$tmp/doc.txt" "$tmp/doc_errors.txt"
parsed=no
[ ! -s "$tmp/doc_errors.txt" ] && [ -s "$tmp/doc.txt" ] && parsed=yes
check "the counter reference parses ($(grep -vc '^linkname' "$tmp/doc.txt") counters, $(grep -c '^linkname' "$tmp/doc.txt") link names)" \
  [ "$parsed" = yes ]
sed 's/^/    /' "$tmp/doc_errors.txt"
dups=$(sort "$tmp/doc.txt" | uniq -d)
check "no name is documented twice in one block" [ -z "$dups" ]
[ -z "$dups" ] || echo "$dups" | sed 's/^/    /'

# ---- 2. the nodes
RIPTIDE_BIN=$bin "$root/tools/cluster.sh" up 2 --staked 1 --dir "$tmp/c" --port-offset $off -- --set layout.pin=false \
  >"$tmp/cluster.out" 2>&1 || { cat "$tmp/cluster.out"; fail "cluster up"; }
lp=$((off + 50))
"$bin" run --set node.name=metrics-docs-load --set "metrics.path=\"$tmp/load.metrics\"" --set layout.pin=false \
  --set poh.tick_us=1000 --set poh.hashes_per_tick=2000 --set poh.ticks_per_slot=8 \
  --set load.enabled=true --set load.rate_tps=200 \
  --set ledger.enabled=true --set ledger.dir="\"$tmp/load-ledger\"" --set ledger.segment_mib=8 \
  --set net.gossip_port=$((12000 + lp)) --set net.tpu_port=$((13000 + lp)) --set net.tvu_port=$((14000 + lp)) \
  --set net.repair_port=$((15000 + lp)) --set net.tpu_forwards_port=$((16000 + lp)) \
  --set rpc.port=$((11000 + lp)) >"$tmp/load.out" 2>&1 &
load_pid=$!
# Two validators of a rotating cluster (forward tile, own shreds, resets).
vo=$((off + 70))
RIPTIDE_BIN=$bin "$root/tools/cluster.sh" up 2 --staked 0 --dir "$tmp/v" --port-offset $vo -- --set layout.pin=false \
  >"$tmp/validators.out" 2>&1 || { cat "$tmp/validators.out"; fail "validators up"; }
# The four HTTP APIs: leader, follower, load node, validator.
urls=("127.0.0.1:$((11000 + off))" "127.0.0.1:$((11000 + off + 1))" "127.0.0.1:$((11000 + lp))" "127.0.0.1:$((11000 + vo))")
names=(leader follower "load node" validator)
for i in 0 1 2 3; do
  got=
  for _ in $(seq 100); do
    if "$bin" rpc --url "${urls[$i]}" GET /metrics >"$tmp/metrics-$i.txt" 2>/dev/null && [ -s "$tmp/metrics-$i.txt" ]; then
      got=1; break
    fi
    sleep 0.1
  done
  check "GET /metrics answers on the ${names[$i]} (${urls[$i]})" [ -n "$got" ]
done

# ---- 3. exported vs documented, per node and block
# "<kind> <block> <counter>" per exported line; a line of another shape is an error.
normalize() { sed -E 's/([a-z])[0-9]+/\1<N>/g'; }  # verify0 -> verify<N>, bank0>net.free -> bank<N>>net.free
seen_blocks=$tmp/seen_blocks.txt
: >"$seen_blocks"
for i in 0 1 2 3; do
  node=${names[$i]}
  f=$tmp/metrics-$i.txt
  [ -s "$f" ] || continue
  bad=$(grep -Evc '^riptide_(tile|link|core)_[a-z0-9_]+\{node="[^"]*",(tile|link|core)="[^"]*"\} [0-9]+$' "$f")
  check "$node: every /metrics line is riptide_<kind>_<counter>{node=..,<kind>=..} <value>" [ "$bad" -eq 0 ]
  sed -E -n 's/^riptide_(tile|link|core)_([a-z0-9_]+)\{node="[^"]*",(tile|link|core)="([^"]*)"\} [0-9]+$/\1 \4 \2/p' "$f" \
    >"$tmp/exported-$i.txt"
  missing=0 undocumented=0
  while read -r kind block; do
    nblock=$(echo "$block" | normalize)
    echo "$kind $nblock" >>"$seen_blocks"
    if [ "$kind" = link ] && ! grep -qxF "linkname $nblock" "$tmp/doc.txt"; then
      fail "$node: link $block is not in the docs' list of links"
    fi
    # A link is documented by name in the list of links, its counters under link `*`.
    if [ "$kind" != link ] &&
       ! awk -v k="$kind" -v b="$nblock" '$1 == k && $2 == b {found = 1} END {exit !found}' "$tmp/doc.txt"; then
      fail "$node: $kind $block ($kind \`$nblock\`) has no block in the docs"
    fi
    # What the docs promise for this block: its own table, plus `*` for tiles and links.
    awk -v k="$kind" -v b="$nblock" '$1 == k && ($2 == b || ($2 == "*" && k != "core")) {print $3}' "$tmp/doc.txt" |
      sort -u >"$tmp/want.txt"
    awk -v k="$kind" -v b="$block" '$1 == k && $2 == b {print $3}' "$tmp/exported-$i.txt" | sort >"$tmp/have_all.txt"
    sort -u "$tmp/have_all.txt" >"$tmp/have.txt"
    if ! cmp -s "$tmp/have_all.txt" "$tmp/have.txt"; then
      fail "$node: $kind $block exports a counter name twice: $(uniq -d "$tmp/have_all.txt" | tr '\n' ' ')"
    fi
    while read -r c; do
      fail "$node: $kind $block does not export $c, which the docs list"
      missing=$((missing + 1))
    done < <(comm -23 "$tmp/want.txt" "$tmp/have.txt")
    while read -r c; do
      fail "$node: $kind $block exports $c, which the docs do not list"
      undocumented=$((undocumented + 1))
    done < <(comm -13 "$tmp/want.txt" "$tmp/have.txt")
  done < <(awk '{print $1, $2}' "$tmp/exported-$i.txt" | sort -u)
  blocks=$(awk '{print $1, $2}' "$tmp/exported-$i.txt" | sort -u | wc -l)
  counters=$(wc -l <"$tmp/exported-$i.txt")
  check "$node: $blocks blocks, $counters counters, each documented under its name ($missing missing, $undocumented undocumented)" \
    [ "$((missing + undocumented))" -eq 0 -a "$blocks" -gt 0 ]
done

# ---- 4. nothing documented that no node exports
sort -u "$seen_blocks" -o "$seen_blocks"
never=0
while read -r kind block; do
  [ "$block" = "*" ] && continue
  if ! grep -qxF "$kind $block" "$seen_blocks"; then
    fail "the docs list $kind \`$block\`, which none of the nodes exports"
    never=$((never + 1))
  fi
done < <(grep -v '^linkname' "$tmp/doc.txt" | awk '{print $1, $2}' | sort -u)
while read -r _ link; do
  if ! grep -qxF "link $link" "$seen_blocks"; then
    fail "the docs list link \`$link\`, which none of the nodes exports"
    never=$((never + 1))
  fi
done < <(grep '^linkname' "$tmp/doc.txt")
check "every documented block and link is exported by a node ($never not)" [ "$never" -eq 0 ]

if [ "$fails" -ne 0 ]; then
  echo "--- cluster"; cat "$tmp/cluster.out"
  echo "--- load node"; tail -5 "$tmp/load.out"
fi
echo "$fails failed"
[ "$fails" -eq 0 ]
