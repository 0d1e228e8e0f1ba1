#pragma once
// Shared by the benchmark binaries: CPU choice and the raw signature-verify reference loop.

#include <benchmark/benchmark.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include <riptide/txn/transaction.hpp>
#include <riptide/util/cpu.hpp>

namespace riptide::bench {

// The i-th CPU this process may run on (wrapping), or -1 if unknown.
inline int cpu_at(std::size_t i) {
  static const auto cpus = util::allowed_cpus();
  return cpus.empty() ? -1 : cpus[i % cpus.size()];
}

// secp256k1_schnorrsig_verify over the first signature of each transaction, public keys parsed
// once up front: the per-core ceiling every verify stage is compared with.
class raw_verifier {
 public:
  // Throws std::runtime_error if a transaction does not parse or has a bad key.
  explicit raw_verifier(const std::vector<std::span<const std::uint8_t>>& txs)
      : ctx_(secp256k1_context_create(SECP256K1_CONTEXT_NONE)) {
    for (const auto bytes : txs) {
      txn::transaction_view tx;
      if (txn::parse_transaction(bytes, tx) != txn::parse_error::none)
        throw std::runtime_error("corpus transaction does not parse");
      item it{tx.signature(0).data(), tx.message(), {}};
      if (!secp256k1_xonly_pubkey_parse(ctx_, &it.key, tx.account_key(0).data()))
        throw std::runtime_error("bad pubkey in corpus");
      items_.push_back(it);
    }
  }
  ~raw_verifier() { secp256k1_context_destroy(ctx_); }
  raw_verifier(const raw_verifier&) = delete;
  raw_verifier& operator=(const raw_verifier&) = delete;

  // Verifies item n % size; true if valid.
  bool verify(std::uint64_t n) const noexcept {
    const item& it = items_[n % items_.size()];
    return secp256k1_schnorrsig_verify(ctx_, it.sig, it.msg.data(), it.msg.size(), &it.key) == 1;
  }

 private:
  struct item {
    const std::uint8_t* sig;
    std::span<const std::uint8_t> msg;
    secp256k1_xonly_pubkey key;
  };
  secp256k1_context* ctx_;
  std::vector<item> items_;
};

// The BM_schnorr_verify_raw body: verifies txs round-robin for as long as the benchmark runs.
inline void run_raw_verify(benchmark::State& state,
                           const std::vector<std::span<const std::uint8_t>>& txs) {
  const raw_verifier verifier(txs);
  std::uint64_t n = 0, ok = 0;
  for (auto _ : state) ok += verifier.verify(n++) ? 1 : 0;
  if (ok != n) state.SkipWithError("a valid signature failed to verify");
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}

}  // namespace riptide::bench
