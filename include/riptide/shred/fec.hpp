#pragma once
// Reed-Solomon erasure coding of FEC sets over GF(2^8) (polynomial 0x11d), on ISA-L.
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
// field products. Missing data shards are rebuilt in one ISA-L pass over D present
// shards, then missing coding shards are re-encoded from the complete data in one more.
//
// Threads: a fec_codec is built once per (D, C) at start-up. encode() is const and any
// number of threads may call it on one codec at once; recover() works in scratch space
// inside the codec, so one caller at a time per codec.
// Memory: the caller owns every shard buffer. The constructor allocates the encode tables
// and all scratch space; encode() and recover() never allocate.
// Failure: the constructor throws std::invalid_argument for counts out of range.
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

class fec_codec {
 public:
  // Throws std::invalid_argument unless 1 ≤ data_shards ≤ 32 and 1 ≤ coding_shards ≤ 32.
  fec_codec(std::size_t data_shards, std::size_t coding_shards);

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

  std::size_t data_shards_;
  std::size_t coding_shards_;
  bool blockwise_tables_;                // ISA-L tables are one 32-byte block per coefficient
  mad_rows_fn mad_rows_;                 // Σ b·row over short rows: SSSE3 or scalar
  std::vector<std::uint8_t> matrix_;      // C × D Cauchy coefficients
  std::vector<std::uint8_t> coeff_tables_;  // 256 × 32: ISA-L's table of every coefficient
  std::vector<std::uint8_t> encode_tables_;  // C × D × 32
  std::vector<std::uint8_t> decode_tables_;  // scratch: min(D, C) × D × 32
  std::vector<std::uint8_t> coding_tables_;  // scratch: C × D × 32 (rows of missing coding)
};

}  // namespace riptide::shred
