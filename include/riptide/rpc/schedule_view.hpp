#pragma once
// The leader schedule as operators read it: GET /leader-schedule and `riptide
// leader-schedule` show the same facts through these functions (JSON for tools, text for a
// terminal), so the two can never disagree.
//
// JSON (integers as numbers, keys and hashes as lowercase hex):
//   { "epoch": e, "first_slot": f, "slots_per_epoch": n, "slots_per_leader": L,
//     "digest": hex,                       what gossip's LeaderSchedule value carries
//     "validators": [ {"id": hex, "stake": s, "slots": slots it leads in the epoch}, ... ],
//                                          the staked validators in canonical order
//     "group_leaders": [ i, ... ],         validators[i] leads slots [f + g·L, f + (g+1)·L)
//                                          for the g-th element: the whole epoch, compactly
//     "slots": [ {"slot": s, "leader": hex}, ... ] }
//                                          the window [from, from + count) within the epoch
//
// Text: one line per validator (stake, share of stake, slots led), then the window's slots
// merged into spans of one leader ("slots 100-103  <id>").
//
// Pure and allocating (not for hot paths); any thread. `schedule` must have been built from
// `stakes` (a leader that is not among them is a std::invalid_argument).

#include <cstdint>
#include <string>

#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/epoch/stakes.hpp>

namespace riptide::rpc {

[[nodiscard]] std::string schedule_json(const epoch::stakes& stakes, const epoch::leader_schedule& schedule,
                                        std::uint64_t from, std::uint64_t count);
[[nodiscard]] std::string schedule_text(const epoch::stakes& stakes, const epoch::leader_schedule& schedule,
                                        std::uint64_t from, std::uint64_t count);

}  // namespace riptide::rpc
