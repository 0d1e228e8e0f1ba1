#include <riptide/shred/merkle.hpp>

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>
#include <random>
#include <vector>

using namespace riptide::shred;

namespace {

// Reference hashing with OpenSSL, and the tree built level by level as the contract says.
merkle_node ref_hash(const std::vector<std::uint8_t>& bytes) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size(), digest);
  merkle_node node;
  std::memcpy(node.data(), digest, node.size());
  return node;
}

merkle_node ref_leaf(const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> b{0x00};
  b.insert(b.end(), data.begin(), data.end());
  return ref_hash(b);
}

merkle_node ref_join(const merkle_node& l, const merkle_node& r) {
  std::vector<std::uint8_t> b{0x01};
  b.insert(b.end(), l.begin(), l.end());
  b.insert(b.end(), r.begin(), r.end());
  return ref_hash(b);
}

merkle_node ref_root(std::vector<merkle_node> level) {
  while (level.size() > 1) {
    std::vector<merkle_node> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(ref_join(level[i], level[i + 1]));
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level[0];
}

std::size_t ceil_log2(std::size_t n) {
  std::size_t l = 0;
  while ((std::size_t{1} << l) < n) ++l;
  return l;
}

// Levels on which leaf `index` of `n` is the promoted odd last node.
std::size_t promoted_levels(std::size_t index, std::size_t n) {
  std::size_t p = 0;
  for (; n > 1; n = (n + 1) / 2, index /= 2)
    if (n % 2 == 1 && index == n - 1) ++p;
  return p;
}

struct leaf_set {
  leaf_set(std::size_t n, std::size_t bytes, std::mt19937_64& rng) : data(n) {
    for (auto& d : data) {
      d.resize(bytes);
      for (auto& b : d) b = static_cast<std::uint8_t>(rng());
      spans.emplace_back(d.data(), d.size());
    }
  }
  std::vector<std::vector<std::uint8_t>> data;
  std::vector<std::span<const std::uint8_t>> spans;
};

}  // namespace

TEST(merkle, leaf_and_join_match_the_definition) {
  std::mt19937_64 rng(1);
  for (const std::size_t bytes : {0u, 1u, 55u, 63u, 64u, 1228u}) {
    const leaf_set s(1, bytes, rng);
    EXPECT_EQ(merkle_leaf(s.spans[0]), ref_leaf(s.data[0])) << bytes;
  }
  merkle_node a, b;
  a.fill(0xaa);
  b.fill(0x55);
  EXPECT_EQ(merkle_join(a, b), ref_join(a, b));
  EXPECT_NE(merkle_join(a, b), merkle_join(b, a));
}

TEST(merkle, root_matches_reference_for_every_leaf_count) {
  std::mt19937_64 rng(2);
  for (std::size_t n = 1; n <= merkle_max_leaves; ++n) {
    const leaf_set s(n, 100, rng);
    merkle_tree tree;
    ASSERT_TRUE(tree.build(s.spans));
    std::vector<merkle_node> leaves;
    for (const auto& d : s.data) leaves.push_back(ref_leaf(d));
    EXPECT_EQ(tree.leaf_count(), n);
    EXPECT_EQ(tree.root(), ref_root(leaves)) << n;
    merkle_tree again;
    ASSERT_TRUE(again.build_from_leaves(leaves));
    EXPECT_EQ(again.root(), tree.root());
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(tree.leaf(i), leaves[i]);
  }
  // A single leaf is its own root.
  const leaf_set one(1, 10, rng);
  merkle_tree tree;
  ASSERT_TRUE(tree.build(one.spans));
  EXPECT_EQ(tree.root(), ref_leaf(one.data[0]));
}

TEST(merkle, every_index_of_every_leaf_count_verifies) {
  std::mt19937_64 rng(3);
  for (std::size_t n = 1; n <= merkle_max_leaves; ++n) {
    const leaf_set s(n, 64, rng);
    merkle_tree tree;
    ASSERT_TRUE(tree.build(s.spans));
    for (std::size_t i = 0; i < n; ++i) {
      std::array<merkle_node, merkle_max_proof_nodes> proof{};
      const std::size_t len = tree.proof(i, proof);
      const std::span<const merkle_node> p(proof.data(), len);
      ASSERT_EQ(len, merkle_proof_size(i, n));
      ASSERT_EQ(len, ceil_log2(n) - promoted_levels(i, n)) << n << " " << i;
      ASSERT_LE(len, ceil_log2(n));
      if ((n & (n - 1)) == 0) {
        ASSERT_EQ(len, ceil_log2(n));  // powers of two: no promotion
      }
      const auto root = merkle_root_from_proof(merkle_leaf(s.spans[i]), i, n, p);
      ASSERT_TRUE(root.has_value());
      ASSERT_EQ(*root, tree.root()) << n << " " << i;
      ASSERT_TRUE(merkle_verify(tree.root(), tree.leaf(i), i, n, p));
    }
  }
}

TEST(merkle, tampering_fails) {
  std::mt19937_64 rng(4);
  for (std::size_t n = 1; n <= merkle_max_leaves; ++n) {
    leaf_set s(n, 48, rng);
    merkle_tree tree;
    ASSERT_TRUE(tree.build(s.spans));
    const bool sweep_every_byte = n == 5 || n == 33 || n == 64;
    for (std::size_t i = 0; i < n; ++i) {
      std::array<merkle_node, merkle_max_proof_nodes> proof{};
      const std::size_t len = tree.proof(i, proof);
      std::span<merkle_node> p(proof.data(), len);

      // A flipped byte in the shard.
      s.data[i][(i * 13) % 48] ^= 0x01;
      EXPECT_FALSE(merkle_verify(tree.root(), merkle_leaf(s.spans[i]), i, n, p)) << n << " " << i;
      s.data[i][(i * 13) % 48] ^= 0x01;

      // A flipped byte (bit) in any proof node.
      for (std::size_t k = 0; k < len; ++k) {
        for (std::size_t byte = 0; byte < merkle_node_bytes; ++byte) {
          if (!sweep_every_byte && byte != (i + k) % merkle_node_bytes) continue;
          p[k][byte] ^= static_cast<std::uint8_t>(1u << ((i + byte) % 8));
          EXPECT_FALSE(merkle_verify(tree.root(), tree.leaf(i), i, n, p))
              << n << " " << i << " node " << k << " byte " << byte;
          p[k][byte] ^= static_cast<std::uint8_t>(1u << ((i + byte) % 8));
        }
      }
      ASSERT_TRUE(merkle_verify(tree.root(), tree.leaf(i), i, n, p));

      // Every wrong index, and one past the end.
      for (std::size_t j = 0; j <= n; ++j) {
        if (j == i) continue;
        EXPECT_FALSE(merkle_verify(tree.root(), tree.leaf(i), j, n, p)) << n << " " << i << "->" << j;
      }

      // A dropped or an extra node.
      if (len > 0) {
        EXPECT_FALSE(merkle_root_from_proof(tree.leaf(i), i, n, p.first(len - 1)).has_value());
      }
      if (len < merkle_max_proof_nodes) {
        const std::span<const merkle_node> longer(proof.data(), len + 1);
        EXPECT_FALSE(merkle_root_from_proof(tree.leaf(i), i, n, longer).has_value());
      }
    }
  }
}

TEST(merkle, proof_rejects_bad_arguments) {
  std::mt19937_64 rng(5);
  const leaf_set s(64, 16, rng);
  merkle_tree tree;
  ASSERT_TRUE(tree.build(s.spans));
  std::array<merkle_node, merkle_max_proof_nodes> proof{};
  EXPECT_EQ(tree.proof(64, proof), 0u);
  EXPECT_EQ(tree.proof(0, std::span(proof.data(), 5)), 0u);
  EXPECT_EQ(tree.proof(0, proof), 6u);
  EXPECT_EQ(merkle_proof_size(64, 64), 0u);
  EXPECT_FALSE(merkle_root_from_proof(tree.leaf(0), 0, 0, {}).has_value());
}

TEST(merkle, build_rejects_empty_and_oversized_sets) {
  std::mt19937_64 rng(6);
  const leaf_set s(65, 8, rng);
  merkle_tree tree;
  EXPECT_FALSE(tree.build(s.spans));
  EXPECT_FALSE(tree.build({}));
  EXPECT_EQ(tree.leaf_count(), 0u);
  EXPECT_EQ(tree.root(), merkle_node{});
  ASSERT_TRUE(tree.build(std::span(s.spans).first(3)));
  const merkle_node root = tree.root();
  EXPECT_FALSE(tree.build(s.spans));  // a failed build leaves the tree as it was
  EXPECT_EQ(tree.root(), root);
  EXPECT_EQ(tree.leaf_count(), 3u);
}

TEST(merkle, rebuilding_a_tree_forgets_the_old_one) {
  std::mt19937_64 rng(7);
  const leaf_set big(64, 32, rng), small(3, 32, rng);
  merkle_tree tree;
  ASSERT_TRUE(tree.build(big.spans));
  ASSERT_TRUE(tree.build(small.spans));
  std::vector<merkle_node> leaves;
  for (const auto& d : small.data) leaves.push_back(ref_leaf(d));
  EXPECT_EQ(tree.root(), ref_root(leaves));
  std::array<merkle_node, merkle_max_proof_nodes> proof{};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t len = tree.proof(i, proof);
    EXPECT_TRUE(merkle_verify(tree.root(), leaves[i], i, 3, std::span(proof.data(), len)));
  }
}
