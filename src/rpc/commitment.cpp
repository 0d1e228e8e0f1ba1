#include <riptide/rpc/commitment.hpp>

namespace riptide::rpc {

const char* to_string(commitment level) noexcept {
  switch (level) {
    case commitment::processed: return "processed";
    case commitment::confirmed: return "confirmed";
    case commitment::finalized: return "finalized";
  }
  return "?";
}

std::optional<commitment> commitment_from_name(std::string_view name) noexcept {
  for (const commitment c : {commitment::processed, commitment::confirmed, commitment::finalized})
    if (name == to_string(c)) return c;
  return std::nullopt;
}

commitment commitment_of(std::uint64_t slot, const bank::chain_status& chain) noexcept {
  if (chain.has_root_slot && slot <= chain.root_slot) {
    if (chain.has_finalized_slot && slot <= chain.finalized_slot) return commitment::finalized;
    if (chain.has_confirmed_slot && slot <= chain.confirmed_slot) return commitment::confirmed;
    return commitment::processed;
  }
  if (chain.has_confirmed_slot && chain.has_confirmed_fork && chain.fork.has(slot)) return commitment::confirmed;
  return commitment::processed;
}

}  // namespace riptide::rpc
