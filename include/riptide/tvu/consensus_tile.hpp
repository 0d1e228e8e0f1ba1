#pragma once
// Consensus tile: the validator's votes. Replay tells it of every block it stored (slot,
// parent, bank hash, last PoH hash) and of every vote that landed in one (a voter's new
// tower); it runs the vote engine (consensus/vote_engine.hpp) on them, and when the engine
// votes: saves the tower (fsync, consensus/tower_file.hpp), then signs a vote transaction
// (consensus/vote_tx.hpp, its recent blockhash the newest block's last PoH hash) and sends it
// to the tpu port of the next leaders. The slots the votes confirm and finalize go on the
// chain board (GET /slot).
//
//   replay ──events──► vote engine ──vote──► save tower ──► vote tx ──► tx ──► net (tpu of the next 2 leaders)
//                           └─ confirmed / finalized ──► chain board
//
// Contract
//   - One core thread runs poll() and housekeep(); drained() may be called from any thread.
//   - Input: `events` (consensus_event, pushed by the replay tile in the order it stored
//     blocks). Events are decided on in batches: one decision per poll that saw a block.
//   - A vote is sent only after its tower is durable: a tower that cannot be saved is counted
//     (tower_save_failures) and that vote is not sent (a restart must never vote against a
//     vote it sent). The vote goes to the tpu endpoint (contact book) of the first
//     `leaders` distinct leaders of the slots from the one in progress (`clock`, the node's
//     PoH) on, this node included when it leads; a leader with no known address is counted
//     (no_contact), a send that found no frame or a full ring too (tx_no_frame, tx_ring_full).
//   - A vote that has not landed (replay told no vote state of ours with it) within
//     `refresh_after_slots` of the PoH clock is sent again, signed anew with the newest
//     blockhash (the tower is the one saved already): a vote lost on the way, or in a block
//     that never made it, still reaches a leader (vote_refreshes).
//   - Counters say what it did: banks, votes_seen (other voters' towers), votes (ours),
//     vote_copies, the last voted slot, the tower's root, the confirmed and finalized slots,
//     and how many slots behind the PoH clock each slot was confirmed (confirm_lag_le1 ..
//     confirm_lag_gt8, a histogram: the confirmation latency in slots).
//   - Memory: the vote engine grows per block (bounded: fork choice and the confirmation
//     tracker prune at each root); saving the tower allocates a path; the send frames are
//     sized at construction. poll() is noexcept.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <riptide/bank/chain_board.hpp>
#include <riptide/consensus/tower.hpp>
#include <riptide/consensus/vote_engine.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/epoch/rotation.hpp>
#include <riptide/epoch/schedule_window.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/net/tx_sender.hpp>
#include <riptide/util/spsc_ring.hpp>
#include <riptide/util/tile.hpp>

namespace riptide::tvu {

// What replay tells consensus. kind bank: a block stored (slot, parent, bank_hash,
// blockhash = its last PoH hash); kind vote: voter `voter` (the bank's voter order) has this
// tower on the chain replay stored (a vote of it landed in a block).
struct consensus_event {
  enum class kind : std::uint8_t { bank, vote };
  kind what = kind::bank;
  std::uint32_t voter = 0;
  std::uint64_t slot = 0;  // the bank; of a vote, the block it was read from
  std::uint64_t parent = 0;
  crypto::hash32 bank_hash{};
  crypto::hash32 blockhash{};
  consensus::tower votes;
};

// What consensus tells replay after each decision (a voting validator): the engine's root
// (replay roots the bank forks, the ledger and, through the chain board, the TVU there) and
// the slot whose bank PoH should build on (fork choice's reset).
struct consensus_verdict {
  std::uint64_t root = 0;
  std::uint64_t reset = 0;
  friend bool operator==(const consensus_verdict&, const consensus_verdict&) = default;
};

// A staked voter with no vote seen for this many slots is counted delinquent (Agave's RPC
// uses the same 128).
inline constexpr std::uint64_t delinquent_after_slots = 128;

struct consensus_tile_config {
  std::filesystem::path tower_path;  // where the tower is saved before each vote
  std::size_t leaders = 2;           // distinct upcoming leaders each vote goes to (1..4)
  std::uint64_t leader_lookahead_slots = 16;  // how far ahead to look for them
  std::uint32_t tx_frames = 16;      // send frames owned by the tile (>= leaders)
  std::uint64_t refresh_after_slots = 8;  // a vote not landed by then is sent again (> 0)
  void validate() const;             // throws std::invalid_argument naming the bad field
};

class consensus_tile final : public util::tile {
 public:
  enum counter : std::size_t {
    c_banks,
    c_banks_refused,   // the engine could not place the block (parent unknown, tree full)
    c_votes_seen,
    c_votes,           // our votes sent (at least one copy)
    c_vote_copies,
    c_last_vote_slot,
    c_tower_root,
    c_confirmed_slot,
    c_finalized_slot,
    c_tower_save_failures,
    c_vote_build_failures,
    c_no_contact,
    c_no_leader,
    c_tx_no_frame,
    c_tx_ring_full,
    c_tx_release_bad,
    c_switch_failed,   // decisions that kept us off the heaviest fork (switch check)
    c_threshold_failed,
    c_locked_out,
    c_vote_refreshes,  // votes sent again because they had not landed
    c_confirm_lag_first,  // confirm_lag_le1, le2, le3, le4, le8, gt8
    // Vote latency: slots from a slot we voted for to the block that first holds that vote
    // (vote_lag_le1 .. vote_lag_gt8, the same buckets).
    c_vote_lag_first = c_confirm_lag_first + 6,
    c_root_lag = c_vote_lag_first + 6,  // the PoH clock's slot minus the engine's root
    c_delinquent,                       // staked voters with no vote seen in the last 128 slots
    c_own_count,
  };

  // `identity` signs the votes; `engine` (its `self` the node's voter index) and the rest must
  // outlive the tile. `board` gets the confirmed and finalized slots; `clock` is the node's
  // PoH (the slot in progress).
  consensus_tile(std::string name, const consensus_tile_config& config, const crypto::keypair& identity,
                 consensus::vote_engine& engine, const epoch::leader_timeline& timeline,
                 const net::contact_book& contacts, const bank::chain_board& clock, bank::chain_board& board,
                 util::spsc_ring<consensus_event>& events, util::spsc_ring<util::frag_desc>& tx,
                 util::spsc_ring<util::frag_desc>& tx_release);

  std::vector<std::string_view> own_counter_names() const override;
  std::vector<std::size_t> drop_counters() const override;
  int poll() noexcept override;
  void housekeep(std::uint64_t monotonic_ns) noexcept override;
  bool drained() const noexcept override { return events_.empty_approx() && verdict_ == verdict_sent_; }
  // Start-up (a validator whose replay follows consensus): after each decision whose vote
  // (if any) was saved, the engine's root and reset go on `verdicts` when they changed; a
  // full ring is retried at the next poll (only the newest verdict matters).
  void connect_verdicts(util::spsc_ring<consensus_verdict>* verdicts) noexcept { verdicts_ = verdicts; }
  // As forward_tile::follow_epochs: the leaders are looked up in `window`'s timeline.
  void follow_epochs(epoch::schedule_window& window) noexcept;

  const util::frame_pool& tx_frames() const noexcept { return sender_.frames(); }

 private:
  void decide() noexcept;
  // Sends `vote` (signed now, with the newest blockhash) to the coming leaders; true if a copy
  // left.
  bool send_vote(const consensus::tower_sync& vote) noexcept;
  void refresh() noexcept;
  int push_verdict() noexcept;

  consensus_tile_config config_;
  const crypto::keypair& identity_;
  consensus::vote_engine& engine_;
  const epoch::leader_timeline* timeline_;
  epoch::schedule_window* window_ = nullptr;
  const net::contact_book& contacts_;
  std::optional<std::uint64_t> restored_last_;  // our newest vote before this start (the tower's)
  const bank::chain_board& clock_;
  bank::chain_board& board_;
  util::spsc_ring<consensus_event>& events_;
  net::tx_sender sender_;
  crypto::hash32 blockhash_{};  // the newest stored block's last PoH hash
  bool have_blockhash_ = false;
  std::optional<consensus::tower_sync> sent_;  // our newest vote, saved and sent
  std::uint64_t sent_at_slot_ = 0;             // the PoH clock when it was last sent
  std::optional<std::uint64_t> landed_;        // the newest slot of ours a stored block holds
  bank::confirmed_fork fork_;                  // published with the confirmed slot
  util::spsc_ring<consensus_verdict>* verdicts_ = nullptr;
  void count_lag(std::size_t first_bucket, std::uint64_t lag) noexcept;
  std::optional<consensus_verdict> verdict_;       // the newest decision's
  std::optional<consensus_verdict> verdict_sent_;  // the last one pushed
};

}  // namespace riptide::tvu
