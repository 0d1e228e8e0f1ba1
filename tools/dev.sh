#!/usr/bin/env bash
# riptide developer entry point.
#
#   tools/dev.sh start   install what is missing, build, run 4 equal-stake validators on
#                        loopback: gossip converges, a key set on one node reaches the
#                        others, they take turns to lead while transfers go round-robin to
#                        all of them; ledgers compared at the end (tools/demo.sh)
#   tools/dev.sh node    one node with PoH and a synthetic verify pipeline for a bounded
#                        time (RIPTIDE_START_SECONDS, default 20), live rates
#   tools/dev.sh test    install what is missing, build (release), run every test suite,
#                        the ThreadSanitizer contention tests, and every suite again under
#                        ASan+UBSan; prints the time of each part and "N passed, N failed"
#   tools/dev.sh bench   build and run the benchmarks, JSON to perf/results/
#   tools/dev.sh tsan    only the ThreadSanitizer contention tests (build-tsan/)
#   tools/dev.sh asan    only the unit and integration tests under AddressSanitizer and
#                        UndefinedBehaviorSanitizer (build-asan/)
#   tools/dev.sh stress [ARGS]  build, then the packet-loss stress test at 0 %, 20 % and 50 %
#                        loss (6 nodes, fanout 2; ARGS go to each tools/stress-loss.sh run,
#                        e.g. --rotation: all staked, every node leads in turn; --kernel)
#   tools/dev.sh consensus [RUNS]  build (release), then each consensus scenario (4 equal
#                        nodes and a kill, a validator restarted in its own slots, the 2/2
#                        and the 3/2 partition) RUNS times in a row (default 5), each
#                        scenario stopping at its first failure; prints each run's time and
#                        "scenario: N of RUNS"; fails unless every run passed
#   tools/dev.sh fuzz [SECONDS]  build libFuzzer targets with clang and run each (default 60 s)
#   tools/dev.sh deps    only install missing Debian packages
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${RIPTIDE_BUILD_DIR:-build}

packages=(
  build-essential meson ninja-build pkg-config
  liburing-dev libsecp256k1-dev libxxhash-dev libisal-dev
  libbenchmark-dev libgtest-dev libtomlplusplus-dev libcli11-dev
  libcpp-httplib-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libssl-dev bc nftables iproute2 jq
)
fuzz_packages=(clang libclang-rt-14-dev)

log() { printf '==> %s\n' "$*" >&2; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure DIR BUILDTYPE [meson options...]
configure() {
  local dir=$1 buildtype=$2; shift 2
  local werror=false
  [ -n "${CI:-}" ] && werror=true
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" -Dbuildtype="$buildtype" -Dwerror=$werror "$@" >/dev/null
  else
    log "configuring $dir"
    meson setup "$dir" -Dbuildtype="$buildtype" -Dwerror=$werror "$@" >"$dir.setup.log" 2>&1 ||
      { cat "$dir.setup.log" >&2; rm -f "$dir.setup.log"; return 1; }
    rm -f "$dir.setup.log"
  fi
}

build_release() {
  install_missing "${packages[@]}"
  configure "$build" release
  log "building ($build)"
  ninja -C "$build"
}

# Runs `meson test` in $1 with the remaining args; adds its counts to the totals.
total_pass=0; total_fail=0; total_skip=0
run_meson_tests() {
  local dir=$1; shift
  local out rc=0
  out=$(mktemp)
  meson test -C "$dir" --no-rebuild --print-errorlogs "$@" 2>&1 | tee "$out" || rc=$?
  local ok fail skip timeout exp unexp
  ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  exp=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  unexp=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  timeout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$out" | tail -1)
  rm -f "$out"
  total_pass=$((total_pass + ${ok:-0} + ${exp:-0}))
  total_fail=$((total_fail + ${fail:-0} + ${unexp:-0} + ${timeout:-0}))
  total_skip=$((total_skip + ${skip:-0}))
  if [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ] && [ "${timeout:-0}" -eq 0 ]; then
    total_fail=$((total_fail + 1))  # meson itself failed
  fi
}

tsan_tests=(util/spsc_ring util/runtime net/contact_book bank/bank_forks tpu/bank_gate tpu/dedup_tile net/net_tile bank/tx_status ledger/ledger tpu/ledger_tile tpu/bank_tile bank/chain_board net/tx_sender ledger/background_sync tpu/shred_tile tpu/load_tile gossip/gossip_tile tvu/replay_tile tvu/tvu_tile)
run_tsan() {
  install_missing "${packages[@]}"
  configure build-tsan debugoptimized -Dtsan=true -Dbenchmarks=false
  log "building ThreadSanitizer contention tests (build-tsan)"
  local targets=()
  for t in "${tsan_tests[@]}"; do targets+=("tests/test_${t#*/}"); done
  ninja -C build-tsan "${targets[@]}"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_meson_tests build-tsan "${tsan_tests[@]}"
}

# Every unit and integration test again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/); any report fails the test that triggered it.
run_asan() {
  install_missing "${packages[@]}"
  # -O1 with line tables only: the sanitizers' own guidance for speed with usable reports,
  # and a third less compile time than -O2 -g on two cores.
  configure build-asan plain -Db_sanitize=address,undefined -Dbenchmarks=false "-Dcpp_args=-O1 -g1"
  log "building with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
  ninja -C build-asan
  log "running unit and integration tests under ASan/UBSan"
  # The suite release_only (see tests/integration/meson.build) is too slow under the sanitizers.
  ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    run_meson_tests build-asan --timeout-multiplier 3 --no-suite release_only
}

# Wall-clock seconds of one step, for the summary line of `test`.
timed() {
  local name=$1 t0=$SECONDS; shift
  "$@"
  timings+=("$name $((SECONDS - t0)) s")
}
timings=()

cmd=${1:-}
case "$cmd" in
  deps)
    install_missing "${packages[@]}"
    ;;
  test)
    timed "release build" build_release
    log "running unit and integration tests"
    timed "release tests" run_meson_tests "$build"
    timed "tsan build+tests" run_tsan
    timed "asan/ubsan build+tests" run_asan
    log "time per part: $(IFS=';'; echo "${timings[*]}")"
    echo "${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
    [ "$total_fail" -eq 0 ]
    ;;
  asan)
    run_asan
    echo "${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
    [ "$total_fail" -eq 0 ]
    ;;
  tsan)
    run_tsan
    echo "${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
    [ "$total_fail" -eq 0 ]
    ;;
  start)
    build_release
    RIPTIDE_BIN="$root/$build/src/app/riptide" exec tools/demo.sh "${@:2}"
    ;;
  node)
    build_release
    seconds=${RIPTIDE_START_SECONDS:-20}
    log "starting one node for ${seconds}s (Ctrl-C stops it early); watch it live from another"
    log "terminal with: $build/src/app/riptide monitor"
    # A fresh ledger each time; the load tile sends signed transfers to the node's own tpu port.
    ledger_dir=${RIPTIDE_LEDGER_DIR:-/tmp/riptide-node-ledger}
    rm -rf "$ledger_dir"
    "$build/src/app/riptide" run --seconds "$seconds" --set load.enabled=true \
      --set ledger.enabled=true --set "ledger.dir=\"$ledger_dir\"" "${@:2}"
    log "re-verifying the ledger it wrote ($ledger_dir)"
    exec "$build/src/app/riptide" ledger verify "$ledger_dir"
    ;;
  stress)
    build_release
    status=0
    for loss in 0 0.2 0.5; do
      RIPTIDE_BIN="$root/$build/src/app/riptide" tools/stress-loss.sh --loss "$loss" \
        --dir "/tmp/riptide-stress-$loss" "${@:2}" || status=1
    done
    exit "$status"
    ;;
  consensus)
    runs=${2:-5}
    [[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "tools/dev.sh consensus: RUNS must be a positive number, got '$runs'" >&2; exit 2; }
    build_release
    status=0
    summary=()
    for scenario in consensus restart partition partition_majority; do
      passed=0
      for run in $(seq "$runs"); do
        log "$scenario: run $run of $runs"
        t0=$SECONDS
        rc=0
        # Each test bounds its own waits; 10 minutes is a hang.
        timeout 600 bash "tests/integration/test_$scenario.sh" "$root/$build/src/app/riptide" || rc=$?
        if [ "$rc" -eq 0 ]; then
          passed=$((passed + 1))
          log "$scenario: run $run passed in $((SECONDS - t0)) s"
        elif [ "$rc" -eq 77 ]; then
          log "$scenario: skipped: it needs root and nft (not a pass)"
          status=1
          break
        else
          log "$scenario: run $run FAILED after $((SECONDS - t0)) s"
          status=1
          break
        fi
      done
      summary+=("$scenario: $passed of $runs")
    done
    log "$(IFS=';'; echo "${summary[*]}")"
    exit "$status"
    ;;
  bench)
    build_release
    mkdir -p perf/results
    host=$(hostname)
    for b in "$build"/bench/bench_*; do
      [ -f "$b" ] && [ -x "$b" ] || continue
      name=$(basename "$b")
      log "running $name"
      "$b" --benchmark_out="perf/results/${name}.json" --benchmark_out_format=json \
        --benchmark_repetitions="${RIPTIDE_BENCH_REPS:-3}" --benchmark_report_aggregates_only=true \
        "${@:2}"
    done
    log "results in perf/results/ (host $host)"
    ;;
  fuzz)
    seconds=${2:-60}
    install_missing "${packages[@]}" "${fuzz_packages[@]}"
    if [ ! -f build-fuzz/build.ninja ]; then
      CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dtests=false -Dbenchmarks=false >/dev/null
    fi
    ninja -C build-fuzz tests/fuzz/fuzz_transaction tests/fuzz/fuzz_keyfile tests/fuzz/fuzz_gossip_message tests/fuzz/fuzz_ledger_record tests/fuzz/fuzz_shred tests/fuzz/fuzz_repair tests/fuzz/fuzz_vote
    for f in build-fuzz/tests/fuzz/fuzz_*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      name=$(basename "$f")
      corpus="build-fuzz/corpus/$name"
      mkdir -p "$corpus"
      log "fuzzing $name for ${seconds}s"
      "$f" -max_total_time="$seconds" -max_len=1400 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/$name-" "$corpus"
    done
    ;;
  *)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
