#include <riptide/shred/turbine.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>

#include <riptide/crypto/sha256.hpp>

namespace riptide::shred {

namespace {

constexpr std::size_t seed_input_bytes = 8 + 4 + 1 + crypto::pubkey_bytes;

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

crypto::hash32 turbine_seed(std::uint64_t slot, std::uint32_t shred_index,
                            turbine_shred_type type, const crypto::pubkey& leader) noexcept {
  std::uint8_t in[seed_input_bytes];
  for (int i = 0; i < 8; ++i) in[i] = static_cast<std::uint8_t>(slot >> (8 * i));
  for (int i = 0; i < 4; ++i) in[8 + i] = static_cast<std::uint8_t>(shred_index >> (8 * i));
  in[12] = static_cast<std::uint8_t>(type);
  std::memcpy(in + 13, leader.data(), leader.size());
  return crypto::sha256(in);
}

// --- turbine_cluster -----------------------------------------------------------------------

turbine_cluster::turbine_cluster(std::span<const epoch::stake_entry> members)
    : stakes_(members), nodes_(stakes_.entries().begin(), stakes_.entries().end()) {
  // stakes_ has refused an id listed twice and more members than a u32 index can number
  // (turbine_npos excluded). The zero-stake members follow the staked ones, by id (the
  // canonical order among equal stakes).
  for (const auto& m : members)
    if (m.stake == 0) nodes_.push_back(m);
  std::sort(nodes_.begin() + staked_count(), nodes_.end(), epoch::canonical_before);

  // Fenwick tree in O(n): each entry pushes its partial sum to its parent.
  const std::uint32_t staked = staked_count();
  fenwick_.assign(std::size_t{staked} + 1, 0);
  for (std::uint32_t i = 1; i <= staked; ++i) {
    fenwick_[i] += nodes_[i - 1].stake;
    const std::uint32_t parent = i + (i & (0u - i));
    if (parent <= staked) fenwick_[parent] += fenwick_[i];
  }
}

std::uint32_t turbine_cluster::index_of(const crypto::pubkey& id) const noexcept {
  if (const auto staked = stakes_.index_of(id)) return *staked;
  // The zero-stake tail is sorted by id.
  const auto unstaked = nodes_.begin() + staked_count();
  const auto it = std::lower_bound(unstaked, nodes_.end(), id,
                                   [](const epoch::stake_entry& n, const crypto::pubkey& key) {
                                     return n.id < key;
                                   });
  return (it != nodes_.end() && it->id == id) ? static_cast<std::uint32_t>(it - nodes_.begin())
                                              : turbine_npos;
}

// --- turbine_tree --------------------------------------------------------------------------

turbine_tree::turbine_tree(const turbine_cluster& cluster, std::uint32_t fanout)
    : cluster_(cluster),
      fanout_(fanout),
      fenwick_(cluster.fenwick_),
      order_(cluster.size()),
      position_(cluster.size(), turbine_npos),
      zero_(cluster.size() - cluster.staked_count()),
      fenwick_top_(cluster.staked_count() == 0 ? 0 : std::bit_floor(cluster.staked_count())) {
  if (fanout == 0) throw std::invalid_argument("turbine tree: fanout must be at least 1");
  // Sentinels up to 2·top so the descent in draw() never reads past the end.
  fenwick_.resize(std::max<std::size_t>(fenwick_.size(), std::size_t{fenwick_top_} * 2), UINT64_MAX);
}

void turbine_tree::restore() noexcept {
  if (!fenwick_dirty_) return;
  const std::uint32_t staked = cluster_.staked_count();
  // Re-adding k stakes costs k·log n; copying costs n. Pick the cheaper.
  const std::uint32_t log_n = static_cast<std::uint32_t>(std::bit_width(staked));
  if (std::uint64_t{drawn_ + 1} * log_n < staked) {
    auto add = [&](std::uint32_t node) {
      const std::uint64_t stake = cluster_.nodes_[node].stake;
      for (std::uint32_t i = node + 1; i <= staked; i += i & (0u - i)) fenwick_[i] += stake;
    };
    for (std::uint32_t k = 0; k < drawn_; ++k)
      if (order_[k] < staked) add(order_[k]);
    if (leader_ < staked) add(leader_);
  } else {
    std::copy(cluster_.fenwick_.begin(), cluster_.fenwick_.end(), fenwick_.begin());  // sentinels stay
  }
  fenwick_dirty_ = false;
}

void turbine_tree::begin(std::uint64_t slot, std::uint32_t shred_index, turbine_shred_type type,
                         const crypto::pubkey& leader) noexcept {
  restore();
  computed_ = false;
  const crypto::hash32 seed = turbine_seed(slot, shred_index, type, leader);
  std::array<std::uint64_t, 4> state{};
  for (int w = 0; w < 4; ++w) state[static_cast<std::size_t>(w)] = load_le64(seed.data() + 8 * w);
  rng_ = util::xoshiro256ss::from_state(state);  // the all-zero state becomes s0 = 1 there

  drawn_ = 0;
  zero_started_ = false;
  remaining_stake_ = cluster_.total_stake();
  leader_ = cluster_.index_of(leader);
  tree_size_ = cluster_.size() - (leader_ == turbine_npos ? 0 : 1);
  if (leader_ < cluster_.staked_count()) {
    const std::uint64_t stake = cluster_.nodes_[leader_].stake;
    for (std::uint32_t i = leader_ + 1; i <= cluster_.staked_count(); i += i & (0u - i))
      fenwick_[i] -= stake;
    remaining_stake_ -= stake;
    fenwick_dirty_ = true;
  }
}

std::uint32_t turbine_tree::draw() noexcept {
  const std::uint32_t staked = cluster_.staked_count();
  std::uint32_t node;
  if (remaining_stake_ != 0) {
    // Smallest canonical index whose cumulative remaining stake exceeds r.
    std::uint64_t r = rng_.uniform(remaining_stake_);
    std::uint32_t pos = 0;
    // Branch-free descent: each level's outcome is a coin flip, so a branch would mispredict
    // half the time. Entries past staked_count hold UINT64_MAX, so no bounds test is needed.
    const std::uint64_t* tree = fenwick_.data();
    for (std::uint32_t step = fenwick_top_; step != 0; step >>= 1) {
      const std::uint64_t value = tree[pos + step];
      const bool right = value <= r;
      pos += right ? step : 0;
      r -= right ? value : 0;
    }
    node = pos;
    const std::uint64_t stake = cluster_.nodes_[node].stake;
    for (std::uint32_t i = node + 1; i <= staked; i += i & (0u - i)) fenwick_[i] -= stake;
    remaining_stake_ -= stake;
    fenwick_dirty_ = true;
  } else {
    if (!zero_started_) {
      zero_count_ = 0;
      for (std::uint32_t i = staked; i < cluster_.size(); ++i)
        if (i != leader_) zero_[zero_count_++] = i;
      zero_started_ = true;
    }
    // Fisher-Yates forward over the zero-stake tail: j counts tail nodes already emitted.
    const std::uint32_t j = drawn_ - (tree_size_ - zero_count_);
    const auto pick = j + static_cast<std::uint32_t>(rng_.uniform(zero_count_ - j));
    std::swap(zero_[j], zero_[pick]);
    node = zero_[j];
  }
  order_[drawn_++] = node;
  return node;
}

void turbine_tree::compute(std::uint64_t slot, std::uint32_t shred_index, turbine_shred_type type,
                           const crypto::pubkey& leader) noexcept {
  begin(slot, shred_index, type, leader);
  while (drawn_ < tree_size_) {
    const std::uint32_t k = drawn_;
    position_[draw()] = k;
  }
  if (leader_ != turbine_npos) position_[leader_] = turbine_npos;
  // Fewest full levels holding tree_size_ nodes.
  depth_ = 0;
  std::uint64_t held = 0, width = 1;
  while (held < tree_size_) {
    held += width;
    width = std::min<std::uint64_t>(width * fanout_, std::uint64_t{1} << 40);
    ++depth_;
  }
  computed_ = true;
}

std::span<const std::uint32_t> turbine_tree::children(std::uint64_t slot, std::uint32_t shred_index,
                                                      turbine_shred_type type,
                                                      const crypto::pubkey& leader,
                                                      std::uint32_t self) noexcept {
  begin(slot, shred_index, type, leader);
  if (self >= cluster_.size() || self == leader_ || tree_size_ < 2) return {};
  // Positions 0..interior-1 have children; anyone not drawn by then is a leaf.
  const std::uint32_t interior = (tree_size_ - 2) / fanout_ + 1;
  std::uint32_t position = turbine_npos;
  while (drawn_ < interior) {
    if (draw() == self) {
      position = drawn_ - 1;
      break;
    }
  }
  if (position == turbine_npos) return {};
  const std::uint64_t last = std::min<std::uint64_t>(
      std::uint64_t{position} * fanout_ + fanout_ + 1, tree_size_);
  while (drawn_ < last) draw();
  return children_at(position);
}

std::uint32_t turbine_tree::root(std::uint64_t slot, std::uint32_t shred_index,
                                 turbine_shred_type type, const crypto::pubkey& leader) noexcept {
  begin(slot, shred_index, type, leader);
  return tree_size_ == 0 ? turbine_npos : draw();
}

std::span<const std::uint32_t> turbine_tree::children_at(std::uint32_t position) const noexcept {
  const std::uint64_t first = std::uint64_t{position} * fanout_ + 1;
  if (first >= drawn_) return {};
  const std::uint64_t end = std::min<std::uint64_t>(first + fanout_, drawn_);
  return {order_.data() + first, static_cast<std::size_t>(end - first)};
}

std::uint32_t turbine_tree::node_at(std::uint32_t position) const noexcept {
  return (computed_ && position < tree_size_) ? order_[position] : turbine_npos;
}

std::uint32_t turbine_tree::position_of(std::uint32_t node) const noexcept {
  return (computed_ && node < cluster_.size()) ? position_[node] : turbine_npos;
}

std::uint32_t turbine_tree::position_of(const crypto::pubkey& id) const noexcept {
  return position_of(cluster_.index_of(id));
}

std::uint32_t turbine_tree::parent_of(std::uint32_t node) const noexcept {
  const std::uint32_t position = position_of(node);
  if (position == turbine_npos || position == 0) return turbine_npos;
  return order_[(position - 1) / fanout_];
}

std::span<const std::uint32_t> turbine_tree::children_of(std::uint32_t node) const noexcept {
  const std::uint32_t position = position_of(node);
  if (position == turbine_npos) return {};
  return children_at(position);
}

std::size_t turbine_tree::children_of(std::uint32_t node,
                                      std::span<std::uint32_t> out) const noexcept {
  const auto kids = children_of(node);
  std::copy_n(kids.begin(), std::min(kids.size(), out.size()), out.begin());
  return kids.size();
}

std::span<const std::uint32_t> turbine_tree::order() const noexcept {
  if (!computed_) return {};
  return {order_.data(), tree_size_};
}

}  // namespace riptide::shred
