// io_uring backend of the net tile: multishot recvmsg straight into rx frames lent to the
// kernel through a provided buffer ring, batched SENDMSG, one io_uring_enter per poll at
// most. See backend_state.hpp and net_tile.hpp for the memory layout.

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "backend_state.hpp"

namespace riptide::net {

namespace {

constexpr unsigned defer_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                 IORING_SETUP_TASKRUN_FLAG;

std::string errno_text(const char* what, int negative_errno) {
  return std::string(what) + ": " + std::strerror(-negative_errno);
}

std::uint32_t next_pow2(std::uint32_t n) noexcept {
  std::uint32_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// liburing 2.3 declares io_uring_enable_rings but does not export it; call the register op.
int enable_rings(io_uring& ring) noexcept {
  const long rc = ::syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                            nullptr, 0);
  return rc < 0 ? -errno : 0;
}

// Creates a ring, preferring deferred task work (completions are produced only inside our
// own io_uring_enter, so an idle poll needs no syscall and the kernel never interrupts the
// core thread), falling back to plain task work on kernels before 6.1.
int create_ring(io_uring& ring, unsigned sq_entries, unsigned cq_entries, bool disabled,
                bool& defer) noexcept {
  io_uring_params p{};
  p.flags = defer_flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP |
            (disabled ? IORING_SETUP_R_DISABLED : 0u);
  p.cq_entries = cq_entries;
  int rc = io_uring_queue_init_params(sq_entries, &ring, &p);
  defer = rc == 0;
  if (rc == -EINVAL) {
    io_uring_params plain{};
    plain.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    plain.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, &ring, &plain);
  }
  return rc;
}

void* map_anonymous(std::size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

std::size_t page_round(std::size_t n) noexcept { return (n + 4095) / 4096 * 4096; }

void prep_multishot_recv(io_uring_sqe* sqe, int fd, msghdr* msg, std::size_t port) noexcept {
  // MSG_TRUNC: io_uring_recvmsg_out::payloadlen reports the datagram's full length, so an
  // oversize datagram is recognised even when it did not fit the buffer.
  io_uring_prep_recvmsg_multishot(sqe, fd, msg, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = provided_buffer_group;
  io_uring_sqe_set_data64(sqe, uring_user_data(uring_tag::recv, port));
}

// The functional probe behind io_uring_unavailable_reason().
std::string probe_io_uring() {
  io_uring ring{};
  bool defer = false;
  int rc = create_ring(ring, 8, 16, false, defer);
  if (rc < 0) return errno_text("io_uring_queue_init", rc);
  constexpr unsigned entries = 8;
  constexpr std::size_t probe_buffer_bytes = 2048;
  void* ring_mem = map_anonymous(4096);
  void* bufs = map_anonymous(entries * probe_buffer_bytes);
  std::string result;
  try {
    if (ring_mem == nullptr || bufs == nullptr) throw std::runtime_error("mmap failed");
    auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_mem);
    reg.ring_entries = entries;
    reg.bgid = provided_buffer_group;
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) throw std::runtime_error(errno_text("io_uring_register_buf_ring", rc));
    for (unsigned i = 0; i < entries; ++i)
      io_uring_buf_ring_add(br, static_cast<std::uint8_t*>(bufs) + i * probe_buffer_bytes,
                            probe_buffer_bytes, static_cast<unsigned short>(i),
                            io_uring_buf_ring_mask(entries), static_cast<int>(i));
    io_uring_buf_ring_advance(br, entries);

    udp_socket_options blocking;
    blocking.nonblocking = false;
    auto rx = udp_socket::open_bound({0x7f000001, 0}, "io_uring probe", blocking);
    auto tx = udp_socket::open_bound({0x7f000001, 0}, "io_uring probe", blocking);
    msghdr msg{};
    msg.msg_namelen = sizeof(sockaddr_in);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) throw std::runtime_error("io_uring_get_sqe: submission queue full");
    prep_multishot_recv(sqe, rx.fd(), &msg, 0);
    rc = io_uring_submit(&ring);
    if (rc < 0) throw std::runtime_error(errno_text("io_uring_submit", rc));
    static constexpr std::uint8_t hello[] = {'r', 'i', 'p', 't', 'i', 'd', 'e'};
    rc = tx.send_to(rx.local(), hello);
    if (rc < 0) throw std::runtime_error(errno_text("sendto", rc));
    __kernel_timespec timeout{1, 0};
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_wait_cqe_timeout(&ring, &cqe, &timeout);
    if (rc < 0) throw std::runtime_error(errno_text("multishot recvmsg completion", rc));
    if (cqe->res < 0) throw std::runtime_error(errno_text("multishot recvmsg", cqe->res));
    if ((cqe->flags & IORING_CQE_F_BUFFER) == 0 || (cqe->flags & IORING_CQE_F_MORE) == 0)
      throw std::runtime_error("multishot recvmsg did not use a provided buffer or stay armed");
    auto* buf = static_cast<std::uint8_t*>(bufs) +
                (cqe->flags >> IORING_CQE_BUFFER_SHIFT) * probe_buffer_bytes;
    auto* out = io_uring_recvmsg_validate(buf, cqe->res, &msg);
    sockaddr_in from{};
    if (out != nullptr) std::memcpy(&from, io_uring_recvmsg_name(out), sizeof from);
    if (out == nullptr || out->payloadlen != sizeof hello ||
        std::memcmp(io_uring_recvmsg_payload(out, &msg), hello, sizeof hello) != 0 ||
        from_sockaddr(from) != tx.local())
      throw std::runtime_error("multishot recvmsg returned a malformed datagram");
    io_uring_cqe_seen(&ring, cqe);
  } catch (const std::exception& e) {
    result = e.what();
  }
  io_uring_queue_exit(&ring);
  if (bufs != nullptr) ::munmap(bufs, entries * probe_buffer_bytes);
  if (ring_mem != nullptr) ::munmap(ring_mem, 4096);
  return result;
}

}  // namespace

const std::string& io_uring_unavailable_reason() {
  static const std::string reason = probe_io_uring();
  return reason;
}

net_tile::uring_state::~uring_state() {
  // Closing the ring cancels the outstanding receives before the frames go away (the tile
  // destroys this state before its frame pool).
  if (ring_open) io_uring_queue_exit(&ring);
  if (buf_ring_mem != nullptr) ::munmap(buf_ring_mem, buf_ring_bytes);
}

void net_tile::uring_init() {
  uring_ = std::make_unique<uring_state>();
  uring_state& u = *uring_;
  // Never lend more than half the frames: the rest stay with the tile for fault duplicates
  // and so that a burst does not strand every frame in the kernel at once.
  u.window = std::min(config_.uring_provided_frames, std::max(1u, config_.rx_frames / 2));
  u.ring_entries = next_pow2(u.window);
  u.ring_mask = io_uring_buf_ring_mask(u.ring_entries);
  // Every CQE holds a lent frame or a send slot until the tile consumes it, so a CQ this size
  // cannot overflow (+ one terminating CQE per port, cancels and slack).
  const unsigned cq_entries = next_pow2(2 * (u.window + config_.tx_inflight + 64));
  const unsigned sq_entries = next_pow2(config_.tx_batch + 4 * port_kind_count);
  int rc = create_ring(u.ring, sq_entries, cq_entries, true, u.defer_taskrun);
  if (rc < 0) throw std::runtime_error("net " + name() + ": " + errno_text("io_uring_queue_init", rc));
  u.ring_open = true;

  u.buf_ring_bytes = page_round(u.ring_entries * sizeof(io_uring_buf));
  u.buf_ring_mem = map_anonymous(u.buf_ring_bytes);
  if (u.buf_ring_mem == nullptr)
    throw std::runtime_error("net " + name() + ": mmap of the buffer ring failed: " +
                             std::strerror(errno));
  u.buf_ring = static_cast<io_uring_buf_ring*>(u.buf_ring_mem);
  io_uring_buf_ring_init(u.buf_ring);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(u.buf_ring_mem);
  reg.ring_entries = u.ring_entries;
  reg.bgid = provided_buffer_group;
  rc = io_uring_register_buf_ring(&u.ring, &reg, 0);
  if (rc < 0)
    throw std::runtime_error("net " + name() + ": " + errno_text("io_uring_register_buf_ring", rc));
  lend_frames();

  for (std::size_t p = 0; p < port_kind_count; ++p) {
    auto& r = u.recv[p];
    r.open = sockets_[p].is_open();
    r.msg.msg_namelen = sizeof(sockaddr_in);
    r.rearm_now = r.open;
  }
  u.sends.resize(config_.tx_inflight);
  u.free_sends.reserve(config_.tx_inflight);
  for (std::uint32_t i = config_.tx_inflight; i-- > 0;) u.free_sends.push_back(i);
}

void net_tile::lend_frames() noexcept {
  uring_state& u = *uring_;
  int added = 0;
  std::uint32_t frame = 0;
  while (u.lent < u.window && free_frames_.try_acquire(frame)) {
    // The buffer starts recv_header_bytes before the frame (see net_tile.hpp) and ends where
    // frame's payload area + spare ends, so the kernel never writes into frame + 1.
    io_uring_buf_ring_add(u.buf_ring, frames_.frame(frame).data() - recv_header_bytes,
                          static_cast<unsigned>(frames_.frame_bytes()),
                          static_cast<unsigned short>(frame), u.ring_mask, added++);
    ++u.lent;
  }
  if (added != 0) io_uring_buf_ring_advance(u.buf_ring, added);
}

// Queues a multishot receive for every open port flagged for it (submitted by the next
// io_uring_enter). Not while no frame is lent: the receive would end at once with -ENOBUFS.
void net_tile::uring_arm() noexcept {
  uring_state& u = *uring_;
  if (draining_ || u.lent == 0) return;
  for (std::size_t p = 0; p < port_kind_count; ++p) {
    auto& r = u.recv[p];
    if (!r.rearm_now || !r.open || r.armed) continue;
    io_uring_sqe* sqe = io_uring_get_sqe(&u.ring);
    if (sqe == nullptr) return;  // SQ full: try again next poll
    prep_multishot_recv(sqe, sockets_[p].fd(), &r.msg, p);
    r.armed = true;
    r.rearm_now = false;
  }
}

namespace {
// Its address tells threads apart for free (no gettid syscall on the hot path).
thread_local char poll_thread_marker;
}  // namespace

int net_tile::uring_poll() noexcept {
  uring_state& u = *uring_;
  if (!u.started) {
    u.started = true;
    u.owner_thread = &poll_thread_marker;
    // The ring was created disabled so that the thread enabling it, this one, becomes its
    // single issuer and the only thread deferred task work runs on.
    if (u.defer_taskrun && enable_rings(u.ring) < 0) {
      u.broken = true;
      count(c_io_errors);
    }
    uring_arm();
  }
  if (u.owner_thread != &poll_thread_marker) {
    // Polled from a second thread: the kernel would refuse (SINGLE_ISSUER) or run the
    // receive work on the first thread. A wiring bug; make it loud once, then count.
    if (!u.warned_thread) {
      u.warned_thread = true;
      std::fprintf(stderr, "net %s: poll() from a second thread; io_uring is bound to the "
                           "first thread that polled. Nothing is received or sent.\n",
                   name().c_str());
    }
    count(c_io_errors);
    return 0;
  }
  if (u.broken) return 0;
  int work = reclaim_rx_frames();
  lend_frames();
  uring_arm();  // after a starvation: frames are back

  // Sends: pop descriptors round-robin across producers into SENDMSG SQEs.
  if (!tx_.empty()) {
    std::uint32_t budget = config_.tx_batch;
    const std::size_t links = tx_.size();
    for (std::size_t k = 0; k < links && budget != 0; ++k) {
      const std::size_t li = (tx_next_ + k) % links;
      while (budget != 0 && !u.free_sends.empty() && io_uring_sq_space_left(&u.ring) > port_kind_count) {
        util::frag_desc d;
        if (!tx_[li].in->try_pop(d)) break;
        --budget;
        ++work;
        if (!tx_acceptable(li, d)) continue;
        io_uring_sqe* sqe = io_uring_get_sqe(&u.ring);
        if (sqe == nullptr) {  // unreachable: space was checked above
          tx_done(li, d, -EBUSY);
          continue;
        }
        const std::uint32_t s = u.free_sends.back();
        u.free_sends.pop_back();
        auto& slot = u.sends[s];
        slot.desc = d;
        slot.link = static_cast<std::uint32_t>(li);
        slot.to = to_sockaddr(endpoint::unpack(d.meta));
        slot.iov.iov_base = const_cast<std::uint8_t*>(tx_[li].pool->frame(d.frame).data());
        slot.iov.iov_len = d.len;
        slot.msg = msghdr{};
        slot.msg.msg_name = &slot.to;
        slot.msg.msg_namelen = sizeof slot.to;
        slot.msg.msg_iov = &slot.iov;
        slot.msg.msg_iovlen = 1;
        io_uring_prep_sendmsg(sqe, sockets_[d.kind].fd(), &slot.msg, 0);
        io_uring_sqe_set_data64(sqe, uring_user_data(uring_tag::send, s));
        ++u.inflight;
      }
    }
    tx_next_ = (tx_next_ + 1) % links;
  }

  // At most one syscall: submit what is queued and/or let the kernel run the receive work it
  // flagged (IORING_SQ_TASKRUN). Nothing queued and nothing flagged: no syscall at all.
  const unsigned queued = io_uring_sq_ready(&u.ring);
  const unsigned kflags = IO_URING_READ_ONCE(*u.ring.sq.kflags);
  const bool events = (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0 &&
                      io_uring_cq_ready(&u.ring) < config_.rx_batch;
  if (queued != 0 || events) {
    const int rc = events ? io_uring_submit_and_get_events(&u.ring) : io_uring_submit(&u.ring);
    count(c_syscalls);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) count(c_io_errors);
  }

  // Completions, in order, until rx_batch receives have been handled.
  std::uint32_t received = 0;
  unsigned seen = 0;
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&u.ring, head, cqe) {
    const std::uint64_t data = io_uring_cqe_get_data64(cqe);
    const auto tag = static_cast<uring_tag>(data >> uring_tag_shift);
    const std::size_t index = static_cast<std::size_t>(data & ((std::uint64_t{1} << uring_tag_shift) - 1));
    if (tag == uring_tag::recv && received == config_.rx_batch) break;
    ++seen;
    const int res = cqe->res;
    const unsigned flags = cqe->flags;
    if (tag == uring_tag::send) {
      auto& slot = u.sends[index];
      tx_done(slot.link, slot.desc, res);
      u.free_sends.push_back(static_cast<std::uint32_t>(index));
      --u.inflight;
      ++work;
      continue;
    }
    if (tag != uring_tag::recv) continue;  // cancel completions carry nothing
    auto& r = u.recv[index];
    const auto port = static_cast<port_kind>(index);
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
      // The kernel wrote into lent frame `bid`: the frame is the tile's again.
      const auto frame = static_cast<std::uint32_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      --u.lent;
      io_uring_recvmsg_out* out =
          res >= 0 && frames_.contains(frame)
              ? io_uring_recvmsg_validate(frames_.frame(frame).data() - recv_header_bytes, res, &r.msg)
              : nullptr;
      if (res >= 0) ++received;
      if (out == nullptr || out->namelen < sizeof(sockaddr_in)) {
        if (res >= 0) count(c_io_errors);
        if (frames_.contains(frame)) recycle_frame(frame);
      } else {
        on_datagram(port, out->payloadlen);
        if ((out->flags & MSG_TRUNC) != 0 || out->payloadlen > max_payload_bytes) {
          drop_oversize();
          recycle_frame(frame);
        } else {
          sockaddr_in from{};
          std::memcpy(&from, io_uring_recvmsg_name(out), sizeof from);
          deliver(port, frame, static_cast<std::uint16_t>(out->payloadlen), from_sockaddr(from));
        }
      }
    } else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
      count(c_io_errors);
    }
    if ((flags & IORING_CQE_F_MORE) == 0) {
      // The multishot receive ended: out of lent frames (-ENOBUFS), cancelled, or an error.
      r.armed = false;
      if (!draining_) {
        count(c_rx_rearms);
        if (res >= 0 || res == -ENOBUFS) {
          r.rearm_now = true;
        } else {
          r.rearm_later = true;  // an error: retry at housekeeping, not in a tight loop
        }
      }
    }
  }
  io_uring_cq_advance(&u.ring, seen);
  lend_frames();  // replace what the kernel used, from the warm end of the free stack
  uring_arm();    // submitted by the next poll
  tx_outstanding_.store(u.inflight, std::memory_order_release);
  return work + static_cast<int>(received);
}

void net_tile::uring_housekeep() noexcept {
  uring_state& u = *uring_;
  if (!u.started || u.broken || draining_) return;
  for (auto& r : u.recv) {
    if (r.rearm_later) {
      r.rearm_later = false;
      r.rearm_now = true;
    }
  }
  uring_arm();
}

void net_tile::uring_drain() noexcept {
  uring_state& u = *uring_;
  if (!u.started || u.broken) return;
  for (std::size_t p = 0; p < port_kind_count; ++p) {
    auto& r = u.recv[p];
    r.rearm_now = r.rearm_later = false;
    if (!r.armed) continue;
    io_uring_sqe* sqe = io_uring_get_sqe(&u.ring);
    if (sqe == nullptr) break;
    io_uring_prep_cancel64(sqe, uring_user_data(uring_tag::recv, p), 0);
    io_uring_sqe_set_data64(sqe, uring_user_data(uring_tag::cancel, p));
  }
  // Submitted by the next poll, together with any sends.
}

}  // namespace riptide::net
