#include <riptide/node/bench_tps.hpp>

#include <gtest/gtest.h>

#include <riptide/util/metrics.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <riptide/bank/chain_board.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/crypto/keyfile.hpp>
#include <riptide/node/config.hpp>
#include <riptide/rpc/http_api.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/txn/transaction.hpp>

#include "../support/temp_dir.hpp"
#include "../support/small_forks.hpp"

using namespace riptide;
using namespace riptide::node;

namespace {
constexpr std::uint64_t ms_ns = 1'000'000;

template <typename F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(token_bucket, grants_at_the_rate_up_to_the_burst) {
  token_bucket b(1000, 50, 0);
  EXPECT_EQ(b.take(0, 64), 0u);
  EXPECT_EQ(b.wait_ns(), 1'000'000u);
  EXPECT_EQ(b.take(10 * ms_ns, 64), 10u);
  EXPECT_EQ(b.take(10 * ms_ns, 64), 0u);
  EXPECT_EQ(b.take(1000 * ms_ns, 64), 50u);  // capped at the burst
  EXPECT_EQ(b.take(1100 * ms_ns, 30), 30u);  // capped by max; the rest stays
  EXPECT_EQ(b.take(1100 * ms_ns, 64), 20u);
  EXPECT_EQ(b.take(1000 * ms_ns, 64), 0u);   // time going backwards grants nothing
}

TEST(token_bucket, long_run_rate_is_exact) {
  token_bucket b(2500, 125, 0);
  std::uint64_t granted = 0;
  for (std::uint64_t t = 0; t <= 4000 * ms_ns; t += 333'333) granted += b.take(t, 64);
  EXPECT_NEAR(static_cast<double>(granted), 10'000, 2);
}

TEST(token_bucket, zero_rate_is_unlimited) {
  token_bucket b(0, 1, 0);
  EXPECT_EQ(b.take(0, 64), 64u);
  EXPECT_EQ(b.take(0, 7), 7u);
  EXPECT_EQ(b.wait_ns(), 0u);
}

TEST(percentiles, nearest_rank) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(percentile(v, 50), 50u);
  EXPECT_EQ(percentile(v, 90), 90u);
  EXPECT_EQ(percentile(v, 99), 99u);
  EXPECT_EQ(percentile(v, 100), 100u);
  EXPECT_EQ(percentile(v, 0.1), 1u);
  const std::vector<std::uint64_t> one{7};
  EXPECT_EQ(percentile(one, 50), 7u);
  EXPECT_EQ(percentile(one, 99), 7u);
  const std::vector<std::uint64_t> three{10, 20, 30};
  EXPECT_EQ(percentile(three, 50), 20u);
  EXPECT_EQ(percentile(three, 90), 30u);
}

TEST(percentiles, summary_sorts_and_handles_empty) {
  const auto s = summarize({5, 1, 9, 3, 7, 2, 8, 4, 6, 10});
  EXPECT_EQ(s.count, 10u);
  EXPECT_EQ(s.p50, 5u);
  EXPECT_EQ(s.p90, 9u);
  EXPECT_EQ(s.p99, 10u);
  EXPECT_EQ(s.max, 10u);
  const auto e = summarize({});
  EXPECT_EQ(e.count, 0u);
  EXPECT_EQ(e.max, 0u);
}

TEST(bench_tps, fee_rule_follows_the_bank) {
  EXPECT_TRUE(charges_fee(txn::tx_result::ok));
  EXPECT_TRUE(charges_fee(txn::tx_result::insufficient_funds));
  EXPECT_TRUE(charges_fee(txn::tx_result::unknown_program));
  EXPECT_TRUE(charges_fee(txn::tx_result::invalid_instruction));
  EXPECT_TRUE(charges_fee(txn::tx_result::account_table_full));
  EXPECT_FALSE(charges_fee(txn::tx_result::blockhash_too_old));
  EXPECT_FALSE(charges_fee(txn::tx_result::insufficient_funds_for_fee));
}

TEST(bench_tps, balance_check) {
  balance_check c{1'000'000, 990'000, 5000, 2};
  EXPECT_TRUE(c.expected_valid());
  EXPECT_EQ(c.expected_after(), 990'000u);
  EXPECT_TRUE(c.conserved());
  c.after = 989'999;
  EXPECT_FALSE(c.conserved());
  c = {1000, 0, 5000, 1};  // fees larger than what there was
  EXPECT_FALSE(c.expected_valid());
  EXPECT_FALSE(c.conserved());
  c = {1000, 0, ~std::uint64_t{0}, 3};  // overflow
  EXPECT_FALSE(c.expected_valid());
  EXPECT_FALSE(c.conserved());
  c = {1000, 1000, 5000, 0};
  EXPECT_TRUE(c.conserved());
}

TEST(bench_tps, validate_names_the_option) {
  bench_tps_options o;
  EXPECT_NE(config_error_of([&] { validate(o); }).find("--faucet-key"), std::string::npos);
  o.faucet_key = "/nonexistent/faucet.key";
  EXPECT_EQ(config_error_of([&] { validate(o); }), "");
  auto bad = [&](auto change, const char* name) {
    bench_tps_options c = o;
    change(c);
    EXPECT_NE(config_error_of([&] { validate(c); }).find(name), std::string::npos) << name;
  };
  bad([](auto& c) { c.accounts = 1; }, "--accounts");
  bad([](auto& c) { c.rate_tps = -1; }, "--rate");
  bad([](auto& c) { c.seconds = 0; }, "--seconds");
  bad([](auto& c) { c.lamports = 0; }, "--lamports");
  bad([](auto& c) { c.timeout_s = 0; }, "--timeout-s");
  bad([](auto& c) { c.tpus[0].port = 0; }, "--tpu");
  bad([](auto& c) { c.tpus.clear(); }, "--tpu");
  // An unreadable key file is a usage error too.
  EXPECT_NE(config_error_of([&] {
              std::ostringstream out;
              (void)run_bench_tps(o, out);
            }).find("--faucet-key"),
            std::string::npos);
}

// --------------------------------------------------------------------------------------
// The whole flow against an in-process stand-in for a node: the real HTTP API over a real
// bank, chain board and status cache, and a thread that executes whatever reaches its UDP
// "tpu" port (no verify or PoH: what is measured here is the generator, not the node).

namespace {

class fake_node {
 public:
  // drop_every: drop every Nth datagram (0: none); execute=false: never execute anything.
  explicit fake_node(std::uint64_t drop_every = 0, bool execute = true)
      : drop_every_(drop_every), execute_(execute) {
    faucet_ = crypto::keypair::generate();
    crypto::write_keyfile(dir_.path() / "faucet.key", faucet_);
    EXPECT_TRUE(bank_.credit(faucet_.public_key(), 1'000'000'000'000'000));
    next_bank();
    board_.publish(0, 0, bank::slot_hash{0, blockhash_});

    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    tpu_port_ = ntohs(a.sin_port);
    int buf = 8 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);

    // A drop counter the way a node exports one: a tile block in a metrics file, named to
    // the API as a drop (GET /drops).
    metrics_ = std::make_unique<util::metrics_registry>(dir_.path() / "fake.metrics", 1);
    dropped_ = metrics_->add(util::metrics_kind::tile, "fake_net", {"dropped"});
    rpc::http_api_config cfg;
    cfg.port = 0;
    cfg.metrics_path = dir_.path() / "fake.metrics";
    api_ = std::make_unique<rpc::http_api>(cfg, nullptr, nullptr);
    api_->set_chain({&board_, &bank_, &statuses_, 0x7f000001, tpu_port_});
    api_->set_drop_counters({{"fake_net", "dropped"}});
    api_->start();
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_node() {
    stop_ = true;
    thread_.join();
    api_->stop();
    ::close(fd_);
  }

  bench_tps_options options() const {
    bench_tps_options o;
    o.rpc_port = api_->port();
    o.tpus = {node::tpu_address{0x7f000001, tpu_port_}};
    o.faucet_key = dir_.path() / "faucet.key";
    o.accounts = 8;
    o.rate_tps = 400;
    o.seconds = 1;
    o.timeout_s = 5;
    o.status_poll_ms = 50;
    o.seed = 7;
    return o;
  }
  std::uint64_t executed() const { return executed_.load(); }
  // Every status (slot 1) becomes finalized, as a voting node's would: rooted and finalized.
  void finalize() {
    board_.set_root_slot(1);
    board_.set_commitment(1, 1);
  }

 private:
  void serve() {
    std::array<std::uint8_t, 2048> buf{};
    txn::execution_counters counters;
    std::uint64_t received = 0;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      const auto n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      ++received;
      if (!execute_ || (drop_every_ != 0 && received % drop_every_ == 0)) {
        dropped_.add(0, 1);
        continue;
      }
      txn::transaction_view tx;
      if (txn::parse_transaction(std::span(buf.data(), static_cast<std::size_t>(n)), tx) != txn::parse_error::none)
        continue;
      txn::held_locks held;
      if (!bank_.try_lock(tx, held)) continue;
      const auto result = bank_.execute(current_, tx, counters);
      bank_.unlock(held);
      // Each transaction is a block of its own, rooted at once: the API's balances are rooted.
      crypto::hash32 bank_hash{};
      EXPECT_TRUE(bank_.freeze(current_, blockhash_, 0, bank_hash));
      EXPECT_TRUE(bank_.set_root(current_));
      next_bank();
      statuses_.record(tx.signature(0), {1, static_cast<std::uint8_t>(result)});
      executed_.fetch_add(1);
    }
  }
  // A child of the root for the next slot (every block's last hash is blockhash_, so it
  // stays recent).
  void next_bank() {
    bank::block_id id{};
    for (int i = 0; i < 8; ++i) id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(slot_ >> (8 * i));
    id[31] = 0xB7;
    current_ = bank_.new_bank(bank_.root(), slot_++, id);
    EXPECT_NE(current_, bank::no_bank);
  }

  riptide::testing::temp_dir dir_{"riptide-bench-tps"};
  crypto::keypair faucet_;
  crypto::hash32 blockhash_ = [] {
    crypto::hash32 h;
    h.fill(0x42);
    return h;
  }();
  bank::chain_board board_;
  bank::bank_forks bank_{riptide::testing::small_forks_config(5000, 1 << 14), blockhash_};
  bank::bank_index current_ = bank::no_bank;
  std::uint64_t slot_ = 0;
  bank::tx_status_cache statuses_{1 << 14};
  int fd_ = -1;
  std::uint16_t tpu_port_ = 0;
  std::unique_ptr<util::metrics_registry> metrics_;
  util::metrics_block dropped_;
  std::unique_ptr<rpc::http_api> api_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> executed_{0};
  std::uint64_t drop_every_;
  bool execute_;
};

}  // namespace

TEST(bench_tps, end_to_end_against_an_in_process_node) {
  fake_node node;
  std::ostringstream out;
  const int rc = run_bench_tps(node.options(), out);
  const std::string text = out.str();
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("funding: 8 accounts funded"), std::string::npos) << text;
  EXPECT_NE(text.find("balances conserved minus fees: yes"), std::string::npos) << text;
  EXPECT_NE(text.find("unconfirmed   0"), std::string::npos) << text;
  EXPECT_NE(text.find("latency ms    p50"), std::string::npos) << text;
  // About rate × seconds transfers were sent (the bucket starts empty).
  const auto pos = text.find("  sent          ");
  ASSERT_NE(pos, std::string::npos);
  const auto sent = std::stoull(text.substr(pos + 16));
  EXPECT_GE(sent, 350u) << text;
  EXPECT_LE(sent, 420u) << text;
  EXPECT_EQ(node.executed(), sent + 8) << text;  // + the 8 funding transfers
}

// 10 % of the transfers are lost at the node: the run fails above --max-loss, says how many
// went unconfirmed and names the node's drop counter that took exactly those; with a higher
// --max-loss the same run passes. Balances hold either way.
TEST(bench_tps, lost_transfers_fail_the_run_above_max_loss_and_are_attributed) {
  for (const double max_loss : {1.0, 20.0}) {
    fake_node node(10);  // every 10th datagram is lost, funding included (then re-sent)
    auto o = node.options();
    o.timeout_s = 2;
    o.seconds = 0.5;
    o.max_loss_percent = max_loss;
    std::ostringstream out;
    const int rc = run_bench_tps(o, out);
    const std::string text = out.str();
    EXPECT_EQ(rc, max_loss < 10 ? 1 : 0) << text;
    EXPECT_NE(text.find("balances conserved minus fees: yes"), std::string::npos) << text;
    const auto at = text.find("  unconfirmed   ");
    ASSERT_NE(at, std::string::npos) << text;
    const auto unconfirmed = std::stoull(text.substr(at + 16));
    EXPECT_GT(unconfirmed, 0u) << text;
    EXPECT_NE(text.find(max_loss < 10 ? "allowed): TOO HIGH" : "allowed): ok"), std::string::npos) << text;
    EXPECT_NE(text.find("node drops    fake_net.dropped +" + std::to_string(unconfirmed) + " "), std::string::npos)
        << text;
  }
}

// --commitment: a transfer counts only once its status says that level (the fake node's
// statuses stay processed until it finalizes).
TEST(bench_tps, a_transfer_counts_once_its_status_reaches_the_commitment_asked) {
  for (const bool finalizes : {false, true}) {
    fake_node node;
    if (finalizes) node.finalize();
    auto o = node.options();
    o.commitment = rpc::commitment::finalized;
    o.seconds = 0.3;
    o.timeout_s = 1;
    o.max_loss_percent = 100;
    std::ostringstream out, json;
    const int rc = run_bench_tps(o, out, &json);
    const auto j = nlohmann::json::parse(json.str());
    EXPECT_EQ(j["commitment"], "finalized");
    if (finalizes) {
      EXPECT_EQ(rc, 0) << out.str();
      EXPECT_EQ(j["unconfirmed"], 0) << out.str();
      EXPECT_EQ(j["confirmed_ok"], j["sent"]) << out.str();
    } else {
      EXPECT_EQ(rc, 1) << out.str();
      EXPECT_EQ(j["confirmed_ok"], 0) << out.str();
      EXPECT_EQ(j["unconfirmed"], j["sent"]) << out.str();
    }
  }
}

TEST(bench_tps, funding_times_out_with_a_clear_error) {
  fake_node node(0, false);
  auto o = node.options();
  o.timeout_s = 0.5;
  std::ostringstream out;
  try {
    (void)run_bench_tps(o, out);
    ADD_FAILURE() << "expected a funding timeout";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("funding timed out"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0/8 accounts funded"), std::string::npos) << e.what();
  }
}
