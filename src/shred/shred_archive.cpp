#include <riptide/shred/shred_archive.hpp>

#include <algorithm>

namespace riptide::shred {
namespace {

ledger::ledger open_log(const shred_archive_config& config, ledger::repair_report& report) {
  ledger::ledger_config lc;
  lc.dir = config.dir;
  lc.segment_bytes = config.segment_bytes;
  return ledger::ledger::repair(lc, report);
}

}  // namespace

shred_archive::shred_archive(const shred_archive_config& config)
    : log_(open_log(config, report_)) {}

shred_archive::~shred_archive() = default;

std::uint64_t shred_archive::drop_from(std::uint64_t next_slot) {
  const auto index = log_.slot_index();
  const auto first = std::lower_bound(index.begin(), index.end(), next_slot,
                                      [](const ledger::slot_records& r, std::uint64_t s) { return r.slot < s; });
  if (first == index.end()) return 0;
  const std::uint64_t before = log_.stats().records;
  log_.truncate(first->first);
  return before - log_.stats().records;
}

bool shred_archive::put(const shred_view& v) noexcept {
  if (v.bytes().empty() || !v.is_data()) {
    ++counters_.not_data;
    return false;
  }
  if (!log_.empty() && v.slot() < log_.last_slot()) {
    ++counters_.out_of_order;
    return false;
  }
  if (log_.append(ledger::record_type::shred, v.slot(), v.bytes()) != ledger::append_error::none) {
    ++counters_.append_failed;
    return false;
  }
  ++counters_.shreds_archived;
  return true;
}

template <class F>
void shred_archive::scan(std::uint64_t slot, F&& f) const noexcept {
  auto cursor = log_.read_slot(slot);
  ledger::record_view r;
  while (cursor.next(r)) {
    ++counters_.records_scanned;
    shred_view v;
    if (r.type != ledger::record_type::shred || parse_shred(r.payload, v) != shred_error::none) continue;
    if (!f(v)) return;
  }
}

std::span<const std::uint8_t> shred_archive::data(std::uint64_t slot,
                                                  std::uint32_t index) const noexcept {
  std::span<const std::uint8_t> found;
  scan(slot, [&](const shred_view& v) {
    if (v.index() != index) return true;
    found = v.bytes();
    return false;
  });
  ++(found.empty() ? counters_.lookups_missed : counters_.lookups_hit);
  return found;
}

std::span<const std::uint8_t> shred_archive::highest_data(std::uint64_t slot,
                                                          std::uint32_t at_or_above) const noexcept {
  std::span<const std::uint8_t> found;
  std::uint32_t best = 0;
  scan(slot, [&](const shred_view& v) {
    if (v.index() >= at_or_above && (found.empty() || v.index() > best)) {
      found = v.bytes();
      best = v.index();
    }
    return true;
  });
  ++(found.empty() ? counters_.lookups_missed : counters_.lookups_hit);
  return found;
}

std::optional<std::uint64_t> shred_archive::parent_of(std::uint64_t slot) const noexcept {
  std::optional<std::uint64_t> parent;
  scan(slot, [&](const shred_view& v) {
    parent = v.parent_slot();
    return false;
  });
  ++(parent ? counters_.lookups_hit : counters_.lookups_missed);
  return parent;
}

std::optional<std::uint64_t> shred_archive::newest_slot() const noexcept {
  if (log_.empty()) return std::nullopt;
  return log_.last_slot();
}

}  // namespace riptide::shred
