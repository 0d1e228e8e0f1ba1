#pragma once
// A transaction described field by field, so a test can break exactly one thing of the wire
// format (txn/transaction.hpp) and see the parser or a decoder refuse it.

#include <riptide/crypto/types.hpp>
#include <riptide/txn/transaction.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace riptide::testing {

struct raw_instruction {
  std::uint8_t program_index = 0;
  std::optional<std::uint8_t> num_indices;  // default: indices.size()
  std::vector<std::uint8_t> indices;
  std::optional<std::uint16_t> data_len;  // default: data.size()
  std::vector<std::uint8_t> data;
};

struct raw_tx {
  std::optional<std::uint8_t> num_signatures;  // default: signatures.size()
  std::vector<crypto::signature> signatures;
  std::uint8_t version = txn::message_version_v1;
  std::uint8_t required = 0, readonly_signed = 0, readonly_unsigned = 0;
  std::optional<std::uint8_t> num_accounts;  // default: keys.size()
  std::vector<crypto::pubkey> keys;
  crypto::hash32 blockhash{};
  std::optional<std::uint8_t> num_instructions;  // default: instructions.size()
  std::vector<raw_instruction> instructions;

  [[nodiscard]] std::size_t message_offset() const {
    return 1 + crypto::signature_bytes * signatures.size();
  }

  [[nodiscard]] std::vector<std::uint8_t> encode() const {
    std::vector<std::uint8_t> b;
    b.push_back(num_signatures.value_or(static_cast<std::uint8_t>(signatures.size())));
    for (const auto& s : signatures) b.insert(b.end(), s.begin(), s.end());
    b.push_back(version);
    b.push_back(required);
    b.push_back(readonly_signed);
    b.push_back(readonly_unsigned);
    b.push_back(num_accounts.value_or(static_cast<std::uint8_t>(keys.size())));
    for (const auto& k : keys) b.insert(b.end(), k.begin(), k.end());
    b.insert(b.end(), blockhash.begin(), blockhash.end());
    b.push_back(num_instructions.value_or(static_cast<std::uint8_t>(instructions.size())));
    for (const auto& ix : instructions) {
      b.push_back(ix.program_index);
      b.push_back(ix.num_indices.value_or(static_cast<std::uint8_t>(ix.indices.size())));
      b.insert(b.end(), ix.indices.begin(), ix.indices.end());
      const std::uint16_t len = ix.data_len.value_or(static_cast<std::uint16_t>(ix.data.size()));
      b.push_back(static_cast<std::uint8_t>(len));
      b.push_back(static_cast<std::uint8_t>(len >> 8));
      b.insert(b.end(), ix.data.begin(), ix.data.end());
    }
    return b;
  }
};

}  // namespace riptide::testing
