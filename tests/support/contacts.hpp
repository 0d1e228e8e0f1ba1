#pragma once
// A contact book holding one port's endpoints, for tile tests that used to pass a span of
// endpoints: row i gets ids[i] and endpoints[i] (rows without an id get a made-up one).
#include <riptide/net/contact_book.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace riptide::testing {

inline std::unique_ptr<net::contact_book> contacts_of(std::span<const net::endpoint> endpoints, net::port_kind port,
                                                      std::span<const crypto::pubkey> ids = {}) {
  std::vector<crypto::pubkey> rows;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    crypto::pubkey k{};
    if (i < ids.size()) {
      k = ids[i];
    } else {
      k[0] = 0xee;  // made up, distinct per row
      k[1] = static_cast<std::uint8_t>(i);
      k[2] = static_cast<std::uint8_t>(i >> 8);
    }
    rows.push_back(k);
  }
  auto book = std::make_unique<net::contact_book>(std::move(rows));
  for (std::size_t i = 0; i < endpoints.size(); ++i) book->set(i, port, endpoints[i]);
  return book;
}

}  // namespace riptide::testing
