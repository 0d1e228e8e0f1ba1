#include <riptide/consensus/fork_choice.hpp>

#include <algorithm>
#include <stdexcept>

namespace riptide::consensus {

fork_choice::fork_choice(std::uint64_t root, std::size_t max_blocks, std::size_t max_voters)
    : root_(root), max_blocks_(max_blocks), max_voters_(max_voters) {
  if (max_blocks == 0) throw std::invalid_argument("fork_choice: max_blocks must be > 0");
  if (max_voters == 0) throw std::invalid_argument("fork_choice: max_voters must be > 0");
  nodes_.emplace(root, node{});
}

fork_choice::add_result fork_choice::add(std::uint64_t slot, std::uint64_t parent) {
  if (nodes_.contains(slot)) return add_result::exists;
  const auto p = nodes_.find(parent);
  if (p == nodes_.end()) return add_result::unknown_parent;
  if (slot <= parent) return add_result::not_above_parent;
  if (nodes_.size() >= max_blocks_) return add_result::full;
  p->second.children.push_back(slot);
  node n;
  n.parent = parent;
  n.has_parent = true;
  n.dead = p->second.dead;  // nothing below a dead block is ever chosen
  nodes_.emplace(slot, std::move(n));
  return add_result::added;
}

bool fork_choice::mark_dead(std::uint64_t slot) noexcept {
  const auto it = nodes_.find(slot);
  if (it == nodes_.end()) return false;
  // The block and everything below it (children of a dead block cannot replay, but the
  // tree does not rely on it).
  std::vector<std::uint64_t> todo{slot};
  while (!todo.empty()) {
    const std::uint64_t s = todo.back();
    todo.pop_back();
    auto& n = nodes_.at(s);
    n.dead = true;
    todo.insert(todo.end(), n.children.begin(), n.children.end());
  }
  return true;
}

void fork_choice::add_to_path(std::uint64_t slot, std::uint64_t delta) noexcept {
  for (auto it = nodes_.find(slot); it != nodes_.end();) {
    it->second.subtree += delta;
    if (!it->second.has_parent) break;
    it = nodes_.find(it->second.parent);
  }
}

fork_choice::vote_result fork_choice::vote(std::size_t voter, std::uint64_t slot, std::uint64_t stake) {
  if (voter >= max_voters_) return vote_result::bad_voter;
  if (voter >= votes_.size()) votes_.resize(voter + 1);
  latest& l = votes_[voter];
  if (l.voted && slot <= l.slot) return vote_result::stale;
  const auto to = nodes_.find(slot);
  if (to == nodes_.end()) return vote_result::unknown_slot;
  if (l.voted) {
    if (const auto from = nodes_.find(l.slot); from != nodes_.end()) {
      from->second.voted -= l.stake;
      add_to_path(l.slot, std::uint64_t{0} - l.stake);
    }
  }
  l = latest{slot, stake, true};
  to->second.voted += stake;
  add_to_path(slot, stake);
  return vote_result::applied;
}

bool fork_choice::set_root(std::uint64_t r) {
  if (!nodes_.contains(r)) return false;
  // Keep r's subtree; everything else goes.
  std::unordered_map<std::uint64_t, node> kept;
  std::vector<std::uint64_t> todo{r};
  while (!todo.empty()) {
    const std::uint64_t s = todo.back();
    todo.pop_back();
    auto n = nodes_.extract(s);
    todo.insert(todo.end(), n.mapped().children.begin(), n.mapped().children.end());
    kept.insert(std::move(n));
  }
  nodes_ = std::move(kept);
  auto& root = nodes_.at(r);
  root.has_parent = false;
  root.parent = 0;
  root_ = r;
  return true;
}

std::uint64_t fork_choice::best_from(std::uint64_t slot) const noexcept {
  auto it = nodes_.find(slot);
  if (it == nodes_.end() || it->second.dead) return slot;
  for (;;) {
    const node* best = nullptr;
    std::uint64_t best_slot = 0;
    for (const std::uint64_t c : it->second.children) {
      const node& n = nodes_.at(c);
      if (!live(n)) continue;
      if (best == nullptr || n.subtree > best->subtree || (n.subtree == best->subtree && c < best_slot)) {
        best = &n;
        best_slot = c;
      }
    }
    if (best == nullptr) return it->first;
    it = nodes_.find(best_slot);
  }
}

bool fork_choice::descends(std::uint64_t slot, std::uint64_t ancestor) const noexcept {
  if (slot == ancestor) return true;
  auto it = nodes_.find(slot);
  if (it == nodes_.end()) return slot < root_ && ancestor <= slot;  // both on the rooted chain
  if (ancestor <= root_) return true;  // every node descends from the root and its chain
  while (it->second.has_parent) {
    if (it->second.parent == ancestor) return true;
    if (it->second.parent < ancestor) return false;
    it = nodes_.find(it->second.parent);
  }
  return false;
}

std::optional<std::uint64_t> fork_choice::common_ancestor(std::uint64_t a, std::uint64_t b) const noexcept {
  const bool has_a = nodes_.contains(a) || a < root_, has_b = nodes_.contains(b) || b < root_;
  if (!has_a || !has_b) return std::nullopt;
  // Walk the higher of the two up until they meet; below the root, the lower slot.
  while (a != b) {
    if (a < root_ || b < root_) return std::min(a, b);
    if (a > b) {
      a = nodes_.at(a).has_parent ? nodes_.at(a).parent : root_;
    } else {
      b = nodes_.at(b).has_parent ? nodes_.at(b).parent : root_;
    }
  }
  return a;
}

bool fork_choice::is_dead(std::uint64_t slot) const noexcept {
  const auto it = nodes_.find(slot);
  return it != nodes_.end() && it->second.dead;
}

std::optional<std::uint64_t> fork_choice::parent(std::uint64_t slot) const noexcept {
  const auto it = nodes_.find(slot);
  if (it == nodes_.end() || !it->second.has_parent) return std::nullopt;
  return it->second.parent;
}

std::uint64_t fork_choice::stake_voted_at(std::uint64_t slot) const noexcept {
  const auto it = nodes_.find(slot);
  return it == nodes_.end() ? 0 : it->second.voted;
}

std::uint64_t fork_choice::subtree_stake(std::uint64_t slot) const noexcept {
  const auto it = nodes_.find(slot);
  return it == nodes_.end() ? 0 : it->second.subtree;
}

std::optional<std::uint64_t> fork_choice::latest_vote(std::size_t voter) const noexcept {
  if (voter >= votes_.size() || !votes_[voter].voted) return std::nullopt;
  return votes_[voter].slot;
}

}  // namespace riptide::consensus
