#include <riptide/epoch/schedule_window.hpp>

#include <limits>
#include <stdexcept>

namespace riptide::epoch {

schedule_window::schedule_window(const stakes& validators, std::uint64_t slots_per_epoch, std::uint64_t slot,
                                 std::uint32_t slots_per_leader)
    : stakes_(validators), slots_per_epoch_(slots_per_epoch), slots_per_leader_(slots_per_leader) {
  if (slots_per_epoch == 0) throw std::invalid_argument("schedule_window: slots_per_epoch must be >= 1");
  rebuild(epoch_of(slot, slots_per_epoch));
}

bool schedule_window::advance(std::uint64_t slot) {
  const std::uint64_t e = epoch_of(slot, slots_per_epoch_);
  if (e == epoch_) return false;
  rebuild(e);
  return true;
}

void schedule_window::rebuild(std::uint64_t centre) {
  std::array<std::unique_ptr<leader_schedule>, 3> next;
  const std::uint64_t last_epoch = std::numeric_limits<std::uint64_t>::max() / slots_per_epoch_ - 1;
  for (std::size_t k = 0; k < next.size(); ++k) {
    if (centre == 0 && k == 0) continue;  // no epoch before the first
    const std::uint64_t e = centre + k - 1;
    if (e > last_epoch) continue;  // its slots would not fit a u64
    for (auto& old : schedules_)
      if (old && old->epoch() == e) next[k] = std::move(old);
    if (!next[k]) next[k] = std::make_unique<leader_schedule>(stakes_, e, slots_per_epoch_, slots_per_leader_);
  }
  schedules_ = std::move(next);
  epoch_ = centre;
  timeline_ = leader_timeline{};
  for (const auto& s : schedules_)
    if (s) timeline_.append(*s);
}

}  // namespace riptide::epoch
