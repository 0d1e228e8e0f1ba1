#include <riptide/tpu/microblock.hpp>

#include <cstring>
#include <stdexcept>

namespace riptide::tpu {

microblock_store::microblock_store(std::size_t capacity, std::size_t tx_bytes)
    : mask_(capacity - 1), tx_bytes_(tx_bytes) {
  if (capacity < 2 || (capacity & (capacity - 1)) != 0)
    throw std::invalid_argument("microblock_store: capacity must be a power of two >= 2");
  if (tx_bytes < 64 || tx_bytes > (1u << 24))
    throw std::invalid_argument("microblock_store: tx_bytes must be in [64, 2^24]");
  headers_ = std::make_unique<header[]>(capacity);
  tx_area_ = std::make_unique<std::uint8_t[]>(capacity * tx_bytes);
}

bool microblock_store::can_open() const noexcept {
  return published_ - released_.load(std::memory_order_acquire) <= mask_;
}

bool microblock_store::add(std::span<const std::uint8_t> tx, std::uint8_t result) noexcept {
  if (!can_open() || tx.size() > 0xffff) return false;
  const std::size_t need = microblock_tx_overhead_bytes + tx.size();
  if (open_bytes_ + need > tx_bytes_) return false;
  const std::size_t b = published_ & mask_;
  std::uint8_t* p = tx_area_.get() + b * tx_bytes_ + open_bytes_;
  p[0] = static_cast<std::uint8_t>(tx.size());
  p[1] = static_cast<std::uint8_t>(tx.size() >> 8);
  p[2] = result;
  std::memcpy(p + microblock_tx_overhead_bytes, tx.data(), tx.size());
  open_bytes_ += static_cast<std::uint32_t>(need);
  ++open_txs_;
  return true;
}

std::uint64_t microblock_store::publish() noexcept {
  const std::size_t b = published_ & mask_;
  headers_[b] = header{open_txs_, open_bytes_};
  open_txs_ = open_bytes_ = 0;
  return published_++;
}

microblock_view microblock_store::view(std::uint64_t seq) const noexcept {
  const std::size_t b = seq & mask_;
  const header& h = headers_[b];
  return {h.tx_count, {tx_area_.get() + b * tx_bytes_, h.tx_bytes}};
}

void microblock_store::release(std::uint64_t seq) noexcept {
  released_.store(seq + 1, std::memory_order_release);
}

}  // namespace riptide::tpu
