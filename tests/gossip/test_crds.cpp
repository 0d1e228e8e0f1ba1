#include <riptide/gossip/crds.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;

crypto::keypair key(std::uint8_t n) {
  crypto::seckey s{};
  s[31] = n;
  s[0] = 0x11;
  return crypto::keypair::from_secret(s);
}

// A signed value's bytes; the table itself never checks signatures, but real ones keep the
// fixtures honest.
struct value_bytes {
  std::vector<std::uint8_t> bytes;
  value_ref ref() const {
    value_ref r;
    EXPECT_EQ(parse_single_value(bytes, r), parse_error::none);
    return r;
  }
  crypto::hash32 hash() const { return value_hash(bytes); }
};

value_bytes make(const crypto::keypair& k, std::uint64_t wallclock, value_body body,
                 std::uint8_t aux_byte = 0) {
  crds_value v;
  v.wallclock_ms = wallclock;
  v.body = std::move(body);
  crypto::aux_rand aux{};
  aux[0] = aux_byte;
  std::vector<std::uint8_t> out(max_value_bytes);
  const std::size_t n = sign_value(v, k, aux, out);
  EXPECT_GT(n, 0u);
  out.resize(n);
  return {out};
}

value_bytes data(const crypto::keypair& k, std::uint64_t wallclock, std::string key_,
                 std::string value_) {
  return make(k, wallclock, data_value{std::move(key_), std::move(value_)});
}

// Built with snprintf: "k" + std::to_string(i) trips a GCC 12 -Wrestrict false positive.
std::string key_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "k%d", i);
  return buf;
}

crds_table::insert_options at(std::uint64_t now) { return {now, {}, true}; }

TEST(Crds, InsertDuplicateUpdateOutdated) {
  crds_table t(64);
  const auto a = key(1);
  const value_bytes v1 = data(a, 100, "k", "one");
  const value_bytes v2 = data(a, 200, "k", "two");
  EXPECT_EQ(t.insert(v1.ref(), v1.hash(), at(1)), crds_outcome::inserted);
  EXPECT_EQ(t.insert(v1.ref(), v1.hash(), at(2)), crds_outcome::duplicate);
  crypto::hash32 replaced{};
  EXPECT_EQ(t.insert(v2.ref(), v2.hash(), at(3), &replaced), crds_outcome::updated);
  EXPECT_EQ(replaced, v1.hash());
  EXPECT_EQ(t.insert(v1.ref(), v1.hash(), at(4)), crds_outcome::outdated);
  EXPECT_EQ(t.size(), 1u);
  const crds_entry* e = t.find(label_of(v2.ref()));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->bytes, v2.bytes);
  EXPECT_EQ(e->wallclock_ms, 200u);
  EXPECT_EQ(e->local_ms, 3u);
  EXPECT_EQ(t.find(v2.hash()), e);
  EXPECT_EQ(t.find(v1.hash()), nullptr);
  EXPECT_FALSE(t.contains(v1.hash()));
}

TEST(Crds, EqualWallclockTieBrokenByHashWhateverTheOrder) {
  const auto a = key(2);
  const value_bytes x = data(a, 500, "k", "x");
  const value_bytes y = data(a, 500, "k", "y");
  const crypto::hash32 winner = std::max(x.hash(), y.hash());
  crds_table t1(8), t2(8);
  (void)t1.insert(x.ref(), x.hash(), at(0));
  (void)t1.insert(y.ref(), y.hash(), at(0));
  (void)t2.insert(y.ref(), y.hash(), at(0));
  (void)t2.insert(x.ref(), x.hash(), at(0));
  EXPECT_EQ(t1.find(label_of(x.ref()))->hash, winner);
  EXPECT_EQ(t2.find(label_of(x.ref()))->hash, winner);
  EXPECT_TRUE(value_overrides(2, {}, 1, winner));
  EXPECT_FALSE(value_overrides(1, winner, 2, {}));
}

TEST(Crds, LabelsSeparateOriginsKindsKeysAndVoteIndices) {
  crds_table t(64);
  const auto a = key(3), b = key(4);
  const std::vector<value_bytes> values = {
      data(a, 1, "k1", "v"),
      data(a, 1, "k2", "v"),
      data(b, 1, "k1", "v"),
      make(a, 1, contact_info{}),
      make(a, 1, node_instance{7, 1}),
      make(a, 1, leader_schedule_digest{3, {}}),
      make(a, 1, vote_value{0, 10, {}}),
      make(a, 1, vote_value{1, 11, {}}),
      make(a, 1, lowest_slot_value{5}),
  };
  for (const auto& v : values) EXPECT_EQ(t.insert(v.ref(), v.hash(), at(0)), crds_outcome::inserted);
  EXPECT_EQ(t.size(), values.size());
  EXPECT_EQ(t.count(value_kind::data), 3u);
  EXPECT_EQ(t.count(value_kind::vote), 2u);
  EXPECT_EQ(t.count(value_kind::contact_info), 1u);
  EXPECT_EQ(t.count(value_kind::node_instance), 1u);
  EXPECT_EQ(t.count(value_kind::leader_schedule), 1u);
  EXPECT_EQ(t.count(value_kind::lowest_slot), 1u);
  EXPECT_EQ(t.origin_count(a.public_key()), 8u);
  EXPECT_EQ(t.origin_count(b.public_key()), 1u);
  // A second vote for index 1 replaces the first; index 0 is untouched.
  const value_bytes v1b = make(a, 2, vote_value{1, 12, {}});
  EXPECT_EQ(t.insert(v1b.ref(), v1b.hash(), at(0)), crds_outcome::updated);
  EXPECT_EQ(t.count(value_kind::vote), 2u);
}

TEST(Crds, CapacityRefusesNewLabelsButAcceptsUpdates) {
  crds_table t(16);
  const auto a = key(5);
  for (int i = 0; i < 16; ++i) {
    const value_bytes v = data(a, 1, key_name(i), "v");
    ASSERT_EQ(t.insert(v.ref(), v.hash(), at(0)), crds_outcome::inserted);
  }
  const value_bytes extra = data(a, 1, "extra", "v");
  EXPECT_EQ(t.check(label_of(extra.ref()), 1, extra.hash()), crds_outcome::table_full);
  EXPECT_EQ(t.insert(extra.ref(), extra.hash(), at(0)), crds_outcome::table_full);
  const value_bytes newer = data(a, 2, "k3", "w");
  EXPECT_EQ(t.insert(newer.ref(), newer.hash(), at(0)), crds_outcome::updated);
  EXPECT_EQ(t.size(), 16u);
  EXPECT_EQ(t.capacity(), 16u);
  EXPECT_THROW(crds_table(0), std::invalid_argument);
}

TEST(Crds, CheckPredictsInsertWithoutChangingAnything) {
  crds_table t(8);
  const auto a = key(6);
  const value_bytes v1 = data(a, 10, "k", "1");
  const value_bytes v2 = data(a, 20, "k", "2");
  EXPECT_EQ(t.check(label_of(v1.ref()), 10, v1.hash()), crds_outcome::inserted);
  EXPECT_EQ(t.size(), 0u);
  (void)t.insert(v1.ref(), v1.hash(), at(0));
  EXPECT_EQ(t.check(label_of(v1.ref()), 10, v1.hash()), crds_outcome::duplicate);
  EXPECT_EQ(t.check(label_of(v2.ref()), 20, v2.hash()), crds_outcome::updated);
  EXPECT_EQ(t.check(label_of(v2.ref()), 5, v2.hash()), crds_outcome::outdated);
  EXPECT_EQ(t.find(label_of(v1.ref()))->hash, v1.hash());
}

TEST(Crds, OrdinalsWalkChangesInOrder) {
  crds_table t(64);
  const auto a = key(7);
  std::vector<value_bytes> vs;
  for (int i = 0; i < 5; ++i) vs.push_back(data(a, 1, key_name(i), "v"));
  for (const auto& v : vs) (void)t.insert(v.ref(), v.hash(), at(0));
  std::vector<std::uint64_t> seen;
  std::uint64_t cursor = t.for_each_since(0, [&](const crds_entry& e) {
    seen.push_back(e.ordinal);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(cursor, 6u);
  EXPECT_EQ(t.next_ordinal(), 6u);
  // Updating k1 moves it to the end of the order with a new ordinal.
  const value_bytes k1b = data(a, 2, "k1", "w");
  (void)t.insert(k1b.ref(), k1b.hash(), at(0));
  seen.clear();
  cursor = t.for_each_since(cursor, [&](const crds_entry& e) {
    seen.push_back(e.ordinal);
    EXPECT_EQ(e.label.sub_key, "k1");
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{6}));
  EXPECT_EQ(cursor, 7u);
  // Stopping early returns the ordinal to resume from.
  std::size_t visited = 0;
  const std::uint64_t resume = t.for_each_since(0, [&](const crds_entry&) { return ++visited < 3; });
  EXPECT_EQ(resume, 4u);  // ordinals 1, 3, 4 remain (2 was replaced); stopped at the third
}

TEST(Crds, ForEachFromWrapsAround) {
  crds_table t(64);
  const auto a = key(8);
  for (int i = 0; i < 10; ++i) {
    const value_bytes v = data(a, 1, key_name(i), "v");
    (void)t.insert(v.ref(), v.hash(), at(0));
  }
  std::vector<std::uint64_t> order;
  t.for_each_from(7, [&](const crds_entry& e) {
    order.push_back(e.ordinal);
    return true;
  });
  EXPECT_EQ(order, (std::vector<std::uint64_t>{7, 8, 9, 10, 1, 2, 3, 4, 5, 6}));
  std::size_t n = 0;
  t.for_each_from(3, [&](const crds_entry&) { return ++n < 4; });
  EXPECT_EQ(n, 4u);
}

TEST(Crds, ScanFromVisitsEveryValueOnceWithItsHash) {
  crds_table t(64);
  const auto a = key(13), b = key(14);
  std::set<crypto::hash32> held;
  for (int i = 0; i < 12; ++i) {
    const value_bytes v = data(i % 2 ? a : b, 1, key_name(i), "v");
    (void)t.insert(v.ref(), v.hash(), at(0));
    held.insert(v.hash());
  }
  // Remove and update some, so the dense array has been swap-removed and rewritten.
  const value_bytes gone = data(b, 1, key_name(0), "v");
  ASSERT_TRUE(t.remove(label_of(gone.ref())));
  held.erase(gone.hash());
  const value_bytes newer = data(a, 5, key_name(1), "w");
  held.erase(data(a, 1, key_name(1), "v").hash());
  (void)t.insert(newer.ref(), newer.hash(), at(0));
  held.insert(newer.hash());
  EXPECT_EQ(t.remove_origin(b.public_key()), 5u);
  for (int i = 0; i < 12; i += 2) held.erase(data(b, 1, key_name(i), "v").hash());
  for (const std::size_t start : {std::size_t{0}, std::size_t{3}, std::size_t{1000}}) {
    std::set<crypto::hash32> seen;
    t.scan_from(start, [&](const crypto::hash32& h, const crds_entry& e) {
      EXPECT_EQ(h, e.hash);
      EXPECT_TRUE(seen.insert(h).second);
      return true;
    });
    EXPECT_EQ(seen, held);
  }
  std::size_t n = 0;
  t.scan_from(0, [&](const crypto::hash32&, const crds_entry&) { return ++n < 2; });
  EXPECT_EQ(n, 2u);
}

TEST(Crds, PromoteMakesAPulledValuePushableAgain) {
  crds_table t(8);
  const auto a = key(15), relayer = key(16);
  const value_bytes v = data(a, 1, "k", "v");
  (void)t.insert(v.ref(), v.hash(), {0, a.public_key(), false});
  const std::uint64_t before = t.find(v.hash())->ordinal;
  EXPECT_TRUE(t.promote(v.hash(), relayer.public_key()));
  const crds_entry* e = t.find(v.hash());
  EXPECT_TRUE(e->pushable);
  EXPECT_GT(e->ordinal, before);
  EXPECT_EQ(e->from, relayer.public_key());
  EXPECT_FALSE(t.promote(v.hash(), relayer.public_key()));  // already pushable
  EXPECT_FALSE(t.promote(crypto::hash32{}, relayer.public_key()));
  std::size_t seen = 0;
  (void)t.for_each_since(before + 1, [&](const crds_entry&) { return ++seen > 0; });
  EXPECT_EQ(seen, 1u);
}

TEST(Crds, RemoveAndRemoveOrigin) {
  crds_table t(64);
  const auto a = key(9), b = key(10);
  const value_bytes a1 = data(a, 1, "x", "1"), a2 = make(a, 1, contact_info{});
  const value_bytes b1 = data(b, 1, "x", "1");
  for (const auto* v : {&a1, &a2, &b1}) (void)t.insert(v->ref(), v->hash(), at(0));
  EXPECT_EQ(t.remove_origin(a.public_key()), 2u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(a1.hash()), nullptr);
  EXPECT_EQ(t.count(value_kind::contact_info), 0u);
  EXPECT_EQ(t.count(value_kind::data), 1u);
  EXPECT_EQ(t.remove_origin(a.public_key()), 0u);
  EXPECT_TRUE(t.remove(label_of(b1.ref())));
  EXPECT_FALSE(t.remove(label_of(b1.ref())));
  EXPECT_EQ(t.size(), 0u);
  std::size_t n = 0;
  t.for_each([&](const crds_entry&) { ++n; });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(t.for_each_since(0, [](const crds_entry&) { return true; }), 0u);
}

TEST(Crds, EntriesRememberDeliveryAndReparse) {
  crds_table t(8);
  const auto a = key(11), relayer = key(12);
  const value_bytes v = data(a, 9, "key", "value");
  (void)t.insert(v.ref(), v.hash(), {5, relayer.public_key(), false});
  const crds_entry* e = t.find(v.hash());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->from, relayer.public_key());
  EXPECT_FALSE(e->pushable);
  const value_ref r = e->ref();
  EXPECT_EQ(r.origin, a.public_key());
  EXPECT_EQ(r.kind, value_kind::data);
  const crds_value d = decode_value(r);
  EXPECT_EQ(std::get<data_value>(d.body).value, "value");
}

TEST(Crds, ToStringNamesEveryOutcome) {
  std::set<std::string> names;
  for (auto o : {crds_outcome::inserted, crds_outcome::updated, crds_outcome::duplicate,
                 crds_outcome::outdated, crds_outcome::table_full}) {
    names.insert(to_string(o));
  }
  EXPECT_EQ(names.size(), 5u);
}

}  // namespace
