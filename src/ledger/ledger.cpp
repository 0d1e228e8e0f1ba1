#include <riptide/ledger/ledger.hpp>

#include <isa-l/crc.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace riptide::ledger {

namespace {

constexpr std::uint8_t segment_magic[8] = {'R', 'T', 'L', 'E', 'D', 'S', 'E', 'G'};
constexpr std::uint8_t durable_magic[8] = {'R', 'T', 'L', 'E', 'D', 'D', 'U', 'R'};
constexpr std::uint32_t crc_seed = 0xFFFFFFFFu;
constexpr std::size_t page_bytes = 4096;
constexpr std::size_t reserved_slots = 4096;

static_assert(record_header_bytes % record_alignment_bytes == 0);
static_assert(segment_header_bytes % record_alignment_bytes == 0);
static_assert(max_record_payload_bytes <= UINT32_MAX);

std::uint64_t load_u64_le(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint32_t load_u32_le(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint16_t load_u16_le(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
void store_le(std::uint8_t* p, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Which ISA-L crc32c kernel to use. ISA-L's dispatcher picks its AVX-512 kernel
// (crc32_iscsi_by16_10) on this machine, and in the append loop, where every call is
// separated by stores into cold page-cache pages and page faults, that kernel costs ~150 ns
// for a 256-byte record, against ~25 ns for the SSE4.2+PCLMUL kernel (crc32_iscsi_01):
// 256-byte appends went from ~0.8 to ~1.9 GB/s (perf/ledger.md). crc32_iscsi_01 is
// exported by libisal (multibinary variant, versioned symbol) but not declared in
// <isa-l/crc.h>, hence the declaration here; results are bit-identical (a unit test compares
// against crc32_iscsi). Other CPUs and architectures use the dispatcher.
using crc_fn = unsigned int (*)(unsigned char*, int, unsigned int);
#if defined(__x86_64__)
extern "C" unsigned int crc32_iscsi_01(unsigned char* buffer, int len, unsigned int init_crc);
crc_fn pick_crc() noexcept {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) return crc32_iscsi_01;
  return crc32_iscsi;
}
#else
crc_fn pick_crc() noexcept { return crc32_iscsi; }
#endif
const crc_fn crc_kernel = pick_crc();

std::uint32_t crc32c(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
  // ISA-L takes a non-const pointer and an int length; records are <= 16 MiB.
  return crc_kernel(const_cast<unsigned char*>(p), static_cast<int>(n), crc);
}

// CRC of an encoded record: bytes [4, 24 + payload) (everything after the CRC field).
std::uint32_t record_crc(const std::uint8_t* record, std::size_t payload_bytes) noexcept {
  return crc32c(crc_seed, record + 4, record_header_bytes - 4 + payload_bytes);
}

std::uint32_t segment_header_crc(const std::uint8_t* h) noexcept {
  return crc32c(crc32c(crc_seed, h, 12), h + 16, segment_header_bytes - 16);
}

record_error parse_impl(std::span<const std::uint8_t> bytes, record_view& out,
                        bool verify_crc) noexcept {
  if (bytes.size() < record_header_bytes) return record_error::truncated_header;
  const std::uint8_t* h = bytes.data();
  if (load_u32_le(h + 4) != record_magic) return record_error::bad_magic;
  const std::uint16_t type = load_u16_le(h + 8);
  if (type == 0 || type > max_record_type) return record_error::unknown_type;
  if (load_u16_le(h + 10) != 0) return record_error::nonzero_flags;
  const std::uint32_t length = load_u32_le(h + 12);
  if (length > max_record_payload_bytes) return record_error::payload_too_large;
  const std::size_t total = encoded_record_bytes(length);
  if (bytes.size() < total) return record_error::truncated_payload;
  for (std::size_t i = record_header_bytes + length; i < total; ++i)
    if (h[i] != 0) return record_error::nonzero_padding;
  if (verify_crc && record_crc(h, length) != load_u32_le(h))
    return record_error::checksum_mismatch;
  out.type = static_cast<record_type>(type);
  out.slot = load_u64_le(h + 16);
  out.payload = bytes.subspan(record_header_bytes, length);
  out.size = total;
  return record_error::none;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error("ledger: " + file.string() + ": " + what);
}
[[noreturn]] void fail_errno(const std::filesystem::path& file, const std::string& what) {
  fail(file, what + ": " + std::strerror(errno));
}

std::string segment_name(std::uint64_t index) {
  char name[48];
  std::snprintf(name, sizeof name, "segment-%08llu.log", static_cast<unsigned long long>(index));
  return name;
}

bool parse_segment_name(const std::string& name, std::uint64_t& index) {
  constexpr std::string_view prefix = "segment-";
  constexpr std::string_view suffix = ".log";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix))
    return false;
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 18) return false;
  index = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    index = index * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// Built aside and copied in one go: a writer killed while creating a segment leaves either
// zeros (re-initialised at open) or the whole header, not a header without its checksum.
void write_segment_header(std::uint8_t* base, std::uint64_t index, std::uint64_t bytes) noexcept {
  std::uint8_t header[segment_header_bytes] = {};
  std::memcpy(header, segment_magic, 8);
  store_le(header + 8, segment_version, 4);
  store_le(header + 16, index, 8);
  store_le(header + 24, bytes, 8);
  store_le(header + 12, segment_header_crc(header), 4);
  std::memcpy(base, header, sizeof header);
}

bool all_zero(const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

struct watermark {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t records = 0;
  std::uint64_t root = no_root;
};

}  // namespace

const char* to_string(record_error error) noexcept {
  switch (error) {
    case record_error::none: return "none";
    case record_error::truncated_header: return "truncated_header";
    case record_error::bad_magic: return "bad_magic";
    case record_error::unknown_type: return "unknown_type";
    case record_error::nonzero_flags: return "nonzero_flags";
    case record_error::payload_too_large: return "payload_too_large";
    case record_error::truncated_payload: return "truncated_payload";
    case record_error::nonzero_padding: return "nonzero_padding";
    case record_error::checksum_mismatch: return "checksum_mismatch";
  }
  return "unknown";
}

const char* to_string(append_error error) noexcept {
  switch (error) {
    case append_error::none: return "none";
    case append_error::payload_too_large: return "payload_too_large";
    case append_error::invalid_type: return "invalid_type";
    case append_error::slot_regressed: return "slot_regressed";
    case append_error::segment_create_failed: return "segment_create_failed";
    case append_error::read_only: return "read_only";
  }
  return "unknown";
}

record_error parse_record(std::span<const std::uint8_t> bytes, record_view& out) noexcept {
  return parse_impl(bytes, out, true);
}

std::size_t encode_record(record_type type, std::uint64_t slot,
                          std::span<const std::uint8_t> payload,
                          std::span<std::uint8_t> out) noexcept {
  // The header is built in a local buffer and the CRC is computed from the header and the
  // caller's payload, which are in cache, not read back from the destination: fresh
  // page-cache pages are cold, and reading them back right after the copy stalls on the
  // stores' cache misses (that cost 3x at 256-byte records). The stores themselves retire
  // through the store buffer. x86-64 and aarch64 are little-endian, which the format is.
  static_assert(std::endian::native == std::endian::little, "the format is little-endian");
  std::uint8_t header[record_header_bytes];
  const std::size_t total = encoded_record_bytes(payload.size());
  const std::uint64_t word1 = static_cast<std::uint64_t>(record_magic) << 32;
  const std::uint64_t word2 = static_cast<std::uint64_t>(static_cast<std::uint16_t>(type)) |
                              (static_cast<std::uint64_t>(payload.size()) << 32);
  std::memcpy(header, &word1, 8);
  std::memcpy(header + 8, &word2, 8);
  std::memcpy(header + 16, &slot, 8);
  std::uint32_t crc = crc32c(crc_seed, header + 4, record_header_bytes - 4);
  crc = crc32c(crc, payload.data(), payload.size());
  std::memcpy(header, &crc, 4);
  std::uint8_t* h = out.data();
  std::memcpy(h, header, record_header_bytes);
  if (!payload.empty()) std::memcpy(h + record_header_bytes, payload.data(), payload.size());
  const std::size_t pad = total - record_header_bytes - payload.size();
  if (pad != 0) std::memset(h + record_header_bytes + payload.size(), 0, pad);
  return total;
}

// ---- ledger ----------------------------------------------------------------------------

ledger ledger::open(const ledger_config& config) { return open_impl(config, nullptr); }

ledger ledger::repair(const ledger_config& config, repair_report& report) {
  report = repair_report{};
  return open_impl(config, &report);
}

namespace {
// Repair: records that still parse (CRC included) at or after `from` in `seg`, found by
// trying every aligned offset; what a cut throws away that was not garbage.
void count_intact(const std::uint8_t* base, std::size_t bytes, std::size_t from, repair_report& r) {
  for (std::size_t p = from; p + record_header_bytes <= bytes;) {
    record_view v;
    if (load_u32_le(base + p + 4) == record_magic && parse_impl({base + p, bytes - p}, v, true) == record_error::none) {
      if (r.records_dropped == 0 || v.slot < r.first_slot_dropped) r.first_slot_dropped = v.slot;
      if (r.records_dropped == 0 || v.slot > r.last_slot_dropped) r.last_slot_dropped = v.slot;
      ++r.records_dropped;
      p += v.size;
    } else {
      p += record_alignment_bytes;
    }
  }
}
}  // namespace

ledger ledger::open_impl(const ledger_config& config, repair_report* report) {
  if (config.segment_bytes < min_segment_bytes || config.segment_bytes % page_bytes != 0)
    throw std::invalid_argument("ledger: segment_bytes must be a multiple of 4096, >= 4096");
  if (config.dir.empty()) throw std::invalid_argument("ledger: dir is empty");
  const bool repairing = report != nullptr;
  const bool read_only = config.read_only && !repairing;

  ledger l;
  l.dir_ = config.dir;
  l.segment_bytes_ = config.segment_bytes;
  l.read_only_ = read_only;
  l.segments_.reserve(max_segments);  // never reallocates: the syncer reads it
  l.index_.reserve(reserved_slots);

  std::error_code ec;
  if (read_only) {
    if (!std::filesystem::is_directory(l.dir_, ec)) fail(l.dir_, "no such directory");
  } else {
    std::filesystem::create_directories(l.dir_, ec);
    if (ec) fail(l.dir_, "cannot create directory: " + ec.message());
    // Before anything else is read or written: one writer per ledger, in any process.
    l.lock_ = util::file_lock::acquire(l.dir_ / lock_file_name, "ledger");
    l.lock_.write_pid();
  }
  l.dir_fd_ = ::open(l.dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (l.dir_fd_ < 0) fail_errno(l.dir_, "cannot open directory");

  // Durable watermark.
  const auto durable_path = l.dir_ / "durable";
  watermark wm;
  bool have_wm = false;
  bool fresh_dir = false;
  l.durable_fd_ = read_only ? ::open(durable_path.c_str(), O_RDONLY | O_CLOEXEC)
                            : ::open(durable_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l.durable_fd_ < 0 && !(read_only && errno == ENOENT)) fail_errno(durable_path, "cannot open");
  if (l.durable_fd_ >= 0) {
    std::uint8_t buf[durable_file_bytes];
    const ssize_t n = ::pread(l.durable_fd_, buf, sizeof buf, 0);
    if (n < 0) fail_errno(durable_path, "cannot read");
    if (n == 0) {
      fresh_dir = true;  // freshly created
    } else if (std::memcmp(buf, durable_magic, 8) == 0 &&
               ((static_cast<std::size_t>(n) == durable_file_bytes &&
                 crc32c(crc_seed, buf, 40) == load_u32_le(buf + 40)) ||
                (static_cast<std::size_t>(n) == durable_file_v1_bytes &&
                 crc32c(crc_seed, buf, 32) == load_u32_le(buf + 32)))) {
      have_wm = true;
      wm.segment = load_u64_le(buf + 8);
      wm.offset = load_u64_le(buf + 16);
      wm.records = load_u64_le(buf + 24);
      if (static_cast<std::size_t>(n) == durable_file_bytes) wm.root = load_u64_le(buf + 32);
    }
    // A torn or garbled watermark (power loss during its own rewrite) is treated as none:
    // recovery is then less strict, never lossy.
  }

  // Repair: the first problem found decides where the ledger ends (`cut`); every later
  // segment file goes.
  bool have_cut = false;
  record_position cut{};
  auto cut_at = [&](record_position at, const std::string& why) {
    if (have_cut) return;
    have_cut = true;
    cut = at;
    report->cut = true;
    report->reason = why;
  };
  std::string stop_reason;  // repair: why segments from `usable` on are dropped

  // Segment files, which must be numbered 0..n-1.
  std::vector<std::uint64_t> numbers;
  for (const auto& entry : std::filesystem::directory_iterator(l.dir_, ec)) {
    std::uint64_t index = 0;
    if (entry.is_regular_file() && parse_segment_name(entry.path().filename().string(), index))
      numbers.push_back(index);
  }
  if (ec) fail(l.dir_, "cannot list directory: " + ec.message());
  std::sort(numbers.begin(), numbers.end());
  if (numbers.size() > max_segments)
    fail(l.dir_, "more than " + std::to_string(max_segments) + " segments");
  std::size_t usable = numbers.size();
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (numbers[i] == i) continue;
    if (!repairing) fail(l.dir_ / segment_name(i), "segment file missing");
    usable = i;
    stop_reason = (l.dir_ / segment_name(i)).string() + ": segment file missing";
    break;
  }
  if (read_only && usable == 0) fail(l.dir_, "no ledger here (no segment files)");
  if (usable != 0 && have_wm && wm.segment >= usable) {
    if (!repairing)
      fail(durable_path, "durable watermark names segment " + std::to_string(wm.segment) +
                             " but only " + std::to_string(numbers.size()) + " segments exist");
    have_wm = false;  // repair rewrites it
    wm = watermark{};
  }

  std::vector<bool> short_sealed;  // repair: a sealed segment that lost its end
  for (std::size_t i = 0; i < usable; ++i) {
    const auto path = l.dir_ / segment_name(i);
    const bool last = i + 1 == usable;
    segment seg;
    seg.fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (seg.fd < 0) fail_errno(path, "cannot open");
    l.segments_.push_back(seg);  // owned from here on: the destructor closes it
    short_sealed.push_back(false);
    // Repair: a segment whose header is bad ends the ledger at the end of the one before.
    auto bad = [&](const std::string& why) {
      if (!repairing) fail(path, why);
      ::close(l.segments_.back().fd);
      l.segments_.pop_back();
      short_sealed.pop_back();
      usable = i;
      stop_reason = path.string() + ": " + why;
    };
    std::uint8_t header[segment_header_bytes];
    struct stat st {};
    if (::fstat(seg.fd, &st) != 0) fail_errno(path, "cannot stat");
    // A segment created after the last sync may have reached the disk without its header
    // (power loss): the newest segment, beyond the watermark, with no header at all is
    // re-initialised as empty (a reader just skips it); anywhere else a missing header is
    // an error.
    const ssize_t got = ::pread(seg.fd, header, sizeof header, 0);
    if (got < 0) fail_errno(path, "cannot read");
    // Segment 0 too when nothing was ever made durable (a writer killed while creating the
    // ledger leaves a file of zeros), except read-only, which reports it as it is.
    const bool beyond_watermark =
        i > 0 ? (!have_wm || i > wm.segment) : (!read_only && (!have_wm || wm.records == 0));
    if (last && beyond_watermark && all_zero(header, static_cast<std::size_t>(got))) {
      if (read_only) {
        ::close(l.segments_.back().fd);
        l.segments_.pop_back();
        short_sealed.pop_back();
        break;
      }
      if (::ftruncate(seg.fd, static_cast<off_t>(l.segment_bytes_)) != 0)
        fail_errno(path, "cannot extend");
      write_segment_header(header, i, l.segment_bytes_);
      if (::pwrite(seg.fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
        fail_errno(path, "cannot write segment header");
      if (::fstat(seg.fd, &st) != 0) fail_errno(path, "cannot stat");
      l.stats_.reinitialized_segments++;
    } else if (got != static_cast<ssize_t>(sizeof header)) {
      bad("segment header truncated at offset 0");
      break;
    }
    const char* why_bad = nullptr;
    if (std::memcmp(header, segment_magic, 8) != 0) why_bad = "bad segment magic at offset 0";
    else if (load_u32_le(header + 8) != segment_version) why_bad = "unsupported segment version";
    else if (segment_header_crc(header) != load_u32_le(header + 12)) why_bad = "segment header checksum mismatch at offset 0";
    else if (load_u64_le(header + 16) != i) why_bad = "segment index does not match file name";
    const std::uint64_t bytes = load_u64_le(header + 24);
    if (why_bad == nullptr && (bytes < min_segment_bytes || bytes % page_bytes != 0)) why_bad = "bad segment size in header";
    const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
    if (why_bad == nullptr && file_bytes > bytes) why_bad = "file is larger than its header says";
    if (why_bad == nullptr && file_bytes < bytes && !last && !repairing)
      why_bad = "sealed segment is truncated";
    if (why_bad != nullptr) {
      bad(why_bad);
      break;
    }
    std::uint64_t map_bytes = bytes;
    if (file_bytes < bytes) {
      // The last segment may have lost its end (a truncated file): a writer restores it to
      // full size with zeros and the scan below treats the cut as a torn tail; a reader maps
      // what is there. Repair does the same to a sealed segment, then cuts after its records.
      if (read_only) {
        map_bytes = file_bytes;
      } else if (::ftruncate(seg.fd, static_cast<off_t>(bytes)) != 0) {
        fail_errno(path, "cannot extend");
      }
      short_sealed.back() = !last;
    }
    void* base = ::mmap(nullptr, map_bytes, read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, seg.fd, 0);
    if (base == MAP_FAILED) fail_errno(path, "cannot mmap");
    l.segments_.back().base = static_cast<std::uint8_t*>(base);
    l.segments_.back().bytes = map_bytes;
  }

  // Scan and index.
  for (std::size_t i = 0; i < l.segments_.size() && !have_cut; ++i) {
    segment& seg = l.segments_[i];
    const auto path = l.dir_ / segment_name(i);
    const bool last = i + 1 == l.segments_.size();
    const bool verify = last || config.verify_all_checksums_on_open || repairing;
    std::size_t off = segment_header_bytes;
    record_view v;
    record_error err = record_error::none;
    while (off < seg.bytes) {
      err = parse_impl({seg.base + off, seg.bytes - off}, v, verify);
      if (err != record_error::none) break;
      if (!l.empty() && v.slot < l.last_slot_) {
        if (!repairing) fail(path, "slot regresses at offset " + std::to_string(off));
        cut_at({i, off}, path.string() + ": slot regresses at offset " + std::to_string(off));
        break;
      }
      l.note_record(v.slot, {i, off});
      l.stats_.records++;
      l.stats_.bytes += v.size;
      off += v.size;
    }
    seg.used = off;
    if (have_cut) break;
    if (err == record_error::none || all_zero(seg.base + off, seg.bytes - off)) {
      if (repairing && short_sealed[i])
        cut_at({i, off}, path.string() + ": sealed segment is truncated after offset " + std::to_string(off));
      if (!repairing && last && i == wm.segment && off < wm.offset)
        fail(path, "durable data missing: records end at offset " + std::to_string(off) +
                       " but " + std::to_string(wm.offset) + " were durable");
      continue;  // clean end of segment
    }
    const std::string where = "offset " + std::to_string(off) + " (" + to_string(err) + ")";
    if (repairing) {
      cut_at({i, off}, path.string() + ": corrupt record at " + where);
      break;
    }
    if (!last) fail(path, "corrupt record in sealed segment at " + where);
    if (i < wm.segment || (i == wm.segment && off < wm.offset))
      fail(path, "corrupt record below the durable watermark at " + where);
    for (std::size_t p = off + record_alignment_bytes; p + record_header_bytes <= seg.bytes;
         p += record_alignment_bytes) {
      record_view later;
      if (load_u32_le(seg.base + p + 4) == record_magic &&
          parse_impl({seg.base + p, seg.bytes - p}, later, true) == record_error::none)
        fail(path, "corrupt record at " + where + " followed by a valid record at offset " +
                       std::to_string(p));
    }
    // Torn tail: a writer zeroes it so the next append starts clean; a reader stops there.
    std::size_t end = seg.bytes;
    while (end > off && seg.base[end - 1] == 0) --end;
    end = std::min(seg.bytes, (end + record_alignment_bytes - 1) & ~(record_alignment_bytes - 1));
    if (!read_only) std::memset(seg.base + off, 0, end - off);
    l.stats_.truncated_tail_bytes = end - off;
    l.stats_.truncated_tail_records = 1;
  }
  if (!repairing && l.stats_.records < wm.records)
    fail(durable_path, "durable watermark says " + std::to_string(wm.records) +
                           " records but only " + std::to_string(l.stats_.records) + " remain");

  l.dir_synced_segments_ = fresh_dir ? 0 : l.segments_.size();
  if (l.segments_.empty()) {
    // Only a writer gets here with no segment (a reader needs one, repair may have dropped
    // every one): start segment 0 afresh.
    if (!l.roll_segment()) fail_errno(l.dir_ / segment_name(0), "cannot create segment");
    short_sealed.push_back(false);
  }
  l.stats_.segments = l.segments_.size();
  l.synced_segment_ = std::min<std::uint64_t>(wm.segment, l.segments_.size() - 1);
  l.synced_offset_ = std::min<std::uint64_t>(wm.offset, l.segments_[l.synced_segment_].used);
  if (l.stats_.truncated_tail_bytes != 0) l.synced_offset_ = 0;  // re-sync the zeroed tail
  l.durable_records_.store(std::min(wm.records, l.stats_.records), std::memory_order_relaxed);
  // Bytes are not in the watermark; everything up to its records is durable.
  {
    std::uint64_t counted = 0, bytes = 0;
    auto c = l.read_all();
    record_view v;
    while (counted < wm.records && c.next(v)) {
      bytes += v.size;
      ++counted;
    }
    l.durable_bytes_.store(bytes, std::memory_order_relaxed);
  }
  l.durable_root_.store(wm.root, std::memory_order_relaxed);
  l.root_ = wm.root;
  l.clamp_root();

  if (repairing) {
    if (!have_cut && usable < numbers.size()) {
      have_cut = true;
      cut = {l.segments_.size() - 1, l.segments_.back().used};
      report->cut = true;
      report->reason = stop_reason;
    }
    if (!have_cut) cut = l.end_position();  // nothing wrong: the watermark is rewritten anyway
    // What the cut throws away: the rest of cut's segment (to its last non-zero byte, which
    // truncate zeroes), every later segment, mapped or not.
    segment& at = l.segments_[cut.segment];
    std::size_t garbage_end = at.bytes;
    while (garbage_end > cut.offset && at.base[garbage_end - 1] == 0) --garbage_end;
    garbage_end = std::min(at.bytes, (garbage_end + record_alignment_bytes - 1) & ~(record_alignment_bytes - 1));
    report->bytes_dropped += garbage_end - cut.offset;
    count_intact(at.base, garbage_end, cut.offset, *report);
    at.used = std::max<std::size_t>(at.used, garbage_end);
    for (std::size_t s = cut.segment + 1; s < l.segments_.size(); ++s) {
      count_intact(l.segments_[s].base, l.segments_[s].bytes, segment_header_bytes, *report);
      report->segments_deleted++;
    }
    for (std::size_t s = usable; s < numbers.size(); ++s) {
      const auto path = l.dir_ / segment_name(numbers[s]);
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0) {
        void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
          count_intact(static_cast<const std::uint8_t*>(p), static_cast<std::size_t>(st.st_size),
                       std::min<std::size_t>(segment_header_bytes, static_cast<std::size_t>(st.st_size)), *report);
          ::munmap(p, static_cast<std::size_t>(st.st_size));
        }
      }
      if (fd >= 0) ::close(fd);
    }
    l.truncate(cut);  // the watermark first, then the bytes and the later mapped segments
    bool removed = false;
    for (std::size_t s = usable; s < numbers.size(); ++s) {
      const std::string name = segment_name(numbers[s]);
      if (::unlinkat(l.dir_fd_, name.c_str(), 0) != 0) fail_errno(l.dir_ / name, "repair: cannot delete");
      report->segments_deleted++;
      removed = true;
    }
    if (removed && ::fsync(l.dir_fd_) != 0) fail_errno(l.dir_, "repair: fsync failed");
    report->records_kept = l.stats_.records;
    report->last_slot_kept = l.last_slot_;
    report->at = cut;
  }
  return l;
}

ledger::ledger(ledger&& other) noexcept { *this = std::move(other); }

ledger& ledger::operator=(ledger&& other) noexcept {
  if (this == &other) return *this;
  close_all();
  dir_ = std::move(other.dir_);
  lock_ = std::move(other.lock_);
  read_only_ = other.read_only_;
  segment_bytes_ = other.segment_bytes_;
  dir_fd_ = std::exchange(other.dir_fd_, -1);
  durable_fd_ = std::exchange(other.durable_fd_, -1);
  segments_ = std::move(other.segments_);
  other.segments_.clear();
  index_ = std::move(other.index_);
  other.index_.clear();
  last_slot_ = other.last_slot_;
  root_ = other.root_;
  last_appended_ = other.last_appended_;
  synced_segment_ = other.synced_segment_;
  synced_offset_ = other.synced_offset_;
  dir_synced_segments_ = other.dir_synced_segments_;
  durable_bytes_.store(other.durable_bytes_.load());
  durable_records_.store(other.durable_records_.load());
  durable_root_.store(other.durable_root_.load());
  syncs_.store(other.syncs_.load());
  stats_ = other.stats_;
  return *this;
}

ledger::~ledger() { close_all(); }

void ledger::close_all() noexcept {
  for (auto& seg : segments_) {
    if (seg.base != nullptr) ::munmap(seg.base, seg.bytes);
    if (seg.fd >= 0) ::close(seg.fd);
  }
  segments_.clear();
  if (dir_fd_ >= 0) ::close(std::exchange(dir_fd_, -1));
  if (durable_fd_ >= 0) ::close(std::exchange(durable_fd_, -1));
}

std::size_t ledger::max_payload_bytes() const noexcept {
  return std::min(max_record_payload_bytes,
                  segment_bytes_ - segment_header_bytes - record_header_bytes);
}

bool ledger::roll_segment() noexcept {
  const std::uint64_t index = segments_.size();
  if (index == segments_.capacity()) return false;  // a reallocation would move the syncer's view
  char name[64];
  std::snprintf(name, sizeof name, "segment-%08llu.log", static_cast<unsigned long long>(index));
  const int fd = ::openat(dir_fd_, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  // Preallocate so a full disk shows up here as an error, not later as SIGBUS on a store.
  if (::posix_fallocate(fd, 0, static_cast<off_t>(segment_bytes_)) != 0) {
    ::close(fd);
    ::unlinkat(dir_fd_, name, 0);
    return false;
  }
  void* base = ::mmap(nullptr, segment_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    ::unlinkat(dir_fd_, name, 0);
    return false;
  }
  segment seg;
  seg.fd = fd;
  seg.base = static_cast<std::uint8_t*>(base);
  seg.bytes = segment_bytes_;
  seg.used = segment_header_bytes;
  write_segment_header(seg.base, index, segment_bytes_);
  segments_.push_back(seg);
  stats_.segments = segments_.size();
  return true;
}

void ledger::note_record(std::uint64_t slot, record_position pos) noexcept {
  if (index_.empty() || index_.back().slot != slot) {
    index_.push_back({slot, pos, 1});
  } else {
    index_.back().count++;
  }
  last_slot_ = slot;
}

append_error ledger::append(record_type type, std::uint64_t slot,
                            std::span<const std::uint8_t> payload) noexcept {
  append_error err = append_error::none;
  const auto t = static_cast<std::uint16_t>(type);
  if (read_only_) {
    err = append_error::read_only;
  } else if (t == 0 || t > max_record_type) {
    err = append_error::invalid_type;
  } else if (payload.size() > max_payload_bytes()) {
    err = append_error::payload_too_large;
  } else if (!empty() && slot < last_slot_) {
    err = append_error::slot_regressed;
  }
  if (err == append_error::none) {
    const std::size_t need = encoded_record_bytes(payload.size());
    if (segments_.back().used + need > segments_.back().bytes && !roll_segment())
      err = append_error::segment_create_failed;
    if (err == append_error::none) {
      segment& seg = segments_.back();
      const std::size_t off = seg.used;
      encode_record(type, slot, payload, {seg.base + off, need});
      seg.used = off + need;
      note_record(slot, {segments_.size() - 1, off});
      last_appended_ = {segments_.size() - 1, off};
      stats_.records++;
      stats_.bytes += need;
      return append_error::none;
    }
  }
  stats_.append_rejected[static_cast<std::size_t>(err)]++;
  return err;
}

sync_point ledger::mark() const noexcept {
  return {end_position(), stats_.records, stats_.bytes, root_};
}

bool ledger::set_root(std::uint64_t slot) noexcept {
  if (root_ != no_root && slot < root_) return false;
  if (records_in_slot(slot).count == 0) return false;
  root_ = slot;
  return true;
}

void ledger::clamp_root() noexcept {
  if (root_ == no_root || records_in_slot(root_).count != 0) return;
  // The root's records are gone: the last slot still held below it (on a ledger of one
  // chain, its ancestor), or none.
  auto it = std::lower_bound(index_.begin(), index_.end(), root_,
                             [](const slot_records& a, std::uint64_t s) { return a.slot < s; });
  root_ = it == index_.begin() ? no_root : std::prev(it)->slot;
}

sync_result ledger::sync_to(const sync_point& p) noexcept {
  sync_result r;
  if (read_only_) {
    r.error = EROFS;
    return r;
  }
  if (p.records < durable_records_.load(std::memory_order_relaxed)) {
    r.ok = true;
    r.durable_records = durable_records_.load(std::memory_order_relaxed);
    r.durable_bytes = durable_bytes_.load(std::memory_order_relaxed);
    return r;
  }
  // Only segments up to p.end.segment, and only bytes before p.end in the last of them: all
  // written before the owner took p. Sealed segments' `used` is final.
  for (std::uint64_t s = synced_segment_; s <= p.end.segment; ++s) {
    const segment& seg = segments_[s];
    const std::size_t end = s == p.end.segment ? p.end.offset : seg.used;
    const std::size_t start = (s == synced_segment_ ? synced_offset_ : 0) & ~(page_bytes - 1);
    if (end > start && ::msync(seg.base + start, end - start, MS_SYNC) != 0) {
      r.error = errno;
      return r;
    }
    synced_segment_ = s;
    synced_offset_ = end;
  }
  if (p.end.segment + 1 > dir_synced_segments_) {
    if (::fsync(dir_fd_) != 0) {
      r.error = errno;
      return r;
    }
    dir_synced_segments_ = p.end.segment + 1;
  }
  std::uint8_t buf[durable_file_bytes] = {};
  std::memcpy(buf, durable_magic, 8);
  store_le(buf + 8, p.end.segment, 8);
  store_le(buf + 16, p.end.offset, 8);
  store_le(buf + 24, p.records, 8);
  store_le(buf + 32, p.root, 8);
  store_le(buf + 40, crc32c(crc_seed, buf, 40), 4);
  if (::pwrite(durable_fd_, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf) ||
      ::fdatasync(durable_fd_) != 0) {
    r.error = errno;
    return r;
  }
  durable_records_.store(p.records, std::memory_order_release);
  durable_bytes_.store(p.bytes, std::memory_order_release);
  durable_root_.store(p.root, std::memory_order_release);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  r.ok = true;
  r.durable_records = p.records;
  r.durable_bytes = p.bytes;
  return r;
}

void ledger::reindex_to(record_position end) noexcept {
  index_.clear();
  last_slot_ = 0;
  stats_.records = 0;
  stats_.bytes = 0;
  auto c = read_all();
  record_view v;
  for (;;) {
    const record_position at = c.position();
    if (at.segment > end.segment || (at.segment == end.segment && at.offset >= end.offset)) break;
    if (!c.next(v)) break;
    // A record at the start of a later segment reports its position only after next().
    const record_position start = {c.position().segment, c.position().offset - v.size};
    if (start.segment > end.segment || (start.segment == end.segment && start.offset >= end.offset))
      break;
    note_record(v.slot, start);
    stats_.records++;
    stats_.bytes += v.size;
  }
}

void ledger::truncate(record_position end) {
  if (read_only_) fail(dir_, "truncate: the ledger is open read-only");
  if (end.segment >= segments_.size())
    fail(dir_, "truncate: no segment " + std::to_string(end.segment));
  const auto path = dir_ / segment_name(end.segment);
  {
    // `end` must be the end of a record (or the start of the segment's records).
    std::size_t off = segment_header_bytes;
    const segment& seg = segments_[end.segment];
    record_view v;
    while (off < end.offset && off < seg.used &&
           parse_impl({seg.base + off, seg.used - off}, v, false) == record_error::none)
      off += v.size;
    if (off != end.offset || end.offset > seg.used)
      fail(path, "truncate: offset " + std::to_string(end.offset) + " is not a record boundary");
  }
  reindex_to(end);
  clamp_root();
  // 1. The watermark moves first (after the bytes before `end` are durable).
  if (synced_segment_ > end.segment ||
      (synced_segment_ == end.segment && synced_offset_ > end.offset)) {
    synced_segment_ = end.segment;
    synced_offset_ = std::min<std::uint64_t>(synced_offset_, end.offset);
  }
  durable_records_.store(std::min(durable_records_.load(), stats_.records));
  durable_bytes_.store(std::min(durable_bytes_.load(), stats_.bytes));
  const sync_result r = sync_to({end, stats_.records, stats_.bytes, root_});
  if (!r.ok) fail(path, std::string("truncate: sync failed: ") + std::strerror(r.error));
  // 2. Then the records go: zeroed in end's segment, later segments deleted.
  segment& seg = segments_[end.segment];
  if (seg.used > end.offset) {
    std::memset(seg.base + end.offset, 0, seg.used - end.offset);
    const std::size_t start = end.offset & ~(page_bytes - 1);
    if (::msync(seg.base + start, seg.used - start, MS_SYNC) != 0)
      fail_errno(path, "truncate: msync failed");
    seg.used = end.offset;
  }
  bool removed = false;
  while (segments_.size() > end.segment + 1) {
    segment& last = segments_.back();
    const std::string name = segment_name(segments_.size() - 1);
    ::munmap(last.base, last.bytes);
    ::close(last.fd);
    segments_.pop_back();
    if (::unlinkat(dir_fd_, name.c_str(), 0) != 0) fail_errno(dir_ / name, "truncate: cannot delete");
    removed = true;
  }
  if (removed && ::fsync(dir_fd_) != 0) fail_errno(dir_, "truncate: fsync failed");
  dir_synced_segments_ = std::min<std::uint64_t>(dir_synced_segments_, segments_.size());
  stats_.segments = segments_.size();
}

sync_result ledger::sync_through_slot(std::uint64_t /*slot*/) noexcept { return sync(); }

slot_records ledger::records_in_slot(std::uint64_t slot) const noexcept {
  auto it = std::lower_bound(index_.begin(), index_.end(), slot,
                             [](const slot_records& a, std::uint64_t s) { return a.slot < s; });
  if (it == index_.end() || it->slot != slot) return {slot, {}, 0};
  return *it;
}

ledger::cursor ledger::read_all() const noexcept {
  return cursor(this, {0, segment_header_bytes}, UINT64_MAX);
}

ledger::cursor ledger::read_slot(std::uint64_t slot) const noexcept {
  const slot_records r = records_in_slot(slot);
  return cursor(this, r.first, r.count);
}

bool ledger::cursor::next(record_view& out) noexcept {
  while (remaining_ != 0 && pos_.segment < owner_->segments_.size()) {
    const segment& seg = owner_->segments_[pos_.segment];
    if (pos_.offset >= seg.used) {
      pos_ = {pos_.segment + 1, segment_header_bytes};
      continue;
    }
    // Already verified when written or opened: structure only, no CRC.
    if (parse_impl({seg.base + pos_.offset, seg.used - pos_.offset}, out, false) !=
        record_error::none)
      return false;
    pos_.offset += out.size;
    --remaining_;
    return true;
  }
  return false;
}

}  // namespace riptide::ledger
