#include <riptide/node/topology.hpp>

#include <algorithm>
#include <map>
#include <variant>

#include <fmt/format.h>

namespace riptide::node {

const char* to_string(link_kind kind) noexcept {
  switch (kind) {
    case link_kind::frags: return "frags";
    case link_kind::slot_hashes: return "slot_hashes";
    case link_kind::mixins: return "mixins";
    case link_kind::entries: return "entries";
    case link_kind::records: return "records";
    case link_kind::completed_slots: return "completed_slots";
    case link_kind::gossip_commands: return "gossip_commands";
    case link_kind::resets: return "resets";
    case link_kind::consensus_events: return "consensus_events";
    case link_kind::consensus_verdicts: return "consensus_verdicts";
  }
  return "?";
}

bool topology::has_tile(std::string_view name) const noexcept {
  return std::any_of(tiles_.begin(), tiles_.end(), [&](const tile_decl& t) { return t.name == name; });
}

bool topology::is_party(std::string_view name) const noexcept {
  return has_tile(name) || std::find(outside_.begin(), outside_.end(), name) != outside_.end();
}

const link_decl* topology::find_link(std::string_view name) const noexcept {
  const auto it = std::find_if(links_.begin(), links_.end(), [&](const link_decl& l) { return l.name == name; });
  return it == links_.end() ? nullptr : &*it;
}

void topology::add_tile(std::string name, std::string kind, placement where) {
  if (name.empty() || kind.empty()) throw topology_error("topology: a tile needs a name and a kind");
  if (is_party(name)) throw topology_error(fmt::format("topology: '{}' is declared twice", name));
  tiles_.push_back({std::move(name), std::move(kind), where});
}

void topology::add_outside(std::string name) {
  if (name.empty()) throw topology_error("topology: an outside party needs a name");
  if (is_party(name)) throw topology_error(fmt::format("topology: '{}' is declared twice", name));
  outside_.push_back(std::move(name));
}

void topology::add_link(std::string name, link_kind kind, link_mode mode, std::size_t depth, std::string producer,
                        std::string consumer) {
  if (find_link(name) != nullptr) throw topology_error(fmt::format("topology: link '{}' is declared twice", name));
  if (depth < 2 || (depth & (depth - 1)) != 0)
    throw topology_error(fmt::format("topology: link '{}' has depth {}; it must be a power of two >= 2", name, depth));
  for (const std::string* end : {&producer, &consumer})
    if (!is_party(*end))
      throw topology_error(fmt::format("topology: link '{}' names '{}', which is neither a tile nor an outside party",
                                       name, *end));
  if (producer == consumer)
    throw topology_error(fmt::format("topology: link '{}' has '{}' at both ends", name, producer));
  links_.push_back({std::move(name), kind, mode, depth, std::move(producer), std::move(consumer)});
}

void topology::place(const std::vector<std::vector<std::string>>& cores) {
  cores_.assign(cores.size(), {});
  std::map<std::string, std::size_t, std::less<>> next_of_kind;
  std::vector<bool> placed(tiles_.size(), false);
  for (std::size_t c = 0; c < cores.size(); ++c)
    for (const std::string& kind : cores[c]) {
      std::size_t& next = next_of_kind[kind];
      std::size_t seen = 0;
      for (std::size_t i = 0; i < tiles_.size(); ++i) {
        if (tiles_[i].kind != kind || seen++ != next) continue;
        cores_[c].push_back(tiles_[i].name);
        placed[i] = true;
        ++next;
        break;
      }
    }
  if (cores_.empty()) cores_.emplace_back();
  for (std::size_t i = 0; i < tiles_.size(); ++i)
    if (!placed[i]) cores_.front().push_back(tiles_[i].name);
  std::erase_if(cores_, [](const auto& c) { return c.empty(); });
}

void topology::keep_together(std::string first, std::string second) {
  if (!has_tile(first) || !has_tile(second))
    throw topology_error(fmt::format("topology: keep_together names '{}' and '{}', not both tiles", first, second));
  together_.emplace_back(std::move(first), std::move(second));
}

void topology::place_auto(std::size_t cores, bool first_core_alone) {
  cores_.assign(std::max<std::size_t>(cores, 1), {});
  const bool alone = first_core_alone && cores_.size() > 1;
  std::vector<const tile_decl*> rest;
  for (const tile_decl& t : tiles_) {
    if (t.where == placement::first || (t.where == placement::light && !alone)) cores_[0].push_back(t.name);
    else rest.push_back(&t);
  }
  const std::size_t first = cores_.size() > 1 ? 1 : 0;
  const std::size_t span = cores_.size() - first;
  for (std::size_t i = 0; i < rest.size(); ++i) cores_[first + i % span].push_back(rest[i]->name);
  for (const auto& [a, b] : together_) {
    auto holds = [](const std::string& name) {
      return [&name](const std::vector<std::string>& c) { return std::find(c.begin(), c.end(), name) != c.end(); };
    };
    auto to = std::find_if(cores_.begin(), cores_.end(), holds(a));
    auto from = std::find_if(cores_.begin(), cores_.end(), holds(b));
    if (to == from) continue;
    std::erase(*from, b);
    to->push_back(b);
  }
  std::erase_if(cores_, [](const auto& c) { return c.empty(); });
}

void topology::check() const {
  std::map<std::string, int, std::less<>> times;
  for (const auto& core : cores_)
    for (const auto& name : core) ++times[name];
  for (const tile_decl& t : tiles_) {
    const auto it = times.find(t.name);
    const int n = it == times.end() ? 0 : it->second;
    if (n != 1) throw topology_error(fmt::format("topology: tile '{}' is placed on {} core threads, not 1", t.name, n));
  }
  for (const auto& [name, n] : times)
    if (!has_tile(name)) throw topology_error(fmt::format("topology: core threads name '{}', which is not a tile", name));
  for (const auto& [a, b] : together_) {
    const bool same = std::any_of(cores_.begin(), cores_.end(), [&](const std::vector<std::string>& c) {
      return std::find(c.begin(), c.end(), a) != c.end() && std::find(c.begin(), c.end(), b) != c.end();
    });
    if (!same)
      throw topology_error(fmt::format("topology: tiles '{}' and '{}' share state without locks and must be on one "
                                       "core thread", a, b));
  }
}

std::vector<util::core_plan> make_plan(const topology& topo, const std::vector<util::tile*>& built,
                                       const std::function<int(std::size_t)>& cpu_of) {
  std::map<std::string, util::tile*, std::less<>> by_name;
  for (util::tile* t : built)
    if (!by_name.emplace(t->name(), t).second)
      throw std::logic_error(fmt::format("topology: two built tiles are named '{}'", t->name()));
  std::vector<util::core_plan> plan;
  for (std::size_t c = 0; c < topo.cores().size(); ++c) {
    util::core_plan p;
    p.cpu = cpu_of(c);
    for (const std::string& name : topo.cores()[c]) {
      const auto it = by_name.find(name);
      if (it == by_name.end())
        throw std::logic_error(fmt::format("topology: tile '{}' is placed but was not built", name));
      p.tiles.push_back(it->second);
      by_name.erase(it);
    }
    plan.push_back(std::move(p));
  }
  if (!by_name.empty())
    throw std::logic_error(fmt::format("topology: tile '{}' was built but is not placed", by_name.begin()->first));
  return plan;
}

// ---- link_set

struct link_set::ring_slot {
  std::variant<std::unique_ptr<util::spsc_ring<util::frag_desc>>, std::unique_ptr<util::spsc_ring<bank::slot_hash>>,
               std::unique_ptr<util::spsc_ring<tpu::poh_mixin>>, std::unique_ptr<util::spsc_ring<tpu::poh_entry_record>>,
               std::unique_ptr<util::spsc_ring<tpu::ledger_record_ref>>,
               std::unique_ptr<util::spsc_ring<tvu::completed_slot>>,
               std::unique_ptr<util::spsc_ring<gossip::gossip_command>>,
               std::unique_ptr<util::spsc_ring<tpu::poh_reset>>,
               std::unique_ptr<util::spsc_ring<tvu::consensus_event>>,
               std::unique_ptr<util::spsc_ring<tvu::consensus_verdict>>>
      ring;
  void* address = nullptr;
  bool producer_taken = false, consumer_taken = false;
};

namespace {
template <typename T>
void make_ring(auto& variant, void*& address, std::size_t depth) {
  auto r = std::make_unique<util::spsc_ring<T>>(depth);
  address = r.get();
  variant = std::move(r);
}
}  // namespace

link_set::link_set(const topology& topo) : topo_(topo) {
  for (const link_decl& l : topo.links()) {
    auto slot = std::make_unique<ring_slot>();
    switch (l.kind) {
      case link_kind::frags: make_ring<util::frag_desc>(slot->ring, slot->address, l.depth); break;
      case link_kind::slot_hashes: make_ring<bank::slot_hash>(slot->ring, slot->address, l.depth); break;
      case link_kind::mixins: make_ring<tpu::poh_mixin>(slot->ring, slot->address, l.depth); break;
      case link_kind::entries: make_ring<tpu::poh_entry_record>(slot->ring, slot->address, l.depth); break;
      case link_kind::records: make_ring<tpu::ledger_record_ref>(slot->ring, slot->address, l.depth); break;
      case link_kind::completed_slots: make_ring<tvu::completed_slot>(slot->ring, slot->address, l.depth); break;
      case link_kind::gossip_commands: make_ring<gossip::gossip_command>(slot->ring, slot->address, l.depth); break;
      case link_kind::resets: make_ring<tpu::poh_reset>(slot->ring, slot->address, l.depth); break;
      case link_kind::consensus_events:
        make_ring<tvu::consensus_event>(slot->ring, slot->address, l.depth);
        break;
      case link_kind::consensus_verdicts:
        make_ring<tvu::consensus_verdict>(slot->ring, slot->address, l.depth);
        break;
    }
    rings_.push_back(std::move(slot));
  }
}

link_set::~link_set() = default;

void* link_set::take(std::string_view party, std::string_view link, bool producer, link_kind kind) {
  const auto& links = topo_.links();
  const auto it = std::find_if(links.begin(), links.end(), [&](const link_decl& l) { return l.name == link; });
  if (it == links.end()) throw std::logic_error(fmt::format("topology: '{}' asks for link '{}', which is not declared", party, link));
  const link_decl& l = *it;
  ring_slot& slot = *rings_[static_cast<std::size_t>(it - links.begin())];
  const std::string_view owner = producer ? l.producer : l.consumer;
  if (owner != party)
    throw std::logic_error(fmt::format("topology: '{}' asks for the {} end of link '{}', which belongs to '{}'", party,
                                       producer ? "producer" : "consumer", link, owner));
  if (kind != l.kind)
    throw std::logic_error(fmt::format("topology: link '{}' carries {}, '{}' asks for {}", link, to_string(l.kind),
                                       party, to_string(kind)));
  bool& taken = producer ? slot.producer_taken : slot.consumer_taken;
  if (taken)
    throw std::logic_error(fmt::format("topology: the {} end of link '{}' is taken twice", producer ? "producer" : "consumer",
                                       link));
  taken = true;
  return slot.address;
}

void link_set::check_bound() const {
  std::string missing;
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    const link_decl& l = topo_.links()[i];
    if (!rings_[i]->producer_taken) missing += fmt::format(" {} (producer {})", l.name, l.producer);
    if (!rings_[i]->consumer_taken) missing += fmt::format(" {} (consumer {})", l.name, l.consumer);
  }
  if (!missing.empty()) throw std::logic_error("topology: declared links not wired:" + missing);
}

std::uint64_t link_set::pushed(std::size_t link) const noexcept {
  return std::visit([](const auto& r) -> std::uint64_t { return r->pushed_total(); }, rings_[link]->ring);
}

std::uint64_t link_set::popped(std::size_t link) const noexcept {
  return std::visit([](const auto& r) -> std::uint64_t { return r->popped_total(); }, rings_[link]->ring);
}

}  // namespace riptide::node
