#include <riptide/tpu/load_tile.hpp>

#include <algorithm>
#include <array>
#include <cstring>

#include <riptide/crypto/sha256.hpp>

#include <riptide/txn/transaction.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::tpu {

load_tile::load_tile(std::string name, const load_tile_config& config,
                     std::vector<util::spsc_ring<util::frag_desc>*> outs,
                     std::vector<util::spsc_ring<util::frag_desc>*> releases)
    : util::tile(std::move(name)), config_(config), pool_(config.frames), free_(0, config.frames),
      outs_(std::move(outs)), releases_(std::move(releases)), rng_(config.seed) {
  if (outs_.empty()) throw std::invalid_argument("load tile needs at least one output ring");
  signers_.reserve(config.signers);
  for (std::uint64_t i = 0; i < std::max<std::uint64_t>(config.signers, 1); ++i)
    signers_.push_back(signer(config.seed, i));
  last_tx_.reserve(txn::max_transaction_bytes);
}

crypto::keypair load_tile::signer(std::uint64_t seed, std::uint64_t i) {
  // sha256("riptide load signer" | seed | i | attempt): deterministic, so a node that resumes
  // its ledger can fund the same signers before replaying their transfers.
  for (std::uint32_t attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 19 + 8 + 8 + 4> in{};
    std::memcpy(in.data(), "riptide load signer", 19);
    std::memcpy(in.data() + 19, &seed, 8);
    std::memcpy(in.data() + 27, &i, 8);
    std::memcpy(in.data() + 35, &attempt, 4);
    const crypto::hash32 h = crypto::sha256(in);
    crypto::seckey secret;
    std::memcpy(secret.data(), h.data(), secret.size());
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(secret, kp)) return kp;
  }
}

std::vector<std::size_t> load_tile::drop_counters() const {
  return {c_no_frame};
}

std::vector<std::string_view> load_tile::own_counter_names() const {
  return {"sent", "duplicates", "invalid", "no_frame", "backpressure", "reclaimed"};
}

void load_tile::on_start() { start_ns_ = util::monotonic_ns(); }

int load_tile::reclaim() noexcept {
  int n = 0;
  util::frag_desc batch[32];
  for (auto* r : releases_) {
    const std::size_t got = r->try_pop_batch(batch);
    for (std::size_t i = 0; i < got; ++i)
      if (free_.release(batch[i].frame)) ++n;
  }
  if (n != 0) count(c_reclaimed, static_cast<std::uint64_t>(n));
  return n;
}

int load_tile::poll() noexcept {
  int work = reclaim();
  if (draining_) return work;
  if (config_.rate_tps != 0) {
    const std::uint64_t elapsed_ns = util::monotonic_ns() - start_ns_;
    const std::uint64_t allowed = elapsed_ns / 1000 * config_.rate_tps / 1'000'000;
    if (created_ >= allowed) return work;
  }
  auto* out = outs_[next_out_];
  if (out->free_approx() == 0) {
    count(c_backpressure);
    return work;
  }
  std::uint32_t frame;
  if (!free_.try_acquire(frame)) {
    count(c_no_frame);
    return work;
  }
  auto bytes = pool_.frame(frame);
  std::size_t len = 0;
  const bool duplicate = !last_tx_.empty() && rng_() % 100 < config_.duplicate_percent;
  if (duplicate) {
    len = last_tx_.size();
    std::memcpy(bytes.data(), last_tx_.data(), len);
    count(c_duplicates);
  } else {
    const auto& from = signers_[next_signer_++ % signers_.size()];
    const auto& to = signers_[next_signer_ % signers_.size()].public_key();
    const crypto::hash32 blockhash =
        config_.board != nullptr ? config_.board->read().blockhash : crypto::hash32{};
    try {
      len = txn::build_transfer(from, to, 1 + lamports_++ % 1000, blockhash, bytes);
    } catch (...) {  // signing failed (RNG): give the frame back and try next poll
      (void)free_.release(frame);
      return work;
    }
    if (rng_() % 100 < config_.invalid_percent) {
      bytes[1 + (rng_() % 64)] ^= 0x01;  // flip a bit of the signature
      count(c_invalid);
    } else {
      last_tx_.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    }
  }
  const util::frag_desc d = config_.desc_meta != 0
                                ? util::frag_desc{frame, static_cast<std::uint16_t>(len),
                                                  config_.desc_kind, config_.desc_meta}
                                : util::frag_desc{frame, static_cast<std::uint16_t>(len), 0, created_};
  (void)out->try_push(d);  // room checked above; this tile is the ring's only producer
  next_out_ = (next_out_ + 1) % outs_.size();
  ++created_;
  count(c_sent);
  return work + 1;
}

}  // namespace riptide::tpu
