#include <riptide/crypto/keyfile.hpp>

#include <riptide/util/durable_file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace riptide::crypto {

namespace {

constexpr std::string_view header_prefix = "riptide-keyfile v";
constexpr std::string_view current_version = "1";
constexpr std::string_view secret_label = "secret ";
constexpr std::string_view pubkey_label = "pubkey ";
constexpr std::size_t key_hex_chars = 64;
constexpr std::string_view hex_digits = "0123456789abcdef";

static_assert(keyfile_v1_bytes == keyfile_header_v1.size() + 1 + secret_label.size() +
                                      key_hex_chars + 1 + pubkey_label.size() + key_hex_chars +
                                      1);

void wipe(std::string& s) noexcept { explicit_bzero(s.data(), s.size()); }

// Splits off the next '\n'-terminated line (without the '\n'); false if there is no '\n'.
bool next_line(std::string_view& rest, std::string_view& line) noexcept {
  const std::size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) return false;
  line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool all_decimal(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

enum class hex_result : std::uint8_t { ok, bad_length, bad_hex };

hex_result decode_key_hex(std::string_view hex, std::array<std::uint8_t, 32>& out) noexcept {
  if (hex.size() != key_hex_chars) return hex_result::bad_length;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return hex_result::bad_hex;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return hex_result::ok;
}

void append_hex(std::string& s, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) {
    s.push_back(hex_digits[b >> 4]);
    s.push_back(hex_digits[b & 0xF]);
  }
}

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view reason) {
  throw std::runtime_error(path.string() + ": " + std::string(reason));
}

[[noreturn]] void fail_errno(const std::filesystem::path& path, std::string_view what, int err) {
  fail(path, std::string(what) + ": " + std::strerror(err));
}

// Closes fd on scope exit unless released.
class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  // Closes now and reports close(2)'s error (0 or errno).
  int close_now() noexcept {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

void write_all(const std::filesystem::path& path, int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(path, "write failed", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Writes text into an open, freshly created file: mode 0600 regardless of umask, data, fsync.
void fill_new_file(const std::filesystem::path& path, fd_guard& fd, std::string_view text) {
  if (::fchmod(fd.get(), S_IRUSR | S_IWUSR) != 0) fail_errno(path, "fchmod 0600 failed", errno);
  write_all(path, fd.get(), text);
  if (::fsync(fd.get()) != 0) fail_errno(path, "fsync failed", errno);
  if (const int err = fd.close_now(); err != 0) fail_errno(path, "close failed", err);
}

// Best effort: make the new directory entry durable.
void sync_parent_dir(const std::filesystem::path& path) noexcept {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

constexpr int create_flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
constexpr mode_t keyfile_mode = S_IRUSR | S_IWUSR;  // 0600

}  // namespace

const char* to_string(keyfile_error error) noexcept {
  switch (error) {
    case keyfile_error::none: return "ok";
    case keyfile_error::truncated:
      return "truncated: expected three newline-terminated lines (header, secret, pubkey)";
    case keyfile_error::bad_header: return "not a riptide key file (expected \"riptide-keyfile v1\")";
    case keyfile_error::unsupported_version:
      return "unsupported key file version (this build reads v1)";
    case keyfile_error::bad_secret_label: return "second line must start with \"secret \"";
    case keyfile_error::bad_secret_length: return "secret is not 64 hex characters";
    case keyfile_error::bad_secret_hex:
      return "secret has a character other than lowercase hex [0-9a-f]";
    case keyfile_error::bad_pubkey_label: return "third line must start with \"pubkey \"";
    case keyfile_error::bad_pubkey_length: return "pubkey is not 64 hex characters";
    case keyfile_error::bad_pubkey_hex:
      return "pubkey has a character other than lowercase hex [0-9a-f]";
    case keyfile_error::invalid_secret: return "secret is zero or not below the curve order";
    case keyfile_error::pubkey_mismatch:
      return "pubkey does not match the secret (corrupted or edited file)";
    case keyfile_error::trailing_data: return "unexpected data after the pubkey line";
  }
  return "unknown keyfile_error";
}

keyfile_error parse_keyfile(std::string_view text, keypair& out) noexcept {
  std::string_view rest = text;
  std::string_view line;

  if (!next_line(rest, line)) return keyfile_error::truncated;
  if (!line.starts_with(header_prefix)) return keyfile_error::bad_header;
  const std::string_view version = line.substr(header_prefix.size());
  if (!all_decimal(version)) return keyfile_error::bad_header;
  if (version != current_version) return keyfile_error::unsupported_version;

  seckey secret{};
  if (!next_line(rest, line)) return keyfile_error::truncated;
  if (!line.starts_with(secret_label)) return keyfile_error::bad_secret_label;
  switch (decode_key_hex(line.substr(secret_label.size()), secret)) {
    case hex_result::ok: break;
    case hex_result::bad_length: return keyfile_error::bad_secret_length;
    case hex_result::bad_hex: explicit_bzero(secret.data(), secret.size());
      return keyfile_error::bad_secret_hex;
  }

  pubkey claimed{};
  keyfile_error result = keyfile_error::none;
  keypair kp;
  if (!next_line(rest, line)) {
    result = keyfile_error::truncated;
  } else if (!line.starts_with(pubkey_label)) {
    result = keyfile_error::bad_pubkey_label;
  } else if (const hex_result h = decode_key_hex(line.substr(pubkey_label.size()), claimed);
             h != hex_result::ok) {
    result = h == hex_result::bad_length ? keyfile_error::bad_pubkey_length
                                         : keyfile_error::bad_pubkey_hex;
  } else if (!rest.empty()) {
    result = keyfile_error::trailing_data;
  } else if (!keypair::try_from_secret(secret, kp)) {
    result = keyfile_error::invalid_secret;
  } else if (kp.public_key() != claimed) {
    result = keyfile_error::pubkey_mismatch;
  } else {
    out = kp;
  }
  explicit_bzero(secret.data(), secret.size());
  return result;
}

std::string format_keyfile(const keypair& kp) {
  if (kp.empty()) throw std::invalid_argument("format_keyfile: empty keypair");
  std::string s;
  s.reserve(keyfile_v1_bytes);
  s.append(keyfile_header_v1).push_back('\n');
  s.append(secret_label);
  append_hex(s, kp.secret_key());
  s.push_back('\n');
  s.append(pubkey_label);
  append_hex(s, kp.public_key());
  s.push_back('\n');
  return s;
}

keypair load_keyfile(const std::filesystem::path& path) {
  const int raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (raw_fd < 0) fail_errno(path, "cannot open key file", errno);
  fd_guard fd(raw_fd);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno(path, "fstat failed", errno);
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  if (static_cast<std::uintmax_t>(st.st_size) > max_keyfile_bytes) {
    fail(path, "larger than " + std::to_string(max_keyfile_bytes) + " bytes; not a key file");
  }
  // Like ssh: a secret others can read is refused, not used.
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(path, std::string("permissions ") + mode +
                   " are too open: a key file must be readable by its owner only (chmod 600)");
  }
  // Read up to one byte past the limit so a file that grew after fstat is still caught.
  std::string text(max_keyfile_bytes + 1, '\0');
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      wipe(text);
      fail_errno(path, "read failed", err);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used == text.size()) break;
  }
  if (used > max_keyfile_bytes) {
    wipe(text);
    fail(path, "larger than " + std::to_string(max_keyfile_bytes) + " bytes; not a key file");
  }
  keypair kp;
  const keyfile_error err = parse_keyfile(std::string_view(text.data(), used), kp);
  wipe(text);
  if (err != keyfile_error::none) fail(path, to_string(err));
  return kp;
}

void write_keyfile(const std::filesystem::path& path, const keypair& kp, bool overwrite) {
  if (kp.empty()) fail(path, "refusing to write an empty keypair");
  std::string text = format_keyfile(kp);
  try {
    if (!overwrite) {
      const int raw_fd = ::open(path.c_str(), create_flags, keyfile_mode);
      if (raw_fd < 0) {
        if (errno == EEXIST) {
          fail(path, "already exists; refusing to overwrite a key file (remove it or pass "
                     "overwrite)");
        }
        fail_errno(path, "cannot create key file", errno);
      }
      fd_guard fd(raw_fd);
      try {
        fill_new_file(path, fd, text);
      } catch (...) {
        ::unlink(path.c_str());  // never leave a partial key file behind
        throw;
      }
    } else {
      util::replace_file_durably(
          path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), keyfile_mode);
    }
  } catch (...) {
    wipe(text);
    throw;
  }
  wipe(text);
  sync_parent_dir(path);
}

}  // namespace riptide::crypto
