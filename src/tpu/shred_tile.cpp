#include <riptide/tpu/shred_tile.hpp>

#include <stdexcept>

#include <riptide/shred/shred.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::tpu {

namespace {
constexpr std::size_t max_batch = 64;
}  // namespace

// Shreds from the shredder: store, then send to the tree's root.
class shred_tile::sink final : public shred::shred_sink {
 public:
  explicit sink(shred_tile& t) : t_(t) {}
  void on_shred(std::span<const std::uint8_t> bytes, shred::shred_kind kind,
                std::uint32_t /*index*/) noexcept override {
    t_.count(kind == shred::shred_kind::data ? c_data_shreds : c_coding_shreds);
    ++(kind == shred::shred_kind::data ? t_.slot_data_ : t_.slot_coding_);
    t_.send_shred(bytes);
  }

 private:
  shred_tile& t_;
};

// Repair responses: to the requester's repair endpoint.
class shred_tile::repair_sink final : public shred::repair_packet_sink {
 public:
  explicit repair_sink(shred_tile& t) : t_(t) {}
  void on_packet(std::uint32_t peer, std::span<const std::uint8_t> bytes) noexcept override {
    if (peer >= t_.peers_.repair.size()) return;
    t_.count_send(t_.sender_.send(bytes, net::port_kind::repair, t_.peers_.repair[peer]), c_repair_responses);
  }

 private:
  shred_tile& t_;
};

shred_tile::shred_tile(std::string name, const shred_tile_config& config, const crypto::keypair& leader,
                       const ledger::ledger& lg, util::spsc_ring<ledger_record_ref>& records,
                       const shred::turbine_cluster& cluster, net::contact_column tvu_contacts,
                       const shred_peers& peers, const util::frame_pool& rx_frames,
                       util::spsc_ring<util::frag_desc>* repair_in,
                       util::spsc_ring<util::frag_desc>* repair_release,
                       util::spsc_ring<util::frag_desc>& tx, util::spsc_ring<util::frag_desc>& tx_release)
    : util::tile(std::move(name)),
      config_(config),
      self_(leader.public_key()),
      ledger_(lg),
      records_(records),
      tvu_contacts_(tvu_contacts),
      peers_(peers),
      rx_frames_(rx_frames),
      repair_in_(repair_in),
      repair_release_(repair_release),
      shredder_(leader, config.shred_version, shred::shredder_config{}),
      tree_(cluster, config.fanout),
      store_(config.store),
      server_(leader.public_key(), config.repair, peers.ids, store_, config.archive),
      sender_(config.tx_frames, tx, tx_release),
      sink_(std::make_unique<sink>(*this)),
      repair_sink_(std::make_unique<repair_sink>(*this)) {
  if (config.batch == 0 || config.batch > max_batch)
    throw std::invalid_argument("shred_tile: batch must be in 1..64");
  if ((repair_in == nullptr) != (repair_release == nullptr))
    throw std::invalid_argument("shred_tile: repair_in and repair_release go together");
  if (peers.ids.size() != peers.repair.size())
    throw std::invalid_argument("shred_tile: one repair endpoint per peer");
  if (!config.slot_log.empty()) {
    slot_log_ = std::fopen(config.slot_log.c_str(), "w");
    if (slot_log_ == nullptr)
      throw std::runtime_error(config.slot_log + ": cannot open the slot log for writing");
    std::fputs("slot,unix_ns,data_shreds,coding_shreds\n", slot_log_);
  }
}

shred_tile::~shred_tile() {
  if (slot_log_ != nullptr) std::fclose(slot_log_);
}

std::vector<std::size_t> shred_tile::drop_counters() const {
  return {c_send_no_frame, c_send_ring_full, c_no_root,       c_shredder_refused,
          c_repair_dropped, c_rx_release_full, c_bad_frame, c_bad_record, c_archive_refused,
          c_own_dropped};
}

std::vector<std::string_view> shred_tile::own_counter_names() const {
  return {"records",         "slots",          "data_shreds",     "coding_shreds",
          "sent",            "send_no_frame",  "send_ring_full",  "no_root",
          "shredder_refused", "repair_requests", "repair_responses", "repair_dropped",
          "rx_release_full", "bad_frame",      "bad_record",      "store_evicted",
          "archived",        "archive_refused", "repair_from_archive", "own_sent",
          "own_dropped"};
}

void shred_tile::connect_own(std::uint32_t frames, util::spsc_ring<util::frag_desc>& out,
                             util::spsc_ring<util::frag_desc>& release) {
  own_ = std::make_unique<net::tx_sender>(frames, out, release);
}

void shred_tile::send_shred(std::span<const std::uint8_t> bytes) noexcept {
  shred::shred_view v;
  if (shred::parse_shred(bytes, v) != shred::shred_error::none) {
    count(c_bad_record);  // cannot happen: the shredder made these bytes
    return;
  }
  (void)store_.put(v);
  if (own_) count(own_->send(bytes, net::port_kind::tvu, net::endpoint{}) == net::send_result::sent ? c_own_sent
                                                                                                 : c_own_dropped);
  if (config_.archive != nullptr && v.is_data()) count(config_.archive->put(v) ? c_archived : c_archive_refused);
  const std::uint32_t root =
      tree_.root(v.slot(), v.index(),
                 v.is_coding() ? shred::turbine_shred_type::coding : shred::turbine_shred_type::data, self_);
  if (root == shred::turbine_npos || root >= tvu_contacts_.size() || tvu_contacts_[root].pack() == 0) {
    count(c_no_root);
    return;
  }
  count_send(sender_.send(bytes, net::port_kind::tvu, tvu_contacts_[root]), c_sent);
}

void shred_tile::count_send(net::send_result r, std::size_t sent_counter) noexcept {
  switch (r) {
    case net::send_result::sent: count(sent_counter); break;
    case net::send_result::ring_full: count(c_send_ring_full); break;
    default: count(c_send_no_frame); break;
  }
}

void shred_tile::on_record(const ledger_record_ref& ref) noexcept {
  count(c_records);
  if (shredder_.in_slot() && shredder_.slot() != ref.slot) {
    // A slot that ended without its slot_end (cannot happen with the ledger tile): close it.
    count(c_bad_record);
    (void)shredder_.finish_slot(*sink_);
  }
  if (!shredder_.in_slot()) {
    slot_data_ = slot_coding_ = 0;
    if (!shredder_.begin_slot(ref.slot, ref.parent)) {
      count(c_shredder_refused);
      return;
    }
  }
  if (!shredder_.add(ledger_.encoded_at(ref.position, ref.bytes), true, *sink_)) count(c_shredder_refused);
  if (ref.slot_end != 0) {
    if (!shredder_.finish_slot(*sink_)) count(c_shredder_refused);
    count(c_slots);
    if (slot_log_ != nullptr)
      std::fprintf(slot_log_, "%llu,%llu,%llu,%llu\n", static_cast<unsigned long long>(ref.slot),
                   static_cast<unsigned long long>(util::unix_time_ns()),
                   static_cast<unsigned long long>(slot_data_), static_cast<unsigned long long>(slot_coding_));
  }
}

int shred_tile::serve_repair() noexcept {
  if (repair_in_ == nullptr) return 0;
  util::frag_desc descs[max_batch];
  const std::size_t n = repair_in_->try_pop_batch(std::span(descs, config_.batch));
  if (n == 0) return 0;
  const std::uint64_t now_ms = util::unix_time_ns() / 1'000'000;  // requests carry wall-clock time
  for (std::size_t i = 0; i < n; ++i) {
    const util::frag_desc& d = descs[i];
    if (!rx_frames_.contains(d.frame) || d.len > rx_frames_.frame_bytes()) {
      count(c_bad_frame);
    } else {
      count(c_repair_requests);
      // Anything but a valid request (a stray response, garbage) is the server's to count.
      const std::uint64_t archived_before = server_.counters().from_archive;
      if (server_.handle(rx_frames_.frame(d.frame).first(d.len), now_ms, *repair_sink_) == 0)
        count(c_repair_dropped);
      count(c_repair_from_archive, server_.counters().from_archive - archived_before);
    }
    if (!repair_release_->try_push(d)) count(c_rx_release_full);
  }
  return static_cast<int>(n);
}

int shred_tile::poll() noexcept {
  int work = sender_.reclaim() + (own_ ? own_->reclaim() : 0);
  ledger_record_ref refs[max_batch];
  const std::size_t n = records_.try_pop_batch(std::span(refs, config_.batch));
  for (std::size_t i = 0; i < n; ++i) on_record(refs[i]);
  work += static_cast<int>(n) + serve_repair();
  set_counter(c_store_evicted, store_.counters().evicted_shreds);
  return work;
}

void shred_tile::on_stop() noexcept {
  if (slot_log_ != nullptr) std::fflush(slot_log_);
}

}  // namespace riptide::tpu
