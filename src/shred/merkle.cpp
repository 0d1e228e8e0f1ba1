// Merkle tree with 20-byte nodes over a FEC set's shards.

#include <riptide/shred/merkle.hpp>

#include <riptide/crypto/sha256.hpp>

#include <algorithm>
#include <cstring>

namespace riptide::shred {
namespace {

constexpr std::uint8_t leaf_prefix = 0x00;
constexpr std::uint8_t inner_prefix = 0x01;

constexpr std::size_t total_nodes(std::size_t n) {
  std::size_t sum = n;
  while (n > 1) {
    n = (n + 1) / 2;
    sum += n;
  }
  return sum;
}

merkle_node truncate(const crypto::hash32& h) noexcept {
  merkle_node node;
  std::memcpy(node.data(), h.data(), merkle_node_bytes);
  return node;
}

}  // namespace

merkle_node merkle_leaf(std::span<const std::uint8_t> data) noexcept {
  crypto::sha256_stream stream;
  stream.update(std::span<const std::uint8_t>(&leaf_prefix, 1));
  stream.update(data);
  return truncate(stream.finish());
}

merkle_node merkle_join(const merkle_node& left, const merkle_node& right) noexcept {
  std::uint8_t buf[1 + 2 * merkle_node_bytes];
  buf[0] = inner_prefix;
  std::memcpy(buf + 1, left.data(), merkle_node_bytes);
  std::memcpy(buf + 1 + merkle_node_bytes, right.data(), merkle_node_bytes);
  return truncate(crypto::sha256(buf));
}

std::size_t merkle_proof_size(std::size_t index, std::size_t leaf_count) noexcept {
  if (index >= leaf_count) return 0;
  std::size_t size = 0;
  for (std::size_t n = leaf_count; n > 1; n = (n + 1) / 2, index /= 2) {
    const bool promoted = (n & 1) && index == n - 1;
    if (!promoted) ++size;
  }
  return size;
}

bool merkle_tree::build_from_leaves(std::span<const merkle_node> leaves) noexcept {
  static_assert(total_nodes(merkle_max_leaves) == max_nodes);
  if (leaves.empty() || leaves.size() > merkle_max_leaves) return false;
  std::size_t n = leaves.size();
  std::copy(leaves.begin(), leaves.end(), nodes_.begin());
  std::size_t offset = 0, level = 0;
  level_offset_[0] = 0;
  level_size_[0] = static_cast<std::uint8_t>(n);
  while (n > 1) {
    const std::size_t next = offset + n;
    const std::size_t parents = (n + 1) / 2;
    for (std::size_t i = 0; i + 1 < n; i += 2)
      nodes_[next + i / 2] = merkle_join(nodes_[offset + i], nodes_[offset + i + 1]);
    if (n & 1) nodes_[next + parents - 1] = nodes_[offset + n - 1];
    offset = next;
    n = parents;
    ++level;
    level_offset_[level] = static_cast<std::uint8_t>(offset);
    level_size_[level] = static_cast<std::uint8_t>(n);
  }
  levels_ = level + 1;
  leaf_count_ = leaves.size();
  root_ = nodes_[offset];
  return true;
}

bool merkle_tree::build(std::span<const std::span<const std::uint8_t>> leaf_data) noexcept {
  if (leaf_data.empty() || leaf_data.size() > merkle_max_leaves) return false;
  std::array<merkle_node, merkle_max_leaves> leaves;
  for (std::size_t i = 0; i < leaf_data.size(); ++i) leaves[i] = merkle_leaf(leaf_data[i]);
  return build_from_leaves(std::span<const merkle_node>(leaves.data(), leaf_data.size()));
}

std::size_t merkle_tree::proof(std::size_t index, std::span<merkle_node> out) const noexcept {
  if (index >= leaf_count_) return 0;
  if (out.size() < merkle_proof_size(index, leaf_count_)) return 0;
  std::size_t written = 0;
  for (std::size_t level = 0; level + 1 < levels_; ++level, index /= 2) {
    const std::size_t n = level_size_[level];
    if ((n & 1) && index == n - 1) continue;  // promoted: no sibling at this level
    out[written++] = nodes_[level_offset_[level] + (index ^ 1)];
  }
  return written;
}

std::optional<merkle_node> merkle_root_from_proof(const merkle_node& leaf, std::size_t index,
                                                  std::size_t leaf_count,
                                                  std::span<const merkle_node> proof) noexcept {
  if (index >= leaf_count || proof.size() != merkle_proof_size(index, leaf_count))
    return std::nullopt;
  merkle_node node = leaf;
  std::size_t used = 0;
  for (std::size_t n = leaf_count; n > 1; n = (n + 1) / 2, index /= 2) {
    if ((n & 1) && index == n - 1) continue;
    const merkle_node& sibling = proof[used++];
    node = (index & 1) ? merkle_join(sibling, node) : merkle_join(node, sibling);
  }
  return node;
}

bool merkle_verify(const merkle_node& root, const merkle_node& leaf, std::size_t index,
                   std::size_t leaf_count, std::span<const merkle_node> proof) noexcept {
  const auto computed = merkle_root_from_proof(leaf, index, leaf_count, proof);
  return computed && *computed == root;
}

}  // namespace riptide::shred
