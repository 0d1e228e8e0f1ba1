#pragma once
// Reed-Solomon erasure coding of FEC sets over GF(2^8) (polynomial 0x11d): a GFNI +
// AVX-512 kernel of our own where the CPU has one, ISA-L everywhere (and as the reference).
//
// A FEC set is D data shards followed by C coding shards, all shard_bytes long, with
// 1 ≤ D ≤ 32, 1 ≤ C ≤ 32 (32:32 normally; a slot's last set may be smaller, e.g. 5:5).
// Coding shard r is Σ_j M[r][j]·data_j over GF(2^8), where M is the Cauchy matrix
//
//     M[r][j] = 1 / ((D + r) ⊕ j)        (ISA-L gf_gen_cauchy1_matrix, below its identity)
//
// Every square submatrix of a Cauchy matrix is invertible, so ANY D of the D + C shards
// determine all the others.
//
//   shard index    0      1     …   D-1      D       D+1   …   D+C-1
//                +------+------+---+--------+-------+------+---+---------+
//                |data 0|data 1| … |data D-1|code 0 |code 1| … |code C-1 |
//                +------+------+---+--------+-------+------+---+---------+
//   present_mask  bit i set = shard i holds received bytes (bits ≥ D + C are ignored)
//
// recover() never runs a general matrix inversion: the only matrix it inverts is the e × e
// Cauchy submatrix (e = missing data shards) between the coding rows it uses and the
// missing data columns, and a Cauchy matrix has a closed-form inverse computed in O(e²)
// field products. Missing data shards are rebuilt in one pass over D present shards, then
// missing coding shards are re-encoded from the complete data in one more.
//
// Kernels: every pass is out_r = Σ_j A[r][j]·in_j over whole shards. Multiplying by a
// constant c is GF(2)-linear, an 8 × 8 bit matrix, so with GFNI one vgf2p8affineqb applies
// it to 64 bytes (fec_kernel::gfni: GFNI + AVX-512F/BW, checked at run time; ISA-L 2.30,
// the distribution's, multiplies with two nibble-table vpshufb lookups). fec_kernel::isal
// is ISA-L's ec_encode_data, the portable path. Both give byte-identical shards; the
// default picks gfni when the CPU has it, and tests and benchmarks force either one.
//
// Threads: a fec_codec is built once per (D, C) at start-up. encode() is const and any
// number of threads may call it on one codec at once; recover() works in scratch space
// inside the codec, so one caller at a time per codec.
// Memory: the caller owns every shard buffer. The constructor allocates the encode tables
// and all scratch space; encode() and recover() never allocate.
// Failure: the constructor throws std::invalid_argument for counts out of range, or for
// fec_kernel::gfni on a CPU without GFNI + AVX-512BW.
// encode() and recover() are noexcept and return false, writing nothing, when the spans
// have the wrong length; recover() also when fewer than D shards are present.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace riptide::shred {

constexpr std::size_t fec_max_data_shards = 32;
constexpr std::size_t fec_max_coding_shards = 32;
constexpr std::size_t fec_max_shards = fec_max_data_shards + fec_max_coding_shards;

// Which multiply-accumulate kernel a codec runs (see the contract above).
enum class fec_kernel : std::uint8_t {
  best,  // gfni when the CPU supports it, else isal
  isal,  // ISA-L ec_encode_data: any CPU
  gfni,  // vgf2p8affineqb on 64-byte vectors: needs GFNI + AVX-512F + AVX-512BW
};

// True when this CPU (and OS: AVX-512 state enabled) can run fec_kernel::gfni.
[[nodiscard]] bool fec_gfni_supported() noexcept;

// The 8 × 8 GF(2) matrix of y = c·x in GF(2^8)/0x11d, laid out for vgf2p8affineqb: bit i
// of y is parity(byte (7 − i) of the result & x). Public so tests check it against a
// scalar multiply.
[[nodiscard]] std::uint64_t fec_affine_matrix(std::uint8_t c) noexcept;

class fec_codec {
 public:
  // Throws std::invalid_argument unless 1 ≤ data_shards ≤ 32 and 1 ≤ coding_shards ≤ 32,
  // and for fec_kernel::gfni when !fec_gfni_supported().
  fec_codec(std::size_t data_shards, std::size_t coding_shards,
            fec_kernel kernel = fec_kernel::best);

  // The kernel in use: isal or gfni, never best.
  fec_kernel kernel() const noexcept {
    return affine_kernel_ != nullptr ? fec_kernel::gfni : fec_kernel::isal;
  }

  std::size_t data_shards() const noexcept { return data_shards_; }
  std::size_t coding_shards() const noexcept { return coding_shards_; }
  std::size_t total_shards() const noexcept { return data_shards_ + coding_shards_; }

  // Writes the C coding shards of the D data shards. data.size() must be D and
  // coding.size() C (otherwise false, nothing written); every buffer holds shard_bytes.
  [[nodiscard]] bool encode(std::span<const std::uint8_t* const> data,
                            std::span<std::uint8_t* const> coding,
                            std::size_t shard_bytes) const noexcept;

  // shards: the D + C buffers in shard order, each shard_bytes long. Shards whose bit is
  // set in present_mask are read (never written); every other shard, data or coding, is
  // rebuilt in place. Returns false, writing nothing, if fewer than D shards are present
  // or shards.size() != D + C.
  [[nodiscard]] bool recover(std::span<std::uint8_t* const> shards, std::uint64_t present_mask,
                             std::size_t shard_bytes) noexcept;

  // M[coding_index][data_index], the coefficient of data shard j in coding shard r.
  std::uint8_t coefficient(std::size_t coding_index, std::size_t data_index) const noexcept {
    return matrix_[coding_index * data_shards_ + data_index];
  }

 private:
  // Fills rows × D ISA-L multiplication tables (32 bytes per coefficient) for `coeffs`.
  void build_tables(const std::uint8_t* coeffs, std::size_t rows, std::uint8_t* tables) noexcept;

  using mad_rows_fn = void (*)(std::uint8_t*, const std::uint8_t*,
                               const std::array<std::uint8_t, 32>*, std::size_t) noexcept;
  // out[r] = Σ_j A[r][j]·in[j] for r < n_out, over `bytes` bytes; `layout` holds the
  // affine matrices as fec.cpp's lay_out_affine arranges them.
  using affine_kernel_fn = void (*)(std::size_t bytes, std::size_t n_in, std::size_t n_out,
                                    const std::uint64_t* layout, const std::uint8_t* const* in,
                                    std::uint8_t* const* out) noexcept;

  std::size_t data_shards_;
  std::size_t coding_shards_;
  bool blockwise_tables_;                // ISA-L tables are one 32-byte block per coefficient
  mad_rows_fn mad_rows_;                 // Σ b·row over short rows: SSSE3 or scalar
  affine_kernel_fn affine_kernel_;       // null: the ISA-L path
  std::vector<std::uint8_t> matrix_;      // C × D Cauchy coefficients
  // ISA-L path only (empty on the gfni path):
  std::vector<std::uint8_t> coeff_tables_;  // 256 × 32: ISA-L's table of every coefficient
  std::vector<std::uint8_t> encode_tables_;  // C × D × 32
  std::vector<std::uint8_t> decode_tables_;  // scratch: min(D, C) × D × 32
  std::vector<std::uint8_t> coding_tables_;  // scratch: C × D × 32 (rows of missing coding)
  // gfni path only (empty on the ISA-L path): one affine matrix per coefficient.
  std::vector<std::uint64_t> encode_affine_;  // C × D, laid out for the kernel
  std::vector<std::uint64_t> scratch_affine_;  // C × D: decode rows, then missing coding rows
};

}  // namespace riptide::shred
