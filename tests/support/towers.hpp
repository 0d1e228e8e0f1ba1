#pragma once
// A tower that voted for the given slots in order (consensus/tower.hpp's rules: expiry,
// doubling, a root pushed out of the bottom). Tests only.

#include <riptide/consensus/tower.hpp>

#include <cstdint>
#include <vector>

namespace riptide::testing {

inline consensus::tower voted(const std::vector<std::uint64_t>& slots) {
  consensus::tower t;
  for (const auto s : slots) (void)t.record_vote(s);
  return t;
}

}  // namespace riptide::testing
