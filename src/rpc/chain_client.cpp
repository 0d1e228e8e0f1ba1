#include <riptide/rpc/chain_client.hpp>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <riptide/net/udp.hpp>
#include <riptide/rpc/hex_parse.hpp>
#include <riptide/rpc/http_api.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::rpc {

namespace {

using json = nlohmann::json;

std::string ip_text(std::uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

template <typename T>
T field(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key))
    throw rpc_error(fmt::format("{}: reply has no \"{}\"", what, key));
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw rpc_error(fmt::format("{}: reply field \"{}\" has the wrong type", what, key));
  }
}

template <std::size_t N>
std::array<std::uint8_t, N> hex_field(const json& j, const char* key, const std::string& what) {
  std::array<std::uint8_t, N> out{};
  if (!parse_hex(field<std::string>(j, key, what), out))
    throw rpc_error(fmt::format("{}: reply field \"{}\" is not {} hex digits", what, key, 2 * N));
  return out;
}

tx_status_reply status_of(const json& j, const std::string& what) {
  const auto name = field<std::string>(j, "status", what);
  const auto result = tx_result_from_name(name);
  if (!result) throw rpc_error(fmt::format("{}: unknown status \"{}\"", what, name));
  tx_status_reply r{*result, field<std::uint64_t>(j, "slot", what), commitment::processed};
  if (j.contains("commitment")) {
    const auto level_name = field<std::string>(j, "commitment", what);
    const auto level = commitment_from_name(level_name);
    if (!level) throw rpc_error(fmt::format("{}: unknown commitment \"{}\"", what, level_name));
    r.level = *level;
  }
  return r;
}

}  // namespace

std::optional<txn::tx_result> tx_result_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < txn::tx_result_count; ++i) {
    const auto r = static_cast<txn::tx_result>(i);
    if (name == txn::to_string(r)) return r;
  }
  return std::nullopt;
}

struct chain_client::impl {
  httplib::Client http;
  impl(const std::string& host, std::uint16_t port) : http(host, port) {}

  // Sends the request; returns the parsed body of a 2xx reply (or of a 404 when allowed,
  // flagged through not_found). Throws rpc_error otherwise.
  json call(const std::string& what, const httplib::Result& res, bool* not_found = nullptr) {
    if (!res) throw rpc_error(fmt::format("{}: {}", what, httplib::to_string(res.error())));
    if (not_found != nullptr) *not_found = res->status == 404;
    json body;
    try {
      body = json::parse(res->body);
    } catch (const json::parse_error&) {
      throw rpc_error(fmt::format("{}: HTTP {} with a body that is not JSON", what, res->status));
    }
    if ((res->status < 200 || res->status >= 300) && !(not_found != nullptr && res->status == 404)) {
      const std::string reason = body.is_object() && body.contains("error") && body["error"].is_string()
                                     ? body["error"].get<std::string>()
                                     : res->body;
      throw rpc_error(fmt::format("{}: HTTP {}: {}", what, res->status, reason));
    }
    return body;
  }
};

chain_client::chain_client(std::uint32_t ip, std::uint16_t port, double connect_timeout_s,
                           double read_timeout_s)
    : impl_(std::make_unique<impl>(ip_text(ip), port)), address_(fmt::format("{}:{}", ip_text(ip), port)) {
  auto split = [](double s) {
    const auto us = static_cast<std::int64_t>(s * 1e6);
    return std::pair<time_t, time_t>(us / 1'000'000, us % 1'000'000);
  };
  const auto c = split(connect_timeout_s), r = split(read_timeout_s);
  impl_->http.set_connection_timeout(c.first, c.second);
  impl_->http.set_read_timeout(r.first, r.second);
  impl_->http.set_write_timeout(r.first, r.second);
}

chain_client::~chain_client() = default;

slot_reply chain_client::slot() {
  const std::string what = "GET " + address_ + "/slot";
  const json j = impl_->call(what, impl_->http.Get("/slot"));
  slot_reply out;
  out.slot = field<std::uint64_t>(j, "slot", what);
  out.tick_height = field<std::uint64_t>(j, "tick_height", what);
  out.blockhash = hex_field<crypto::hash_bytes>(j, "blockhash", what);
  out.blockhash_slot = field<std::uint64_t>(j, "blockhash_slot", what);
  if (j.contains("durable_slot") && !j["durable_slot"].is_null())
    out.durable_slot = field<std::uint64_t>(j, "durable_slot", what);
  if (j.contains("root") && !j["root"].is_null()) out.root = field<std::uint64_t>(j, "root", what);
  if (j.contains("lamports_per_signature") && !j["lamports_per_signature"].is_null())
    out.lamports_per_signature = field<std::uint64_t>(j, "lamports_per_signature", what);
  return out;
}

std::map<std::string, std::uint64_t> chain_client::drops() {
  const std::string what = "GET " + address_ + "/drops";
  const json j = impl_->call(what, impl_->http.Get("/drops"));
  if (!j.contains("drops") || !j["drops"].is_object()) throw rpc_error(what + ": no \"drops\" object in the reply");
  std::map<std::string, std::uint64_t> out;
  for (const auto& [name, value] : j["drops"].items()) {
    if (!value.is_number_unsigned()) throw rpc_error(what + ": drops." + name + " is not a count");
    out[name] = value.get<std::uint64_t>();
  }
  return out;
}

std::vector<chain_client::tpu_contact> chain_client::gossip_tpus() {
  std::vector<tpu_contact> out;
  auto add = [&](const json& contact, const std::string& what) {
    if (!contact.is_object() || !contact.contains("ip") || !contact.contains("ports"))
      throw rpc_error(what + ": a contact without ip and ports");
    const auto ip = net::parse_ipv4(contact["ip"].get<std::string>());
    const json& port = contact["ports"]["tpu"];
    if (!ip || !port.is_number_unsigned()) throw rpc_error(what + ": a contact with a bad ip or tpu port");
    if (port.get<std::uint64_t>() == 0 || port.get<std::uint64_t>() > 65535) return;
    out.push_back({*ip, static_cast<std::uint16_t>(port.get<std::uint64_t>())});
  };
  const std::string state = "GET " + address_ + "/gossip/state";
  const json s = impl_->call(state, impl_->http.Get("/gossip/state"));
  if (!s.contains("self")) throw rpc_error(state + ": no \"self\" in the reply");
  add(s["self"], state);
  const std::string peers = "GET " + address_ + "/gossip/peers";
  const json p = impl_->call(peers, impl_->http.Get("/gossip/peers"));
  if (!p.is_array()) throw rpc_error(peers + ": not an array");
  for (const json& c : p) add(c, peers);
  return out;
}

std::uint64_t chain_client::balance(const crypto::pubkey& key) {
  const std::string path = "/balance/" + util::to_hex(key);
  const std::string what = "GET " + address_ + path;
  return field<std::uint64_t>(impl_->call(what, impl_->http.Get(path)), "lamports", what);
}

std::optional<tx_status_reply> chain_client::status(const crypto::signature& sig) {
  const std::string path = "/tx/" + util::to_hex(sig);
  const std::string what = "GET " + address_ + path;
  bool not_found = false;
  const json j = impl_->call(what, impl_->http.Get(path), &not_found);
  if (not_found) return std::nullopt;
  return status_of(j, what);
}

std::vector<std::optional<tx_status_reply>> chain_client::statuses(std::span<const crypto::signature> sigs) {
  const std::string what = "POST " + address_ + "/tx/status";
  std::vector<std::optional<tx_status_reply>> out;
  out.reserve(sigs.size());
  std::string body;
  for (std::size_t first = 0; first < sigs.size(); first += max_status_batch) {
    const std::size_t n = std::min(max_status_batch, sigs.size() - first);
    body.clear();
    body += R"({"signatures":[)";
    for (std::size_t i = 0; i < n; ++i) {
      if (i != 0) body += ',';
      body += '"';
      body += util::to_hex(sigs[first + i]);
      body += '"';
    }
    body += "]}";
    const json j = impl_->call(what, impl_->http.Post("/tx/status", body, "application/json"));
    if (!j.is_object() || !j.contains("statuses") || !j["statuses"].is_array() || j["statuses"].size() != n)
      throw rpc_error(fmt::format("{}: expected {} statuses in the reply", what, n));
    for (const auto& s : j["statuses"]) {
      if (s.is_null()) out.emplace_back();
      else out.emplace_back(status_of(s, what));
    }
  }
  return out;
}

crypto::signature chain_client::submit(std::span<const std::uint8_t> transaction) {
  const std::string what = "POST " + address_ + "/tx";
  const json j = impl_->call(what, impl_->http.Post("/tx", util::to_hex(transaction), "text/plain"));
  return hex_field<crypto::signature_bytes>(j, "signature", what);
}

}  // namespace riptide::rpc
