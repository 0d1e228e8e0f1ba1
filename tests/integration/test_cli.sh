#!/usr/bin/env bash
# End-to-end checks of the riptide binary: subcommands, exit codes, a short node run and a
# live monitor attached to it.
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
expect_exit() {  # expect_exit CODE CMD...
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  exit $got, wanted $want: $*"; cat "$tmp/err"; return 1; }
}

check "version" expect_exit 0 "$bin" version
check "version names sha256 backend" grep -q 'sha256:' "$tmp/out"
check "help" expect_exit 0 "$bin" run --help
check "no subcommand is a usage error" expect_exit 2 "$bin"
check "unknown option is a usage error" expect_exit 2 "$bin" run --bogus

# keygen: 0600, refuses to overwrite, --force overwrites.
check "keygen" expect_exit 0 "$bin" keygen -o "$tmp/id.key"
check "key file mode 0600" [ "$(stat -c %a "$tmp/id.key")" = "600" ]
check "keygen refuses to overwrite" expect_exit 1 "$bin" keygen -o "$tmp/id.key"
check "overwrite error names the path" grep -q "$tmp/id.key" "$tmp/err"
check "keygen --force" expect_exit 0 "$bin" keygen -o "$tmp/id.key" --force

# config: defaults load back; unknown keys and bad values exit 2 naming the key.
check "config --defaults" expect_exit 0 "$bin" config --defaults
cp "$tmp/out" "$tmp/defaults.toml"
check "defaults file checks clean" expect_exit 0 "$bin" config --check "$tmp/defaults.toml"
printf '[poh]\nhashes_per_tik = 3\n' >"$tmp/typo.toml"
check "unknown key exits 2" expect_exit 2 "$bin" run --config "$tmp/typo.toml" --seconds 1
check "unknown key is named" grep -q 'poh.hashes_per_tik: unknown key' "$tmp/err"
printf '[verify]\ntiles = "two"\n' >"$tmp/badval.toml"
check "bad value exits 2" expect_exit 2 "$bin" config --check "$tmp/badval.toml"
check "bad value is named" grep -q 'verify.tiles' "$tmp/err"
check "bad override exits 2" expect_exit 2 "$bin" run --set poh.ticks_per_slot=0 --seconds 1
check "bad override is named" grep -q 'poh.ticks_per_slot' "$tmp/err"

# Unsigned options take decimal digits only: a negative number is a usage error, not 2^64-5.
"$bin" keygen -o "$tmp/payer.key" >/dev/null
to=$("$bin" keygen -o "$tmp/to.key" | sed -n 's/^pubkey //p')
check "transfer --lamports -5 exits 2" expect_exit 2 "$bin" transfer --from "$tmp/payer.key" --to "$to" --lamports -5 --print
check "  naming the option" grep -q -- '--lamports' "$tmp/err"
check "  and prints no transaction" [ ! -s "$tmp/out" ]
check "transfer --lamports 0x10 exits 2" expect_exit 2 "$bin" transfer --from "$tmp/payer.key" --to "$to" --lamports 0x10 --print
check "genesis --nodes -1 exits 2" expect_exit 2 "$bin" genesis -o "$tmp/neg" --nodes -1
check "  and writes nothing" [ ! -e "$tmp/neg" ]
check "run --seconds -1 exits 2" expect_exit 2 "$bin" run --seconds -1
check "ledger show --slot -1 exits 2" expect_exit 2 "$bin" ledger show "$tmp" --slot -1
check "bench-tps --accounts -4 exits 2" expect_exit 2 "$bin" bench-tps --faucet-key "$tmp/payer.key" --accounts -4
# The leader schedule from a genesis file: 4 equal validators, facts read from --json.
check "genesis of 4 staked validators" expect_exit 0 "$bin" genesis -o "$tmp/g4" --nodes 4 --staked 0
check "leader-schedule --json" expect_exit 0 "$bin" leader-schedule --genesis "$tmp/g4/genesis.toml" --json --count 8
cp "$tmp/out" "$tmp/sched.json"
per_epoch=$(jq -r .slots_per_epoch "$tmp/sched.json")
check "  group_leaders covers the epoch in 4-slot groups" \
  [ "$(jq '.group_leaders | length' "$tmp/sched.json")" -eq $(( (per_epoch + 3) / 4 )) ]
check "  every slot is led, by one of the 4 validators" \
  [ "$(jq --argjson n "$per_epoch" '([.validators[].slots] | add) == $n and (.validators | length) == 4' \
        "$tmp/sched.json")" = true ]
check "  slots 0-7 listed, each by the leader group_leaders names" \
  [ "$(jq '[.slots[] as $s | (.validators[.group_leaders[$s.slot / 4 | floor]].id == $s.leader)] | all and length == 8' \
        "$tmp/sched.json")" = true ]
check "leader-schedule text lists spans" expect_exit 0 "$bin" leader-schedule --genesis "$tmp/g4/genesis.toml" --epoch 1 --count 4
check "  of epoch 1" grep -q "^epoch 1: slots $per_epoch-" "$tmp/out"
sed 's/^stake = .*/stake = 0/' "$tmp/g4/genesis.toml" >"$tmp/unstaked.toml"
check "leader-schedule of a genesis without stake exits 2" \
  expect_exit 2 "$bin" leader-schedule --genesis "$tmp/unstaked.toml"
check "  saying why" grep -q "no validator has stake" "$tmp/err"

# A short run with its own metrics file; a monitor reads it while it runs.
metrics="$tmp/m.metrics"
"$bin" run --seconds 4 --summary-json "$tmp/run.json" --set node.name=itest --set "metrics.path=\"$metrics\"" \
  --set poh.tick_us=1000 --set poh.hashes_per_tick=2000 --set poh.ticks_per_slot=8 \
  --set load.enabled=true --set load.rate_tps=500 --set layout.pin=false \
  --set ledger.enabled=true --set ledger.dir="\"$tmp/ledger\"" --set ledger.segment_mib=8 \
  --set net.gossip_port=12990 --set net.tpu_port=13990 --set rpc.port=11990 \
  --set rpc.max_batch_body_bytes=1024 >"$tmp/run.out" 2>"$tmp/run.err" &
node_pid=$!
for _ in $(seq 50); do [ -f "$metrics" ] && break; sleep 0.1; done
sleep 0.5
# rpc.max_batch_body_bytes reaches the HTTP API: 1 signature (~150 bytes) is answered, 8 (~1.1 KB)
# get a 400 with an error object.
for _ in $(seq 50); do "$bin" rpc --url 127.0.0.1:11990 GET /health >/dev/null 2>&1 && break; sleep 0.1; done
sig=$(printf 'ab%.0s' $(seq 64))
sigs() { local s="\"$sig\""; for _ in $(seq 2 "$1"); do s="$s, \"$sig\""; done; echo "{\"signatures\": [$s]}"; }
check "POST /tx/status under rpc.max_batch_body_bytes is answered" expect_exit 0 "$bin" rpc --url 127.0.0.1:11990 POST /tx/status "$(sigs 1)"
check "POST /tx/status over rpc.max_batch_body_bytes gets 400" expect_exit 1 "$bin" rpc --url 127.0.0.1:11990 POST /tx/status "$(sigs 8)"
check "the 400 is the API's error object" grep -q '^  "error": ' "$tmp/out"
"$bin" monitor --path "$metrics" --count 2 >"$tmp/mon.out" 2>"$tmp/mon.err"
mon_rc=$?
wait "$node_pid"
node_rc=$?
check "node run exits 0" [ "$node_rc" -eq 0 ]
check "monitor exits 0" [ "$mon_rc" -eq 0 ]
check "monitor shows the poh tile's hashes" grep -q '^poh .*hashes=' "$tmp/mon.out"
check "monitor shows verify tile" grep -q '^verify0 .*verified=' "$tmp/mon.out"
check "monitor shows a link" grep -q '^net>verify0 .*pushed=.*depth=' "$tmp/mon.out"
check "monitor shows the bank tile" grep -q '^bank0 .*executed=' "$tmp/mon.out"
check "live lines printed" [ "$(grep -c '^\[ ' "$tmp/run.out")" -ge 3 ]
# The run's figures, from its --summary-json file.
summary() { jq -e "$1" "$tmp/run.json" 2>/dev/null; }
slots=$(summary .slots_produced)
check "slots were produced (${slots:-none})" [ "${slots:-0}" -ge 10 ]
verified=$(summary .tx_verified)
check "transactions were verified (${verified:-none})" [ "${verified:-0}" -ge 500 ]
executed=$(summary .tx_executed)
check "transactions were executed (${executed:-none})" [ "${executed:-0}" -ge 400 ]
check "pipeline drained" [ "$(summary .drained_cleanly)" = true ]
# Every tile's counters at exit, the same as the summary's: the bank executed what it says.
tile_executed=$(summary '[.tiles | to_entries[] | select(.key | startswith("bank")) | .value.executed] | add')
check "the tiles' counters agree with the summary (${tile_executed:-none} executed)" \
  [ -n "$tile_executed" ] && [ "$tile_executed" = "$executed" ]
check "the poh tile's hashes are there" [ "$(summary .tiles.poh.hashes)" = "$(summary .hashes)" ]
check "metrics file removed at exit" [ ! -e "$metrics" ]

# genesis writes a cluster: keys 0600, configs that validate, distinct shred versions.
check "genesis" expect_exit 0 "$bin" genesis -o "$tmp/c1" --nodes 3 --port-offset 100
check "genesis files" [ -f "$tmp/c1/genesis.toml" -a -f "$tmp/c1/node-2.toml" ]
check "genesis key mode 0600" [ "$(stat -c %a "$tmp/c1/node-1.key")" = "600" ]
check "node config validates" expect_exit 0 "$bin" config --check "$tmp/c1/node-1.toml"
check "node 1 joins through node 0" grep -q 'entrypoints = \["127.0.0.1:12100"\]' "$tmp/c1/node-1.toml"
check "genesis refuses to overwrite" expect_exit 1 "$bin" genesis -o "$tmp/c1" --nodes 3
check "genesis --force" expect_exit 0 "$bin" genesis -o "$tmp/c1" --nodes 3 --force
check "bad --nodes is a usage error" expect_exit 2 "$bin" genesis -o "$tmp/c2" --nodes 0
check "rpc to a closed port fails" expect_exit 1 "$bin" rpc --url 127.0.0.1:1 GET /health
if [ "$fails" -ne 0 ]; then
  echo "--- run output"; cat "$tmp/run.out" "$tmp/run.err"; echo "--- monitor"; cat "$tmp/mon.out" "$tmp/mon.err"
fi
echo "$fails check(s) failed"
[ "$fails" -eq 0 ]
