#include <riptide/node/flood.hpp>

#include <chrono>
#include <span>
#include <thread>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/node/bench_tps.hpp>
#include <riptide/node/config.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/prng.hpp>

namespace riptide::node {

void validate(const flood_options& o) {
  if (o.to.ip == 0 || o.to.port == 0) throw config_error("--to: an ip:port with a nonzero port is required");
  if (!(o.seconds > 0) || o.seconds > 3600) throw config_error("--seconds: must be in (0, 3600]");
  if (!(o.rate >= 0) || o.rate > 1e9) throw config_error("--rate: must be in 0..1e9 (0: as fast as possible)");
  if (o.distinct < 1 || o.distinct > 65536) throw config_error("--distinct: must be in 1..65536");
}

std::vector<std::vector<std::uint8_t>> make_flood_transactions(std::uint32_t count, std::uint64_t seed) {
  util::xoshiro256ss rng(seed);
  crypto::seckey secret{};
  for (auto& b : secret) b = static_cast<std::uint8_t>(rng.next());
  const auto payer = crypto::keypair::from_secret(secret);
  std::vector<std::vector<std::uint8_t>> out;
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    crypto::pubkey to{};
    for (auto& b : to) b = static_cast<std::uint8_t>(rng.next());
    crypto::hash32 blockhash{};
    for (auto& b : blockhash) b = static_cast<std::uint8_t>(rng.next());
    std::array<std::uint8_t, txn::max_transaction_bytes> tx{};
    const std::size_t len = txn::build_transfer(payer, to, 1 + i, blockhash, tx);
    tx[1] ^= 0x01;  // the first signature's first byte (after the signature count)
    out.emplace_back(tx.begin(), tx.begin() + static_cast<std::ptrdiff_t>(len));
  }
  return out;
}

flood_result run_flood(const flood_options& o, const std::atomic<bool>* stop) {
  validate(o);
  const auto txs = make_flood_transactions(o.distinct, o.seed);
  std::vector<std::span<const std::uint8_t>> all;
  all.reserve(txs.size());
  for (const auto& t : txs) all.emplace_back(t);
  net::udp_batch_sender sender(o.to, "flood");
  flood_result r;
  const std::uint64_t t0 = util::monotonic_ns();
  const std::uint64_t end = t0 + static_cast<std::uint64_t>(o.seconds * 1e9);
  token_bucket bucket(o.rate, std::max(1.0, o.rate / 100), t0);
  std::array<std::span<const std::uint8_t>, net::udp_batch_sender::max_batch> batch;
  std::size_t next = 0;
  for (std::uint64_t now = t0; now < end && (stop == nullptr || !stop->load()); now = util::monotonic_ns()) {
    const std::uint64_t n = bucket.take(now, batch.size());
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(bucket.wait_ns(), 1'000'000)));
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      batch[i] = all[next];
      if (++next == all.size()) next = 0;
    }
    const std::size_t took = sender.send(std::span(batch.data(), n));
    r.sent += took;
    if (took < n) {
      r.send_errors += n - took;
      r.last_errno = sender.last_errno();
    }
  }
  r.seconds = static_cast<double>(util::monotonic_ns() - t0) / 1e9;
  return r;
}

}  // namespace riptide::node
