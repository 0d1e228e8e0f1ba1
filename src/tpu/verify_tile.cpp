#include <riptide/tpu/verify_tile.hpp>

#include <algorithm>
#include <array>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::tpu {

namespace {
constexpr std::size_t max_batch = 64;
}

verify_tile::verify_tile(std::string name, const util::frame_pool& frames,
                         util::spsc_ring<util::frag_desc>& in,
                         util::spsc_ring<util::frag_desc>& out,
                         util::spsc_ring<util::frag_desc>* release,
                         const verify_tile_config& config)
    : util::tile(std::move(name)), frames_(frames), in_(in), out_(out), release_(release),
      cache_(config.pubkey_cache_entries), batch_(std::clamp<std::size_t>(config.batch, 1, max_batch)) {}

std::vector<std::string_view> verify_tile::own_counter_names() const {
  return {"received", "verified", "parse_failed", "sig_failed", "backpressure", "release_full"};
}

int verify_tile::poll() noexcept {
  if (out_room_ < batch_) out_room_ = out_.free_approx();
  if (out_room_ == 0) {
    if (!in_.empty_approx()) count(c_backpressure);
    return 0;
  }
  std::array<util::frag_desc, max_batch> descs;
  const std::size_t n = in_.try_pop_batch(std::span(descs.data(), std::min(batch_, out_room_)));
  if (n == 0) return 0;
  count(c_received, n);
  std::size_t passed = 0, parse_failed = 0, sig_failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    util::frag_desc d = descs[i];
    bool ok = false;
    if (frames_.contains(d.frame) && d.len <= frames_.frame_bytes()) {
      const auto bytes = frames_.frame(d.frame).first(d.len);
      txn::transaction_view tx;
      if (txn::parse_transaction(bytes, tx) != txn::parse_error::none) {
        ++parse_failed;
      } else if (!txn::verify_signatures(tx, cache_)) {
        ++sig_failed;
      } else {
        d.meta = crypto::xxh3_64(tx.signature(0));
        ok = true;
      }
    } else {
      ++parse_failed;
    }
    if (ok) {
      descs[passed++] = d;
    } else if (release_ != nullptr && !release_->try_push(d)) {
      count(c_release_full);
    }
  }
  // Room was reserved above, so this push cannot come up short.
  const std::size_t pushed = out_.try_push_batch(std::span(descs.data(), passed));
  out_room_ -= pushed;
  count(c_verified, pushed);
  if (parse_failed != 0) count(c_parse_failed, parse_failed);
  if (sig_failed != 0) count(c_sig_failed, sig_failed);
  return static_cast<int>(n);
}

}  // namespace riptide::tpu
