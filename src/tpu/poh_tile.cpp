#include <riptide/tpu/poh_tile.hpp>

#include <riptide/util/metrics.hpp>

namespace riptide::tpu {

poh_tile::poh_tile(std::string name, const crypto::hash32& start, const poh_tile_config& config,
                   util::spsc_ring<poh_mixin>* mixins, util::spsc_ring<poh_entry_record>* entries)
    : util::tile(std::move(name)), config_(config), chain_(start, config.hashes_per_tick),
      mixins_(mixins), entries_(entries) {}

std::vector<std::string_view> poh_tile::own_counter_names() const {
  return {"hashes", "ticks", "slots", "entries", "mixins", "entries_dropped", "slot"};
}

void poh_tile::on_start() { start_ns_ = util::monotonic_ns(); }

void poh_tile::emit(const crypto::poh_entry& e, std::uint64_t mixin_id, bool is_tick) noexcept {
  count(c_entries);
  if (entries_ == nullptr) return;
  // A tick belongs to the slot it completes, so take the slot from the height before it.
  const std::uint64_t ticks = chain_.tick_count();
  const std::uint64_t entry_slot = (is_tick ? ticks - 1 : ticks) / config_.ticks_per_slot;
  if (!entries_->try_push(poh_entry_record{e, entry_slot, ticks, mixin_id, is_tick}))
    count(c_entries_dropped);
}

int poh_tile::finish_tick() noexcept {
  const auto tick = chain_.tick();
  if (!tick) return 0;
  ++hashes_;
  count(c_hashes);
  count(c_ticks);
  emit(*tick, ~std::uint64_t{0}, true);
  if (chain_.tick_count() % config_.ticks_per_slot == 0) {
    count(c_slots);
    set_counter(c_slot, slot());
    if (config_.max_slots != 0 && slot() >= config_.max_slots) finished_ = true;
  }
  return 1;
}

int poh_tile::poll() noexcept {
  int work = 0;
  if (mixins_ != nullptr && !finished_) {
    poh_mixin m;
    if (mixins_->try_pop(m)) {
      auto rec = chain_.record(m.hash);
      if (!rec) {
        // A tick is due first. It is taken now even in sleep mode: ticks are never skipped
        // and a mixin never waits for the wall clock.
        finish_tick();
        rec = chain_.record(m.hash);
      }
      if (rec) {
        ++hashes_;
        count(c_hashes);
        count(c_mixins);
        emit(*rec, m.id, false);
      }
      ++work;
    }
  }
  if (draining_ || finished_) return work;
  const std::uint64_t before = chain_.remaining_hashes();
  const bool tick_due = chain_.hash(config_.hashes_per_poll);
  const std::uint64_t done = before - chain_.remaining_hashes();
  hashes_ += done;
  if (done != 0) count(c_hashes, done);
  work += static_cast<int>(done);
  if (tick_due) {
    // hash() stops one short of the tick; in sleep mode the tick waits for its deadline.
    if (config_.target_tick_ns != 0) {
      const std::uint64_t deadline = start_ns_ + (chain_.tick_count() + 1) * config_.target_tick_ns;
      if (util::monotonic_ns() < deadline) return work;
    }
    work += finish_tick();
  }
  return work;
}

}  // namespace riptide::tpu
