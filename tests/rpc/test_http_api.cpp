#include <riptide/rpc/http_api.hpp>
#include "../support/small_forks.hpp"

#include <gtest/gtest.h>

#include <riptide/epoch/leader_schedule.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <riptide/rpc/chain_client.hpp>
#include <riptide/rpc/hex_parse.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>

using namespace riptide;
using json = nlohmann::json;

namespace {

constexpr std::uint32_t loopback = 0x7f000001;

// A UDP socket bound to 127.0.0.1 on a free port: stands in for the node's tpu port.
class udp_sink {
 public:
  udp_sink() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(loopback);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~udp_sink() { ::close(fd_); }
  std::uint16_t port() const { return port_; }
  // One datagram, or empty after timeout_ms.
  std::vector<std::uint8_t> receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return {};
    std::vector<std::uint8_t> buf(2048);
    const auto n = ::recv(fd_, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

crypto::signature sig_of(std::uint8_t b) {
  crypto::signature s{};
  s.fill(b);
  return s;
}

struct chain_fixture : ::testing::Test {
  bank::chain_board board;
  bank::bank_forks bank{riptide::testing::small_forks_config(5000), crypto::hash32{}};
  bank::tx_status_cache statuses{1024};
  udp_sink tpu;
  std::unique_ptr<rpc::http_api> api;
  std::unique_ptr<httplib::Client> http;

  void start(rpc::http_chain_view view, std::size_t batch_limit = 256 * 1024) {
    rpc::http_api_config cfg;
    cfg.port = 0;
    cfg.max_batch_body_bytes = batch_limit;
    api = std::make_unique<rpc::http_api>(cfg, nullptr, nullptr);
    api->set_chain(view);
    api->start();
    ASSERT_NE(api->port(), 0);
    http = std::make_unique<httplib::Client>("127.0.0.1", api->port());
    http->set_read_timeout(5, 0);
  }
  void start_full() { start({&board, &bank, &statuses, loopback, tpu.port()}); }

  // Status and parsed body of a request.
  std::pair<int, json> get(const std::string& path) {
    auto res = http->Get(path);
    if (!res) return {0, {}};
    return {res->status, json::parse(res->body)};
  }
  std::pair<int, json> post(const std::string& path, const std::string& body) {
    auto res = http->Post(path, body, "application/json");
    if (!res) return {0, {}};
    return {res->status, json::parse(res->body)};
  }
};

std::string error_text(const json& j) { return j.value("error", std::string()); }

}  // namespace

TEST(hex_parse, accepts_exact_hex_only) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_TRUE(rpc::parse_hex("0aFf", out));
  EXPECT_EQ(out[0], 0x0a);
  EXPECT_EQ(out[1], 0xff);
  EXPECT_FALSE(rpc::parse_hex("0a", out));
  EXPECT_FALSE(rpc::parse_hex("0aff00", out));
  EXPECT_FALSE(rpc::parse_hex("0g00", out));
  EXPECT_FALSE(rpc::parse_hex(" 0a0", out));
}

TEST(chain_client, tx_result_names_round_trip) {
  for (std::size_t i = 0; i < txn::tx_result_count; ++i) {
    const auto r = static_cast<txn::tx_result>(i);
    EXPECT_EQ(rpc::tx_result_from_name(txn::to_string(r)), r);
  }
  EXPECT_FALSE(rpc::tx_result_from_name("unknown"));
}

TEST_F(chain_fixture, every_chain_endpoint_is_503_without_its_part) {
  start({});
  EXPECT_EQ(get("/slot").first, 503);
  EXPECT_NE(error_text(get("/slot").second), "");
  EXPECT_EQ(get("/balance/" + std::string(64, 'a')).first, 503);
  EXPECT_EQ(get("/tx/" + std::string(128, 'a')).first, 503);
  EXPECT_EQ(post("/tx/status", R"({"signatures": []})").first, 503);
  std::array<std::uint8_t, txn::transfer_transaction_bytes> tx{};
  const auto kp = crypto::keypair::generate();
  const auto n = txn::build_transfer(kp, crypto::pubkey{1}, 5, {}, tx);
  const auto [status, body] = post("/tx", util::to_hex(std::span(tx.data(), n)));
  EXPECT_EQ(status, 503);
  EXPECT_NE(error_text(body).find("tpu"), std::string::npos);

  rpc::chain_client client(loopback, api->port());
  try {
    (void)client.slot();
    ADD_FAILURE() << "expected rpc_error";
  } catch (const rpc::rpc_error& e) {
    EXPECT_NE(std::string(e.what()).find("503"), std::string::npos) << e.what();
  }
}

TEST_F(chain_fixture, slot_reports_the_board) {
  start_full();
  auto [status, j] = get("/slot");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["slot"], 0);
  EXPECT_TRUE(j["parent"].is_null()) << "slot 0 builds on genesis";
  EXPECT_EQ(j["role_now"], "following");
  EXPECT_TRUE(j["durable_slot"].is_null());
  EXPECT_TRUE(j["root"].is_null());
  EXPECT_TRUE(j["processed"].is_null());
  EXPECT_TRUE(j["confirmed"].is_null());
  EXPECT_TRUE(j["finalized"].is_null());
  EXPECT_FALSE(rpc::chain_client(loopback, api->port()).slot().root);
  EXPECT_EQ(j["lamports_per_signature"], 5000);

  crypto::hash32 h{};
  h.fill(0x5a);
  board.publish(7, 450, bank::slot_hash{6, h});
  board.set_durable_slot(5);
  board.set_root_slot(6);
  board.set_commitment(5, 0);
  std::tie(status, j) = get("/slot");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["slot"], 7);
  EXPECT_EQ(j["parent"], 6);
  EXPECT_EQ(j["tick_height"], 450);
  EXPECT_EQ(j["blockhash"], util::to_hex(h));
  EXPECT_EQ(j["blockhash_slot"], 6);
  EXPECT_EQ(j["durable_slot"], 5);
  EXPECT_EQ(j["root"], 6);
  EXPECT_EQ(j["processed"], 6);
  EXPECT_EQ(j["confirmed"], 5);
  EXPECT_EQ(j["finalized"], 0);

  rpc::chain_client client(loopback, api->port());
  const auto s = client.slot();
  EXPECT_EQ(s.slot, 7u);
  EXPECT_EQ(s.tick_height, 450u);
  EXPECT_EQ(s.blockhash, h);
  EXPECT_EQ(s.blockhash_slot, 6u);
  EXPECT_EQ(s.durable_slot, std::optional<std::uint64_t>(5));
  EXPECT_EQ(s.root, std::optional<std::uint64_t>(6));
  EXPECT_EQ(s.lamports_per_signature, std::optional<std::uint64_t>(5000));
}

TEST_F(chain_fixture, leader_schedule_of_the_current_epoch_by_default) {
  const std::vector<epoch::stake_entry> entries{{crypto::pubkey{1}, 10}, {crypto::pubkey{2}, 30}};
  const epoch::stakes stakes(entries);
  rpc::http_chain_view view{&board, &bank, &statuses, loopback, tpu.port()};
  view.stakes = &stakes;
  view.slots_per_epoch = 32;
  start(view);
  board.publish(70, 0, bank::slot_hash{});  // epoch 2 (slots 64..95)
  auto [status, j] = get("/leader-schedule");
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["epoch"], 2);
  EXPECT_EQ(j["first_slot"], 64);
  EXPECT_EQ(j["group_leaders"].size(), 8u);
  ASSERT_EQ(j["slots"].size(), 26u);  // from the current slot to the epoch's end (< 64)
  EXPECT_EQ(j["slots"][0]["slot"], 70);
  const epoch::leader_schedule want(stakes, 2, 32);
  EXPECT_EQ(j["slots"][0]["leader"], util::to_hex(*want.leader_for_slot(70)));
  EXPECT_EQ(j["digest"], util::to_hex(want.digest()));

  std::tie(status, j) = get("/leader-schedule?epoch=0&from=4&count=3");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["epoch"], 0);
  ASSERT_EQ(j["slots"].size(), 3u);
  EXPECT_EQ(j["slots"][0]["slot"], 4);

  for (const char* bad : {"/leader-schedule?epoch=x", "/leader-schedule?count=-1", "/leader-schedule?count=4097",
                          "/leader-schedule?from=1e3", "/leader-schedule?slot=3", "/leader-schedule?epoch=1&epoch=",
                          "/leader-schedule?epoch=18446744073709551615"}) {
    std::tie(status, j) = get(bad);
    EXPECT_EQ(status, 400) << bad;
    EXPECT_NE(error_text(j), "") << bad;
  }
}

TEST_F(chain_fixture, slot_names_its_leader_and_the_role_of_this_node) {
  const std::vector<epoch::stake_entry> entries{{crypto::pubkey{1}, 10}, {crypto::pubkey{2}, 30}};
  const epoch::stakes stakes(entries);
  rpc::http_chain_view view{&board, &bank, &statuses, loopback, tpu.port()};
  view.stakes = &stakes;
  view.slots_per_epoch = 32;
  view.produces = true;
  start(view);
  const epoch::leader_schedule epoch2(stakes, 2, 32);
  for (const std::uint64_t slot : {64u, 70u, 95u}) {
    board.publish(slot, slot * 64, bank::slot_hash{slot - 3, {}});
    const auto [status, j] = get("/slot");
    ASSERT_EQ(status, 200) << j.dump();
    EXPECT_EQ(j["leader"], util::to_hex(*epoch2.leader_for_slot(slot))) << slot;
    EXPECT_EQ(j["parent"], slot - 3);
    EXPECT_EQ(j["role_now"], "leading");
  }
}

TEST_F(chain_fixture, slot_has_no_leader_without_stakes) {
  start_full();
  const auto [status, j] = get("/slot");
  ASSERT_EQ(status, 200);
  ASSERT_TRUE(j.contains("leader"));
  EXPECT_TRUE(j["leader"].is_null());
}

TEST_F(chain_fixture, leader_schedule_is_404_without_stakes) {
  start_full();
  const auto [status, j] = get("/leader-schedule");
  EXPECT_EQ(status, 404);
  EXPECT_NE(error_text(j), "");
}

TEST_F(chain_fixture, slot_without_bank_has_null_fee) {
  start({&board, nullptr, nullptr, 0, 0});
  const auto [status, j] = get("/slot");
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(j["lamports_per_signature"].is_null());
  EXPECT_FALSE(rpc::chain_client(loopback, api->port()).slot().lamports_per_signature);
}

TEST_F(chain_fixture, balance_reads_the_bank) {
  const crypto::pubkey funded{9, 9, 9};
  ASSERT_TRUE(bank.credit(funded, 1234));
  start_full();
  auto [status, j] = get("/balance/" + util::to_hex(funded));
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["lamports"], 1234);
  EXPECT_EQ(j["pubkey"], util::to_hex(funded));
  std::string upper = util::to_hex(funded);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(get("/balance/" + upper).second["lamports"], 1234);
  EXPECT_EQ(get("/balance/" + std::string(64, '7')).second["lamports"], 0);  // unknown: 0

  std::tie(status, j) = get("/balance/" + std::string(63, 'a'));
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("pubkey"), std::string::npos);
  EXPECT_EQ(get("/balance/" + std::string(63, 'a') + "x").first, 400);

  rpc::chain_client client(loopback, api->port());
  EXPECT_EQ(client.balance(funded), 1234u);
}

// Balances are the rooted ones: a block's transfers show once the block is the root.
TEST_F(chain_fixture, balance_of_a_follower_is_its_rooted_balance) {
  const crypto::hash32 genesis{1};
  bank::bank_forks forks(riptide::testing::small_forks_config(7), genesis);
  const auto payer = crypto::keypair::generate();
  const crypto::pubkey to{5, 5};
  ASSERT_TRUE(forks.credit(payer.public_key(), 1000));
  start({&board, &forks, &statuses, 0, 0});
  EXPECT_EQ(get("/balance/" + util::to_hex(payer.public_key())).second["lamports"], 1000);
  EXPECT_EQ(get("/slot").second["lamports_per_signature"], 7);

  // A transfer in an unrooted block is not visible; once that block is the root it is.
  crypto::hash32 id{2};
  const bank::bank_index b = forks.new_bank(forks.root(), 0, id);
  ASSERT_NE(b, bank::no_bank);
  std::array<std::uint8_t, txn::max_transaction_bytes> body{};
  const std::size_t len = txn::build_transfer(payer, to, 100, genesis, body);
  txn::transaction_view tx;
  ASSERT_EQ(txn::parse_transaction(std::span(body.data(), len), tx), txn::parse_error::none);
  txn::held_locks held;
  txn::execution_counters counters;
  ASSERT_TRUE(forks.try_lock(tx, held));
  EXPECT_EQ(forks.execute(b, tx, counters), txn::tx_result::ok);
  forks.unlock(held);
  crypto::hash32 bank_hash{};
  ASSERT_TRUE(forks.freeze(b, crypto::hash32{3}, 64, bank_hash));
  EXPECT_EQ(get("/balance/" + util::to_hex(to)).second["lamports"], 0);
  ASSERT_TRUE(forks.set_root(b));
  EXPECT_EQ(get("/balance/" + util::to_hex(to)).second["lamports"], 100);
  EXPECT_EQ(get("/balance/" + util::to_hex(payer.public_key())).second["lamports"], 1000 - 100 - 7);
}

TEST_F(chain_fixture, tx_status_by_signature) {
  statuses.record(sig_of(1), {9, static_cast<std::uint8_t>(txn::tx_result::ok)});
  statuses.record(sig_of(2), {10, static_cast<std::uint8_t>(txn::tx_result::insufficient_funds)});
  start_full();
  auto [status, j] = get("/tx/" + util::to_hex(sig_of(1)));
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["slot"], 9);
  EXPECT_EQ(j["commitment"], "processed");  // the node has not seen votes
  EXPECT_EQ(j["signature"], util::to_hex(sig_of(1)));
  std::tie(status, j) = get("/tx/" + util::to_hex(sig_of(2)));
  EXPECT_EQ(j["status"], "insufficient_funds");
  EXPECT_EQ(j["slot"], 10);
  std::tie(status, j) = get("/tx/" + util::to_hex(sig_of(3)));
  EXPECT_EQ(status, 404);
  EXPECT_EQ(j["status"], "unknown");
  std::tie(status, j) = get("/tx/" + std::string(127, 'a'));
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("signature"), std::string::npos);

  rpc::chain_client client(loopback, api->port());
  const auto one = client.status(sig_of(2));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->result, txn::tx_result::insufficient_funds);
  EXPECT_EQ(one->slot, 10u);
  EXPECT_FALSE(client.status(sig_of(3)));
}

TEST_F(chain_fixture, batch_status_in_request_order) {
  statuses.record(sig_of(1), {9, static_cast<std::uint8_t>(txn::tx_result::ok)});
  statuses.record(sig_of(2), {10, static_cast<std::uint8_t>(txn::tx_result::blockhash_too_old)});
  start_full();
  const std::string body = json{{"signatures", {util::to_hex(sig_of(2)), util::to_hex(sig_of(3)),
                                                util::to_hex(sig_of(1))}}}.dump();
  auto [status, j] = post("/tx/status", body);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(j["statuses"].size(), 3u);
  EXPECT_EQ(j["statuses"][0]["status"], "blockhash_too_old");
  EXPECT_EQ(j["statuses"][0]["slot"], 10);
  EXPECT_TRUE(j["statuses"][1].is_null());
  EXPECT_EQ(j["statuses"][2]["status"], "ok");
  EXPECT_EQ(post("/tx/status", R"({"signatures": []})").second["statuses"].size(), 0u);
  // The commitment each reached (rpc::commitment_of, whose cases test_commitment tries):
  // slot 9 rooted and finalized, slot 10 above the root and not on the confirmed slot's fork,
  // then on it, then both finalized.
  board.set_root_slot(9);
  bank::confirmed_fork fork;
  fork.first = 10;
  fork.add(11);
  board.set_commitment(11, 9, &fork);
  std::tie(status, j) = post("/tx/status", body);
  EXPECT_EQ(j["statuses"][0]["commitment"], "processed");
  EXPECT_EQ(j["statuses"][2]["commitment"], "finalized");
  fork.add(10);
  board.set_commitment(11, 9, &fork);
  EXPECT_EQ(post("/tx/status", body).second["statuses"][0]["commitment"], "confirmed");
  board.set_root_slot(10);
  fork = {};
  fork.first = 11;
  board.set_commitment(11, 10, &fork);
  EXPECT_EQ(post("/tx/status", body).second["statuses"][0]["commitment"], "finalized");
  EXPECT_EQ(get("/tx/" + util::to_hex(sig_of(2))).second["commitment"], "finalized");

  // Rejections.
  std::tie(status, j) = post("/tx/status", "{not json");
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("invalid JSON"), std::string::npos);
  EXPECT_EQ(post("/tx/status", R"(["a"])").first, 400);
  EXPECT_EQ(post("/tx/status", R"({"signatures": "a"})").first, 400);
  std::tie(status, j) = post("/tx/status", json{{"signatures", {util::to_hex(sig_of(1)), "zz"}}}.dump());
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("signatures[1]"), std::string::npos);
  std::tie(status, j) = post("/tx/status", json{{"signatures", {util::to_hex(sig_of(1)), 7}}}.dump());
  EXPECT_NE(error_text(j).find("signatures[1]"), std::string::npos);
  json too_many = json{{"signatures", json::array()}};
  for (std::size_t i = 0; i <= rpc::max_status_batch; ++i) too_many["signatures"].push_back(util::to_hex(sig_of(4)));
  std::tie(status, j) = post("/tx/status", too_many.dump());
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("1025 signatures"), std::string::npos);

  // The client splits a long list into batches and keeps the order.
  std::vector<crypto::signature> many(2500, sig_of(3));
  many[0] = sig_of(1);
  many[1024] = sig_of(2);
  many[2499] = sig_of(1);
  rpc::chain_client client(loopback, api->port());
  const auto got = client.statuses(many);
  ASSERT_EQ(got.size(), many.size());
  std::size_t found = 0;
  for (const auto& g : got) found += g.has_value();
  EXPECT_EQ(found, 3u);
  ASSERT_TRUE(got[1024]);
  EXPECT_EQ(got[1024]->result, txn::tx_result::blockhash_too_old);
  ASSERT_TRUE(got[2499]);
  EXPECT_EQ(got[2499]->slot, 9u);
}

TEST_F(chain_fixture, batch_status_has_its_own_body_limit) {
  start({&board, &bank, &statuses, 0, 0}, 1000);
  json j = json{{"signatures", {util::to_hex(sig_of(1)), util::to_hex(sig_of(2)), util::to_hex(sig_of(3)),
                                util::to_hex(sig_of(4)), util::to_hex(sig_of(5)), util::to_hex(sig_of(6)),
                                util::to_hex(sig_of(7)), util::to_hex(sig_of(8))}}};
  const auto [status, body] = post("/tx/status", j.dump());
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(body).find("limit is 1000"), std::string::npos);
}

TEST_F(chain_fixture, post_tx_forwards_the_bytes_to_the_tpu) {
  start_full();
  const auto kp = crypto::keypair::generate();
  crypto::hash32 blockhash{};
  blockhash.fill(3);
  std::array<std::uint8_t, txn::max_transaction_bytes> tx{};
  const auto n = txn::build_transfer(kp, crypto::pubkey{4}, 42, blockhash, tx);
  const std::span<const std::uint8_t> bytes(tx.data(), n);
  txn::transaction_view view;
  ASSERT_EQ(txn::parse_transaction(bytes, view), txn::parse_error::none);

  auto [status, j] = post("/tx", util::to_hex(bytes) + "\n");
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["signature"], util::to_hex(view.signature(0)));
  const auto got = tpu.receive(2000);
  ASSERT_EQ(got.size(), n);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), bytes.begin()));

  rpc::chain_client client(loopback, api->port());
  EXPECT_EQ(client.submit(bytes), view.signature(0));
  const auto again = tpu.receive(2000);
  EXPECT_TRUE(std::equal(again.begin(), again.end(), bytes.begin(), bytes.end()));

  // Rejections: nothing reaches the tpu.
  std::tie(status, j) = post("/tx", "");
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("empty"), std::string::npos) << j.dump();
  std::tie(status, j) = post("/tx", util::to_hex(bytes.first(n - 10)));
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("invalid transaction: "), std::string::npos) << j.dump();
  std::tie(status, j) = post("/tx", util::to_hex(bytes) + "00");
  EXPECT_NE(error_text(j).find("trailing_bytes"), std::string::npos) << j.dump();
  std::tie(status, j) = post("/tx", util::to_hex(bytes) + "0");
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("even number"), std::string::npos);
  std::tie(status, j) = post("/tx", "zz" + util::to_hex(bytes));
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("hex"), std::string::npos);
  std::tie(status, j) = post("/tx", std::string(4 * txn::max_transaction_bytes, 'a'));
  EXPECT_EQ(status, 400);
  EXPECT_NE(error_text(j).find("at most 1232 bytes"), std::string::npos);
  try {
    client.submit(bytes.first(5));
    ADD_FAILURE() << "expected rpc_error";
  } catch (const rpc::rpc_error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 400"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(tpu.receive(200).empty());
}

TEST_F(chain_fixture, set_chain_after_start_is_refused) {
  start_full();
  EXPECT_THROW(api->set_chain({}), std::logic_error);
}

// POST /gossip/data: a new key beyond max_own_data_keys is refused with 409 and never queued;
// updating a key already published is accepted. A 202 always reaches the command ring.
TEST(http_api_gossip_data, keys_beyond_the_cap_are_refused_not_dropped) {
  util::spsc_ring<gossip::gossip_command> commands(64);
  rpc::http_api_config cfg;
  cfg.port = 0;
  cfg.max_own_data_keys = 3;
  rpc::http_api api(cfg, nullptr, &commands);
  api.start();
  httplib::Client http("127.0.0.1", api.port());
  http.set_read_timeout(5, 0);
  auto post = [&](const std::string& key, const std::string& value) {
    auto res = http.Post("/gossip/data", json{{"key", key}, {"value", value}}.dump(), "application/json");
    return res ? std::make_pair(res->status, json::parse(res->body)) : std::make_pair(0, json());
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post("k" + std::to_string(i), "v").first, 202) << i;
  auto [status, body] = post("k3", "v");
  EXPECT_EQ(status, 409) << body.dump();
  EXPECT_EQ(body.value("max_own_data_keys", 0u), 3u) << body.dump();
  EXPECT_NE(error_text(body).find("gossip.max_own_data_keys"), std::string::npos) << body.dump();
  EXPECT_EQ(post("k1", "new value").first, 202);  // an update of a published key
  // Exactly the accepted commands are queued, in order.
  std::vector<std::string> queued;
  gossip::gossip_command cmd;
  while (commands.try_pop(cmd)) queued.emplace_back(cmd.key, cmd.key_len);
  EXPECT_EQ(queued, (std::vector<std::string>{"k0", "k1", "k2", "k1"}));
  api.stop();
}
