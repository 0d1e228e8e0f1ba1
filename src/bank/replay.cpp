#include <riptide/bank/replay.hpp>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::bank {

const char* to_string(replay_error error) noexcept {
  switch (error) {
    case replay_error::none: return "none";
    case replay_error::bad_record: return "bad_record";
    case replay_error::wrong_slot: return "wrong_slot";
    case replay_error::unexpected_chain_start: return "unexpected_chain_start";
    case replay_error::missing_chain_start: return "missing_chain_start";
    case replay_error::bad_chain_start: return "bad_chain_start";
    case replay_error::bad_start_state: return "bad_start_state";
    case replay_error::bad_entry_batch: return "bad_entry_batch";
    case replay_error::poh_mismatch: return "poh_mismatch";
    case replay_error::bad_tick: return "bad_tick";
    case replay_error::bad_mixin: return "bad_mixin";
    case replay_error::tx_parse: return "tx_parse";
    case replay_error::bad_signature: return "bad_signature";
    case replay_error::result_mismatch: return "result_mismatch";
    case replay_error::missing_slot_end: return "missing_slot_end";
    case replay_error::bad_slot_end: return "bad_slot_end";
    case replay_error::records_after_slot_end: return "records_after_slot_end";
    case replay_error::bank_hash_mismatch: return "bank_hash_mismatch";
    case replay_error::wrong_parent: return "wrong_parent";
    case replay_error::wrong_leader: return "wrong_leader";
    case replay_error::bank_table_full: return "bank_table_full";
    case replay_error::dead_chain: return "dead_chain";
  }
  return "unknown";
}

namespace {

// Sets the result's error and a printf-formatted detail; returns the error. Failure path only.
[[gnu::format(printf, 3, 4)]] replay_error fail(slot_replay_result& r, replay_error e,
                                                const char* format, ...) noexcept {
  r.error = e;
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  r.detail = buf;
  return e;
}

std::string hex8(std::span<const std::uint8_t> bytes) { return util::to_hex(bytes.first(8)); }

using ull = unsigned long long;

}  // namespace

slot_replayer::slot_replayer(bank_forks& forks, const replay_chain_config& config,
                             const slot_replay_limits& limits)
    : forks_(forks),
      tip_(forks.root()),
      config_(config),
      hashes_per_tick_(config.hashes_per_tick == 0 ? 1 : config.hashes_per_tick),
      keys_(limits.pubkey_cache_entries),
      last_hash_(config.start_hash) {
  if (config.ticks_per_slot == 0)
    throw std::invalid_argument("slot_replayer: ticks_per_slot must be > 0");
  if (config.poh_threads == 0) throw std::invalid_argument("slot_replayer: poh_threads must be > 0");
  records_.reserve(limits.max_records_per_slot);
  decoded_.reserve(limits.max_entries_per_slot);
  poh_.reserve(limits.max_entries_per_slot);
  sigs_.reserve(limits.max_txs_per_entry);
}

slot_replay_result slot_replayer::replay_on(bank_index parent, std::uint64_t slot,
                                            std::span<const std::uint8_t> stream,
                                            const crypto::pubkey* leader) noexcept {
  slot_replay_result r;
  records_.clear();
  execute_failed_ = false;
  if (!forks_.live(parent) || !forks_.info(parent).frozen) {
    fail(r, replay_error::wrong_parent, "slot %llu: its parent is not a live, frozen bank", static_cast<ull>(slot));
    return r;
  }
  const bank_info& p = forks_.info(parent);
  if (p.dead) {
    fail(r, replay_error::dead_chain, "slot %llu: its parent (slot %llu) is dead: its replay failed during execution",
         static_cast<ull>(slot), static_cast<ull>(p.slot));
    return r;
  }
  // The genesis root (the state before slot 0; a real block's id is its last PoH hash, never
  // zero) has exactly one child: slot 0's block.
  const bool genesis = p.slot == 0 && p.id == block_id{};
  if (genesis ? slot != 0 : slot <= p.slot) {
    fail(r, replay_error::wrong_parent, "slot %llu: cannot follow its parent at slot %llu%s", static_cast<ull>(slot),
         static_cast<ull>(p.slot), genesis ? " (the genesis root: slot 0 comes first)" : "");
    return r;
  }
  parent_bank_ = parent;
  base_hash_ = p.blockhash;
  base_tick_height_ = p.tick_height;
  want_ticks_ = (genesis ? 1 : slot - p.slot) * config_.ticks_per_slot;
  if (check(slot, genesis ? 0 : p.slot, leader, stream, r) != replay_error::none ||
      execute(slot, r) != replay_error::none || r.deferred)
    records_.clear();
  return r;
}

slot_replay_result slot_replayer::adopt(std::uint64_t slot, std::uint64_t parent, std::span<const std::uint8_t> stream,
                                        const crypto::pubkey* leader) noexcept {
  adopt_only_ = true;
  slot_replay_result r = replay(slot, parent, stream, leader);
  adopt_only_ = false;
  return r;
}

slot_replay_result slot_replayer::adopt_on(bank_index parent, std::uint64_t slot, std::span<const std::uint8_t> stream,
                                           const crypto::pubkey* leader) noexcept {
  adopt_only_ = true;
  slot_replay_result r = replay_on(parent, slot, stream, leader);
  adopt_only_ = false;
  return r;
}

slot_replay_result slot_replayer::replay(std::uint64_t slot, std::uint64_t parent,
                                         std::span<const std::uint8_t> stream,
                                         const crypto::pubkey* leader) noexcept {
  slot_replay_result r;
  records_.clear();
  if (dead_) {
    fail(r, replay_error::dead_chain,
         "slot %llu: slot 0 failed after its start state was credited to the rooted bank",
         static_cast<ull>(slot));
    return r;
  }
  const std::uint64_t tip_slot = next_slot_ == 0 ? 0 : next_slot_ - 1;
  if (slot < next_slot_ || parent != tip_slot) {
    fail(r, replay_error::wrong_parent,
         "slot %llu (parent %llu): the chain's last slot is %llu, its next at least %llu",
         static_cast<ull>(slot), static_cast<ull>(parent), static_cast<ull>(tip_slot), static_cast<ull>(next_slot_));
    return r;
  }
  r = replay_on(tip_, slot, stream, leader);
  // A block that failed in execution is dead on its own bank; the tip stays at its parent, on
  // which another block for a later slot may still build. Only a slot 0 that failed after its
  // start state went into the rooted store (credit_start_state) ends the chain: crediting it
  // again would count it twice.
  if (execute_failed_ && slot == 0 && config_.credit_start_state) dead_ = true;
  if (!r.ok() || r.deferred) return r;
  tip_ = r.bank;
  next_slot_ = slot + 1;
  last_hash_ = slot_end_.hash;
  tick_height_ = slot_end_.tick_height;
  return r;
}

// Step 1: everything that does not touch the bank.
replay_error slot_replayer::check(std::uint64_t slot, std::uint64_t parent, const crypto::pubkey* leader,
                                  std::span<const std::uint8_t> stream, slot_replay_result& r) noexcept {
  decoded_.clear();
  poh_.clear();
  const auto s = static_cast<ull>(slot);
  std::uint64_t hashes_in_tick = 0;
  bool seen_end = false;
  std::size_t offset = 0;
  while (offset < stream.size()) {
    if (seen_end)
      return fail(r, replay_error::records_after_slot_end,
                  "slot %llu: %llu bytes after the slot end (record %llu)", s,
                  static_cast<ull>(stream.size() - offset), static_cast<ull>(r.records));
    ledger::record_view v;
    if (const auto e = ledger::parse_record(stream.subspan(offset), v); e != ledger::record_error::none)
      return fail(r, replay_error::bad_record, "slot %llu record %llu (byte %llu): %s", s,
                  static_cast<ull>(r.records), static_cast<ull>(offset), ledger::to_string(e));
    const std::uint64_t index = r.records++;
    offset += v.size;
    if (v.slot != slot)
      return fail(r, replay_error::wrong_slot, "slot %llu record %llu: says slot %llu", s,
                  static_cast<ull>(index), static_cast<ull>(v.slot));
    if (slot == 0 && index == 0) {
      // The chain start: the leader's first record.
      ledger::slot_meta m;
      if (v.type != ledger::record_type::slot_meta ||
          ledger::decode_meta(v.payload, m) != ledger::entry_error::none ||
          m.kind != ledger::meta_kind::chain_start)
        return fail(r, replay_error::missing_chain_start,
                    "slot 0 does not begin with a chain-start record");
      if (config_.any_start_hash && m.tick_height == 0 && m.bank_hash == crypto::hash32{} &&
          m.ticks_per_slot != 0) {
        // A tool without a genesis: the ledger's own chain start is the reference.
        config_.hashes_per_tick = m.hashes_per_tick;
        config_.ticks_per_slot = m.ticks_per_slot;
        config_.start_hash = m.hash;
        hashes_per_tick_ = m.hashes_per_tick == 0 ? 1 : m.hashes_per_tick;
        last_hash_ = m.hash;
        base_hash_ = m.hash;
        want_ticks_ = m.ticks_per_slot;
      }
      if (m.hashes_per_tick != config_.hashes_per_tick || m.ticks_per_slot != config_.ticks_per_slot ||
          m.hash != config_.start_hash || m.hash != base_hash_ || m.tick_height != 0 ||
          m.bank_hash != crypto::hash32{})
        return fail(r, replay_error::bad_chain_start,
                    "chain start says %llu hashes/tick, %llu ticks/slot, tick %llu, hash %s; "
                    "expected %llu, %llu, 0, %s",
                    static_cast<ull>(m.hashes_per_tick), static_cast<ull>(m.ticks_per_slot),
                    static_cast<ull>(m.tick_height), util::to_hex(m.hash).c_str(),
                    static_cast<ull>(config_.hashes_per_tick), static_cast<ull>(config_.ticks_per_slot),
                    util::to_hex(base_hash_).c_str());
      records_.push_back(v);
      continue;
    }
    if (slot == 0 && index == 1) {
      // The start state: what the bank held before slot 0.
      if (v.type != ledger::record_type::start_state)
        return fail(r, replay_error::bad_start_state,
                    "slot 0 record 1 is of type %u, not the start state (a ledger written before "
                    "start-state records: make a new one)",
                    static_cast<unsigned>(v.type));
      if (const auto e = ledger::decode_start_state(v.payload, state_); e != ledger::entry_error::none)
        return fail(r, replay_error::bad_start_state, "slot 0 start state: %s", ledger::to_string(e));
      if (state_.lamports_per_signature != config_.start_state.lamports_per_signature)
        return fail(r, replay_error::bad_start_state,
                    "slot 0 start state: %llu lamports per signature, this node charges %llu",
                    static_cast<ull>(state_.lamports_per_signature),
                    static_cast<ull>(config_.start_state.lamports_per_signature));
      if (!config_.credit_start_state && state_.voters != config_.start_state.voters)
        return fail(r, replay_error::bad_start_state,
                    "slot 0 start state lists %llu voters, this node counts the votes of %llu (or others): the "
                    "ledger was made with another genesis",
                    static_cast<ull>(state_.voters.size()), static_cast<ull>(config_.start_state.voters.size()));
      if (!config_.credit_start_state && state_.accounts != config_.start_state.accounts) {
        const auto& have = state_.accounts;
        const auto& want = config_.start_state.accounts;
        std::size_t i = 0;
        while (i < have.size() && i < want.size() && have[i] == want[i]) ++i;
        const crypto::pubkey* key = i < have.size() ? &have[i].key : i < want.size() ? &want[i].key : nullptr;
        return fail(r, replay_error::bad_start_state,
                    "slot 0 start state lists %llu accounts, this node funds %llu; first difference at "
                    "account %llu (%s): the ledger was made with other genesis funding or load settings",
                    static_cast<ull>(have.size()), static_cast<ull>(want.size()), static_cast<ull>(i),
                    key != nullptr ? hex8(*key).c_str() : "?");
      }
      records_.push_back(v);
      continue;
    }
    switch (v.type) {
      case ledger::record_type::slot_meta: {
        ledger::slot_meta m;
        if (const auto e = ledger::decode_meta(v.payload, m); e != ledger::entry_error::none)
          return fail(r, replay_error::bad_slot_end, "slot %llu record %llu: slot_meta: %s", s,
                      static_cast<ull>(index), ledger::to_string(e));
        if (m.kind == ledger::meta_kind::chain_start)
          return fail(r, replay_error::unexpected_chain_start,
                      "slot %llu record %llu: a chain start inside the chain", s, static_cast<ull>(index));
        slot_end_ = m;
        seen_end = true;
        break;
      }
      case ledger::record_type::entry_batch: {
        const std::size_t first = decoded_.size();
        if (const auto e = ledger::decode_batch(v.payload, decoded_); e != ledger::entry_error::none)
          return fail(r, replay_error::bad_entry_batch, "slot %llu record %llu: %s", s,
                      static_cast<ull>(index), ledger::to_string(e));
        for (std::size_t i = first; i < decoded_.size(); ++i) {
          const ledger::decoded_entry& d = decoded_[i];
          const std::uint64_t n = d.entry.num_hashes;
          if (r.ticks == want_ticks_)
            return fail(r, replay_error::bad_tick, "slot %llu entry %llu: after the block's last tick",
                        s, static_cast<ull>(i));
          const std::uint64_t left = hashes_per_tick_ - hashes_in_tick;  // >= 1
          if (d.is_tick ? n != left : n >= left)
            return fail(r, replay_error::bad_tick,
                        "slot %llu entry %llu: %s of %llu hashes with %llu left in the tick", s,
                        static_cast<ull>(i), d.is_tick ? "a tick" : "an entry", static_cast<ull>(n),
                        static_cast<ull>(left));
          r.hashes += n;
          if (d.is_tick) {
            ++r.ticks;
            hashes_in_tick = 0;
          } else {
            hashes_in_tick += n;
          }
          if (const auto e = check_entry(d, slot, r); e != replay_error::none) return e;
          poh_.push_back(d.entry);
        }
        break;
      }
      default:
        return fail(r, replay_error::bad_record, "slot %llu record %llu: type %u does not belong in a slot",
                    s, static_cast<ull>(index), static_cast<unsigned>(v.type));
    }
    records_.push_back(v);
  }
  if (!seen_end) return fail(r, replay_error::missing_slot_end, "slot %llu: no slot end in %llu records", s,
                             static_cast<ull>(r.records));
  if (slot == 0 && r.records < 3)
    return fail(r, replay_error::bad_start_state, "slot 0 has no start state after its chain start");
  r.entries = decoded_.size();
  if (r.ticks != want_ticks_)
    return fail(r, replay_error::bad_tick, "slot %llu: %llu ticks; on its parent at slot %llu it needs %llu (%llu per slot)",
                s, static_cast<ull>(r.ticks), static_cast<ull>(parent), static_cast<ull>(want_ticks_),
                static_cast<ull>(config_.ticks_per_slot));
  if (const auto e = check_poh(slot, r); e != replay_error::none) return e;
  const crypto::hash32& end_hash = poh_.back().hash;  // ticks_per_slot > 0 entries
  const std::uint64_t end_height = base_tick_height_ + want_ticks_;
  if (slot_end_.hash != end_hash || slot_end_.tick_height != end_height ||
      slot_end_.hashes_per_tick != config_.hashes_per_tick ||
      slot_end_.ticks_per_slot != config_.ticks_per_slot)
    return fail(r, replay_error::bad_slot_end,
                "slot %llu: slot end says tick %llu hash %s (%llu hashes/tick, %llu ticks/slot); "
                "the chain is at tick %llu hash %s",
                s, static_cast<ull>(slot_end_.tick_height), util::to_hex(slot_end_.hash).c_str(),
                static_cast<ull>(slot_end_.hashes_per_tick), static_cast<ull>(slot_end_.ticks_per_slot),
                static_cast<ull>(end_height), util::to_hex(end_hash).c_str());
  if (slot_end_.parent_slot != parent)
    return fail(r, replay_error::bad_slot_end, "slot %llu: slot end names parent %llu, the block was replayed on %llu",
                s, static_cast<ull>(slot_end_.parent_slot), static_cast<ull>(parent));
  if (leader != nullptr && slot_end_.leader != *leader)
    return fail(r, replay_error::wrong_leader, "slot %llu: slot end names leader %s, the schedule says %s", s,
                hex8(slot_end_.leader).c_str(), hex8(*leader).c_str());
  // Signatures last: the most expensive check runs only on a slot that is otherwise sound.
  std::uint64_t tx_index = 0;
  for (std::size_t i = 0; i < decoded_.size(); ++i) {
    ledger::tx_reader reader(decoded_[i]);
    ledger::entry_tx tx;
    while (reader.next(tx)) {
      txn::transaction_view view;
      (void)txn::parse_transaction(tx.body, view);  // parsed in check_entry
      if (!txn::verify_signatures(view, keys_))
        return fail(r, replay_error::bad_signature, "slot %llu entry %llu tx %llu (%s): signature does not verify",
                    s, static_cast<ull>(i), static_cast<ull>(tx_index), hex8(view.signature(0)).c_str());
      ++tx_index;
    }
  }
  return replay_error::none;
}

// One entry's transactions: each parses and has a tx_result byte; the mixin covers their
// signatures.
replay_error slot_replayer::check_entry(const ledger::decoded_entry& d, std::uint64_t slot,
                                        slot_replay_result& r) noexcept {
  sigs_.clear();
  ledger::tx_reader reader(d);
  ledger::entry_tx tx;
  std::uint32_t i = 0;
  while (reader.next(tx)) {
    txn::transaction_view view;
    if (const auto e = txn::parse_transaction(tx.body, view); e != txn::parse_error::none)
      return fail(r, replay_error::tx_parse, "slot %llu entry %llu tx %u: %s", static_cast<ull>(slot),
                  static_cast<ull>(poh_.size()), i, txn::to_string(e));
    if (tx.result >= txn::tx_result_count)
      return fail(r, replay_error::result_mismatch, "slot %llu entry %llu tx %u: result byte %u is not a tx_result",
                  static_cast<ull>(slot), static_cast<ull>(poh_.size()), i, static_cast<unsigned>(tx.result));
    for (std::size_t k = 0; k < view.num_signatures(); ++k) sigs_.push_back(view.signature(k));
    ++r.txs;
    ++r.txs_by_result[tx.result];
    if (tx.result != static_cast<std::uint8_t>(txn::tx_result::ok)) ++r.failed_txs;
    ++i;
  }
  if (d.entry.has_mixin && crypto::entry_mixin(sigs_) != d.entry.mixin)
    return fail(r, replay_error::bad_mixin, "slot %llu entry %llu: mixin %s is not the hash of its %u transactions' signatures",
                static_cast<ull>(slot), static_cast<ull>(poh_.size()), util::to_hex(d.entry.mixin).c_str(),
                d.tx_count);
  return replay_error::none;
}

replay_error slot_replayer::check_poh(std::uint64_t slot, slot_replay_result& r) noexcept {
  if (crypto::verify_entries(base_hash_, poh_, config_.poh_threads)) return replay_error::none;
  // Failure path: find the first entry that does not chain, for the log.
  crypto::hash32 prev = base_hash_;
  std::size_t bad = 0;
  for (; bad < poh_.size(); ++bad) {
    if (!crypto::verify_entries(prev, std::span(&poh_[bad], 1), 1)) break;
    prev = poh_[bad].hash;
  }
  return fail(r, replay_error::poh_mismatch, "slot %llu entry %llu of %llu: hash %s does not follow from %s",
              static_cast<ull>(slot), static_cast<ull>(bad), static_cast<ull>(poh_.size()),
              bad < poh_.size() ? util::to_hex(poh_[bad].hash).c_str() : "?", util::to_hex(prev).c_str());
}

// Step 2: re-execution, as the leader's bank tiles did it, in ledger order.
replay_error slot_replayer::execute(std::uint64_t slot, slot_replay_result& r) noexcept {
  // This node's own block (a rotating validator): its bank tiles executed it into a bank of
  // the same parent, frozen under the same id. Its hash must be the slot end's.
  if (const bank_index own = forks_.find(slot_end_.hash); own != no_bank) {
    const bank_info& b = forks_.info(own);
    if (b.frozen && !b.dead && b.parent == parent_bank_ && b.slot == slot) {
      r.bank = own;
      r.adopted = true;
      r.bank_hash = b.bank_hash;
      r.bank_hash_checked = slot_end_.bank_hash != crypto::hash32{};
      if (r.bank_hash_checked && slot_end_.bank_hash != r.bank_hash)
        return fail(r, replay_error::bank_hash_mismatch, "slot %llu: its bank (made here) has hash %s, its slot end %s",
                    static_cast<ull>(slot), util::to_hex(r.bank_hash).c_str(),
                    util::to_hex(slot_end_.bank_hash).c_str());
      return replay_error::none;
    }
  }
  if (adopt_only_) {
    r.deferred = true;  // it needs executing: not now
    return replay_error::none;
  }
  if (slot == 0) {
    if (config_.credit_start_state) {
      for (const ledger::start_account& a : state_.accounts)
        if (!forks_.credit(a.key, a.lamports)) {
          execute_failed_ = true;
          return fail(r, replay_error::bad_start_state,
                      "slot 0 start state: cannot credit %llu accounts (the bank holds at most its "
                      "max_accounts, the supply at most 2^64 - 1)",
                      static_cast<ull>(state_.accounts.size()));
        }
      for (const crypto::pubkey& v : state_.voters)
        if (!forks_.add_voter(v)) {
          execute_failed_ = true;
          return fail(r, replay_error::bad_start_state,
                      "slot 0 start state: cannot count the votes of %llu validators (the bank keeps at most "
                      "its max_voters)",
                      static_cast<ull>(state_.voters.size()));
        }
    }
  }
  // The block's bank, a child of its parent's. Its id is the slot's last PoH hash: it commits
  // to every entry, and so to every transaction, of the block.
  const bank_index bank = forks_.new_bank(parent_bank_, slot, slot_end_.hash);
  if (bank == no_bank) {
    execute_failed_ = true;
    return fail(r, replay_error::bank_table_full,
                "slot %llu: the bank forks refused a bank for it (max_banks live, or this block is there already)",
                static_cast<ull>(slot));
  }
  r.bank = bank;
  auto die = [&]() noexcept {
    forks_.mark_dead(bank);
    execute_failed_ = true;
  };
  std::uint64_t tx_index = 0;
  for (std::size_t i = 0; i < decoded_.size(); ++i) {
    ledger::tx_reader reader(decoded_[i]);
    ledger::entry_tx tx;
    while (reader.next(tx)) {
      txn::transaction_view view;
      (void)txn::parse_transaction(tx.body, view);  // parsed in check_entry
      txn::tx_result result = txn::tx_result::account_table_full;
      txn::held_locks held;
      if (forks_.try_lock(view, held)) {
        result = forks_.execute(bank, view, counters_);
        forks_.unlock(held);
      }
      if (static_cast<std::uint8_t>(result) != tx.result) {
        die();
        return fail(r, replay_error::result_mismatch, "slot %llu entry %llu tx %llu (%s): recorded %s, re-executed %s",
                    static_cast<ull>(slot), static_cast<ull>(i), static_cast<ull>(tx_index),
                    hex8(view.signature(0)).c_str(), txn::to_string(static_cast<txn::tx_result>(tx.result)),
                    txn::to_string(result));
      }
      ++tx_index;
    }
  }
  if (!forks_.freeze(bank, slot_end_.hash, slot_end_.tick_height, r.bank_hash)) {
    die();
    return fail(r, replay_error::bank_table_full, "slot %llu: the bank forks refused to freeze its bank",
                static_cast<ull>(slot));
  }
  r.bank_hash_checked = slot_end_.bank_hash != crypto::hash32{};
  if (r.bank_hash_checked && slot_end_.bank_hash != r.bank_hash) {
    die();
    return fail(r, replay_error::bank_hash_mismatch, "slot %llu: bank hash %s after replay, the leader's is %s",
                static_cast<ull>(slot), util::to_hex(r.bank_hash).c_str(), util::to_hex(slot_end_.bank_hash).c_str());
  }
  return replay_error::none;
}

void slot_replayer::for_each_tx(const std::function<void(const crypto::signature&, std::uint8_t)>& fn) const {
  if (records_.empty()) return;  // the last replay failed
  for (const ledger::decoded_entry& d : decoded_) {
    ledger::tx_reader reader(d);
    ledger::entry_tx tx;
    while (reader.next(tx)) {
      txn::transaction_view view;
      if (txn::parse_transaction(tx.body, view) == txn::parse_error::none) fn(view.signature(0), tx.result);
    }
  }
}

std::optional<ledger::start_state> read_start_state(const ledger::ledger& lg) {
  std::optional<ledger::start_state> out;
  std::size_t index = 0;
  lg.for_each_in_slot(0, [&](const ledger::record_view& v) {
    if (index++ != 1 || v.type != ledger::record_type::start_state) return;
    ledger::start_state s;
    if (ledger::decode_start_state(v.payload, s) == ledger::entry_error::none) out = std::move(s);
  });
  return out;
}

ledger_replay_result replay_ledger(const ledger::ledger& lg, slot_replayer& replayer,
                                   const std::function<void(double)>& progress) {
  ledger_replay_result out;
  const std::uint64_t total = std::max<std::uint64_t>(1, lg.stats().records);
  if (lg.empty()) return out;
  std::vector<std::uint8_t> stream;
  std::optional<std::uint64_t> parent;
  for (std::uint64_t slot = 0; slot <= lg.last_slot(); ++slot) {
    const ledger::slot_records where = lg.records_in_slot(slot);
    if (where.count == 0) continue;
    stream.clear();
    bool has_end = false;
    lg.for_each_in_slot(slot, [&](const ledger::record_view& v) {
      const std::uint8_t* begin = v.payload.data() - ledger::record_header_bytes;
      stream.insert(stream.end(), begin, begin + v.size);
      ledger::slot_meta m;
      has_end = v.type == ledger::record_type::slot_meta &&
                ledger::decode_meta(v.payload, m) == ledger::entry_error::none &&
                m.kind == ledger::meta_kind::slot_end;
    });
    if (!has_end && slot == lg.last_slot()) {
      out.partial_tail = true;
      out.partial_slot = slot;
      out.partial_records = where.count;
      break;
    }
    const slot_replay_result r = replayer.replay(slot, parent.value_or(0), stream);
    if (!r.ok()) {
      out.error = r.error;
      out.detail = r.detail;
      return out;
    }
    // A ledger holds one chain, every block of it final: fold each into the rooted store.
    (void)replayer.forks().set_root(replayer.tip());
    ++out.slots;
    out.records += r.records;
    out.entries += r.entries;
    out.ticks += r.ticks;
    out.hashes += r.hashes;
    out.txs += r.txs;
    for (std::size_t i = 0; i < out.txs_by_result.size(); ++i) out.txs_by_result[i] += r.txs_by_result[i];
    if (r.bank_hash_checked) ++out.bank_hashes;
    parent = slot;
    if (progress) progress(static_cast<double>(out.records) / static_cast<double>(total));
  }
  return out;
}

std::vector<slot_blockhash> recent_blockhashes(const ledger::ledger& lg, std::size_t slots) {
  std::vector<slot_blockhash> out;
  if (lg.empty() || slots == 0) return out;
  const std::uint64_t last = lg.last_slot();
  const std::uint64_t first = last + 1 > slots ? last + 1 - slots : 0;
  for (std::uint64_t slot = first; slot <= last; ++slot) {
    lg.for_each_in_slot(slot, [&](const ledger::record_view& v) {
      ledger::slot_meta m;
      if (v.type != ledger::record_type::slot_meta || ledger::decode_meta(v.payload, m) != ledger::entry_error::none)
        return;
      out.push_back({slot, m.hash});  // the chain start (slot 0) first, then the slot end
    });
  }
  return out;
}

void for_each_landed_signature(const ledger::ledger& lg, std::uint64_t from_slot,
                               const std::function<void(std::uint64_t slot, const crypto::signature&)>& fn) {
  if (lg.empty()) return;
  std::vector<ledger::decoded_entry> decoded;
  for (std::uint64_t slot = from_slot; slot <= lg.last_slot(); ++slot) {
    lg.for_each_in_slot(slot, [&](const ledger::record_view& v) {
      if (v.type != ledger::record_type::entry_batch) return;
      decoded.clear();
      if (ledger::decode_batch(v.payload, decoded) != ledger::entry_error::none) return;
      for (const ledger::decoded_entry& d : decoded) {
        ledger::tx_reader reader(d);
        ledger::entry_tx tx;
        while (reader.next(tx)) {
          const auto result = static_cast<txn::tx_result>(tx.result);
          if (result == txn::tx_result::blockhash_too_old || result == txn::tx_result::insufficient_funds_for_fee)
            continue;  // never landed: nothing was charged
          txn::transaction_view view;
          if (txn::parse_transaction(tx.body, view) == txn::parse_error::none) fn(slot, view.signature(0));
        }
      }
    });
  }
}

std::vector<std::uint8_t> slot_stream(const ledger::ledger& lg, std::uint64_t slot) {
  std::vector<std::uint8_t> out;
  lg.for_each_in_slot(slot, [&out](const ledger::record_view& v) {
    // The mapping holds the record exactly as encoded: header just before the payload.
    const std::uint8_t* begin = v.payload.data() - ledger::record_header_bytes;
    out.insert(out.end(), begin, begin + v.size);
  });
  return out;
}

}  // namespace riptide::bank
