#pragma once
// The wiring of a node as data: which tiles exist, which rings link them, and which core
// thread runs each tile. Declared once, then the node, bench_pipeline and tile tests are
// built from the declaration (the same functions declare the TPU for all of them).
//
//   topology t;                                   declare
//   t.add_tile("verify0", "verify", placement::heavy);
//   t.add_tile("dedup", "dedup", placement::light);
//   t.add_link("verify0>dedup", link_kind::frags, link_mode::reliable, 1024, "verify0", "dedup");
//   t.place_auto(cpus, false);                    or t.place(cfg.layout.cores)
//   t.check();                                    every tile placed once; links well formed
//   link_set rings(t);                            allocate every ring
//   auto& out = rings.out<util::frag_desc>("verify0", "verify0>dedup");   hand them to tiles
//   auto& in = rings.in<util::frag_desc>("dedup", "verify0>dedup");
//   rings.check_bound();                          every ring was taken by both of its ends
//
// Contract
// - A link is one single-producer single-consumer ring (util::spsc_ring) of one element
//   type (link_kind). Its producer and consumer are tiles of the topology or *outside
//   parties* (add_outside): threads that are not tiles, such as the HTTP API or a
//   benchmark's driver. A tile may take only its own ends: out() checks that the caller is
//   the declared producer, in() the declared consumer, and the element type; anything else is
//   a std::logic_error naming the link (a wiring bug, found at start-up). check_bound() then
//   proves every declared ring was handed to both of its ends: the declaration cannot
//   describe rings the code does not build, or miss ones it does.
// - link_mode says what the producer does when the ring is full: reliable waits
//   (backpressure), lossy drops and counts the drop. The tile's code does it; the
//   declaration records it so the wiring reads in one place.
// - Placement: place() follows layout.cores, which names tile *kinds* per core thread: the
//   n-th "verify" is the n-th verify tile declared; a kind with no tile left is skipped (a
//   layout may name tiles this node does not run; config validation refuses unknown kinds); a
//   declared tile the layout does not name runs on the first core thread (layouts written
//   before the tile existed). place_auto() puts `first` tiles and (unless first_core_alone)
//   `light` tiles on core thread 0 and spreads the rest round-robin over the others, in
//   declaration order.
// - Declaration errors (duplicate names, unknown ends, bad depth) are topology_error (a
//   std::runtime_error) thrown where they happen. Pure: no threads, no I/O; one thread
//   builds a topology at start-up and it is read-only afterwards.

#include <riptide/bank/chain_board.hpp>
#include <riptide/gossip/gossip_tile.hpp>
#include <riptide/tpu/ledger_tile.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/tvu/consensus_tile.hpp>
#include <riptide/tvu/tvu_tile.hpp>
#include <riptide/util/runtime.hpp>
#include <riptide/util/spsc_ring.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace riptide::node {

// Element types of links; link_set maps each to its C++ type (link_kind_of below).
enum class link_kind : std::uint8_t {
  frags,            // util::frag_desc: a packet frame and its length
  slot_hashes,      // bank::slot_hash: a slot's blockhash (PoH -> dedup)
  mixins,           // tpu::poh_mixin: a microblock to mix into PoH (bank -> PoH)
  entries,          // tpu::poh_entry_record: ticks and entries (PoH -> ledger)
  records,          // tpu::ledger_record_ref: stored records (ledger -> shred)
  completed_slots,  // tvu::completed_slot: an assembled slot (tvu -> replay and back)
  gossip_commands,  // gossip::gossip_command: operator requests (HTTP API -> gossip)
  resets,           // tpu::poh_reset: the bank PoH builds on next (replay -> PoH)
  consensus_events, // tvu::consensus_event: stored blocks and landed votes (replay -> consensus)
  consensus_verdicts,  // tvu::consensus_verdict: the root and the reset (consensus -> replay)
};
[[nodiscard]] const char* to_string(link_kind kind) noexcept;

enum class link_mode : std::uint8_t { reliable, lossy };

// Where place_auto() puts a tile.
enum class placement : std::uint8_t {
  first,  // core thread 0 always (PoH)
  light,  // core thread 0 unless it is left to the `first` tiles (polling, low rates)
  heavy,  // spread over the other core threads (verify, bank, replay)
};

class topology_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tile_decl {
  std::string name;  // unique: "verify0", "poh"
  std::string kind;  // what layout.cores names: "verify", "poh"
  placement where = placement::light;
};

struct link_decl {
  std::string name;  // unique; by convention "producer>consumer[.what]"
  link_kind kind = link_kind::frags;
  link_mode mode = link_mode::reliable;
  std::size_t depth = 0;  // ring slots: a power of two >= 2
  std::string producer, consumer;
};

class topology {
 public:
  void add_tile(std::string name, std::string kind, placement where);
  void add_outside(std::string name);
  void add_link(std::string name, link_kind kind, link_mode mode, std::size_t depth, std::string producer,
                std::string consumer);

  // Tiles that share state without locks (one's quiescent calls must never overlap the
  // other's): they must run on one core thread. place_auto puts `second` where `first` is.
  void keep_together(std::string first, std::string second);

  void place(const std::vector<std::vector<std::string>>& cores);
  void place_auto(std::size_t cores, bool first_core_alone);
  // Throws topology_error unless every tile is placed exactly once and tiles kept together
  // share a core thread.
  void check() const;

  [[nodiscard]] const std::vector<tile_decl>& tiles() const noexcept { return tiles_; }
  [[nodiscard]] const std::vector<link_decl>& links() const noexcept { return links_; }
  [[nodiscard]] const std::vector<std::vector<std::string>>& cores() const noexcept { return cores_; }
  [[nodiscard]] bool has_tile(std::string_view name) const noexcept;
  [[nodiscard]] const link_decl* find_link(std::string_view name) const noexcept;

 private:
  [[nodiscard]] bool is_party(std::string_view name) const noexcept;

  std::vector<tile_decl> tiles_;
  std::vector<std::string> outside_;
  std::vector<link_decl> links_;
  std::vector<std::vector<std::string>> cores_;  // tile names per core thread
  std::vector<std::pair<std::string, std::string>> together_;
};

// The element type of each link kind.
template <typename T>
struct link_kind_of;
template <> struct link_kind_of<util::frag_desc> { static constexpr link_kind value = link_kind::frags; };
template <> struct link_kind_of<bank::slot_hash> { static constexpr link_kind value = link_kind::slot_hashes; };
template <> struct link_kind_of<tpu::poh_mixin> { static constexpr link_kind value = link_kind::mixins; };
template <> struct link_kind_of<tpu::poh_entry_record> { static constexpr link_kind value = link_kind::entries; };
template <> struct link_kind_of<tpu::ledger_record_ref> { static constexpr link_kind value = link_kind::records; };
template <> struct link_kind_of<tvu::completed_slot> { static constexpr link_kind value = link_kind::completed_slots; };
template <> struct link_kind_of<tpu::poh_reset> { static constexpr link_kind value = link_kind::resets; };
template <> struct link_kind_of<tvu::consensus_event> {
  static constexpr link_kind value = link_kind::consensus_events;
};
template <> struct link_kind_of<tvu::consensus_verdict> {
  static constexpr link_kind value = link_kind::consensus_verdicts;
};
template <> struct link_kind_of<gossip::gossip_command> {
  static constexpr link_kind value = link_kind::gossip_commands;
};

// Every ring of a topology, allocated at once; each handed out once to its producer and once
// to its consumer. Owns the rings: it must outlive the tiles that use them.
class link_set {
 public:
  explicit link_set(const topology& topo);
  ~link_set();
  link_set(const link_set&) = delete;
  link_set& operator=(const link_set&) = delete;

  template <typename T>
  util::spsc_ring<T>& out(std::string_view producer, std::string_view link) {
    return *static_cast<util::spsc_ring<T>*>(take(producer, link, true, link_kind_of<T>::value));
  }
  template <typename T>
  util::spsc_ring<T>& in(std::string_view consumer, std::string_view link) {
    return *static_cast<util::spsc_ring<T>*>(take(consumer, link, false, link_kind_of<T>::value));
  }
  // std::logic_error naming every link one of whose ends was never taken.
  void check_bound() const;

  // For link metrics, in topology::links() order: elements pushed and popped so far (free
  // running, read from any thread).
  [[nodiscard]] std::size_t size() const noexcept { return rings_.size(); }
  [[nodiscard]] std::uint64_t pushed(std::size_t link) const noexcept;
  [[nodiscard]] std::uint64_t popped(std::size_t link) const noexcept;

 private:
  struct ring_slot;
  void* take(std::string_view party, std::string_view link, bool producer, link_kind kind);

  const topology& topo_;
  std::vector<std::unique_ptr<ring_slot>> rings_;
};

// The runtime's plan: one core_plan per core thread of the placement, naming `built` tiles by
// their names, pinned to cpu_of(core thread index). std::logic_error if a placed tile was not
// built, or a built tile is not in the topology.
[[nodiscard]] std::vector<util::core_plan> make_plan(const topology& topo, const std::vector<util::tile*>& built,
                                                     const std::function<int(std::size_t)>& cpu_of);

}  // namespace riptide::node
