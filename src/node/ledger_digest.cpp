#include <algorithm>

#include <riptide/crypto/sha256.hpp>
#include <riptide/ledger/entry_codec.hpp>
#include <riptide/node/ledger_tool.hpp>

namespace riptide::node {

std::vector<slot_digest> ledger_slot_digests(const std::filesystem::path& dir) {
  ledger::ledger_config cfg;
  cfg.dir = dir;
  cfg.read_only = true;  // a tool that looks never writes
  const auto lg = ledger::ledger::open(cfg);
  std::vector<slot_digest> out;
  for (const ledger::slot_records& sr : lg.slot_index()) {
    if (sr.count == 0) continue;
    slot_digest d;
    d.slot = sr.slot;
    crypto::sha256_stream h;
    lg.for_each_in_slot(sr.slot, [&](const ledger::record_view& v) {
      std::uint8_t head[14];
      const auto type = static_cast<std::uint16_t>(v.type);
      const auto len = static_cast<std::uint32_t>(v.payload.size());
      for (int i = 0; i < 2; ++i) head[i] = static_cast<std::uint8_t>(type >> (8 * i));
      for (int i = 0; i < 8; ++i) head[2 + i] = static_cast<std::uint8_t>(v.slot >> (8 * i));
      for (int i = 0; i < 4; ++i) head[10 + i] = static_cast<std::uint8_t>(len >> (8 * i));
      h.update(head);
      h.update(v.payload);
      ++d.records;
      d.complete = false;
      ledger::slot_meta m;
      if (v.type == ledger::record_type::slot_meta && ledger::decode_meta(v.payload, m) == ledger::entry_error::none &&
          m.kind == ledger::meta_kind::slot_end) {
        d.complete = true;
        d.bank_hash = m.bank_hash;
        d.parent = m.parent_slot;
        d.leader = m.leader;
      }
    });
    d.digest = h.finish();
    out.push_back(d);
  }
  // Rooted: walk the parents down from the root, as far as the ledger holds complete slots.
  auto find = [&out](std::uint64_t slot) -> slot_digest* {
    auto it = std::lower_bound(out.begin(), out.end(), slot,
                               [](const slot_digest& a, std::uint64_t s) { return a.slot < s; });
    return it != out.end() && it->slot == slot ? &*it : nullptr;
  };
  for (slot_digest* d = lg.root() == ledger::no_root ? nullptr : find(lg.root()); d != nullptr && !d->rooted;) {
    d->rooted = true;
    if (!d->complete || d->parent >= d->slot) break;  // slot 0 (its own parent) ends the walk
    d = find(d->parent);
  }
  return out;
}

std::optional<std::uint64_t> highest_led_slot(const ledger::ledger& lg, const crypto::pubkey& leader) {
  std::optional<std::uint64_t> highest;
  lg.for_each([&](const ledger::record_view& v) {
    ledger::slot_meta m;
    if (v.type == ledger::record_type::slot_meta && ledger::decode_meta(v.payload, m) == ledger::entry_error::none &&
        m.kind == ledger::meta_kind::slot_end && m.leader == leader)
      highest = std::max(highest.value_or(0), v.slot);
  });
  return highest;
}

}  // namespace riptide::node
