#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <sys/random.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <string>

namespace riptide::crypto {

static_assert(sizeof(secp256k1_keypair) == 96);
static_assert(sizeof(secp256k1_xonly_pubkey) == 64);

namespace {

// Wipes secrets in a way the optimizer may not elide.
void wipe(void* p, std::size_t n) noexcept { explicit_bzero(p, n); }

// The context for operations on secrets (key creation, signing): created once, randomized
// against side channels, then only read. Verification uses secp256k1_context_static, which needs
// no setup, so verify() can stay noexcept.
const secp256k1_context* signing_context() {
  static const secp256k1_context* const ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (c == nullptr) throw std::runtime_error("secp256k1_context_create failed");
    aux_rand seed{};
    random_bytes(seed);
    const int ok = secp256k1_context_randomize(c, seed.data());
    wipe(seed.data(), seed.size());
    if (ok != 1) {
      secp256k1_context_destroy(c);
      throw std::runtime_error("secp256k1_context_randomize failed");
    }
    return c;
  }();
  return ctx;
}

const secp256k1_context* verify_context() noexcept { return secp256k1_context_static; }

bool parse_key(const pubkey& key, secp256k1_xonly_pubkey& out) noexcept {
  return secp256k1_xonly_pubkey_parse(verify_context(), &out, key.data()) == 1;
}

bool verify_parsed(const secp256k1_xonly_pubkey& key, std::span<const std::uint8_t> msg,
                   const signature& sig) noexcept {
  return secp256k1_schnorrsig_verify(verify_context(), sig.data(), msg.data(), msg.size(),
                                     &key) == 1;
}

}  // namespace

void random_bytes(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

bool is_valid_secret(const seckey& secret) noexcept {
  return secp256k1_ec_seckey_verify(verify_context(), secret.data()) == 1;
}

// ---------------------------------------------------------------------------------- keypair

keypair::~keypair() {
  wipe(secret_.data(), secret_.size());
  wipe(native_.data(), native_.size());
}

bool keypair::try_from_secret(const seckey& secret, keypair& out) noexcept {
  if (!is_valid_secret(secret)) return false;
  const secp256k1_context* ctx = nullptr;
  try {
    ctx = signing_context();
  } catch (...) {
    return false;
  }
  secp256k1_keypair native;
  secp256k1_xonly_pubkey xonly;
  keypair result;
  const bool ok = secp256k1_keypair_create(ctx, &native, secret.data()) == 1 &&
                  secp256k1_keypair_xonly_pub(ctx, &xonly, nullptr, &native) == 1 &&
                  secp256k1_xonly_pubkey_serialize(ctx, result.public_.data(), &xonly) == 1;
  if (ok) {
    result.secret_ = secret;
    std::memcpy(result.native_.data(), native.data, sizeof(native.data));
    result.valid_ = true;
    out = result;
  }
  wipe(&native, sizeof(native));
  return ok;
}

keypair keypair::from_secret(const seckey& secret) {
  signing_context();  // surface context/RNG failures as runtime_error, not invalid_argument
  keypair result;
  if (!try_from_secret(secret, result)) {
    throw std::invalid_argument("secret key is not in [1, curve order)");
  }
  return result;
}

keypair keypair::generate() {
  signing_context();  // throws on failure, so the loop below cannot spin on it
  seckey secret{};
  // A uniformly random 256-bit value is >= the curve order with probability ~2^-128; loop
  // rather than reason about it.
  for (;;) {
    random_bytes(secret);
    keypair result;
    if (try_from_secret(secret, result)) {
      wipe(secret.data(), secret.size());
      return result;
    }
  }
}

signature keypair::sign(std::span<const std::uint8_t> msg) const {
  aux_rand aux{};
  random_bytes(aux);
  return sign(msg, aux);
}

signature keypair::sign(std::span<const std::uint8_t> msg, const aux_rand& aux) const {
  if (!valid_) throw std::logic_error("keypair::sign on an empty keypair");
  secp256k1_keypair native;
  std::memcpy(native.data, native_.data(), sizeof(native.data));
  secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
  params.ndata = const_cast<unsigned char*>(aux.data());  // read-only despite the void*
  signature sig{};
  const int ok = secp256k1_schnorrsig_sign_custom(signing_context(), sig.data(), msg.data(),
                                                  msg.size(), &native, &params);
  wipe(&native, sizeof(native));
  if (ok != 1) throw std::runtime_error("secp256k1_schnorrsig_sign_custom failed");
  return sig;
}

// ---------------------------------------------------------------------------------- verify

bool verify(const pubkey& key, std::span<const std::uint8_t> msg,
            const signature& sig) noexcept {
  secp256k1_xonly_pubkey parsed;
  return parse_key(key, parsed) && verify_parsed(parsed, msg, sig);
}

// ---------------------------------------------------------------------------- pubkey_cache

struct pubkey_cache::entry {
  enum class state : std::uint8_t { empty, valid, invalid };
  pubkey key{};
  state st = state::empty;
  secp256k1_xonly_pubkey parsed{};
};

pubkey_cache::pubkey_cache(std::size_t capacity) {
  constexpr std::size_t max_capacity = std::size_t{1} << 32;
  if (capacity == 0) throw std::invalid_argument("pubkey_cache: capacity must be at least 1");
  if (capacity > max_capacity) throw std::invalid_argument("pubkey_cache: capacity too large");
  const std::size_t slots = std::bit_ceil(capacity);
  entries_ = std::make_unique<entry[]>(slots);
  mask_ = slots - 1;
  // A secret seed stops senders from grinding keys that all land in (and evict) one slot.
  std::array<std::uint8_t, sizeof(seed_)> seed_bytes{};
  random_bytes(seed_bytes);
  std::memcpy(&seed_, seed_bytes.data(), sizeof(seed_));
}

pubkey_cache::~pubkey_cache() = default;
pubkey_cache::pubkey_cache(pubkey_cache&&) noexcept = default;
pubkey_cache& pubkey_cache::operator=(pubkey_cache&&) noexcept = default;

bool pubkey_cache::verify(const pubkey& key, std::span<const std::uint8_t> msg,
                          const signature& sig) noexcept {
  // Two-way sets: two hot signers that hash to one set both stay cached. The most recently
  // used entry of a set is kept first; a miss demotes it to second and evicts the other.
  const std::size_t h = static_cast<std::size_t>(xxh3_64(key, seed_)) & mask_;
  entry* e = &entries_[h];
  if (mask_ != 0) {
    entry& first = entries_[h & ~std::size_t{1}];
    entry& second = entries_[h | 1];
    e = &first;
    if (first.st != entry::state::empty && first.key == key) {
      ++hits_;
      return first.st == entry::state::valid && verify_parsed(first.parsed, msg, sig);
    }
    if (second.st != entry::state::empty && second.key == key) {
      ++hits_;
      std::swap(first, second);
      return first.st == entry::state::valid && verify_parsed(first.parsed, msg, sig);
    }
    second = first;
  } else if (e->st != entry::state::empty && e->key == key) {
    ++hits_;
    return e->st == entry::state::valid && verify_parsed(e->parsed, msg, sig);
  }
  ++misses_;
  e->key = key;
  e->st = parse_key(key, e->parsed) ? entry::state::valid : entry::state::invalid;
  return e->st == entry::state::valid && verify_parsed(e->parsed, msg, sig);
}

}  // namespace riptide::crypto
