#include <riptide/tvu/unrooted_blocks.hpp>

#include <cstring>
#include <stdexcept>

namespace riptide::tvu {

unrooted_blocks::unrooted_blocks(std::size_t bytes, std::size_t max_blocks)
    : bytes_(bytes), arena_(bytes != 0 ? new std::uint8_t[bytes] : nullptr), ring_(max_blocks) {
  if (bytes == 0 || max_blocks == 0) throw std::invalid_argument("unrooted_blocks: bytes and max_blocks must be > 0");
  chain_.reserve(max_blocks);
  keep_.assign(max_blocks, 0);
}

std::optional<std::size_t> unrooted_blocks::place(std::size_t n) const noexcept {
  if (n == 0 || n > bytes_ || count_ == ring_.size()) return std::nullopt;
  if (count_ == 0) return 0;
  const std::size_t tail = at(0).offset;  // the oldest block held (the front is always live)
  if (head_ > tail) {
    if (head_ + n <= bytes_) return head_;
    if (n <= tail) return 0;  // wrap: the end of the arena stays unused until the front passes it
    return std::nullopt;
  }
  if (head_ + n <= tail) return head_;
  return std::nullopt;
}

std::size_t unrooted_blocks::find(std::uint64_t slot) const noexcept {
  for (std::size_t i = 0; i < count_; ++i)
    if (at(i).live && at(i).slot == slot) return i;
  return npos;
}

bool unrooted_blocks::add(std::uint64_t slot, std::uint64_t parent, std::span<const std::uint8_t> stream) noexcept {
  const std::optional<std::size_t> where = place(stream.size());
  if (!where || holds(slot)) return false;
  std::memcpy(arena_.get() + *where, stream.data(), stream.size());
  block& b = ring_[(first_ + count_) % ring_.size()];
  b = block{slot, parent, *where, stream.size(), true};
  ++count_;
  ++live_;
  held_bytes_ += stream.size();
  head_ = *where + stream.size();
  return true;
}

void unrooted_blocks::drop(std::size_t i) noexcept {
  block& b = at(i);
  if (!b.live) return;
  b.live = false;
  --live_;
  held_bytes_ -= b.size;
}

bool unrooted_blocks::on_chain(std::size_t i) const noexcept {
  for (const std::size_t j : chain_)
    if (j == i) return true;
  return false;
}

void unrooted_blocks::compact() noexcept {
  while (count_ != 0 && !at(0).live) {
    first_ = (first_ + 1) % ring_.size();
    --count_;
  }
  if (count_ == 0) head_ = 0;
}

std::size_t unrooted_blocks::root(std::uint64_t slot, const block_fn& fn, const block_fn& pruned) {
  // R's chain through the blocks held, newest first; handed over oldest first.
  chain_.clear();
  for (std::size_t j = find(slot); j != npos;) {
    chain_.push_back(j);
    const block& b = at(j);
    j = b.parent < b.slot ? find(b.parent) : npos;
  }
  for (std::size_t k = chain_.size(); k-- > 0;) {
    const block& b = at(chain_[k]);
    fn(b.slot, {arena_.get() + b.offset, b.size});
  }
  // Keep R's descendants. Blocks are added parents first, so one pass in that order decides
  // each block from its parent's verdict.
  for (std::size_t i = 0; i < count_; ++i) {
    const block& b = at(i);
    bool keep = false;
    if (b.live && b.slot > slot) {
      if (b.parent == slot) {
        keep = true;
      } else {
        const std::size_t p = find(b.parent);
        keep = p != npos && p < i && keep_[p] != 0;
      }
    }
    keep_[i] = keep ? 1 : 0;
  }
  for (std::size_t i = 0; i < count_; ++i) {
    if (keep_[i] != 0) continue;
    const block& b = at(i);
    // R's chain went to fn; every other block dropped here is another fork's.
    if (pruned && b.live && !on_chain(i)) pruned(b.slot, {arena_.get() + b.offset, b.size});
    drop(i);
  }
  compact();
  return chain_.size();
}

}  // namespace riptide::tvu
