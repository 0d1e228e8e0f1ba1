#include <riptide/tpu/ledger_tile.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <riptide/txn/execution.hpp>

namespace riptide::tpu {

ledger_tile::ledger_tile(std::string name, ledger::ledger& lg, const ledger_tile_config& config,
                         util::spsc_ring<poh_entry_record>& in)
    : util::tile(std::move(name)), ledger_(lg), config_(config), in_(in),
      syncer_(lg, [this](std::uint64_t slot, const ledger::sync_result& r) {
        count(r.ok ? c_syncs : c_sync_failures);
        if (!r.ok) return;
        set_counter(c_durable_slot, slot);
        if (config_.board != nullptr) config_.board->set_durable_slot(slot);
      }) {
  if (!lg.empty() && !config.resume)
    throw std::runtime_error(lg.dir().string() + ": the ledger already holds " +
                             std::to_string(lg.stats().records) +
                             " records; start with resume (or use a new ledger.dir)");
  if (config.ticks_per_slot == 0) throw std::invalid_argument("ledger_tile: ticks_per_slot must be > 0");
  // Room for the largest entry: a mixin entry carrying a whole microblock.
  std::size_t tx_area = 0;
  if (!config.banks.empty())
    tx_area = config.max_microblock_tx_bytes != 0 ? config.max_microblock_tx_bytes
                                                  : lg.max_payload_bytes();
  batch_bytes_ = std::max<std::size_t>(
      16384, ledger::batch_header_bytes + ledger::entry_bytes(true, tx_area));
  batch_bytes_ = std::min(batch_bytes_, lg.max_payload_bytes());
  batch_ = std::unique_ptr<std::uint8_t[]>(new std::uint8_t[batch_bytes_]);
  if ((config.forks == nullptr) != (config.gate == nullptr) || (!config.banks.empty() && config.forks == nullptr))
    throw std::invalid_argument("ledger_tile: the bank tiles' stores need their forks and gate (both)");
  start_state_bytes_ = ledger::encode_start_state(config.start_state);
  // A resumed ledger ends on a slot end (node::find_resume_point cut anything after it).
  if (config.resume && !lg.empty()) last_end_slot_ = lg.last_slot();
}

ledger_tile::~ledger_tile() = default;  // background_sync joins its thread

std::vector<std::size_t> ledger_tile::drop_counters() const {
  return {c_append_errors, c_sync_failures, c_bad_mixin_ids, c_oversized_entries, c_records_out_dropped,
          c_bank_errors};
}

std::vector<std::string_view> ledger_tile::own_counter_names() const {
  return {"entries", "records", "bytes", "slots", "syncs", "sync_failures", "append_errors",
          "durable_slot", "txs", "failed_txs", "bank_errors", "bad_mixin_ids",
          "oversized_entries", "records_out_waits", "records_out_dropped", "banks_opened"};
}

void ledger_tile::append(ledger::record_type type, std::uint64_t slot,
                         std::span<const std::uint8_t> payload) noexcept {
  if (ledger_.append(type, slot, payload) != ledger::append_error::none) {
    count(c_append_errors);
    return;
  }
  count(c_records);
  count(c_bytes, payload.size());
  if (config_.records_out != nullptr) {
    ledger_record_ref ref;
    ref.position = ledger_.last_appended();
    ref.slot = slot;
    ref.parent = block_parent_;
    ref.bytes = static_cast<std::uint32_t>(ledger::encoded_record_bytes(payload.size()));
    ref.type = static_cast<std::uint16_t>(type);
    ref.slot_end = type == ledger::record_type::slot_meta && slot_end_pending_;
    // poll() made sure of room for every record it can append.
    if (!config_.records_out->try_push(ref)) count(c_records_out_dropped);
  }
}

void ledger_tile::on_start() {
  if (config_.chain_start && !(config_.resume && !ledger_.empty())) {
    ledger::slot_meta start;
    start.kind = ledger::meta_kind::chain_start;
    start.hashes_per_tick = config_.hashes_per_tick;
    start.ticks_per_slot = config_.ticks_per_slot;
    start.hash = config_.start_hash;
    std::array<std::uint8_t, ledger::slot_meta_bytes> buf{};
    append(ledger::record_type::slot_meta, 0,
           std::span(buf.data(), ledger::encode_meta(start, buf)));
    append(ledger::record_type::start_state, 0, start_state_bytes_);
  }
  syncer_.start();
  if (config_.forks != nullptr && !config_.rotation)
    open_bank(config_.forks->root(), last_end_slot_ ? *last_end_slot_ + 1 : 0);
}


namespace {
// A leader's bank before its block exists: named by its slot until the slot ends (no PoH
// hash has 24 bytes of 0xFF after its first 8).
bank::block_id pending_block_id(std::uint64_t slot) noexcept {
  bank::block_id id;
  id.fill(0xFF);
  for (int i = 0; i < 8; ++i) id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(slot >> (8 * i));
  return id;
}
}  // namespace

void ledger_tile::open_bank(bank::bank_index parent, std::uint64_t slot) noexcept {
  current_ = config_.forks->new_bank(parent, slot, pending_block_id(slot));
  if (current_ == bank::no_bank) {
    count(c_bank_errors);
    return;
  }
  if (config_.gate->open(current_, slot)) count(c_banks_opened);
}

void ledger_tile::begin_block(const poh_entry_record& r) noexcept {
  in_block_ = true;
  if (config_.forks == nullptr) return;
  // Quiescent here: the gate is closed (PoH closed the last block, or none was opened) and
  // replay runs on this thread.
  bank::bank_index parent = bank::no_bank;
  const bool genesis = r.slot == 0;  // slot 0's parent is the genesis root
  if (!genesis && last_frozen_) {
    // Still live (replay may have pruned it), by its block id.
    const bank::bank_index b = config_.forks->find(last_frozen_->id);
    if (b != bank::no_bank && last_frozen_->slot == r.parent) parent = b;
  }
  if (parent == bank::no_bank && config_.forks->info(config_.forks->root()).slot == r.parent)
    parent = config_.forks->root();
  // With consensus, PoH was reset to a bank replay made on whichever fork (unrooted).
  if (parent == bank::no_bank && !genesis) parent = config_.forks->find_frozen(r.parent);
  if (parent == bank::no_bank) {
    count(c_bank_errors);  // the parent is no bank of ours (a fork replay moved past)
    current_ = bank::no_bank;
    return;
  }
  current_ = config_.forks->new_bank(parent, r.slot, pending_block_id(r.slot));
  if (current_ == bank::no_bank) {
    count(c_bank_errors);
    return;
  }
  if (config_.gate->open_block(current_, r.slot)) count(c_banks_opened);
}

void ledger_tile::flush(std::uint64_t slot) noexcept {
  if (batch_count_ == 0) return;
  const std::span<std::uint8_t> buf(batch_.get(), batch_bytes_);
  ledger::finish_batch(buf, batch_count_);
  append(ledger::record_type::entry_batch, slot, buf.first(batch_used_));
  batch_used_ = 0;
  batch_count_ = 0;
}

void ledger_tile::add(const poh_entry_record& r) noexcept {
  const std::span<std::uint8_t> buf(batch_.get(), batch_bytes_);
  microblock_view mb{};
  microblock_store* store = nullptr;
  std::uint64_t seq = 0;
  if (r.entry.has_mixin && !r.is_tick && !config_.banks.empty()) {
    const std::uint32_t bank = mixin_bank_index(r.mixin_id);
    if (bank < config_.banks.size() && config_.banks[bank] != nullptr) {
      store = config_.banks[bank];
      seq = mixin_seq(r.mixin_id);
      mb = store->view(seq);
    } else {
      count(c_bad_mixin_ids);
    }
  }
  if (ledger::batch_header_bytes + ledger::entry_bytes(r.entry.has_mixin, mb.txs.size()) >
      batch_bytes_) {
    // Cannot happen with a correct config. The entry is written without its txs (verify
    // will flag its mixin), and they are neither hashed nor given a status.
    count(c_oversized_entries);
    mb = {};
    if (store != nullptr) store->release(seq);
    store = nullptr;
  }
  std::size_t used = ledger::add_entry(buf, batch_used_, r.entry, r.is_tick, mb.tx_count, mb.txs);
  if (used == 0) {  // batch full: write it and start another
    flush(batch_slot_);
    used = ledger::add_entry(buf, batch_used_, r.entry, r.is_tick, mb.tx_count, mb.txs);
  }
  batch_used_ = used;
  ++batch_count_;
  count(c_entries);
  if (store == nullptr) return;

  ledger::tx_reader reader(mb.tx_count, mb.txs);
  ledger::entry_tx tx;
  std::uint64_t txs = 0, failed = 0;
  while (reader.next(tx)) {
    ++txs;
    if (tx.result != static_cast<std::uint8_t>(txn::tx_result::ok)) ++failed;
    if (config_.statuses != nullptr && tx.body.size() >= 1 + crypto::signature_bytes) {
      crypto::signature sig;
      std::memcpy(sig.data(), tx.body.data() + 1, crypto::signature_bytes);
      config_.statuses->record(sig, bank::tx_status{r.slot, tx.result});
    }
  }
  count(c_txs, txs);
  count(c_failed_txs, failed);
  store->release(seq);
}

void ledger_tile::end_slot(const poh_entry_record& r) noexcept {
  flush(r.slot);
  ledger::slot_meta end;
  end.kind = ledger::meta_kind::slot_end;
  end.hashes_per_tick = config_.hashes_per_tick;
  end.ticks_per_slot = config_.ticks_per_slot;
  end.tick_height = r.tick_height;
  end.hash = r.entry.hash;
  end.parent_slot = r.parent;
  end.leader = config_.leader;
  bool frozen = false;
  if (config_.forks == nullptr || (config_.rotation && current_ == bank::no_bank)) {
    // No banks, or a block of ours that got none (ticks only): nothing changed.
    end.bank_hash = txn::bank_hasher(0).finish(r.entry.hash);
  } else if (current_ != bank::no_bank && config_.forks->info(current_).slot == r.slot) {
    frozen = config_.forks->freeze(current_, r.entry.hash, r.tick_height, end.bank_hash) &&
             config_.forks->set_block_id(current_, r.entry.hash);
    if (!frozen) count(c_bank_errors);
  } else {
    count(c_bank_errors);  // no bank for this slot (counted when it could not be made)
  }
  std::array<std::uint8_t, ledger::slot_meta_bytes> buf{};
  slot_end_pending_ = true;
  append(ledger::record_type::slot_meta, r.slot, std::span(buf.data(), ledger::encode_meta(end, buf)));
  slot_end_pending_ = false;
  last_end_slot_ = r.slot;
  (void)ledger_.set_root(r.slot);  // false only if the slot end was not appended (counted)
  count(c_slots);
  in_block_ = false;
  if (frozen && config_.rotation) {
    last_frozen_ = frozen_block{r.entry.hash, r.slot};  // replay roots it once it is on the chain
    current_ = bank::no_bank;
  } else if (frozen) {
    if (config_.forks->set_root(current_)) {
      if (config_.board != nullptr) config_.board->set_root_slot(r.slot);
      open_bank(current_, r.slot + 1);
    } else {
      count(c_bank_errors);
      current_ = bank::no_bank;
    }
  }
  if (config_.sync_at_slot_end) syncer_.request(ledger_.mark(), r.slot);
}

int ledger_tile::poll() noexcept {
  poh_entry_record recs[64];
  std::size_t take = std::size(recs);
  if (config_.records_out != nullptr) {
    // One entry appends at most 3 records (a full batch, the slot's last batch, its end).
    take = std::min(take, config_.records_out->free_approx() / 3);
    if (take == 0) {
      count(c_records_out_waits);
      return 0;
    }
  }
  const std::size_t n = in_.try_pop_batch(std::span(recs, take));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = recs[i];
    if (batch_count_ != 0 && r.slot != batch_slot_) flush(batch_slot_);
    batch_slot_ = r.slot;
    block_parent_ = r.parent;
    if (config_.rotation && !in_block_) begin_block(r);
    add(r);
    // A block ends at its slot's last tick; the ticks of skipped slots before it do not.
    if (r.is_tick && r.tick_height == (r.slot + 1) * config_.ticks_per_slot) end_slot(r);
  }
  return static_cast<int>(n);
}

void ledger_tile::on_stop() noexcept {
  flush(batch_slot_);
  syncer_.stop();  // it finishes a pending request first
  // The final sync, on this thread now that the sync thread is gone. A partial slot is
  // durable too but not announced: durable_slot names only completed slots.
  const auto s = ledger_.sync();
  count(s.ok ? c_syncs : c_sync_failures);
}

}  // namespace riptide::tpu
