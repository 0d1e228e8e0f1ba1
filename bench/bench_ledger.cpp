// Ledger benchmarks (results and machine in perf/ledger.md).
//
//   BM_ledger_append/<payload bytes>     append to 256 MiB segments (page cache, no sync)
//   BM_memcpy_reference/<payload bytes>  the same bytes memcpy'd into fresh, preallocated
//                                        256 MiB mmap'd files: the ceiling for append
//   BM_ledger_reopen/mib:<M>/verify_all:<0|1>
//                                        open + verify + index a ledger of that size (page
//                                        cache warm, 4 KiB records); 256 MiB by default,
//                                        also 1024 MiB (last segment CRC-checked, or all)
//                                        when RIPTIDE_BENCH_LEDGER_GIB=1 is set
//
// Both append benchmarks roll to a new file every 256 MiB (that cost is part of appending)
// and throw the directory away every 1 GiB (outside the timing) to bound disk use.

#include <riptide/ledger/ledger.hpp>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace riptide::ledger;

constexpr std::size_t bench_segment_bytes = std::size_t{256} << 20;
constexpr std::size_t discard_after_bytes = std::size_t{1} << 30;

fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "riptide-bench-ledger-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::vector<std::uint8_t> make_payload(std::size_t n) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 131 + 7);
  return p;
}

void BM_ledger_append(benchmark::State& state) {
  const auto payload = make_payload(static_cast<std::size_t>(state.range(0)));
  const fs::path dir = make_temp_dir();
  ledger_config config;
  config.dir = dir / "l";
  config.segment_bytes = bench_segment_bytes;
  std::optional<ledger> l;
  l.emplace(ledger::open(config));
  std::uint64_t slot = 0;
  std::uint64_t records = 0;
  std::uint64_t failures = 0;
  std::uint64_t written = 0;  // stats() is a copy (syncs are counted by the syncer): not per append
  for (auto _ : state) {
    if (l->append(record_type::shred, slot, payload) != append_error::none) ++failures;
    slot += (++records & 63) == 0;
    written += encoded_record_bytes(payload.size());
    if (written >= discard_after_bytes) {
      written = 0;
      state.PauseTiming();
      l.reset();
      fs::remove_all(config.dir);
      l.emplace(ledger::open(config));
      state.ResumeTiming();
    }
  }
  l.reset();
  fs::remove_all(dir);
  if (failures != 0) state.SkipWithError("append failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_ledger_append)->Arg(256)->Arg(4096);

// A fresh preallocated, mapped file of bench_segment_bytes, like a ledger segment.
struct mapped_file {
  int fd = -1;
  std::uint8_t* base = nullptr;
  void open(const fs::path& p) {
    fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::posix_fallocate(fd, 0, bench_segment_bytes) != 0)
      throw std::runtime_error("cannot create " + p.string());
    void* m = ::mmap(nullptr, bench_segment_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) throw std::runtime_error("cannot mmap " + p.string());
    base = static_cast<std::uint8_t*>(m);
  }
  void close() {
    if (base != nullptr) ::munmap(base, bench_segment_bytes);
    if (fd >= 0) ::close(fd);
    base = nullptr;
    fd = -1;
  }
};

void BM_memcpy_reference(benchmark::State& state) {
  const auto payload = make_payload(static_cast<std::size_t>(state.range(0)));
  const fs::path dir = make_temp_dir();
  mapped_file f;
  std::uint64_t file_number = 0;
  f.open(dir / std::to_string(file_number));
  std::size_t off = 0;
  for (auto _ : state) {
    if (off + payload.size() > bench_segment_bytes) {
      f.close();
      if (++file_number * bench_segment_bytes >= discard_after_bytes) {
        state.PauseTiming();
        for (std::uint64_t i = 0; i < file_number; ++i) fs::remove(dir / std::to_string(i));
        file_number = 0;
        state.ResumeTiming();
      }
      f.open(dir / std::to_string(file_number));
      off = 0;
    }
    std::memcpy(f.base + off, payload.data(), payload.size());
    benchmark::DoNotOptimize(f.base + off);
    off += payload.size();
  }
  f.close();
  fs::remove_all(dir);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_memcpy_reference)->Arg(256)->Arg(4096);

void BM_ledger_reopen(benchmark::State& state) {
  const std::size_t target_bytes = static_cast<std::size_t>(state.range(0)) << 20;
  const auto payload = make_payload(4096);
  const fs::path dir = make_temp_dir();
  ledger_config config;
  config.dir = dir / "l";
  config.segment_bytes = bench_segment_bytes;
  std::uint64_t records = 0;
  {
    auto l = ledger::open(config);
    // Fill to ~98 % of target_bytes so the last segment is nearly full, close to the worst
    // case for the checksum scan.
    const std::size_t record_bytes = encoded_record_bytes(payload.size());
    while (l.stats().bytes + record_bytes <= target_bytes - target_bytes / 64) {
      if (l.append(record_type::shred, records / 64, payload) != append_error::none) break;
      ++records;
    }
    (void)l.sync();
  }
  config.verify_all_checksums_on_open = state.range(1) != 0;
  for (auto _ : state) {
    auto l = ledger::open(config);
    if (l.stats().records != records) state.SkipWithError("record count mismatch");
    benchmark::DoNotOptimize(l.slot_index().data());
  }
  fs::remove_all(dir);
  state.counters["records"] = static_cast<double>(records);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(target_bytes));
}

void register_reopen() {
  auto* b = benchmark::RegisterBenchmark("BM_ledger_reopen", BM_ledger_reopen);
  b->ArgNames({"mib", "verify_all"});
  b->Args({256, 0});
  const char* gib = std::getenv("RIPTIDE_BENCH_LEDGER_GIB");
  if (gib != nullptr && std::strcmp(gib, "1") == 0) b->Args({1024, 0})->Args({1024, 1});
  b->Unit(benchmark::kMillisecond)->Iterations(5);
}
const int registered = (register_reopen(), 0);

}  // namespace

BENCHMARK_MAIN();
