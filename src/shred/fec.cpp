// Reed-Solomon FEC sets with a closed-form Cauchy inverse for recovery; the shard passes
// run on a GFNI + AVX-512 kernel when the CPU has one, else on ISA-L.

#include <riptide/shred/fec.hpp>

#include <isa-l/erasure_code.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace riptide::shred {
namespace {

constexpr std::size_t table_bytes = 32;  // ISA-L: 16 low-nibble + 16 high-nibble products

// GF(2^8) with ISA-L's polynomial x^8 + x^4 + x^3 + x^2 + 1 and generator 2.
// exp has 512 entries so a sum of two logs (each < 255) indexes it without a modulo.
struct gf_tables {
  std::array<std::uint8_t, 512> exp{};
  std::array<std::uint8_t, 256> log{};  // log[0] is unused
};

constexpr gf_tables make_gf_tables() {
  gf_tables t;
  unsigned x = 1;
  for (unsigned i = 0; i < 255; ++i) {
    t.exp[i] = static_cast<std::uint8_t>(x);
    t.log[x] = static_cast<std::uint8_t>(i);
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (unsigned i = 255; i < t.exp.size(); ++i) t.exp[i] = t.exp[i - 255];
  return t;
}

constexpr gf_tables gf = make_gf_tables();

// Products of every coefficient with every nibble: [c][0, 16) = c·n, [c][16, 32) = c·(n << 4).
struct nibble_tables {
  alignas(16) std::array<std::array<std::uint8_t, 32>, 256> t{};
};

constexpr nibble_tables make_nibble_tables() {
  nibble_tables n;
  for (unsigned c = 1; c < 256; ++c) {
    for (unsigned v = 1; v < 16; ++v) {
      n.t[c][v] = gf.exp[gf.log[c] + gf.log[v]];
      n.t[c][16 + v] = gf.exp[gf.log[c] + gf.log[v << 4]];
    }
  }
  return n;
}

constexpr nibble_tables nibbles = make_nibble_tables();

// row[q] = Σ_k coeffs[k]·rows[k][q] for q < 32 (rows zero-padded to 32 bytes).
void mad_rows_scalar(std::uint8_t* row, const std::uint8_t* coeffs,
                     const std::array<std::uint8_t, 32>* rows, std::size_t n_rows) noexcept {
  std::array<std::uint8_t, 32> acc{};
  for (std::size_t k = 0; k < n_rows; ++k) {
    const auto& t = nibbles.t[coeffs[k]];
    for (std::size_t q = 0; q < 32; ++q) acc[q] ^= t[rows[k][q] & 15] ^ t[16 + (rows[k][q] >> 4)];
  }
  std::memcpy(row, acc.data(), acc.size());
}

#if defined(__x86_64__)
// The same with pshufb: two table lookups per 16 products.
__attribute__((target("ssse3"))) void mad_rows_ssse3(std::uint8_t* row, const std::uint8_t* coeffs,
                                                     const std::array<std::uint8_t, 32>* rows,
                                                     std::size_t n_rows) noexcept {
  const __m128i low_nibbles = _mm_set1_epi8(0x0f);
  __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
  for (std::size_t k = 0; k < n_rows; ++k) {
    const auto& t = nibbles.t[coeffs[k]];
    const __m128i lo_table = _mm_load_si128(reinterpret_cast<const __m128i*>(t.data()));
    const __m128i hi_table = _mm_load_si128(reinterpret_cast<const __m128i*>(t.data() + 16));
    const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[k].data()));
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[k].data() + 16));
    acc0 = _mm_xor_si128(acc0, _mm_xor_si128(
        _mm_shuffle_epi8(lo_table, _mm_and_si128(v0, low_nibbles)),
        _mm_shuffle_epi8(hi_table, _mm_and_si128(_mm_srli_epi64(v0, 4), low_nibbles))));
    acc1 = _mm_xor_si128(acc1, _mm_xor_si128(
        _mm_shuffle_epi8(lo_table, _mm_and_si128(v1, low_nibbles)),
        _mm_shuffle_epi8(hi_table, _mm_and_si128(_mm_srli_epi64(v1, 4), low_nibbles))));
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(row), acc0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 16), acc1);
}
#endif

using mad_rows_fn = void (*)(std::uint8_t*, const std::uint8_t*, const std::array<std::uint8_t, 32>*,
                             std::size_t) noexcept;

mad_rows_fn pick_mad_rows() noexcept {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("ssse3")) return mad_rows_ssse3;
#endif
  return mad_rows_scalar;
}

// The bit matrix of multiplication by c, in vgf2p8affineqb's layout: result bit i is the
// parity of (byte 7 − i of the matrix) & x, so byte 7 − i holds, as bit k, bit i of c·2^k.
constexpr std::uint64_t make_affine_matrix(unsigned c) {
  std::array<unsigned, 8> column{};  // column[k] = c·2^k
  for (unsigned k = 0, p = c; k < 8; ++k) {
    column[k] = p;
    p <<= 1;
    if (p & 0x100) p ^= 0x11d;
  }
  std::uint64_t a = 0;
  for (unsigned i = 0; i < 8; ++i) {
    std::uint64_t row = 0;
    for (unsigned k = 0; k < 8; ++k) row |= std::uint64_t{(column[k] >> i) & 1u} << k;
    a |= row << (8 * (7 - i));
  }
  return a;
}

constexpr std::array<std::uint64_t, 256> make_affine_table() {
  std::array<std::uint64_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = make_affine_matrix(c);
  return t;
}

constexpr std::array<std::uint64_t, 256> affine_table = make_affine_table();

// The kernel keeps up to affine_group_max outputs in registers per pass over the inputs
// (16 zmm accumulators, the input and the matrices fit in AVX-512's 32 registers); more
// outputs are split into groups as even as possible. lay_out_affine orders the matrices
// the way the kernel reads them: per group, per input, that group's outputs.
constexpr std::size_t affine_group_max = 16;

constexpr std::size_t affine_groups(std::size_t n_out) noexcept {
  return (n_out + affine_group_max - 1) / affine_group_max;
}

constexpr std::size_t affine_group_size(std::size_t n_out, std::size_t groups,
                                        std::size_t g) noexcept {
  return n_out / groups + (g < n_out % groups ? 1 : 0);
}

// rows[r] points at the n_in coefficients of output r; writes n_out × n_in matrices.
void lay_out_affine(const std::uint8_t* const* rows, std::size_t n_in, std::size_t n_out,
                    std::uint64_t* layout) noexcept {
  const std::size_t groups = affine_groups(n_out);
  for (std::size_t g = 0, first = 0; g < groups; ++g) {
    const std::size_t n = affine_group_size(n_out, groups, g);
    for (std::size_t j = 0; j < n_in; ++j)
      for (std::size_t o = 0; o < n; ++o) *layout++ = affine_table[rows[first + o][j]];
    first += n;
  }
}

#if defined(__x86_64__)
// One 64-byte column (or the masked tail) of N outputs: every input is loaded once and
// multiplied into all N accumulators.
template <std::size_t N, bool masked>
__attribute__((target("gfni,avx512f,avx512bw"))) void affine_pass(
    const std::uint8_t* const* in, std::size_t n_in, const std::uint64_t* m,
    std::uint8_t* const* out, std::size_t at, __mmask64 mask) noexcept {
  __m512i acc[N];
#pragma GCC unroll 16
  for (std::size_t o = 0; o < N; ++o) acc[o] = _mm512_setzero_si512();
  for (std::size_t j = 0; j < n_in; ++j, m += N) {
    __m512i x;
    if constexpr (masked)
      x = _mm512_maskz_loadu_epi8(mask, in[j] + at);
    else
      x = _mm512_loadu_si512(in[j] + at);
#pragma GCC unroll 16
    for (std::size_t o = 0; o < N; ++o) {
      const __m512i a = _mm512_set1_epi64(static_cast<long long>(m[o]));
      acc[o] = _mm512_xor_si512(acc[o], _mm512_gf2p8affine_epi64_epi8(x, a, 0));
    }
  }
#pragma GCC unroll 16
  for (std::size_t o = 0; o < N; ++o) {
    if constexpr (masked)
      _mm512_mask_storeu_epi8(out[o] + at, mask, acc[o]);
    else
      _mm512_storeu_si512(out[o] + at, acc[o]);
  }
}

using affine_pass_fn = void (*)(const std::uint8_t* const*, std::size_t, const std::uint64_t*,
                                std::uint8_t* const*, std::size_t, __mmask64) noexcept;

template <bool masked, std::size_t... n>
constexpr std::array<affine_pass_fn, sizeof...(n)> make_affine_passes(std::index_sequence<n...>) {
  return {&affine_pass<n + 1, masked>...};
}

// [N - 1]: the pass for N outputs.
constexpr auto affine_passes =
    make_affine_passes<false>(std::make_index_sequence<affine_group_max>{});
constexpr auto affine_passes_masked =
    make_affine_passes<true>(std::make_index_sequence<affine_group_max>{});

// Column by column so each 64-byte column of the inputs is read from L1 by every group.
void affine_kernel_avx512(std::size_t bytes, std::size_t n_in, std::size_t n_out,
                          const std::uint64_t* layout, const std::uint8_t* const* in,
                          std::uint8_t* const* out) noexcept {
  const std::size_t groups = affine_groups(n_out);
  const std::size_t full = bytes & ~std::size_t{63};
  const auto column = [&](const std::array<affine_pass_fn, affine_group_max>& passes,
                          std::size_t at, __mmask64 mask) {
    const std::uint64_t* m = layout;
    std::uint8_t* const* o = out;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t n = affine_group_size(n_out, groups, g);
      passes[n - 1](in, n_in, m, o, at, mask);
      m += n * n_in;
      o += n;
    }
  };
  for (std::size_t at = 0; at < full; at += 64) column(affine_passes, at, ~__mmask64{0});
  if (full < bytes) column(affine_passes_masked, full, ~__mmask64{0} >> (64 - (bytes - full)));
}
#endif

using affine_kernel_fn = void (*)(std::size_t, std::size_t, std::size_t, const std::uint64_t*,
                                  const std::uint8_t* const*, std::uint8_t* const*) noexcept;

// The GFNI kernel when the CPU runs it and `kernel` allows it, else null (ISA-L).
affine_kernel_fn pick_affine_kernel(fec_kernel kernel) {
  if (kernel == fec_kernel::isal) return nullptr;
  if (!fec_gfni_supported()) {
    if (kernel == fec_kernel::gfni)
      throw std::invalid_argument("fec_codec: fec_kernel::gfni needs GFNI, AVX-512F and AVX-512BW");
    return nullptr;
  }
#if defined(__x86_64__)
  return affine_kernel_avx512;
#else
  return nullptr;
#endif
}

// log(a ⊕ b) for a ≠ b.
inline unsigned log_sum(unsigned a, unsigned b) noexcept { return gf.log[a ^ b]; }

inline unsigned mod255(unsigned v) noexcept { return v % 255; }

// v mod 255 for v < 2·255, without a division (recover()'s inner loops).
inline unsigned reduce_once(unsigned v) noexcept { return v >= 255 ? v - 255 : v; }

}  // namespace

bool fec_gfni_supported() noexcept {
#if defined(__x86_64__)
  // libgcc reports the AVX-512 features only when the OS saves the zmm and mask state.
  return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

std::uint64_t fec_affine_matrix(std::uint8_t c) noexcept { return affine_table[c]; }

fec_codec::fec_codec(std::size_t data_shards, std::size_t coding_shards, fec_kernel kernel)
    : data_shards_(data_shards), coding_shards_(coding_shards), blockwise_tables_(false),
      mad_rows_(pick_mad_rows()), affine_kernel_(nullptr) {
  if (data_shards < 1 || data_shards > fec_max_data_shards || coding_shards < 1 ||
      coding_shards > fec_max_coding_shards)
    throw std::invalid_argument("fec_codec: need 1 <= data shards <= 32 and 1 <= coding "
                                "shards <= 32, got " + std::to_string(data_shards) + ":" +
                                std::to_string(coding_shards));
  const std::size_t d = data_shards, c = coding_shards, m = d + c;

  // The systematic (identity over Cauchy) matrix; keep its Cauchy rows.
  std::vector<std::uint8_t> full(m * d);
  gf_gen_cauchy1_matrix(full.data(), static_cast<int>(m), static_cast<int>(d));
  matrix_.assign(full.begin() + static_cast<std::ptrdiff_t>(d * d), full.end());
  // recover() relies on the closed form M[r][j] = 1 / ((D + r) ⊕ j): check it once.
  for (std::size_t r = 0; r < c; ++r) {
    for (std::size_t j = 0; j < d; ++j) {
      const unsigned lg = mod255(255 - log_sum(static_cast<unsigned>(d + r), static_cast<unsigned>(j)));
      if (matrix_[r * d + j] != gf.exp[lg])
        throw std::logic_error("fec_codec: ISA-L Cauchy matrix is not 1/((D + r) xor j)");
    }
  }

  affine_kernel_ = pick_affine_kernel(kernel);
  if (affine_kernel_ != nullptr) {
    std::array<const std::uint8_t*, fec_max_coding_shards> rows{};
    for (std::size_t r = 0; r < c; ++r) rows[r] = matrix_.data() + r * d;
    encode_affine_.resize(c * d);
    lay_out_affine(rows.data(), d, c, encode_affine_.data());
    scratch_affine_.resize(c * d);
    return;
  }

  // Every coefficient's multiplication table, so decode tables are built by copying
  // 32-byte blocks instead of running ec_init_tables per recovery. That only holds if
  // ISA-L lays tables out as one block per coefficient, row-major: check, else fall back.
  std::array<std::uint8_t, 256> all{};
  for (unsigned i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  coeff_tables_.resize(256 * table_bytes);
  ec_init_tables(256, 1, all.data(), coeff_tables_.data());
  {
    constexpr int rows = 3, cols = 5;
    std::array<std::uint8_t, rows * cols> sample{};
    for (std::size_t i = 0; i < sample.size(); ++i) sample[i] = static_cast<std::uint8_t>(i * 37 + 11);
    std::array<std::uint8_t, rows * cols * table_bytes> direct{}, copied{};
    ec_init_tables(cols, rows, sample.data(), direct.data());
    for (std::size_t i = 0; i < sample.size(); ++i)
      std::memcpy(copied.data() + i * table_bytes, coeff_tables_.data() + sample[i] * table_bytes,
                  table_bytes);
    blockwise_tables_ = direct == copied;
  }

  encode_tables_.resize(c * d * table_bytes);
  ec_init_tables(static_cast<int>(d), static_cast<int>(c), matrix_.data(), encode_tables_.data());
  decode_tables_.resize(std::min(d, c) * d * table_bytes);
  coding_tables_.resize(c * d * table_bytes);
}

void fec_codec::build_tables(const std::uint8_t* coeffs, std::size_t rows,
                             std::uint8_t* tables) noexcept {
  const std::size_t n = rows * data_shards_;
  if (!blockwise_tables_) {
    ec_init_tables(static_cast<int>(data_shards_), static_cast<int>(rows),
                   const_cast<std::uint8_t*>(coeffs), tables);
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    std::memcpy(tables + i * table_bytes, coeff_tables_.data() + coeffs[i] * table_bytes,
                table_bytes);
}

bool fec_codec::encode(std::span<const std::uint8_t* const> data,
                       std::span<std::uint8_t* const> coding,
                       std::size_t shard_bytes) const noexcept {
  if (data.size() != data_shards_ || coding.size() != coding_shards_) return false;
  if (shard_bytes == 0) return true;
  if (affine_kernel_ != nullptr) {
    affine_kernel_(shard_bytes, data_shards_, coding_shards_, encode_affine_.data(), data.data(),
                   coding.data());
    return true;
  }
  // ISA-L neither writes its tables nor its sources; its C API just is not const-correct.
  ec_encode_data(static_cast<int>(shard_bytes), static_cast<int>(data_shards_),
                 static_cast<int>(coding_shards_), const_cast<std::uint8_t*>(encode_tables_.data()),
                 const_cast<std::uint8_t**>(data.data()), const_cast<std::uint8_t**>(coding.data()));
  return true;
}

bool fec_codec::recover(std::span<std::uint8_t* const> shards, std::uint64_t present_mask,
                        std::size_t shard_bytes) noexcept {
  const std::size_t d = data_shards_, c = coding_shards_, m = d + c;
  if (shards.size() != m) return false;
  const std::uint64_t all = m == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << m) - 1;
  present_mask &= all;
  if (static_cast<std::size_t>(std::popcount(present_mask)) < d) return false;
  if (present_mask == all || shard_bytes == 0) return true;

  // Shard lists: present data (inputs), missing data (y: column indices), the first e
  // present coding shards (x: row indices), missing coding shards.
  std::array<std::uint8_t*, fec_max_shards> inputs{};
  std::array<std::uint8_t*, fec_max_shards> outputs{};
  std::array<unsigned, fec_max_data_shards> present_data{}, missing_data{};
  std::array<unsigned, fec_max_coding_shards> used_coding{}, missing_coding{};
  std::size_t n_present_data = 0, e = 0, n_missing_coding = 0;
  for (std::size_t j = 0; j < d; ++j) {
    if (present_mask >> j & 1)
      present_data[n_present_data++] = static_cast<unsigned>(j);
    else
      missing_data[e++] = static_cast<unsigned>(j);
  }
  std::size_t n_used = 0;
  for (std::size_t r = 0; r < c; ++r) {
    if (present_mask >> (d + r) & 1) {
      if (n_used < e) used_coding[n_used++] = static_cast<unsigned>(r);
    } else {
      missing_coding[n_missing_coding++] = static_cast<unsigned>(r);
    }
  }

  if (e > 0) {
    // Solve M[used][missing] · x = s where s_k = code_{used k} ⊕ Σ_present M[used k][p]·data_p.
    // With x_k = D + r_k (rows) and y_i = j_i (columns) the submatrix is 1/(x_k ⊕ y_i), whose
    // inverse (indexed [i][k]) is, in characteristic 2,
    //   b[i][k] = A(y_i) B(x_k) / (A'(x_k) B'(y_i) (x_k ⊕ y_i)),
    //   A(t) = Π_l (t ⊕ x_l), B(t) = Π_l (t ⊕ y_l), A'(x_k) = Π_{l≠k} (x_k ⊕ x_l),
    //   B'(y_i) = Π_{l≠i} (y_i ⊕ y_l).
    // Everything is kept as discrete logs (every factor is nonzero).
    std::array<unsigned, fec_max_data_shards> x{}, y{}, log_a_y{}, log_bp_y{};
    std::array<unsigned, fec_max_data_shards> log_b_x{}, log_ap_x{};
    for (std::size_t k = 0; k < e; ++k) x[k] = static_cast<unsigned>(d + used_coding[k]);
    for (std::size_t i = 0; i < e; ++i) y[i] = missing_data[i];
    for (std::size_t i = 0; i < e; ++i) {
      unsigned la = 0, lbp = 0;
      for (std::size_t l = 0; l < e; ++l) {
        la += log_sum(y[i], x[l]);
        if (l != i) lbp += log_sum(y[i], y[l]);
      }
      log_a_y[i] = mod255(la);
      log_bp_y[i] = mod255(lbp);
    }
    for (std::size_t k = 0; k < e; ++k) {
      unsigned lb = 0, lap = 0;
      for (std::size_t l = 0; l < e; ++l) {
        lb += log_sum(x[k], y[l]);
        if (l != k) lap += log_sum(x[k], x[l]);
      }
      log_b_x[k] = mod255(lb);
      log_ap_x[k] = mod255(lap);
    }

    // Decode matrix: row i rebuilds missing data i from the inputs, in order
    // [present data…, used coding…]; the coding columns are b[i][k], a present data
    // column p is Σ_k b[i][k]·M[used k][p] (p's share of the syndromes).
    // The present data columns of the used coding rows, zero-padded to 32 bytes.
    std::array<std::array<std::uint8_t, 32>, fec_max_coding_shards> used_rows{};
    for (std::size_t k = 0; k < e; ++k)
      for (std::size_t q = 0; q < n_present_data; ++q)
        used_rows[k][q] = matrix_[used_coding[k] * d + present_data[q]];
    // 32 spare bytes: mad_rows writes 32 products per row, only n_present_data count.
    std::array<std::uint8_t, fec_max_data_shards * fec_max_data_shards + 32> decode{};
    std::array<std::uint8_t, fec_max_data_shards> b_row{};
    for (std::size_t i = 0; i < e; ++i) {
      std::uint8_t* row = decode.data() + i * d;
      for (std::size_t k = 0; k < e; ++k) {
        const unsigned num = reduce_once(log_a_y[i] + log_b_x[k]);
        const unsigned den = reduce_once(reduce_once(log_ap_x[k] + log_bp_y[i]) + log_sum(x[k], y[i]));
        b_row[k] = gf.exp[reduce_once(num + 255 - den)];
      }
      if (n_present_data > 0) mad_rows_(row, b_row.data(), used_rows.data(), e);
      std::memcpy(row + n_present_data, b_row.data(), e);
    }
    for (std::size_t q = 0; q < n_present_data; ++q) inputs[q] = shards[present_data[q]];
    for (std::size_t k = 0; k < e; ++k) inputs[n_present_data + k] = shards[d + used_coding[k]];
    for (std::size_t i = 0; i < e; ++i) outputs[i] = shards[missing_data[i]];
    if (affine_kernel_ != nullptr) {
      std::array<const std::uint8_t*, fec_max_data_shards> rows{};
      for (std::size_t i = 0; i < e; ++i) rows[i] = decode.data() + i * d;
      lay_out_affine(rows.data(), d, e, scratch_affine_.data());
      affine_kernel_(shard_bytes, d, e, scratch_affine_.data(), inputs.data(), outputs.data());
    } else {
      build_tables(decode.data(), e, decode_tables_.data());
      ec_encode_data(static_cast<int>(shard_bytes), static_cast<int>(d), static_cast<int>(e),
                     decode_tables_.data(), inputs.data(), outputs.data());
    }
  }

  if (n_missing_coding > 0) {
    // The data is complete now: re-encode only the missing coding rows.
    for (std::size_t j = 0; j < d; ++j) inputs[j] = shards[j];
    for (std::size_t k = 0; k < n_missing_coding; ++k) outputs[k] = shards[d + missing_coding[k]];
    if (affine_kernel_ != nullptr) {
      const std::uint64_t* layout = encode_affine_.data();
      if (n_missing_coding < c) {
        std::array<const std::uint8_t*, fec_max_coding_shards> rows{};
        for (std::size_t k = 0; k < n_missing_coding; ++k)
          rows[k] = matrix_.data() + missing_coding[k] * d;
        lay_out_affine(rows.data(), d, n_missing_coding, scratch_affine_.data());
        layout = scratch_affine_.data();
      }
      affine_kernel_(shard_bytes, d, n_missing_coding, layout, inputs.data(), outputs.data());
      return true;
    }
    const std::size_t row_bytes = d * table_bytes;
    for (std::size_t k = 0; k < n_missing_coding; ++k) {
      std::memcpy(coding_tables_.data() + k * row_bytes,
                  encode_tables_.data() + missing_coding[k] * row_bytes, row_bytes);
    }
    ec_encode_data(static_cast<int>(shard_bytes), static_cast<int>(d),
                   static_cast<int>(n_missing_coding), coding_tables_.data(), inputs.data(),
                   outputs.data());
  }
  return true;
}

}  // namespace riptide::shred
