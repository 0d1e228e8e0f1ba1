#include <riptide/tvu/replay_tile.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <riptide/ledger/entry_codec.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::tvu {

replay_tile::replay_tile(std::string name, const replay_tile_config& config, bank::slot_replayer& replayer,
                         ledger::ledger& lg, const tvu_tile& source, util::spsc_ring<completed_slot>& in,
                         util::spsc_ring<completed_slot>& release, bank::chain_board* board)
    : util::tile(std::move(name)),
      config_(config),
      replayer_(replayer),
      ledger_(lg),
      source_(source),
      in_(in),
      release_(release),
      board_(board),
      syncer_(lg, [this](std::uint64_t slot, const ledger::sync_result& r) {
        count(r.ok ? c_syncs : c_sync_failures);
        if (!r.ok) return;
        set_counter(c_durable_slot, slot);
        if (board_ != nullptr) board_->set_durable_slot(slot);
      }) {
  if (!config.slot_log.empty()) {
    slot_log_ = std::fopen(config.slot_log.c_str(), "w");
    if (slot_log_ == nullptr)
      throw std::runtime_error(config.slot_log + ": cannot open the slot log for writing");
    std::fputs("slot,unix_ns,bytes,received,recovered,repaired,result\n", slot_log_);
  }
}

replay_tile::~replay_tile() {
  if (slot_log_ != nullptr) std::fclose(slot_log_);
}

std::vector<std::size_t> replay_tile::drop_counters() const {
  std::vector<std::size_t> d = {c_append_errors, c_sync_failures, c_bad_buffers, c_resets_dropped,
                                c_consensus_dropped};
  for (std::size_t c = c_dead_first; c < c_own_count; ++c) d.push_back(c);
  return d;
}

std::vector<std::string_view> replay_tile::own_counter_names() const {
  static const std::vector<std::string> dead = [] {
    std::vector<std::string> v;
    for (std::size_t e = 1; e < bank::replay_error_count; ++e)
      v.push_back(std::string("dead_") + bank::to_string(static_cast<bank::replay_error>(e)));
    return v;
  }();
  std::vector<std::string_view> names = {"slots_stored", "slots_dead",    "records",       "txs",
                                         "failed_txs",   "append_errors", "syncs",         "sync_failures",
                                         "durable_slot", "last_slot",     "bad_buffers",
                                         "resets",       "resets_dropped", "adopted",      "leader_waits",
                                         "consensus_dropped", "unrooted_full", "unrooted_blocks", "roots",
                                         "root_slot", "unknown_resets", "pruned_blocks"};
  for (const auto& d : dead) names.emplace_back(d);
  return names;
}

void replay_tile::on_start() { syncer_.start(); }

void replay_tile::follow_consensus(util::spsc_ring<consensus_verdict>* verdicts) {
  verdicts_ = verdicts;
  unrooted_ = std::make_unique<unrooted_blocks>(config_.unrooted_bytes, config_.max_unrooted_blocks);
  decoded_.reserve(16384);
}

replay_tile::outcome replay_tile::store(const completed_slot& c, bool busy) noexcept {
  const std::span<const std::uint8_t> stream = source_.stream(c);
  if (stream.size() != c.bytes) {
    count(c_bad_buffers);
    return outcome::failed;
  }
  const crypto::pubkey* leader = c.has_leader ? &c.leader : nullptr;
  const bool forked = verdicts_ != nullptr;
  if (forked && !unrooted_->fits(stream.size())) {  // it could not wait for its root
    if (!waiting_for_room_) count(c_unrooted_full);  // once per slot held
    waiting_for_room_ = true;
    return outcome::deferred;
  }
  waiting_for_room_ = false;
  // While the node makes a block, only a block of its own (whose bank is made) is taken.
  bank::slot_replay_result r;
  if (!forked) {
    r = busy ? replayer_.adopt(c.slot, c.parent, stream, leader) : replayer_.replay(c.slot, c.parent, stream, leader);
  } else {
    // Onto its parent's bank, whichever fork that is (slot 0: the genesis root).
    bank::bank_forks& forks = replayer_.forks();
    const bank::bank_index parent = c.slot == 0 ? forks.root() : forks.find_frozen(c.parent);
    if (parent == bank::no_bank) {
      r.error = bank::replay_error::wrong_parent;
      try {
        r.detail = fmt::format("its parent, slot {}, has no bank here (pruned, or never replayed)", c.parent);
      } catch (...) {
      }
    } else {
      r = busy ? replayer_.adopt_on(parent, c.slot, stream, leader) : replayer_.replay_on(parent, c.slot, stream, leader);
    }
  }
  if (r.deferred) return outcome::deferred;
  if (!r.ok()) {
    count(c_slots_dead);
    count(c_dead_first + static_cast<std::size_t>(r.error) - 1);
    if (first_problem_.empty()) {
      try {
        first_problem_ = fmt::format("slot {}: {}: {}", c.slot, bank::to_string(r.error), r.detail);
      } catch (...) {  // out of memory: the counters still say it
      }
    }
  } else {
    const bank::bank_info& bank = replayer_.forks().info(r.bank);
    if (r.adopted) count(c_adopted);
    if (statuses_ != nullptr)
      replayer_.for_each_tx([&](const crypto::signature& sig, std::uint8_t result) {
        statuses_->record(sig, bank::tx_status{c.slot, result});
      });
    if (forked) {
      // It waits for consensus to root it (or a block of another fork).
      (void)unrooted_->add(c.slot, c.parent, stream);  // fits (checked above), and new
      set_counter(c_unrooted_blocks, unrooted_->blocks());
    } else {
      for (const ledger::record_view& v : replayer_.records()) {
        if (ledger_.append(v.type, v.slot, v.payload) != ledger::append_error::none) count(c_append_errors);
        else count(c_records);
      }
      // One leader, no votes: no forks, so a block that replayed is final. Its bank folds
      // into the rooted store, which the HTTP API reads; while the node's bank tiles execute
      // into a child of it, that waits (set_root is a quiescent call) until the block in
      // progress is done.
      root_pending_ = root_target{r.bank, c.slot};
      if (!busy) apply_root();
      (void)ledger_.set_root(c.slot);
      if (config_.sync_at_slot_end) syncer_.request(ledger_.mark(), c.slot);
    }
    count(c_slots_stored);
    count(c_txs, r.txs);
    count(c_failed_txs, r.failed_txs);
    set_counter(c_last_slot, c.slot);
    // The board's slot is the highest replayed (processed), whichever fork it is on.
    if (board_ != nullptr && (!published_ || c.slot > *published_)) {
      board_->publish(c.slot + 1, bank.tick_height, bank::slot_hash{c.slot, bank.blockhash});
      published_ = c.slot;
    }
    if (consensus_ != nullptr) tell_consensus(c, r);
    if (resets_ != nullptr && !forked)
      count(resets_->try_push(tpu::poh_reset{bank.blockhash, bank.tick_height, c.slot}) ? c_resets : c_resets_dropped);
  }
  if (slot_log_ != nullptr)
    std::fprintf(slot_log_, "%llu,%llu,%llu,%u,%u,%u,%s\n", static_cast<unsigned long long>(c.slot),
                 static_cast<unsigned long long>(util::unix_time_ns()), static_cast<unsigned long long>(c.bytes),
                 c.received, c.recovered, c.repaired, r.ok() ? "ok" : bank::to_string(r.error));
  return r.ok() ? outcome::stored : outcome::failed;
}

void replay_tile::tell_consensus(const completed_slot& c, const bank::slot_replay_result& r) noexcept {
  const bank::bank_forks& forks = replayer_.forks();
  consensus_event e;
  for (std::size_t v = 0; v < told_.size(); ++v) {
    const auto state = forks.vote_state(r.bank, v);
    if (!state) continue;
    const auto last = state->votes.last_voted_slot();
    if (told_[v] && last && *last <= *told_[v]) continue;
    e.what = consensus_event::kind::vote;
    e.voter = static_cast<std::uint32_t>(v);
    e.slot = c.slot;
    e.votes = state->votes;
    if (!consensus_->try_push(e)) {
      count(c_consensus_dropped);
      continue;
    }
    told_[v] = last;
  }
  e = consensus_event{};
  e.what = consensus_event::kind::bank;
  e.slot = c.slot;
  e.parent = c.parent;
  e.bank_hash = r.bank_hash;
  e.blockhash = forks.info(r.bank).blockhash;
  if (!consensus_->try_push(e)) count(c_consensus_dropped);
}

void replay_tile::apply_root() noexcept {
  if (!root_pending_) return;
  const root_target t = *root_pending_;
  root_pending_.reset();
  if (verdicts_ == nullptr) {
    if (replayer_.forks().set_root(t.bank) && board_ != nullptr) board_->set_root_slot(t.slot);
    return;
  }
  // Consensus rooted t: its chain leaves the arena for the ledger, oldest first.
  bank::bank_forks& forks = replayer_.forks();
  if (!forks.live(t.bank) || forks.info(t.bank).slot != t.slot || !forks.set_root(t.bank)) return;
  (void)unrooted_->root(
      t.slot, [this](std::uint64_t, std::span<const std::uint8_t> stream) { append_stream(stream); },
      [this](std::uint64_t slot, std::span<const std::uint8_t> stream) { forget_block(slot, stream); });
  set_counter(c_unrooted_blocks, unrooted_->blocks());
  (void)ledger_.set_root(t.slot);
  count(c_roots);
  set_counter(c_root_slot, t.slot);
  if (board_ != nullptr) board_->set_root_slot(t.slot);
  if (config_.sync_at_slot_end) syncer_.request(ledger_.mark(), t.slot);
}

void replay_tile::append_stream(std::span<const std::uint8_t> stream) noexcept {
  std::size_t offset = 0;
  while (offset < stream.size()) {
    ledger::record_view v;
    if (ledger::parse_record(stream.subspan(offset), v) != ledger::record_error::none) {
      count(c_append_errors);  // cannot happen: replay parsed these very bytes
      return;
    }
    offset += v.size;
    if (ledger_.append(v.type, v.slot, v.payload) != ledger::append_error::none) count(c_append_errors);
    else count(c_records);
  }
}

void replay_tile::forget_block(std::uint64_t slot, std::span<const std::uint8_t> stream) noexcept {
  count(c_pruned_blocks);
  if (statuses_ == nullptr) return;
  std::size_t offset = 0;
  while (offset < stream.size()) {
    ledger::record_view v;
    if (ledger::parse_record(stream.subspan(offset), v) != ledger::record_error::none) return;
    offset += v.size;
    if (v.type != ledger::record_type::entry_batch) continue;
    decoded_.clear();
    try {
      if (ledger::decode_batch(v.payload, decoded_) != ledger::entry_error::none) continue;
    } catch (...) {
      return;  // out of memory for a batch larger than the reserve: its statuses stay
    }
    for (const ledger::decoded_entry& d : decoded_) {
      ledger::tx_reader reader(d);
      ledger::entry_tx tx;
      while (reader.next(tx)) {
        txn::transaction_view view;
        if (txn::parse_transaction(tx.body, view) == txn::parse_error::none) statuses_->forget(view.signature(0), slot);
      }
    }
  }
}

void replay_tile::take_verdicts() noexcept {
  consensus_verdict v;
  bool any = false;
  for (consensus_verdict next; verdicts_->try_pop(next);) {
    v = next;
    any = true;
  }
  if (!any) return;
  const bank::bank_forks& forks = replayer_.forks();
  if (resets_ != nullptr && (!last_reset_ || *last_reset_ != v.reset)) {
    const bank::bank_index b = forks.find_frozen(v.reset);
    if (b == bank::no_bank) {
      count(c_unknown_resets);
    } else {
      const bank::bank_info& info = forks.info(b);
      const bool sent = resets_->try_push(tpu::poh_reset{info.blockhash, info.tick_height, v.reset});
      count(sent ? c_resets : c_resets_dropped);
      if (sent) last_reset_ = v.reset;
    }
  }
  const std::uint64_t root_slot = forks.info(forks.root()).slot;
  if (v.root > root_slot && (!root_pending_ || v.root > root_pending_->slot)) {
    const bank::bank_index b = forks.find_frozen(v.root);
    if (b != bank::no_bank) root_pending_ = root_target{b, v.root};
  }
}

bool replay_tile::leader_busy() const noexcept {
  if (ledger_tile_ != nullptr && ledger_tile_->in_block()) return true;
  return gate_ != nullptr && !gate_->quiet();  // an open gate is never quiet
}

int replay_tile::poll() noexcept {
  if (verdicts_ != nullptr) take_verdicts();
  if (!held_ && in_.empty_approx() && !root_pending_) return 0;
  const bool busy = leader_busy();
  if (!busy) apply_root();
  completed_slot c;
  if (held_) {
    c = *held_;
  } else if (!in_.try_pop(c)) {
    return 0;
  }
  const outcome o = store(c, busy);
  if (o == outcome::deferred) {  // the forks must be quiescent, or the arena have room
    held_ = c;
    if (busy) count(c_leader_waits);
    return 0;
  }
  held_.reset();
  c.failed = o == outcome::failed;  // the TVU tile's chain moves on only past slots that replayed
  // The TVU tile sized `release` for every buffer it owns, so this cannot fail.
  (void)release_.try_push(c);
  return 1;
}

void replay_tile::on_stop() noexcept {
  apply_root();  // the runtime stopped: no bank tile executes now
  syncer_.stop();
  (void)ledger_.sync();
  if (slot_log_ != nullptr) std::fflush(slot_log_);
}

}  // namespace riptide::tvu
