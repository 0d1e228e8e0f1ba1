#include <riptide/rpc/http_api.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <charconv>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/rpc/commitment.hpp>
#include <riptide/rpc/hex_parse.hpp>
#include <riptide/rpc/schedule_view.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>
#include <riptide/util/metrics.hpp>

namespace riptide::rpc {

namespace {

using json = nlohmann::json;

std::string ip_text(std::uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

json contact_json(const gossip::contact_info& c) {
  return {{"id", util::to_hex(c.id)},
          {"shred_version", c.shred_version},
          {"wallclock_ms", c.wallclock_ms},
          {"ip", ip_text(c.ip)},
          {"ports",
           {{"gossip", c.gossip_port}, {"tpu", c.tpu_port}, {"tpu_forwards", c.tpu_forwards_port},
            {"tvu", c.tvu_port}, {"repair", c.repair_port}, {"rpc", c.rpc_port}}}};
}

json data_json(const gossip::data_view& d) {
  return {{"origin", util::to_hex(d.origin)}, {"key", d.key}, {"value", d.value}, {"wallclock_ms", d.wallclock_ms}};
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, json{{"error", message}});
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

const char* status_name(const bank::tx_status& st) {
  return st.result < txn::tx_result_count ? txn::to_string(static_cast<txn::tx_result>(st.result))
                                          : "unknown_result";
}

json status_json(const bank::tx_status& st, const bank::chain_status& chain) {
  return {{"status", status_name(st)}, {"slot", st.slot}, {"commitment", to_string(commitment_of(st.slot, chain))}};
}

// Body of POST /tx: hex of at most max_transaction_bytes, plus a little whitespace.
constexpr std::size_t max_tx_body_bytes = 2 * txn::max_transaction_bytes + 64;

std::string prometheus_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

}  // namespace

struct http_api::impl {
  http_api_config config;
  const gossip::snapshot_board* board;
  util::spsc_ring<gossip::gossip_command>* commands;
  http_chain_view chain;
  int tpu_socket = -1;  // for POST /tx; used only by the single worker thread
  std::set<std::string> own_keys;  // keys POST /gossip/data queued; the single worker's
  std::vector<std::pair<std::string, std::string>> drop_counters;  // (tile, counter)
  httplib::Server server;
  std::thread thread;
  bool started = false;
  std::uint16_t bound_port = 0;
  std::atomic<bool> listen_returned{false};

  ~impl() {
    if (tpu_socket >= 0) ::close(tpu_socket);
  }

  void chain_routes() {
    server.Get("/slot", [this](const httplib::Request&, httplib::Response& res) {
      if (chain.board == nullptr) return error(res, 503, "the PoH chain is not running");
      const auto st = chain.board->read();
      // The slot in progress builds on the newest finished block; before any, on genesis.
      const bool on_genesis = st.slot == 0 && st.blockhash_slot == 0;
      json leader = nullptr;
      if (chain.stakes != nullptr && chain.slots_per_epoch != 0 && !chain.stakes->empty()) {
        const epoch::leader_schedule schedule(*chain.stakes, epoch::epoch_of(st.slot, chain.slots_per_epoch),
                                              chain.slots_per_epoch);
        if (const auto l = schedule.leader_for_slot(st.slot)) leader = util::to_hex(*l);
      }
      reply(res, 200,
            json{{"slot", st.slot},
                 {"parent", on_genesis ? json(nullptr) : json(st.blockhash_slot)},
                 {"leader", leader},
                 {"role_now", (chain.leading ? chain.leading() : chain.produces) ? "leading" : "following"},
                 {"tick_height", st.tick_height},
                 {"blockhash", util::to_hex(st.blockhash)},
                 {"blockhash_slot", st.blockhash_slot},
                 {"durable_slot", st.has_durable_slot ? json(st.durable_slot) : json(nullptr)},
                 {"root", st.has_root_slot ? json(st.root_slot) : json(nullptr)},
                 {"processed", on_genesis ? json(nullptr) : json(st.blockhash_slot)},
                 {"confirmed", st.has_confirmed_slot ? json(st.confirmed_slot) : json(nullptr)},
                 {"finalized", st.has_finalized_slot ? json(st.finalized_slot) : json(nullptr)},
                 {"lamports_per_signature",
                  chain.forks != nullptr ? json(chain.forks->lamports_per_signature()) : json(nullptr)}});
    });
    server.Get("/leader-schedule", [this](const httplib::Request& req, httplib::Response& res) {
      if (chain.stakes == nullptr || chain.slots_per_epoch == 0)
        return error(res, 404, "this node has no cluster genesis, so no leader schedule");
      if (chain.stakes->empty()) return error(res, 404, "no validator of the genesis has stake: no leader schedule");
      // ?epoch=E&from=SLOT&count=N; defaults: the current slot's epoch, its slots from the
      // current one, 64 of them (at most 4096 listed one by one; group_leaders has them all).
      std::optional<std::uint64_t> current;
      if (chain.board != nullptr) current = chain.board->read().slot;
      std::uint64_t epoch = current ? epoch::epoch_of(*current, chain.slots_per_epoch) : 0;
      std::uint64_t count = 64;
      std::optional<std::uint64_t> from;
      for (const auto& [name, value] : req.params) {
        if (name != "epoch" && name != "from" && name != "count")
          return error(res, 400, "unknown parameter '" + name + "' (epoch, from, count)");
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc{} || end != value.data() + value.size())
          return error(res, 400, name + ": expected an unsigned integer, got '" + value + "'");
        if (name == "epoch") epoch = v;
        if (name == "count") count = v;
        if (name == "from") from = v;
      }
      if (count > 4096) return error(res, 400, "count: at most 4096 slots are listed one by one");
      if (epoch > ~std::uint64_t{0} / chain.slots_per_epoch - 1) return error(res, 400, "epoch: out of range");
      const std::uint64_t first = epoch * chain.slots_per_epoch;
      if (!from) from = current && epoch::epoch_of(*current, chain.slots_per_epoch) == epoch ? *current : first;
      const epoch::leader_schedule schedule(*chain.stakes, epoch, chain.slots_per_epoch);
      res.status = 200;
      res.set_content(schedule_json(*chain.stakes, schedule, *from, count) + "\n", "application/json");
    });
    server.Get(R"(/balance/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string text = req.matches[1];
      crypto::pubkey key{};
      if (!parse_hex(text, key)) return error(res, 400, "pubkey: expected 64 hex digits");
      if (chain.forks == nullptr) return error(res, 503, "the bank is not running");
      const std::uint64_t lamports = chain.forks->rooted_balance(key);
      reply(res, 200, json{{"pubkey", util::to_hex(key)}, {"lamports", lamports}});
    });
    server.Get(R"(/tx/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string text = req.matches[1];
      crypto::signature sig{};
      if (!parse_hex(text, sig)) return error(res, 400, "signature: expected 128 hex digits");
      if (chain.statuses == nullptr) return error(res, 503, "transaction statuses are not kept");
      // The board before the status: replay forgets a pruned fork's statuses before it shows
      // the new root, so a status found after this read, at or below this root, is the
      // rooted chain's (read the other way round, a stale status could meet a newer root).
      const bank::chain_status now = chain.board != nullptr ? chain.board->read() : bank::chain_status{};
      const auto st = chain.statuses->find(sig);
      if (!st) return reply(res, 404, json{{"signature", util::to_hex(sig)}, {"status", "unknown"}});
      json j = status_json(*st, now);
      j["signature"] = util::to_hex(sig);
      reply(res, 200, j);
    });
    server.Post("/tx/status", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.body.size() > config.max_batch_body_bytes)
        return error(res, 400, fmt::format("body is {} bytes; the limit is {}", req.body.size(),
                                           config.max_batch_body_bytes));
      json j;
      try {
        j = json::parse(req.body);
      } catch (const json::parse_error& e) {
        return error(res, 400, std::string("invalid JSON: ") + e.what());
      }
      if (!j.is_object() || !j.contains("signatures") || !j["signatures"].is_array())
        return error(res, 400, R"(expected {"signatures": ["<128 hex>", ...]})");
      const auto& list = j["signatures"];
      if (list.size() > max_status_batch)
        return error(res, 400, fmt::format("{} signatures; at most {} per request", list.size(), max_status_batch));
      std::vector<crypto::signature> sigs(list.size());
      for (std::size_t i = 0; i < list.size(); ++i)
        if (!list[i].is_string() || !parse_hex(list[i].get_ref<const std::string&>(), sigs[i]))
          return error(res, 400, fmt::format("signatures[{}]: expected 128 hex digits", i));
      if (chain.statuses == nullptr) return error(res, 503, "transaction statuses are not kept");
      json out = json::array();
      // The board before the statuses, as in GET /tx.
      const bank::chain_status now = chain.board != nullptr ? chain.board->read() : bank::chain_status{};
      for (const auto& sig : sigs) {
        const auto st = chain.statuses->find(sig);
        out.push_back(st ? status_json(*st, now) : json(nullptr));
      }
      reply(res, 200, json{{"statuses", std::move(out)}});
    });
    server.Post("/tx", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.body.size() > max_tx_body_bytes)
        return error(res, 400, fmt::format("body is {} bytes; a transaction is at most {} bytes ({} hex digits)",
                                           req.body.size(), txn::max_transaction_bytes,
                                           2 * txn::max_transaction_bytes));
      const std::string_view text = trim(req.body);
      if (text.size() % 2 != 0) return error(res, 400, "body: expected the transaction as hex (an even number of hex digits)");
      std::vector<std::uint8_t> bytes(text.size() / 2);
      if (!parse_hex(text, bytes)) return error(res, 400, "body: expected the transaction as hex digits only");
      txn::transaction_view tx;
      if (const auto e = txn::parse_transaction(bytes, tx); e != txn::parse_error::none)
        return error(res, 400, std::string("invalid transaction: ") + txn::to_string(e));
      if (chain.tpu_port == 0 || tpu_socket < 0) return error(res, 503, "no tpu address to send to");
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(chain.tpu_port);
      to.sin_addr.s_addr = htonl(chain.tpu_ip);
      const auto sent = ::sendto(tpu_socket, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                                 sizeof to);
      if (sent != static_cast<ssize_t>(bytes.size()))
        return error(res, 503, fmt::format("send to the tpu failed: {}", std::strerror(errno)));
      reply(res, 200, json{{"signature", util::to_hex(tx.signature(0))}});
    });
  }

  std::shared_ptr<const gossip::gossip_snapshot> snapshot(httplib::Response& res) const {
    auto s = board != nullptr ? board->latest() : nullptr;
    if (!s) error(res, 503, "gossip is not running yet");
    return s;
  }

  void routes() {
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      auto s = board != nullptr ? board->latest() : nullptr;
      json j{{"status", "ok"}, {"node", config.node_name}};
      if (s) j["gossip"] = gossip::to_string(s->health);
      if (s && s->duplicate_identity) {
        // Another live process signs as this node: it must not lead (node.cpp halts PoH).
        j["status"] = "duplicate_identity";
        j["duplicate_identity"] = true;
      }
      reply(res, 200, j);
    });
    server.Get("/gossip/peers", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      json arr = json::array();
      for (const auto& p : s->peers) {
        json j = contact_json(p.contact);
        j["address"] = fmt::format("{}:{}", ip_text(p.addr.ip), p.addr.port);
        j["health"] = gossip::to_string(p.health);
        j["last_contact_ms_ago"] = s->taken_unix_ms >= p.last_contact_ms ? s->taken_unix_ms - p.last_contact_ms : 0;
        j["trusted"] = p.trusted;
        arr.push_back(std::move(j));
      }
      reply(res, 200, arr);
    });
    server.Get("/gossip/stats", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      json j = json::object();
      for (const auto& [k, v] : s->stats) j[k] = v;
      reply(res, 200, j);
    });
    server.Get("/gossip/data", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      json arr = json::array();
      for (const auto& d : s->data) arr.push_back(data_json(d));
      reply(res, 200, arr);
    });
    server.Get(R"(/gossip/data/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      const std::string key = req.matches[1];
      json arr = json::array();
      for (const auto& d : s->data)
        if (d.key == key) arr.push_back(data_json(d));
      if (arr.empty()) return error(res, 404, "no value for key '" + key + "'");
      reply(res, 200, arr);
    });
    server.Post("/gossip/data", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.body.size() > config.max_body_bytes)
        return error(res, 400, fmt::format("body is {} bytes; the limit is {}", req.body.size(), config.max_body_bytes));
      json j;
      try {
        j = json::parse(req.body);
      } catch (const json::parse_error& e) {
        return error(res, 400, std::string("invalid JSON: ") + e.what());
      }
      if (!j.is_object() || !j.contains("key") || !j.contains("value") || !j["key"].is_string() ||
          !j["value"].is_string())
        return error(res, 400, R"(expected {"key": "<string>", "value": "<string>"})");
      const auto key = j["key"].get<std::string>();
      const auto value = j["value"].get<std::string>();
      if (key.empty() || key.size() > gossip::command_key_max_bytes)
        return error(res, 400, fmt::format("key must be 1..{} bytes", gossip::command_key_max_bytes));
      if (value.size() > gossip::command_value_max_bytes)
        return error(res, 400, fmt::format("value must be at most {} bytes", gossip::command_value_max_bytes));
      if (commands == nullptr) return error(res, 503, "gossip is not running");
      const bool new_key = own_keys.count(key) == 0;
      if (new_key && own_keys.size() >= config.max_own_data_keys)
        return reply(res, 409,
                     json{{"error", fmt::format("this node already publishes {} keys, its limit "
                                                "(gossip.max_own_data_keys); update one of them instead",
                                                own_keys.size())},
                          {"keys", own_keys.size()},
                          {"max_own_data_keys", config.max_own_data_keys}});
      gossip::gossip_command cmd;
      cmd.key_len = static_cast<std::uint8_t>(key.size());
      cmd.value_len = static_cast<std::uint16_t>(value.size());
      std::memcpy(cmd.key, key.data(), key.size());
      std::memcpy(cmd.value, value.data(), value.size());
      if (!commands->try_push(cmd)) return error(res, 503, "command queue full; retry");
      if (new_key) own_keys.insert(key);
      reply(res, 202, json{{"accepted", true}, {"key", key}});
    });
    server.Get("/gossip/state", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      json counts = json::object();
      for (const auto& [k, v] : s->counts_by_kind) counts[k] = v;
      reply(res, 200, json{{"self", contact_json(s->self)},
                           {"table_size", s->table_size},
                           {"values_by_kind", counts},
                           {"peers_known", s->peers.size()},
                           {"snapshot_unix_ms", s->taken_unix_ms}});
    });
    server.Get("/gossip/health", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      std::uint64_t active = 0, suspected = 0, dead = 0;
      for (const auto& p : s->peers) {
        active += p.health == gossip::peer_health::active;
        suspected += p.health == gossip::peer_health::suspected;
        dead += p.health == gossip::peer_health::dead;
      }
      reply(res, 200, json{{"node", gossip::to_string(s->health)},
                           {"peers", {{"active", active}, {"suspected", suspected}, {"dead", dead}}}});
    });
    server.Get("/drops", [this](const httplib::Request&, httplib::Response& res) {
      if (config.metrics_path.empty()) return error(res, 404, "no metrics file");
      try {
        util::metrics_reader reader(config.metrics_path);
        const auto snap = reader.snapshot();
        json drops = json::object();
        for (const auto& [tile, counter] : drop_counters)
          for (const auto& b : snap.blocks) {
            if (b.kind != util::metrics_kind::tile || b.name != tile) continue;
            for (std::size_t i = 0; i < b.counter_names.size(); ++i)
              if (b.counter_names[i] == counter) drops[tile + "." + counter] = b.values[i];
          }
        reply(res, 200, json{{"drops", std::move(drops)}});
      } catch (const std::exception& e) {
        error(res, 500, e.what());
      }
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      if (config.metrics_path.empty()) return error(res, 404, "no metrics file");
      try {
        util::metrics_reader reader(config.metrics_path);
        const auto snap = reader.snapshot();
        std::string out;
        for (const auto& b : snap.blocks) {
          const char* kind = b.kind == util::metrics_kind::tile ? "tile"
                             : b.kind == util::metrics_kind::link ? "link" : "core";
          for (std::size_t i = 0; i < b.values.size(); ++i)
            out += fmt::format("riptide_{}_{}{{node=\"{}\",{}=\"{}\"}} {}\n", kind,
                               prometheus_name(b.counter_names[i]), config.node_name, kind, b.name,
                               b.values[i]);
        }
        res.set_content(out, "text/plain; version=0.0.4");
      } catch (const std::exception& e) {
        error(res, 500, e.what());
      }
    });
  }
};

http_api::http_api(const http_api_config& config, const gossip::snapshot_board* board,
                   util::spsc_ring<gossip::gossip_command>* commands)
    : impl_(std::make_unique<impl>()) {
  impl_->config = config;
  impl_->board = board;
  impl_->commands = commands;
  // One worker: it is the command ring's single producer. Close after each request so a
  // keep-alive client cannot hold the worker.
  impl_->server.new_task_queue = [] { return new httplib::ThreadPool(1); };
  impl_->server.set_keep_alive_max_count(1);
  // httplib's default also sets SO_REUSEPORT, which would let a second node bind the same
  // port and silently take half the requests. SO_REUSEADDR alone makes a conflict an error.
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl_->server.set_payload_max_length(
      std::max<std::size_t>({std::size_t{1} << 20, config.max_body_bytes, config.max_batch_body_bytes}));
  impl_->server.set_read_timeout(2, 0);
  impl_->server.set_write_timeout(2, 0);
  impl_->routes();
  impl_->chain_routes();
}

http_api::~http_api() { stop(); }

void http_api::set_chain(const http_chain_view& view) {
  if (impl_->started) throw std::logic_error("http_api::set_chain: call it before start()");
  impl_->chain = view;
}

void http_api::set_drop_counters(std::vector<std::pair<std::string, std::string>> counters) {
  if (impl_->started) throw std::logic_error("http_api::set_drop_counters: call it before start()");
  impl_->drop_counters = std::move(counters);
}

void http_api::start() {
  if (impl_->started) return;
  if (impl_->chain.tpu_port != 0 && impl_->tpu_socket < 0) {
    impl_->tpu_socket = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (impl_->tpu_socket < 0)
      throw std::runtime_error(fmt::format("http api: UDP socket for POST /tx: {}", std::strerror(errno)));
  }
  if (impl_->config.port == 0) {
    const int port = impl_->server.bind_to_any_port(impl_->config.ip);
    if (port <= 0)
      throw std::runtime_error(fmt::format("http api {}:0: bind failed: {}", impl_->config.ip, std::strerror(errno)));
    impl_->bound_port = static_cast<std::uint16_t>(port);
  } else {
    if (!impl_->server.bind_to_port(impl_->config.ip, impl_->config.port))
      throw std::runtime_error(fmt::format("http api {}:{}: bind failed: {}", impl_->config.ip,
                                           impl_->config.port, std::strerror(errno)));
    impl_->bound_port = impl_->config.port;
  }
  impl_->started = true;
  impl_->listen_returned = false;
  impl_->thread = std::thread([this] {
    impl_->server.listen_after_bind();
    impl_->listen_returned = true;
  });
  // httplib's stop() does nothing until the listen loop has marked itself running, so a stop()
  // right after start() would leave the thread listening forever: wait for the loop here.
  while (!impl_->server.is_running() && !impl_->listen_returned) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

void http_api::stop() {
  if (!impl_->started) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->started = false;
  impl_->bound_port = 0;
}

std::uint16_t http_api::port() const noexcept { return impl_->bound_port; }

}  // namespace riptide::rpc
