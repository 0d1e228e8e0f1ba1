#pragma once
// UDP basics for the net area: IPv4 endpoints, the node's port kinds, and a bound socket.
//
// Contract
//   - `endpoint` is a plain value (IPv4 address and port in host byte order). It packs into
//     a frag_desc::meta as (ip << 16 | port), which is how the net tile tells a consumer where
//     a packet came from and how a producer tells the net tile where to send one.
//
//         meta (u64):  | 63 .. 48 : zero | 47 .. 16 : IPv4 address | 15 .. 0 : port |
//
//   - `udp_socket` owns one file descriptor (move-only, closed by the destructor). Opening
//     and binding are start-up work and throw std::runtime_error with a message naming the
//     address and what the socket is for, e.g.
//       "udp 127.0.0.1:12000 (gossip): bind: Address already in use".
//   - The send/receive members are thin syscall wrappers for tests, tools and the fallback
//     path: noexcept, they return a byte count or -errno (liburing's convention), never throw.
//   - Any thread may use a socket it owns; a socket is not shared between threads by this
//     code (the kernel would allow it, the project does not need it).

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace riptide::net {

// Largest UDP payload the protocol sends or accepts: IPv6 minimum MTU 1280 − 48 bytes of
// IPv6 + UDP headers. Anything longer is dropped on receive and refused on send.
constexpr std::size_t max_payload_bytes = 1232;

struct endpoint {
  std::uint32_t ip = 0;    // host byte order: 127.0.0.1 is 0x7f000001
  std::uint16_t port = 0;  // host byte order

  std::uint64_t pack() const noexcept {
    return (static_cast<std::uint64_t>(ip) << 16) | static_cast<std::uint64_t>(port);
  }
  static endpoint unpack(std::uint64_t meta) noexcept {
    return {static_cast<std::uint32_t>(meta >> 16), static_cast<std::uint16_t>(meta & 0xffff)};
  }
  std::string to_string() const;  // "127.0.0.1:12000"
  // Strict "a.b.c.d:port": four decimal octets ≤ 255, a decimal port ≤ 65535, nothing else.
  static std::optional<endpoint> parse(std::string_view text) noexcept;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

// The node's UDP ports. The numeric value is what descriptors carry in frag_desc::kind.
enum class port_kind : std::uint16_t { gossip = 0, tpu, tpu_forwards, tvu, repair, count };
constexpr std::size_t port_kind_count = static_cast<std::size_t>(port_kind::count);

const char* to_string(port_kind kind) noexcept;  // "gossip", "tpu", … ("?" when out of range)
std::optional<port_kind> parse_port_kind(std::string_view name) noexcept;

// "a.b.c.d" ↔ host-order address.
std::optional<std::uint32_t> parse_ipv4(std::string_view text) noexcept;
std::string ipv4_to_string(std::uint32_t ip);

// sockaddr_in conversions (network byte order inside the sockaddr).
sockaddr_in to_sockaddr(const endpoint& ep) noexcept;
endpoint from_sockaddr(const sockaddr_in& sa) noexcept;

struct udp_socket_options {
  bool nonblocking = true;
  // SO_RCVBUF / SO_SNDBUF request; 0 leaves the kernel default. As root the request is forced
  // past net.core.rmem_max/wmem_max (SO_*BUFFORCE); otherwise the kernel caps it silently.
  std::uint32_t recv_buffer_bytes = 0;
  std::uint32_t send_buffer_bytes = 0;
};

class udp_socket {
 public:
  udp_socket() noexcept = default;
  // Opens an IPv4 UDP socket and binds it to `local` (port 0: the kernel picks one).
  // `label` names the socket's purpose in error messages ("gossip", "test sender").
  static udp_socket open_bound(endpoint local, std::string_view label,
                               const udp_socket_options& options = {});
  ~udp_socket();
  udp_socket(udp_socket&& other) noexcept;
  udp_socket& operator=(udp_socket&& other) noexcept;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  endpoint local() const noexcept { return local_; }  // as bound (actual port if 0 was asked)

  // Bytes sent, or -errno (-EAGAIN when a non-blocking socket's buffer is full).
  int send_to(const endpoint& to, std::span<const std::uint8_t> payload) noexcept;
  // Bytes received (the datagram's full length, even if longer than `buffer`: MSG_TRUNC),
  // or -errno (-EAGAIN when nothing is waiting on a non-blocking socket).
  int recv_from(std::span<std::uint8_t> buffer, endpoint& from) noexcept;
  // Kernel's effective SO_RCVBUF, or -errno.
  int recv_buffer_bytes() const noexcept;
  // Datagrams the kernel dropped on this socket so far (receive buffer full, …), from
  // SO_MEMINFO; or -errno.
  int kernel_drops() const noexcept;

  void close() noexcept;

 private:
  int fd_ = -1;
  endpoint local_{};
};

// A UDP socket connected to one destination that sends batches with sendmmsg, for clients
// and load tools (`riptide bench-tps`, `riptide flood`); not for tiles, which send through
// the net tile. Blocking sends: a full send buffer waits rather than drops.
class udp_batch_sender {
 public:
  static constexpr std::size_t max_batch = 64;
  // Throws std::runtime_error naming `label` and the address if it cannot connect.
  udp_batch_sender(const endpoint& to, std::string_view label, std::uint32_t send_buffer_bytes = 4u << 20);
  ~udp_batch_sender();
  udp_batch_sender(const udp_batch_sender&) = delete;
  udp_batch_sender& operator=(const udp_batch_sender&) = delete;

  // Sends the first min(n, max_batch) packets; returns how many the kernel took (a refused
  // datagram, e.g. ECONNREFUSED after an ICMP error, ends the batch early: last_errno()).
  std::size_t send(std::span<const std::span<const std::uint8_t>> packets) noexcept;
  [[nodiscard]] int last_errno() const noexcept { return last_errno_; }

 private:
  int fd_ = -1;
  int last_errno_ = 0;
};

}  // namespace riptide::net
