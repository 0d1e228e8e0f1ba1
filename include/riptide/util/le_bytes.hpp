#pragma once
// Little-endian byte cursors for wire and disk formats: le_reader reads fixed-width integers
// and byte runs from a span, le_writer writes them into one. Neither throws or allocates; a
// read or write past the end does nothing and clears ok() for good, so a parser reads every
// field and checks once. Views only: the bytes must outlive the cursor.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace riptide::util {

class le_reader {
 public:
  explicit le_reader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(read(1)); }
  [[nodiscard]] std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(read(2)); }
  [[nodiscard]] std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(read(4)); }
  [[nodiscard]] std::uint64_t u64() noexcept { return read(8); }
  [[nodiscard]] std::int64_t i64() noexcept { return static_cast<std::int64_t>(read(8)); }
  // Copies out.size() bytes (zeros past the end).
  void bytes(std::span<std::uint8_t> out) noexcept {
    if (!take(out.size())) {
      std::memset(out.data(), 0, out.size());
      return;
    }
    std::memcpy(out.data(), bytes_.data() + pos_ - out.size(), out.size());
  }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::uint64_t read(std::size_t n) noexcept {
    if (!take(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{bytes_[pos_ - n + i]} << (8 * i);
    return v;
  }
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class le_writer {
 public:
  explicit le_writer(std::span<std::uint8_t> out) noexcept : out_(out) {}

  void u8(std::uint8_t v) noexcept { write(v, 1); }
  void u16(std::uint16_t v) noexcept { write(v, 2); }
  void u32(std::uint32_t v) noexcept { write(v, 4); }
  void u64(std::uint64_t v) noexcept { write(v, 8); }
  void i64(std::int64_t v) noexcept { write(static_cast<std::uint64_t>(v), 8); }
  void bytes(std::span<const std::uint8_t> in) noexcept {
    if (!take(in.size())) return;
    std::memcpy(out_.data() + pos_ - in.size(), in.data(), in.size());
  }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::size_t size() const noexcept { return pos_; }  // bytes written

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || n > out_.size() - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  void write(std::uint64_t v, std::size_t n) noexcept {
    if (!take(n)) return;
    for (std::size_t i = 0; i < n; ++i) out_[pos_ - n + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace riptide::util
