#include <riptide/tvu/tvu_tile.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include <riptide/util/metrics.hpp>

namespace riptide::tvu {

namespace {
constexpr std::size_t max_batch = 64;

// "drop_" + to_string(drop_reason) and "asm_" + to_string(insert_result), reasons but none /
// inserted, in enum order (the test checks them against to_string).
constexpr std::string_view drop_counter_names[] = {
    "drop_parse_error",   "drop_wrong_shred_version", "drop_too_old",
    "drop_too_far_ahead", "drop_unknown_leader",      "drop_bad_signature",
    "drop_wrong_shape",   "drop_wrong_root",          "drop_duplicate",
};
static_assert(std::size(drop_counter_names) == shred::drop_reason_count - 1);
constexpr std::string_view assembler_counter_names[] = {
    "asm_duplicate",   "asm_slot_full",  "asm_out_of_window",   "asm_index_too_large",
    "asm_not_data",    "asm_slot_taken", "asm_parent_mismatch", "asm_last_index_conflict",
};
static_assert(std::size(assembler_counter_names) == shred::insert_result_count - 1);

shred::turbine_shred_type turbine_type(const shred::shred_view& v) noexcept {
  return v.is_coding() ? shred::turbine_shred_type::coding : shred::turbine_shred_type::data;
}
}  // namespace

// The tile's leader timeline as the resolver's leader_lookup.
class tvu_tile::schedule_lookup final : public shred::leader_lookup {
 public:
  explicit schedule_lookup(const tvu_tile& tile) : tile_(tile) {}
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t slot) const noexcept override {
    return tile_.timeline_->leader(slot);
  }

 private:
  const tvu_tile& tile_;
};

// Repair packets (requests this node sends, responses it serves): to the peer's repair port.
class tvu_tile::repair_sink final : public shred::repair_packet_sink {
 public:
  repair_sink(tvu_tile& t, std::size_t sent_counter) : t_(t), sent_(sent_counter) {}
  void on_packet(std::uint32_t peer, std::span<const std::uint8_t> bytes) noexcept override {
    if (peer >= t_.repair_->peer_repair.size()) return;
    if (t_.sender_.send(bytes, net::port_kind::repair, t_.repair_->peer_repair[peer]) == net::send_result::sent)
      t_.count(sent_);
    else
      t_.count(c_repair_send_failed);
  }

 private:
  tvu_tile& t_;
  std::size_t sent_;
};

// Holds back slots whose shreds are still arriving, and (forks) slots replay already has: the
// assembler forgets a taken slot when it needs the entry, which must not make it wanted again.
class tvu_tile::defer_gate final : public shred::repair_slot_gate {
 public:
  explicit defer_gate(const tvu_tile& t) : t_(t) {}
  bool has(std::uint64_t slot) const noexcept override { return t_.config_.forks && t_.accepted(slot); }
  bool may_repair(std::uint64_t slot) const noexcept override {
    const slot_tally& tally = t_.tallies_[slot % t_.tallies_.size()];
    return tally.slot != slot || t_.now_ms_ >= tally.last_ms + t_.repair_->defer_ms;
  }

 private:
  const tvu_tile& t_;
};

void tvu_tile_config::validate() const {
  auto fail = [](const char* what) {
    throw std::invalid_argument(std::string("tvu_tile_config: ") + what);
  };
  if (fanout == 0) fail("fanout must be at least 1");
  if (batch == 0 || batch > max_batch) fail("batch must be in 1..64");
  if (tx_frames == 0) fail("tx_frames must be at least 1");
  if (static_cast<std::size_t>(tx_port) >= net::port_kind_count) fail("tx_port is not a port");
  if (output_slots == 0 || output_slots >= 0xffff'ffffu) fail("output_slots must be at least 1");
  if (max_slot_bytes == 0) fail("max_slot_bytes must be at least 1");
}

namespace {

// In order (deliver_from), the next slot must never be crowded out by later ones.
shred::slot_assembler_config assembler_config(const tvu_tile_config& c) {
  shred::slot_assembler_config a = c.assembler;
  if (c.deliver_from) a.keep_lowest = true;
  return a;
}

}  // namespace

tvu_tile::tvu_tile(std::string name, const tvu_tile_config& config,
                   const util::frame_pool& rx_frames, util::spsc_ring<util::frag_desc>& in,
                   util::spsc_ring<util::frag_desc>& release,
                   util::spsc_ring<util::frag_desc>& tx,
                   util::spsc_ring<util::frag_desc>& tx_release,
                   util::spsc_ring<completed_slot>& out,
                   util::spsc_ring<completed_slot>& out_release,
                   const epoch::leader_schedule& schedule, const shred::turbine_cluster& cluster,
                   const crypto::pubkey& self, net::contact_column contacts,
                   const tvu_repair_links* repair)
    : util::tile(std::move(name)),
      config_((config.validate(), config)),
      rx_frames_(rx_frames),
      in_(in),
      release_(release),
      out_(out),
      out_release_(out_release),
      own_timeline_(schedule),
      timeline_(&own_timeline_),
      contacts_(contacts),
      lookup_(std::make_unique<schedule_lookup>(*this)),
      resolver_(std::make_unique<shred::fec_resolver>(config_.resolver, *lookup_)),
      assembler_(std::make_unique<shred::slot_assembler>(assembler_config(config_))),
      tree_(cluster, config_.fanout),
      self_(cluster.index_of(self)),
      sender_(config_.tx_frames, tx, tx_release),
      outputs_(new std::uint8_t[config_.output_slots * config_.max_slot_bytes]),
      output_out_(config_.output_slots, 0),
      pending_(config_.assembler.max_slots),
      root_(config_.root_slot),
      delivered_tip_(config_.deliver_from && *config_.deliver_from > 0
                         ? std::optional<std::uint64_t>(*config_.deliver_from - 1)
                         : std::nullopt),
      tallies_(1024) {
  free_outputs_.reserve(config_.output_slots);
  if (repair != nullptr) {
    if (repair->identity == nullptr || repair->in == nullptr || repair->release == nullptr ||
        repair->peer_ids.size() != repair->peer_repair.size() || repair->self_index >= repair->peer_ids.size())
      throw std::invalid_argument("tvu_repair_links: identity, in, release and one repair endpoint per peer "
                                  "(self_index among them) are required");
    repair_ = *repair;
    store_ = std::make_unique<shred::shred_store>(repair->store);
    server_ = std::make_unique<shred::repair_server>(repair->identity->public_key(), repair->server,
                                                     repair->peer_ids, *store_, repair->archive);
    client_ = std::make_unique<shred::repair_client>(*repair->identity, repair->client, repair->peer_ids,
                                                     repair->self_index);
    request_sink_ = std::make_unique<repair_sink>(*this, c_repair_sent);
    response_sink_ = std::make_unique<repair_sink>(*this, c_repair_served);
    gate_ = std::make_unique<defer_gate>(*this);
  }
  for (std::size_t i = config_.output_slots; i-- > 0;) {
    free_outputs_.push_back(static_cast<std::uint32_t>(i));
  }
  assembler_->set_root(root_);
  if (config_.forks) accepted_.assign(4096, 0);
}

tvu_tile::~tvu_tile() = default;

bool tvu_tile::accepted(std::uint64_t slot) const noexcept {
  if (delivered_tip_ && slot == root_ && slot <= *delivered_tip_) return true;  // rooted: replayed here
  if (config_.deliver_from && *config_.deliver_from > 0 && slot == *config_.deliver_from - 1) return true;
  return !accepted_.empty() && accepted_[slot % accepted_.size()] == slot + 1;
}

std::vector<std::size_t> tvu_tile::drop_counters() const {
  std::vector<std::size_t> d = {c_tx_no_frame,     c_tx_ring_full,   c_tx_no_contact,      c_rx_release_full,
                                c_bad_frame,       c_recovery_failed, c_slots_dropped,     c_repair_send_failed,
                                c_repair_unmatched, c_repair_refused, c_archive_incomplete, c_archive_refused};
  // A duplicate shred loses nothing (the shred, or the set it completes, is already held:
  // repair answers and recovery make them all the time), so it is not a drop; every other
  // refusal is.
  for (std::size_t c = c_drop_first; c < c_recovered; ++c)
    if (c != drop_counter(shred::drop_reason::duplicate)) d.push_back(c);
  for (std::size_t c = c_asm_first; c < c_repair_sent; ++c)
    if (c != assembler_counter(shred::insert_result::duplicate)) d.push_back(c);
  return d;
}

std::vector<std::string_view> tvu_tile::own_counter_names() const {
  constexpr std::string_view middle[] = {
      "recovered",       "retransmitted",   "tx_no_frame",     "tx_ring_full",
      "tx_no_contact",   "tx_release_bad",  "rx_release_full", "bad_frame",
      "recovery_failed", "sets_evicted",    "slots_completed", "slots_delivered",
      "slots_dropped",   "out_backpressure", "out_release_bad"};
  constexpr std::string_view repair_names[] = {"repair_sent",      "repair_send_failed", "repaired",
                                               "repair_unmatched", "repair_served",      "repair_refused",
                                               "recovered_data",   "archived",           "archive_incomplete",
                                               "archive_refused",  "repair_from_archive", "sets_forgotten",
                                               "slots_rejected",   "own_received",       "slots_again",
                                               "asm_slots_held",   "repair_first",       "repair_last"};
  static_assert(std::size(repair_names) == c_own_count - c_repair_sent);
  static_assert(std::size(middle) == c_asm_first - c_recovered);
  std::vector<std::string_view> names;
  names.reserve(c_own_count);
  names.push_back("received");
  names.push_back("accepted");
  for (const std::string_view n : drop_counter_names) names.push_back(n);
  for (const std::string_view n : middle) names.push_back(n);
  for (const std::string_view n : assembler_counter_names) names.push_back(n);
  for (const std::string_view n : repair_names) names.push_back(n);
  return names;
}

std::span<const std::uint8_t> tvu_tile::stream(const completed_slot& c) const noexcept {
  if (c.buffer >= config_.output_slots || c.bytes > config_.max_slot_bytes) return {};
  return {outputs_.get() + std::size_t{c.buffer} * config_.max_slot_bytes,
          static_cast<std::size_t>(c.bytes)};
}

void tvu_tile::set_root(std::uint64_t root) noexcept {
  if (root <= root_) return;
  root_ = root;
  assembler_->set_root(root);
  // Forget waiting slots the assembler just dropped, keeping the order of the rest.
  const std::size_t cap = pending_.size();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < pending_count_; ++i) {
    const std::uint64_t slot = pending_[(pending_head_ + i) % cap];
    if (slot >= root) pending_[(pending_head_ + kept++) % cap] = slot;
  }
  pending_count_ = kept;
}

int tvu_tile::poll() noexcept {
  if (repair_) now_ms_ = util::unix_time_ns() / 1'000'000;
  int work = sender_.reclaim() + reclaim_outputs();
  set_counter(c_tx_release_bad, sender_.bad_releases());
  std::array<util::frag_desc, max_batch> descs;
  const std::size_t n = in_.try_pop_batch(std::span(descs.data(), config_.batch));
  if (n != 0) {
    count(c_received, n);
    for (std::size_t i = 0; i < n; ++i) {
      handle(descs[i]);
      if (!release_.try_push(descs[i])) count(c_rx_release_full);
    }
    const shred::fec_resolver_metrics& m = resolver_->metrics();
    set_counter(c_recovery_failed, m.recovery_failed);
    set_counter(c_sets_evicted, m.sets_evicted);
    work += static_cast<int>(n);
  }
  work += poll_repair() + poll_own();
  return work + (config_.deliver_from ? deliver_in_order() : deliver_completed());
}

void tvu_tile::follow_epochs(epoch::schedule_window& window) noexcept {
  window_ = &window;
  timeline_ = &window.timeline();
}

void tvu_tile::housekeep(std::uint64_t /*monotonic_ns*/) noexcept {
  if (roots_ != nullptr) {
    const bank::chain_status st = roots_->read();
    if (st.has_root_slot) set_root(st.root_slot);
  }
  set_counter(c_asm_slots_held, assembler_->slots_in_use());
  const std::uint64_t first = config_.deliver_from ? chain_next() : root_ + 1;
  if (window_ != nullptr) {
    try {
      // Centred on the chain's next slot: the epoch it is in, the one before, the next.
      (void)window_->advance(first);
    } catch (...) {
      // Out of memory for the next epoch's schedule: the old window stays; its shreds will
      // be refused (unknown_leader) until an advance succeeds.
    }
  }
  std::uint64_t value = in_flight_ ? *in_flight_ + 1 : 0;  // handed over, not replayed yet
  if (value == 0 && highest_seen_ >= first) {
    const std::uint64_t last = std::min<std::uint64_t>(highest_seen_, first + config_.assembler.max_slots - 1);
    for (std::uint64_t s = first; s <= last; ++s) {
      if (assembler_->is_tracked(s)) {  // has shreds, not handed over
        value = s + 1;
        break;
      }
    }
  }
  arriving_.store(value, std::memory_order_release);
}

tvu_tile::slot_tally& tvu_tile::tally(std::uint64_t slot) noexcept {
  slot_tally& t = tallies_[slot % tallies_.size()];
  if (t.slot != slot) t = slot_tally{slot, 0, 0, 0, 0};
  return t;
}

int tvu_tile::poll_repair() noexcept {
  if (!repair_) return 0;
  int work = 0;
  std::array<util::frag_desc, max_batch> descs;
  const std::size_t n = repair_->in->try_pop_batch(std::span(descs.data(), config_.batch));
  const std::uint64_t now_ms = now_ms_;
  for (std::size_t i = 0; i < n; ++i) {
    const util::frag_desc& d = descs[i];
    if (!rx_frames_.contains(d.frame) || d.len > rx_frames_.frame_bytes()) {
      count(c_bad_frame);
    } else {
      const std::span<const std::uint8_t> bytes = rx_frames_.frame(d.frame).first(d.len);
      if (shred::is_repair_request(bytes)) {
        const std::uint64_t archived_before = server_->counters().from_archive;
        if (server_->handle(bytes, now_ms, *response_sink_) == 0) count(c_repair_refused);
        count(c_repair_from_archive, server_->counters().from_archive - archived_before);
      } else {
        const std::span<const std::uint8_t> shred = client_->accept_response(bytes, now_ms);
        if (shred.empty()) count(c_repair_unmatched);
        else handle_bytes(shred, origin::repair);
      }
    }
    if (!repair_->release->try_push(d)) count(c_rx_release_full);
  }
  work += static_cast<int>(n);
  if (now_ms >= next_plan_ms_) {
    next_plan_ms_ = now_ms + repair_->interval_ms;
    const auto [first, last] = config_.forks ? fork_repair_window() : repair_window();
    if (last >= first)
      work += static_cast<int>(client_->plan(*assembler_, first, last, now_ms, *request_sink_, *gate_));
  }
  return work;
}

// Without forks: in order, from the slot after the one being replayed (the slots between the
// chain's tip and it were skipped) or after the tip; otherwise from the root. Slots after the
// highest one seen may not exist yet: they are not asked for. In order, nothing beyond what
// the assembler can hold from the next slot on is asked for either (it would only crowd out
// the slots needed first).
std::pair<std::uint64_t, std::uint64_t> tvu_tile::repair_window() const noexcept {
  if (!config_.deliver_from) return {root_, highest_seen_};
  const std::uint64_t first = in_flight_ ? *in_flight_ + 1 : chain_next();
  return {first, std::min<std::uint64_t>(highest_seen_, first + config_.assembler.max_slots - 1)};
}

// With forks, the slots above the root that replay does not have yet, the lowest first, as
// many as the assembler holds: another fork's blocks below the newest one kept (a partition's
// other side) are wanted too. Slots replay accepted do not count, so while the root stands
// still (no fork has more than 2/3 of the votes) the window moves up past them instead of
// stopping max_slots above the root, where a node could never fetch the chain it must switch to.
std::pair<std::uint64_t, std::uint64_t> tvu_tile::fork_repair_window() noexcept {
  std::uint64_t first = root_ + 1;
  std::uint64_t last = root_;  // empty
  std::size_t wanted = 0;
  for (std::uint64_t s = root_ + 1; s <= highest_seen_ && wanted < config_.assembler.max_slots; ++s) {
    if (accepted(s)) continue;
    if (wanted++ == 0) first = s;
    last = s;
  }
  set_counter(c_repair_first, first);
  set_counter(c_repair_last, last);
  return {first, last};
}

int tvu_tile::poll_own() noexcept {
  if (own_.in == nullptr) return 0;
  std::array<util::frag_desc, max_batch> descs;
  const std::size_t n = own_.in->try_pop_batch(std::span(descs.data(), config_.batch));
  for (std::size_t i = 0; i < n; ++i) {
    const util::frag_desc& d = descs[i];
    if (!own_.frames->contains(d.frame) || d.len > own_.frames->frame_bytes()) {
      count(c_bad_frame);
    } else {
      count(c_own_received);
      handle_bytes(own_.frames->frame(d.frame).first(d.len), origin::own);
    }
    if (!own_.release->try_push(d)) count(c_rx_release_full);
  }
  return static_cast<int>(n);
}

void tvu_tile::handle(const util::frag_desc& d) noexcept {
  if (!rx_frames_.contains(d.frame) || d.len > rx_frames_.frame_bytes()) {
    count(c_bad_frame);
    return;
  }
  handle_bytes(rx_frames_.frame(d.frame).first(d.len), origin::turbine);
}

void tvu_tile::handle_bytes(std::span<const std::uint8_t> bytes, origin from) noexcept {
  const shred::add_result r = resolver_->add(bytes, root_);
  if (!r.accepted) {
    if (r.reason != shred::drop_reason::none) count(drop_counter(r.reason));
    return;
  }
  count(c_accepted);
  shred::shred_view v;
  if (shred::parse_shred(bytes, v) != shred::shred_error::none)
    return;  // cannot happen: the resolver accepted these bytes
  if (v.slot() >= highest_seen_) {
    highest_seen_ = v.slot();
    highest_seen_pub_.store(v.slot() + 1, std::memory_order_release);
  }
  if (repair_) tally(v.slot()).last_ms = now_ms_;
  if (from == origin::repair) {
    count(c_repaired);
    ++tally(v.slot()).repaired;
  } else if (from == origin::turbine) {
    ++tally(v.slot()).received;
  }
  // The resolver found the leader in the same schedule when the set was created.
  const std::optional<crypto::pubkey> leader = timeline_->leader(v.slot());
  const crypto::pubkey* leader_key = leader ? &*leader : nullptr;
  // Repaired shreds are not retransmitted: Turbine children that lack one repair it too.
  on_shred(v, leader_key, from == origin::turbine);
  if (r.set_completed) {
    count(c_recovered, r.recovered.size());
    std::uint32_t data = 0;
    for (const shred::recovered_shred& rec : r.recovered) data += rec.is_data ? 1 : 0;
    count(c_recovered_data, data);
    tally(v.slot()).recovered += data;
    for (const shred::recovered_shred& rec : r.recovered) {
      shred::shred_view rv;
      if (shred::parse_shred(rec.bytes, rv) == shred::shred_error::none) on_shred(rv, leader_key, true);
    }
  }
}

// A shred the resolver accepted or rebuilt: retransmit it, and assemble it if it is data.
void tvu_tile::on_shred(const shred::shred_view& v, const crypto::pubkey* leader,
                        bool retransmit_it) noexcept {
  if (leader != nullptr && retransmit_it) retransmit(v, *leader);
  if (store_) (void)store_->put(v);
  if (!v.is_data()) return;
  const shred::insert_result ir = assembler_->insert(v);
  forget_evicted();
  if (ir != shred::insert_result::inserted) {
    count(assembler_counter(ir));
    // No room now: the resolver must not keep the set as done, or the shreds repair brings
    // back later would be dropped as duplicates and the slot could never complete.
    if (ir == shred::insert_result::slot_full)
      count(c_sets_forgotten, resolver_->forget_set(v.slot(), v.fec_set_index()));
    return;
  }
  if (!assembler_->is_complete(v.slot())) return;
  count(c_slots_completed);
  // In order, a complete slot can be evicted for a lower one (and complete again later)
  // before the next pass over this list drops its entry: when the list is full, the entries
  // of slots no longer complete and repeated ones go first, so the assembler's max_slots
  // complete slots always fit.
  if (pending_count_ == pending_.size()) compact_pending();
  if (pending_count_ == pending_.size()) {  // cannot happen (see above)
    (void)assembler_->release_slot(v.slot());
    count(c_sets_forgotten, resolver_->forget_slot(v.slot()));  // so it can come back
    count(c_slots_dropped);
    return;
  }
  pending_[(pending_head_ + pending_count_++) % pending_.size()] = v.slot();
}

// Keeps, in order, the waiting slots that are still complete, each once.
void tvu_tile::compact_pending() noexcept {
  const std::size_t cap = pending_.size();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < pending_count_; ++i) {
    const std::uint64_t slot = pending_[(pending_head_ + i) % cap];
    bool seen = false;
    for (std::size_t k = 0; k < kept && !seen; ++k) seen = pending_[(pending_head_ + k) % cap] == slot;
    if (!seen && assembler_->is_complete(slot)) pending_[(pending_head_ + kept++) % cap] = slot;
  }
  pending_count_ = kept;
}

void tvu_tile::retransmit(const shred::shred_view& v, const crypto::pubkey& leader) noexcept {
  if (self_ == shred::turbine_npos) return;
  const auto children = tree_.children(v.slot(), v.index(), turbine_type(v), leader, self_);
  const std::span<const std::uint8_t> bytes = v.bytes();
  for (const std::uint32_t child : children) {
    if (child >= contacts_.size() || contacts_[child].pack() == 0) {
      count(c_tx_no_contact);
      continue;
    }
    switch (sender_.send(bytes, config_.tx_port, contacts_[child])) {
      case net::send_result::sent: count(c_retransmitted); break;
      case net::send_result::ring_full: count(c_tx_ring_full); break;
      default: count(c_tx_no_frame); break;
    }
  }
}

int tvu_tile::reclaim_outputs() noexcept {
  int work = 0;
  completed_slot c;
  while (out_release_.try_pop(c)) {
    ++work;
    if (c.buffer >= config_.output_slots || output_out_[c.buffer] == 0) {
      count(c_out_release_bad);
      continue;
    }
    output_out_[c.buffer] = 0;
    free_outputs_.push_back(c.buffer);  // capacity reserved: never allocates
    // In order only one buffer is ever out: a valid release is the verdict on the slot in flight.
    if (in_flight_) {
      const std::uint64_t slot = *in_flight_;
      in_flight_.reset();
      if (c.slot != slot) count(c_out_release_bad);  // the buffer came back under another slot
      if (c.failed || c.slot != slot) {
        count(c_slots_rejected);
        reject(slot);
      } else if (config_.forks) {
        accepted_[slot % accepted_.size()] = slot + 1;  // its children may come now
        delivered_tip_ = std::max(delivered_tip_.value_or(0), slot);
      } else {
        delivered_tip_ = c.slot;
        set_root(c.slot);
      }
    }
  }
  return work;
}

// Copies complete slot `slot` into a free output buffer and pushes it to `out`. False (and
// counted) when no buffer is free or `out` is full: the slot waits in the assembler.
bool tvu_tile::hand_over(std::uint64_t slot) noexcept {
  if (free_outputs_.empty() || out_.free_approx() == 0) {
    count(c_out_backpressure);
    return false;
  }
  const std::uint32_t buffer = free_outputs_.back();
  completed_slot c;
  c.slot = slot;
  c.parent = assembler_->parent_of(slot).value_or(0);
  if (const auto leader = timeline_->leader(slot)) {
    c.leader = *leader;
    c.has_leader = true;
  }
  c.bytes = assembler_->received_bytes(slot);
  c.buffer = buffer;
  const slot_tally& t = tally(slot);
  c.received = t.received;
  c.recovered = t.recovered;
  c.repaired = t.repaired;
  archive_slot(slot);
  const auto taken = assembler_->take_slot(
      slot, {outputs_.get() + std::size_t{buffer} * config_.max_slot_bytes, config_.max_slot_bytes});
  if (!taken) return false;  // cannot happen: complete and fits
  free_outputs_.pop_back();
  output_out_[buffer] = 1;
  (void)out_.try_push(c);  // room checked above; this tile is the only producer
  count(c_slots_delivered);
  return true;
}

// Slots the assembler evicted for space are fetched again later: the resolver forgets their
// completed sets so their shreds are taken when they come back.
void tvu_tile::forget_evicted() noexcept {
  std::array<std::uint64_t, shred::slot_assembler::max_evictions_reported> evicted;
  const std::size_t n = assembler_->take_evicted(evicted);
  for (std::size_t i = 0; i < n; ++i) count(c_sets_forgotten, resolver_->forget_slot(evicted[i]));
}

// The slot's data shreds, all of them from the store, into the archive; nothing if the store
// lost one (a partly archived slot would answer highest_index wrongly).
void tvu_tile::archive_slot(std::uint64_t slot) noexcept {
  if (!repair_ || repair_->archive == nullptr) return;
  const std::optional<std::uint32_t> last = assembler_->last_index(slot);
  if (!last) return;  // cannot happen: the slot is complete
  for (std::uint32_t i = 0; i <= *last; ++i) {
    if (store_->data(slot, i).empty()) {
      count(c_archive_incomplete);
      return;
    }
  }
  for (std::uint32_t i = 0; i <= *last; ++i) {
    shred::shred_view v;
    if (shred::parse_shred(store_->data(slot, i), v) != shred::shred_error::none) continue;
    count(repair_->archive->put(v) ? c_archived : c_archive_refused);
  }
}

int tvu_tile::deliver_completed() noexcept {
  int work = 0;
  const std::size_t cap = pending_.size();
  while (pending_count_ != 0) {
    const std::uint64_t slot = pending_[pending_head_];
    if (!assembler_->is_complete(slot)) {  // dropped below the root meanwhile
      pending_head_ = (pending_head_ + 1) % cap;
      --pending_count_;
      continue;
    }
    if (assembler_->received_bytes(slot) > config_.max_slot_bytes) {
      (void)assembler_->release_slot(slot);
      count(c_slots_dropped);
      pending_head_ = (pending_head_ + 1) % cap;
      --pending_count_;
      continue;
    }
    if (!hand_over(slot)) break;
    pending_head_ = (pending_head_ + 1) % cap;
    --pending_count_;
    ++work;
  }
  return work;
}

// deliver_from mode: the complete slot whose parent is the chain's last slot (the lowest, if
// two blocks claim that parent), then, once the consumer accepted it, its child, and so on.
// Slots the cluster skipped never exist; the block after them names the last one that does as
// its parent. Each accepted slot becomes the root (with config.forks: any slot whose parent
// was accepted is next, the lowest first, and the root comes from set_root), so the assembler and resolver forget
// everything older.
int tvu_tile::deliver_in_order() noexcept {
  int work = 0;
  const std::size_t cap = pending_.size();
  while (!in_flight_) {
    // One pass forgets the entries whose slot is no longer complete (evicted for room, to
    // come back later as a new entry, or dropped below the root) and finds the next child.
    std::optional<std::size_t> next;  // position in pending_
    std::size_t kept = 0;
    for (std::size_t i = 0; i < pending_count_; ++i) {
      const std::uint64_t slot = pending_[(pending_head_ + i) % cap];
      if (!assembler_->is_complete(slot)) continue;
      const std::optional<std::uint64_t> parent = assembler_->parent_of(slot);
      // With forks, a block built below the root is on a fork the root left: never replayed.
      const bool abandoned = config_.forks && slot != 0 && parent && *parent < root_;
      if (rejected(slot) || (parent && rejected(*parent)) || abandoned) {
        // Refused before, or built on a refused block: never handed over; its own children
        // go the same way.
        (void)assembler_->release_slot(slot);
        reject(slot);
        count(c_slots_rejected);
        continue;
      }
      if (config_.forks && slot != 0 && accepted(slot)) {
        // Replayed already (its shreds came back after the assembler forgot the taken slot):
        // handing it over again would make replay refuse it as a duplicate bank.
        (void)assembler_->release_slot(slot);
        count(c_slots_again);
        continue;
      }
      pending_[(pending_head_ + kept) % cap] = slot;
      bool child = false;
      if (config_.forks)  // any fork: a parent replay kept (slot 0: the genesis root's only child)
        child = slot == 0 ? !delivered_tip_ && !config_.deliver_from.value_or(0)
                          : slot > root_ && parent && *parent < slot && accepted(*parent);
      else
        child = delivered_tip_ ? slot > *delivered_tip_ && parent == delivered_tip_ : slot == 0;
      if (child && (!next || slot < pending_[(pending_head_ + *next) % cap])) next = kept;
      ++kept;
    }
    pending_count_ = kept;
    if (!next) break;
    const std::uint64_t slot = pending_[(pending_head_ + *next) % cap];
    const bool oversized = assembler_->received_bytes(slot) > config_.max_slot_bytes;
    if (oversized) {
      // It cannot be replayed: refused like a block replay refused, the chain stays put.
      (void)assembler_->release_slot(slot);
      count(c_slots_dropped);
      reject(slot);
    } else if (!hand_over(slot)) {
      break;
    }
    for (std::size_t i = *next; i + 1 < pending_count_; ++i)
      pending_[(pending_head_ + i) % cap] = pending_[(pending_head_ + i + 1) % cap];
    --pending_count_;
    ++work;
    if (!oversized) {
      in_flight_ = slot;  // the chain moves on when the consumer releases it (reclaim_outputs)
    }
  }
  return work;
}

bool tvu_tile::rejected(std::uint64_t slot) const noexcept {
  for (std::size_t i = 0; i < rejected_count_; ++i)
    if (rejected_[i] == slot) return true;
  return false;
}

void tvu_tile::reject(std::uint64_t slot) noexcept {
  if (rejected(slot)) return;
  rejected_[rejected_next_] = slot;  // the oldest is forgotten: by then the root passed it
  rejected_next_ = (rejected_next_ + 1) % rejected_.size();
  if (rejected_count_ < rejected_.size()) ++rejected_count_;
}

}  // namespace riptide::tvu
