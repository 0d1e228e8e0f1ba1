#include <riptide/consensus/tower.hpp>

namespace riptide::consensus {

namespace {

bool more_than_threshold(std::uint64_t stake, std::uint64_t total) noexcept {
  return more_than_fraction(stake, total, threshold_numerator, threshold_denominator);
}

bool more_than_switch(std::uint64_t stake, std::uint64_t total) noexcept {
  return more_than_fraction(stake, total, switch_percent, 100);
}

// How many of `votes` (bottom first) are left once the ones that expire at `slot` are popped
// from the top.
std::size_t unexpired(std::span<const lockout> votes, std::uint64_t slot) noexcept {
  std::size_t n = votes.size();
  while (n > 0 && votes[n - 1].last_locked_out_slot() < slot) --n;
  return n;
}

}  // namespace

std::uint64_t lockout::lockout_slots() const noexcept {
  return confirmation_count >= 64 ? ~std::uint64_t{0} : std::uint64_t{1} << confirmation_count;
}

std::uint64_t lockout::last_locked_out_slot() const noexcept {
  const std::uint64_t l = lockout_slots();
  return slot > ~std::uint64_t{0} - l ? ~std::uint64_t{0} : slot + l;
}

std::optional<tower> tower::from(std::span<const lockout> votes, std::optional<std::uint64_t> root) noexcept {
  if (votes.size() > max_lockout_history) return std::nullopt;
  tower t;
  for (std::size_t i = 0; i < votes.size(); ++i) {
    const lockout& v = votes[i];
    if (v.confirmation_count == 0 || v.confirmation_count > max_lockout_history) return std::nullopt;
    if (i > 0 && (v.slot <= votes[i - 1].slot || v.confirmation_count >= votes[i - 1].confirmation_count))
      return std::nullopt;
    t.votes_[i] = v;
  }
  if (root && !votes.empty() && *root >= votes.front().slot) return std::nullopt;
  t.size_ = votes.size();
  t.root_ = root;
  return t;
}

std::optional<std::uint64_t> tower::last_voted_slot() const noexcept {
  if (size_ == 0) return std::nullopt;
  return votes_[size_ - 1].slot;
}

std::optional<lockout> tower::nth_recent(std::size_t depth) const noexcept {
  if (depth >= size_) return std::nullopt;
  return votes_[size_ - 1 - depth];
}

std::optional<std::uint64_t> tower::record_vote(std::uint64_t slot) noexcept {
  if (size_ > 0 && slot <= votes_[size_ - 1].slot) return std::nullopt;
  size_ = unexpired(votes(), slot);
  std::optional<std::uint64_t> new_root;
  if (size_ == max_lockout_history) {
    new_root = votes_[0].slot;
    root_ = new_root;
    for (std::size_t i = 1; i < size_; ++i) votes_[i - 1] = votes_[i];
    --size_;
  }
  votes_[size_++] = lockout{slot, 1};
  // Vote i doubles when the votes stacked above it outnumber its confirmation count.
  for (std::size_t i = 0; i < size_; ++i)
    if (size_ > i + votes_[i].confirmation_count) ++votes_[i].confirmation_count;
  return new_root;
}

bool tower::is_locked_out(std::uint64_t slot, const ancestry& tree) const noexcept {
  if (size_ > 0 && slot <= votes_[size_ - 1].slot) return true;
  tower after = *this;
  (void)after.record_vote(slot);
  for (const lockout& v : after.votes())
    if (v.slot != slot && !tree.descends(slot, v.slot)) return true;
  return after.root_ && !tree.descends(slot, *after.root_);
}

threshold_decision check_threshold(const tower& ours, std::uint64_t slot, std::span<const voter_tower> voters,
                                   std::uint64_t total_stake, const ancestry& tree) noexcept {
  threshold_decision d;
  d.total_stake = total_stake;
  tower after = ours;
  (void)after.record_vote(slot);
  const auto held = after.nth_recent(threshold_depth);
  if (!held) return d;
  d.deep_enough = true;
  d.threshold_slot = held->slot;
  for (const voter_tower& v : voters) {
    const auto live = v.votes.first(unexpired(v.votes, slot));
    bool holds = v.root && tree.descends(*v.root, held->slot);
    for (std::size_t i = 0; i < live.size() && !holds; ++i) holds = tree.descends(live[i].slot, held->slot);
    if (holds) d.fork_stake += v.stake;
  }
  d.passed = more_than_threshold(d.fork_stake, total_stake);
  // Already at that depth with that lockout before this vote: the vote does not deepen it.
  for (const lockout& v : ours.votes())
    if (v == *held) d.passed = true;
  return d;
}

switch_decision check_switch(const tower& ours, std::uint64_t slot, std::span<const voter_tower> voters,
                             std::uint64_t total_stake, const fork_choice& tree) noexcept {
  switch_decision d;
  d.total_stake = total_stake;
  const auto last = ours.last_voted_slot();
  if (!last || tree.descends(slot, *last)) return d;
  if (tree.descends(*last, slot)) {
    d.result = switch_result::rollback;
    return d;
  }
  d.result = switch_result::failed;
  const auto common = tree.common_ancestor(*last, slot);
  if (!common) return d;
  for (const voter_tower& v : voters) {
    for (const lockout& l : v.votes) {
      // Below the common ancestor, and neither our ancestor (the common ancestor is one) nor
      // our descendant.
      const bool other_fork =
          tree.descends(l.slot, *common) && !tree.descends(*last, l.slot) && !tree.descends(l.slot, *last);
      if (other_fork && l.last_locked_out_slot() >= *last) {
        d.locked_out_stake += v.stake;
        break;
      }
    }
  }
  if (more_than_switch(d.locked_out_stake, total_stake)) d.result = switch_result::passed;
  return d;
}

vote_and_reset decide_vote_and_reset(const tower& ours, const fork_choice& tree, std::span<const voter_tower> voters,
                                     std::uint64_t total_stake) noexcept {
  vote_and_reset d;
  const std::uint64_t best = tree.best();
  d.candidate = d.reset = best;
  const auto last = ours.last_voted_slot();
  d.switching = check_switch(ours, best, voters, total_stake, tree);
  if (!last) {
    d.why = vote_case::empty_tower;
  } else {
    switch (d.switching.result) {
      case switch_result::same_fork: d.why = vote_case::same_fork; break;
      case switch_result::passed: d.why = vote_case::switched; break;
      case switch_result::failed: d.why = vote_case::switch_failed; break;
      case switch_result::rollback: d.why = vote_case::rollback; break;
    }
  }
  if (d.why == vote_case::switch_failed || d.why == vote_case::rollback) {
    if (tree.contains(*last) && !tree.is_dead(*last)) d.reset = tree.best_from(*last);
    return d;
  }
  if (last && best <= *last) {
    d.already_voted = true;
    return d;
  }
  d.locked_out = ours.is_locked_out(best, tree);
  if (d.locked_out) return d;
  d.threshold = check_threshold(ours, best, voters, total_stake, tree);
  if (d.threshold.passed) d.vote = best;
  return d;
}

}  // namespace riptide::consensus
