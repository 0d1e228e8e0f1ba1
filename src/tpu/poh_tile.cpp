#include <riptide/tpu/poh_tile.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>

#include <riptide/util/metrics.hpp>

namespace riptide::tpu {

poh_tile::poh_tile(std::string name, const crypto::hash32& start, const poh_tile_config& config,
                   util::spsc_ring<poh_mixin>* mixins, util::spsc_ring<poh_entry_record>* entries)
    : poh_tile(std::move(name), start, config,
               mixins == nullptr ? std::vector<util::spsc_ring<poh_mixin>*>{}
                                 : std::vector<util::spsc_ring<poh_mixin>*>{mixins},
               entries, {}, nullptr) {}

poh_tile::poh_tile(std::string name, const crypto::hash32& start, const poh_tile_config& config,
                   std::vector<util::spsc_ring<poh_mixin>*> mixins,
                   util::spsc_ring<poh_entry_record>* entries,
                   std::vector<util::spsc_ring<bank::slot_hash>*> blockhash_outs, bank::chain_board* board)
    : util::tile(std::move(name)), config_(config), chain_(start, config.hashes_per_tick),
      mixins_(std::move(mixins)), entries_(entries), blockhash_outs_(std::move(blockhash_outs)),
      board_(board) {
  // The start hash is the last slot's (a resumed chain) or the chain start's (slot 0): its
  // slot is the one before the first this tile produces, as at every later slot end.
  newest_ = bank::slot_hash{slot() == 0 ? 0 : slot() - 1, start};
}

std::vector<std::size_t> poh_tile::drop_counters() const {
  return {c_entries_dropped, c_mixins_dropped, c_blockhash_dropped, c_resets_refused, c_boundary_overflows,
          c_held_dropped};
}

std::vector<std::string_view> poh_tile::own_counter_names() const {
  return {"hashes", "ticks", "slots", "entries", "mixins", "entries_dropped", "slot",
          "mixins_dropped", "blockhash_dropped", "mixin_waits", "halted", "resets", "resets_refused",
          "boundary_waits", "boundary_overflows", "leading", "slots_led", "slots_produced",
          "own_slots_skipped", "grace_ticks", "last_parent_distance", "held_dropped", "resets_stale",
          "listen_ticks"};
}

void poh_tile::connect_gate(bank_gate* gate, std::uint64_t reserve) {
  gate_ = gate;
  reserve_ = reserve;
}

void poh_tile::connect_rotation(const poh_rotation& rotation) {
  if (config_.ticks_per_slot == 0) throw std::invalid_argument("poh: ticks_per_slot must be at least 1");
  if (rotation.held_entries < 2 * config_.ticks_per_slot)
    throw std::invalid_argument("poh: rotation held_entries must be at least 2 x ticks_per_slot");
  const std::uint64_t start_end = rotation.start_parent ? (*rotation.start_parent + 1) * config_.ticks_per_slot : 0;
  if (config_.start_tick_height != start_end)
    throw std::invalid_argument("poh: rotation must start at its parent's end: start_tick_height " +
                                std::to_string(config_.start_tick_height) + ", parent's end " +
                                std::to_string(start_end));
  rotation_ = rotation;
  if (rotation_.window != nullptr) rotation_.timeline = rotation_.window->timeline();
  rotation_.rules.ticks_per_slot = config_.ticks_per_slot;
  // The held queue keeps every tick since the parent, and room for a slot of the block's own:
  // no parent farther back than that is built on.
  rotation_.rules.max_parent_distance =
      std::min<std::uint64_t>(rotation_.rules.max_parent_distance, rotation.held_entries / config_.ticks_per_slot - 1);
  held_.assign(rotation.held_entries, poh_entry_record{});
  parent_ = rotation.start_parent;
  produced_ = rotation.highest_produced;
  listen_until_ = rotation.start_parent ? config_.start_tick_height +
                                              epoch::listen_ticks(rotation_.timeline, rotation_.identity, rotation_.rules)
                                        : 0;
  rotating_ = true;
}

void poh_tile::housekeep(std::uint64_t /*monotonic_ns*/) noexcept {
  if (!rotating_ || rotation_.window == nullptr) return;
  try {
    if (rotation_.window->advance(slot())) rotation_.timeline = rotation_.window->timeline();
  } catch (...) {
    // Out of memory for a schedule: the old timeline stays (no leader past it: we follow).
  }
}

void poh_tile::on_start() {
  start_ns_ = util::monotonic_ns();
  set_counter(c_slot, slot());
  send_blockhash(newest_);
  skip_counted_ = slot();
  if (rotating_) rotate(false);
  if (board_ != nullptr) board_->publish(slot(), tick_count(), newest_);
}

void poh_tile::rotate(bool on_tick) noexcept {
  if (leading_ || stopped()) return;
  const std::uint64_t now = slot();
  const std::uint64_t a = rotation_.arriving != nullptr ? rotation_.arriving->load(std::memory_order_acquire) : 0;
  const bool arriving = a != 0 && (!parent_ || a - 1 > *parent_) && a - 1 < now;
  const std::uint64_t h =
      rotation_.highest_seen != nullptr ? rotation_.highest_seen->load(std::memory_order_acquire) : 0;
  const epoch::start_decision d =
      epoch::decide_start(rotation_.timeline, rotation_.identity, rotation_.rules,
                          {tick_count(), parent_, produced_, arriving,
                           h != 0 ? std::optional<std::uint64_t>(h - 1) : std::nullopt, listen_until_});
  if (d.action == epoch::start_action::wait && on_tick) count(c_grace_ticks);
  if (d.reason == epoch::start_reason::listening && on_tick) count(c_listen_ticks);
  if (d.action != epoch::start_action::lead) return;
  // The ticks held since the parent open the block.
  for (std::size_t i = committed_; i < held_count_; ++i) held_[(held_head_ + i) % held_.size()].slot = d.slot;
  committed_ = held_count_;
  leading_ = d.slot;
  count(c_slots_led);
  set_counter(c_leading, 1);
  set_counter(c_last_parent_distance, d.skipped + 1);
}

void poh_tile::end_of_slot_rotation() noexcept {
  const std::uint64_t ended = slot() - 1;
  if (leading_ && *leading_ == ended) {
    produced_ = parent_ = ended;
    leading_.reset();
    count(c_slots_produced);
    set_counter(c_leading, 0);
    newest_ = bank::slot_hash{ended, chain_.last_hash()};
    send_blockhash(newest_);
  }
  // Every slot since the last count (a reset can move the clock forward over several).
  for (; skip_counted_ <= ended; ++skip_counted_)
    if (rotation_.timeline.leader(skip_counted_) == rotation_.identity && (!produced_ || skip_counted_ > *produced_))
      count(c_own_slots_skipped);
}

void poh_tile::hold(const poh_entry_record& r, bool publish) noexcept {
  // Following: ticks further back than the farthest parent a block may have are of no use
  // (decide_start refuses that parent), so they are not kept.
  if (!publish && held_count_ - committed_ >= rotation_.rules.max_parent_distance * config_.ticks_per_slot) return;
  if (held_count_ == held_.size()) {
    count(c_held_dropped);
    return;
  }
  held_[(held_head_ + held_count_) % held_.size()] = r;
  ++held_count_;
  if (publish) ++committed_;
}

int poh_tile::publish_held() noexcept {
  int n = 0;
  while (committed_ != 0) {
    if (entries_ != nullptr && !entries_->try_push(held_[held_head_])) break;
    held_head_ = (held_head_ + 1) % held_.size();
    --held_count_;
    --committed_;
    ++n;
  }
  return n;
}

bool poh_tile::drained() const noexcept {
  for (const auto* r : mixins_)
    if (!r->empty_approx()) return false;
  return true;
}

void poh_tile::send_blockhash(const bank::slot_hash& h) noexcept {
  for (auto* r : blockhash_outs_)
    if (!r->try_push(h)) count(c_blockhash_dropped);
}

int poh_tile::take_mixins() noexcept {
  int work = 0;
  const std::size_t rings = mixins_.size();
  for (std::size_t k = 0; k < rings && static_cast<std::uint64_t>(work) < config_.mixins_per_poll;) {
    auto* ring = mixins_[next_mixin_ring_];
    if (!stopped() && entries_ != nullptr && entries_->free_approx() < 2) {
      // Room for the record and a tick that may be due first; the banks wait meanwhile.
      count(c_mixin_waits);
      return work;
    }
    poh_mixin m;
    if (!ring->try_pop(m)) {
      next_mixin_ring_ = (next_mixin_ring_ + 1) % rings;
      ++k;
      continue;
    }
    ++work;
    if (stopped() || (rotating_ && !leading_)) {
      count(c_mixins_dropped);
      continue;
    }
    auto rec = chain_.record(m.hash);
    if (!rec) {
      // A tick is due first. It is taken now even in sleep mode: ticks are never skipped
      // and a mixin never waits for the wall clock. With a gate this is never the slot's
      // last tick (the reserve keeps room); if it is, the record lands in the next slot.
      if (gate_ != nullptr && last_tick_of_slot()) count(c_boundary_overflows);
      finish_tick();
      rec = chain_.record(m.hash);
    }
    if (rec) {
      ++hashes_;
      count(c_hashes);
      count(c_mixins);
      emit(*rec, m.id, false);
    }
  }
  return work;
}

void poh_tile::emit(const crypto::poh_entry& e, std::uint64_t mixin_id, bool is_tick) noexcept {
  count(c_entries);
  // A tick belongs to the slot it completes, so take the slot from the height before it; a
  // block's entries all carry the block's slot.
  const std::uint64_t ticks = tick_count();
  const std::uint64_t entry_slot = leading_ ? *leading_ : (is_tick ? ticks - 1 : ticks) / config_.ticks_per_slot;
  const poh_entry_record r{e, entry_slot, ticks, mixin_id, is_tick, newest_.slot};
  if (rotating_) {
    hold(r, leading_.has_value());
    (void)publish_held();
    return;
  }
  if (entries_ == nullptr) return;
  if (!entries_->try_push(r)) count(c_entries_dropped);
}

int poh_tile::finish_tick() noexcept {
  const auto tick = chain_.tick();
  if (!tick) return 0;
  ++hashes_;
  count(c_hashes);
  count(c_ticks);
  emit(*tick, ~std::uint64_t{0}, true);
  if (tick_count() % config_.ticks_per_slot == 0) {
    closing_ = false;  // the controller opens the next slot's bank
    count(c_slots);
    set_counter(c_slot, slot());
    if (rotating_) {
      end_of_slot_rotation();  // only a block we made has a blockhash
    } else {
      newest_ = bank::slot_hash{slot() - 1, tick->hash};
      send_blockhash(newest_);
    }
    if (config_.max_slots != 0 &&
        slot() - config_.start_tick_height / config_.ticks_per_slot >= config_.max_slots)
      finished_ = true;
    if (halt_requested_.load(std::memory_order_relaxed) && !halted_.load(std::memory_order_relaxed)) {
      halted_.store(true, std::memory_order_release);
      set_counter(c_halted, 1);
    }
    if (stopped()) stop_gate();
  }
  if (rotating_) rotate(true);
  if (board_ != nullptr) board_->publish(slot(), tick_count(), newest_);
  return 1;
}

int poh_tile::take_resets() noexcept {
  if (resets_ == nullptr || leading_) return 0;  // a block being made finishes first
  poh_reset r;
  bool any = false;
  while (resets_->try_pop(r)) any = true;  // only the newest matters
  if (!any) return 0;
  const std::uint64_t t = config_.ticks_per_slot;
  if ((gate_ != nullptr && !rotating_) || r.tick_height == 0 || r.tick_height % t != 0 ||
      r.slot + 1 != r.tick_height / t) {
    count(c_resets_refused);
    return 1;
  }
  if (rotating_ && parent_ && r.slot <= *parent_) {
    count(c_resets_stale);
    return 1;
  }
  chain_ = crypto::poh(r.hash, config_.hashes_per_tick);
  config_.start_tick_height = r.tick_height;
  start_ns_ = util::monotonic_ns();  // sleep mode: the next tick is due one tick from now
  newest_ = bank::slot_hash{r.slot, r.hash};
  send_blockhash(newest_);
  set_counter(c_slot, slot());
  count(c_resets);
  if (rotating_) {
    parent_ = r.slot;
    held_count_ = committed_;  // the ticks held since the old parent belong to no block now
    rotate(false);
  }
  if (board_ != nullptr) board_->publish(slot(), tick_count(), newest_);
  return 1;
}

std::uint64_t poh_tile::records_left() const noexcept {
  const std::uint64_t ticks_after = config_.ticks_per_slot - 1 - tick_count() % config_.ticks_per_slot;
  return (chain_.remaining_hashes() - 1) + ticks_after * (chain_.hashes_per_tick() - 1);
}

bool poh_tile::boundary_ready() noexcept {
  if (!closing_ && records_left() <= reserve_ + config_.hashes_per_poll + config_.mixins_per_poll) {
    gate_->close(slot());
    closing_ = true;
  }
  if (!closing_ || !gate_->quiet()) return !closing_;
  for (const auto* r : mixins_)
    if (!r->empty_approx()) return false;
  return true;
}

int poh_tile::poll() noexcept {
  int work = take_resets();
  if (rotating_) work += publish_held();
  if (gate_ != nullptr && draining_) stop_gate();
  // Before popping mixins: a close decided now leaves every waiting mixin room in the slot.
  // Rotating, only a block of ours has bank tiles behind it (the gate stays closed between).
  const bool boundary = gate_ != nullptr && !draining_ && !stopped() && (!rotating_ || leading_);
  if (boundary) (void)boundary_ready();
  if (!mixins_.empty()) work += take_mixins();
  if (draining_ || stopped()) return work;
  // With a gate, the chain never hashes below `reserve` records left in the slot until the
  // gate is closed, quiet and drained: until it is closed (one poll can hash twice, so the
  // close must not depend on catching the threshold), and while the bank tiles are still
  // leaving or their mixins are still coming. Then `hold` hashes of this tick stay free and
  // the slot's last tick is never finished.
  const bool waiting = boundary && !boundary_ready();
  std::uint64_t hold = 0;
  if (waiting || (boundary && !closing_)) {
    const std::uint64_t ticks_after = config_.ticks_per_slot - 1 - tick_count() % config_.ticks_per_slot;
    const std::uint64_t future = ticks_after * (chain_.hashes_per_tick() - 1);
    hold = reserve_ > future ? reserve_ - future : 0;
  }
  // In sleep mode the chain stops `slack` hashes before the tick and waits there for the
  // wall clock, so mixins arriving meanwhile are recorded (one hash each) without pulling the
  // tick forward; only more than `slack` mixins in one tick force it early. Flat out, the
  // chain runs up to the tick.
  const bool paced = config_.target_tick_ns != 0;
  const std::uint64_t slack = paced ? std::min<std::uint64_t>(config_.mixin_slack_hashes,
                                                              chain_.hashes_per_tick() - 1)
                                    : 0;
  auto hash_up_to = [&](std::uint64_t keep) noexcept {
    const std::uint64_t before = chain_.remaining_hashes();
    if (before - 1 <= keep) return;
    (void)chain_.hash(std::min<std::uint64_t>(config_.hashes_per_poll, before - 1 - keep));
    const std::uint64_t done = before - chain_.remaining_hashes();
    hashes_ += done;
    count(c_hashes, done);
    work += static_cast<int>(done);
  };
  const std::uint64_t keep = std::max(slack, hold);
  hash_up_to(keep);
  if (chain_.remaining_hashes() - 1 > keep) return work;  // more hashing first
  if ((waiting || (boundary && !closing_)) && (hold != 0 || last_tick_of_slot())) {
    count(c_boundary_waits);
    return work;
  }
  if (paced) {
    const std::uint64_t deadline = start_ns_ + (chain_.tick_count() + 1) * config_.target_tick_ns;
    if (util::monotonic_ns() < deadline) return work;
    hash_up_to(hold);
  }
  if (chain_.remaining_hashes() != 1) return work;
  work += finish_tick();
  return work;
}

}  // namespace riptide::tpu
