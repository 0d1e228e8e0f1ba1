// Deterministic cluster simulation: N gossip engines in one process, no sockets, a simulated
// network with uniform loss and a fixed latency in rounds (one round = one push interval).
//
// Measures rounds until every node holds every ContactInfo (0 %, 10 %, 30 % loss) and rounds to
// re-converge after a partition into two halves heals, and compares them with the model
// log2(N) + ln(N) push rounds + one pull interval (ARCHITECTURE.md section 7). Asserts
// convergence within 4x the model and prints the figures (perf/gossip.md has a run).
//
// Cost: one shared memoizing signature_verifier per simulation, so each distinct signed value
// is verified by libsecp256k1 once per simulation, not once per node (1000 nodes would
// otherwise verify every value 1000 times). Pings, pongs and prunes are distinct messages and
// are verified once each anyway.
//
// Environment: RIPTIDE_SIM_NODES (default 200; perf/gossip.md uses 1000 and 100),
// RIPTIDE_SIM_THREADS (default 2: the scenarios are independent and run in parallel),
// RIPTIDE_SIM_SEED (default 1).

#include <riptide/gossip/engine.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;

constexpr std::uint64_t start_ms = 1'700'000'000'000ull;
constexpr std::size_t seed_nodes = 4;

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
  bool partition = false;
  std::size_t partition_rounds = 50;
  std::size_t max_rounds = 400;
  std::uint64_t seed = 1;
};

struct result {
  scenario sc;
  std::size_t converge_rounds = 0;  // 0: did not converge
  std::size_t heal_rounds = 0;      // partition only; 0: did not re-converge
  std::uint64_t packets = 0, bytes = 0, lost = 0, cut = 0;
  std::uint64_t signatures_verified = 0, memo_hits = 0;
  std::uint64_t prunes = 0, pull_requests = 0, outgoing_dropped = 0;
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
    cfg.prune_keep_relayers = env_size("RIPTIDE_SIM_KEEP", cfg.prune_keep_relayers);
    cfg.prune_min_redundant = env_size("RIPTIDE_SIM_MINRED", cfg.prune_min_redundant);
    cfg.pull_fanout = env_size("RIPTIDE_SIM_PULL_FANOUT", cfg.pull_fanout);
    cfg.prune_flush_ms = env_size("RIPTIDE_SIM_PRUNE_FLUSH", cfg.prune_flush_ms);
    const std::size_t n = sc.nodes;
    // Seeds spread over the id space, so each partition half keeps some.
    for (std::size_t s = 0; s < seed_nodes; ++s) seeds_.push_back(s * n / seed_nodes);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<socket_addr> entrypoints;
      const bool is_seed = std::find(seeds_.begin(), seeds_.end(), i) != seeds_.end();
      if (is_seed) {
        const std::size_t s = std::find(seeds_.begin(), seeds_.end(), i) - seeds_.begin();
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
  }

  result run() {
    const auto t0 = std::chrono::steady_clock::now();
    result r;
    r.sc = sc_;
    const double n = static_cast<double>(sc_.nodes);
    r.model_rounds = std::log2(n) + std::log(n) +
                     static_cast<double>(gossip_config{}.pull_interval_ms) /
                         static_cast<double>(gossip_config{}.push_interval_ms);
    std::size_t round = 0;
    const bool verbose = env_size("RIPTIDE_SIM_VERBOSE", 0) != 0;
    trace_to_ = env_size("RIPTIDE_SIM_TRACE_TO", SIZE_MAX);
    trace_origin_ = env_size("RIPTIDE_SIM_TRACE_ORIGIN", 0);
    for (; round < sc_.max_rounds; ++round) {
      step(round);
      if (verbose && round % 5 == 0) progress(round);
      if (verbose && round == 70) diagnose(round);
      if (all_know_everyone()) {
        r.converge_rounds = round + 1;
        break;
      }
    }
    if (sc_.partition && r.converge_rounds != 0) {
      for (std::size_t i = 0; i < 20; ++i) step(++round);  // settle
      partitioned_ = true;
      const std::size_t a = 1, b = sc_.nodes - 1;  // one node in each half
      for (std::size_t i = 0; i < sc_.partition_rounds; ++i) {
        step(++round);
        if (i == 5) {
          const std::uint64_t now = now_of(round);
          EXPECT_TRUE(engines_[a]->set_data("partition-a", "set in half A", now));
          EXPECT_TRUE(engines_[b]->set_data("partition-b", "set in half B", now));
        }
      }
      // During the partition each half has only its own half's value.
      EXPECT_FALSE(has_data(b, a, "partition-a"));
      EXPECT_FALSE(has_data(a, b, "partition-b"));
      partitioned_ = false;
      const std::size_t healed_at = round;
      for (; round < healed_at + sc_.max_rounds;) {
        step(++round);
        if (everyone_has(a, "partition-a") && everyone_has(b, "partition-b") &&
            all_know_everyone()) {
          r.heal_rounds = round - healed_at;
          break;
        }
      }
    }
    std::uint64_t pings = 0, pongs = 0, own = 0, po = 0, pr = 0, pro = 0, promoted = 0;
    std::array<std::uint64_t, prune_reject_count> prj{};
    for (const auto& e : engines_) {
      po += e->get_stats().prune_origins_sent;
      pr += e->get_stats().prunes_received;
      pro += e->get_stats().prune_origins_received;
      promoted += e->get_stats().values_promoted;
      for (std::size_t k = 0; k < prune_reject_count; ++k) prj[k] += e->get_stats().prunes_rejected[k];
      pings += e->get_stats().pings_sent;
      pongs += e->get_stats().pongs_sent;
      own += e->table().next_ordinal();
    }
    if (verbose) {
      std::printf("[%s] pings %llu pongs %llu verifies %llu memo hits %llu\n", sc_.name.c_str(),
                  (unsigned long long)pings, (unsigned long long)pongs,
                  (unsigned long long)verifier_.verified, (unsigned long long)verifier_.hits);
      std::printf("  prune origins sent %llu, prunes received %llu origins %llu, rejected %llu %llu %llu %llu, promoted %llu\n",
                  (unsigned long long)po, (unsigned long long)pr, (unsigned long long)pro,
                  (unsigned long long)prj[0], (unsigned long long)prj[1], (unsigned long long)prj[2],
                  (unsigned long long)prj[3], (unsigned long long)promoted);
    }
    for (const auto& e : engines_) {
      const engine::stats& s = e->get_stats();
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

  static std::uint64_t now_of(std::size_t round) { return start_ms + 100 * round; }

  bool same_half(std::size_t x, std::size_t y) const {
    return (x < sc_.nodes / 2) == (y < sc_.nodes / 2);
  }

  void step(std::size_t round) {
    const std::uint64_t now = now_of(round);
    std::vector<packet>& arriving = in_flight_[round % in_flight_.size()];
    for (const packet& p : arriving) {
      if (trace_to_ != SIZE_MAX && p.to == trace_to_) trace(round, p);
      if (trace_to_ != SIZE_MAX && p.from == trace_to_ && p.bytes[0] == 2) {
        message_view m;
        if (parse_message({p.bytes.data(), p.len}, m) == parse_error::none) {
          const crds_entry* e = engines_[p.to]->table().find(
              crds_label{engines_[trace_origin_]->id(), value_kind::contact_info, {}});
          std::printf("  r%zu pull_request to %u: bits %u keys %zu mask_bits %u mask %llu; target %s",
                      round, p.to, m.filter.num_bits(), m.filter.num_keys(), m.mask_bits,
                      (unsigned long long)m.mask, e ? "holds it" : "lacks it");
          if (e) {
            const crds_entry* mine = engines_[p.from]->table().find(e->hash);
            std::size_t of_origin = 0;
            engines_[p.from]->table().for_each([&](const crds_entry& x) {
              if (x.label.origin == engines_[trace_origin_]->id()) {
                ++of_origin;
                std::printf(" [kind %d sub %zu]", (int)x.label.kind, x.label.sub_key.size());
              }
            });
            std::size_t ones = 0;
            for (std::size_t w = 0; w < m.filter.num_words(); ++w) ones += std::popcount(m.filter.word(w));
            std::size_t fp = 0;
            for (std::uint64_t t = 0; t < 1000; ++t) {
              std::array<std::uint8_t, 8> in{};
              std::memcpy(in.data(), &t, 8);
              fp += m.filter.contains(crypto::sha256(in));
            }
            std::size_t held_in = 0, held = 0;
            engines_[p.to]->table().for_each([&](const crds_entry& x) {
              ++held;
              held_in += m.filter.contains(x.hash);
            });
            std::printf(" keys %llx %llx bits-of-hash", (unsigned long long)m.filter.key(0), (unsigned long long)m.filter.key(1));
            for (std::size_t k = 0; k < m.filter.num_keys(); ++k) std::printf(" %u", bloom_bit(e->hash, m.filter.key(k), m.filter.num_bits()));
            std::printf(" hash %02x%02x%02x", e->hash[0], e->hash[1], e->hash[2]);
            std::printf(" fill %.2f fp %.3f target-held-in-filter %zu/%zu", double(ones) / m.filter.num_bits(), fp / 1000.0, held_in, held);
            std::printf(" mine-by-hash %d of-origin %zu size %zu", mine != nullptr, of_origin,
                        engines_[p.from]->table_size());
            std::printf(", partition %llu, in filter %d, trusted %d",
                        (unsigned long long)hash_partition(e->hash, m.mask_bits),
                        m.filter.contains(e->hash),
                        engines_[p.to]->is_trusted(m.sender, addr_of(p.from), now));
          }
          const engine::stats& ts = engines_[p.to]->get_stats();
          std::printf(" | target untrusted %llu pings %llu pull_in %llu outq %zu dropped %llu parse %llu",
                      (unsigned long long)ts.pull_requests_untrusted, (unsigned long long)ts.pings_sent,
                      (unsigned long long)ts.pull_requests_received, engines_[p.to]->outgoing_size(),
                      (unsigned long long)ts.outgoing_dropped,
                      (unsigned long long)(ts.packets_in - ts.packets_in_by_type[1] - ts.packets_in_by_type[2] - ts.packets_in_by_type[3] - ts.packets_in_by_type[4] - ts.packets_in_by_type[5] - ts.packets_in_by_type[6]));
          std::printf("\n");
        }
      }
      engines_[p.to]->on_packet(addr_of(p.from), {p.bytes.data(), p.len}, now);
    }
    arriving.clear();
    if (trace_to_ != SIZE_MAX) {
      const bool has = engines_[trace_to_]->table().find(
                           crds_label{engines_[trace_origin_]->id(), value_kind::contact_info, {}}) != nullptr;
      if (has != traced_has_) {
        std::printf("  r%zu: node %zu %s the contact info; values_purged %llu\n", round, trace_to_,
                    has ? "gained" : "LOST",
                    (unsigned long long)engines_[trace_to_]->get_stats().values_purged);
        traced_has_ = has;
      }
    }
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
  }

  void progress(std::size_t round) const {
    std::size_t done = 0, min_ci = SIZE_MAX, trusted_sets = 0;
    std::uint64_t untrusted = 0, pull_sent = 0, pull_resp = 0, pings = 0, prunes = 0, pushv = 0,
                  dup = 0, ins = 0, trunc = 0;
    for (const auto& e : engines_) {
      const std::size_t ci = e->table_count(value_kind::contact_info);
      done += ci == sc_.nodes;
      min_ci = std::min(min_ci, ci);
      trusted_sets += e->active_set().size();
      const engine::stats& st = e->get_stats();
      untrusted += st.pull_requests_untrusted;
      pull_sent += st.pull_requests_sent;
      pull_resp += st.pull_responses_sent;
      pings += st.pings_sent;
      prunes += st.prunes_sent;
      pushv += st.push_values_sent;
      dup += st.values_duplicate + st.values_outdated;
      ins += st.values_inserted + st.values_updated;
      trunc += st.pull_responses_truncated;
    }
    std::printf("[%s] round %zu: done %zu/%zu min_ci %zu avg_active %.1f | pulls %llu untrusted %llu "
                "resp %llu trunc %llu pings %llu prunes %llu push_values %llu new %llu dup %llu\n",
                sc_.name.c_str(), round, done, sc_.nodes, min_ci,
                static_cast<double>(trusted_sets) / static_cast<double>(sc_.nodes),
                (unsigned long long)pull_sent, (unsigned long long)untrusted,
                (unsigned long long)pull_resp, (unsigned long long)trunc, (unsigned long long)pings,
                (unsigned long long)prunes, (unsigned long long)pushv, (unsigned long long)ins,
                (unsigned long long)dup);
  }

  void trace(std::size_t round, const packet& p) const {
    message_view m;
    if (parse_message({p.bytes.data(), p.len}, m) != parse_error::none) return;
    bool has = false;
    for (std::size_t i = 0; i < m.num_values; ++i) {
      has |= m.values[i].origin == engines_[trace_origin_]->id() &&
             m.values[i].kind == value_kind::contact_info;
    }
    std::printf("  r%zu %s from %u values %zu%s\n", round, to_string(m.type), p.from, m.num_values,
                has ? " <-- has it" : "");
  }

 public:
  std::size_t trace_to_ = SIZE_MAX, trace_origin_ = 0;
  bool traced_has_ = false;

 private:
  void diagnose(std::size_t round) const {
    const std::uint64_t now = now_of(round);
    for (std::size_t i = 0; i < engines_.size(); ++i) {
      const engine& e = *engines_[i];
      if (e.table_count(value_kind::contact_info) == sc_.nodes) continue;
      const engine::stats& st = e.get_stats();
      std::size_t trusted = 0;
      for (const peer_view& p : e.peers(now)) trusted += p.trusted;
      std::printf("node %zu lacks:", i);
      for (std::size_t j = 0; j < engines_.size(); ++j) {
        if (e.table().find(crds_label{engines_[j]->id(), value_kind::contact_info, {}}) == nullptr) {
          std::size_t holders = 0;
          for (const auto& o : engines_) {
            holders += o->table().find(crds_label{engines_[j]->id(), value_kind::contact_info, {}}) != nullptr;
          }
          std::printf(" %zu(held by %zu, ni %d)", j, holders,
                      e.table().find(crds_label{engines_[j]->id(), value_kind::node_instance, {}}) != nullptr);
        }
      }
      std::printf("\n  trusted %zu active %zu pulls %llu resp_in %llu untrusted_in %llu rejected:",
                  trusted, e.active_set().size(), (unsigned long long)st.pull_requests_sent,
                  (unsigned long long)st.pull_responses_received,
                  (unsigned long long)st.pull_requests_untrusted);
      for (auto r : st.values_rejected) std::printf(" %llu", (unsigned long long)r);
      std::printf("\n");
    }
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
    out.push_back(s);
  }
  scenario p;
  p.name = "partition 50 rounds, then heal";
  p.nodes = n;
  p.partition = true;
  p.seed = seed;
  out.push_back(p);
  return out;
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
        const std::size_t only = env_size("RIPTIDE_SIM_ONLY", SIZE_MAX);
        for (std::size_t i; (i = next++) < scs.size();) {
          if (only == SIZE_MAX || only == i) out[i] = simulation(scs[i]).run();
        }
      });
    }
    for (auto& th : pool) th.join();
    std::printf("\ngossip simulation: N = %zu, model log2(N) + ln(N) + pull interval = %.1f rounds\n",
                scs[0].nodes, out[0].model_rounds);
    std::printf("%-32s %8s %8s %10s %9s %9s %8s %8s %7s\n", "scenario", "rounds", "vs model",
                "packets", "MB sent", "sig vers", "prunes", "dropped", "wall s");
    for (const result& r : out) {
      const std::size_t rounds = r.sc.partition ? r.heal_rounds : r.converge_rounds;
      std::printf("%-32s %8zu %7.2fx %10llu %9.1f %9llu %8llu %8llu %7.2f\n", r.sc.name.c_str(),
                  rounds, static_cast<double>(rounds) / r.model_rounds,
                  static_cast<unsigned long long>(r.packets), static_cast<double>(r.bytes) / 1e6,
                  static_cast<unsigned long long>(r.signatures_verified),
                  static_cast<unsigned long long>(r.prunes),
                  static_cast<unsigned long long>(r.outgoing_dropped), r.wall_s);
      if (r.sc.partition) {
        std::printf("%-32s %8zu   (initial convergence of the partition run)\n", "",
                    r.converge_rounds);
      }
    }
    std::fflush(stdout);
    return out;
  }();
  return all;
}

void expect_converged(std::size_t index) {
  const result& r = results().at(index);
  const double bound = 4 * r.model_rounds;
  ASSERT_GT(r.converge_rounds, 0u) << r.sc.name << ": no convergence in " << r.sc.max_rounds;
  EXPECT_LE(static_cast<double>(r.converge_rounds), bound) << r.sc.name;
  if (r.sc.partition) {
    ASSERT_GT(r.heal_rounds, 0u) << "no re-convergence after the partition healed";
    EXPECT_LE(static_cast<double>(r.heal_rounds), bound);
  }
}

TEST(GossipSimulation, ConvergesWithoutLoss) { expect_converged(0); }
TEST(GossipSimulation, ConvergesWithTenPercentLoss) { expect_converged(1); }
TEST(GossipSimulation, ConvergesWithThirtyPercentLoss) { expect_converged(2); }
TEST(GossipSimulation, ReconvergesAfterPartitionHeals) { expect_converged(3); }

TEST(GossipSimulation, EachDistinctSignatureVerifiedOnce) {
  for (const result& r : results()) {
    EXPECT_GT(r.signatures_verified, 0u);
    // Far fewer real verifications than nodes x values: the memo does the rest.
    EXPECT_GT(r.memo_hits, r.signatures_verified) << r.sc.name;
  }
}

}  // namespace
