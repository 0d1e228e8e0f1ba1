#include <riptide/tvu/tvu_tile.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <stdexcept>

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

// The epoch's leader schedule as the resolver's leader_lookup.
class tvu_tile::schedule_lookup final : public shred::leader_lookup {
 public:
  explicit schedule_lookup(const shred::leader_schedule& schedule) : schedule_(schedule) {}
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t slot) const noexcept override {
    return schedule_.leader_for_slot(slot);
  }

 private:
  const shred::leader_schedule& schedule_;
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

tvu_tile::tvu_tile(std::string name, const tvu_tile_config& config,
                   const util::frame_pool& rx_frames, util::spsc_ring<util::frag_desc>& in,
                   util::spsc_ring<util::frag_desc>& release,
                   util::spsc_ring<util::frag_desc>& tx,
                   util::spsc_ring<util::frag_desc>& tx_release,
                   util::spsc_ring<completed_slot>& out,
                   util::spsc_ring<completed_slot>& out_release,
                   const shred::leader_schedule& schedule, const shred::turbine_cluster& cluster,
                   const crypto::pubkey& self, std::span<const net::endpoint> contacts)
    : util::tile(std::move(name)),
      config_((config.validate(), config)),
      rx_frames_(rx_frames),
      in_(in),
      release_(release),
      tx_(tx),
      tx_release_(tx_release),
      out_(out),
      out_release_(out_release),
      schedule_(schedule),
      contacts_(contacts),
      lookup_(std::make_unique<schedule_lookup>(schedule)),
      resolver_(std::make_unique<shred::fec_resolver>(config_.resolver, *lookup_)),
      assembler_(std::make_unique<shred::slot_assembler>(config_.assembler)),
      tree_(cluster, config_.fanout),
      self_(cluster.index_of(self)),
      tx_pool_(config_.tx_frames),
      tx_free_(0, config_.tx_frames),
      outputs_(new std::uint8_t[config_.output_slots * config_.max_slot_bytes]),
      output_out_(config_.output_slots, 0),
      pending_(config_.assembler.max_slots),
      root_(config_.root_slot) {
  free_outputs_.reserve(config_.output_slots);
  for (std::size_t i = config_.output_slots; i-- > 0;) {
    free_outputs_.push_back(static_cast<std::uint32_t>(i));
  }
  assembler_->set_root(root_);
}

tvu_tile::~tvu_tile() = default;

std::vector<std::string_view> tvu_tile::own_counter_names() const {
  constexpr std::string_view middle[] = {
      "recovered",       "retransmitted",   "tx_no_frame",     "tx_ring_full",
      "tx_no_contact",   "tx_release_bad",  "rx_release_full", "bad_frame",
      "recovery_failed", "sets_evicted",    "slots_completed", "slots_delivered",
      "slots_dropped",   "out_backpressure", "out_release_bad"};
  static_assert(std::size(middle) == c_asm_first - c_recovered);
  std::vector<std::string_view> names;
  names.reserve(c_own_count);
  names.push_back("received");
  names.push_back("accepted");
  for (const std::string_view n : drop_counter_names) names.push_back(n);
  for (const std::string_view n : middle) names.push_back(n);
  for (const std::string_view n : assembler_counter_names) names.push_back(n);
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
  int work = reclaim_tx() + reclaim_outputs();
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
  return work + deliver_completed();
}

void tvu_tile::handle(const util::frag_desc& d) noexcept {
  if (!rx_frames_.contains(d.frame) || d.len > rx_frames_.frame_bytes()) {
    count(c_bad_frame);
    return;
  }
  const shred::add_result r = resolver_->add(rx_frames_.frame(d.frame).first(d.len), root_);
  if (!r.accepted) {
    if (r.reason != shred::drop_reason::none) count(drop_counter(r.reason));
    return;
  }
  count(c_accepted);
  shred::shred_view v;
  if (shred::parse_shred(rx_frames_.frame(d.frame).first(d.len), v) != shred::shred_error::none)
    return;  // cannot happen: the resolver accepted these bytes
  // The resolver found the leader in the same schedule when the set was created.
  const std::optional<crypto::pubkey> leader = schedule_.leader_for_slot(v.slot());
  const crypto::pubkey* leader_key = leader ? &*leader : nullptr;
  on_shred(v, leader_key);
  if (r.set_completed) {
    count(c_recovered, r.recovered.size());
    for (const shred::recovered_shred& rec : r.recovered) {
      shred::shred_view rv;
      if (shred::parse_shred(rec.bytes, rv) == shred::shred_error::none) on_shred(rv, leader_key);
    }
  }
}

// A shred the resolver accepted or rebuilt: retransmit it, and assemble it if it is data.
void tvu_tile::on_shred(const shred::shred_view& v, const crypto::pubkey* leader) noexcept {
  if (leader != nullptr) retransmit(v, *leader);
  if (!v.is_data()) return;
  const shred::insert_result ir = assembler_->insert(v);
  if (ir != shred::insert_result::inserted) {
    count(assembler_counter(ir));
    return;
  }
  if (!assembler_->is_complete(v.slot())) return;
  count(c_slots_completed);
  // A slot completes on exactly one insert; complete slots are never evicted, so at most
  // max_slots of them wait here.
  if (pending_count_ == pending_.size()) {
    (void)assembler_->release_slot(v.slot());
    count(c_slots_dropped);
    return;
  }
  pending_[(pending_head_ + pending_count_++) % pending_.size()] = v.slot();
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
    std::uint32_t frame = 0;
    if (!tx_free_.try_acquire(frame)) {
      count(c_tx_no_frame);
      continue;
    }
    std::memcpy(tx_pool_.frame(frame).data(), bytes.data(), bytes.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(bytes.size()),
                            static_cast<std::uint16_t>(config_.tx_port), contacts_[child].pack()};
    if (!tx_.try_push(d)) {
      (void)tx_free_.release(frame);  // just acquired: the stack has room
      count(c_tx_ring_full);
      continue;
    }
    count(c_retransmitted);
  }
}

int tvu_tile::reclaim_tx() noexcept {
  std::array<util::frag_desc, max_batch> descs;
  int work = 0;
  for (;;) {
    const std::size_t n = tx_release_.try_pop_batch(descs);
    for (std::size_t i = 0; i < n; ++i) {
      if (!tx_pool_.contains(descs[i].frame) || !tx_free_.release(descs[i].frame)) {
        count(c_tx_release_bad);
      }
    }
    work += static_cast<int>(n);
    // Every frame comes back at most once, so this loop ends within tx_frames descriptors.
    if (n < descs.size()) return work;
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
  }
  return work;
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
    const std::uint64_t bytes = assembler_->received_bytes(slot);
    if (bytes > config_.max_slot_bytes) {
      (void)assembler_->release_slot(slot);
      count(c_slots_dropped);
      pending_head_ = (pending_head_ + 1) % cap;
      --pending_count_;
      continue;
    }
    if (free_outputs_.empty() || out_.free_approx() == 0) {
      count(c_out_backpressure);
      break;
    }
    const std::uint32_t buffer = free_outputs_.back();
    completed_slot c;
    c.slot = slot;
    c.parent = assembler_->parent_of(slot).value_or(0);
    c.bytes = bytes;
    c.buffer = buffer;
    const auto taken = assembler_->take_slot(
        slot, {outputs_.get() + std::size_t{buffer} * config_.max_slot_bytes,
               config_.max_slot_bytes});
    if (!taken) break;  // cannot happen: complete and fits
    free_outputs_.pop_back();
    output_out_[buffer] = 1;
    (void)out_.try_push(c);  // room checked above; this tile is the only producer
    count(c_slots_delivered);
    pending_head_ = (pending_head_ + 1) % cap;
    --pending_count_;
    ++work;
  }
  return work;
}

}  // namespace riptide::tvu
