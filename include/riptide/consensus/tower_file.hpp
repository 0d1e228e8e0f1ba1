#pragma once
// The tower on disk: a validator saves its tower (durably) before it sends a vote made from
// it, and restores it at start, so a restart never votes against what it voted before (the
// lockouts it promised still hold).
//
//   offset  size  field
//   0       8     magic              "riptower"
//   8       4     version            u32 LE, = 1
//   12      32    identity           the validator's public key (a file of another key is refused)
//   44      2     vote length L      u16 LE, 63..333
//   46      L     tower sync         the vote's encoding (vote.hpp): lockouts, root, bank hash, time
//   46+L    32    checksum           SHA-256 of bytes [0, 46 + L)
//   end                              no trailing bytes
//
// parse_tower_file() reads untrusted bytes: noexcept, no allocation, a reason per refusal.
// save_tower() writes through util::replace_file_durably (a crash leaves the old tower or the
// new one); load_tower() reads one. Both block and throw std::runtime_error naming the path
// and the reason: start-up, and once per vote on the consensus tile.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>

#include <riptide/consensus/vote.hpp>
#include <riptide/crypto/types.hpp>

namespace riptide::consensus {

constexpr std::size_t tower_file_header_bytes = 46;
constexpr std::size_t max_tower_file_bytes = tower_file_header_bytes + max_tower_sync_bytes + 32;

enum class tower_file_error : std::uint8_t {
  none,
  truncated,            // shorter than its header, its vote or its checksum
  bad_magic,            // not "riptower"
  unsupported_version,  // version != 1
  wrong_identity,       // saved by another validator
  trailing_bytes,       // bytes after the checksum
  bad_checksum,         // the SHA-256 does not match: a torn or corrupted file
  bad_vote,             // the tower sync does not parse (see vote_parse_error)
};
constexpr std::size_t tower_file_error_count = 8;

[[nodiscard]] const char* to_string(tower_file_error e) noexcept;

// The file's bytes into `out`; returns their count, 0 if the tower has no votes or `out` is
// too small.
[[nodiscard]] std::size_t encode_tower_file(const crypto::pubkey& identity, const tower_sync& vote,
                                            std::span<std::uint8_t> out) noexcept;
// `out` is untouched unless none.
[[nodiscard]] tower_file_error parse_tower_file(std::span<const std::uint8_t> bytes, const crypto::pubkey& identity,
                                                tower_sync& out) noexcept;

// Throws std::invalid_argument for a tower with no votes, std::runtime_error on I/O failure.
void save_tower(const std::filesystem::path& path, const crypto::pubkey& identity, const tower_sync& vote);
// nullopt when there is no file (a validator that never voted); throws std::runtime_error
// naming the path and the reason for a file that cannot be read or parsed.
[[nodiscard]] std::optional<tower_sync> load_tower(const std::filesystem::path& path, const crypto::pubkey& identity);

}  // namespace riptide::consensus
