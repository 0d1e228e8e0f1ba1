#pragma once
// Ledger tile: appends the PoH tile's entries to the mmap'd ledger and makes each slot
// durable when it ends.
//
// Contract
//   - Runs on one core thread; owns the ledger while the runtime runs. Consumes
//     poh_entry_record from the PoH tile's entries ring, so PoH never waits on the disk: a
//     slow sync here backs up that ring (PoH counts what it could not push) and never the chain.
//   - Entries are packed into entry_batch records (ledger/entry_codec.hpp), flushed when the
//     batch is full or the slot ends. At a slot's last tick it appends a slot_meta (slot end,
//     last PoH hash) and, with sync_at_slot_end, calls sync(): `durable_slot` then says which
//     slots survive kill -9. The first record of a new ledger is a chain-start slot_meta with
//     the start hash and timing, so `riptide ledger verify` can re-run the chain alone.
//   - sync() is a blocking fdatasync; put this tile on a core whose other tiles tolerate that
//     (not PoH's when PoH runs flat out).

#include <array>
#include <cstdint>
#include <string>

#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tpu {

struct ledger_tile_config {
  bool sync_at_slot_end = true;
  std::uint64_t hashes_per_tick = 0;
  std::uint64_t ticks_per_slot = 64;
  crypto::hash32 start_hash{};
};

class ledger_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_entries, c_records, c_bytes, c_slots, c_syncs, c_sync_failures, c_append_errors, c_durable_slot,
  };

  // Throws std::runtime_error if the ledger already holds a chain (resuming is not supported).
  ledger_tile(std::string name, ledger::ledger& lg, const ledger_tile_config& config,
              util::spsc_ring<poh_entry_record>& in);

  std::vector<std::string_view> own_counter_names() const override;
  void on_start() override;
  int poll() noexcept override;
  bool drained() const noexcept override { return in_.empty_approx(); }
  void on_stop() noexcept override;

 private:
  void flush(std::uint64_t slot) noexcept;
  void append(ledger::record_type type, std::uint64_t slot, std::span<const std::uint8_t> payload) noexcept;

  ledger::ledger& ledger_;
  ledger_tile_config config_;
  util::spsc_ring<poh_entry_record>& in_;
  std::array<std::uint8_t, 16384> batch_{};
  std::size_t batch_used_ = 0;
  std::uint32_t batch_count_ = 0;
  std::uint64_t batch_slot_ = 0;
};

}  // namespace riptide::tpu
