#pragma once
// `riptide ledger verify` and `riptide ledger show`: offline checks of a ledger directory.
//
// Contract
//   - verify_ledger opens the ledger with every segment's checksums checked, then replays
//     the whole PoH chain from the chain-start record: every entry's hashes (several chains
//     at once per core, `threads` cores), hashes per tick, tick heights and every slot-end
//     record's hash. It stops at the first problem and says where (slot, record, why).
//   - `progress` is called with the fraction done (0..1) now and then; it may print.
//   - Nothing here throws for a bad ledger: problems come back in the result. I/O errors that
//     prevent opening are reported the same way.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>

namespace riptide::node {

struct ledger_verify_result {
  bool ok = false;
  std::string error;  // empty when ok
  std::uint64_t records = 0;
  std::uint64_t entries = 0;
  std::uint64_t ticks = 0;
  std::uint64_t hashes = 0;
  std::uint64_t slots = 0;
};

ledger_verify_result verify_ledger(const std::filesystem::path& dir, unsigned threads,
                                   const std::function<void(double)>& progress);

// Prints the slot's records and entries; returns false (and prints why) if absent or bad.
bool show_ledger_slot(const std::filesystem::path& dir, std::uint64_t slot, std::ostream& out);

}  // namespace riptide::node
