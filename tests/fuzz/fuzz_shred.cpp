// libFuzzer target for parse_shred: memory safety under ASan/UBSan, plus invariants a
// successful parse must satisfy (see check_valid). Run:
//   ./build-fuzz/tests/fuzz/fuzz_shred -max_total_time=60 -max_len=1400
// Valid shreds need exact sizes, so a corpus seeded with real shreds (make_fec_set output,
// one file per shred) reaches the deep checks much sooner than an empty one.

#include <riptide/shred/shred.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace {

using namespace riptide;
using namespace riptide::shred;

void check_valid(const std::uint8_t* data, std::size_t size, const shred_view& v) {
  const std::uint8_t* const end = data + size;
  FUZZ_CHECK(!v.empty());
  FUZZ_CHECK(size <= max_shred_bytes);
  FUZZ_CHECK(v.bytes().data() == data && v.bytes().size() == size);
  FUZZ_CHECK(v.signature().data() == data);

  // Variant and set shape.
  FUZZ_CHECK((v.variant() & variant_reserved_bits) == 0);
  FUZZ_CHECK(v.proof_depth() <= max_proof_depth);
  FUZZ_CHECK(v.num_data() >= 1 && v.num_data() <= max_data_shreds_per_set);
  FUZZ_CHECK(v.num_coding() >= 1 && v.num_coding() <= max_coding_shreds_per_set);
  FUZZ_CHECK(v.leaf_count() == v.num_data() + v.num_coding());
  FUZZ_CHECK(v.merkle_position() < v.leaf_count());
  FUZZ_CHECK(v.proof_depth() == merkle_proof_size(v.merkle_position(), v.leaf_count()));
  FUZZ_CHECK(v.index() < max_shreds_per_slot);

  // Regions: signature | signed region | proof, back to back and covering the input; the
  // erasure shard is the signed region's tail, shard_bytes(leaf_count) long.
  const std::size_t shard = shard_bytes(v.leaf_count());
  FUZZ_CHECK(fuzz_within(v.signed_region(), data, end));
  FUZZ_CHECK(fuzz_within(v.erasure_shard(), data, end));
  FUZZ_CHECK(fuzz_within(v.proof(), data, end));
  FUZZ_CHECK(v.signed_region().data() == data + shred_signature_bytes);
  FUZZ_CHECK(v.proof().data() == v.signed_region().data() + v.signed_region().size());
  FUZZ_CHECK(v.proof().data() + v.proof().size() == end);
  FUZZ_CHECK(v.proof().size() == merkle_node_bytes * v.proof_depth());
  FUZZ_CHECK(v.erasure_shard().size() == shard);
  FUZZ_CHECK(v.erasure_shard().data() + shard == v.proof().data());
  for (std::size_t i = 0; i < v.proof_depth(); ++i) {
    FUZZ_CHECK(v.proof_node(i).data() == v.proof().data() + merkle_node_bytes * i);
  }

  if (v.is_coding()) {
    FUZZ_CHECK(v.position() < v.num_coding());
    FUZZ_CHECK(std::uint64_t{v.index()} == std::uint64_t{v.fec_set_index()} + v.position());
    FUZZ_CHECK(v.merkle_position() == v.num_data() + v.position());
    FUZZ_CHECK(v.erasure_shard().data() == data + coding_headers_end);
    FUZZ_CHECK(v.payload().empty());
    FUZZ_CHECK(size == coding_headers_end + shard + v.proof().size());
  } else {
    FUZZ_CHECK(v.index() >= v.fec_set_index());
    FUZZ_CHECK(v.index() - v.fec_set_index() == v.position());
    FUZZ_CHECK(v.position() < v.num_data());
    FUZZ_CHECK(v.merkle_position() == v.position());
    FUZZ_CHECK(v.erasure_shard().data() == v.signed_region().data());
    FUZZ_CHECK(v.erasure_shard().size() == v.signed_region().size());
    FUZZ_CHECK(size == shred_signature_bytes + shard + v.proof().size());
    FUZZ_CHECK((v.flags() & ~data_flags_known) == 0);
    FUZZ_CHECK(!v.slot_complete() || (v.batch_complete() && v.last_in_slot()));
    FUZZ_CHECK(v.slot() == 0 ? v.parent_offset() == 0
                             : v.parent_offset() >= 1 && v.parent_offset() <= v.slot());
    FUZZ_CHECK(v.parent_slot() <= v.slot());
    FUZZ_CHECK(v.data_size() >= data_headers_end);
    FUZZ_CHECK(v.payload().data() == data + data_headers_end);
    FUZZ_CHECK(v.payload().size() == v.data_size() - data_headers_end);
    FUZZ_CHECK(v.payload().size() <= data_capacity_bytes(v.leaf_count()));
    FUZZ_CHECK(fuzz_within(v.payload(), v.erasure_shard().data(), v.proof().data()));
    for (const std::uint8_t* p = v.payload().data() + v.payload().size(); p < v.proof().data();
         ++p) {
      FUZZ_CHECK(*p == 0);  // padding
    }
  }

  // A parsed shred always yields a root (its proof length was checked).
  FUZZ_CHECK(shred_merkle_root(v).has_value());

  // The headers fix the size, so no proper prefix and no extension parses.
  for (const std::size_t cut : {size - 1, size / 2, std::size_t{0}}) {
    shred_view shorter;
    FUZZ_CHECK(parse_shred(std::span(data, cut), shorter) != shred_error::none);
    FUZZ_CHECK(shorter.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  shred_view v;
  const shred_error err = parse_shred(std::span(data, size), v);
  FUZZ_CHECK(static_cast<std::size_t>(err) < shred_error_count);
  FUZZ_CHECK(to_string(err) != nullptr);
  if (err != shred_error::none) {
    FUZZ_CHECK(v.empty());  // a failed parse leaves the view untouched
    FUZZ_CHECK(!shred_merkle_root(v).has_value());
    return 0;
  }
  check_valid(data, size, v);

  // Signature checks are slow and almost never succeed on mutated input, so exercise the path
  // only occasionally; it must not crash whatever the key and signature are.
  if (v.signature()[0] == 0xA5) {
    crypto::pubkey key{};
    key[0] = v.signature()[1];
    (void)verify_shred_signature(v, key, *shred_merkle_root(v));
  }
  return 0;
}
