#include <riptide/tvu/consensus_tile.hpp>

#include <stdexcept>

#include <riptide/consensus/tower_file.hpp>
#include <riptide/consensus/vote_tx.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::tvu {

void consensus_tile_config::validate() const {
  if (tower_path.empty()) throw std::invalid_argument("consensus: tower_path is empty");
  if (leaders == 0 || leaders > 4) throw std::invalid_argument("consensus: leaders must be in 1..4");
  if (leader_lookahead_slots == 0) throw std::invalid_argument("consensus: leader_lookahead_slots must be > 0");
  if (tx_frames < leaders) throw std::invalid_argument("consensus: tx_frames must be at least leaders");
  if (refresh_after_slots == 0) throw std::invalid_argument("consensus: refresh_after_slots must be > 0");
}

consensus_tile::consensus_tile(std::string name, const consensus_tile_config& config, const crypto::keypair& identity,
                               consensus::vote_engine& engine, const epoch::leader_timeline& timeline,
                               const net::contact_book& contacts, const bank::chain_board& clock,
                               bank::chain_board& board, util::spsc_ring<consensus_event>& events,
                               util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release)
    : util::tile(std::move(name)),
      config_((config.validate(), config)),
      identity_(identity),
      engine_(engine),
      timeline_(&timeline),
      contacts_(contacts),
      restored_last_(engine.ours().last_voted_slot()),
      clock_(clock),
      board_(board),
      events_(events),
      sender_(config_.tx_frames, tx, tx_release) {}

std::vector<std::string_view> consensus_tile::own_counter_names() const {
  return {"banks",           "banks_refused",       "votes_seen",       "votes",           "vote_copies",
          "last_vote_slot",  "tower_root",          "confirmed_slot",   "finalized_slot",  "tower_save_failures",
          "vote_build_failures", "no_contact",      "no_leader",        "tx_no_frame",     "tx_ring_full",
          "tx_release_bad",  "switch_failed",       "threshold_failed", "locked_out",      "vote_refreshes",
          "confirm_lag_le1",
          "confirm_lag_le2", "confirm_lag_le3",     "confirm_lag_le4",  "confirm_lag_le8", "confirm_lag_gt8",
          "vote_lag_le1",    "vote_lag_le2",        "vote_lag_le3",     "vote_lag_le4",    "vote_lag_le8",
          "vote_lag_gt8",    "root_lag",            "delinquent"};
}

std::vector<std::size_t> consensus_tile::drop_counters() const {
  return {c_banks_refused, c_tower_save_failures, c_vote_build_failures, c_no_contact,
          c_no_leader,     c_tx_no_frame,         c_tx_ring_full,        c_tx_release_bad};
}

void consensus_tile::follow_epochs(epoch::schedule_window& window) noexcept {
  window_ = &window;
  timeline_ = &window.timeline();
}

void consensus_tile::housekeep(std::uint64_t /*monotonic_ns*/) noexcept {
  // Gauges of the clock, which moves whether or not blocks come.
  const std::uint64_t now = clock_.read().slot;
  set_counter(c_root_lag, now > engine_.root() ? now - engine_.root() : 0);
  set_counter(c_delinquent, engine_.delinquent(now, delinquent_after_slots));
  if (window_ == nullptr) return;
  try {
    (void)window_->advance(now);
  } catch (...) {
    // Out of memory for a schedule: the old window stays (no leader past it: no_leader).
  }
}

void consensus_tile::count_lag(std::size_t first_bucket, std::uint64_t lag) noexcept {
  count(first_bucket + (lag <= 1 ? 0 : lag <= 2 ? 1 : lag <= 3 ? 2 : lag <= 4 ? 3 : lag <= 8 ? 4 : 5));
}

bool consensus_tile::send_vote(const consensus::tower_sync& vote) noexcept {
  std::array<std::uint8_t, txn::max_transaction_bytes> bytes;
  std::size_t len = 0;
  try {
    len = consensus::build_vote_transaction(identity_, vote, blockhash_, bytes);
  } catch (...) {
    count(c_vote_build_failures);
    return false;
  }
  // The first `leaders` distinct leaders from the slot in progress on.
  const std::uint64_t now = clock_.read().slot;
  std::array<crypto::pubkey, 4> targets;
  std::size_t n = 0;
  for (std::uint64_t s = now; s < now + config_.leader_lookahead_slots && n < config_.leaders; ++s) {
    const auto leader = timeline_->leader(s);
    if (!leader) continue;
    bool seen = false;
    for (std::size_t i = 0; i < n; ++i) seen = seen || targets[i] == *leader;
    if (!seen) targets[n++] = *leader;
  }
  if (n == 0) count(c_no_leader);
  std::uint64_t sent = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::optional<std::size_t> row = contacts_.row_of(targets[i]);
    const net::endpoint to = row ? contacts_.get(*row, net::port_kind::tpu) : net::endpoint{};
    if (to.pack() == 0) {
      count(c_no_contact);
      continue;
    }
    switch (sender_.send(std::span(bytes.data(), len), net::port_kind::tpu, to)) {
      case net::send_result::sent: ++sent; break;
      case net::send_result::ring_full: count(c_tx_ring_full); break;
      default: count(c_tx_no_frame); break;
    }
  }
  count(c_vote_copies, sent);
  return sent != 0;
}

void consensus_tile::refresh() noexcept {
  if (!sent_ || !have_blockhash_) return;
  const auto last = sent_->votes.last_voted_slot();
  if (landed_ && last && *landed_ >= *last) return;
  const std::uint64_t now = clock_.read().slot;
  if (now < sent_at_slot_ + config_.refresh_after_slots) return;
  sent_->timestamp_ms = static_cast<std::int64_t>(util::unix_time_ns() / 1'000'000);
  if (send_vote(*sent_)) count(c_vote_refreshes);
  sent_at_slot_ = now;
}

void consensus_tile::decide() noexcept {
  consensus::vote_decision d;
  try {
    d = engine_.decide(static_cast<std::int64_t>(util::unix_time_ns() / 1'000'000));
  } catch (...) {
    return;  // out of memory in the engine's tables: the next block decides again
  }
  if (d.why.why == consensus::vote_case::switch_failed) count(c_switch_failed);
  if (d.why.locked_out) count(c_locked_out);
  if (!d.why.threshold.passed) count(c_threshold_failed);
  if (d.vote) {
    try {
      consensus::save_tower(config_.tower_path, identity_.public_key(), *d.vote);
    } catch (...) {
      count(c_tower_save_failures);
      return;  // never send a vote a restart would not know of
    }
    sent_ = *d.vote;
    sent_at_slot_ = clock_.read().slot;
    if (have_blockhash_ && send_vote(*d.vote)) count(c_votes);
    if (const auto last = d.vote->votes.last_voted_slot()) set_counter(c_last_vote_slot, *last);
  }
  if (const auto root = engine_.ours().root()) set_counter(c_tower_root, *root);
  verdict_ = consensus_verdict{engine_.root(), d.why.reset};
}

int consensus_tile::push_verdict() noexcept {
  if (verdicts_ == nullptr || !verdict_ || verdict_ == verdict_sent_) return 0;
  if (!verdicts_->try_push(*verdict_)) return 0;  // full: the next poll tries again
  verdict_sent_ = verdict_;
  return 1;
}

int consensus_tile::poll() noexcept {
  int work = sender_.reclaim() + push_verdict();
  set_counter(c_tx_release_bad, sender_.bad_releases());
  std::array<consensus_event, 16> batch;
  const std::size_t n = events_.try_pop_batch(std::span(batch));
  if (n == 0) {
    refresh();
    return work;
  }
  bool banks = false;
  for (std::size_t i = 0; i < n; ++i) {
    const consensus_event& e = batch[i];
    if (e.what == consensus_event::kind::vote) {
      if (e.voter == engine_.self()) {
        const auto last = e.votes.last_voted_slot();  // ours, as it landed
        // Votes sent before a restart (the restored tower's) are not this run's latency.
        const bool newer = last && (!landed_ || *last > *landed_) && (!restored_last_ || *last > *restored_last_);
        if (newer) count_lag(c_vote_lag_first, e.slot > *last ? e.slot - *last : 0);
        landed_ = last;
        continue;
      }
      engine_.on_vote(e.voter, e.votes);
      count(c_votes_seen);
      continue;
    }
    blockhash_ = e.blockhash;
    have_blockhash_ = true;
    banks = true;
    count(c_banks);
    if (e.slot == engine_.root()) continue;  // the block replay started from
    bool placed = false;
    try {
      placed = engine_.on_bank(consensus::bank_view{e.slot, e.parent, e.bank_hash, {}});
    } catch (...) {
    }
    if (!placed) count(c_banks_refused);
  }
  if (banks) {
    decide();
    work += push_verdict();
  }
  // Confirmation lag: how far the PoH clock is past each newly confirmed slot.
  try {
    const std::uint64_t now = clock_.read().slot;
    for (const std::uint64_t s : engine_.take_confirmed()) count_lag(c_confirm_lag_first, now > s ? now - s : 0);
    const auto confirmed = engine_.highest_confirmed();
    const auto finalized = engine_.finalized();
    // With them, which slots above the root are the confirmed slot's fork (GET /tx says
    // "confirmed" only for those: a slot number at or below the confirmed one may be another
    // fork's, not pruned until the root passes it). The window starts above the lower of
    // replay's root (which follows the engine's a little late: what GET /tx splits on) and the
    // engine's; slots below the engine's root keep their bits from before it moved (fork choice
    // has forgotten them). A confirmed slot is never rolled back, so the set only grows; a
    // confirmed slot not in the tree (not replayed here yet) adds nothing until it is.
    const bank::chain_status replayed = board_.read();
    const std::uint64_t root = engine_.root();
    fork_.rebase((replayed.has_root_slot ? std::min(replayed.root_slot, root) : root) + 1);
    for (std::uint64_t s = confirmed.value_or(0); s > root && engine_.forks().contains(s);) {
      fork_.add(s);
      const auto parent = engine_.forks().parent(s);
      if (!parent) break;
      s = *parent;
    }
    board_.set_commitment(confirmed, finalized, &fork_);
    if (confirmed) set_counter(c_confirmed_slot, *confirmed);
    if (finalized) set_counter(c_finalized_slot, *finalized);
  } catch (...) {
  }
  return work + static_cast<int>(n);
}

}  // namespace riptide::tvu
