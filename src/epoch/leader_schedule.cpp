#include <riptide/epoch/leader_schedule.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <riptide/crypto/sha256.hpp>
#include <riptide/util/prng.hpp>

namespace riptide::epoch {

namespace {

void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

leader_schedule::leader_schedule(const stakes& validators, std::uint64_t epoch,
                                 std::uint64_t slots_per_epoch, std::uint32_t slots_per_leader)
    : epoch_(epoch), slots_per_epoch_(slots_per_epoch), slots_per_leader_(slots_per_leader) {
  if (slots_per_epoch == 0 || slots_per_leader == 0)
    throw std::invalid_argument("leader_schedule: slots_per_epoch and slots_per_leader must be >= 1");
  if (epoch > std::numeric_limits<std::uint64_t>::max() / slots_per_epoch)
    throw std::invalid_argument("leader_schedule: epoch's first slot overflows u64");
  if (validators.empty()) throw std::invalid_argument("leader_schedule: no validator has stake");
  const auto staked = validators.entries();
  // Cumulative stakes: interval of validator i is [cumulative[i], cumulative[i + 1]); stakes
  // has checked that the total fits u64.
  std::vector<std::uint64_t> cumulative(staked.size() + 1, 0);
  for (std::size_t i = 0; i < staked.size(); ++i) cumulative[i + 1] = cumulative[i] + staked[i].stake;
  const std::uint64_t total = validators.total();

  constexpr std::string_view domain = "riptide leader schedule";
  std::vector<std::uint8_t> seed_in(domain.begin(), domain.end());
  put_u64(seed_in, epoch);
  const crypto::hash32 seed = crypto::sha256(seed_in);
  std::array<std::uint64_t, 4> state{};
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t b = 0; b < 8; ++b)
      state[i] |= static_cast<std::uint64_t>(seed[8 * i + b]) << (8 * b);
  auto rng = util::xoshiro256ss::from_state(state);

  const std::uint64_t groups = (slots_per_epoch + slots_per_leader - 1) / slots_per_leader;
  leaders_.reserve(groups);
  for (std::uint64_t g = 0; g < groups; ++g) {
    const std::uint64_t r = rng.uniform(total);
    // The first i with cumulative[i + 1] > r.
    const auto it = std::upper_bound(cumulative.begin() + 1, cumulative.end(), r);
    leaders_.push_back(staked[static_cast<std::size_t>(it - cumulative.begin()) - 1].id);
  }

  std::vector<std::uint8_t> digest_in;
  put_u64(digest_in, epoch);
  put_u64(digest_in, slots_per_epoch);
  for (int i = 0; i < 4; ++i) digest_in.push_back(static_cast<std::uint8_t>(slots_per_leader >> (8 * i)));
  for (const auto& id : leaders_) digest_in.insert(digest_in.end(), id.begin(), id.end());
  digest_ = crypto::sha256(digest_in);
}

std::optional<crypto::pubkey> leader_schedule::leader_for_slot(std::uint64_t slot) const noexcept {
  if (!covers(slot)) return std::nullopt;
  return leaders_[(slot - first_slot()) / slots_per_leader_];
}

}  // namespace riptide::epoch
