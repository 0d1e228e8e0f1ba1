#include <riptide/node/ledger_tool.hpp>

#include <cstring>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include <riptide/bank/replay.hpp>
#include <riptide/crypto/poh.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::node {


std::string ledger_verify_result::tx_summary() const {
  std::string s = fmt::format("{} txs ({} ok", txs, txs_by_result[0]);
  for (std::size_t i = 1; i < txs_by_result.size(); ++i)
    if (txs_by_result[i] != 0)
      s += fmt::format(", {} {}", txs_by_result[i], txn::to_string(static_cast<txn::tx_result>(i)));
  return s + ")";
}

ledger_verify_result verify_ledger(const std::filesystem::path& dir, const ledger_verify_options& options,
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
  r.records = lg->stats().records;
  // The ledger is all a tool has: the chain start gives the timing and start hash, the start
  // state the fee and the balances before slot 0. The bank is then rebuilt slot by slot
  // through the one replay function, exactly as a node resuming this ledger would.
  const std::optional<ledger::start_state> start = bank::read_start_state(*lg);
  bank::forks_config fc;
  fc.max_accounts = options.max_accounts;
  fc.max_statuses = options.max_statuses;
  fc.lamports_per_signature = start ? start->lamports_per_signature : 0;
  std::optional<bank::bank_forks> forks;
  std::optional<bank::slot_replayer> replayer;
  try {
    bank::replay_chain_config rc;
    rc.any_start_hash = true;
    rc.credit_start_state = true;
    rc.start_state.lamports_per_signature = fc.lamports_per_signature;
    rc.poh_threads = std::max(1u, options.threads);
    // The genesis root's blockhash is the chain start's hash, which only the ledger knows.
    crypto::hash32 start_hash{};
    lg->for_each_in_slot(0, [&](const ledger::record_view& v) {
      ledger::slot_meta m;
      if (v.type == ledger::record_type::slot_meta && ledger::decode_meta(v.payload, m) == ledger::entry_error::none &&
          m.kind == ledger::meta_kind::chain_start)
        start_hash = m.hash;
    });
    forks.emplace(fc, start_hash);
    replayer.emplace(*forks, rc);
  } catch (const std::exception& e) {
    r.error = e.what();
    return r;
  }
  const bank::ledger_replay_result lr = bank::replay_ledger(*lg, *replayer, progress);
  r.slots = lr.slots;
  r.entries = lr.entries;
  r.ticks = lr.ticks;
  r.hashes = lr.hashes;
  r.txs = lr.txs;
  r.txs_by_result = lr.txs_by_result;
  r.bank_hashes = lr.bank_hashes;
  r.partial_tail = lr.partial_tail;
  r.partial_slot = lr.partial_slot;
  r.partial_records = lr.partial_records;
  if (!lr.ok()) {
    r.error = fmt::format("{}: {}", bank::to_string(lr.error), lr.detail);
    return r;
  }
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
                                 ? " bank_hash " +
                                       (m.bank_hash == crypto::hash32{} ? std::string("unknown")
                                                                        : util::to_hex(m.bank_hash)) +
                                       fmt::format(" parent {} leader {}", m.parent_slot, util::to_hex(m.leader))
                                 : std::string());
      }
    });
    return ok;
  } catch (const std::exception& e) {
    out << "error: " << e.what() << "\n";
    return false;
  }
}

std::uint64_t trim_own_tail(ledger::ledger& lg, const crypto::pubkey& me) {
  if (lg.empty()) return 0;
  std::optional<ledger::record_position> cut;  // just after the last block of another leader
  std::uint64_t own_after = 0;
  auto c = lg.read_all();
  ledger::record_view v;
  while (c.next(v)) {
    ledger::slot_meta m;
    if (v.type != ledger::record_type::slot_meta || ledger::decode_meta(v.payload, m) != ledger::entry_error::none ||
        m.kind != ledger::meta_kind::slot_end)
      continue;  // find_resume_point names a bad record
    if (m.leader == me) {
      ++own_after;
    } else {
      cut = c.position();
      own_after = 0;
    }
  }
  if (own_after == 0) return 0;
  lg.truncate(cut.value_or(ledger::record_position{0, ledger::segment_header_bytes}));
  return own_after;
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
    if (v.type == ledger::record_type::start_state && started && seen == 2) {
      cut = c.position();  // the chain's head: chain start and start state
      kept = seen;
      continue;
    }
    if (v.type != ledger::record_type::slot_meta) continue;
    ledger::slot_meta m;
    if (const auto e = ledger::decode_meta(v.payload, m); e != ledger::entry_error::none)
      throw std::runtime_error(fmt::format(
          "{}: record {} (slot {}): bad slot_meta: {}{}", lg.dir().string(), seen, v.slot, ledger::to_string(e),
          e == ledger::entry_error::bad_meta_version
              ? " (a ledger written by an earlier riptide, whose slot ends name no parent or leader: "
                "start this node with a new ledger.dir)"
              : ""));
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

}  // namespace riptide::node
