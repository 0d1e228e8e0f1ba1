#include <riptide/consensus/tower_file.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/util/durable_file.hpp>
#include <riptide/util/le_bytes.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace riptide::consensus {

namespace {

constexpr std::array<std::uint8_t, 8> magic{'r', 'i', 'p', 't', 'o', 'w', 'e', 'r'};
constexpr std::uint32_t version = 1;
constexpr std::size_t checksum_bytes = 32;

}  // namespace

const char* to_string(tower_file_error e) noexcept {
  switch (e) {
    case tower_file_error::none: return "none";
    case tower_file_error::truncated: return "truncated";
    case tower_file_error::bad_magic: return "bad_magic";
    case tower_file_error::unsupported_version: return "unsupported_version";
    case tower_file_error::wrong_identity: return "wrong_identity";
    case tower_file_error::trailing_bytes: return "trailing_bytes";
    case tower_file_error::bad_checksum: return "bad_checksum";
    case tower_file_error::bad_vote: return "bad_vote";
  }
  return "?";
}

std::size_t encode_tower_file(const crypto::pubkey& identity, const tower_sync& vote,
                              std::span<std::uint8_t> out) noexcept {
  const std::size_t length = tower_sync_size(vote);
  const std::size_t size = tower_file_header_bytes + length + checksum_bytes;
  if (length == 0 || out.size() < size) return 0;
  util::le_writer w(out);
  w.bytes(magic);
  w.u32(version);
  w.bytes(identity);
  w.u16(static_cast<std::uint16_t>(length));
  if (encode_tower_sync(vote, out.subspan(tower_file_header_bytes, length)) != length) return 0;
  const crypto::hash32 sum = crypto::sha256(out.first(tower_file_header_bytes + length));
  std::copy(sum.begin(), sum.end(), out.begin() + static_cast<std::ptrdiff_t>(tower_file_header_bytes + length));
  return w.ok() ? size : 0;
}

tower_file_error parse_tower_file(std::span<const std::uint8_t> bytes, const crypto::pubkey& identity,
                                  tower_sync& out) noexcept {
  if (bytes.size() < tower_file_header_bytes) return tower_file_error::truncated;
  util::le_reader r(bytes);
  std::array<std::uint8_t, 8> m{};
  r.bytes(m);
  if (m != magic) return tower_file_error::bad_magic;
  if (r.u32() != version) return tower_file_error::unsupported_version;
  crypto::pubkey who{};
  r.bytes(who);
  if (who != identity) return tower_file_error::wrong_identity;
  const std::size_t length = r.u16();
  const std::size_t size = tower_file_header_bytes + length + checksum_bytes;
  if (bytes.size() < size) return tower_file_error::truncated;
  if (bytes.size() > size) return tower_file_error::trailing_bytes;
  const crypto::hash32 sum = crypto::sha256(bytes.first(tower_file_header_bytes + length));
  if (!std::equal(sum.begin(), sum.end(), bytes.begin() + static_cast<std::ptrdiff_t>(tower_file_header_bytes + length)))
    return tower_file_error::bad_checksum;
  tower_sync vote;
  if (parse_tower_sync(bytes.subspan(tower_file_header_bytes, length), vote) != vote_parse_error::none)
    return tower_file_error::bad_vote;
  out = vote;
  return tower_file_error::none;
}

void save_tower(const std::filesystem::path& path, const crypto::pubkey& identity, const tower_sync& vote) {
  std::array<std::uint8_t, max_tower_file_bytes> buf{};
  const std::size_t n = encode_tower_file(identity, vote, buf);
  if (n == 0) throw std::invalid_argument(path.string() + ": refusing to save a tower with no votes");
  util::replace_file_durably(path, std::span(buf.data(), n), 0644);
}

std::optional<tower_sync> load_tower(const std::filesystem::path& path, const crypto::pubkey& identity) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open the tower file: " + std::strerror(errno));
  std::array<std::uint8_t, max_tower_file_bytes + 1> buf{};
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  if (in.bad()) throw std::runtime_error(path.string() + ": cannot read the tower file");
  const auto n = static_cast<std::size_t>(in.gcount());
  tower_sync vote;
  if (const auto e = parse_tower_file(std::span(buf.data(), n), identity, vote); e != tower_file_error::none)
    throw std::runtime_error(path.string() + ": not a usable tower file: " + to_string(e));
  return vote;
}

}  // namespace riptide::consensus
