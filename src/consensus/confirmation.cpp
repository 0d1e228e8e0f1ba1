#include <riptide/consensus/confirmation.hpp>

#include <algorithm>
#include <stdexcept>

namespace riptide::consensus {

namespace {

bool more_than_two_thirds(std::uint64_t stake, std::uint64_t total) noexcept {
  return more_than_fraction(stake, total, threshold_numerator, threshold_denominator);
}

}  // namespace

std::optional<std::uint64_t> super_majority_root(std::span<const voter_root> voters, std::uint64_t total_stake) {
  std::vector<voter_root> rooted;
  for (const voter_root& v : voters)
    if (v.root && v.stake != 0) rooted.push_back(v);
  std::sort(rooted.begin(), rooted.end(), [](const voter_root& a, const voter_root& b) { return *a.root > *b.root; });
  std::uint64_t stake = 0;
  for (const voter_root& v : rooted) {
    stake += v.stake;
    if (more_than_two_thirds(stake, total_stake)) return v.root;
  }
  return std::nullopt;
}

confirmation_tracker::confirmation_tracker(std::uint64_t total_stake, std::size_t max_voters, std::size_t max_slots)
    : total_stake_(total_stake), max_voters_(max_voters), max_slots_(max_slots) {
  if (total_stake == 0) throw std::invalid_argument("confirmation_tracker: total_stake must be > 0");
  if (max_voters == 0) throw std::invalid_argument("confirmation_tracker: max_voters must be > 0");
  if (max_slots == 0) throw std::invalid_argument("confirmation_tracker: max_slots must be > 0");
}

bool confirmation_tracker::on_vote(std::size_t voter, std::uint64_t stake, std::span<const lockout> votes,
                                   std::optional<std::uint64_t> root) {
  if (voter >= max_voters_) return false;
  if (voter >= roots_.size()) roots_.resize(voter + 1);
  voter_root& r = roots_[voter];
  r.stake = stake;
  if (root && (!r.root || *root > *r.root)) r.root = root;
  for (const lockout& l : votes) {
    if (pruned_ && l.slot <= *pruned_) continue;
    auto it = slots_.find(l.slot);
    if (it == slots_.end()) {
      if (slots_.size() >= max_slots_) {
        if (slots_.begin()->first > l.slot) continue;  // lower than everything kept: not tracked
        slots_.erase(slots_.begin());
      }
      it = slots_.emplace(l.slot, slot_votes{}).first;
      it->second.voters.assign(max_voters_, false);
    }
    slot_votes& s = it->second;
    if (s.voters[voter]) continue;
    s.voters[voter] = true;
    s.stake += stake;
    if (!s.confirmed && more_than_two_thirds(s.stake, total_stake_)) {
      s.confirmed = true;
      newly_confirmed_.push_back(l.slot);
      if (!highest_confirmed_ || l.slot > *highest_confirmed_) highest_confirmed_ = l.slot;
    }
  }
  return true;
}

bool confirmation_tracker::is_confirmed(std::uint64_t slot) const noexcept {
  const auto it = slots_.find(slot);
  return it != slots_.end() && it->second.confirmed;
}

std::optional<std::uint64_t> confirmation_tracker::finalized() const { return super_majority_root(roots_, total_stake_); }

std::uint64_t confirmation_tracker::voted_stake(std::uint64_t slot) const noexcept {
  const auto it = slots_.find(slot);
  return it == slots_.end() ? 0 : it->second.stake;
}

std::vector<std::uint64_t> confirmation_tracker::take_confirmed() {
  std::vector<std::uint64_t> out;
  out.swap(newly_confirmed_);
  return out;
}

void confirmation_tracker::prune_to(std::uint64_t slot) {
  if (!pruned_ || slot > *pruned_) pruned_ = slot;
  slots_.erase(slots_.begin(), slots_.upper_bound(slot));
}

}  // namespace riptide::consensus
