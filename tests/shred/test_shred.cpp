#include <riptide/shred/shred.hpp>

#include <riptide/shred/fec.hpp>
#include <riptide/util/hex.hpp>

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

// Field offsets, spelled out again from the header's diagram so a change there shows up here.
constexpr std::size_t variant_at = 64;
constexpr std::size_t slot_at = 65;
constexpr std::size_t index_at = 73;
constexpr std::size_t version_at = 77;
constexpr std::size_t fec_set_index_at = 79;
constexpr std::size_t num_data_at = 83;
constexpr std::size_t num_coding_at = 85;
constexpr std::size_t position_at = 87;
constexpr std::size_t parent_offset_at = 87;
constexpr std::size_t flags_at = 89;
constexpr std::size_t size_at = 90;

void put(bytes& b, std::size_t at, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}

const crypto::keypair& leader() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

fec_set_params default_params() {
  fec_set_params p;
  p.slot = 100;
  p.parent_offset = 1;
  p.shred_version = 7;
  p.fec_set_index = 64;
  p.num_coding = 32;
  return p;
}

shred_error parse(const bytes& b) {
  shred_view v;
  return parse_shred(b, v);
}

// Parses every shred of a set and checks it against the set's root and the leader's key;
// returns the root.
merkle_node check_set(const std::vector<bytes>& set, const fec_set_params& p,
                      std::size_t num_data, const bytes& payload) {
  EXPECT_EQ(set.size(), num_data + p.num_coding);
  std::optional<merkle_node> root;
  bytes joined;
  for (std::size_t i = 0; i < set.size(); ++i) {
    SCOPED_TRACE("shred " + std::to_string(i));
    shred_view v;
    EXPECT_EQ(parse_shred(set[i], v), shred_error::none);
    EXPECT_LE(set[i].size(), max_shred_bytes);
    EXPECT_EQ(v.bytes().data(), set[i].data());
    EXPECT_EQ(v.slot(), p.slot);
    EXPECT_EQ(v.shred_version(), p.shred_version);
    EXPECT_EQ(v.fec_set_index(), p.fec_set_index);
    EXPECT_EQ(v.num_data(), num_data);
    EXPECT_EQ(v.num_coding(), p.num_coding);
    EXPECT_EQ(v.merkle_position(), i);
    EXPECT_EQ(v.last_in_slot(), p.last_in_slot);
    EXPECT_EQ(v.proof_depth(), merkle_proof_size(i, set.size()));
    EXPECT_EQ(v.erasure_shard().size(), shard_bytes(set.size()));
    const bool coding = i >= num_data;
    EXPECT_EQ(v.is_coding(), coding);
    if (coding) {
      EXPECT_EQ(v.position(), i - num_data);
      EXPECT_EQ(v.index(), p.fec_set_index + (i - num_data));
      EXPECT_TRUE(v.payload().empty());
      EXPECT_EQ(v.signed_region().size(), coding_header_bytes + 19 + v.erasure_shard().size());
    } else {
      EXPECT_EQ(v.index(), p.fec_set_index + i);
      EXPECT_EQ(v.parent_offset(), p.parent_offset);
      EXPECT_EQ(v.parent_slot(), p.slot - p.parent_offset);
      const bool last = i + 1 == num_data;
      EXPECT_EQ(v.batch_complete(), last && (p.batch_complete || p.last_in_slot));
      EXPECT_EQ(v.slot_complete(), last && p.last_in_slot);
      EXPECT_EQ(v.data_size(), data_headers_end + v.payload().size());
      if (!last) {
        EXPECT_EQ(v.payload().size(), data_capacity_bytes(set.size()));
      }
      EXPECT_TRUE(std::ranges::equal(v.signed_region(), v.erasure_shard()));
      joined.insert(joined.end(), v.payload().begin(), v.payload().end());
    }
    const auto r = shred_merkle_root(v);
    EXPECT_TRUE(r.has_value());
    if (!r) continue;
    if (!root) root = r;
    EXPECT_EQ(*r, *root);
    EXPECT_TRUE(verify_shred_signature(v, leader().public_key(), *r));
  }
  EXPECT_EQ(joined, payload);
  return root.value_or(merkle_node{});
}

class ShredSet : public ::testing::Test {
 protected:
  void SetUp() override {
    payload = random_bytes(20000, 1);
    set = make_fec_set(leader(), params, payload);
    ASSERT_EQ(set.size(), 21u + 32u);  // ceil(20000 / 991) data shreds
  }
  const bytes& data0() const { return set[0]; }
  const bytes& last_data() const { return set[20]; }
  const bytes& coding0() const { return set[21]; }

  fec_set_params params = default_params();
  bytes payload;
  std::vector<bytes> set;
};

// ------------------------------------------------------------------ build, parse, verify

TEST_F(ShredSet, EveryShredParsesAndProvesTheSignedRoot) {
  check_set(set, params, 21, payload);
  // Leaf 0 is never the promoted node, so its proof is the set's deepest (6 in 53 leaves).
  EXPECT_EQ(data0().size(), shred_signature_bytes + shard_bytes(53) + 6 * merkle_node_bytes);
  EXPECT_EQ(coding0().size(), max_shred_bytes - merkle_node_bytes *
                                  (6 - merkle_proof_size(21, 53)));
}

// docs/protocol.md, "Merkle tree and proofs", recomputed with OpenSSL from the text alone:
// every shred of a set (data and coding, promoted and paired leaves) gives the set's root
// from its own bytes, that root is the level-by-level tree over all leaves, and the leader's
// signature in bytes [0, 64) covers root ‖ slot ‖ fec_set_index.
namespace doc {

merkle_node sha256_20(const bytes& input) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(input.data(), input.size(), digest);
  merkle_node node;
  std::memcpy(node.data(), digest, node.size());
  return node;
}

merkle_node leaf(const std::uint8_t* region, std::size_t size) {
  bytes input{0x00};
  input.insert(input.end(), region, region + size);
  return sha256_20(input);
}

merkle_node join(const merkle_node& l, const merkle_node& r) {
  bytes input{0x01};
  input.insert(input.end(), l.begin(), l.end());
  input.insert(input.end(), r.begin(), r.end());
  return sha256_20(input);
}

std::uint64_t le(const bytes& b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = width; i-- > 0;) v = v << 8 | b[at + i];
  return v;
}

}  // namespace doc

TEST_F(ShredSet, MerkleRootAsProtocolMdStates) {
  // Also a set whose leaf count is odd (21 + 32 = 53 here; 5 + 4 = 9 below), so some proofs
  // skip promoted levels.
  fec_set_params small = default_params();
  small.num_coding = 4;
  const bytes small_payload = random_bytes(5000, 2);
  const std::vector<std::vector<bytes>> sets{set, make_fec_set(leader(), small, small_payload)};
  for (const std::vector<bytes>& s : sets) {
    const std::size_t n = doc::le(s[0], 83, 2) + doc::le(s[0], 85, 2);
    ASSERT_EQ(n, s.size());
    std::vector<merkle_node> leaves(n);
    std::optional<merkle_node> set_root;
    for (const bytes& b : s) {
      const std::size_t depth = b[64] & 0x0f;
      const std::size_t proof_at = b.size() - 20 * depth;
      const bool coding = (b[64] & 0x80) != 0;
      const std::size_t num_data = doc::le(b, 83, 2);
      std::size_t k = coding ? num_data + doc::le(b, 87, 2) : doc::le(b, 73, 4) - doc::le(b, 79, 4);
      SCOPED_TRACE("leaf " + std::to_string(k) + " of " + std::to_string(n));
      ASSERT_LT(k, n);
      merkle_node node = doc::leaf(b.data() + 64, proof_at - 64);
      leaves[k] = node;
      std::size_t j = 0;
      for (std::size_t m = n; m > 1; k /= 2, m = (m + 1) / 2) {
        if (m % 2 == 1 && k == m - 1) continue;  // promoted: no sibling on this level
        ASSERT_LT(j, depth);
        merkle_node sibling;
        std::memcpy(sibling.data(), b.data() + proof_at + 20 * j++, 20);
        node = k % 2 == 1 ? doc::join(sibling, node) : doc::join(node, sibling);
      }
      EXPECT_EQ(j, depth) << "every proof node is used";
      if (!set_root) set_root = node;
      EXPECT_EQ(node, *set_root);
      shred_view v;
      ASSERT_EQ(parse_shred(b, v), shred_error::none);
      EXPECT_EQ(shred_merkle_root(v), node);
      bytes msg(node.begin(), node.end());
      for (std::size_t i = 0; i < 8; ++i) msg.push_back(b[65 + i]);   // slot u64 LE
      for (std::size_t i = 0; i < 4; ++i) msg.push_back(b[79 + i]);   // fec_set_index u32 LE
      crypto::signature sig;
      std::memcpy(sig.data(), b.data(), sig.size());
      EXPECT_TRUE(crypto::verify(leader().public_key(), msg, sig));
    }
    // Level by level over all leaves, an odd level's last node promoted.
    std::vector<merkle_node> level = leaves;
    while (level.size() > 1) {
      std::vector<merkle_node> up;
      for (std::size_t i = 0; i + 1 < level.size(); i += 2) up.push_back(doc::join(level[i], level[i + 1]));
      if (level.size() % 2 == 1) up.push_back(level.back());
      level = std::move(up);
    }
    EXPECT_EQ(level[0], *set_root);
  }

  // The worked example: three leaves over the one-byte regions 00, 01, 02.
  const std::uint8_t regions[3] = {0x00, 0x01, 0x02};
  std::vector<merkle_node> l;
  for (const std::uint8_t& r : regions) l.push_back(merkle_leaf(std::span(&r, 1)));
  EXPECT_EQ(util::to_hex(l[0]), "96a296d224f285c67bee93c30f8a309157f0daa3");
  EXPECT_EQ(util::to_hex(l[1]), "b413f47d13ee2fe6c845b2ee141af81de858df4e");
  EXPECT_EQ(util::to_hex(l[2]), "fcf0a6c700dd13e274b6fba8deea8dd9b26e4eed");
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(l[i], doc::leaf(&regions[i], 1));
  const merkle_node j = merkle_join(l[0], l[1]);
  EXPECT_EQ(util::to_hex(j), "10bbdf3e3d4ecb04e55b8a6f577f5988b1a3530e");
  EXPECT_EQ(j, doc::join(l[0], l[1]));
  merkle_tree tree;
  ASSERT_TRUE(tree.build_from_leaves(l));
  EXPECT_EQ(util::to_hex(tree.root()), "001f9395fe91d3d783054606d98d4f0b54cef229");
  std::array<merkle_node, max_proof_depth> proof;
  ASSERT_EQ(tree.proof(0, proof), 2u);
  EXPECT_EQ(proof[0], l[1]);
  EXPECT_EQ(proof[1], l[2]);
  ASSERT_EQ(tree.proof(1, proof), 2u);
  EXPECT_EQ(proof[0], l[0]);
  EXPECT_EQ(proof[1], l[2]);
  ASSERT_EQ(tree.proof(2, proof), 1u);
  EXPECT_EQ(proof[0], j);
}

TEST(Shred, SetShapes) {
  struct shape {
    std::size_t payload_bytes, num_coding, num_data;
  };
  for (const shape s : {shape{0, 1, 1}, shape{1, 1, 1}, shape{5000, 5, 5}, shape{7000, 3, 7},
                        shape{max_fec_set_payload_bytes(32), 32, 32},
                        shape{max_fec_set_payload_bytes(1), 1, 32}, shape{1000, 17, 1}}) {
    SCOPED_TRACE(std::to_string(s.payload_bytes) + " bytes, " + std::to_string(s.num_coding) +
                 " coding");
    fec_set_params p = default_params();
    p.num_coding = s.num_coding;
    p.last_in_slot = s.payload_bytes % 2 == 0;
    const bytes payload = random_bytes(s.payload_bytes, s.payload_bytes);
    EXPECT_EQ(data_shreds_for(payload.size(), s.num_coding), s.num_data);
    const auto set = make_fec_set(leader(), p, payload);
    check_set(set, p, s.num_data, payload);
  }
}

TEST(Shred, FullSetSizes) {
  EXPECT_EQ(max_fec_set_payload_bytes(32), 32u * 991u);
  const bytes payload = random_bytes(32 * 991, 2);
  const auto set = make_fec_set(leader(), default_params(), payload);
  ASSERT_EQ(set.size(), 64u);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(set[i].size(), 1203u);
  for (std::size_t i = 32; i < 64; ++i) EXPECT_EQ(set[i].size(), max_shred_bytes);
}

TEST(Shred, SignedMessageLayout) {
  merkle_node root;
  for (std::size_t i = 0; i < root.size(); ++i) root[i] = static_cast<std::uint8_t>(i + 1);
  const auto msg = shred_signed_message(root, 0x0102030405060708ull, 0xA0B0C0D0u);
  ASSERT_EQ(msg.size(), 32u);
  EXPECT_TRUE(std::equal(root.begin(), root.end(), msg.begin()));
  const std::uint8_t tail[12] = {8, 7, 6, 5, 4, 3, 2, 1, 0xD0, 0xC0, 0xB0, 0xA0};
  EXPECT_EQ(std::memcmp(msg.data() + 20, tail, 12), 0);
}

TEST(Shred, BuilderRejectsBadParameters) {
  const bytes small(10, 1);
  fec_set_params p = default_params();
  p.num_coding = 0;
  EXPECT_THROW((void)make_fec_set(leader(), p, small), std::invalid_argument);
  p.num_coding = 33;
  EXPECT_THROW((void)make_fec_set(leader(), p, small), std::invalid_argument);
  p = default_params();
  EXPECT_THROW((void)make_fec_set(leader(), p, bytes(max_fec_set_payload_bytes(32) + 1)),
               std::invalid_argument);
  p.parent_offset = 0;
  EXPECT_THROW((void)make_fec_set(leader(), p, small), std::invalid_argument);
  p = default_params();
  p.fec_set_index = max_shreds_per_slot - 31;
  EXPECT_THROW((void)make_fec_set(leader(), p, small), std::invalid_argument);
  EXPECT_THROW((void)make_fec_set(crypto::keypair{}, default_params(), small), std::logic_error);
}

// Recovery rebuilds a missing data shred byte for byte: shard from the codec, signature from
// any shred of the set, proof from the tree over the completed leaves.
TEST_F(ShredSet, RecoveryRebuildsMissingDataShredsExactly) {
  const std::size_t num_data = 21, num_coding = 32, n = num_data + num_coding;
  const std::size_t shard = shard_bytes(n);
  std::vector<bytes> shards(n);
  std::uint64_t present = 0;
  const std::set<std::size_t> lost = {0, 3, 7, 20, 22, 40};
  for (std::size_t i = 0; i < n; ++i) {
    shred_view v;
    ASSERT_EQ(parse_shred(set[i], v), shred_error::none);
    shards[i].assign(shard, 0);
    if (lost.contains(i)) continue;
    std::memcpy(shards[i].data(), v.erasure_shard().data(), shard);
    present |= std::uint64_t{1} << i;
  }
  std::vector<std::uint8_t*> ptrs(n);
  for (std::size_t i = 0; i < n; ++i) ptrs[i] = shards[i].data();
  fec_codec codec(num_data, num_coding);
  ASSERT_TRUE(codec.recover(ptrs, present, shard));

  // Coding shreds' leaves need their headers too: rebuilt from the set's shape.
  std::vector<bytes> leaf_bytes(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i < num_data) {
      leaf_bytes[i] = shards[i];
    } else {
      bytes b(coding_headers_end, 0);
      b[variant_at] = static_cast<std::uint8_t>(0x80 | merkle_proof_size(i, n));
      put(b, slot_at, params.slot, 8);
      put(b, index_at, params.fec_set_index + (i - num_data), 4);
      put(b, version_at, params.shred_version, 2);
      put(b, fec_set_index_at, params.fec_set_index, 4);
      put(b, num_data_at, num_data, 2);
      put(b, num_coding_at, num_coding, 2);
      put(b, position_at, i - num_data, 2);
      b.insert(b.end(), shards[i].begin(), shards[i].end());
      leaf_bytes[i].assign(b.begin() + 64, b.end());
    }
  }
  std::vector<std::span<const std::uint8_t>> leaves(leaf_bytes.begin(), leaf_bytes.end());
  merkle_tree tree;
  ASSERT_TRUE(tree.build(leaves));
  shred_view any;
  ASSERT_EQ(parse_shred(set[1], any), shred_error::none);
  EXPECT_EQ(tree.root(), *shred_merkle_root(any));

  for (const std::size_t i : lost) {
    SCOPED_TRACE(i);
    std::array<merkle_node, 6> proof;
    const std::size_t depth = tree.proof(i, proof);
    // signature | leaf bytes | proof
    bytes rebuilt(any.signature().begin(), any.signature().end());
    rebuilt.insert(rebuilt.end(), leaf_bytes[i].begin(), leaf_bytes[i].end());
    for (std::size_t k = 0; k < depth; ++k)
      rebuilt.insert(rebuilt.end(), proof[k].begin(), proof[k].end());
    EXPECT_EQ(rebuilt, set[i]);
  }
}

// ------------------------------------------------------------------ tampering

TEST_F(ShredSet, AlteredPayloadByteBreaksTheRoot) {
  shred_view good;
  ASSERT_EQ(parse_shred(data0(), good), shred_error::none);
  const merkle_node root = *shred_merkle_root(good);
  bytes b = data0();
  b[data_headers_end + 5] ^= 0x01;
  shred_view v;
  ASSERT_EQ(parse_shred(b, v), shred_error::none);
  const auto r = shred_merkle_root(v);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(*r, root);
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *r));

  bytes c = coding0();
  c[coding_headers_end + 100] ^= 0x80;
  ASSERT_EQ(parse_shred(c, v), shred_error::none);
  EXPECT_NE(*shred_merkle_root(v), root);
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *shred_merkle_root(v)));
}

TEST_F(ShredSet, AlteredProofByteBreaksTheRoot) {
  for (const bytes* s : {&data0(), &coding0()}) {
    shred_view good;
    ASSERT_EQ(parse_shred(*s, good), shred_error::none);
    const merkle_node root = *shred_merkle_root(good);
    for (std::size_t k = 0; k < good.proof_depth(); ++k) {
      bytes b = *s;
      b[b.size() - merkle_node_bytes * (k + 1) + 3] ^= 0x10;
      shred_view v;
      ASSERT_EQ(parse_shred(b, v), shred_error::none);
      const auto r = shred_merkle_root(v);
      EXPECT_NE(*r, root);
      EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *r));
    }
  }
}

TEST_F(ShredSet, AlteredHeaderFieldBreaksTheRoot) {
  bytes b = data0();
  put(b, version_at, 8, 2);  // parses (the version is the caller's check) but is signed
  shred_view v;
  ASSERT_EQ(parse_shred(b, v), shred_error::none);
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *shred_merkle_root(v)));
}

TEST_F(ShredSet, AlteredSignatureFails) {
  bytes b = data0();
  b[10] ^= 0x01;
  shred_view v;
  ASSERT_EQ(parse_shred(b, v), shred_error::none);
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *shred_merkle_root(v)));
}

TEST_F(ShredSet, SignedByAnotherKeyFails) {
  const crypto::keypair other = crypto::keypair::generate();
  const auto forged = make_fec_set(other, params, payload);
  for (const bytes& s : {forged[0], forged[30]}) {
    shred_view v;
    ASSERT_EQ(parse_shred(s, v), shred_error::none);
    const auto r = shred_merkle_root(v);
    EXPECT_TRUE(verify_shred_signature(v, other.public_key(), *r));
    EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *r));
  }
}

TEST_F(ShredSet, SignatureCannotBeReplayedOntoAnotherSlot) {
  // Same payload and shape one slot later: a different root, and the old signature over the
  // old root does not carry over even for a verifier handed the old root.
  fec_set_params later = params;
  later.slot += 1;
  later.parent_offset = 2;
  auto other = make_fec_set(leader(), later, payload);
  shred_view old_view;
  ASSERT_EQ(parse_shred(data0(), old_view), shred_error::none);
  const merkle_node old_root = *shred_merkle_root(old_view);
  std::memcpy(other[0].data(), data0().data(), 64);
  shred_view v;
  ASSERT_EQ(parse_shred(other[0], v), shred_error::none);
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), *shred_merkle_root(v)));
  EXPECT_FALSE(verify_shred_signature(v, leader().public_key(), old_root));
}

TEST_F(ShredSet, VerifyWithCache) {
  crypto::pubkey_cache cache(16);
  for (const bytes& s : set) {
    shred_view v;
    ASSERT_EQ(parse_shred(s, v), shred_error::none);
    EXPECT_TRUE(verify_shred_signature(v, cache, leader().public_key(), *shred_merkle_root(v)));
  }
  shred_view empty;
  EXPECT_FALSE(shred_merkle_root(empty).has_value());
  EXPECT_FALSE(verify_shred_signature(empty, leader().public_key(), merkle_node{}));
}

// ------------------------------------------------------------------ rejection reasons

TEST(ShredError, NamesAreDistinct) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < shred_error_count; ++i) {
    names.insert(to_string(static_cast<shred_error>(i)));
  }
  EXPECT_EQ(names.size(), shred_error_count);
  EXPECT_STREQ(to_string(shred_error::nonzero_padding), "nonzero_padding");
}

TEST_F(ShredSet, FailedParseLeavesViewUntouched) {
  shred_view v;
  bytes b = data0();
  b.pop_back();
  EXPECT_EQ(parse_shred(b, v), shred_error::truncated);
  EXPECT_TRUE(v.empty());
  ASSERT_EQ(parse_shred(data0(), v), shred_error::none);
  EXPECT_EQ(parse_shred(b, v), shred_error::truncated);
  EXPECT_EQ(v.bytes().data(), data0().data());
}

TEST_F(ShredSet, TooLong) {
  EXPECT_EQ(parse(bytes(max_shred_bytes + 1, 0)), shred_error::too_long);
  bytes b = coding0();
  b.resize(max_shred_bytes + 1);
  EXPECT_EQ(parse(b), shred_error::too_long);
}

TEST_F(ShredSet, TruncatedHeader) {
  EXPECT_EQ(parse(bytes{}), shred_error::truncated_header);
  EXPECT_EQ(parse(bytes(data0().begin(), data0().begin() + 82)), shred_error::truncated_header);
  // 89 bytes hold a coding shred's headers but not a data shred's.
  EXPECT_EQ(parse(bytes(data0().begin(), data0().begin() + 91)), shred_error::truncated_header);
  EXPECT_EQ(parse(bytes(coding0().begin(), coding0().begin() + 88)),
            shred_error::truncated_header);
  EXPECT_EQ(parse(bytes(coding0().begin(), coding0().begin() + 89)), shred_error::truncated);
}

TEST_F(ShredSet, BadVariant) {
  for (const std::uint8_t bit : {0x10, 0x20}) {
    bytes b = data0();
    b[variant_at] |= bit;
    EXPECT_EQ(parse(b), shred_error::bad_variant);
  }
}

TEST_F(ShredSet, ProofDepthTooLarge) {
  for (const std::uint8_t depth : {7, 15}) {
    bytes b = coding0();
    b[variant_at] = static_cast<std::uint8_t>((b[variant_at] & 0xF0) | depth);
    EXPECT_EQ(parse(b), shred_error::proof_depth_too_large);
  }
}

TEST_F(ShredSet, BadNumData) {
  for (const bytes* s : {&data0(), &coding0()}) {
    for (const std::uint16_t n : {0, 33, 0xFFFF}) {
      bytes b = *s;
      put(b, num_data_at, n, 2);
      EXPECT_EQ(parse(b), shred_error::bad_num_data);
    }
  }
}

TEST_F(ShredSet, BadNumCoding) {
  for (const bytes* s : {&data0(), &coding0()}) {
    for (const std::uint16_t n : {0, 33, 0x100}) {
      bytes b = *s;
      put(b, num_coding_at, n, 2);
      EXPECT_EQ(parse(b), shred_error::bad_num_coding);
    }
  }
}

TEST_F(ShredSet, IndexTooLarge) {
  bytes b = data0();
  put(b, index_at, max_shreds_per_slot, 4);
  put(b, fec_set_index_at, max_shreds_per_slot, 4);
  EXPECT_EQ(parse(b), shred_error::index_too_large);
  bytes c = coding0();
  put(c, index_at, 0xFFFFFFFFu, 4);
  EXPECT_EQ(parse(c), shred_error::index_too_large);
}

TEST_F(ShredSet, CodingPositionOutOfRange) {
  bytes b = coding0();
  put(b, position_at, 32, 2);
  put(b, index_at, params.fec_set_index + 32, 4);
  EXPECT_EQ(parse(b), shred_error::coding_position_out_of_range);
  put(b, num_coding_at, 33, 2);
  EXPECT_EQ(parse(b), shred_error::bad_num_coding);
}

TEST_F(ShredSet, CodingIndexMismatch) {
  bytes b = coding0();
  put(b, index_at, params.fec_set_index + 1, 4);
  EXPECT_EQ(parse(b), shred_error::coding_index_mismatch);
  put(b, index_at, params.fec_set_index - 1, 4);
  EXPECT_EQ(parse(b), shred_error::coding_index_mismatch);
}

TEST_F(ShredSet, IndexBeforeFecSet) {
  bytes b = data0();
  put(b, index_at, params.fec_set_index - 1, 4);
  EXPECT_EQ(parse(b), shred_error::index_before_fec_set);
}

TEST_F(ShredSet, IndexBeyondFecSet) {
  bytes b = data0();
  put(b, index_at, params.fec_set_index + 21, 4);  // num_data = 21
  EXPECT_EQ(parse(b), shred_error::index_beyond_fec_set);
  put(b, index_at, params.fec_set_index + 32, 4);
  EXPECT_EQ(parse(b), shred_error::index_beyond_fec_set);
}

TEST_F(ShredSet, BadParentOffset) {
  bytes b = data0();
  put(b, parent_offset_at, 0, 2);
  EXPECT_EQ(parse(b), shred_error::bad_parent_offset);
  put(b, parent_offset_at, params.slot + 1, 2);
  EXPECT_EQ(parse(b), shred_error::bad_parent_offset);
  put(b, parent_offset_at, params.slot, 2);  // parent = slot 0 is fine
  EXPECT_EQ(parse(b), shred_error::none);
  put(b, slot_at, 0, 8);
  put(b, parent_offset_at, 1, 2);
  EXPECT_EQ(parse(b), shred_error::bad_parent_offset);
  put(b, parent_offset_at, 0, 2);
  EXPECT_EQ(parse(b), shred_error::none);
}

TEST_F(ShredSet, BadDataFlags) {
  for (const std::uint8_t flags : {0x04, 0x80, 0x02 | 0x40}) {
    bytes b = data0();
    b[variant_at] |= 0x40;  // last set, so slot_complete alone is judged on the flags
    b[flags_at] = flags;
    EXPECT_EQ(parse(b), shred_error::bad_data_flags);
  }
  bytes b = data0();
  b[variant_at] |= 0x40;
  b[flags_at] = 0x02;  // slot_complete without batch_complete
  EXPECT_EQ(parse(b), shred_error::bad_data_flags);
  b[flags_at] = 0x03;
  EXPECT_EQ(parse(b), shred_error::none);
}

TEST_F(ShredSet, SlotCompleteNotLastSet) {
  bytes b = data0();
  b[flags_at] = data_flag_batch_complete | data_flag_slot_complete;
  EXPECT_EQ(parse(b), shred_error::slot_complete_not_last_set);
}

TEST_F(ShredSet, DataSizeOutOfRange) {
  bytes b = data0();
  put(b, size_at, data_headers_end - 1, 2);
  EXPECT_EQ(parse(b), shred_error::data_size_out_of_range);
  put(b, size_at, data_headers_end + data_capacity_bytes(53) + 1, 2);
  EXPECT_EQ(parse(b), shred_error::data_size_out_of_range);
  put(b, size_at, 0xFFFF, 2);
  EXPECT_EQ(parse(b), shred_error::data_size_out_of_range);
  put(b, size_at, data_headers_end + data_capacity_bytes(53), 2);
  EXPECT_EQ(parse(b), shred_error::none);
  put(b, size_at, data_headers_end, 2);  // the rest would be padding, and is not zero
  EXPECT_EQ(parse(b), shred_error::nonzero_padding);
}

TEST_F(ShredSet, ProofDepthMismatch) {
  for (const bytes* s : {&data0(), &coding0()}) {
    shred_view v;
    ASSERT_EQ(parse_shred(*s, v), shred_error::none);
    for (const std::size_t depth : {std::size_t{0}, v.proof_depth() - 1}) {
      bytes b = *s;
      b[variant_at] = static_cast<std::uint8_t>((b[variant_at] & 0xF0) | depth);
      EXPECT_EQ(parse(b), shred_error::proof_depth_mismatch);
    }
  }
  // The leaf count decides the proof's shape: 53 leaves claimed as 21 + 11 = 32.
  bytes b = data0();
  put(b, num_coding_at, 11, 2);
  EXPECT_EQ(parse(b), shred_error::proof_depth_mismatch);
}

TEST_F(ShredSet, Truncated) {
  for (const bytes* s : {&data0(), &last_data(), &coding0()}) {
    bytes b = *s;
    b.pop_back();
    EXPECT_EQ(parse(b), shred_error::truncated);
    b.resize(200);
    EXPECT_EQ(parse(b), shred_error::truncated);
  }
}

TEST_F(ShredSet, TrailingBytes) {
  for (const bytes* s : {&data0(), &last_data()}) {
    bytes b = *s;
    b.push_back(0);
    EXPECT_EQ(parse(b), shred_error::trailing_bytes);
  }
  // A 5:5 set is shallower (depth 4), so its coding shreds have room to grow.
  fec_set_params p = default_params();
  p.num_coding = 5;
  auto small = make_fec_set(leader(), p, bytes(5000, 9));
  ASSERT_EQ(small.size(), 10u);
  ASSERT_LT(small[8].size(), max_shred_bytes);  // leaf 8 of 10 is promoted twice: depth 2
  small[8].push_back(0);
  EXPECT_EQ(parse(small[8]), shred_error::trailing_bytes);
}

TEST_F(ShredSet, NonzeroPadding) {
  shred_view v;
  ASSERT_EQ(parse_shred(last_data(), v), shred_error::none);
  ASSERT_LT(v.data_size(), data_headers_end + data_capacity_bytes(53));
  for (const std::size_t at : {v.data_size(), data_headers_end + data_capacity_bytes(53) - 1}) {
    bytes b = last_data();
    b[at] = 1;
    EXPECT_EQ(parse(b), shred_error::nonzero_padding);
  }
}

}  // namespace
