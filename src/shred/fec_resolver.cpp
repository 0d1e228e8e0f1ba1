#include <riptide/shred/fec_resolver.hpp>

#include "shred_layout.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <riptide/util/prng.hpp>

namespace riptide::shred {

namespace {

using namespace layout;  // field offsets and header writers (shred_layout.hpp)

// A coding shred's leaf starts after the signature and takes its headers too.
constexpr std::size_t coding_leaf_extra_bytes = coding_headers_end - shred_signature_bytes;  // 25

static_assert(fec_max_shards <= 64, "present masks are 64-bit");
static_assert(max_data_shreds_per_set + max_coding_shreds_per_set == fec_max_shards);


std::uint64_t hash_key(std::uint64_t slot, std::uint32_t fec_set_index) noexcept {
  // splitmix64's finalizer over both fields: keys are only ever created from verified sets,
  // so there is nothing for an attacker to aim collisions at.
  return util::mix64(slot * 0x9E3779B97F4A7C15ull ^ (std::uint64_t{fec_set_index} << 17) ^ fec_set_index);
}

std::size_t index_cells_for(std::size_t entries) {
  return std::bit_ceil(std::max<std::size_t>(entries * 2, 4));
}

// Bytes of the shred at merkle position p of a set of n leaves with num_data data shreds.
std::size_t shred_size(std::size_t p, std::size_t num_data, std::size_t n) noexcept {
  const std::size_t head = p < num_data ? shred_signature_bytes : coding_headers_end;
  return head + shard_bytes(n) + merkle_node_bytes * merkle_proof_size(p, n);
}

}  // namespace

const char* to_string(drop_reason reason) noexcept {
  switch (reason) {
#define RIPTIDE_CASE(name) \
  case drop_reason::name: return #name;
    RIPTIDE_CASE(none)
    RIPTIDE_CASE(parse_error)
    RIPTIDE_CASE(wrong_shred_version)
    RIPTIDE_CASE(too_old)
    RIPTIDE_CASE(too_far_ahead)
    RIPTIDE_CASE(unknown_leader)
    RIPTIDE_CASE(bad_signature)
    RIPTIDE_CASE(wrong_shape)
    RIPTIDE_CASE(wrong_root)
    RIPTIDE_CASE(duplicate)
#undef RIPTIDE_CASE
  }
  return "unknown";
}

void fec_resolver_config::validate() const {
  auto fail = [](const char* what) {
    throw std::invalid_argument(std::string("fec_resolver_config: ") + what);
  };
  if (max_sets == 0) fail("max_sets must be at least 1");
  if (max_sets >= (std::size_t{1} << 24)) fail("max_sets must be below 2^24");
  if (completed_sets_remembered == 0) fail("completed_sets_remembered must be at least 1");
  if (completed_sets_remembered >= (std::size_t{1} << 28)) {
    fail("completed_sets_remembered must be below 2^28");
  }
  if (codec_cache_shapes == 0) fail("codec_cache_shapes must be at least 1");
  if (codec_cache_shapes > max_data_shreds_per_set * max_coding_shreds_per_set) {
    fail("codec_cache_shapes must be at most 1024 (every shape)");
  }
  if (leader_key_cache < 2) fail("leader_key_cache must be at least 2");
}

fec_resolver::fec_resolver(const fec_resolver_config& config, const leader_lookup& leaders)
    : config_((config.validate(), config)),
      leaders_(leaders),
      key_cache_(config.leader_key_cache),
      buffers_(config.max_sets * set_buffer_bytes),
      sets_(config.max_sets),
      completed_(config.completed_sets_remembered),
      codecs_(config.codec_cache_shapes) {
  free_sets_.reserve(config_.max_sets);
  for (std::size_t i = config_.max_sets; i-- > 0;) {
    free_sets_.push_back(static_cast<std::uint32_t>(i));
  }
  set_index_.cells.assign(index_cells_for(config_.max_sets), 0);
  set_index_.mask = set_index_.cells.size() - 1;
  completed_index_.cells.assign(index_cells_for(config_.completed_sets_remembered), 0);
  completed_index_.mask = completed_index_.cells.size() - 1;
  codecs_[0].num_data = max_data_shreds_per_set;
  codecs_[0].num_coding = max_coding_shreds_per_set;
  codecs_[0].codec =
      std::make_unique<fec_codec>(max_data_shreds_per_set, max_coding_shreds_per_set);
  metrics_.codecs_built = 1;
}

fec_resolver::~fec_resolver() = default;

// ---------------------------------------------------------------------------- key indices

namespace {

template <class KeyOf>
std::uint32_t index_find(const std::vector<std::uint32_t>& cells, std::size_t mask,
                         std::uint64_t slot, std::uint32_t fec_set_index,
                         KeyOf key_of) noexcept {
  for (std::size_t i = hash_key(slot, fec_set_index) & mask;; i = (i + 1) & mask) {
    const std::uint32_t cell = cells[i];
    if (cell == 0) return 0xFFFFFFFFu;
    const auto [s, f] = key_of(cell - 1);
    if (s == slot && f == fec_set_index) return cell - 1;
  }
}

void index_insert(std::vector<std::uint32_t>& cells, std::size_t mask, std::uint64_t slot,
                  std::uint32_t fec_set_index, std::uint32_t entry) noexcept {
  std::size_t i = hash_key(slot, fec_set_index) & mask;
  while (cells[i] != 0) i = (i + 1) & mask;
  cells[i] = entry + 1;
}

// Removes the cell holding `entry` (which must be present under its key), shifting later
// cells of the probe run back so lookups never need tombstones.
template <class KeyOf>
void index_erase(std::vector<std::uint32_t>& cells, std::size_t mask, std::uint64_t slot,
                 std::uint32_t fec_set_index, std::uint32_t entry, KeyOf key_of) noexcept {
  std::size_t hole = hash_key(slot, fec_set_index) & mask;
  while (cells[hole] != entry + 1) hole = (hole + 1) & mask;
  for (std::size_t j = (hole + 1) & mask; cells[j] != 0; j = (j + 1) & mask) {
    const auto [s, f] = key_of(cells[j] - 1);
    const std::size_t home = hash_key(s, f) & mask;
    // Move j into the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      cells[hole] = cells[j];
      hole = j;
    }
  }
  cells[hole] = 0;
}

}  // namespace

std::uint32_t fec_resolver::find_set(const set_key& key) const noexcept {
  return index_find(set_index_.cells, set_index_.mask, key.slot, key.fec_set_index,
                    [this](std::uint32_t e) {
                      return std::pair{sets_[e].key.slot, sets_[e].key.fec_set_index};
                    });
}

std::uint32_t fec_resolver::find_completed(const set_key& key) const noexcept {
  return index_find(completed_index_.cells, completed_index_.mask, key.slot, key.fec_set_index,
                    [this](std::uint32_t e) {
                      return std::pair{completed_[e].slot, completed_[e].fec_set_index};
                    });
}

bool fec_resolver::in_progress(std::uint64_t slot, std::uint32_t fec_set_index) const noexcept {
  return find_set(set_key{slot, fec_set_index}) != no_index;
}

bool fec_resolver::completed(std::uint64_t slot, std::uint32_t fec_set_index) const noexcept {
  return find_completed(set_key{slot, fec_set_index}) != no_index;
}

// ---------------------------------------------------------------------------- set lifetime

std::uint32_t fec_resolver::create_set(const set_key& key, const shred_view& first,
                                       const merkle_node& root) noexcept {
  if (free_sets_.empty()) {
    // Full: the oldest set in progress makes room. Its shreds were accepted and passed on
    // already; only the chance to recover its missing ones is lost (repair's job now).
    release_set(oldest_);
    ++metrics_.sets_evicted;
  }
  const std::uint32_t set = free_sets_.back();
  free_sets_.pop_back();
  set_state& s = sets_[set];
  s.key = key;
  s.root = root;
  s.signature = first.signature();
  s.present = 0;
  s.num_data = static_cast<std::uint8_t>(first.num_data());
  s.num_coding = static_cast<std::uint8_t>(first.num_coding());
  s.received = 0;
  s.last_in_slot = first.last_in_slot();
  s.older = newest_;
  s.newer = no_index;
  if (newest_ != no_index) sets_[newest_].newer = set;
  newest_ = set;
  if (oldest_ == no_index) oldest_ = set;
  index_insert(set_index_.cells, set_index_.mask, key.slot, key.fec_set_index, set);
  ++in_progress_;
  ++metrics_.sets_created;
  return set;
}

void fec_resolver::release_set(std::uint32_t set) noexcept {
  set_state& s = sets_[set];
  index_erase(set_index_.cells, set_index_.mask, s.key.slot, s.key.fec_set_index, set,
              [this](std::uint32_t e) {
                return std::pair{sets_[e].key.slot, sets_[e].key.fec_set_index};
              });
  if (s.older != no_index) sets_[s.older].newer = s.newer;
  else oldest_ = s.newer;
  if (s.newer != no_index) sets_[s.newer].older = s.older;
  else newest_ = s.older;
  s.older = s.newer = no_index;
  free_sets_.push_back(set);
  --in_progress_;
}

void fec_resolver::remember_completed(const set_key& key) noexcept {
  const auto key_of = [this](std::uint32_t e) {
    return std::pair{completed_[e].slot, completed_[e].fec_set_index};
  };
  const auto entry = static_cast<std::uint32_t>(completed_next_);
  if (completed_count_ == completed_.size()) {
    const set_key& old = completed_[entry];
    if (old.slot != forgotten_slot) {
      index_erase(completed_index_.cells, completed_index_.mask, old.slot, old.fec_set_index,
                  entry, key_of);
    }
  } else {
    ++completed_count_;
  }
  completed_[entry] = key;
  index_insert(completed_index_.cells, completed_index_.mask, key.slot, key.fec_set_index,
               entry);
  completed_next_ = (completed_next_ + 1) % completed_.size();
}

void fec_resolver::forget_entry(std::uint32_t entry) noexcept {
  const set_key key = completed_[entry];
  index_erase(completed_index_.cells, completed_index_.mask, key.slot, key.fec_set_index, entry,
              [this](std::uint32_t e) {
                return std::pair{completed_[e].slot, completed_[e].fec_set_index};
              });
  completed_[entry].slot = forgotten_slot;  // the ring slot stays; nothing indexes it
  ++metrics_.sets_forgotten;
}

std::size_t fec_resolver::forget_set(std::uint64_t slot, std::uint32_t fec_set_index) noexcept {
  const set_key key{slot, fec_set_index};
  if (const std::uint32_t entry = find_completed(key); entry != no_index) {
    forget_entry(entry);
    return 1;
  }
  if (const std::uint32_t set = find_set(key); set != no_index) {
    release_set(set);  // its filled positions would turn the same shreds away as duplicates
    ++metrics_.sets_forgotten;
    return 1;
  }
  return 0;
}

std::size_t fec_resolver::forget_slot(std::uint64_t slot) noexcept {
  if (slot == forgotten_slot) return 0;
  std::size_t n = 0;
  for (std::size_t e = 0; e < completed_count_; ++e) {
    if (completed_[e].slot != slot) continue;
    forget_entry(static_cast<std::uint32_t>(e));
    ++n;
  }
  for (std::uint32_t set = oldest_; set != no_index;) {
    const std::uint32_t next = sets_[set].newer;
    if (sets_[set].key.slot == slot) {
      release_set(set);
      ++metrics_.sets_forgotten;
      ++n;
    }
    set = next;
  }
  return n;
}

void fec_resolver::store_shred(std::uint32_t set, const shred_view& shred,
                               const merkle_node& leaf) noexcept {
  set_state& s = sets_[set];
  const std::size_t p = shred.merkle_position();
  std::memcpy(shred_buffer(set, p), shred.bytes().data(), shred.bytes().size());
  s.leaves[p] = leaf;
  s.present |= std::uint64_t{1} << p;
  ++s.received;
}

// ---------------------------------------------------------------------------- add

add_result fec_resolver::drop(drop_reason reason) noexcept {
  ++metrics_.dropped[static_cast<std::size_t>(reason)];
  add_result r;
  r.reason = reason;
  return r;
}

add_result fec_resolver::add(std::span<const std::uint8_t> packet,
                             std::uint64_t root_slot) noexcept {
  ++metrics_.received;
  shred_view v;
  if (const shred_error e = parse_shred(packet, v); e != shred_error::none) {
    ++metrics_.parse_errors[static_cast<std::size_t>(e)];
    add_result r = drop(drop_reason::parse_error);
    r.parse_error = e;
    return r;
  }
  if (v.shred_version() != config_.shred_version) return drop(drop_reason::wrong_shred_version);
  if (v.slot() < root_slot) return drop(drop_reason::too_old);
  if (v.slot() - root_slot > config_.max_slots_ahead) return drop(drop_reason::too_far_ahead);

  const set_key key{v.slot(), v.fec_set_index()};
  if (find_completed(key) != no_index) return drop(drop_reason::duplicate);

  const std::size_t p = v.merkle_position();
  std::uint32_t set = find_set(key);
  if (set != no_index) {
    const set_state& s = sets_[set];
    if (v.num_data() != s.num_data || v.num_coding() != s.num_coding) {
      return drop(drop_reason::wrong_shape);
    }
    if ((s.present >> p) & 1u) return drop(drop_reason::duplicate);
    if (v.signature() != s.signature) return drop(drop_reason::bad_signature);
  }

  // The shred's leaf and the root its proof implies (shred_merkle_root, with the leaf kept
  // for the tree recovery rebuilds).
  const merkle_node leaf = merkle_leaf(v.signed_region());
  std::array<merkle_node, max_proof_depth> proof;
  std::memcpy(proof.data(), v.proof().data(), v.proof().size());
  const std::optional<merkle_node> root = merkle_root_from_proof(
      leaf, p, v.leaf_count(), std::span<const merkle_node>(proof.data(), v.proof_depth()));
  if (!root) return drop(drop_reason::wrong_root);  // unreachable after a successful parse

  if (set != no_index) {
    if (*root != sets_[set].root) return drop(drop_reason::wrong_root);
  } else {
    const std::optional<crypto::pubkey> leader = leaders_.leader_for_slot(v.slot());
    if (!leader) return drop(drop_reason::unknown_leader);
    ++metrics_.signatures_verified;
    if (!verify_shred_signature(v, key_cache_, *leader, *root)) {
      return drop(drop_reason::bad_signature);
    }
    set = create_set(key, v, *root);
  }

  store_shred(set, v, leaf);
  ++metrics_.accepted;
  add_result r;
  r.accepted = true;
  if (sets_[set].received < sets_[set].num_data) return r;

  // Completion needs num_data of the set's shreds, so exactly num_coding are missing.
  const std::size_t missing = sets_[set].num_coding;
  const bool ok = recover_set(set);
  release_set(set);
  remember_completed(key);
  if (ok) {
    ++metrics_.sets_completed;
    r.set_completed = true;
    r.recovered = std::span<const recovered_shred>(recovered_.data(), missing);
  } else {
    ++metrics_.recovery_failed;
  }
  return r;
}

// ---------------------------------------------------------------------------- recovery

fec_codec* fec_resolver::codec_for(std::size_t num_data, std::size_t num_coding) noexcept {
  codec_slot* victim = &codecs_[0];
  for (codec_slot& c : codecs_) {
    if (c.codec && c.num_data == num_data && c.num_coding == num_coding) {
      c.last_used = ++codec_clock_;
      return c.codec.get();
    }
    if (!c.codec) {
      if (victim->codec) victim = &c;
    } else if (victim->codec && c.last_used < victim->last_used) {
      victim = &c;
    }
  }
  // A shape not seen lately: build its codec once (the one allocation add() may make).
  try {
    victim->codec = std::make_unique<fec_codec>(num_data, num_coding);
  } catch (...) {
    victim->codec.reset();
    return nullptr;
  }
  victim->num_data = static_cast<std::uint8_t>(num_data);
  victim->num_coding = static_cast<std::uint8_t>(num_coding);
  victim->last_used = ++codec_clock_;
  ++metrics_.codecs_built;
  return victim->codec.get();
}

bool fec_resolver::recover_set(std::uint32_t set) noexcept {
  set_state& s = sets_[set];
  const std::size_t num_data = s.num_data;
  const std::size_t num_coding = s.num_coding;
  const std::size_t n = num_data + num_coding;
  const std::size_t shard = shard_bytes(n);

  fec_codec* codec = codec_for(num_data, num_coding);
  if (codec == nullptr) return false;
  std::array<std::uint8_t*, fec_max_shards> shards;
  for (std::size_t p = 0; p < n; ++p) {
    shards[p] = shred_buffer(set, p) + (p < num_data ? shred_signature_bytes : coding_headers_end);
  }
  if (!codec->recover(std::span<std::uint8_t* const>(shards.data(), n), s.present, shard)) {
    return false;
  }

  // Rebuilt shreds: a data shred's headers came back inside its shard; a coding shred's
  // follow from the set's shape. Then every leaf is known.
  for (std::size_t p = 0; p < n; ++p) {
    if ((s.present >> p) & 1u) continue;
    std::uint8_t* b = shred_buffer(set, p);
    std::memcpy(b, s.signature.data(), shred_signature_bytes);
    if (p < num_data) {
      s.leaves[p] = merkle_leaf(std::span<const std::uint8_t>(b + shred_signature_bytes, shard));
    } else {
      const std::size_t position = p - num_data;
      fec_set_params params;
      params.slot = s.key.slot;
      params.shred_version = config_.shred_version;
      params.fec_set_index = s.key.fec_set_index;
      write_common(b, true, s.last_in_slot, merkle_proof_size(p, n), params,
                   static_cast<std::uint32_t>(s.key.fec_set_index + position), num_data, num_coding);
      store_le(b + position_offset, position, 2);
      s.leaves[p] = merkle_leaf(
          std::span<const std::uint8_t>(b + shred_signature_bytes, coding_leaf_extra_bytes + shard));
    }
  }
  merkle_tree tree;
  if (!tree.build_from_leaves(std::span<const merkle_node>(s.leaves.data(), n)) ||
      tree.root() != s.root) {
    return false;  // the leader's coding shards do not match its data
  }

  std::size_t out = 0;
  std::array<merkle_node, max_proof_depth> proof;
  for (std::size_t p = 0; p < n; ++p) {
    if ((s.present >> p) & 1u) continue;
    std::uint8_t* b = shred_buffer(set, p);
    const std::size_t size = shred_size(p, num_data, n);
    const std::size_t depth = tree.proof(p, proof);
    std::memcpy(b + size - merkle_node_bytes * depth, proof.data(), merkle_node_bytes * depth);
    // Whatever the leader signed must still be a shred of this set in this position.
    shred_view v;
    if (parse_shred(std::span<const std::uint8_t>(b, size), v) != shred_error::none ||
        v.merkle_position() != p || v.slot() != s.key.slot ||
        v.fec_set_index() != s.key.fec_set_index || v.num_data() != num_data ||
        v.num_coding() != num_coding || v.shred_version() != config_.shred_version) {
      return false;
    }
    recovered_[out++] = recovered_shred{v.bytes(), v.is_data(), v.index()};
  }
  for (std::size_t i = 0; i < out; ++i) {
    if (recovered_[i].is_data) ++metrics_.data_shreds_recovered;
    else ++metrics_.coding_shreds_recovered;
  }
  return true;
}

}  // namespace riptide::shred
