#include <riptide/tpu/verify_tile.hpp>

#include <riptide/tpu/dedup_tile.hpp>

#include <algorithm>
#include <array>
#include <iterator>
#include <string_view>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::tpu {

namespace {
constexpr std::size_t max_batch = 64;

// "parse_" + to_string(reason), with truncated/instruction/account/readonly/index written
// trunc/ix/acct/ro/idx so the longest fits a metrics counter name (31 characters).
constexpr std::string_view parse_counter_names[] = {
    "parse_too_long",
    "parse_empty",
    "parse_no_signatures",
    "parse_too_many_signatures",
    "parse_trunc_signatures",
    "parse_trunc_message_header",
    "parse_unsupported_version",
    "parse_signature_count_mismatch",
    "parse_too_many_ro_signed",
    "parse_too_many_accts",
    "parse_fewer_accts_than_signers",
    "parse_too_many_ro_unsigned",
    "parse_trunc_acct_keys",
    "parse_duplicate_acct_key",
    "parse_trunc_blockhash",
    "parse_trunc_ix_count",
    "parse_too_many_ixs",
    "parse_trunc_ix_header",
    "parse_program_idx_out_of_range",
    "parse_program_not_ro_unsigned",
    "parse_too_many_ix_accts",
    "parse_trunc_ix_accts",
    "parse_acct_idx_out_of_range",
    "parse_trunc_ix_data_length",
    "parse_ix_data_overrun",
    "parse_trailing_bytes",
};
static_assert(std::size(parse_counter_names) == txn::parse_error_count - 1,
              "one counter name per parse_error other than none");
constexpr bool names_fit() {
  for (auto n : parse_counter_names)
    if (n.size() >= util::metrics_counter_name_bytes) return false;
  return true;
}
static_assert(names_fit());
}  // namespace

verify_tile::verify_tile(std::string name, const util::frame_pool& frames,
                         util::spsc_ring<util::frag_desc>& in,
                         util::spsc_ring<util::frag_desc>& out,
                         util::spsc_ring<util::frag_desc>* release,
                         const verify_tile_config& config)
    : util::tile(std::move(name)), frames_(frames), in_(in), out_(out), release_(release),
      cache_(config.pubkey_cache_entries), batch_(std::clamp<std::size_t>(config.batch, 1, max_batch)) {}

std::vector<std::size_t> verify_tile::drop_counters() const {
  std::vector<std::size_t> d = {c_sig_failed, c_release_full, c_bad_frame};
  for (std::size_t c = c_parse_first; c < c_own_count; ++c) d.push_back(c);
  return d;
}

std::vector<std::string_view> verify_tile::own_counter_names() const {
  std::vector<std::string_view> names = {"received",     "verified",     "parse_failed",
                                         "sig_failed",   "backpressure", "release_full",
                                         "bad_frame"};
  names.insert(names.end(), std::begin(parse_counter_names), std::end(parse_counter_names));
  return names;
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
    if (!frames_.contains(d.frame)) {
      count(c_bad_frame);
    } else if (d.len > frames_.frame_bytes() || d.len > txn::max_transaction_bytes) {
      ++parse_failed;
      count(parse_counter(txn::parse_error::too_long));
    } else {
      txn::transaction_view tx;
      const txn::parse_error e = txn::parse_transaction(frames_.frame(d.frame).first(d.len), tx);
      if (e != txn::parse_error::none) {
        ++parse_failed;
        count(parse_counter(e));
      } else if (!txn::verify_signatures(tx, cache_)) {
        ++sig_failed;
      } else {
        d.meta = signature_tag(tx.signature(0));
        ok = true;
      }
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
