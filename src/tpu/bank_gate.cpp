#include <riptide/tpu/bank_gate.hpp>

#include <stdexcept>

namespace riptide::tpu {

namespace {
enum kind : std::uint64_t { k_open = 0, k_closed = 1, k_shut = 2 };
constexpr std::uint64_t slot_mask = (std::uint64_t{1} << 30) - 1;

constexpr std::uint64_t make_state(kind k, std::uint64_t slot, bank::bank_index b) noexcept {
  return (static_cast<std::uint64_t>(k) << 62) | ((slot & slot_mask) << 32) | b;
}
constexpr kind kind_of(std::uint64_t s) noexcept { return static_cast<kind>(s >> 62); }
constexpr bank::bank_index bank_of(std::uint64_t s) noexcept { return static_cast<bank::bank_index>(s); }
constexpr std::uint64_t slot_of(std::uint64_t s) noexcept { return (s >> 32) & slot_mask; }
}  // namespace

bank_gate::bank_gate(std::size_t tiles, std::uint64_t first_slot)
    : state_(make_state(k_closed, first_slot - 1, bank::no_bank)), tiles_(tiles) {
  if (tiles == 0) throw std::invalid_argument("bank_gate: at least one bank tile");
  inside_ = std::make_unique<inside_flag[]>(tiles);
}

bank_gate::~bank_gate() = default;

bank::bank_index bank_gate::enter(std::size_t tile) noexcept {
  const std::uint64_t s = state_.load(std::memory_order_seq_cst);
  if (kind_of(s) != k_open) return bank::no_bank;
  inside_[tile].bank.store(bank_of(s), std::memory_order_seq_cst);
  if (state_.load(std::memory_order_seq_cst) != s) {  // closed meanwhile: back out
    inside_[tile].bank.store(bank::no_bank, std::memory_order_release);
    return bank::no_bank;
  }
  return bank_of(s);
}

void bank_gate::leave(std::size_t tile) noexcept {
  inside_[tile].bank.store(bank::no_bank, std::memory_order_release);
}

bool bank_gate::is_shut() const noexcept { return kind_of(state_.load(std::memory_order_acquire)) == k_shut; }

void bank_gate::close(std::uint64_t slot) noexcept {
  std::uint64_t s = state_.load(std::memory_order_seq_cst);
  while (kind_of(s) != k_shut &&
         !state_.compare_exchange_weak(s, make_state(k_closed, slot, bank::no_bank), std::memory_order_seq_cst)) {
  }
}

bool bank_gate::quiet() const noexcept {
  if (kind_of(state_.load(std::memory_order_seq_cst)) == k_open) return false;
  for (std::size_t i = 0; i < tiles_; ++i)
    if (inside_[i].bank.load(std::memory_order_seq_cst) != bank::no_bank) return false;
  return true;
}

void bank_gate::shut() noexcept { state_.store(make_state(k_shut, 0, bank::no_bank), std::memory_order_seq_cst); }

bool bank_gate::open(bank::bank_index bank, std::uint64_t slot) noexcept {
  std::uint64_t expected = make_state(k_closed, slot - 1, bank::no_bank);
  return state_.compare_exchange_strong(expected, make_state(k_open, slot, bank), std::memory_order_seq_cst);
}

bool bank_gate::open_block(bank::bank_index bank, std::uint64_t slot) noexcept {
  std::uint64_t s = state_.load(std::memory_order_seq_cst);
  // Closed for any slot but this one (PoH has not closed this block's slot already).
  while (kind_of(s) == k_closed && slot_of(s) != (slot & slot_mask)) {
    if (state_.compare_exchange_weak(s, make_state(k_open, slot, bank), std::memory_order_seq_cst)) return true;
  }
  return false;
}

bool bank_gate::open_bank(bank::bank_index& bank, std::uint64_t& slot) const noexcept {
  const std::uint64_t s = state_.load(std::memory_order_acquire);
  if (kind_of(s) != k_open) return false;
  bank = bank_of(s);
  slot = slot_of(s);
  return true;
}

}  // namespace riptide::tpu
