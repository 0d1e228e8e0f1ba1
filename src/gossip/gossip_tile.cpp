#include <riptide/gossip/gossip_tile.hpp>

#include <cstring>

#include <riptide/net/udp.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::gossip {

namespace {
std::uint64_t now_ms() noexcept { return util::unix_time_ns() / 1'000'000; }
constexpr std::size_t rx_batch = 32;

// Engine counters as name/value pairs for /gossip/stats (arrays become name.reason).
std::vector<std::pair<std::string, std::uint64_t>> flatten(const engine::stats& st) {
  std::vector<std::pair<std::string, std::uint64_t>> v;
  auto add = [&](std::string name, std::uint64_t value) { v.emplace_back(std::move(name), value); };
  add("packets_in", st.packets_in);
  add("bytes_in", st.bytes_in);
  add("packets_out", st.packets_out);
  add("bytes_out", st.bytes_out);
  for (std::size_t i = 1; i < message_type_count; ++i) {
    const char* t = to_string(static_cast<message_type>(i));
    add(std::string("packets_in.") + t, st.packets_in_by_type[i]);
    add(std::string("packets_out.") + t, st.packets_out_by_type[i]);
  }
  for (std::size_t i = 1; i < parse_error_count; ++i)
    add(std::string("parse_errors.") + to_string(static_cast<parse_error>(i)), st.parse_errors[i]);
  add("shred_version_mismatch", st.shred_version_mismatch);
  add("from_self", st.from_self);
  add("outgoing_dropped", st.outgoing_dropped);
  add("internal_errors", st.internal_errors);
  add("values_received", st.values_received);
  add("values_inserted", st.values_inserted);
  add("values_updated", st.values_updated);
  add("values_duplicate", st.values_duplicate);
  add("values_promoted", st.values_promoted);
  add("values_outdated", st.values_outdated);
  for (std::size_t i = 0; i < value_reject_count; ++i)
    add(std::string("values_rejected.") + to_string(static_cast<value_reject>(i)), st.values_rejected[i]);
  add("signatures_verified", st.signatures_verified);
  add("values_purged", st.values_purged);
  add("peers_purged", st.peers_purged);
  add("push_messages_sent", st.push_messages_sent);
  add("push_values_sent", st.push_values_sent);
  add("prunes_sent", st.prunes_sent);
  add("prune_origins_sent", st.prune_origins_sent);
  add("prunes_received", st.prunes_received);
  add("prune_origins_received", st.prune_origins_received);
  for (std::size_t i = 0; i < prune_reject_count; ++i)
    add(std::string("prunes_rejected.") + to_string(static_cast<prune_reject>(i)), st.prunes_rejected[i]);
  add("active_set_rotations", st.active_set_rotations);
  add("pull_requests_sent", st.pull_requests_sent);
  add("pull_requests_received", st.pull_requests_received);
  add("pull_requests_untrusted", st.pull_requests_untrusted);
  add("pull_responses_sent", st.pull_responses_sent);
  add("pull_response_values_sent", st.pull_response_values_sent);
  add("pull_responses_received", st.pull_responses_received);
  add("pull_responses_truncated", st.pull_responses_truncated);
  add("pings_sent", st.pings_sent);
  add("pings_received", st.pings_received);
  add("pings_rejected", st.pings_rejected);
  add("pongs_sent", st.pongs_sent);
  add("pongs_received", st.pongs_received);
  add("pongs_bad_token", st.pongs_bad_token);
  add("pongs_bad_signature", st.pongs_bad_signature);
  add("node_restarts_detected", st.node_restarts_detected);
  add("duplicate_instances_detected", st.duplicate_instances_detected);
  add("duplicate_identity_detected", st.duplicate_identity_detected);
  add("sign_failures", st.sign_failures);
  return v;
}
}  // namespace

gossip_tile::gossip_tile(std::string name, const crypto::keypair& identity, const contact_info& self,
                         const gossip_tile_config& config, const util::frame_pool& rx_pool,
                         util::spsc_ring<util::frag_desc>& rx_in,
                         util::spsc_ring<util::frag_desc>& rx_release,
                         util::spsc_ring<util::frag_desc>& tx_out,
                         util::spsc_ring<util::frag_desc>& tx_release,
                         util::spsc_ring<gossip_command>* commands, snapshot_board* board)
    : util::tile(std::move(name)),
      engine_(identity, self, config.engine, config.entrypoints, config.seed),
      self_(self), config_(config), rx_pool_(rx_pool), rx_in_(rx_in), rx_release_(rx_release),
      tx_out_(tx_out), tx_release_(tx_release), commands_(commands), board_(board),
      tx_pool_(config.tx_frames), tx_free_(0, config.tx_frames) {}

std::vector<std::size_t> gossip_tile::drop_counters() const {
  return {c_tx_no_frame, c_tx_ring_full, c_rx_release_full, c_commands_rejected};
}

std::vector<std::string_view> gossip_tile::own_counter_names() const {
  return {"rx_packets", "tx_packets", "tx_no_frame", "tx_ring_full", "rx_release_full",
          "commands", "commands_rejected", "snapshots", "peers_active", "table_size", "contacts_changed"};
}

int gossip_tile::reclaim_tx() noexcept {
  util::frag_desc batch[64];
  const std::size_t n = tx_release_.try_pop_batch(batch);
  for (std::size_t i = 0; i < n; ++i) (void)tx_free_.release(batch[i].frame);
  return static_cast<int>(n);
}

int gossip_tile::send_outgoing() noexcept {
  int sent = 0;
  for (;;) {
    if (!outgoing_pending_) {
      if (!engine_.pop_outgoing(pending_)) break;
      outgoing_pending_ = true;
    }
    std::uint32_t frame;
    if (!tx_free_.try_acquire(frame)) {
      count(c_tx_no_frame);
      break;  // keep the packet pending until a frame comes back
    }
    auto bytes = tx_pool_.frame(frame);
    std::memcpy(bytes.data(), pending_.bytes.data(), pending_.len);
    const net::endpoint to{pending_.to.ip, pending_.to.port};
    if (!tx_out_.try_push(util::frag_desc{frame, pending_.len, config_.gossip_port_kind, to.pack()})) {
      (void)tx_free_.release(frame);
      count(c_tx_ring_full);
      break;
    }
    outgoing_pending_ = false;
    ++sent;
  }
  if (sent != 0) count(c_tx_packets, static_cast<std::uint64_t>(sent));
  return sent;
}

int gossip_tile::poll() noexcept {
  int work = reclaim_tx();
  const std::uint64_t now = now_ms();
  util::frag_desc batch[rx_batch];
  const std::size_t n = rx_in_.try_pop_batch(batch);
  for (std::size_t i = 0; i < n; ++i) {
    const auto from = net::endpoint::unpack(batch[i].meta);
    if (rx_pool_.contains(batch[i].frame) && batch[i].len <= rx_pool_.frame_bytes())
      engine_.on_packet(socket_addr{from.ip, from.port},
                        rx_pool_.frame(batch[i].frame).first(batch[i].len), now);
    if (!rx_release_.try_push(batch[i])) count(c_rx_release_full);
  }
  if (n != 0) count(c_rx_packets, n);
  work += static_cast<int>(n);
  if (commands_ != nullptr) {
    gossip_command cmd;
    if (commands_->try_pop(cmd)) {
      const bool ok = engine_.set_data(std::string_view(cmd.key, cmd.key_len),
                                       std::string_view(cmd.value, cmd.value_len), now);
      count(ok ? c_commands : c_commands_rejected);
      ++work;
    }
  }
  if (now != last_tick_ms_) {
    engine_.tick(now);
    last_tick_ms_ = now;
  }
  work += send_outgoing();
  return work;
}

void gossip_tile::housekeep(std::uint64_t) noexcept {
  const std::uint64_t now = now_ms();
  if ((board_ != nullptr || contacts_ != nullptr) && now - last_snapshot_ms_ >= config_.snapshot_interval_ms) {
    last_snapshot_ms_ = now;
    try {
      publish_snapshot(now);
    } catch (...) {
      // Out of memory building a snapshot: readers keep the previous one.
    }
  }
}

void gossip_tile::publish_snapshot(std::uint64_t now) {
  auto s = std::make_shared<gossip_snapshot>();
  s->taken_unix_ms = now;
  s->self = self_;
  s->health = engine_.health(now);
  s->peers = engine_.peers(now);
  s->data = engine_.data();
  s->table_size = engine_.table_size();
  const auto& counts = engine_.table_counts();
  for (std::size_t i = 0; i < counts.size(); ++i) s->counts_by_kind.emplace_back(to_string(kind_at(i)), counts[i]);
  s->stats = flatten(engine_.get_stats());
  s->duplicate_identity = engine_.duplicate_identity();
  std::uint64_t active = 0;
  for (const auto& p : s->peers) active += p.health == peer_health::active ? 1 : 0;
  set_counter(c_peers_active, active);
  set_counter(c_table_size, s->table_size);
  if (contacts_ != nullptr) count(c_contacts_changed, learn_contacts(*contacts_, s->peers));
  if (board_ == nullptr) return;
  count(c_snapshots);
  board_->publish(std::move(s));
}

std::size_t learn_contacts(net::contact_book& book, std::span<const peer_view> peers) noexcept {
  std::size_t changed = 0;
  for (const peer_view& p : peers) {
    const std::optional<std::size_t> row = book.row_of(p.contact.id);
    if (!row) continue;
    const contact_info& c = p.contact;
    changed += book.set_row(
        *row, c.ip, net::port_numbers_of(c.gossip_port, c.tpu_port, c.tpu_forwards_port, c.tvu_port, c.repair_port));
  }
  return changed;
}

}  // namespace riptide::gossip
