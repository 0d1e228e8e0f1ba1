#include <riptide/tpu/dedup_tile.hpp>

#include <algorithm>
#include <array>

namespace riptide::tpu {

namespace {
constexpr std::size_t batch_max = 32;
}

dedup_tile::dedup_tile(std::string name, std::size_t cache_entries,
                       std::vector<util::spsc_ring<util::frag_desc>*> ins,
                       util::spsc_ring<util::frag_desc>* out,
                       util::spsc_ring<util::frag_desc>* release)
    : util::tile(std::move(name)), cache_(cache_entries), ins_(std::move(ins)), out_(out),
      release_(release) {}

std::vector<std::string_view> dedup_tile::own_counter_names() const {
  return {"received", "unique", "duplicate", "backpressure", "release_full"};
}

bool dedup_tile::drained() const noexcept {
  return std::all_of(ins_.begin(), ins_.end(), [](auto* r) { return r->empty_approx(); });
}

int dedup_tile::poll() noexcept {
  int work = 0;
  std::array<util::frag_desc, batch_max> descs;
  for (auto* in : ins_) {
    std::size_t room = batch_max;
    if (out_ != nullptr) {
      room = std::min(room, out_->free_approx());
      if (room == 0) {
        if (!in->empty_approx()) count(c_backpressure);
        continue;
      }
    }
    const std::size_t n = in->try_pop_batch(std::span(descs.data(), room));
    if (n == 0) continue;
    count(c_received, n);
    std::size_t forward = 0, dup = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool fresh = cache_.insert(descs[i].meta);
      dup += fresh ? 0 : 1;
      if (fresh && out_ != nullptr) {
        descs[forward++] = descs[i];
      } else if (release_ != nullptr && !release_->try_push(descs[i])) {
        count(c_release_full);
      }
    }
    unique_ += n - dup;
    duplicates_ += dup;
    count(c_unique, n - dup);
    if (dup != 0) count(c_duplicate, dup);
    if (forward != 0) (void)out_->try_push_batch(std::span(descs.data(), forward));
    work += static_cast<int>(n);
  }
  return work;
}

}  // namespace riptide::tpu
