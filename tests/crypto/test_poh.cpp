// PoH: tick cadence and refusal rules, entry verification (valid and tampered) on every
// verify backend and thread count, and the entry mixin merkle root.

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/util/hex.hpp>

namespace {

using namespace riptide::crypto;

hash32 make_hash(std::uint64_t seed) {
  hash32 h{};
  std::mt19937_64 rng(seed);
  for (auto& b : h) b = static_cast<std::uint8_t>(rng());
  return h;
}

hash32 chained(hash32 h, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) SHA256(h.data(), h.size(), h.data());
  return h;
}

// ---------------------------------------------------------------------------------------
// state machine

TEST(poh, hash_stops_one_short_of_the_tick) {
  const hash32 start = make_hash(1);
  poh p(start, 10);
  EXPECT_EQ(p.hashes_per_tick(), 10u);
  EXPECT_EQ(p.remaining_hashes(), 10u);
  EXPECT_FALSE(p.hash(4));
  EXPECT_EQ(p.remaining_hashes(), 6u);
  EXPECT_EQ(p.last_hash(), chained(start, 4));
  EXPECT_FALSE(p.tick().has_value()) << "tick not due yet";
  EXPECT_TRUE(p.hash(100));
  EXPECT_EQ(p.remaining_hashes(), 1u);
  EXPECT_EQ(p.last_hash(), chained(start, 9));
  EXPECT_TRUE(p.hash(100)) << "hash() does nothing while a tick is due";
  EXPECT_EQ(p.last_hash(), chained(start, 9));
  EXPECT_FALSE(p.record(make_hash(2)).has_value()) << "record refused while a tick is due";

  const auto tick = p.tick();
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->num_hashes, 10u);
  EXPECT_FALSE(tick->has_mixin);
  EXPECT_EQ(tick->hash, chained(start, 10));
  EXPECT_EQ(p.last_hash(), tick->hash);
  EXPECT_EQ(p.tick_count(), 1u);
  EXPECT_EQ(p.remaining_hashes(), 10u);
  EXPECT_FALSE(p.tick().has_value());
}

TEST(poh, hash_zero_does_nothing) {
  poh p(make_hash(1), 10);
  EXPECT_FALSE(p.hash(0));
  EXPECT_EQ(p.last_hash(), make_hash(1));
  EXPECT_EQ(p.remaining_hashes(), 10u);
}

TEST(poh, records_count_toward_the_tick) {
  const hash32 start = make_hash(3);
  const hash32 mixin = make_hash(4);
  poh p(start, 10);
  EXPECT_FALSE(p.hash(3));
  const auto rec = p.record(mixin);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->num_hashes, 4u);
  EXPECT_TRUE(rec->has_mixin);
  EXPECT_EQ(rec->mixin, mixin);
  EXPECT_EQ(rec->hash, sha256_mixin(chained(start, 3), mixin));
  EXPECT_EQ(p.remaining_hashes(), 6u);

  const auto rec2 = p.record(mixin);  // back-to-back record: one hash
  ASSERT_TRUE(rec2.has_value());
  EXPECT_EQ(rec2->num_hashes, 1u);
  EXPECT_EQ(rec2->hash, sha256_mixin(rec->hash, mixin));

  EXPECT_TRUE(p.hash(1000));
  const auto tick = p.tick();
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->num_hashes, 5u);  // 10 - 4 - 1
  EXPECT_EQ(tick->hash, chained(rec2->hash, 5));
}

TEST(poh, record_that_uses_the_second_to_last_hash_makes_the_tick_due) {
  poh p(make_hash(5), 3);
  EXPECT_FALSE(p.hash(1));
  ASSERT_TRUE(p.record(make_hash(6)).has_value());
  EXPECT_EQ(p.remaining_hashes(), 1u);
  EXPECT_FALSE(p.record(make_hash(6)).has_value());
  const auto tick = p.tick();
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->num_hashes, 1u);
}

TEST(poh, one_hash_per_tick_and_zero_treated_as_one) {
  for (std::uint64_t hpt : {0u, 1u}) {
    poh p(make_hash(7), hpt);
    EXPECT_EQ(p.hashes_per_tick(), 1u);
    EXPECT_TRUE(p.hash(5));
    EXPECT_FALSE(p.record(make_hash(8)).has_value());
    for (int i = 0; i < 3; ++i) {
      const auto tick = p.tick();
      ASSERT_TRUE(tick.has_value());
      EXPECT_EQ(tick->num_hashes, 1u);
    }
    EXPECT_EQ(p.tick_count(), 3u);
    EXPECT_EQ(p.last_hash(), chained(make_hash(7), 3));
  }
}

// docs/protocol.md, "An entry's PoH hash", recomputed with OpenSSL from the text alone:
// num_hashes - 1 plain hashes of the previous entry's hash, then one last hash that takes
// h ‖ mixin (64 bytes) for an entry with a mixin and h alone for a tick.
hash32 doc_entry_hash(const hash32& previous, const poh_entry& e) {
  hash32 h = previous;
  for (std::uint64_t i = 1; i < e.num_hashes; ++i) SHA256(h.data(), h.size(), h.data());
  if (!e.has_mixin) {
    SHA256(h.data(), h.size(), h.data());
    return h;
  }
  std::uint8_t input[64];
  std::memcpy(input, h.data(), 32);
  std::memcpy(input + 32, e.mixin.data(), 32);
  SHA256(input, sizeof input, h.data());
  return h;
}

TEST(poh, entry_hash_as_protocol_md_states) {
  // The worked example: start 00×32, an entry of 3 hashes mixing in the mixin example's root,
  // then a tick of 2 hashes (5 hashes per tick).
  signature s[3];
  for (std::uint8_t i = 0; i < 3; ++i) s[i].fill(static_cast<std::uint8_t>(i + 1));
  const hash32 mixin = entry_mixin(s);
  poh example(hash32{}, 5);
  EXPECT_FALSE(example.hash(2));
  EXPECT_EQ(riptide::util::to_hex(example.last_hash()),
            "2b32db6c2c0a6235fb1397e8225ea85e0f0e6e8c7b126d0016ccbde0e667151e");
  const auto entry = example.record(mixin);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->num_hashes, 3u);
  EXPECT_EQ(riptide::util::to_hex(entry->hash),
            "a71c69049bdcb0005ecf25552dae01fd85418605d02d9f05efcc33073e6f679f");
  EXPECT_EQ(doc_entry_hash(hash32{}, *entry), entry->hash);
  EXPECT_TRUE(example.hash(100));
  const auto tick = example.tick();
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->num_hashes, 2u);
  EXPECT_EQ(riptide::util::to_hex(tick->hash),
            "0835e51442b6a3ed94f262a64dfc6c6f9841a2047221be2e0677f54c0dc9896d");
  EXPECT_EQ(doc_entry_hash(entry->hash, *tick), tick->hash);

  // A long stream as the PoH tile makes it (entries of 1 .. hashes_per_tick hashes, ticks
  // between them): every entry's hash is the documented formula applied to its predecessor,
  // and the tick rule holds (a tick's hashes complete hashes_per_tick).
  constexpr std::uint64_t hashes_per_tick = 16;
  std::mt19937_64 rng(42);
  const hash32 start = make_hash(77);
  poh p(start, hashes_per_tick);
  std::vector<poh_entry> entries;
  std::uint64_t in_tick = 0;
  while (entries.size() < 400) {
    if (p.hash(rng() % 6)) {
      const auto t = p.tick();
      ASSERT_TRUE(t.has_value());
      EXPECT_EQ(in_tick + t->num_hashes, hashes_per_tick);
      entries.push_back(*t);
      in_tick = 0;
    } else if (rng() % 2 == 0) {
      const auto e = p.record(make_hash(rng()));
      ASSERT_TRUE(e.has_value());
      in_tick += e->num_hashes;
      entries.push_back(*e);
    }
  }
  hash32 previous = start;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    ASSERT_EQ(doc_entry_hash(previous, entries[i]), entries[i].hash) << "entry " << i;
    previous = entries[i].hash;
  }
  EXPECT_TRUE(verify_entries(start, entries));
}

// A PoH stream the way the tile produces it: hash in batches, record now and then,
// tick when due.
std::vector<poh_entry> generate(const hash32& start, std::uint64_t hashes_per_tick,
                                std::size_t ticks, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  poh p(start, hashes_per_tick);
  std::vector<poh_entry> out;
  while (p.tick_count() < ticks) {
    if (p.hash(rng() % 200)) {
      out.push_back(*p.tick());
      continue;
    }
    if (rng() % 3 == 0) {
      const auto rec = p.record(make_hash(rng()));
      if (rec) out.push_back(*rec);
    }
  }
  return out;
}

TEST(poh, every_hash_of_a_tick_is_counted) {
  const std::vector<poh_entry> entries = generate(make_hash(9), 500, 5, 1);
  std::uint64_t hashes = 0;
  std::size_t ticks = 0;
  for (const poh_entry& e : entries) {
    hashes += e.num_hashes;
    if (!e.has_mixin) {
      ++ticks;
      EXPECT_EQ(hashes, 500u * ticks);
    }
  }
  EXPECT_EQ(ticks, 5u);
}

// ---------------------------------------------------------------------------------------
// verification

class verify_backends : public ::testing::TestWithParam<poh_verify_backend> {
 protected:
  void SetUp() override {
    if (!poh_verify_backend_available(GetParam())) {
      GTEST_SKIP() << "CPU lacks the " << to_string(GetParam()) << " verify backend";
    }
  }
  bool verify(const hash32& start, const std::vector<poh_entry>& entries, unsigned threads = 1) {
    return verify_entries(start, entries, threads, GetParam());
  }
};

TEST_P(verify_backends, recorded_entries_verify) {
  const hash32 start = make_hash(10);
  const std::vector<poh_entry> entries = generate(start, 1000, 8, 2);
  ASSERT_GT(entries.size(), 20u);
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    EXPECT_TRUE(verify(start, entries, threads)) << threads << " threads";
  }
  EXPECT_TRUE(verify(start, {}));
}

TEST_P(verify_backends, wrong_start_is_rejected) {
  const hash32 start = make_hash(11);
  const std::vector<poh_entry> entries = generate(start, 300, 3, 3);
  EXPECT_FALSE(verify(make_hash(12), entries));
}

// Varied lengths (many of 1 and 2 hashes, some long) so lanes finish at different
// steps, refill, compact and switch kernels.
std::vector<poh_entry> varied_entries(const hash32& start, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<poh_entry> out;
  hash32 h = start;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t kind = rng() % 4;
    const std::uint64_t n = kind == 0 ? 1 + rng() % 2 : kind == 1 ? 1 + rng() % 50 : 1 + rng() % 700;
    poh_entry e{n, {}, rng() % 2 == 0, {}};
    h = chained(h, n - 1);
    if (e.has_mixin) {
      e.mixin = make_hash(rng());
      h = sha256_mixin(h, e.mixin);
    } else {
      h = chained(h, 1);
    }
    e.hash = h;
    out.push_back(e);
  }
  return out;
}

TEST_P(verify_backends, each_tampered_field_is_rejected_at_every_position) {
  const hash32 start = make_hash(13);
  const std::vector<poh_entry> good = varied_entries(start, 41, 4);
  ASSERT_TRUE(verify(start, good));
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::vector<poh_entry> bad = good;
    bad[i].hash[i % 32] ^= 0x01;
    EXPECT_FALSE(verify(start, bad)) << "hash of entry " << i;

    bad = good;
    ++bad[i].num_hashes;
    EXPECT_FALSE(verify(start, bad)) << "num_hashes+1 of entry " << i;

    if (good[i].num_hashes > 1) {
      bad = good;
      --bad[i].num_hashes;
      EXPECT_FALSE(verify(start, bad)) << "num_hashes-1 of entry " << i;
    }

    bad = good;
    bad[i].num_hashes = 0;
    EXPECT_FALSE(verify(start, bad)) << "num_hashes 0 at entry " << i;

    bad = good;
    bad[i].has_mixin = !bad[i].has_mixin;
    EXPECT_FALSE(verify(start, bad)) << "has_mixin flipped at entry " << i;

    if (good[i].has_mixin) {
      bad = good;
      bad[i].mixin[5] ^= 0x80;
      EXPECT_FALSE(verify(start, bad)) << "mixin of entry " << i;
    }

    if (i + 1 < good.size()) {
      bad = good;
      std::swap(bad[i], bad[i + 1]);
      EXPECT_FALSE(verify(start, bad)) << "entries " << i << " and " << i + 1 << " swapped";
    }
  }
}

TEST_P(verify_backends, threads_agree_with_one_thread) {
  const hash32 start = make_hash(14);
  const std::vector<poh_entry> good = varied_entries(start, 100, 5);
  std::mt19937_64 rng(6);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<poh_entry> list = good;
    if (trial % 2 == 1) list[rng() % list.size()].hash[0] ^= 0x40;
    const bool one = verify(start, list, 1);
    EXPECT_EQ(one, trial % 2 == 0);
    for (unsigned threads : {0u, 2u, 3u, 4u, 7u, 200u}) {
      EXPECT_EQ(verify(start, list, threads), one) << "trial " << trial << ", " << threads << " threads";
    }
  }
}

TEST_P(verify_backends, agrees_with_portable) {
  const hash32 start = make_hash(15);
  std::mt19937_64 rng(8);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<poh_entry> list = varied_entries(start, 1 + rng() % 70, rng());
    if (trial % 3 != 0) list[rng() % list.size()].hash[rng() % 32] ^= 0x02;
    EXPECT_EQ(verify(start, list), verify_entries(start, list, 1, poh_verify_backend::portable))
        << "trial " << trial;
  }
}

TEST_P(verify_backends, long_equal_entries_fill_every_lane) {
  // 37 entries of 3000 hashes: more than a full set of 16 lanes, with a ragged tail.
  const hash32 start = make_hash(16);
  std::vector<poh_entry> list;
  hash32 h = start;
  for (int i = 0; i < 37; ++i) {
    sha256_chain(h, 3000);
    list.push_back({3000, h, false, {}});
  }
  EXPECT_TRUE(verify(start, list));
  EXPECT_TRUE(verify(start, list, 2));
  list[36].hash[31] ^= 1;
  EXPECT_FALSE(verify(start, list));
  EXPECT_FALSE(verify(start, list, 2));
}

INSTANTIATE_TEST_SUITE_P(all, verify_backends,
                         ::testing::Values(poh_verify_backend::portable, poh_verify_backend::shani,
                                           poh_verify_backend::avx2, poh_verify_backend::avx512),
                         [](const ::testing::TestParamInfo<poh_verify_backend>& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(poh_verify, default_overload_uses_an_available_backend) {
  const poh_verify_backend best = poh_best_verify_backend();
  EXPECT_TRUE(poh_verify_backend_available(best));
  const hash32 start = make_hash(17);
  const std::vector<poh_entry> entries = generate(start, 400, 4, 9);
  EXPECT_TRUE(verify_entries(start, entries));
  EXPECT_TRUE(verify_entries(start, entries, 2));
  std::vector<poh_entry> bad = entries;
  bad.back().num_hashes = 0;
  EXPECT_FALSE(verify_entries(start, bad));
}

TEST(poh_verify, forcing_portable_sha256_makes_verify_portable) {
  const sha256_backend saved = sha256_active_backend();
  ASSERT_TRUE(sha256_force_backend(sha256_backend::portable));
  EXPECT_EQ(poh_best_verify_backend(), poh_verify_backend::portable);
  sha256_force_backend(saved);
}

// ---------------------------------------------------------------------------------------
// entry mixin

hash32 reference_sha256(const std::vector<std::uint8_t>& bytes) {
  hash32 out;
  SHA256(bytes.data(), bytes.size(), out.data());
  return out;
}

// Level by level, as written in the spec.
hash32 reference_merkle(const std::vector<signature>& sigs) {
  if (sigs.empty()) return hash32{};
  std::vector<hash32> level;
  for (const signature& s : sigs) {
    std::vector<std::uint8_t> leaf{0x00};
    leaf.insert(leaf.end(), s.begin(), s.end());
    level.push_back(reference_sha256(leaf));
  }
  while (level.size() > 1) {
    std::vector<hash32> up;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      std::vector<std::uint8_t> node{0x01};
      node.insert(node.end(), level[i].begin(), level[i].end());
      node.insert(node.end(), level[i + 1].begin(), level[i + 1].end());
      up.push_back(reference_sha256(node));
    }
    if (level.size() % 2 == 1) up.push_back(level.back());
    level = std::move(up);
  }
  return level[0];
}

TEST(entry_mixin, matches_level_by_level_reference) {
  std::mt19937_64 rng(10);
  std::vector<signature> sigs;
  for (std::size_t n = 0; n <= 70; ++n) {
    ASSERT_EQ(entry_mixin(sigs), reference_merkle(sigs)) << n << " signatures";
    signature s;
    for (auto& b : s) b = static_cast<std::uint8_t>(rng());
    sigs.push_back(s);
  }
}

TEST(entry_mixin, small_cases_by_hand) {
  signature a{};
  signature b{};
  signature c{};
  a.fill(0xaa);
  b.fill(0xbb);
  c.fill(0xcc);
  auto leaf = [](const signature& s) {
    std::vector<std::uint8_t> v{0x00};
    v.insert(v.end(), s.begin(), s.end());
    return reference_sha256(v);
  };
  auto node = [](const hash32& l, const hash32& r) {
    std::vector<std::uint8_t> v{0x01};
    v.insert(v.end(), l.begin(), l.end());
    v.insert(v.end(), r.begin(), r.end());
    return reference_sha256(v);
  };
  EXPECT_EQ(entry_mixin({}), hash32{});
  const std::vector<signature> one{a};
  EXPECT_EQ(entry_mixin(one), leaf(a));
  const std::vector<signature> two{a, b};
  EXPECT_EQ(entry_mixin(two), node(leaf(a), leaf(b)));
  const std::vector<signature> three{a, b, c};
  EXPECT_EQ(entry_mixin(three), node(node(leaf(a), leaf(b)), leaf(c)));
  const std::vector<signature> five{a, b, c, a, b};
  EXPECT_EQ(entry_mixin(five),
            node(node(node(leaf(a), leaf(b)), node(leaf(c), leaf(a))), leaf(b)));
}


// docs/protocol.md, "An entry's mixin": the worked example, and promotion (not duplication)
// of an odd level's last node. reference_merkle above is the same text as code for every
// count up to 70.
TEST(entry_mixin, as_protocol_md_states) {
  signature s[3];
  for (std::uint8_t i = 0; i < 3; ++i) s[i].fill(static_cast<std::uint8_t>(i + 1));
  auto leaf = [](const signature& sig) {
    std::vector<std::uint8_t> v{0x00};
    v.insert(v.end(), sig.begin(), sig.end());
    return reference_sha256(v);
  };
  auto node = [](const hash32& l, const hash32& r) {
    std::vector<std::uint8_t> v{0x01};
    v.insert(v.end(), l.begin(), l.end());
    v.insert(v.end(), r.begin(), r.end());
    return reference_sha256(v);
  };
  using riptide::util::to_hex;
  EXPECT_EQ(to_hex(leaf(s[0])), "931f38af772ca6a076ad98c475dd6cd41bb81457d70189f1844b8fab837706af");
  EXPECT_EQ(to_hex(leaf(s[1])), "03674b9eb710c2b942a09141723e4ae6a662cb533af1f81ef3e32d0e586c9263");
  EXPECT_EQ(to_hex(leaf(s[2])), "a2e1aa256be38abe8bff2d4ed99a50c39669f7c4205dab4f1e43ad23b03f7271");
  const hash32 n01 = node(leaf(s[0]), leaf(s[1]));
  EXPECT_EQ(to_hex(n01), "d76f40c824581a363abac4eb497e23ca29b35eecae6730924bd9d3c07cde89cb");
  const hash32 root = entry_mixin(s);
  EXPECT_EQ(to_hex(root), "8941a11674d19bd2df9e0b57aa11731aded1da642bb9f32bc642353a2c9d0ecc");
  EXPECT_EQ(root, node(n01, leaf(s[2])));
  EXPECT_NE(root, node(n01, node(leaf(s[2]), leaf(s[2])))) << "the odd node is promoted, not paired with itself";
  EXPECT_EQ(entry_mixin(std::span(s, 1)), leaf(s[0])) << "one signature: its leaf, hashed";
  EXPECT_EQ(entry_mixin({}), hash32{});
}

}  // namespace
