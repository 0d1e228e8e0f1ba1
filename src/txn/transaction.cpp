#include <riptide/txn/transaction.hpp>

#include <cstring>
#include <stdexcept>

namespace riptide::txn {

namespace {

using crypto::hash_bytes;
using crypto::pubkey_bytes;
using crypto::signature_bytes;

static_assert(max_transaction_bytes <= UINT16_MAX, "offsets are stored as u16");
static_assert(max_signatures * (signature_bytes + pubkey_bytes) + 1 + message_header_bytes +
                      hash_bytes + 1 <=
                  max_transaction_bytes,
              "max_signatures signers must fit in one packet");
static_assert(max_signatures <= max_accounts);
static_assert(transfer_transaction_bytes == 217);

std::uint64_t load_u64_le(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::uint32_t load_u32_le(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

void store_le(std::uint8_t* p, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Pairwise comparison: A <= 32 keeps the worst case at 496 comparisons, and the 8-byte
// prefix test rejects almost every pair without touching the rest of the key.
bool has_duplicate_key(const std::uint8_t* keys, std::size_t count) noexcept {
  for (std::size_t i = 1; i < count; ++i) {
    const std::uint8_t* ki = keys + pubkey_bytes * i;
    std::uint64_t pi = 0;
    std::memcpy(&pi, ki, sizeof(pi));
    for (std::size_t j = 0; j < i; ++j) {
      const std::uint8_t* kj = keys + pubkey_bytes * j;
      std::uint64_t pj = 0;
      std::memcpy(&pj, kj, sizeof(pj));
      if (pi == pj && std::memcmp(ki, kj, pubkey_bytes) == 0) return true;
    }
  }
  return false;
}

}  // namespace

const char* to_string(parse_error error) noexcept {
  switch (error) {
#define RIPTIDE_CASE(name) \
  case parse_error::name: return #name;
    RIPTIDE_CASE(none)
    RIPTIDE_CASE(too_long)
    RIPTIDE_CASE(empty)
    RIPTIDE_CASE(no_signatures)
    RIPTIDE_CASE(too_many_signatures)
    RIPTIDE_CASE(truncated_signatures)
    RIPTIDE_CASE(truncated_message_header)
    RIPTIDE_CASE(unsupported_version)
    RIPTIDE_CASE(signature_count_mismatch)
    RIPTIDE_CASE(too_many_readonly_signed)
    RIPTIDE_CASE(too_many_accounts)
    RIPTIDE_CASE(fewer_accounts_than_signers)
    RIPTIDE_CASE(too_many_readonly_unsigned)
    RIPTIDE_CASE(truncated_account_keys)
    RIPTIDE_CASE(duplicate_account_key)
    RIPTIDE_CASE(truncated_blockhash)
    RIPTIDE_CASE(truncated_instruction_count)
    RIPTIDE_CASE(too_many_instructions)
    RIPTIDE_CASE(truncated_instruction_header)
    RIPTIDE_CASE(program_index_out_of_range)
    RIPTIDE_CASE(program_not_readonly_unsigned)
    RIPTIDE_CASE(too_many_instruction_accounts)
    RIPTIDE_CASE(truncated_instruction_accounts)
    RIPTIDE_CASE(account_index_out_of_range)
    RIPTIDE_CASE(truncated_instruction_data_length)
    RIPTIDE_CASE(instruction_data_overrun)
    RIPTIDE_CASE(trailing_bytes)
#undef RIPTIDE_CASE
  }
  return "unknown_parse_error";
}

parse_error parse_transaction(std::span<const std::uint8_t> bytes,
                              transaction_view& out) noexcept {
  const std::size_t size = bytes.size();
  if (size > max_transaction_bytes) return parse_error::too_long;
  if (size == 0) return parse_error::empty;
  const std::uint8_t* const b = bytes.data();

  transaction_view tx;
  tx.bytes_ = b;
  tx.size_ = static_cast<std::uint16_t>(size);

  // Signatures. Every bound below is checked as "bytes remaining >= need", with the position
  // never beyond size, so no arithmetic can wrap.
  const std::size_t num_signatures = b[0];
  if (num_signatures == 0) return parse_error::no_signatures;
  if (num_signatures > max_signatures) return parse_error::too_many_signatures;
  std::size_t pos = 1;
  if (size - pos < signature_bytes * num_signatures) return parse_error::truncated_signatures;
  pos += signature_bytes * num_signatures;

  // Message header.
  tx.message_offset_ = static_cast<std::uint16_t>(pos);
  if (size - pos < message_header_bytes) return parse_error::truncated_message_header;
  const std::uint8_t version = b[pos];
  const std::size_t required = b[pos + 1];
  const std::size_t readonly_signed = b[pos + 2];
  const std::size_t readonly_unsigned = b[pos + 3];
  const std::size_t num_accounts = b[pos + 4];
  pos += message_header_bytes;
  if (version != message_version_v1) return parse_error::unsupported_version;
  if (required != num_signatures) return parse_error::signature_count_mismatch;
  if (readonly_signed >= required) return parse_error::too_many_readonly_signed;
  if (num_accounts > max_accounts) return parse_error::too_many_accounts;
  if (num_accounts < required) return parse_error::fewer_accounts_than_signers;
  if (readonly_unsigned > num_accounts - required) return parse_error::too_many_readonly_unsigned;

  // Account keys.
  if (size - pos < pubkey_bytes * num_accounts) return parse_error::truncated_account_keys;
  if (has_duplicate_key(b + pos, num_accounts)) return parse_error::duplicate_account_key;
  pos += pubkey_bytes * num_accounts;

  // Recent blockhash.
  if (size - pos < hash_bytes) return parse_error::truncated_blockhash;
  tx.blockhash_offset_ = static_cast<std::uint16_t>(pos);
  pos += hash_bytes;

  // Instructions.
  if (size - pos < 1) return parse_error::truncated_instruction_count;
  const std::size_t num_instructions = b[pos];
  pos += 1;
  if (num_instructions > max_instructions) return parse_error::too_many_instructions;
  const std::size_t first_readonly_unsigned = num_accounts - readonly_unsigned;
  for (std::size_t i = 0; i < num_instructions; ++i) {
    tx.instruction_offsets_[i] = static_cast<std::uint16_t>(pos);
    if (size - pos < 2) return parse_error::truncated_instruction_header;
    const std::size_t program_index = b[pos];
    const std::size_t num_indices = b[pos + 1];
    pos += 2;
    if (program_index >= num_accounts) return parse_error::program_index_out_of_range;
    if (program_index < first_readonly_unsigned) return parse_error::program_not_readonly_unsigned;
    if (num_indices > max_instruction_accounts) return parse_error::too_many_instruction_accounts;
    if (size - pos < num_indices) return parse_error::truncated_instruction_accounts;
    for (std::size_t k = 0; k < num_indices; ++k) {
      if (b[pos + k] >= num_accounts) return parse_error::account_index_out_of_range;
    }
    pos += num_indices;
    if (size - pos < 2) return parse_error::truncated_instruction_data_length;
    const std::size_t data_len = detail::load_u16_le(b + pos);
    pos += 2;
    if (size - pos < data_len) return parse_error::instruction_data_overrun;
    pos += data_len;
  }
  if (pos != size) return parse_error::trailing_bytes;

  tx.num_signatures_ = static_cast<std::uint8_t>(num_signatures);
  tx.num_readonly_signed_ = static_cast<std::uint8_t>(readonly_signed);
  tx.num_readonly_unsigned_ = static_cast<std::uint8_t>(readonly_unsigned);
  tx.num_accounts_ = static_cast<std::uint8_t>(num_accounts);
  tx.num_instructions_ = static_cast<std::uint8_t>(num_instructions);
  out = tx;
  return parse_error::none;
}

bool verify_signatures(const transaction_view& tx, crypto::pubkey_cache& cache) noexcept {
  if (tx.empty()) return false;
  const std::span<const std::uint8_t> message = tx.message();
  for (std::size_t i = 0; i < tx.num_signatures(); ++i) {
    if (!cache.verify(tx.account_key(i), message, tx.signature(i))) return false;
  }
  return true;
}

// ------------------------------------------------------------------------------- transfer

const char* to_string(transfer_error error) noexcept {
  switch (error) {
    case transfer_error::none: return "none";
    case transfer_error::not_system_program: return "not_system_program";
    case transfer_error::bad_data_length: return "bad_data_length";
    case transfer_error::not_a_transfer: return "not_a_transfer";
    case transfer_error::bad_account_count: return "bad_account_count";
    case transfer_error::source_not_writable_signer: return "source_not_writable_signer";
    case transfer_error::destination_not_writable: return "destination_not_writable";
  }
  return "unknown_transfer_error";
}

transfer_error decode_transfer(const transaction_view& tx, std::size_t i,
                               transfer& out) noexcept {
  const instruction_view ix = tx.instruction(i);
  if (tx.account_key(ix.program_index) != system_program_id) {
    return transfer_error::not_system_program;
  }
  if (ix.data.size() != transfer_data_bytes) return transfer_error::bad_data_length;
  if (load_u32_le(ix.data.data()) != system_transfer_kind) return transfer_error::not_a_transfer;
  if (ix.account_indices.size() != 2) return transfer_error::bad_account_count;
  const std::uint8_t from = ix.account_indices[0];
  const std::uint8_t to = ix.account_indices[1];
  if (!tx.is_signer(from) || !tx.is_writable(from)) {
    return transfer_error::source_not_writable_signer;
  }
  if (!tx.is_writable(to)) return transfer_error::destination_not_writable;
  out.from_index = from;
  out.to_index = to;
  out.lamports = load_u64_le(ix.data.data() + 4);
  return transfer_error::none;
}

std::size_t build_transfer(const crypto::keypair& from, const crypto::pubkey& to,
                           std::uint64_t lamports, const crypto::hash32& recent_blockhash,
                           std::span<std::uint8_t> out) {
  if (from.empty()) throw std::invalid_argument("build_transfer: empty keypair");
  if (to == system_program_id) {
    throw std::invalid_argument("build_transfer: destination is the system program id");
  }
  const bool to_self = to == from.public_key();
  const std::size_t num_accounts = to_self ? 2 : 3;
  const std::size_t size = transfer_transaction_bytes - (to_self ? pubkey_bytes : 0);
  if (out.size() < size) {
    throw std::length_error("build_transfer: output buffer smaller than the transaction");
  }

  std::uint8_t* const b = out.data();
  std::size_t pos = 0;
  b[pos++] = 1;  // num_signatures
  const std::size_t signature_pos = pos;
  pos += signature_bytes;
  const std::size_t message_pos = pos;
  b[pos++] = message_version_v1;
  b[pos++] = 1;  // required signatures: the payer
  b[pos++] = 0;  // readonly signed
  b[pos++] = 1;  // readonly unsigned: the system program
  b[pos++] = static_cast<std::uint8_t>(num_accounts);
  auto put_key = [&](const crypto::pubkey& key) {
    std::memcpy(b + pos, key.data(), key.size());
    pos += key.size();
  };
  put_key(from.public_key());  // 0: writable signer
  if (!to_self) put_key(to);   // 1: writable non-signer
  put_key(system_program_id);  // last: readonly non-signer
  std::memcpy(b + pos, recent_blockhash.data(), recent_blockhash.size());
  pos += recent_blockhash.size();
  b[pos++] = 1;  // num_instructions
  b[pos++] = static_cast<std::uint8_t>(num_accounts - 1);  // program index
  b[pos++] = 2;                                            // num account indices
  b[pos++] = 0;                                            // from
  b[pos++] = to_self ? 0 : 1;                              // to
  store_le(b + pos, transfer_data_bytes, 2);
  pos += 2;
  store_le(b + pos, system_transfer_kind, 4);
  pos += 4;
  store_le(b + pos, lamports, 8);
  pos += 8;

  const crypto::signature sig = from.sign(std::span<const std::uint8_t>(b + message_pos,
                                                                         pos - message_pos));
  std::memcpy(b + signature_pos, sig.data(), sig.size());
  return pos;
}

}  // namespace riptide::txn
