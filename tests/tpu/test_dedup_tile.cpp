#include <riptide/tpu/dedup_tile.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/runtime.hpp>

using namespace riptide;
using ring = util::spsc_ring<util::frag_desc>;

TEST(dedup_tile, forwards_first_sighting_drops_repeats_and_releases_them) {
  ring in0(64), in1(64), out(64), release(64);
  tpu::dedup_tile t("dedup", 1024, {&in0, &in1}, &out, &release);
  ASSERT_TRUE(in0.try_push({1, 10, 0, 111}));
  ASSERT_TRUE(in1.try_push({2, 10, 0, 222}));
  ASSERT_TRUE(in1.try_push({3, 10, 0, 111}));  // same tag from another verify tile
  ASSERT_TRUE(in0.try_push({4, 10, 0, 222}));
  int work = 0;
  while (int w = t.poll()) work += w;
  EXPECT_EQ(work, 4);
  EXPECT_EQ(t.unique(), 2u);
  EXPECT_EQ(t.duplicates(), 2u);
  std::set<std::uint32_t> forwarded, released;
  util::frag_desc d;
  while (out.try_pop(d)) forwarded.insert(d.frame);
  while (release.try_pop(d)) released.insert(d.frame);
  EXPECT_EQ(forwarded.size(), 2u);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(forwarded.count(1) + released.count(1), 1u);
  EXPECT_TRUE(t.drained());
}

TEST(dedup_tile, full_output_applies_backpressure_without_loss) {
  ring in(64), out(2);
  tpu::dedup_tile t("dedup", 1024, {&in}, &out, nullptr);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(in.try_push({static_cast<std::uint32_t>(i), 1, 0, i}));
  EXPECT_EQ(t.poll(), 2);
  EXPECT_EQ(t.poll(), 0);  // out full: nothing taken
  EXPECT_EQ(in.size_approx(), 3u);
  util::frag_desc d;
  std::uint64_t seen = 0;
  while (seen < 5) {
    while (out.try_pop(d)) EXPECT_EQ(d.meta, seen++);
    t.poll();
  }
  EXPECT_EQ(t.unique(), 5u);
}

// Contention: two producer threads (standing in for verify tiles) feed overlapping tag
// streams into a dedup tile running on a runtime core thread; a consumer thread drains its
// output. Every distinct tag must come out exactly once. Run under ThreadSanitizer too.
TEST(dedup_tile, two_producers_one_consumer_every_tag_exactly_once) {
  constexpr std::uint64_t tags = 200'000;
  ring in0(256), in1(256), out(256);
  tpu::dedup_tile t("dedup", 1 << 19, {&in0, &in1}, &out, nullptr);
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {&t}}}, opt);
  rt.start();
  auto produce = [](ring& r, std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t tag = first; tag < last; ++tag)
      while (!r.try_push({static_cast<std::uint32_t>(tag), 1, 0, tag})) std::this_thread::yield();
  };
  // Producer 0 sends [0, 2/3 tags), producer 1 sends [1/3 tags, tags): the middle third twice.
  std::thread p0(produce, std::ref(in0), 0, tags * 2 / 3);
  std::thread p1(produce, std::ref(in1), tags / 3, tags);
  std::vector<std::uint8_t> seen(tags, 0);
  std::uint64_t received = 0, repeats = 0;
  std::thread consumer([&] {
    util::frag_desc d;
    while (received < tags) {
      if (out.try_pop(d)) {
        repeats += seen[d.meta]++ != 0;
        ++received;
      } else {
        std::this_thread::yield();
      }
    }
  });
  p0.join();
  p1.join();
  consumer.join();
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(received, tags);
  EXPECT_EQ(repeats, 0u);
  EXPECT_EQ(t.unique(), tags);
  EXPECT_EQ(t.duplicates(), tags * 2 / 3 - tags / 3);
  util::frag_desc extra;
  EXPECT_FALSE(out.try_pop(extra));
}

// ---- blockhash age check and routing by fee payer ---------------------------------------

namespace {

using hash_ring = util::spsc_ring<bank::slot_hash>;

crypto::keypair payer(std::uint8_t i) {
  crypto::seckey secret{};
  secret[0] = 0x11;
  secret[31] = static_cast<std::uint8_t>(i + 1);
  return crypto::keypair::from_secret(secret);
}

crypto::hash32 slot_hash_of(std::uint64_t slot) {
  crypto::hash32 h{};
  h[0] = 0xb1;
  std::memcpy(h.data() + 8, &slot, sizeof slot);
  return h;
}

// Transactions in frames of a pool, as the verify tile would forward them.
struct tx_frames {
  explicit tx_frames(std::uint32_t frames) : pool(frames) {}
  util::frame_pool pool;
  std::uint32_t next = 0;
  crypto::keypair to = payer(200);

  util::frag_desc put(const crypto::keypair& from, const crypto::hash32& blockhash,
                      std::uint64_t lamports) {
    const std::uint32_t frame = next++;
    const auto n = txn::build_transfer(from, to.public_key(), lamports, blockhash, pool.frame(frame));
    txn::transaction_view tx;
    EXPECT_EQ(txn::parse_transaction(pool.frame(frame).first(n), tx), txn::parse_error::none);
    return {frame, static_cast<std::uint16_t>(n), 0, crypto::xxh3_64(tx.signature(0))};
  }
  std::size_t route(const util::frag_desc& d, std::size_t outs) const {
    txn::transaction_view tx;
    EXPECT_EQ(txn::parse_transaction(pool.frame(d.frame).first(d.len), tx), txn::parse_error::none);
    return crypto::xxh3_64(tx.fee_payer()) % outs;
  }
};

std::vector<util::frag_desc> drain(ring& r) {
  std::vector<util::frag_desc> v;
  util::frag_desc d;
  while (r.try_pop(d)) v.push_back(d);
  return v;
}

void poll_all(tpu::dedup_tile& t) {
  while (t.poll() != 0) {
  }
}

}  // namespace

TEST(dedup_tile, a_blockhash_not_recent_is_dropped_counted_and_released_until_registered) {
  tx_frames f(64);
  ring in(64), out(64), release(64);
  hash_ring hashes(256);
  tpu::dedup_tile t("dedup", {1024}, &f.pool, {&in}, {&out}, &release, &hashes);
  const auto alice = payer(0);
  ASSERT_TRUE(hashes.try_push({0, slot_hash_of(0)}));  // the chain's start hash
  const auto fresh = f.put(alice, slot_hash_of(0), 1);
  const auto unknown = f.put(alice, slot_hash_of(1), 2);  // slot 1 has not ended yet
  ASSERT_TRUE(in.try_push(fresh));
  ASSERT_TRUE(in.try_push(unknown));
  poll_all(t);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhashes), 1u);
  auto forwarded = drain(out);
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].frame, fresh.frame);
  auto released = drain(release);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].frame, unknown.frame);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhash_unknown), 1u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhash_too_old), 0u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_duplicate), 0u);

  // Slot 1 ends: the same transaction is now acceptable (a dropped one was not remembered).
  ASSERT_TRUE(hashes.try_push({1, slot_hash_of(1)}));
  ASSERT_TRUE(in.try_push(unknown));
  poll_all(t);
  forwarded = drain(out);
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].frame, unknown.frame);
  EXPECT_TRUE(drain(release).empty());

  // 150 slots later slot 0's hash has aged out, slot 1's has not.
  for (std::uint64_t slot = 2; slot <= 150; ++slot) ASSERT_TRUE(hashes.try_push({slot, slot_hash_of(slot)}));
  const auto aged = f.put(alice, slot_hash_of(0), 3);
  const auto recent = f.put(alice, slot_hash_of(1), 4);
  ASSERT_TRUE(in.try_push(aged));
  ASSERT_TRUE(in.try_push(recent));
  poll_all(t);
  forwarded = drain(out);
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].frame, recent.frame);
  released = drain(release);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].frame, aged.frame);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhash_too_old), 1u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhash_unknown), 1u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhashes), 151u);
  EXPECT_EQ(t.unique(), 3u);
  EXPECT_TRUE(t.drained());
}

namespace {
// The tile's own counter called `name`, looked up by name as /metrics shows it.
std::optional<std::uint64_t> counter_named(const tpu::dedup_tile& t, std::string_view name) {
  const auto names = t.own_counter_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return t.own_counter(i);
  return std::nullopt;
}
}  // namespace

// A blockhash no slot ever had (another cluster's, or made up) is not "too old": it is
// counted as blockhash_unknown, apart from the hash of a slot that aged out.
TEST(dedup_tile, unknown_blockhash_is_counted_apart_from_a_too_old_one) {
  tx_frames f(64);
  ring in(64), out(64), release(64);
  hash_ring hashes(512);
  tpu::dedup_tile t("dedup", {1024}, &f.pool, {&in}, {&out}, &release, &hashes);
  for (std::uint64_t slot = 0; slot <= 300; ++slot) ASSERT_TRUE(hashes.try_push({slot, slot_hash_of(slot)}));
  const auto alice = payer(0);
  const auto recent = f.put(alice, slot_hash_of(300), 1);
  const auto aged = f.put(alice, slot_hash_of(100), 2);       // 200 slots behind the newest
  const auto never = f.put(alice, slot_hash_of(1'000'000), 3);  // no slot had this hash
  crypto::hash32 forged{};
  forged.fill(0x77);
  const auto other = f.put(alice, forged, 4);
  for (const auto& d : {recent, aged, never, other}) ASSERT_TRUE(in.try_push(d));
  poll_all(t);
  EXPECT_EQ(drain(out).size(), 1u);
  EXPECT_EQ(drain(release).size(), 3u);
  EXPECT_EQ(t.own_counter_names().size(), std::size_t{tpu::dedup_tile::c_own_count});
  EXPECT_EQ(counter_named(t, "blockhash_too_old"), std::optional<std::uint64_t>{1});
  EXPECT_EQ(counter_named(t, "blockhash_unknown"), std::optional<std::uint64_t>{2});
  EXPECT_EQ(counter_named(t, "unique"), std::optional<std::uint64_t>{1});
}

TEST(dedup_tile, duplicates_still_dropped_with_age_check_and_routing) {
  tx_frames f(64);
  ring in0(64), in1(64), out0(64), out1(64), release(64);
  hash_ring hashes(8);
  tpu::dedup_tile t("dedup", {1024}, &f.pool, {&in0, &in1}, {&out0, &out1}, &release, &hashes);
  ASSERT_TRUE(hashes.try_push({0, slot_hash_of(0)}));
  const auto a = f.put(payer(0), slot_hash_of(0), 1);
  const auto b = f.put(payer(1), slot_hash_of(0), 1);
  for (const auto& d : {a, b}) {
    ASSERT_TRUE(in0.try_push(d));
    ASSERT_TRUE(in1.try_push(d));  // the same packet through another verify tile
  }
  ASSERT_TRUE(in0.try_push(a));
  poll_all(t);
  EXPECT_EQ(drain(out0).size() + drain(out1).size(), 2u);
  EXPECT_EQ(drain(release).size(), 3u);
  EXPECT_EQ(t.duplicates(), 3u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_duplicate), 3u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_received), 5u);
}

TEST(dedup_tile, routes_each_fee_payer_to_one_out_and_spreads_payers) {
  constexpr std::size_t outs = 4;
  constexpr int payers = 24, per_payer = 3;
  tx_frames f(payers * per_payer);
  ring in(128), release(128);
  std::vector<std::unique_ptr<ring>> out_rings;
  std::vector<ring*> out_ptrs;
  for (std::size_t i = 0; i < outs; ++i) {
    out_rings.push_back(std::make_unique<ring>(128));
    out_ptrs.push_back(out_rings.back().get());
  }
  tpu::dedup_tile t("dedup", {1024}, &f.pool, {&in}, out_ptrs, &release, nullptr);
  std::map<std::uint32_t, int> payer_of_frame;
  for (int k = 0; k < per_payer; ++k)
    for (int p = 0; p < payers; ++p) {
      const auto d = f.put(payer(static_cast<std::uint8_t>(p)), slot_hash_of(0), k + 1);
      payer_of_frame[d.frame] = p;
      ASSERT_TRUE(in.try_push(d));
    }
  poll_all(t);
  std::map<int, std::set<std::size_t>> outs_of_payer;
  std::size_t total = 0;
  for (std::size_t o = 0; o < outs; ++o) {
    const auto got = drain(*out_ptrs[o]);
    EXPECT_FALSE(got.empty()) << "out " << o << " got no payer";  // fixed keys: deterministic
    for (const auto& d : got) {
      outs_of_payer[payer_of_frame.at(d.frame)].insert(o);
      EXPECT_EQ(f.route(d, outs), o);  // out = xxh3(fee payer) % outs
    }
    total += got.size();
  }
  EXPECT_EQ(total, std::size_t{payers * per_payer});
  ASSERT_EQ(outs_of_payer.size(), std::size_t{payers});
  for (const auto& [p, o] : outs_of_payer) EXPECT_EQ(o.size(), 1u) << "payer " << p;
  EXPECT_TRUE(drain(release).empty());
}

TEST(dedup_tile, a_full_out_holds_one_descriptor_and_loses_nothing) {
  tx_frames f(64);
  ring in(64), out0(2), out1(2), release(64);
  tpu::dedup_tile t("dedup", {1024}, &f.pool, {&in}, {&out0, &out1}, &release, nullptr);
  // Payers that route to out 0 and to out 1.
  std::vector<crypto::keypair> to_out[2];
  for (std::uint8_t i = 0; to_out[0].size() < 3 || to_out[1].size() < 3; ++i) {
    auto k = payer(i);
    to_out[crypto::xxh3_64(k.public_key()) % 2].push_back(k);
  }
  // Three for out 0, then two for out 1: the third for out 0 finds it full.
  std::vector<util::frag_desc> sent;
  for (int i = 0; i < 3; ++i) sent.push_back(f.put(to_out[0][static_cast<std::size_t>(i)], slot_hash_of(0), 1));
  for (int i = 0; i < 2; ++i) sent.push_back(f.put(to_out[1][static_cast<std::size_t>(i)], slot_hash_of(0), 1));
  for (const auto& d : sent) ASSERT_TRUE(in.try_push(d));
  EXPECT_EQ(t.poll(), 3);  // two to out 0, the third held
  EXPECT_EQ(out0.size_approx(), 2u);
  EXPECT_EQ(in.size_approx(), 2u);  // no more input taken while holding
  EXPECT_FALSE(t.drained());
  EXPECT_EQ(t.poll(), 0);  // still full: nothing moves
  EXPECT_GE(t.own_counter(tpu::dedup_tile::c_backpressure), 2u);
  EXPECT_EQ(in.size_approx(), 2u);
  // Out 0 drains: the held one goes first, then the rest.
  std::set<std::uint32_t> got;
  for (int round = 0; round < 10 && got.size() < sent.size(); ++round) {
    for (auto* r : {&out0, &out1})
      for (const auto& d : drain(*r)) EXPECT_TRUE(got.insert(d.frame).second);
    t.poll();
  }
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(t.drained());
  EXPECT_TRUE(drain(release).empty());
  EXPECT_EQ(t.unique(), sent.size());
  EXPECT_EQ(t.duplicates(), 0u);
}

TEST(dedup_tile, unparsable_frames_are_counted_and_released_and_wiring_is_checked) {
  tx_frames f(8);
  ring in(8), out(8), release(8);
  hash_ring hashes(8);
  tpu::dedup_tile t("dedup", {64}, &f.pool, {&in}, {&out}, &release, &hashes);
  std::memset(f.pool.frame(0).data(), 0xee, 100);
  ASSERT_TRUE(in.try_push({0, 100, 0, 1}));
  ASSERT_TRUE(in.try_push({99, 100, 0, 2}));  // no such frame
  poll_all(t);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_parse_failed), 2u);
  EXPECT_EQ(drain(release).size(), 2u);
  EXPECT_TRUE(drain(out).empty());
  EXPECT_THROW(tpu::dedup_tile("d", {64}, nullptr, {&in}, {&out}, nullptr, &hashes),
               std::invalid_argument);  // age check needs the frames
  EXPECT_THROW(tpu::dedup_tile("d", {64}, nullptr, {&in}, {&out, &release}, nullptr, nullptr),
               std::invalid_argument);  // so does routing
  EXPECT_THROW(tpu::dedup_tile("d", {64}, &f.pool, {&in}, {&out, nullptr}, nullptr, nullptr),
               std::invalid_argument);
  EXPECT_NO_THROW(tpu::dedup_tile("d", {64}, nullptr, {&in}, {&out}, nullptr, nullptr));
}

// Contention: two verify-like producers, PoH-like slot hashes arriving meanwhile, and a
// consumer thread standing in for two bank tiles and the net tile's release ring. Whatever
// the timing, every descriptor ends exactly once on an out or on release, no signature is
// forwarded twice, and each payer keeps to one out. Run under ThreadSanitizer too.
TEST(dedup_tile, age_check_and_routing_under_contention) {
  constexpr int payers = 8, per_producer = 400;
  constexpr std::uint64_t slots = 40;
  tx_frames f(2 * per_producer);
  std::vector<util::frag_desc> txs[2];
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < per_producer; ++i)
      txs[p].push_back(f.put(payer(static_cast<std::uint8_t>((i + p) % payers)),
                             slot_hash_of(static_cast<std::uint64_t>(i) % slots),
                             static_cast<std::uint64_t>(p * per_producer + i + 1)));
  // The release ring holds every frame, as the frames' owner sizes it (a full one loses frames).
  ring in0(64), in1(64), out0(64), out1(64), release(1024);
  hash_ring hashes(64);
  tpu::dedup_tile t("dedup", {1 << 12}, &f.pool, {&in0, &in1}, {&out0, &out1}, &release, &hashes);
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {&t}}}, opt);
  rt.start();

  auto produce = [](ring& r, const std::vector<util::frag_desc>& v) {
    for (const auto& d : v)
      while (!r.try_push(d)) std::this_thread::yield();
  };
  std::thread poh([&] {
    for (std::uint64_t slot = 0; slot < slots; ++slot)
      while (!hashes.try_push({slot, slot_hash_of(slot)})) std::this_thread::yield();
  });
  std::thread p0(produce, std::ref(in0), std::cref(txs[0]));
  // Producer 1 also re-sends the first 100 of producer 0's: duplicates (or too old).
  std::vector<util::frag_desc> second = txs[1];
  second.insert(second.end(), txs[0].begin(), txs[0].begin() + 100);
  std::thread p1(produce, std::ref(in1), std::cref(second));
  const std::uint64_t total = txs[0].size() + second.size();
  std::uint64_t ends = 0;
  std::set<std::uint64_t> forwarded_tags;
  std::map<std::uint32_t, std::size_t> out_of_payer_frame;
  bool repeat = false, wrong_out = false;
  std::thread consumer([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ends < total && std::chrono::steady_clock::now() < deadline) {
      util::frag_desc d;
      bool any = false;
      for (std::size_t o = 0; o < 2; ++o) {
        while ((o == 0 ? out0 : out1).try_pop(d)) {
          any = true;
          ++ends;
          repeat |= !forwarded_tags.insert(d.meta).second;
          wrong_out |= f.route(d, 2) != o;
        }
      }
      while (release.try_pop(d)) {
        any = true;
        ++ends;
      }
      if (!any) std::this_thread::yield();
    }
  });
  poh.join();
  p0.join();
  p1.join();
  consumer.join();
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(ends, total);
  EXPECT_FALSE(repeat);
  EXPECT_FALSE(wrong_out);
  const auto received = t.own_counter(tpu::dedup_tile::c_received);
  EXPECT_EQ(received, total);
  EXPECT_EQ(t.unique(), forwarded_tags.size());
  // Slots < 150: a blockhash not registered yet is unknown, never too old.
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhash_too_old), 0u);
  EXPECT_EQ(t.unique() + t.duplicates() + t.own_counter(tpu::dedup_tile::c_blockhash_unknown), received);
  // Each of the 100 sent twice is forwarded once at most (which copy, if any, depends on
  // whether its slot hash had arrived).
  EXPECT_LE(t.unique(), total - 100);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_blockhashes), slots);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_parse_failed), 0u);
  EXPECT_EQ(t.own_counter(tpu::dedup_tile::c_release_full), 0u);
}
