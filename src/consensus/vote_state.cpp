#include <riptide/consensus/vote_state.hpp>

namespace riptide::consensus {

const char* to_string(vote_error e) noexcept {
  switch (e) {
    case vote_error::none: return "none";
    case vote_error::not_newer: return "not_newer";
    case vote_error::root_went_back: return "root_went_back";
    case vote_error::slot_not_on_fork: return "slot_not_on_fork";
    case vote_error::hash_mismatch: return "hash_mismatch";
  }
  return "?";
}

vote_error check_tower_sync(const tower& current, const tower_sync& vote, const slot_hashes& fork) noexcept {
  const auto newest = vote.votes.last_voted_slot();
  if (!newest) return vote_error::slot_not_on_fork;  // a parsed vote always has one
  if (const auto last = current.last_voted_slot(); last && *newest <= *last) return vote_error::not_newer;
  if (current.root() && (!vote.votes.root() || *vote.votes.root() < *current.root())) return vote_error::root_went_back;
  const std::uint64_t oldest = fork.oldest_slot();
  for (const lockout& l : vote.votes.votes())
    if (l.slot >= oldest && !fork.bank_hash_of(l.slot)) return vote_error::slot_not_on_fork;
  if (*newest < oldest) return vote_error::slot_not_on_fork;
  if (*fork.bank_hash_of(*newest) != vote.bank_hash) return vote_error::hash_mismatch;
  return vote_error::none;
}

}  // namespace riptide::consensus
