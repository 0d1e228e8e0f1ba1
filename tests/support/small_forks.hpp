#pragma once
// Bank forks sized for a test: `entries` accounts, versions and statuses, 8 live banks, 64
// lock stripes. Tests only.

#include <cstddef>
#include <cstdint>

#include <riptide/bank/bank_forks.hpp>

namespace riptide::testing {

inline bank::forks_config small_forks_config(std::uint64_t lamports_per_signature, std::size_t entries = 64) {
  bank::forks_config c;
  c.max_accounts = entries;
  c.max_banks = 8;
  c.max_versions = entries < 64 ? 64 : entries;
  c.max_statuses = entries < 64 ? 64 : entries;
  c.lock_stripes = 64;
  c.lamports_per_signature = lamports_per_signature;
  return c;
}

}  // namespace riptide::testing
