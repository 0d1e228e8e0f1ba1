#include <riptide/net/fault.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace riptide::net {

namespace {

void check_probability(double p, const std::string& what) {
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument("fault_config: " + what + " = " + std::to_string(p) +
                                " is outside [0, 1]");
}

}  // namespace

bool fault_config::active() const noexcept {
  for (double p : drop)
    if (p > 0) return true;
  return duplicate > 0 || reorder_window != 0;
}

fault_injector::fault_injector(const fault_config& config)
    : config_(config), active_(config.active()), window_(config.reorder_window) {
  for (std::size_t i = 0; i < port_kind_count; ++i)
    check_probability(config.drop[i], std::string("drop[") + to_string(static_cast<port_kind>(i)) + "]");
  check_probability(config.duplicate, "duplicate");
  if (config.reorder_window > max_reorder_window)
    throw std::invalid_argument("fault_config: reorder_window = " +
                                std::to_string(config.reorder_window) + " is above " +
                                std::to_string(max_reorder_window));
  rng_ = util::xoshiro256ss(config.seed);
  slots_.resize(port_kind_count * window_);
}

std::uint64_t fault_injector::next_u64() noexcept { return rng_.next(); }

bool fault_injector::chance(double probability) noexcept {
  // 53 random bits as a double in [0, 1): probability 1 always hits, 0 never is drawn.
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53 < probability;
}

fault_injector::verdict fault_injector::judge(port_kind port) noexcept {
  const auto p = static_cast<std::size_t>(port);
  if (p < port_kind_count && config_.drop[p] > 0 && chance(config_.drop[p])) {
    ++dropped_;
    return verdict::drop;
  }
  if (config_.duplicate > 0 && chance(config_.duplicate)) {
    ++duplicated_;
    return verdict::duplicate;
  }
  return verdict::deliver;
}

fault_injector::reorder_step fault_injector::reorder(port_kind port, const util::frag_desc& in,
                                                     util::frag_desc& out) noexcept {
  const auto p = static_cast<std::size_t>(port);
  if (window_ == 0 || p >= port_kind_count) {
    out = in;
    return reorder_step::in_order;
  }
  window_state& w = windows_[p];
  const std::uint64_t seq = w.next_seq++;
  auto append = [&] {
    slot(p, w.count) = held_packet{in, seq};
    ++w.count;
  };
  // The oldest has seen W + 1 later arrivals: it must leave now, in order.
  if (w.count != 0 && seq - slot(p, 0).seq > window_) {
    out = slot(p, 0).desc;
    w.head = (w.head + 1) % window_;
    --w.count;
    append();
    return reorder_step::in_order;
  }
  if (w.count < window_) {
    append();
    return reorder_step::held;
  }
  // Full: release one of the W held or the newcomer, uniformly (modulo bias is < 2^-50).
  const std::size_t pick = static_cast<std::size_t>(next_u64() % (window_ + 1));
  if (pick == window_) {
    out = in;  // the newcomer overtakes everything held
    ++reordered_;
    return reorder_step::overtaking;
  }
  out = slot(p, pick).desc;
  // Close the gap: shift the younger ones down, keeping arrival order, then append.
  for (std::size_t i = pick; i + 1 < w.count; ++i) slot(p, i) = slot(p, i + 1);
  --w.count;
  append();
  if (pick == 0) return reorder_step::in_order;
  ++reordered_;
  return reorder_step::overtaking;
}

bool fault_injector::flush_one(port_kind port, util::frag_desc& out) noexcept {
  const auto p = static_cast<std::size_t>(port);
  if (window_ == 0 || p >= port_kind_count || windows_[p].count == 0) return false;
  window_state& w = windows_[p];
  out = slot(p, 0).desc;
  w.head = (w.head + 1) % window_;
  --w.count;
  return true;
}

std::size_t fault_injector::held(port_kind port) const noexcept {
  const auto p = static_cast<std::size_t>(port);
  return p < port_kind_count ? windows_[p].count : 0;
}

std::size_t fault_injector::held_total() const noexcept {
  std::size_t n = 0;
  for (const auto& w : windows_) n += w.count;
  return n;
}

}  // namespace riptide::net
