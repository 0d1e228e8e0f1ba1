#include <riptide/tpu/forward_tile.hpp>

#include <stdexcept>

namespace riptide::tpu {

void forward_tile_config::validate() const {
  if (tx_frames == 0) throw std::invalid_argument("forward: tx_frames must be at least 1");
  if (batch == 0 || batch > 64) throw std::invalid_argument("forward: batch must be in 1..64");
  if (rules.forward_slots > epoch::forward_decision::max_targets)
    throw std::invalid_argument("forward: forward_slots must be at most " +
                                std::to_string(epoch::forward_decision::max_targets));
}

forward_tile::forward_tile(std::string name, const forward_tile_config& config, const epoch::leader_timeline& timeline,
                           const net::contact_book& contacts, const bank::chain_board& board,
                           const util::frame_pool& frames, util::spsc_ring<util::frag_desc>& in,
                           util::spsc_ring<util::frag_desc>* keep, util::spsc_ring<util::frag_desc>* release,
                           util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release)
    : util::tile(std::move(name)),
      config_((config.validate(), config)),
      timeline_(&timeline),
      contacts_(contacts),
      board_(board),
      frames_(frames),
      in_(in),
      keep_(keep),
      release_(release),
      sender_(config_.tx_frames, tx, tx_release) {}

std::vector<std::string_view> forward_tile::own_counter_names() const {
  return {"received",      "kept",          "kept_released",     "forwarded_txs",      "forwarded",
          "dropped_reforward", "dropped_no_leader", "no_contact", "tx_no_frame", "tx_ring_full",
          "tx_release_bad", "keep_backpressure", "release_full", "bad_frame", "forward_failed"};
}

std::vector<std::size_t> forward_tile::drop_counters() const {
  return {c_dropped_reforward, c_dropped_no_leader, c_no_contact, c_tx_no_frame, c_tx_ring_full,
          c_tx_release_bad,    c_release_full,      c_bad_frame,        c_forward_failed};
}

void forward_tile::follow_epochs(epoch::schedule_window& window) noexcept {
  window_ = &window;
  timeline_ = &window.timeline();
  plans_slot_ = ~std::uint64_t{0};
}

void forward_tile::housekeep(std::uint64_t /*monotonic_ns*/) noexcept {
  if (window_ == nullptr) return;
  try {
    // Centred on the slot in progress; the next epoch is in the window before it begins.
    if (window_->advance(board_.read().slot)) plans_slot_ = ~std::uint64_t{0};
  } catch (...) {
    // Out of memory for a schedule: the old window stays (no leader past it: dropped_no_leader).
  }
}

void forward_tile::replan(std::uint64_t slot) noexcept {
  for (int forwarded = 0; forwarded < 2; ++forwarded) {
    const epoch::forward_decision d =
        epoch::plan_forward(*timeline_, config_.identity, config_.rules, slot, forwarded == 1);
    plan& p = plans_[static_cast<std::size_t>(forwarded)];
    p = plan{};
    p.action = d.action;
    for (const crypto::pubkey& target : d.target_list()) {
      const std::optional<std::size_t> row = contacts_.row_of(target);
      const net::endpoint at = row ? contacts_.get(*row, net::port_kind::tpu_forwards) : net::endpoint{};
      if (at.pack() == 0) ++p.missing;
      else p.to[p.count++] = at;
    }
  }
  plans_slot_ = slot;
}

void forward_tile::release(const util::frag_desc& d) noexcept {
  if (release_ != nullptr && !release_->try_push(d)) count(c_release_full);
}

void forward_tile::handle(const util::frag_desc& d) noexcept {
  count(c_received);
  if (!frames_.contains(d.frame) || d.len > frames_.frame_bytes()) {
    count(c_bad_frame);
    release(d);
    return;
  }
  const bool forwarded = d.kind == static_cast<std::uint16_t>(net::port_kind::tpu_forwards);
  const plan& p = plans_[forwarded ? 1 : 0];
  using epoch::forward_action;
  if (p.action == forward_action::forward || p.action == forward_action::forward_and_hold) {
    count(c_no_contact, p.missing);
    const std::span<const std::uint8_t> bytes = frames_.frame(d.frame).first(d.len);
    std::uint64_t sent = 0;
    for (std::uint8_t i = 0; i < p.count; ++i) {
      switch (sender_.send(bytes, net::port_kind::tpu_forwards, p.to[i])) {
        case net::send_result::sent: ++sent; break;
        case net::send_result::ring_full: count(c_tx_ring_full); break;
        default: count(c_tx_no_frame); break;  // no frame (a transaction always fits one)
      }
    }
    count(c_forwarded, sent);
    if (sent != 0) count(c_forwarded_txs);
    else if (p.action == forward_action::forward) count(c_forward_failed);  // lost: no copy left
  }
  switch (p.action) {
    case forward_action::consume:
    case forward_action::hold:
    case forward_action::forward_and_hold:
      if (keep_ == nullptr) {
        count(c_kept_released);
        release(d);
      } else {
        (void)keep_->try_push(d);  // room checked in poll(); this tile is the only producer
        count(c_kept);
      }
      return;
    case forward_action::forward: release(d); return;
    case forward_action::drop:
      count(forwarded ? c_dropped_reforward : c_dropped_no_leader);
      release(d);
      return;
  }
}

int forward_tile::poll() noexcept {
  int work = sender_.reclaim();
  set_counter(c_tx_release_bad, sender_.bad_releases());
  std::size_t room = config_.batch;
  if (keep_ != nullptr) {
    const std::size_t free = keep_->free_approx();
    if (free < room) room = free;
    if (room == 0) {
      if (!in_.empty_approx()) count(c_keep_backpressure);
      return work;
    }
  }
  std::array<util::frag_desc, 64> descs;
  const std::size_t n = in_.try_pop_batch(std::span(descs.data(), room));
  if (n == 0) return work;
  const std::uint64_t slot = board_.read().slot;
  if (slot != plans_slot_) replan(slot);
  for (std::size_t i = 0; i < n; ++i) handle(descs[i]);
  return work + static_cast<int>(n);
}

}  // namespace riptide::tpu
