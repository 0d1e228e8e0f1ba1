#include <riptide/net/udp.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace riptide::net {

namespace {

constexpr std::array<const char*, port_kind_count> port_names = {"gossip", "tpu", "tpu_forwards",
                                                                 "tvu", "repair"};

// Parses a decimal number in [0, max] that uses all of `text` (no sign, no spaces).
std::optional<std::uint32_t> parse_decimal(std::string_view text, std::uint32_t max) noexcept {
  if (text.empty() || text.size() > 5) return std::nullopt;
  std::uint32_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

[[noreturn]] void fail(const endpoint& local, std::string_view label, const char* what, int err) {
  throw std::runtime_error("udp " + local.to_string() + " (" + std::string(label) + "): " + what +
                           ": " + std::strerror(err));
}

void set_buffer(int fd, int force_opt, int opt, std::uint32_t bytes) noexcept {
  if (bytes == 0) return;
  const int value = static_cast<int>(bytes > 0x3fffffffu ? 0x3fffffffu : bytes);
  // Forcing needs CAP_NET_ADMIN; without it fall back to the capped request.
  if (::setsockopt(fd, SOL_SOCKET, force_opt, &value, sizeof value) != 0)
    (void)::setsockopt(fd, SOL_SOCKET, opt, &value, sizeof value);
}

}  // namespace

std::string endpoint::to_string() const { return ipv4_to_string(ip) + ":" + std::to_string(port); }

std::optional<endpoint> endpoint::parse(std::string_view text) noexcept {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto ip = parse_ipv4(text.substr(0, colon));
  const auto port = parse_decimal(text.substr(colon + 1), 65535);
  if (!ip || !port) return std::nullopt;
  return endpoint{*ip, static_cast<std::uint16_t>(*port)};
}

const char* to_string(port_kind kind) noexcept {
  const auto i = static_cast<std::size_t>(kind);
  return i < port_kind_count ? port_names[i] : "?";
}

std::optional<port_kind> parse_port_kind(std::string_view name) noexcept {
  for (std::size_t i = 0; i < port_kind_count; ++i)
    if (name == port_names[i]) return static_cast<port_kind>(i);
  return std::nullopt;
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) noexcept {
  std::uint32_t ip = 0;
  for (int octet = 0; octet < 4; ++octet) {
    const auto dot = octet < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos) return std::nullopt;
    const auto part = text.substr(0, dot);
    if (part.size() > 3) return std::nullopt;
    const auto value = parse_decimal(part, 255);
    if (!value) return std::nullopt;
    ip = (ip << 8) | *value;
    text.remove_prefix(octet < 3 ? dot + 1 : dot);
  }
  return text.empty() ? std::optional<std::uint32_t>(ip) : std::nullopt;
}

std::string ipv4_to_string(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

sockaddr_in to_sockaddr(const endpoint& ep) noexcept {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep.port);
  sa.sin_addr.s_addr = htonl(ep.ip);
  return sa;
}

endpoint from_sockaddr(const sockaddr_in& sa) noexcept {
  return {ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
}

udp_socket udp_socket::open_bound(endpoint local, std::string_view label,
                                  const udp_socket_options& options) {
  int flags = SOCK_DGRAM | SOCK_CLOEXEC;
  if (options.nonblocking) flags |= SOCK_NONBLOCK;
  udp_socket s;
  s.fd_ = ::socket(AF_INET, flags, 0);
  if (s.fd_ < 0) fail(local, label, "socket", errno);
  set_buffer(s.fd_, SO_RCVBUFFORCE, SO_RCVBUF, options.recv_buffer_bytes);
  set_buffer(s.fd_, SO_SNDBUFFORCE, SO_SNDBUF, options.send_buffer_bytes);
  const sockaddr_in sa = to_sockaddr(local);
  if (::bind(s.fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
    fail(local, label, "bind", errno);
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(s.fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0)
    fail(local, label, "getsockname", errno);
  s.local_ = from_sockaddr(bound);
  return s;
}

udp_socket::~udp_socket() { close(); }

udp_socket::udp_socket(udp_socket&& other) noexcept : fd_(other.fd_), local_(other.local_) {
  other.fd_ = -1;
}

udp_socket& udp_socket::operator=(udp_socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    local_ = other.local_;
    other.fd_ = -1;
  }
  return *this;
}

void udp_socket::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int udp_socket::send_to(const endpoint& to, std::span<const std::uint8_t> payload) noexcept {
  const sockaddr_in sa = to_sockaddr(to);
  const ssize_t n = ::sendto(fd_, payload.data(), payload.size(), 0,
                             reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  return n < 0 ? -errno : static_cast<int>(n);
}

int udp_socket::recv_from(std::span<std::uint8_t> buffer, endpoint& from) noexcept {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&sa), &len);
  if (n < 0) return -errno;
  from = from_sockaddr(sa);
  return static_cast<int>(n);
}

int udp_socket::recv_buffer_bytes() const noexcept {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &value, &len) != 0) return -errno;
  return value;
}

int udp_socket::kernel_drops() const noexcept {
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, info, &len) != 0) return -errno;
  if (len < sizeof(std::uint32_t) * (SK_MEMINFO_DROPS + 1)) return -EINVAL;
  return static_cast<int>(info[SK_MEMINFO_DROPS] & 0x7fffffff);
}

udp_batch_sender::udp_batch_sender(const endpoint& to, std::string_view label, std::uint32_t send_buffer_bytes) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string(label) + ": UDP socket: " + std::strerror(errno));
  const sockaddr_in sa = to_sockaddr(to);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    ::close(fd_);
    throw std::runtime_error(std::string(label) + " " + to.to_string() + ": " + std::strerror(e));
  }
  const int buf = static_cast<int>(send_buffer_bytes);
  if (buf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
}

udp_batch_sender::~udp_batch_sender() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t udp_batch_sender::send(std::span<const std::span<const std::uint8_t>> packets) noexcept {
  std::array<mmsghdr, max_batch> msgs{};
  std::array<iovec, max_batch> iov{};
  const std::size_t n = std::min(packets.size(), max_batch);
  for (std::size_t i = 0; i < n; ++i) {
    iov[i].iov_base = const_cast<std::uint8_t*>(packets[i].data());
    iov[i].iov_len = packets[i].size();
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t done = 0;
  while (done < n) {
    const int r = ::sendmmsg(fd_, msgs.data() + done, static_cast<unsigned>(n - done), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      last_errno_ = errno;
      break;
    }
    done += static_cast<std::size_t>(r);
  }
  return done;
}

}  // namespace riptide::net
