#include <riptide/tpu/bank_tile.hpp>

#include <cassert>
#include <stdexcept>

#include <riptide/crypto/poh.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::tpu {

namespace {
std::size_t pow2_at_least(std::size_t v) {
  std::size_t p = 2;
  while (p < v) p <<= 1;
  return p;
}
}  // namespace

// One published microblock whose locks are held until PoH pops its mixin.
struct bank_tile::pending_block {
  std::unique_ptr<txn::held_locks[]> locks;
  std::size_t count = 0;
  std::uint64_t mixin_ordinal = 0;  // position of its mixin in this tile's ring
};

bank_tile::bank_tile(std::string name, bank::bank_forks& forks, bank_gate& gate, const util::frame_pool& frames,
                     util::spsc_ring<util::frag_desc>& in, util::spsc_ring<util::frag_desc>* release,
                     util::spsc_ring<poh_mixin>& mixins, microblock_store& store, const bank_tile_config& config)
    : util::tile(std::move(name)), forks_(forks), gate_(gate), frames_(frames), in_(in), release_(release),
      mixins_(mixins), store_(store), config_(config) {
  if (config_.max_txs_per_microblock == 0 || config_.max_txs_per_microblock > 4096)
    throw std::invalid_argument("bank tile: max_txs_per_microblock must be in [1, 4096]");
  if (config_.max_pending == 0) throw std::invalid_argument("bank tile: max_pending must be >= 1");
  const std::size_t retry = pow2_at_least(std::max<std::size_t>(config_.retry_slots, 2));
  retry_ = std::make_unique<util::frag_desc[]>(retry);
  retry_mask_ = retry - 1;
  // One slot more than max_pending: the block being filled in this poll.
  pending_ = std::make_unique<pending_block[]>(config_.max_pending + 1);
  for (std::size_t i = 0; i <= config_.max_pending; ++i)
    pending_[i].locks = std::make_unique<txn::held_locks[]>(config_.max_txs_per_microblock);
  sigs_ = std::make_unique<crypto::signature[]>(config_.max_txs_per_microblock * txn::max_signatures);
}

bank_tile::~bank_tile() = default;

std::vector<std::size_t> bank_tile::drop_counters() const {
  return {c_parse_failed, c_release_full, c_shut_dropped};
}

std::vector<std::string_view> bank_tile::own_counter_names() const {
  return {"received",   "executed",   "ok",           "failed",       "lock_conflicts", "retry_full",
          "parse_failed", "microblocks", "store_full", "release_full", "fees", "already_processed",
          "shut_dropped"};
}

bool bank_tile::drained() const noexcept {
  return in_.empty_approx() && backlog_.load(std::memory_order_acquire) == 0;
}

int bank_tile::unlock_recorded() noexcept {
  int n = 0;
  const std::uint64_t recorded = mixins_.popped_total();
  const std::size_t slots = config_.max_pending + 1;
  while (pending_head_ != pending_tail_) {
    pending_block& pb = pending_[pending_head_ % slots];
    if (pb.mixin_ordinal >= recorded) break;
    for (std::size_t i = 0; i < pb.count; ++i) forks_.unlock(pb.locks[i]);
    pb.count = 0;
    ++pending_head_;
    ++n;
  }
  return n;
}

void bank_tile::release_frame(const util::frag_desc& d) noexcept {
  if (release_ != nullptr && !release_->try_push(d)) count(c_release_full);
}

int bank_tile::drop_all() noexcept {
  int n = 0;
  while (retry_tail_ != retry_head_) {
    release_frame(retry_[retry_head_++ & retry_mask_]);
    count(c_shut_dropped);
    ++n;
  }
  util::frag_desc d;
  while (n < 1024 && in_.try_pop(d)) {
    count(c_received);
    count(c_shut_dropped);
    release_frame(d);
    ++n;
  }
  return n;
}

bool bank_tile::run_one(bank::bank_index bank, const util::frag_desc& d) noexcept {
  const auto bytes = frames_.frame(d.frame).first(std::min<std::size_t>(d.len, txn::max_transaction_bytes));
  txn::transaction_view tx;
  if (d.len > txn::max_transaction_bytes ||
      txn::parse_transaction(bytes, tx) != txn::parse_error::none) {
    count(c_parse_failed);
    release_frame(d);
    return true;
  }
  pending_block& pb = pending_[pending_tail_ % (config_.max_pending + 1)];
  txn::held_locks& held = pb.locks[pb.count];
  if (!forks_.try_lock(tx, held)) {
    ++exec_.lock_conflicts;
    count(c_lock_conflicts);
    return false;
  }
  const std::uint64_t fees_before = exec_.fees_collected_lamports;
  const txn::tx_result result = forks_.execute(bank, tx, exec_);
  if (result == txn::tx_result::already_processed) {  // changed nothing: not recorded
    forks_.unlock(held);
    count(c_already_processed);
    release_frame(d);
    return true;
  }
  // The store was sized for max_txs_per_microblock transactions of the largest size, and
  // poll() opens a block only when a buffer is free.
  const bool added = store_.add(tx.bytes(), static_cast<std::uint8_t>(result));
  assert(added);
  (void)added;
  ++pb.count;
  for (std::size_t i = 0; i < tx.num_signatures(); ++i) sigs_[sig_count_++] = tx.signature(i);
  count(c_executed);
  count(result == txn::tx_result::ok ? c_ok : c_failed);
  if (exec_.fees_collected_lamports != fees_before)
    count(c_fees, exec_.fees_collected_lamports - fees_before);
  release_frame(d);
  return true;
}

int bank_tile::poll() noexcept {
  int work = unlock_recorded();
  const std::size_t retry_cap = retry_mask_ + 1;
  auto retry_size = [&] { return retry_tail_ - retry_head_; };
  if (gate_.is_shut()) {
    work += drop_all();
    backlog_.store(retry_size() + (pending_tail_ - pending_head_), std::memory_order_release);
    return work;
  }
  const bool can_start = pending_tail_ - pending_head_ < config_.max_pending && store_.can_open() &&
                         mixins_.free_approx() != 0;
  if (!can_start) {
    if (!store_.can_open()) count(c_store_full);
    backlog_.store(retry_size() + (pending_tail_ - pending_head_), std::memory_order_release);
    return work;
  }
  if (retry_size() == 0 && in_.empty_approx()) {  // idle: skip the gate's full barrier
    backlog_.store(pending_tail_ - pending_head_, std::memory_order_release);
    return work;
  }
  const bank::bank_index bank = gate_.enter(config_.index);
  if (bank == bank::no_bank) {  // a slot boundary (or shut since the check above: next poll)
    backlog_.store(retry_size() + (pending_tail_ - pending_head_), std::memory_order_release);
    return work;
  }
  std::size_t budget = config_.max_txs_per_microblock;
  sig_count_ = 0;
  // Waiting transactions first, each tried once per poll.
  for (std::size_t n = retry_size(); n != 0 && budget != 0; --n) {
    const util::frag_desc d = retry_[retry_head_++ & retry_mask_];
    if (run_one(bank, d)) {
      --budget;
    } else {
      retry_[retry_tail_++ & retry_mask_] = d;
    }
  }
  while (budget != 0) {
    if (retry_size() == retry_cap) {
      count(c_retry_full);
      break;
    }
    util::frag_desc d;
    if (!in_.try_pop(d)) break;
    count(c_received);
    if (run_one(bank, d)) {
      --budget;
    } else {
      retry_[retry_tail_++ & retry_mask_] = d;
    }
  }
  work += static_cast<int>(config_.max_txs_per_microblock - budget);
  if (store_.open_tx_count() != 0) {
    const std::uint64_t seq = store_.publish();
    const poh_mixin m{crypto::entry_mixin(std::span(sigs_.get(), sig_count_)),
                      make_mixin_id(config_.index, seq)};
    const bool pushed = mixins_.try_push(m);  // room checked above; sole producer
    assert(pushed);
    (void)pushed;
    pending_[pending_tail_ % (config_.max_pending + 1)].mixin_ordinal = mixins_pushed_++;
    ++pending_tail_;
    count(c_microblocks);
  }
  gate_.leave(config_.index);  // after the mixin push: PoH finds it once the gate is quiet
  backlog_.store(retry_size() + (pending_tail_ - pending_head_), std::memory_order_release);
  return work;
}

}  // namespace riptide::tpu
