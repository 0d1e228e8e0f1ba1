#pragma once
// Transactions: the wire format, its strict zero-copy parser, signature verification, and a
// builder/decoder for the one instruction the system program knows (transfer).
//
// Contract
// - parse_transaction() is on the hot path (net -> verify -> dedup -> bank): noexcept, no
//   allocation, O(size + accounts^2) with accounts <= 32. Every way the bytes can be malformed
//   is its own parse_error, so drop counters say exactly why. Callable from any thread.
// - transaction_view is a non-owning view into the caller's packet bytes; it is valid only while
//   those bytes are alive and unchanged (keep it next to the frame it points into). It is
//   trivially copyable and a default-constructed view is empty (num_signatures() == 0).
//   Accessors do no bounds checks beyond those the parser already made: indices passed to them
//   must be in range (debug builds assert).
// - verify_signatures() checks every signature over message() using the caller's (per-tile)
//   pubkey_cache; noexcept.
// - build_transfer() is for clients/tools/tests (not the hot path): it throws.
//
// Wire format (all integers little-endian; docs/protocol.md has the same, with rationale):
//
//   offset            size   field
//   0                 1      num_signatures S             u8, 1 <= S <= 12
//   1                 64*S   signatures[S]                BIP-340; signature i by account i
//   ---- message: bytes m .. end, exactly what every signature signs ---------------------
//   m = 1+64*S        1      version                      u8, = 1
//   m+1               1      num_required_signatures R    u8, must equal S
//   m+2               1      num_readonly_signed RS       u8, RS < R (fee payer is writable)
//   m+3               1      num_readonly_unsigned RU     u8, RU <= A - R
//   m+4               1      num_accounts A               u8, R <= A <= 32
//   m+5               32*A   account_keys[A]              x-only pubkeys, pairwise distinct
//   k = m+5+32*A      32     recent_blockhash
//   k+32              1      num_instructions I           u8, I <= 32
//   k+33              ...    instructions[I], each:
//                              1   program_index P         u8, P < A, a readonly non-signer
//                              1   num_accounts K          u8, K <= 32
//                              K   account_indices[K]      u8 each, < A (repeats allowed)
//                              2   data_len D              u16
//                              D   data
//   end                              no trailing bytes; total size <= 1232
//
//   Account order (fixed by the header counts):
//     [0, R-RS)     writable signers    (account 0 pays the fee)
//     [R-RS, R)     readonly signers
//     [R, A-RU)     writable non-signers
//     [A-RU, A)     readonly non-signers (program ids live here)
//
// Transfer instruction (system program, program id = 32 zero bytes):
//   accounts = [from: writable signer, to: writable]   (from == to: both indices the same)
//   data (12 bytes) = kind u32 (= 2, transfer) | lamports u64

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>

namespace riptide::txn {

constexpr std::size_t max_transaction_bytes = 1232;
constexpr std::size_t max_signatures = 12;  // 12 * (64 sig + 32 key) is all that fits
constexpr std::size_t max_accounts = 32;
constexpr std::size_t max_instructions = 32;
constexpr std::size_t max_instruction_accounts = 32;
constexpr std::uint8_t message_version_v1 = 1;
constexpr std::size_t message_header_bytes = 5;  // version, R, RS, RU, A

enum class parse_error : std::uint8_t {
  none,
  too_long,                           // more than max_transaction_bytes
  empty,                              // zero bytes: no signature count
  no_signatures,                      // num_signatures == 0
  too_many_signatures,                // num_signatures > max_signatures
  truncated_signatures,               // fewer than 64 * S bytes of signatures
  truncated_message_header,           // fewer than 5 bytes of message header
  unsupported_version,                // version != 1
  signature_count_mismatch,           // num_signatures != num_required_signatures
  too_many_readonly_signed,           // RS >= R: the fee payer would be readonly
  too_many_accounts,                  // A > max_accounts
  fewer_accounts_than_signers,        // A < R
  too_many_readonly_unsigned,         // RU > A - R
  truncated_account_keys,             // fewer than 32 * A bytes of keys
  duplicate_account_key,              // two account keys are equal
  truncated_blockhash,                // fewer than 32 bytes of recent blockhash
  truncated_instruction_count,        // no num_instructions byte
  too_many_instructions,              // I > max_instructions
  truncated_instruction_header,       // no program_index / num_accounts bytes
  program_index_out_of_range,         // P >= A
  program_not_readonly_unsigned,      // P is a signer or writable account
  too_many_instruction_accounts,      // K > max_instruction_accounts
  truncated_instruction_accounts,     // fewer than K account index bytes
  account_index_out_of_range,         // an account index >= A
  truncated_instruction_data_length,  // fewer than 2 bytes of data_len
  instruction_data_overrun,           // data_len runs past the end of the bytes
  trailing_bytes,                     // bytes left after the last instruction
};
constexpr std::size_t parse_error_count = static_cast<std::size_t>(parse_error::trailing_bytes) + 1;

// The enumerator's name ("duplicate_account_key"), for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(parse_error error) noexcept;

namespace detail {
[[nodiscard]] inline std::uint16_t load_u16_le(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
static_assert(alignof(crypto::pubkey) == 1 && sizeof(crypto::pubkey) == crypto::pubkey_bytes);
static_assert(alignof(crypto::signature) == 1 &&
              sizeof(crypto::signature) == crypto::signature_bytes);
static_assert(alignof(crypto::hash32) == 1 && sizeof(crypto::hash32) == crypto::hash_bytes);
}  // namespace detail

// One instruction, as views into the packet bytes.
struct instruction_view {
  std::uint8_t program_index = 0;                  // index into account keys
  std::span<const std::uint8_t> account_indices;  // each an index into account keys
  std::span<const std::uint8_t> data;
};

class transaction_view;

// Parses bytes strictly. On none, out views bytes; on any error out is left untouched.
[[nodiscard]] parse_error parse_transaction(std::span<const std::uint8_t> bytes,
                                            transaction_view& out) noexcept;

class transaction_view {
 public:
  [[nodiscard]] bool empty() const noexcept { return num_signatures_ == 0; }
  // The whole transaction (signatures and message).
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return {bytes_, size_}; }

  [[nodiscard]] std::size_t num_signatures() const noexcept { return num_signatures_; }
  [[nodiscard]] const crypto::signature& signature(std::size_t i) const noexcept {
    assert(i < num_signatures_);
    // The wire bytes are the signature (std::array<uint8_t, 64> has alignment 1).
    return *reinterpret_cast<const crypto::signature*>(bytes_ + 1 + crypto::signature_bytes * i);
  }

  [[nodiscard]] std::size_t num_accounts() const noexcept { return num_accounts_; }
  // Accounts [0, num_signatures()) are the signers; account 0 is the fee payer.
  [[nodiscard]] const crypto::pubkey& account_key(std::size_t i) const noexcept {
    assert(i < num_accounts_);
    return *reinterpret_cast<const crypto::pubkey*>(bytes_ + message_offset_ +
                                                    message_header_bytes +
                                                    crypto::pubkey_bytes * i);
  }
  [[nodiscard]] const crypto::pubkey& fee_payer() const noexcept { return account_key(0); }
  [[nodiscard]] std::size_t num_readonly_signed() const noexcept { return num_readonly_signed_; }
  [[nodiscard]] std::size_t num_readonly_unsigned() const noexcept {
    return num_readonly_unsigned_;
  }
  [[nodiscard]] bool is_signer(std::size_t account) const noexcept {
    return account < num_signatures_;
  }
  [[nodiscard]] bool is_writable(std::size_t account) const noexcept {
    // The parser guarantees RS < R and RU <= A - R, so neither difference wraps.
    if (account < num_signatures_) {
      return account < std::size_t{num_signatures_} - num_readonly_signed_;
    }
    return account < std::size_t{num_accounts_} - num_readonly_unsigned_;
  }

  [[nodiscard]] const crypto::hash32& recent_blockhash() const noexcept {
    return *reinterpret_cast<const crypto::hash32*>(bytes_ + blockhash_offset_);
  }
  // The bytes every signature signs: from the version byte to the end.
  [[nodiscard]] std::span<const std::uint8_t> message() const noexcept {
    return {bytes_ + message_offset_, static_cast<std::size_t>(size_ - message_offset_)};
  }

  [[nodiscard]] std::size_t num_instructions() const noexcept { return num_instructions_; }
  [[nodiscard]] instruction_view instruction(std::size_t i) const noexcept {
    assert(i < num_instructions_);
    const std::uint8_t* p = bytes_ + instruction_offsets_[i];
    const std::size_t num_indices = p[1];
    const std::uint8_t* data_len = p + 2 + num_indices;
    return {p[0], {p + 2, num_indices}, {data_len + 2, detail::load_u16_le(data_len)}};
  }

 private:
  friend parse_error parse_transaction(std::span<const std::uint8_t> bytes,
                                       transaction_view& out) noexcept;

  const std::uint8_t* bytes_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t message_offset_ = 0;
  std::uint16_t blockhash_offset_ = 0;
  std::uint8_t num_signatures_ = 0;
  std::uint8_t num_readonly_signed_ = 0;
  std::uint8_t num_readonly_unsigned_ = 0;
  std::uint8_t num_accounts_ = 0;
  std::uint8_t num_instructions_ = 0;
  std::array<std::uint16_t, max_instructions> instruction_offsets_{};
};

// True iff tx is non-empty and every signature i verifies under account_key(i) over message().
[[nodiscard]] bool verify_signatures(const transaction_view& tx,
                                     crypto::pubkey_cache& cache) noexcept;

// ------------------------------------------------------------------- system program: transfer

// 32 zero bytes: a fixed id with no known secret key, so no one can sign as the program.
constexpr crypto::pubkey system_program_id{};
constexpr std::uint32_t system_transfer_kind = 2;
constexpr std::size_t transfer_data_bytes = 12;  // kind u32 | lamports u64
// Size of build_transfer's output (from != to); one account key less when from == to.
constexpr std::size_t transfer_transaction_bytes =
    1 + crypto::signature_bytes + message_header_bytes + 3 * crypto::pubkey_bytes +
    crypto::hash_bytes + 1 + (1 + 1 + 2 + 2 + transfer_data_bytes);  // 217

struct transfer {
  std::uint8_t from_index = 0;  // account index of the payer (a writable signer)
  std::uint8_t to_index = 0;    // account index of the receiver (writable)
  std::uint64_t lamports = 0;
};

enum class transfer_error : std::uint8_t {
  none,
  not_system_program,          // program id is not system_program_id
  bad_data_length,             // data is not exactly 12 bytes
  not_a_transfer,              // kind != system_transfer_kind
  bad_account_count,           // not exactly 2 account indices
  source_not_writable_signer,  // accounts[0] is not a writable signer
  destination_not_writable,    // accounts[1] is readonly
};
[[nodiscard]] const char* to_string(transfer_error error) noexcept;

// Decodes instruction i of a parsed tx (i < tx.num_instructions()) as a system transfer.
[[nodiscard]] transfer_error decode_transfer(const transaction_view& tx, std::size_t i,
                                             transfer& out) noexcept;

// Builds a signed single-transfer transaction into out and returns its size
// (transfer_transaction_bytes, or 32 less when to == from.public_key()).
// Throws std::length_error if out is too small, std::invalid_argument if from is empty or to is
// the system program id, std::runtime_error if the RNG fails while signing.
std::size_t build_transfer(const crypto::keypair& from, const crypto::pubkey& to,
                           std::uint64_t lamports, const crypto::hash32& recent_blockhash,
                           std::span<std::uint8_t> out);

}  // namespace riptide::txn
