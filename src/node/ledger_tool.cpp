#include <riptide/node/ledger_tool.hpp>

#include <cstring>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include <riptide/crypto/poh.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::node {

namespace {
constexpr std::size_t verify_chunk_entries = 4096;

// Checks one entry's transactions: each parses, each result is a tx_result, and the mixin is
// the hash of all their signatures. Returns an empty string when fine, else why.
std::string check_entry_txs(const ledger::decoded_entry& d, std::vector<crypto::signature>& sigs,
                            ledger_verify_result& r) {
  sigs.clear();
  ledger::tx_reader reader(d);
  ledger::entry_tx tx;
  std::uint32_t i = 0;
  while (reader.next(tx)) {
    txn::transaction_view view;
    if (const auto e = txn::parse_transaction(tx.body, view); e != txn::parse_error::none)
      return fmt::format("tx {} does not parse: {}", i, txn::to_string(e));
    if (tx.result >= txn::tx_result_count)
      return fmt::format("tx {} has result byte {}, not a tx_result", i, tx.result);
    for (std::size_t s = 0; s < view.num_signatures(); ++s) sigs.push_back(view.signature(s));
    ++r.txs;
    ++r.txs_by_result[tx.result];
    ++i;
  }
  if (d.entry.has_mixin && crypto::entry_mixin(sigs) != d.entry.mixin)
    return fmt::format("mixin {} is not the hash of its {} transactions' signatures ({})",
                       util::to_hex(d.entry.mixin), d.tx_count,
                       util::to_hex(crypto::entry_mixin(sigs)));
  return {};
}

}  // namespace

std::string ledger_verify_result::tx_summary() const {
  std::string s = fmt::format("{} txs ({} ok", txs, txs_by_result[0]);
  for (std::size_t i = 1; i < txs_by_result.size(); ++i)
    if (txs_by_result[i] != 0)
      s += fmt::format(", {} {}", txs_by_result[i], txn::to_string(static_cast<txn::tx_result>(i)));
  return s + ")";
}

ledger_verify_result verify_ledger(const std::filesystem::path& dir, unsigned threads,
                                   const std::function<void(double)>& progress) {
  ledger_verify_result r;
  std::optional<ledger::ledger> lg;
  try {
    ledger::ledger_config cfg;
    cfg.dir = dir;
    cfg.read_only = true;  // verify changes nothing, not even a torn tail
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
  std::vector<crypto::signature> sigs;
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
        if (const std::string why = check_entry_txs(d, sigs, r); !why.empty()) {
          r.error = fmt::format("record {} (slot {}) entry {}: {}", r.records, v.slot, r.entries, why);
          return r;
        }
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
      if (m.bank_hash != crypto::hash32{}) ++r.bank_hashes;
      ++r.slots;
    }
  }
  if (!verify_chunk(lg->last_slot())) return r;
  if (progress) progress(1.0);
  r.ok = true;
  return r;
}

namespace {

std::string short_hex(std::span<const std::uint8_t> bytes) { return util::to_hex(bytes.first(8)); }

// "tx 1a2b3c4d5e6f7a8b  9f8e…(from) -> 7c6d…(to)  1000 lamports  ok": a transaction in one line.
std::string describe_tx(const ledger::entry_tx& tx) {
  const std::string result =
      tx.result < txn::tx_result_count ? txn::to_string(static_cast<txn::tx_result>(tx.result))
                                       : fmt::format("result {}?", tx.result);
  txn::transaction_view view;
  if (const auto e = txn::parse_transaction(tx.body, view); e != txn::parse_error::none)
    return fmt::format("tx ({} bytes, does not parse: {})  {}", tx.body.size(), txn::to_string(e), result);
  std::string line = "tx " + short_hex(view.signature(0));
  bool any = false;
  for (std::size_t i = 0; i < view.num_instructions(); ++i) {
    txn::transfer t;
    if (txn::decode_transfer(view, i, t) != txn::transfer_error::none) continue;
    line += fmt::format("{}  {} -> {}  {} lamports", any ? ";" : "", short_hex(view.account_key(t.from_index)),
                        short_hex(view.account_key(t.to_index)), t.lamports);
    any = true;
  }
  if (!any) line += fmt::format("  payer {}  ({} instructions, none a transfer)", short_hex(view.fee_payer()),
                                view.num_instructions());
  return line + "  " + result;
}

}  // namespace

bool show_ledger_slot(const std::filesystem::path& dir, std::uint64_t slot, std::ostream& out) {
  try {
    ledger::ledger_config cfg;
    cfg.dir = dir;
    cfg.read_only = true;
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
        for (const auto& d : decoded) {
          out << fmt::format("  {} num_hashes {:>8} hash {}{}{}\n", d.is_tick ? "tick " : "entry",
                             d.entry.num_hashes, util::to_hex(d.entry.hash),
                             d.entry.has_mixin ? " mixin " + util::to_hex(d.entry.mixin) : std::string(),
                             d.tx_count != 0 ? fmt::format(" txs {}", d.tx_count) : std::string());
          ledger::tx_reader reader(d);
          ledger::entry_tx tx;
          while (reader.next(tx)) out << "    " << describe_tx(tx) << "\n";
        }
      } else if (v.type == ledger::record_type::slot_meta) {
        ledger::slot_meta m;
        if (ledger::decode_meta(v.payload, m) == ledger::entry_error::none)
          out << fmt::format("  {} tick_height {} hash {}{}\n",
                             m.kind == ledger::meta_kind::chain_start ? "chain start" : "slot end", m.tick_height,
                             util::to_hex(m.hash),
                             m.kind == ledger::meta_kind::slot_end
                                 ? " bank_hash " + (m.bank_hash == crypto::hash32{} ? std::string("unknown")
                                                                                     : util::to_hex(m.bank_hash))
                                 : std::string());
      }
    });
    return ok;
  } catch (const std::exception& e) {
    out << "error: " << e.what() << "\n";
    return false;
  }
}

std::optional<resume_point> find_resume_point(ledger::ledger& lg) {
  if (lg.empty()) return std::nullopt;
  resume_point rp;
  bool started = false;
  ledger::record_position cut{};
  std::uint64_t kept = 0, seen = 0;
  auto c = lg.read_all();
  ledger::record_view v;
  while (c.next(v)) {
    ++seen;
    if (v.type != ledger::record_type::slot_meta) continue;
    ledger::slot_meta m;
    if (const auto e = ledger::decode_meta(v.payload, m); e != ledger::entry_error::none)
      throw std::runtime_error(fmt::format("{}: record {} (slot {}): bad slot_meta: {}", lg.dir().string(), seen,
                                           v.slot, ledger::to_string(e)));
    if (!started) {
      if (m.kind != ledger::meta_kind::chain_start || seen != 1)
        throw std::runtime_error(lg.dir().string() + ": the ledger does not begin with a chain-start record");
      started = true;
      rp.chain_start_hash = m.hash;
      rp.last_hash = m.hash;
      rp.hashes_per_tick = m.hashes_per_tick;
      rp.ticks_per_slot = m.ticks_per_slot;
    } else if (m.kind == ledger::meta_kind::slot_end) {
      rp.next_slot = v.slot + 1;
      rp.tick_height = m.tick_height;
      rp.last_hash = m.hash;
    } else {
      throw std::runtime_error(fmt::format("{}: record {}: a second chain-start record", lg.dir().string(), seen));
    }
    cut = c.position();
    kept = seen;
  }
  if (!started)
    throw std::runtime_error(lg.dir().string() + ": the ledger does not begin with a chain-start record");
  rp.truncated_records = seen - kept;
  if (rp.truncated_records != 0) lg.truncate(cut);
  return rp;
}

replay_result replay_ledger(const ledger::ledger& lg, txn::bank& bank) {
  replay_result r;
  // The genesis credits are the state slot 0 starts from, not changes made in slot 0 (the
  // leader's bank hash covers only what transactions changed).
  bank.begin_slot();
  auto problem = [&r](std::string what) {
    if (r.first_problem.empty()) r.first_problem = std::move(what);
  };
  std::vector<ledger::decoded_entry> decoded;
  txn::execution_counters counters;
  txn::account_changes changes;
  bool started = false;
  std::uint64_t record = 0;
  auto c = lg.read_all();
  ledger::record_view v;
  while (c.next(v)) {
    ++record;
    if (v.type == ledger::record_type::slot_meta) {
      ledger::slot_meta m;
      if (ledger::decode_meta(v.payload, m) != ledger::entry_error::none) {
        ++r.bad_records;
        problem(fmt::format("record {} (slot {}): bad slot_meta", record, v.slot));
        continue;
      }
      if (m.kind == ledger::meta_kind::chain_start) {
        if (!started) bank.register_blockhash(0, m.hash);
        started = true;
        continue;
      }
      if (m.bank_hash != crypto::hash32{}) {
        ++r.bank_hashes_checked;
        const crypto::hash32 mine = bank.bank_hash(m.hash);
        if (mine != m.bank_hash) {
          ++r.bank_hash_mismatches;
          problem(fmt::format("slot {}: bank hash {} after replay, the ledger says {}", v.slot,
                              util::to_hex(mine), util::to_hex(m.bank_hash)));
        }
      }
      bank.begin_slot();
      bank.register_blockhash(v.slot, m.hash);
      ++r.slots;
      continue;
    }
    if (v.type != ledger::record_type::entry_batch) continue;
    decoded.clear();
    if (const auto e = ledger::decode_batch(v.payload, decoded); e != ledger::entry_error::none) {
      ++r.bad_records;
      problem(fmt::format("record {} (slot {}): bad entry batch: {}", record, v.slot, ledger::to_string(e)));
      continue;
    }
    for (const auto& d : decoded) {
      ++r.entries;
      ledger::tx_reader reader(d);
      ledger::entry_tx tx;
      std::uint32_t i = 0;
      while (reader.next(tx)) {
        ++r.txs;
        txn::transaction_view view;
        if (const auto e = txn::parse_transaction(tx.body, view); e != txn::parse_error::none) {
          ++r.bad_records;
          problem(fmt::format("slot {} entry {} tx {}: does not parse: {}", v.slot, r.entries - 1, i,
                              txn::to_string(e)));
          ++i;
          continue;
        }
        changes.count = 0;
        txn::tx_result result = txn::tx_result::account_table_full;
        if (bank.try_lock(view)) {
          result = bank.execute(view, counters, &changes);
          bank.unlock(view);
        }
        if (static_cast<std::uint8_t>(result) != tx.result) {
          ++r.result_mismatches;
          problem(fmt::format("slot {} entry {} tx {} ({}): recorded {}, re-executed {}", v.slot, r.entries - 1, i,
                              short_hex(view.signature(0)),
                              tx.result < txn::tx_result_count
                                  ? txn::to_string(static_cast<txn::tx_result>(tx.result))
                                  : "?",
                              txn::to_string(result)));
        }
        ++i;
      }
    }
  }
  return r;
}

}  // namespace riptide::node
