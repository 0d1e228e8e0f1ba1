#pragma once
// Key files: a node's or client's secret key on disk.
//
// Format (text, versioned, exactly three '\n'-terminated lines, lowercase hex, nothing else):
//
//   riptide-keyfile v1\n
//   secret <64 hex digits: the 32-byte secp256k1 secret key, big-endian>\n
//   pubkey <64 hex digits: its 32-byte BIP-340 x-only public key>\n
//
// The pubkey line is redundant on purpose: it lets an operator read the identity with `head`,
// and the loader recomputes it from the secret and rejects a mismatch (a corrupted or hand-
// edited file). The encoding is canonical: parse_keyfile accepts a text only if
// format_keyfile of the result reproduces it byte for byte. docs/protocol.md has the same.
//
// Contract
// - parse_keyfile / format_keyfile are pure (no I/O) and callable from any thread.
//   parse_keyfile never throws and reports the first problem found as a keyfile_error.
// - load_keyfile / write_keyfile are start-up and tooling calls: they throw std::runtime_error
//   whose message is "<path>: <reason>".
// - write_keyfile creates the file with open(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) (and fchmod 0600
//   against a restrictive umask) and fsyncs it. It refuses to replace an existing file unless
//   overwrite is true; then it writes a fresh 0600 temporary file in the same directory and
//   rename()s it over the old one, so the key file is never seen half-written.
// - Copies of the secret made here (buffers, strings) are wiped before being released.

#include <riptide/crypto/schnorr.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace riptide::crypto {

constexpr std::string_view keyfile_header_v1 = "riptide-keyfile v1";
constexpr std::size_t keyfile_v1_bytes = 19 + 7 + 65 + 7 + 65;  // 163
// load_keyfile refuses anything larger before parsing it.
constexpr std::size_t max_keyfile_bytes = 4096;

enum class keyfile_error : std::uint8_t {
  none,
  truncated,            // ends before the three '\n'-terminated lines are complete
  bad_header,           // first line is not "riptide-keyfile v<decimal version>"
  unsupported_version,  // "riptide-keyfile v<N>" with N other than 1
  bad_secret_label,     // second line does not start with "secret "
  bad_secret_length,    // secret value is not exactly 64 characters
  bad_secret_hex,       // secret value has a character outside [0-9a-f]
  bad_pubkey_label,     // third line does not start with "pubkey "
  bad_pubkey_length,    // pubkey value is not exactly 64 characters
  bad_pubkey_hex,       // pubkey value has a character outside [0-9a-f]
  invalid_secret,       // secret is 0 or >= the secp256k1 curve order
  pubkey_mismatch,      // pubkey line is not the public key of the secret
  trailing_data,        // bytes after the third line
};

// A short human-readable reason ("secret is not 64 hex characters", ...). Never null.
[[nodiscard]] const char* to_string(keyfile_error error) noexcept;

// Parses a key file's text. On none, out holds the key; otherwise out is untouched.
[[nodiscard]] keyfile_error parse_keyfile(std::string_view text, keypair& out) noexcept;

// The canonical text of kp (throws std::invalid_argument for an empty keypair).
[[nodiscard]] std::string format_keyfile(const keypair& kp);

// Reads and parses a key file. Throws std::runtime_error "<path>: <reason>".
[[nodiscard]] keypair load_keyfile(const std::filesystem::path& path);

// Writes kp to path with mode 0600 (see the contract above). Throws std::runtime_error
// "<path>: <reason>", e.g. when the file exists and overwrite is false.
void write_keyfile(const std::filesystem::path& path, const keypair& kp, bool overwrite = false);

}  // namespace riptide::crypto
