// The load tile in process: the test plays the verify tiles (pops the out rings, parses and
// checks what comes out with txn::parse_transaction) and gives frames back on the release
// rings, in one thread and then from a thread of its own.

#include <riptide/tpu/load_tile.hpp>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace riptide;
using bytes = std::vector<std::uint8_t>;
using desc_ring = util::spsc_ring<util::frag_desc>;
using t = tpu::load_tile;

tpu::load_tile_config unpaced(std::uint64_t duplicate_percent = 0, std::uint64_t invalid_percent = 0) {
  tpu::load_tile_config c;
  c.rate_tps = 0;
  c.signers = 8;
  c.duplicate_percent = duplicate_percent;
  c.invalid_percent = invalid_percent;
  c.frames = 64;
  c.seed = 5;
  return c;
}

// One emitted transaction, as a verify tile would see it.
struct emitted {
  util::frag_desc desc;
  bytes tx;
  bool parses = false;
  bool signed_ok = false;
};

struct checker {
  crypto::pubkey_cache cache{256};
  emitted look(const tpu::load_tile& tile, const util::frag_desc& d) {
    emitted e;
    e.desc = d;
    const auto frame = tile.frames().frame(d.frame);
    e.tx.assign(frame.begin(), frame.begin() + d.len);
    txn::transaction_view v;
    e.parses = txn::parse_transaction(e.tx, v) == txn::parse_error::none;
    e.signed_ok = e.parses && txn::verify_signatures(v, cache);
    return e;
  }
};

bool is_signer(const tpu::load_tile& tile, const crypto::pubkey& key) {
  for (const auto& s : tile.signers())
    if (s.public_key() == key) return true;
  return false;
}

}  // namespace

TEST(load_tile, signs_transfers_between_its_signers_round_robin_over_its_outs) {
  desc_ring out0(64), out1(64), release(64);
  bank::chain_board board;
  crypto::hash32 blockhash{};
  blockhash.fill(0x3c);
  board.publish(7, 28, bank::slot_hash{6, blockhash});
  auto config = unpaced();
  config.board = &board;
  tpu::load_tile tile("load", config, {&out0, &out1}, {&release});
  tile.on_start();
  ASSERT_EQ(tile.signers().size(), 8u);
  constexpr int sends = 20;
  for (int i = 0; i < sends; ++i) EXPECT_EQ(tile.poll(), 1);
  EXPECT_EQ(tile.own_counter(t::c_sent), std::uint64_t{sends});
  EXPECT_EQ(out0.size_approx(), sends / 2u);
  EXPECT_EQ(out1.size_approx(), sends / 2u);

  checker check;
  std::set<std::uint32_t> frames;
  std::set<crypto::pubkey> payers;
  for (int i = 0; i < sends; ++i) {
    util::frag_desc d{};
    ASSERT_TRUE((i % 2 == 0 ? out0 : out1).try_pop(d));
    EXPECT_EQ(d.meta, std::uint64_t(i));  // the sequence number
    EXPECT_EQ(d.kind, 0u);
    EXPECT_TRUE(frames.insert(d.frame).second) << "frame " << d.frame << " used twice";
    const emitted e = check.look(tile, d);
    ASSERT_TRUE(e.parses);
    EXPECT_TRUE(e.signed_ok);
    txn::transaction_view v;
    ASSERT_EQ(txn::parse_transaction(e.tx, v), txn::parse_error::none);
    EXPECT_EQ(v.recent_blockhash(), blockhash);
    ASSERT_EQ(v.num_instructions(), 1u);
    txn::transfer tr;
    ASSERT_EQ(txn::decode_transfer(v, 0, tr), txn::transfer_error::none);
    EXPECT_GE(tr.lamports, 1u);
    EXPECT_LE(tr.lamports, 1000u);
    EXPECT_TRUE(is_signer(tile, v.account_key(tr.from_index)));
    EXPECT_TRUE(is_signer(tile, v.account_key(tr.to_index)));
    EXPECT_EQ(v.fee_payer(), v.account_key(tr.from_index));
    payers.insert(v.fee_payer());
  }
  EXPECT_EQ(payers.size(), 8u);  // every signer pays in turn
  for (std::size_t c : {t::c_duplicates, t::c_invalid, t::c_no_frame, t::c_backpressure, t::c_reclaimed})
    EXPECT_EQ(tile.own_counter(c), 0u) << tile.own_counter_names()[c];
}

TEST(load_tile, signers_are_the_same_every_run) {
  desc_ring out(8);
  auto config = unpaced();
  tpu::load_tile tile("load", config, {&out}, {});
  for (std::uint64_t i = 0; i < config.signers; ++i)
    EXPECT_EQ(tile.signers()[i].public_key(), t::signer(config.seed, i).public_key());
  EXPECT_NE(t::signer(config.seed, 0).public_key(), t::signer(config.seed + 1, 0).public_key());
  EXPECT_NE(t::signer(config.seed, 0).public_key(), t::signer(config.seed, 1).public_key());
  // Without a board the blockhash is the zero hash.
  ASSERT_EQ(tile.poll(), 1);
  util::frag_desc d{};
  ASSERT_TRUE(out.try_pop(d));
  txn::transaction_view v;
  const auto frame = tile.frames().frame(d.frame);
  ASSERT_EQ(txn::parse_transaction(frame.first(d.len), v), txn::parse_error::none);
  EXPECT_EQ(v.recent_blockhash(), crypto::hash32{});
  EXPECT_THROW(tpu::load_tile("load", config, {}, {}), std::invalid_argument);
}

// The shares of duplicates and corrupted signatures are visible in the stream itself: a
// duplicate repeats the last good transaction byte for byte, an invalid one parses but its
// signature does not verify. The counters agree with what a verify tile would find.
TEST(load_tile, duplicate_and_invalid_shares_show_in_what_it_emits) {
  constexpr std::uint64_t sends = 1500;
  desc_ring out(64), release(64);
  tpu::load_tile tile("load", unpaced(20, 10), {&out}, {&release});
  tile.on_start();
  checker check;
  std::uint64_t duplicates = 0, invalid = 0, unparsable = 0, emitted_count = 0, repeats_of_bad = 0;
  bytes last_good;
  std::set<std::string> seen_bad;  // (std::set of vectors trips a GCC 12 -Wstringop-overread false positive)
  while (emitted_count < sends) {
    ASSERT_GE(tile.poll(), 1);  // one sent, plus the frame reclaimed
    util::frag_desc d{};
    ASSERT_TRUE(out.try_pop(d));
    const emitted e = check.look(tile, d);
    ++emitted_count;
    if (!e.parses) {
      ++unparsable;
    } else if (!e.signed_ok) {
      ++invalid;
      if (!seen_bad.emplace(e.tx.begin(), e.tx.end()).second) ++repeats_of_bad;
    } else if (e.tx == last_good) {
      ++duplicates;
    } else {
      last_good = e.tx;
    }
    ASSERT_TRUE(release.try_push(d));
  }
  EXPECT_EQ(unparsable, 0u);
  EXPECT_EQ(repeats_of_bad, 0u);  // a corrupted transaction is never the one repeated
  EXPECT_EQ(tile.own_counter(t::c_sent), sends);
  EXPECT_EQ(tile.own_counter(t::c_duplicates), duplicates);
  EXPECT_EQ(tile.own_counter(t::c_invalid), invalid);
  EXPECT_EQ(tile.own_counter(t::c_no_frame), 0u);  // frames came back as fast as they left
  EXPECT_EQ(tile.own_counter(t::c_reclaimed) + 1, sends);  // all but the last one
  // About 20 % duplicates, and about 10 % of the rest corrupted (a fixed seed: the bounds
  // are loose on purpose, they only catch a share that is off by a lot).
  EXPECT_GT(duplicates, sends * 15 / 100);
  EXPECT_LT(duplicates, sends * 25 / 100);
  EXPECT_GT(invalid, (sends - duplicates) * 6 / 100);
  EXPECT_LT(invalid, (sends - duplicates) * 14 / 100);
  std::printf("sent %llu: duplicates %llu, invalid %llu\n", static_cast<unsigned long long>(sends),
              static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(invalid));

  // With both shares at 0, every transaction is new and good.
  desc_ring clean_out(64);
  tpu::load_tile clean("load", unpaced(0, 0), {&clean_out}, {});
  std::set<std::string> distinct;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(clean.poll(), 1);
    util::frag_desc d{};
    ASSERT_TRUE(clean_out.try_pop(d));
    const emitted e = check.look(clean, d);
    EXPECT_TRUE(e.signed_ok);
    distinct.emplace(e.tx.begin(), e.tx.end());
  }
  EXPECT_EQ(distinct.size(), 40u);
}

// The rate is an upper bound the tile never exceeds, however often it is polled: the count
// it sent is at most what the time since on_start() allows (plus the one in flight).
TEST(load_tile, never_sends_faster_than_its_rate) {
  constexpr std::uint64_t rate_tps = 200;
  desc_ring out(1024), release(1024);
  auto config = unpaced();
  config.rate_tps = rate_tps;
  config.frames = 1024;
  tpu::load_tile tile("load", config, {&out}, {&release});
  const std::uint64_t start_ns = util::monotonic_ns();
  tile.on_start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::uint64_t over = 0;
  while (tile.own_counter(t::c_sent) < 10 && std::chrono::steady_clock::now() < deadline) {
    (void)tile.poll();
    const std::uint64_t elapsed_ns = util::monotonic_ns() - start_ns;
    const std::uint64_t allowed = elapsed_ns * rate_tps / 1'000'000'000 + 1;
    if (tile.own_counter(t::c_sent) > allowed) ++over;
  }
  EXPECT_EQ(over, 0u);
  EXPECT_GE(tile.own_counter(t::c_sent), 10u);  // and it does send
}

TEST(load_tile, waits_for_a_full_out_in_turn_instead_of_skipping_it) {
  desc_ring small(2), big(64);
  tpu::load_tile tile("load", unpaced(), {&small, &big}, {});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(tile.poll(), 1);  // small, big, small, big
  EXPECT_EQ(tile.poll(), 0);  // small is full: wait
  EXPECT_EQ(tile.poll(), 0);
  EXPECT_EQ(tile.own_counter(t::c_backpressure), 2u);
  EXPECT_EQ(big.size_approx(), 2u);  // nothing went around it
  EXPECT_EQ(tile.own_counter(t::c_sent), 4u);
  util::frag_desc d{};
  ASSERT_TRUE(small.try_pop(d));
  EXPECT_EQ(tile.poll(), 1);
  EXPECT_EQ(small.size_approx(), 2u);
  EXPECT_EQ(tile.own_counter(t::c_no_frame), 0u);
}

TEST(load_tile, frames_run_out_and_come_back_through_any_release_ring) {
  desc_ring out(64), verify_release(8), dedup_release(8);
  auto config = unpaced();
  config.frames = 3;
  config.desc_kind = 1;
  config.desc_meta = 0x7f00000123ab;  // the node's own tpu port: descriptors for the net tile
  tpu::load_tile tile("load", config, {&out}, {&verify_release, &dedup_release});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tile.poll(), 1);
  EXPECT_EQ(tile.poll(), 0);
  EXPECT_EQ(tile.own_counter(t::c_no_frame), 1u);
  std::vector<util::frag_desc> sent(3);
  for (auto& d : sent) {
    ASSERT_TRUE(out.try_pop(d));
    EXPECT_EQ(d.kind, 1u);
    EXPECT_EQ(d.meta, config.desc_meta);
  }
  ASSERT_TRUE(verify_release.try_push(sent[0]));
  ASSERT_TRUE(dedup_release.try_push(sent[2]));
  EXPECT_EQ(tile.poll(), 3);  // two reclaimed, one sent
  EXPECT_EQ(tile.own_counter(t::c_reclaimed), 2u);
  EXPECT_EQ(tile.poll(), 1);
  EXPECT_EQ(tile.poll(), 0);
  EXPECT_EQ(tile.own_counter(t::c_no_frame), 2u);
  std::set<std::uint32_t> reused;
  util::frag_desc d{};
  while (out.try_pop(d)) reused.insert(d.frame);
  EXPECT_EQ(reused, (std::set<std::uint32_t>{sent[0].frame, sent[2].frame}));
}

TEST(load_tile, after_begin_drain_it_only_reclaims) {
  desc_ring out(64), release(64);
  tpu::load_tile tile("load", unpaced(), {&out}, {&release});
  EXPECT_EQ(tile.poll(), 1);
  tile.begin_drain();
  EXPECT_EQ(tile.poll(), 0);
  util::frag_desc d{};
  ASSERT_TRUE(out.try_pop(d));
  ASSERT_TRUE(release.try_push(d));
  EXPECT_EQ(tile.poll(), 1);  // the reclaim
  EXPECT_EQ(tile.own_counter(t::c_reclaimed), 1u);
  EXPECT_EQ(tile.own_counter(t::c_sent), 1u);
  EXPECT_TRUE(out.empty_approx());
}

// Contention: the load tile runs on a runtime core thread; a verify-like thread takes from
// both outs, checks each transaction and gives the frame back on one of two release rings
// (as a verify tile and dedup would). A frame never shows up again while the consumer still
// holds it, and every transaction parses. Run under ThreadSanitizer too.
TEST(load_tile, frames_released_from_another_thread_are_reused_safely) {
  constexpr std::uint64_t sends = 400;
  desc_ring out0(16), out1(16), release0(64), release1(64);
  auto config = unpaced(10, 10);
  config.frames = 24;
  tpu::load_tile tile("load", config, {&out0, &out1}, {&release0, &release1});
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {&tile}}}, opt);
  std::uint64_t received = 0, unparsable = 0, reused_while_held = 0;
  std::thread consumer([&] {
    std::vector<bool> held(config.frames, false);
    std::vector<util::frag_desc> holding;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received < sends && std::chrono::steady_clock::now() < deadline) {
      bool any = false;
      for (auto* r : {&out0, &out1}) {
        util::frag_desc d{};
        if (!r->try_pop(d)) continue;
        any = true;
        ++received;
        if (d.frame >= config.frames || held[d.frame]) {
          ++reused_while_held;
          continue;
        }
        // Every byte is read, as a verify tile hashing the message would.
        const auto frame = tile.frames().frame(d.frame);
        const bytes tx(frame.begin(), frame.begin() + d.len);
        txn::transaction_view v;
        if (txn::parse_transaction(tx, v) != txn::parse_error::none) ++unparsable;
        held[d.frame] = true;
        holding.push_back(d);
      }
      if (holding.size() >= 6 || (!any && !holding.empty())) {
        for (std::size_t i = 0; i < holding.size(); ++i) {
          held[holding[i].frame] = false;
          auto& r = i % 2 == 0 ? release0 : release1;
          while (!r.try_push(holding[i])) std::this_thread::yield();
        }
        holding.clear();
      }
      if (!any) std::this_thread::yield();
    }
  });
  rt.start();
  consumer.join();
  EXPECT_TRUE(rt.stop());
  EXPECT_GE(received, sends);
  EXPECT_EQ(unparsable, 0u);
  EXPECT_EQ(reused_while_held, 0u);
  EXPECT_EQ(tile.own_counter(t::c_sent), received + out0.size_approx() + out1.size_approx());
}
