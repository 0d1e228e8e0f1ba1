#include <riptide/node/tpu_pipeline.hpp>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include <fmt/format.h>

namespace riptide::node {

namespace {
constexpr std::size_t mixin_ring = 64;       // microblocks a bank tile has waiting for PoH
constexpr std::size_t blockhash_ring = 256;  // > 150 resumed blockhashes plus live ones

std::string verify_name(std::size_t i) { return fmt::format("verify{}", i); }
std::string bank_name(std::size_t j) { return fmt::format("bank{}", j); }
std::string verify_out(std::size_t i) { return fmt::format("verify{}>dedup", i); }
std::string bank_in(const tpu_shape& s, std::size_t j) {
  return s.forward ? fmt::format("forward>bank{}", j) : fmt::format("dedup>bank{}", j);
}
constexpr const char* to_forward = "dedup>forward";
std::string mixins_of(std::size_t j) { return fmt::format("bank{}>poh", j); }
constexpr const char* blockhashes = "poh>dedup";
std::string tpu_free_of(const tpu_shape& shape, const std::string& tile) {
  return fmt::format("{}>{}.free", tile, shape.source);
}
constexpr const char* entries = "poh>ledger";
}  // namespace

std::string tpu_verify_in(const tpu_shape& shape, std::size_t verify) {
  return fmt::format("{}>verify{}", shape.source, verify);
}

std::string tpu_verify_free(const tpu_shape& shape, std::size_t verify) {
  return tpu_free_of(shape, verify_name(verify));
}

std::vector<std::string> tpu_release_links(const tpu_shape& shape) {
  std::vector<std::string> out;
  if (shape.verify_tiles > 0) out.push_back(tpu_free_of(shape, "dedup"));
  if (shape.forward) out.push_back(tpu_free_of(shape, "forward"));
  for (std::size_t j = 0; j < shape.bank_tiles; ++j) out.push_back(tpu_free_of(shape, bank_name(j)));
  return out;
}

void declare_tpu(topology& topo, const tpu_shape& s) {
  if (s.bank_tiles > 0 && (s.verify_tiles == 0 || !s.ledger))
    throw std::invalid_argument("tpu: bank tiles need verify tiles and the ledger tile");
  if (s.records_out && !s.ledger) throw std::invalid_argument("tpu: records_out needs the ledger tile");
  if (s.forward && s.bank_tiles != 1) throw std::invalid_argument("tpu: the forward tile feeds exactly one bank tile");
  // Declaration order is auto placement's order: PoH first, the light tiles, then the heavy.
  topo.add_tile("poh", "poh", placement::first);
  if (s.ledger) topo.add_tile("ledger", "ledger", placement::light);
  if (s.verify_tiles > 0) topo.add_tile("dedup", "dedup", placement::light);
  if (s.forward) topo.add_tile("forward", "forward", placement::light);
  for (std::size_t j = 0; j < s.bank_tiles; ++j) topo.add_tile(bank_name(j), "bank", placement::heavy);
  for (std::size_t i = 0; i < s.verify_tiles; ++i) topo.add_tile(verify_name(i), "verify", placement::heavy);

  for (std::size_t i = 0; i < s.verify_tiles; ++i) {
    // The network does not wait: a full verify ring drops (counted by the source).
    topo.add_link(tpu_verify_in(s, i), link_kind::frags, link_mode::lossy, s.verify_ring, s.source, verify_name(i));
    topo.add_link(verify_out(i), link_kind::frags, link_mode::reliable, s.verify_ring, verify_name(i), "dedup");
    topo.add_link(tpu_free_of(s, verify_name(i)), link_kind::frags, link_mode::reliable, s.free_ring,
                  verify_name(i), s.source);
  }
  if (s.verify_tiles > 0)
    topo.add_link(tpu_free_of(s, "dedup"), link_kind::frags, link_mode::reliable, s.free_ring, "dedup", s.source);
  if (s.forward) {
    topo.add_link(to_forward, link_kind::frags, link_mode::reliable, s.bank_ring, "dedup", "forward");
    topo.add_link(tpu_free_of(s, "forward"), link_kind::frags, link_mode::reliable, s.free_ring, "forward", s.source);
    const std::size_t frames = std::max<std::size_t>(2, std::bit_ceil(s.forward_frames));
    topo.add_link(tpu_forward_tx, link_kind::frags, link_mode::lossy, frames, "forward", s.source);
    topo.add_link(tpu_forward_tx_free, link_kind::frags, link_mode::reliable, frames, s.source, "forward");
  }
  for (std::size_t j = 0; j < s.bank_tiles; ++j) {
    topo.add_link(bank_in(s, j), link_kind::frags, link_mode::reliable, s.bank_ring, s.forward ? "forward" : "dedup",
                  bank_name(j));
    topo.add_link(tpu_free_of(s, bank_name(j)), link_kind::frags, link_mode::reliable, s.free_ring, bank_name(j),
                  s.source);
    topo.add_link(mixins_of(j), link_kind::mixins, link_mode::reliable, mixin_ring, bank_name(j), "poh");
  }
  // Dedup checks blockhash age only where a bank executes what it passes.
  if (s.bank_tiles > 0)
    topo.add_link(blockhashes, link_kind::slot_hashes, link_mode::lossy, blockhash_ring, "poh", "dedup");
  if (s.ledger) topo.add_link(entries, link_kind::entries, link_mode::reliable, s.entries_ring, "poh", "ledger");
  if (s.records_out)
    topo.add_link(tpu_records_link, link_kind::records, link_mode::reliable, s.records_ring, "ledger", "shred");
}

std::vector<util::tile*> tpu_tiles::all() const {
  std::vector<util::tile*> out;
  if (poh) out.push_back(poh.get());
  if (ledger) out.push_back(ledger.get());
  if (forward) out.push_back(forward.get());
  if (dedup) out.push_back(dedup.get());
  for (const auto& b : banks) out.push_back(b.get());
  for (const auto& v : verifiers) out.push_back(v.get());
  return out;
}

tpu_tiles build_tpu(const tpu_shape& s, link_set& rings, tpu_resources& res) {
  using frags = util::frag_desc;
  if (s.verify_tiles > 0 && res.frames == nullptr) throw std::invalid_argument("tpu: verify tiles need the frames");
  if (s.bank_tiles > 0 && (res.forks == nullptr || res.gate == nullptr || res.stores.size() != s.bank_tiles))
    throw std::invalid_argument("tpu: bank tiles need the forks, the gate and one microblock store each");
  if (s.ledger && res.ledger == nullptr) throw std::invalid_argument("tpu: the ledger tile needs a ledger");
  tpu_tiles t;

  std::vector<util::spsc_ring<frags>*> to_dedup;
  for (std::size_t i = 0; i < s.verify_tiles; ++i) {
    const std::string name = verify_name(i);
    to_dedup.push_back(&rings.out<frags>(name, verify_out(i)));
    t.verifiers.push_back(std::make_unique<tpu::verify_tile>(name, *res.frames,
                                                             rings.in<frags>(name, tpu_verify_in(s, i)),
                                                             *to_dedup.back(),
                                                             &rings.out<frags>(name, tpu_free_of(s, name)), res.verify));
  }
  util::spsc_ring<bank::slot_hash>* hashes_out = nullptr;
  if (s.bank_tiles > 0) {
    hashes_out = &rings.out<bank::slot_hash>("poh", blockhashes);
    for (const bank::slot_hash& h : res.resumed_blockhashes)
      if (!hashes_out->try_push(h))
        throw std::runtime_error("tpu: the blockhash ring is too small for the resumed chain's recent blockhashes");
  }
  if (s.verify_tiles > 0) {
    std::vector<util::spsc_ring<frags>*> from_verify, to_bank;
    for (std::size_t i = 0; i < s.verify_tiles; ++i) from_verify.push_back(&rings.in<frags>("dedup", verify_out(i)));
    if (s.forward) {
      to_bank.push_back(&rings.out<frags>("dedup", to_forward));
    } else {
      for (std::size_t j = 0; j < s.bank_tiles; ++j) to_bank.push_back(&rings.out<frags>("dedup", bank_in(s, j)));
    }
    t.dedup = std::make_unique<tpu::dedup_tile>(
        "dedup", res.dedup, res.frames, std::move(from_verify), std::move(to_bank),
        &rings.out<frags>("dedup", tpu_free_of(s, "dedup")),
        s.bank_tiles > 0 ? &rings.in<bank::slot_hash>("dedup", blockhashes) : nullptr);
  }
  std::vector<util::spsc_ring<tpu::poh_mixin>*> mixins;
  for (std::size_t j = 0; j < s.bank_tiles; ++j) {
    const std::string name = bank_name(j);
    tpu::bank_tile_config bc = res.bank;
    bc.index = static_cast<std::uint32_t>(j);
    t.banks.push_back(std::make_unique<tpu::bank_tile>(
        name, *res.forks, *res.gate, *res.frames, rings.in<frags>(name, bank_in(s, j)),
        &rings.out<frags>(name, tpu_free_of(s, name)), rings.out<tpu::poh_mixin>(name, mixins_of(j)),
        *res.stores[j], bc));
    mixins.push_back(&rings.in<tpu::poh_mixin>("poh", mixins_of(j)));
  }
  if (s.forward) {
    if (res.timeline == nullptr || res.forward_board == nullptr || res.contacts == nullptr)
      throw std::invalid_argument("tpu: the forward tile needs the leader timeline, the chain board and the contact book");
    tpu::forward_tile_config fc = res.forward;
    fc.tx_frames = static_cast<std::uint32_t>(s.forward_frames);
    t.forward = std::make_unique<tpu::forward_tile>(
        "forward", fc, *res.timeline, *res.contacts, *res.forward_board, *res.frames,
        rings.in<frags>("forward", to_forward), &rings.out<frags>("forward", bank_in(s, 0)),
        &rings.out<frags>("forward", tpu_free_of(s, "forward")), rings.out<frags>("forward", tpu_forward_tx),
        rings.in<frags>("forward", tpu_forward_tx_free));
  }
  std::vector<util::spsc_ring<bank::slot_hash>*> hash_outs;
  if (hashes_out != nullptr) hash_outs.push_back(hashes_out);
  t.poh = std::make_unique<tpu::poh_tile>("poh", res.start_hash, res.poh, std::move(mixins),
                                          s.ledger ? &rings.out<tpu::poh_entry_record>("poh", entries) : nullptr,
                                          std::move(hash_outs), res.board);
  if (s.bank_tiles > 0) t.poh->connect_gate(res.gate, s.bank_tiles * res.bank.max_pending);
  if (s.ledger) {
    tpu::ledger_tile_config lc = res.ledger_tile;
    lc.start_hash = res.start_hash;
    lc.hashes_per_tick = res.poh.hashes_per_tick;
    lc.ticks_per_slot = res.poh.ticks_per_slot;
    lc.board = res.board;
    lc.banks = res.stores;
    if (s.bank_tiles > 0) {
      lc.forks = res.forks;
      lc.gate = res.gate;
    }
    lc.records_out = s.records_out ? &rings.out<tpu::ledger_record_ref>("ledger", tpu_records_link) : nullptr;
    t.ledger = std::make_unique<tpu::ledger_tile>("ledger", *res.ledger, lc,
                                                  rings.in<tpu::poh_entry_record>("ledger", entries));
  }
  return t;
}

}  // namespace riptide::node
