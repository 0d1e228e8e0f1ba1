#include <riptide/tpu/ledger_tile.hpp>

#include <stdexcept>

namespace riptide::tpu {

ledger_tile::ledger_tile(std::string name, ledger::ledger& lg, const ledger_tile_config& config,
                         util::spsc_ring<poh_entry_record>& in)
    : util::tile(std::move(name)), ledger_(lg), config_(config), in_(in) {
  if (!lg.empty())
    throw std::runtime_error(lg.dir().string() + ": the ledger already holds " +
                             std::to_string(lg.stats().records) +
                             " records; resuming a chain is not supported yet (use a new ledger.dir)");
}

std::vector<std::string_view> ledger_tile::own_counter_names() const {
  return {"entries", "records", "bytes", "slots", "syncs", "sync_failures", "append_errors", "durable_slot"};
}

void ledger_tile::append(ledger::record_type type, std::uint64_t slot,
                         std::span<const std::uint8_t> payload) noexcept {
  if (ledger_.append(type, slot, payload) != ledger::append_error::none) {
    count(c_append_errors);
    return;
  }
  count(c_records);
  count(c_bytes, payload.size());
}

void ledger_tile::on_start() {
  ledger::slot_meta start;
  start.kind = ledger::meta_kind::chain_start;
  start.hashes_per_tick = config_.hashes_per_tick;
  start.ticks_per_slot = config_.ticks_per_slot;
  start.hash = config_.start_hash;
  std::array<std::uint8_t, ledger::slot_meta_bytes> buf{};
  append(ledger::record_type::slot_meta, 0, std::span(buf.data(), ledger::encode_meta(start, buf)));
}

void ledger_tile::flush(std::uint64_t slot) noexcept {
  if (batch_count_ == 0) return;
  ledger::finish_batch(batch_, batch_count_);
  append(ledger::record_type::entry_batch, slot, std::span(batch_.data(), batch_used_));
  batch_used_ = 0;
  batch_count_ = 0;
}

int ledger_tile::poll() noexcept {
  poh_entry_record recs[64];
  const std::size_t n = in_.try_pop_batch(recs);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = recs[i];
    if (batch_count_ != 0 && r.slot != batch_slot_) flush(batch_slot_);
    batch_slot_ = r.slot;
    std::size_t used = ledger::add_entry(batch_, batch_used_, r.entry, r.is_tick);
    if (used == 0) {  // batch full: write it and start another
      flush(batch_slot_);
      used = ledger::add_entry(batch_, batch_used_, r.entry, r.is_tick);
    }
    batch_used_ = used;
    ++batch_count_;
    count(c_entries);
    if (r.is_tick && r.tick_height % config_.ticks_per_slot == 0) {
      flush(r.slot);
      ledger::slot_meta end;
      end.kind = ledger::meta_kind::slot_end;
      end.hashes_per_tick = config_.hashes_per_tick;
      end.ticks_per_slot = config_.ticks_per_slot;
      end.tick_height = r.tick_height;
      end.hash = r.entry.hash;
      std::array<std::uint8_t, ledger::slot_meta_bytes> buf{};
      append(ledger::record_type::slot_meta, r.slot, std::span(buf.data(), ledger::encode_meta(end, buf)));
      count(c_slots);
      if (config_.sync_at_slot_end) {
        const auto s = ledger_.sync();
        count(s.ok ? c_syncs : c_sync_failures);
        if (s.ok) set_counter(c_durable_slot, r.slot);
      }
    }
  }
  return static_cast<int>(n);
}

void ledger_tile::on_stop() noexcept {
  flush(batch_slot_);
  if (ledger_.sync().ok) count(c_syncs);
}

}  // namespace riptide::tpu
