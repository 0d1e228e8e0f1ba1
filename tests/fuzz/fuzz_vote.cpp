// libFuzzer target for the vote instruction parser (consensus::parse_tower_sync) and the
// tower file parser (consensus::parse_tower_file): memory safety under ASan/UBSan, plus
// invariants:
// - a parsed vote is a tower (tower::from accepts its lockouts and root) whose encoding
//   reproduces the input byte for byte (canonical), of the documented size;
// - no proper prefix of a valid vote parses, nor does the vote with a byte appended;
// - the input, read as a list of slots, drives a tower through record_vote: it stays a tower
//   (tower::from accepts its state), its root only grows, and its encoding round-trips; the
//   encoding with one byte changed (chosen by the input) parses only into a vote that obeys
//   the invariants above (so the parser's accepting paths are fuzzed, not only its refusals);
// - a tower file that parses encodes back to the same bytes; the driven tower's file parses
//   back to it, and with one byte changed it is refused (the checksum covers every byte).
// Run:
//   ./build-fuzz/tests/fuzz/fuzz_vote -max_total_time=60 -max_len=400

#include <riptide/consensus/tower_file.hpp>
#include <riptide/consensus/vote.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::consensus;

void check_parsed(std::span<const std::uint8_t> in, const tower_sync& v) {
  FUZZ_CHECK(tower::from(v.votes.votes(), v.votes.root()).has_value());
  FUZZ_CHECK(tower_sync_size(v) == in.size());
  std::vector<std::uint8_t> out(max_tower_sync_bytes);
  FUZZ_CHECK(encode_tower_sync(v, out) == in.size());
  FUZZ_CHECK(std::equal(in.begin(), in.end(), out.begin()));
  tower_sync other;
  for (std::size_t n = 0; n < in.size(); ++n) FUZZ_CHECK(parse_tower_sync(in.first(n), other) != vote_parse_error::none);
  std::vector<std::uint8_t> longer(in.begin(), in.end());
  longer.push_back(0);
  FUZZ_CHECK(parse_tower_sync(longer, other) == vote_parse_error::trailing_bytes);
}

void drive_tower(std::span<const std::uint8_t> in) {
  tower t;
  std::uint64_t slot = 0;
  std::optional<std::uint64_t> root;
  for (const std::uint8_t step : in) {
    slot += step % 8;  // small steps: deep towers, some expiry
    const auto pushed_out = t.record_vote(slot);
    if (pushed_out) {
      FUZZ_CHECK(!root || *pushed_out > *root);
      root = pushed_out;
    }
    FUZZ_CHECK(t.root() == root);
    FUZZ_CHECK(tower::from(t.votes(), t.root()).has_value());
  }
  tower_sync v;
  v.votes = t;
  std::vector<std::uint8_t> out(max_tower_sync_bytes);
  const std::size_t n = encode_tower_sync(v, out);
  FUZZ_CHECK((n == 0) == t.votes().empty());
  if (n != 0) {
    tower_sync back;
    const std::span<const std::uint8_t> enc(out.data(), n);
    FUZZ_CHECK(parse_tower_sync(enc, back) == vote_parse_error::none);
    FUZZ_CHECK(std::ranges::equal(back.votes.votes(), t.votes()) && back.votes.root() == t.root());
    check_parsed(enc, back);
    // One byte of the valid encoding changed (where and how, from the input): refused with a
    // reason, or a vote that obeys every invariant.
    crypto::pubkey who{};
    who.fill(0x5a);
    std::vector<std::uint8_t> file(max_tower_file_bytes);
    const std::size_t f = encode_tower_file(who, v, file);
    FUZZ_CHECK(f == tower_file_header_bytes + n + 32);
    tower_sync from_file;
    FUZZ_CHECK(parse_tower_file(std::span(file.data(), f), who, from_file) == tower_file_error::none);
    FUZZ_CHECK(std::ranges::equal(from_file.votes.votes(), t.votes()));
    if (in.size() >= 2) {
      out[in[0] % n] ^= in[1];
      if (parse_tower_sync(enc, back) == vote_parse_error::none) check_parsed(enc, back);
      if (in[1] != 0) {
        file[in[1] % f] ^= in[0] | 1;
        FUZZ_CHECK(parse_tower_file(std::span(file.data(), f), who, from_file) != tower_file_error::none);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  tower_sync v;
  if (parse_tower_sync(in, v) == vote_parse_error::none) check_parsed(in, v);
  if (in.size() >= 44) {
    crypto::pubkey who{};
    std::copy(in.begin() + 12, in.begin() + 44, who.begin());
    if (parse_tower_file(in, who, v) == tower_file_error::none) {
      std::vector<std::uint8_t> again(max_tower_file_bytes);
      const std::size_t f = encode_tower_file(who, v, again);
      FUZZ_CHECK(f == in.size() && std::equal(in.begin(), in.end(), again.begin()));
    }
  }
  drive_tower(in);
  return 0;
}
