#include <riptide/node/ledger_tool.hpp>

#include <optional>
#include <ostream>
#include <vector>

#include <fmt/format.h>

#include <riptide/crypto/poh.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::node {

namespace {
constexpr std::size_t verify_chunk_entries = 4096;

}  // namespace

ledger_verify_result verify_ledger(const std::filesystem::path& dir, unsigned threads,
                                   const std::function<void(double)>& progress) {
  ledger_verify_result r;
  std::optional<ledger::ledger> lg;
  try {
    ledger::ledger_config cfg;
    cfg.dir = dir;
    cfg.verify_all_checksums_on_open = true;
    lg.emplace(ledger::ledger::open(cfg));
  } catch (const std::exception& e) {
    r.error = e.what();
    return r;
  }
  if (lg->empty()) {
    r.error = dir.string() + ": the ledger is empty";
    return r;
  }
  const std::uint64_t total = lg->stats().records;
  bool started = false;
  ledger::slot_meta start;
  crypto::hash32 chain_start{};
  std::vector<crypto::poh_entry> chunk;
  std::vector<ledger::decoded_entry> decoded;
  crypto::hash32 last_hash{};
  std::uint64_t hashes_in_tick = 0, first_slot_of_chunk = 0;

  auto verify_chunk = [&](std::uint64_t slot) {
    if (chunk.empty()) return true;
    if (!crypto::verify_entries(chain_start, chunk, threads)) {
      r.error = fmt::format("PoH chain broken in slots {}..{}: one of {} entries does not hash from the previous one",
                            first_slot_of_chunk, slot, chunk.size());
      return false;
    }
    chain_start = chunk.back().hash;
    chunk.clear();
    return true;
  };

  auto c = lg->read_all();
  ledger::record_view v;
  while (c.next(v)) {
    ++r.records;
    if (r.records % 256 == 0 && progress) progress(static_cast<double>(r.records) / static_cast<double>(total));
    if (!started) {
      if (v.type != ledger::record_type::slot_meta || ledger::decode_meta(v.payload, start) != ledger::entry_error::none ||
          start.kind != ledger::meta_kind::chain_start) {
        r.error = "record 1: the ledger does not begin with a chain-start record";
        return r;
      }
      started = true;
      chain_start = start.hash;
      last_hash = start.hash;
      continue;
    }
    if (v.type == ledger::record_type::entry_batch) {
      decoded.clear();
      if (const auto e = ledger::decode_batch(v.payload, decoded); e != ledger::entry_error::none) {
        r.error = fmt::format("record {} (slot {}): bad entry batch: {}", r.records, v.slot, ledger::to_string(e));
        return r;
      }
      for (const auto& d : decoded) {
        if (chunk.empty()) first_slot_of_chunk = v.slot;
        chunk.push_back(d.entry);
        ++r.entries;
        r.hashes += d.entry.num_hashes;
        hashes_in_tick += d.entry.num_hashes;
        last_hash = d.entry.hash;
        if (d.is_tick) {
          ++r.ticks;
          if (hashes_in_tick != start.hashes_per_tick) {
            r.error = fmt::format("slot {} tick {}: {} hashes, the chain says {} per tick", v.slot, r.ticks,
                                  hashes_in_tick, start.hashes_per_tick);
            return r;
          }
          hashes_in_tick = 0;
        }
        if (chunk.size() >= verify_chunk_entries && !verify_chunk(v.slot)) return r;
      }
    } else if (v.type == ledger::record_type::slot_meta) {
      ledger::slot_meta m;
      if (const auto e = ledger::decode_meta(v.payload, m); e != ledger::entry_error::none || m.kind != ledger::meta_kind::slot_end) {
        r.error = fmt::format("record {} (slot {}): bad slot-end record", r.records, v.slot);
        return r;
      }
      if (m.hash != last_hash || m.tick_height != r.ticks) {
        r.error = fmt::format("slot {}: slot-end record says tick {} hash {}, the entries end at tick {} hash {}",
                              v.slot, m.tick_height, util::to_hex(m.hash), r.ticks, util::to_hex(last_hash));
        return r;
      }
      ++r.slots;
    }
  }
  if (!verify_chunk(lg->last_slot())) return r;
  if (progress) progress(1.0);
  r.ok = true;
  return r;
}

bool show_ledger_slot(const std::filesystem::path& dir, std::uint64_t slot, std::ostream& out) {
  try {
    ledger::ledger_config cfg;
    cfg.dir = dir;
    auto lg = ledger::ledger::open(cfg);
    const auto where = lg.records_in_slot(slot);
    if (where.count == 0) {
      out << fmt::format("slot {} is not in {} (last slot {})\n", slot, dir.string(), lg.last_slot());
      return false;
    }
    out << fmt::format("slot {}: {} records\n", slot, where.count);
    std::vector<ledger::decoded_entry> decoded;
    bool ok = true;
    lg.for_each_in_slot(slot, [&](const ledger::record_view& v) {
      if (v.type == ledger::record_type::entry_batch) {
        decoded.clear();
        const auto e = ledger::decode_batch(v.payload, decoded);
        if (e != ledger::entry_error::none) {
          out << "  bad entry batch: " << ledger::to_string(e) << "\n";
          ok = false;
          return;
        }
        for (const auto& d : decoded)
          out << fmt::format("  {} num_hashes {:>8} hash {}{}{}\n", d.is_tick ? "tick " : "entry",
                             d.entry.num_hashes, util::to_hex(d.entry.hash),
                             d.entry.has_mixin ? " mixin " + util::to_hex(d.entry.mixin) : std::string(),
                             d.tx_count != 0 ? fmt::format(" txs {}", d.tx_count) : std::string());
      } else if (v.type == ledger::record_type::slot_meta) {
        ledger::slot_meta m;
        if (ledger::decode_meta(v.payload, m) == ledger::entry_error::none)
          out << fmt::format("  {} tick_height {} hash {}\n",
                             m.kind == ledger::meta_kind::chain_start ? "chain start" : "slot end", m.tick_height,
                             util::to_hex(m.hash));
      }
    });
    return ok;
  } catch (const std::exception& e) {
    out << "error: " << e.what() << "\n";
    return false;
  }
}

}  // namespace riptide::node
