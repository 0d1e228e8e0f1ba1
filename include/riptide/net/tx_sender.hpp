#pragma once
// tx_sender: a tile's own send frames and the two rings to and from the net tile. A tile that
// sends datagrams (retransmits, shreds, repair) copies each into a free frame, pushes
// frag_desc{frame, len, kind = port to send from, meta = destination endpoint} to the net
// tile, and gets the frame back on the release ring after the send.
//
//   tile ── send(bytes, port, to) ──► tx ──► net tile ──► UDP
//     ▲                                         │
//     └──────────── reclaim() ◄── tx_release ◄──┘
//
// Contract
// - One owner thread (the tile's core thread) calls send() and reclaim(); the net tile is the
//   other end of both rings. frames() is what net_tile::add_tx wants.
// - send() is noexcept and never blocks: with no free frame or a full tx ring the datagram is
//   not sent and the result says why (the caller counts it). A frame whose push failed goes
//   straight back to the free list.
// - reclaim() takes back every released frame; a descriptor naming no frame of the pool, or a
//   frame already free, is counted in bad_releases().
// - Memory: the frames (frame_count × 1232 B, util::frame_pool), the free stack and one
//   in-flight flag per frame are sized in the constructor; nothing allocates afterwards.

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <riptide/net/udp.hpp>
#include <riptide/util/frame_pool.hpp>
#include <riptide/util/spsc_ring.hpp>

namespace riptide::net {

enum class send_result : std::uint8_t { sent, no_frame, ring_full, too_large };

class tx_sender {
 public:
  tx_sender(std::uint32_t frame_count, util::spsc_ring<util::frag_desc>& tx,
            util::spsc_ring<util::frag_desc>& tx_release)
      : pool_(frame_count), free_(0, frame_count), in_flight_(frame_count, 0), tx_(tx),
        release_(tx_release) {}

  const util::frame_pool& frames() const noexcept { return pool_; }
  std::size_t free_frames() const noexcept { return free_.available(); }
  std::uint64_t bad_releases() const noexcept { return bad_releases_; }

  send_result send(std::span<const std::uint8_t> bytes, port_kind from, const endpoint& to) noexcept {
    if (bytes.size() > pool_.frame_bytes()) return send_result::too_large;
    std::uint32_t frame = 0;
    if (!free_.try_acquire(frame)) return send_result::no_frame;
    std::memcpy(pool_.frame(frame).data(), bytes.data(), bytes.size());
    const util::frag_desc d{frame, static_cast<std::uint16_t>(bytes.size()),
                            static_cast<std::uint16_t>(from), to.pack()};
    if (!tx_.try_push(d)) {
      (void)free_.release(frame);  // just acquired: the stack has room
      return send_result::ring_full;
    }
    in_flight_[frame] = 1;
    return send_result::sent;
  }

  // Frames back from the net tile; returns how many.
  int reclaim() noexcept {
    util::frag_desc descs[64];
    int work = 0;
    for (;;) {
      const std::size_t n = release_.try_pop_batch(descs);
      for (std::size_t i = 0; i < n; ++i) {
        // The free stack only notices a double release when it is full: the flag catches a
        // frame that is already free while others are still out.
        const std::uint32_t frame = descs[i].frame;
        if (!pool_.contains(frame) || in_flight_[frame] == 0) {
          ++bad_releases_;
          continue;
        }
        in_flight_[frame] = 0;
        (void)free_.release(frame);  // it was out: the stack has room
      }
      work += static_cast<int>(n);
      // Every frame comes back at most once, so this ends within frame_count descriptors.
      if (n < std::size(descs)) return work;
    }
  }

 private:
  util::frame_pool pool_;
  util::frame_stack free_;
  std::vector<std::uint8_t> in_flight_;  // 1 while the frame is with the net tile
  util::spsc_ring<util::frag_desc>& tx_;
  util::spsc_ring<util::frag_desc>& release_;
  std::uint64_t bad_releases_ = 0;
};

}  // namespace riptide::net
