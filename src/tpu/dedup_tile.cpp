#include <riptide/tpu/dedup_tile.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>

#include <riptide/crypto/xxh3.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::tpu {

namespace {

constexpr std::size_t batch_max = 32;  // descriptors per in ring per poll

std::vector<util::spsc_ring<util::frag_desc>*> one_or_none(
    util::spsc_ring<util::frag_desc>* out) {
  if (out == nullptr) return {};
  return {out};
}

}  // namespace

dedup_tile::dedup_tile(std::string name, std::size_t cache_entries,
                       std::vector<util::spsc_ring<util::frag_desc>*> ins,
                       util::spsc_ring<util::frag_desc>* out,
                       util::spsc_ring<util::frag_desc>* release)
    : dedup_tile(std::move(name), dedup_tile_config{cache_entries}, nullptr, std::move(ins),
                 one_or_none(out), release, nullptr) {}

dedup_tile::dedup_tile(std::string name, const dedup_tile_config& config,
                       const util::frame_pool* frames,
                       std::vector<util::spsc_ring<util::frag_desc>*> ins,
                       std::vector<util::spsc_ring<util::frag_desc>*> outs,
                       util::spsc_ring<util::frag_desc>* release,
                       util::spsc_ring<bank::slot_hash>* blockhashes)
    : util::tile(std::move(name)), cache_(config.cache_entries), frames_(frames),
      ins_(std::move(ins)), outs_(std::move(outs)), release_(release), blockhashes_(blockhashes),
      recent_(blockhashes != nullptr ? config.blockhash_history_slots : 0), read_frames_(blockhashes != nullptr || outs_.size() > 1) {
  auto has_null = [](const auto& rings) {
    return std::find(rings.begin(), rings.end(), nullptr) != rings.end();
  };
  if (has_null(ins_) || has_null(outs_))
    throw std::invalid_argument("dedup_tile " + this->name() + ": null in or out ring");
  if (read_frames_ && frames_ == nullptr)
    throw std::invalid_argument("dedup_tile " + this->name() +
                                ": a frame pool is required for the blockhash age check and "
                                "for routing to several outs");
}

std::vector<std::size_t> dedup_tile::drop_counters() const {
  return {c_duplicate, c_release_full, c_blockhash_too_old, c_blockhash_unknown, c_parse_failed};
}

std::vector<std::string_view> dedup_tile::own_counter_names() const {
  return {"received",          "unique",            "duplicate",    "backpressure", "release_full",
          "blockhash_too_old", "blockhash_unknown", "parse_failed", "blockhashes"};
}

bool dedup_tile::drained() const noexcept {
  return !has_held_.load(std::memory_order_acquire) &&
         std::all_of(ins_.begin(), ins_.end(), [](auto* r) { return r->empty_approx(); });
}

int dedup_tile::take_blockhashes() noexcept {
  if (blockhashes_ == nullptr) return 0;
  int n = 0;
  bank::slot_hash h;
  while (blockhashes_->try_pop(h)) {
    recent_.register_hash(h.slot, h.hash);
    ++n;
  }
  if (n != 0) count(c_blockhashes, static_cast<std::uint64_t>(n));
  return n;
}

void dedup_tile::release(const util::frag_desc& d) noexcept {
  if (release_ != nullptr && !release_->try_push(d)) count(c_release_full);
}

bool dedup_tile::push_held() noexcept {
  if (!outs_[held_out_]->try_push(held_)) return false;
  has_held_.store(false, std::memory_order_release);
  return true;
}

std::size_t dedup_tile::out_room() noexcept {
  std::size_t room = batch_max;
  for (auto* out : outs_) room = std::min(room, out->free_approx());
  return room;
}

std::size_t dedup_tile::process(util::frag_desc* descs, std::size_t n) noexcept {
  std::size_t pushed = 0, fresh = 0, dup = 0, too_old = 0, unknown = 0, bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const util::frag_desc& d = descs[i];
    std::size_t out = 0;
    if (read_frames_) {
      txn::transaction_view tx;
      if (!frames_->contains(d.frame) || d.len > frames_->frame_bytes() ||
          txn::parse_transaction(frames_->frame(d.frame).first(d.len), tx) !=
              txn::parse_error::none) {
        ++bad;
        release(d);
        continue;
      }
      if (blockhashes_ != nullptr) {
        const txn::blockhash_age age = recent_.age(tx.recent_blockhash());
        if (age != txn::blockhash_age::recent) {
          ++(age == txn::blockhash_age::too_old ? too_old : unknown);
          release(d);
          continue;
        }
      }
      if (outs_.size() > 1) out = crypto::xxh3_64(tx.fee_payer()) % outs_.size();
    }
    if (!cache_.insert(d.meta)) {
      ++dup;
      release(d);
      continue;
    }
    ++fresh;
    if (outs_.empty()) {
      release(d);
    } else if (outs_[out]->try_push(d)) {
      ++pushed;
    } else {
      // Only when some out was full (the caller then passes one descriptor at a time).
      held_ = d;
      held_out_ = out;
      has_held_.store(true, std::memory_order_release);
    }
  }
  unique_ += fresh;
  duplicates_ += dup;
  if (fresh != 0) count(c_unique, fresh);
  if (dup != 0) count(c_duplicate, dup);
  if (too_old != 0) count(c_blockhash_too_old, too_old);
  if (unknown != 0) count(c_blockhash_unknown, unknown);
  if (bad != 0) count(c_parse_failed, bad);
  return pushed;
}

int dedup_tile::poll() noexcept {
  int work = take_blockhashes();
  if (has_held_.load(std::memory_order_relaxed)) {
    if (!push_held()) {
      count(c_backpressure);
      return work;
    }
    ++work;
  }
  // Every out has at least `room` free slots, so a batch of up to `room` descriptors always
  // fits wherever they are routed. With room 0 (some out full) a single out means nothing
  // can move; several outs take one descriptor at a time, which may go to a free out.
  std::size_t room = outs_.empty() ? batch_max : out_room();
  bool blocked = false;
  std::array<util::frag_desc, batch_max> descs;
  const std::size_t n_ins = ins_.size();
  for (std::size_t k = 0; k < n_ins && !blocked; ++k) {
    auto* in = ins_[(next_in_ + k) % n_ins];
    std::size_t budget = batch_max;
    while (budget != 0) {
      if (room == 0) room = out_room();  // the estimate ran out: look again
      if (room == 0 && outs_.size() == 1) {
        if (!in->empty_approx()) blocked = true;
        break;
      }
      const std::size_t take = std::min(budget, room == 0 ? std::size_t{1} : room);
      const std::size_t n = in->try_pop_batch(std::span(descs.data(), take));
      if (n == 0) break;
      count(c_received, n);
      work += static_cast<int>(n);
      budget -= n;
      const std::size_t pushed = process(descs.data(), n);
      if (!outs_.empty()) room = room > pushed ? room - pushed : 0;
      if (has_held_.load(std::memory_order_relaxed)) {
        blocked = true;
        break;
      }
      if (room != 0 && n < take) break;  // this ring is empty for now
    }
  }
  if (blocked) count(c_backpressure);
  if (n_ins != 0) next_in_ = (next_in_ + 1) % n_ins;
  return work;
}

}  // namespace riptide::tpu
