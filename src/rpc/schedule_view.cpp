#include <riptide/rpc/schedule_view.hpp>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <riptide/util/hex.hpp>

namespace riptide::rpc {

namespace {
// Index into stakes.entries() of every group's leader, and slots led per validator.
struct tally {
  std::vector<std::uint32_t> group_leader;
  std::vector<std::uint64_t> slots_led;
};

tally count_leaders(const epoch::stakes& stakes, const epoch::leader_schedule& schedule) {
  tally t;
  t.slots_led.assign(stakes.size(), 0);
  const auto groups = schedule.group_leaders();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto index = stakes.index_of(groups[g]);
    if (!index) throw std::invalid_argument("leader schedule: a leader holds no stake in the given stakes");
    t.group_leader.push_back(*index);
    // The last group may be cut by the epoch's end.
    const std::uint64_t first = std::uint64_t{g} * schedule.slots_per_leader();
    const std::uint64_t span = std::min<std::uint64_t>(schedule.slots_per_leader(), schedule.slots_per_epoch() - first);
    t.slots_led[*index] += span;
  }
  return t;
}

// The window [from, from + count) clipped to the epoch: [begin, end).
std::pair<std::uint64_t, std::uint64_t> window(const epoch::leader_schedule& s, std::uint64_t from,
                                               std::uint64_t count) {
  const std::uint64_t first = s.first_slot();
  const std::uint64_t last = first + s.slots_per_epoch();  // exclusive
  const std::uint64_t begin = std::clamp(from, first, last);
  const std::uint64_t end = count > last - begin ? last : begin + count;
  return {begin, end};
}
}  // namespace

std::string schedule_json(const epoch::stakes& stakes, const epoch::leader_schedule& schedule, std::uint64_t from,
                          std::uint64_t count) {
  const tally t = count_leaders(stakes, schedule);
  nlohmann::json validators = nlohmann::json::array();
  for (std::size_t i = 0; i < stakes.size(); ++i)
    validators.push_back({{"id", util::to_hex(stakes.entries()[i].id)},
                          {"stake", stakes.entries()[i].stake},
                          {"slots", t.slots_led[i]}});
  nlohmann::json slots = nlohmann::json::array();
  const auto [begin, end] = window(schedule, from, count);
  for (std::uint64_t s = begin; s < end; ++s)
    slots.push_back({{"slot", s}, {"leader", util::to_hex(*schedule.leader_for_slot(s))}});
  return nlohmann::json{{"epoch", schedule.epoch()},
                        {"first_slot", schedule.first_slot()},
                        {"slots_per_epoch", schedule.slots_per_epoch()},
                        {"slots_per_leader", schedule.slots_per_leader()},
                        {"digest", util::to_hex(schedule.digest())},
                        {"validators", std::move(validators)},
                        {"group_leaders", t.group_leader},
                        {"slots", std::move(slots)}}
      .dump();
}

std::string schedule_text(const epoch::stakes& stakes, const epoch::leader_schedule& schedule, std::uint64_t from,
                          std::uint64_t count) {
  const tally t = count_leaders(stakes, schedule);
  std::string out = fmt::format("epoch {}: slots {}-{}, {} slots per leader, digest {}\n", schedule.epoch(),
                                schedule.first_slot(), schedule.first_slot() + schedule.slots_per_epoch() - 1,
                                schedule.slots_per_leader(), util::to_hex(schedule.digest()));
  for (std::size_t i = 0; i < stakes.size(); ++i) {
    const auto& e = stakes.entries()[i];
    out += fmt::format("  {}  stake {} ({:.2f} %)  leads {} slots ({:.2f} %)\n", util::to_hex(e.id), e.stake,
                       100.0 * static_cast<double>(e.stake) / static_cast<double>(stakes.total()), t.slots_led[i],
                       100.0 * static_cast<double>(t.slots_led[i]) / static_cast<double>(schedule.slots_per_epoch()));
  }
  const auto [begin, end] = window(schedule, from, count);
  for (std::uint64_t s = begin; s < end;) {
    const crypto::pubkey leader = *schedule.leader_for_slot(s);
    std::uint64_t last = s;
    while (last + 1 < end && *schedule.leader_for_slot(last + 1) == leader) ++last;
    out += fmt::format("  slots {}-{}  {}\n", s, last, util::to_hex(leader));
    s = last + 1;
  }
  return out;
}

}  // namespace riptide::rpc
