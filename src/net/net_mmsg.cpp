// recvmmsg/sendmmsg backend of the net tile: non-blocking sockets, the kernel writes received
// datagrams straight into rx frames, sends go out in runs of same-port sendmmsg.

#include <sys/socket.h>

#include <cerrno>

#include "backend_state.hpp"

namespace riptide::net {

void net_tile::mmsg_init() {
  mmsg_ = std::make_unique<mmsg_state>();
  mmsg_state& m = *mmsg_;
  m.rx_msgs.resize(config_.rx_batch);
  m.rx_iov.resize(config_.rx_batch);
  m.rx_from.resize(config_.rx_batch);
  m.rx_frame.resize(config_.rx_batch);
  for (std::size_t p = 0; p < port_kind_count; ++p)
    if (sockets_[p].is_open()) m.open_ports.push_back(p);
  m.pending.resize(config_.tx_batch);
  m.tx_msgs.resize(config_.tx_batch);
  m.tx_iov.resize(config_.tx_batch);
  m.tx_to.resize(config_.tx_batch);
}

int net_tile::mmsg_poll() noexcept {
  mmsg_state& m = *mmsg_;
  int work = reclaim_rx_frames();

  // Receive: one recvmmsg per open port, round-robin, ≤ rx_batch datagrams in all.
  if (!draining_ && !m.open_ports.empty()) {
    std::uint32_t budget = config_.rx_batch;
    const std::size_t ports = m.open_ports.size();
    for (std::size_t k = 0; k < ports && budget != 0; ++k) {
      const std::size_t p = m.open_ports[(m.next_port + k) % ports];
      std::uint32_t want = 0;
      while (want < budget && free_frames_.try_acquire(m.rx_frame[want])) ++want;
      if (want == 0) break;  // every frame is out: datagrams wait in the socket buffer
      for (std::uint32_t i = 0; i < want; ++i) {
        m.rx_iov[i] = {frames_.frame(m.rx_frame[i]).data(), frames_.frame_bytes()};
        msghdr& h = m.rx_msgs[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &m.rx_from[i];
        h.msg_namelen = sizeof(sockaddr_in);
        h.msg_iov = &m.rx_iov[i];
        h.msg_iovlen = 1;
        m.rx_msgs[i].msg_len = 0;
      }
      // MSG_TRUNC: msg_len is the datagram's full length even when it did not fit the frame.
      const int n = ::recvmmsg(sockets_[p].fd(), m.rx_msgs.data(), want, MSG_DONTWAIT | MSG_TRUNC,
                               nullptr);
      count(c_syscalls);
      std::uint32_t got = 0;
      if (n > 0) {
        got = static_cast<std::uint32_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        count(c_io_errors);
      }
      const auto port = static_cast<port_kind>(p);
      for (std::uint32_t i = 0; i < got; ++i) {
        const std::uint32_t len = m.rx_msgs[i].msg_len;
        on_datagram(port, len);
        if ((m.rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || len > max_payload_bytes) {
          drop_oversize();
          recycle_frame(m.rx_frame[i]);
        } else if (m.rx_msgs[i].msg_hdr.msg_namelen < sizeof(sockaddr_in)) {
          count(c_io_errors);
          recycle_frame(m.rx_frame[i]);
        } else {
          deliver(port, m.rx_frame[i], static_cast<std::uint16_t>(len), from_sockaddr(m.rx_from[i]));
        }
      }
      // Unused frames go back in reverse so the stack hands out the same (warm) ones next.
      for (std::uint32_t i = want; i-- > got;) recycle_frame(m.rx_frame[i]);
      budget -= got;
      work += static_cast<int>(got);
    }
    m.next_port = (m.next_port + 1) % ports;
  }

  // Send: top up the pending queue when it is empty, then sendmmsg runs of the same port.
  if (m.pending_count == 0 && !tx_.empty()) {
    m.pending_head = 0;
    const std::size_t links = tx_.size();
    for (std::size_t k = 0; k < links && m.pending_count < m.pending.size(); ++k) {
      const std::size_t li = (tx_next_ + k) % links;
      util::frag_desc d;
      while (m.pending_count < m.pending.size() && tx_[li].in->try_pop(d)) {
        ++work;
        if (tx_acceptable(li, d)) m.pending[m.pending_count++] = {d, static_cast<std::uint32_t>(li)};
      }
    }
    tx_next_ = (tx_next_ + 1) % links;
  }
  while (m.pending_count != 0) {
    const auto* first = &m.pending[m.pending_head];
    const std::uint16_t kind = first->desc.kind;
    std::size_t run = 0;
    while (run < m.pending_count && first[run].desc.kind == kind) {
      const auto& ps = first[run];
      m.tx_to[run] = to_sockaddr(endpoint::unpack(ps.desc.meta));
      m.tx_iov[run] = {const_cast<std::uint8_t*>(tx_[ps.link].pool->frame(ps.desc.frame).data()),
                       ps.desc.len};
      msghdr& h = m.tx_msgs[run].msg_hdr;
      h = msghdr{};
      h.msg_name = &m.tx_to[run];
      h.msg_namelen = sizeof(sockaddr_in);
      h.msg_iov = &m.tx_iov[run];
      h.msg_iovlen = 1;
      ++run;
    }
    const int n = ::sendmmsg(sockets_[kind].fd(), m.tx_msgs.data(), static_cast<unsigned>(run),
                             MSG_DONTWAIT);
    count(c_syscalls);
    std::size_t done = 0;
    if (n > 0) {
      done = static_cast<std::size_t>(n);
      for (std::size_t i = 0; i < done; ++i)
        tx_done(first[i].link, first[i].desc, static_cast<int>(m.tx_msgs[i].msg_len));
    } else {
      const int err = n < 0 ? errno : EAGAIN;
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) break;  // retry next poll
      tx_done(first[0].link, first[0].desc, -err);  // the first message failed: drop it
      done = 1;
    }
    m.pending_head += done;
    m.pending_count -= done;
  }
  tx_outstanding_.store(static_cast<std::uint32_t>(m.pending_count), std::memory_order_release);
  return work;
}

}  // namespace riptide::net
