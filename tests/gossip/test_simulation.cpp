// Deterministic cluster simulation: N gossip engines in one process, no sockets, a simulated
// network with uniform loss and a fixed latency in rounds (one round = one push interval,
// 100 ms of simulated time). Every engine runs the default gossip_config.
//
// Measures rounds until every node holds every ContactInfo with 0 %, 10 % and 30 % loss, and,
// continuing the 0 % run, rounds to re-converge after a partition into two halves heals (a
// Data value set in each half during the partition must reach every node). Compares with the
// model log2(N) + ln(N) push rounds + one pull interval (ARCHITECTURE.md section 7), asserts
// convergence within 4x the model and prints the figures (perf/gossip.md has a run).
//
// Cost: one memoizing signature_verifier is shared by all engines of a simulation, so each
// distinct signed value is verified by libsecp256k1 once per simulation, not once per node
// (1000 nodes would otherwise verify every value 1000 times). Pings, pongs and prunes are
// distinct messages and are verified once each anyway; with signing they are most of the CPU.
//
// Environment: RIPTIDE_SIM_NODES (default 200; perf/gossip.md also has 1000 and 100),
// RIPTIDE_SIM_THREADS (default 2: the three runs are independent), RIPTIDE_SIM_SEED
// (default 1), RIPTIDE_SIM_VERBOSE=1 (progress every 5 rounds).

#include <riptide/gossip/engine.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;

constexpr std::uint64_t start_ms = 1'700'000'000'000ull;
constexpr std::uint64_t round_ms = 100;  // gossip_config{}.push_interval_ms
constexpr std::size_t seed_nodes = 4;
constexpr std::size_t settle_rounds = 20;
constexpr std::size_t partition_rounds = 50;  // 5 s: peers across the cut become suspected

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
}

// Shared by every engine of one simulation (all driven from one thread).
class memo_verifier final : public signature_verifier {
 public:
  bool verify(const crypto::pubkey& key, std::span<const std::uint8_t> msg,
              const crypto::signature& sig) noexcept override {
    const std::uint64_t h = crypto::xxh3_64(sig, crypto::xxh3_64(msg, crypto::xxh3_64(key)));
    if (const auto it = memo_.find(h); it != memo_.end()) {
      ++hits;
      return it->second;
    }
    ++verified;
    const bool ok = cache_.verify(key, msg, sig);
    memo_.emplace(h, ok);
    return ok;
  }
  std::uint64_t verified = 0;
  std::uint64_t hits = 0;

 private:
  std::unordered_map<std::uint64_t, bool> memo_;
  crypto::pubkey_cache cache_{1 << 12};
};

struct scenario {
  std::string name;
  std::size_t nodes = 200;
  double loss = 0.0;
  std::size_t latency_rounds = 1;
  bool partition = false;  // after converging: partition, heal, measure re-convergence
  std::size_t max_rounds = 400;
  std::uint64_t seed = 1;
};

struct result {
  scenario sc;
  std::size_t converge_rounds = 0;  // 0: did not converge
  std::size_t heal_rounds = 0;      // partition runs; 0: did not re-converge
  std::uint64_t packets = 0, bytes = 0, lost = 0, cut = 0;
  std::uint64_t signatures_verified = 0, memo_hits = 0;
  std::uint64_t pings = 0, prunes = 0, pull_requests = 0, outgoing_dropped = 0;
  std::uint64_t steady_packets = 0, steady_bytes = 0;  // sent in the settle rounds
  double wall_s = 0;
  double model_rounds = 0;
};

struct packet {
  std::uint32_t from = 0, to = 0;
  std::uint16_t len = 0;
  std::array<std::uint8_t, max_packet_bytes> bytes;
};

socket_addr addr_of(std::size_t i) {
  return {0x0a000000u + static_cast<std::uint32_t>(i) + 1, 12000};
}
std::size_t index_of(const socket_addr& a) { return a.ip - 0x0a000001u; }

class simulation {
 public:
  explicit simulation(const scenario& sc) : sc_(sc), rng_(sc.seed * 0x9E3779B97F4A7C15ull + 7) {
    gossip_config cfg;
    cfg.shred_version = 1;
    const std::size_t n = sc.nodes;
    // Seeds spread over the index range, so each partition half keeps two.
    for (std::size_t s = 0; s < seed_nodes; ++s) seeds_.push_back(s * n / seed_nodes);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<socket_addr> entrypoints;
      const auto seed_it = std::find(seeds_.begin(), seeds_.end(), i);
      if (seed_it != seeds_.end()) {
        const std::size_t s = static_cast<std::size_t>(seed_it - seeds_.begin());
        entrypoints.push_back(addr_of(seeds_[(s + 1) % seeds_.size()]));
      } else {
        const std::size_t count = 1 + next() % 3;  // 1-3 entrypoints
        while (entrypoints.size() < count) {
          const socket_addr a = addr_of(seeds_[next() % seeds_.size()]);
          if (std::find(entrypoints.begin(), entrypoints.end(), a) == entrypoints.end()) {
            entrypoints.push_back(a);
          }
        }
      }
      contact_info self;
      self.ip = addr_of(i).ip;
      self.gossip_port = addr_of(i).port;
      self.tpu_port = 13000;
      self.wallclock_ms = start_ms;
      engines_.push_back(std::make_unique<engine>(key_for(i), self, cfg, entrypoints,
                                                  sc.seed * 1'000'003 + i, &verifier_));
    }
    in_flight_.resize(sc.latency_rounds + 1);
    verbose_ = env_size("RIPTIDE_SIM_VERBOSE", 0) != 0;
  }

  result run() {
    const auto t0 = std::chrono::steady_clock::now();
    result r;
    r.sc = sc_;
    const double n = static_cast<double>(sc_.nodes);
    r.model_rounds = std::log2(n) + std::log(n) +
                     static_cast<double>(gossip_config{}.pull_interval_ms) / round_ms;
    std::size_t round = 0;
    for (; round < sc_.max_rounds; step(round++)) {
      if (round > 0 && all_know_everyone()) {
        r.converge_rounds = round;
        break;
      }
    }
    if (sc_.partition && r.converge_rounds != 0) r.heal_rounds = partition_and_heal(round, r);
    for (const auto& e : engines_) {
      const engine::stats& s = e->get_stats();
      r.pings += s.pings_sent;
      r.prunes += s.prunes_sent;
      r.pull_requests += s.pull_requests_sent;
      r.outgoing_dropped += s.outgoing_dropped;
    }
    r.packets = packets_;
    r.bytes = bytes_;
    r.lost = lost_;
    r.cut = cut_;
    r.signatures_verified = verifier_.verified;
    r.memo_hits = verifier_.hits;
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

 private:
  // From a converged cluster: settle, cut every packet between the halves for
  // partition_rounds (a Data value is set in each half meanwhile), heal, and return the rounds
  // until every node holds both values and every ContactInfo (0 if never).
  std::size_t partition_and_heal(std::size_t& round, result& r) {
    const std::uint64_t packets_before = packets_, bytes_before = bytes_;
    for (std::size_t i = 0; i < settle_rounds; ++i) step(round++);
    r.steady_packets = packets_ - packets_before;
    r.steady_bytes = bytes_ - bytes_before;
    partitioned_ = true;
    const std::size_t a = 1, b = sc_.nodes - 1;  // one node in each half
    for (std::size_t i = 0; i < partition_rounds; ++i) {
      if (i == 5) {
        EXPECT_TRUE(engines_[a]->set_data("partition-a", "set in half A", now_of(round)));
        EXPECT_TRUE(engines_[b]->set_data("partition-b", "set in half B", now_of(round)));
      }
      step(round++);
    }
    // Each half holds only its own half's value.
    EXPECT_FALSE(has_data(b, a, "partition-a"));
    EXPECT_FALSE(has_data(a, b, "partition-b"));
    EXPECT_TRUE(has_data(a + 1, a, "partition-a"));
    partitioned_ = false;
    for (std::size_t healed = 0; healed < sc_.max_rounds; step(round++), ++healed) {
      if (healed > 0 && everyone_has(a, "partition-a") && everyone_has(b, "partition-b") &&
          all_know_everyone()) {
        return healed;
      }
    }
    return 0;
  }

  static crypto::keypair key_for(std::size_t i) {
    for (std::uint64_t attempt = 0;; ++attempt) {
      std::array<std::uint8_t, 16> in{};
      for (int k = 0; k < 8; ++k) {
        in[k] = static_cast<std::uint8_t>(i >> (8 * k));
        in[8 + k] = static_cast<std::uint8_t>(attempt >> (8 * k));
      }
      crypto::keypair kp;
      if (crypto::keypair::try_from_secret(crypto::sha256(in), kp)) return kp;
    }
  }

  std::uint64_t next() {  // splitmix64: the network's own deterministic randomness
    std::uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  static std::uint64_t now_of(std::size_t round) { return start_ms + round_ms * round; }

  bool same_half(std::size_t x, std::size_t y) const {
    return (x < sc_.nodes / 2) == (y < sc_.nodes / 2);
  }

  // One round: deliver what was sent latency_rounds ago, tick every node, collect what they
  // send (dropping lost and cut packets).
  void step(std::size_t round) {
    const std::uint64_t now = now_of(round);
    std::vector<packet>& arriving = in_flight_[round % in_flight_.size()];
    for (const packet& p : arriving) {
      engines_[p.to]->on_packet(addr_of(p.from), {p.bytes.data(), p.len}, now);
    }
    arriving.clear();
    for (auto& e : engines_) e->tick(now);
    std::vector<packet>& leaving = in_flight_[(round + sc_.latency_rounds) % in_flight_.size()];
    outgoing o;
    for (std::size_t i = 0; i < engines_.size(); ++i) {
      while (engines_[i]->pop_outgoing(o)) {
        ++packets_;
        bytes_ += o.len;
        const std::size_t to = index_of(o.to);
        if (to >= engines_.size()) continue;
        if (partitioned_ && !same_half(i, to)) {
          ++cut_;
          continue;
        }
        if (sc_.loss > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < sc_.loss) {
          ++lost_;
          continue;
        }
        packet& p = leaving.emplace_back();
        p.from = static_cast<std::uint32_t>(i);
        p.to = static_cast<std::uint32_t>(to);
        p.len = o.len;
        std::memcpy(p.bytes.data(), o.bytes.data(), o.len);
      }
    }
    if (verbose_ && round % 5 == 0) progress(round);
  }

  void progress(std::size_t round) const {
    std::size_t done = 0, min_ci = SIZE_MAX;
    std::uint64_t pulls = 0, untrusted = 0, pings = 0, prunes = 0, push_values = 0;
    for (const auto& e : engines_) {
      const std::size_t ci = e->table_count(value_kind::contact_info);
      done += ci == sc_.nodes ? 1 : 0;
      min_ci = std::min(min_ci, ci);
      const engine::stats& st = e->get_stats();
      pulls += st.pull_requests_sent;
      untrusted += st.pull_requests_untrusted;
      pings += st.pings_sent;
      prunes += st.prunes_sent;
      push_values += st.push_values_sent;
    }
    std::printf("[%s] round %zu: %zu/%zu know all, min %zu | pulls %llu (untrusted %llu) "
                "pings %llu prunes %llu push values %llu\n",
                sc_.name.c_str(), round, done, sc_.nodes, min_ci,
                static_cast<unsigned long long>(pulls), static_cast<unsigned long long>(untrusted),
                static_cast<unsigned long long>(pings), static_cast<unsigned long long>(prunes),
                static_cast<unsigned long long>(push_values));
  }

  bool all_know_everyone() const {
    for (const auto& e : engines_) {
      if (e->table_count(value_kind::contact_info) != sc_.nodes) return false;
    }
    return true;
  }

  bool has_data(std::size_t holder, std::size_t origin, const std::string& key) const {
    return engines_[holder]->table().find(
               crds_label{engines_[origin]->id(), value_kind::data, key}) != nullptr;
  }

  bool everyone_has(std::size_t origin, const std::string& key) const {
    for (std::size_t i = 0; i < engines_.size(); ++i) {
      if (!has_data(i, origin, key)) return false;
    }
    return true;
  }

  scenario sc_;
  std::uint64_t rng_;
  memo_verifier verifier_;
  std::vector<std::size_t> seeds_;
  std::vector<std::unique_ptr<engine>> engines_;
  std::vector<std::vector<packet>> in_flight_;
  bool partitioned_ = false;
  bool verbose_ = false;
  std::uint64_t packets_ = 0, bytes_ = 0, lost_ = 0, cut_ = 0;
};

std::vector<scenario> scenarios() {
  const std::size_t n = env_size("RIPTIDE_SIM_NODES", 200);
  const std::uint64_t seed = env_size("RIPTIDE_SIM_SEED", 1);
  std::vector<scenario> out;
  for (const double loss : {0.0, 0.1, 0.3}) {
    scenario s;
    s.name = "loss " + std::to_string(static_cast<int>(loss * 100)) + "%";
    s.nodes = n;
    s.loss = loss;
    s.seed = seed;
    s.partition = loss == 0.0;
    out.push_back(s);
  }
  return out;
}

void print(const std::vector<result>& out) {
  std::printf("\ngossip simulation: N = %zu, latency 1 round (100 ms), model log2(N) + ln(N) + "
              "pull interval = %.1f rounds\n",
              out[0].sc.nodes, out[0].model_rounds);
  std::printf("%-28s %7s %9s %10s %9s %9s %8s %8s %8s %7s\n", "scenario", "rounds", "vs model",
              "packets", "MB sent", "sig vers", "pings", "prunes", "dropped", "wall s");
  auto row = [](const char* name, std::size_t rounds, const result& r) {
    std::printf("%-28s %7zu %8.2fx %10llu %9.1f %9llu %8llu %8llu %8llu %7.2f\n", name, rounds,
                static_cast<double>(rounds) / r.model_rounds,
                static_cast<unsigned long long>(r.packets), static_cast<double>(r.bytes) / 1e6,
                static_cast<unsigned long long>(r.signatures_verified),
                static_cast<unsigned long long>(r.pings), static_cast<unsigned long long>(r.prunes),
                static_cast<unsigned long long>(r.outgoing_dropped), r.wall_s);
  };
  for (const result& r : out) row(r.sc.name.c_str(), r.converge_rounds, r);
  for (const result& r : out) {
    if (r.sc.partition) row("partition 5 s, heal (0%)", r.heal_rounds, r);
  }
  std::printf("(traffic, signature and wall figures are per run; the partition row shares the "
              "0%% run's)\n");
  for (const result& r : out) {
    if (!r.sc.partition || r.steady_bytes == 0) continue;
    const double node_seconds = static_cast<double>(r.sc.nodes) * settle_rounds * round_ms / 1e3;
    std::printf("steady state after convergence (%zu rounds, 0%% loss): %.1f packets/s and "
                "%.1f KB/s sent per node\n",
                settle_rounds, static_cast<double>(r.steady_packets) / node_seconds,
                static_cast<double>(r.steady_bytes) / node_seconds / 1e3);
  }
  std::fflush(stdout);
}

// Runs every scenario once (in parallel), the first time any test asks.
const std::vector<result>& results() {
  static const std::vector<result> all = [] {
    const std::vector<scenario> scs = scenarios();
    std::vector<result> out(scs.size());
    std::atomic<std::size_t> next{0};
    const std::size_t threads = std::max<std::size_t>(1, env_size("RIPTIDE_SIM_THREADS", 2));
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < std::min(threads, scs.size()); ++t) {
      pool.emplace_back([&] {
        const std::size_t only = env_size("RIPTIDE_SIM_ONLY", SIZE_MAX);  // debugging: one run
        for (std::size_t i; (i = next++) < scs.size();) {
          if (only == SIZE_MAX || only == i) out[i] = simulation(scs[i]).run();
        }
      });
    }
    for (auto& th : pool) th.join();
    print(out);
    return out;
  }();
  return all;
}

void expect_within_model(std::size_t rounds, const result& r, const char* what) {
  ASSERT_GT(rounds, 0u) << r.sc.name << ": " << what << " did not happen in "
                        << r.sc.max_rounds << " rounds";
  EXPECT_LE(static_cast<double>(rounds), 4 * r.model_rounds) << r.sc.name << ": " << what;
}

TEST(GossipSimulation, ConvergesWithoutLoss) {
  expect_within_model(results().at(0).converge_rounds, results().at(0), "convergence");
}

TEST(GossipSimulation, ConvergesWithTenPercentLoss) {
  expect_within_model(results().at(1).converge_rounds, results().at(1), "convergence");
}

TEST(GossipSimulation, ConvergesWithThirtyPercentLoss) {
  expect_within_model(results().at(2).converge_rounds, results().at(2), "convergence");
}

TEST(GossipSimulation, ReconvergesAfterPartitionHeals) {
  expect_within_model(results().at(0).heal_rounds, results().at(0), "re-convergence");
}

TEST(GossipSimulation, EachDistinctSignatureVerifiedOnce) {
  for (const result& r : results()) {
    EXPECT_GT(r.signatures_verified, 0u);
    // Far fewer real verifications than checks: the shared memo answers the rest.
    EXPECT_GT(r.memo_hits, r.signatures_verified) << r.sc.name;
  }
}

}  // namespace
