#include <riptide/node/bench_tps.hpp>

#include <riptide/net/udp.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <map>
#include <cmath>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <riptide/crypto/keyfile.hpp>
#include <riptide/node/config.hpp>
#include <riptide/rpc/chain_client.hpp>
#include <riptide/rpc/http_api.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/util/hex.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/prng.hpp>

namespace riptide::node {

// ---------------------------------------------------------------------------- pure helpers

token_bucket::token_bucket(double rate_per_s, double burst, std::uint64_t now_ns) noexcept
    : rate_per_ns_(rate_per_s / 1e9), burst_(std::max(burst, 1.0)), tokens_(0), last_ns_(now_ns) {}

std::uint64_t token_bucket::take(std::uint64_t now_ns, std::uint64_t max) noexcept {
  if (rate_per_ns_ <= 0) return max;
  if (now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ns - last_ns_) * rate_per_ns_);
    last_ns_ = now_ns;
  }
  const auto whole = static_cast<std::uint64_t>(tokens_);
  const std::uint64_t granted = std::min(whole, max);
  tokens_ -= static_cast<double>(granted);
  return granted;
}

std::uint64_t token_bucket::wait_ns() const noexcept {
  if (rate_per_ns_ <= 0 || tokens_ >= 1) return 0;
  return static_cast<std::uint64_t>(std::ceil((1 - tokens_) / rate_per_ns_));
}

std::uint64_t percentile(std::span<const std::uint64_t> sorted, double p) noexcept {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const auto index = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(sorted.size()))) - 1;
  return sorted[index];
}

latency_summary summarize(std::vector<std::uint64_t> values) {
  latency_summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.count = values.size();
  s.p50 = percentile(values, 50);
  s.p90 = percentile(values, 90);
  s.p99 = percentile(values, 99);
  s.max = values.back();
  return s;
}

bool charges_fee(txn::tx_result result) noexcept {
  return result != txn::tx_result::blockhash_too_old && result != txn::tx_result::insufficient_funds_for_fee;
}

bool balance_check::expected_valid() const noexcept {
  if (fee_per_tx != 0 && fee_charged_txs > ~std::uint64_t{0} / fee_per_tx) return false;
  return fee_per_tx * fee_charged_txs <= before;
}

std::uint64_t balance_check::expected_after() const noexcept {
  return expected_valid() ? before - fee_per_tx * fee_charged_txs : 0;
}

void validate(const bench_tps_options& o) {
  if (o.faucet_key.empty()) throw config_error("--faucet-key: required");
  if (o.rpc_port == 0) throw config_error("--rpc: port must be nonzero");
  if (o.tpus.empty()) throw config_error("--tpu: at least one address");
  for (const tpu_address& a : o.tpus)
    if (a.port == 0) throw config_error("--tpu: port must be nonzero");
  if (o.accounts < 2 || o.accounts > 65536) throw config_error("--accounts: must be in 2..65536");
  if (!(o.rate_tps >= 0) || o.rate_tps > 1e9) throw config_error("--rate: must be in 0..1e9 (0: as fast as possible)");
  if (!(o.seconds > 0) || o.seconds > 86400) throw config_error("--seconds: must be in (0, 86400]");
  if (o.lamports == 0) throw config_error("--lamports: must be at least 1");
  if (o.fund_lamports == 0) throw config_error("--fund-lamports: must be at least 1");
  if (!(o.timeout_s > 0) || o.timeout_s > 86400) throw config_error("--timeout-s: must be in (0, 86400]");
  if (!(o.status_poll_ms >= 1) || o.status_poll_ms > 10000) throw config_error("status poll interval must be in 1..10000 ms");
  if (!(o.max_loss_percent >= 0) || o.max_loss_percent > 100) throw config_error("--max-loss: must be a percent in 0..100");
}

// ------------------------------------------------------------------------------- the run

namespace {

constexpr std::size_t send_batch = 64;            // transfers per sendmmsg
constexpr std::uint64_t ns_per_s = 1'000'000'000;

std::string ip_text(std::uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

std::uint64_t now_ns() { return util::monotonic_ns(); }

void sleep_ns(std::uint64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }

struct sent_tx {
  crypto::signature signature{};
  std::uint64_t sent_ns = 0;
};

// Counted outcomes of the send phase.
struct tally {
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t ok = 0;
  std::array<std::uint64_t, txn::tx_result_count> by_result{};
  std::uint64_t failed() const { return confirmed() - ok; }
  std::uint64_t confirmed() const {
    std::uint64_t n = 0;
    for (auto v : by_result) n += v;
    return n;
  }
  std::uint64_t fee_charged() const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < by_result.size(); ++i)
      if (charges_fee(static_cast<txn::tx_result>(i))) n += by_result[i];
    return n;
  }
  std::string failures_text() const {
    std::string s;
    for (std::size_t i = 1; i < by_result.size(); ++i)
      if (by_result[i] != 0)
        s += fmt::format("{}{} {}", s.empty() ? "" : ", ", txn::to_string(static_cast<txn::tx_result>(i)), by_result[i]);
    return s.empty() ? "none" : s;
  }
};

// The transactions sent and not yet seen in the status cache, polled in a rotating window so
// that transfers the node dropped do not keep newer ones from being asked about.
class confirmation_tracker {
 public:
  void add(const sent_tx& tx) { outstanding_.push_back(tx); }
  [[nodiscard]] std::size_t outstanding() const noexcept { return outstanding_.size(); }

  // Asks about outstanding signatures, a batch of max_status_batch at a time from the
  // cursor on, until every one was asked once or budget_ns has passed; counts the answers.
  explicit confirmation_tracker(rpc::commitment level) : level_(level) {}

  void poll(rpc::chain_client& client, tally& t, std::vector<std::uint64_t>& latencies_ns,
            std::uint64_t budget_ns) {
    if (outstanding_.empty()) return;
    const std::size_t size = outstanding_.size();
    if (cursor_ >= size) cursor_ = 0;
    const std::uint64_t start = now_ns();
    done_.assign(size, false);
    std::size_t asked = 0;
    while (asked < size) {
      const std::size_t n = std::min(rpc::max_status_batch, size - asked);
      sigs_.clear();
      for (std::size_t k = 0; k < n; ++k) sigs_.push_back(outstanding_[(cursor_ + asked + k) % size].signature);
      const auto answers = client.statuses(sigs_);
      const std::uint64_t now = now_ns();
      for (std::size_t k = 0; k < n; ++k) {
        if (!answers[k] || answers[k]->level < level_) continue;  // not there yet
        const std::size_t i = (cursor_ + asked + k) % size;
        done_[i] = true;
        latencies_ns.push_back(now - outstanding_[i].sent_ns);
        t.by_result[static_cast<std::size_t>(answers[k]->result)] += 1;
        if (answers[k]->result == txn::tx_result::ok) t.ok += 1;
      }
      asked += n;
      if (now - start >= budget_ns) break;
    }
    // Compact, keeping the cursor on the first entry after the ones just asked about.
    const std::size_t next = (cursor_ + asked) % size;
    std::size_t kept = 0, new_cursor = 0;
    for (std::size_t i = 0; i < size; ++i) {
      if (i == next) new_cursor = kept;
      if (!done_[i]) outstanding_[kept++] = outstanding_[i];
    }
    outstanding_.resize(kept);
    cursor_ = new_cursor;
  }

 private:
  rpc::commitment level_;
  std::vector<sent_tx> outstanding_;
  std::vector<crypto::signature> sigs_;
  std::vector<bool> done_;
  std::size_t cursor_ = 0;
};

std::uint64_t sum_balances(rpc::chain_client& client, const std::vector<crypto::keypair>& keys) {
  std::uint64_t sum = 0;
  for (const auto& k : keys) sum += client.balance(k.public_key());
  return sum;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

int run_bench_tps(const bench_tps_options& o, std::ostream& out, std::ostream* json) {
  validate(o);
  crypto::keypair faucet;
  try {
    faucet = crypto::load_keyfile(o.faucet_key);
  } catch (const std::runtime_error& e) {
    throw config_error(std::string("--faucet-key: ") + e.what());
  }
  const std::uint64_t seed = o.seed != 0 ? o.seed : util::unix_time_ns();
  util::xoshiro256ss rng(seed);

  rpc::chain_client client(o.rpc_ip, o.rpc_port);
  std::vector<tpu_address> targets = o.tpus;
  if (o.all_nodes) {
    targets.clear();
    for (const auto& c : client.gossip_tpus()) targets.push_back({c.ip, c.port});
    if (targets.empty())
      throw std::runtime_error(fmt::format("--all-nodes: the node at {} knows no tpu address", client.address()));
  }
  // One socket per tpu address, used round-robin by send batch.
  std::vector<std::unique_ptr<net::udp_batch_sender>> senders;
  for (const tpu_address& a : targets)
    senders.push_back(std::make_unique<net::udp_batch_sender>(net::endpoint{a.ip, a.port}, "tpu"));
  std::size_t next_sender = 0;
  int last_send_errno = 0;
  auto send_batch_rr = [&](std::span<const std::span<const std::uint8_t>> packets) {
    net::udp_batch_sender& s = *senders[next_sender];
    next_sender = (next_sender + 1) % senders.size();
    const std::size_t n = s.send(packets);
    if (n != packets.size()) last_send_errno = s.last_errno();
    return n;
  };
  std::string tpu_list;
  for (const tpu_address& a : targets) tpu_list += fmt::format("{}{}:{}", tpu_list.empty() ? "" : ",", ip_text(a.ip), a.port);
  auto slot = client.slot();
  if (!slot.lamports_per_signature)
    throw std::runtime_error(fmt::format("node at {} runs no bank (GET /slot has no lamports_per_signature)",
                                         client.address()));
  const std::uint64_t fee = *slot.lamports_per_signature;
  const std::uint64_t faucet_balance = client.balance(faucet.public_key());
  const std::uint64_t need = (o.fund_lamports + fee) * o.accounts;
  if (faucet_balance < need)
    throw std::runtime_error(fmt::format(
        "faucet {} holds {} lamports; funding {} accounts with {} each (+ fee {}) needs {}",
        util::to_hex(faucet.public_key()), faucet_balance, o.accounts, o.fund_lamports, fee, need));
  out << fmt::format("bench-tps: rpc {} tpu {} | {} accounts, {} lamports per transfer, rate {}, {} s, "
                     "fee {} lamports/signature, slot {}, counted at commitment {}\n",
                     client.address(), tpu_list, o.accounts, o.lamports,
                     o.rate_tps > 0 ? fmt::format("{}/s", o.rate_tps) : std::string("as fast as possible"),
                     o.seconds, fee, slot.slot, rpc::to_string(o.commitment))
      << std::flush;

  std::array<std::uint8_t, txn::max_transaction_bytes> buf{};
  std::size_t buf_len = 0;  // the last transfer send_one built, in buf
  auto send_one = [&](const crypto::keypair& from, const crypto::pubkey& to, std::uint64_t lamports,
                      const crypto::hash32& blockhash) -> std::optional<crypto::signature> {
    const std::size_t n = txn::build_transfer(from, to, lamports, blockhash, buf);
    buf_len = n;
    const std::span<const std::uint8_t> packet(buf.data(), n);
    if (send_batch_rr(std::span(&packet, 1)) != 1) return std::nullopt;
    crypto::signature sig{};
    std::copy_n(buf.data() + 1, sig.size(), sig.begin());  // the first signature follows the count
    return sig;
  };

  // ---- 1. fund the accounts
  std::vector<crypto::keypair> keys;
  keys.reserve(o.accounts);
  for (std::uint32_t i = 0; i < o.accounts; ++i) keys.push_back(crypto::keypair::generate());
  struct funding {
    crypto::signature signature{};
    // The transfer as first sent: a resend is these very bytes, so it lands at most once (a
    // transfer signed again would carry a new signature: Schnorr signing is randomized).
    std::vector<std::uint8_t> bytes;
    std::uint64_t sent_ns = 0;
    bool funded = false;
  };
  std::vector<funding> funds(o.accounts);
  const std::uint64_t fund_start = now_ns();
  const auto timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);
  constexpr std::uint64_t resend_after_ns = 3 * ns_per_s;
  std::size_t funded = 0;
  std::uint64_t funding_sends = 0;
  for (std::uint64_t next_print = fund_start;;) {
    const std::uint64_t now = now_ns();
    // (Re)send what is not funded and has no recent funding transfer in flight.
    bool refreshed = false;
    for (std::size_t i = 0; i < funds.size(); ++i) {
      auto& f = funds[i];
      if (f.funded || (f.sent_ns != 0 && now - f.sent_ns < resend_after_ns)) continue;
      if (!refreshed) {
        slot = client.slot();
        refreshed = true;
      }
      // A resend is the very same transfer (same bytes, same signature): it lands at most
      // once, however slowly its slot is rooted (a new one could land as well).
      if (f.sent_ns == 0) {
        const auto sig = send_one(faucet, keys[i].public_key(), o.fund_lamports, slot.blockhash);
        if (!sig)
          throw std::runtime_error(fmt::format("sending to the tpu {}: {}", tpu_list, std::strerror(last_send_errno)));
        f.signature = *sig;
        f.bytes.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(buf_len));
      } else {
        const std::span<const std::uint8_t> packet(f.bytes);
        if (send_batch_rr(std::span(&packet, 1)) != 1)
          throw std::runtime_error(fmt::format("sending to the tpu {}: {}", tpu_list, std::strerror(last_send_errno)));
      }
      f.sent_ns = now;
      ++funding_sends;
    }
    for (std::size_t i = 0; i < funds.size(); ++i)
      if (!funds[i].funded && client.balance(keys[i].public_key()) >= o.fund_lamports) {
        funds[i].funded = true;
        ++funded;
      }
    if (funded == funds.size()) break;
    const std::uint64_t after = now_ns();
    if (after >= next_print) {
      out << fmt::format("funding: {}/{} accounts funded ({} transfers sent) after {:.1f} s\n", funded,
                         funds.size(), funding_sends, static_cast<double>(after - fund_start) / 1e9)
          << std::flush;
      next_print = after + ns_per_s;
    }
    if (after - fund_start > timeout_ns) {
      std::string example;
      for (const auto& f : funds)
        if (!f.funded) {
          example = util::to_hex(f.signature);
          break;
        }
      throw std::runtime_error(fmt::format(
          "funding timed out after {:.1f} s: {}/{} accounts funded ({} funding transfers sent). Is the node's "
          "bank running, and is {} its tpu port? (GET /tx/{} shows one unfunded transfer's status)",
          o.timeout_s, funded, funds.size(), funding_sends, tpu_list, example));
    }
    sleep_ns(200'000'000);
  }
  const std::uint64_t before = sum_balances(client, keys);
  out << fmt::format("funding: {} accounts funded in {:.1f} s ({} transfers sent); their balances sum to {}\n",
                     funds.size(), static_cast<double>(now_ns() - fund_start) / 1e9, funding_sends, before)
      << std::flush;

  // The node's drop counters before the send phase, to say afterwards where transfers went.
  std::map<std::string, std::uint64_t> drops_before;
  std::string drops_error;
  try {
    drops_before = client.drops();
  } catch (const rpc::rpc_error& e) {
    drops_error = e.what();
  }

  // ---- 2. send phase
  tally t;
  confirmation_tracker tracker(o.commitment);
  std::vector<std::uint64_t> latencies_ns;
  std::vector<std::array<std::uint8_t, txn::transfer_transaction_bytes>> batch(send_batch);
  std::vector<std::span<const std::uint8_t>> packets(send_batch);
  std::vector<crypto::signature> batch_sigs(send_batch);
  std::uint64_t blockhash_errors = 0;
  const auto poll_ns = static_cast<std::uint64_t>(o.status_poll_ms * 1e6);

  const std::uint64_t t0 = now_ns();
  const std::uint64_t send_end = t0 + static_cast<std::uint64_t>(o.seconds * 1e9);
  token_bucket bucket(o.rate_tps, std::max(1.0, o.rate_tps / 20), t0);
  std::uint64_t next_poll = t0 + poll_ns, next_refresh = t0 + ns_per_s, next_print = t0 + ns_per_s;
  std::uint64_t last_print = t0, sent_at_print = 0, confirmed_at_print = 0;

  auto print_line = [&](std::uint64_t now) {
    const double dt = static_cast<double>(now - last_print) / 1e9;
    const std::uint64_t confirmed = t.confirmed();
    out << fmt::format("[{:6.1f}s] sent {:8.0f}/s confirmed {:8.0f}/s | total sent {} ok {} failed {} ({}) "
                       "outstanding {}\n",
                       static_cast<double>(now - t0) / 1e9, static_cast<double>(t.sent - sent_at_print) / dt,
                       static_cast<double>(confirmed - confirmed_at_print) / dt, t.sent, t.ok, t.failed(),
                       t.failures_text(), tracker.outstanding())
        << std::flush;
    last_print = now;
    sent_at_print = t.sent;
    confirmed_at_print = confirmed;
  };
  auto housekeeping = [&](std::uint64_t now) {
    if (now >= next_poll) {
      tracker.poll(client, t, latencies_ns, poll_ns / 2);
      next_poll = now_ns() + poll_ns;
    }
    if (now >= next_print) {
      print_line(now);
      next_print += ns_per_s;
      if (next_print <= now) next_print = now + ns_per_s;
    }
  };

  std::uint64_t now = t0;
  while ((now = now_ns()) < send_end) {
    if (now >= next_refresh) {
      try {
        slot = client.slot();
      } catch (const rpc::rpc_error& e) {
        // Keep sending with the previous blockhash; it stays valid for many slots.
        if (blockhash_errors++ == 0) out << "warning: blockhash refresh failed: " << e.what() << "\n";
      }
      next_refresh = now + ns_per_s;
    }
    const std::uint64_t n = bucket.take(now, send_batch);
    if (n == 0) {
      housekeeping(now);
      sleep_ns(std::min<std::uint64_t>(bucket.wait_ns(), 1'000'000));
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto from = static_cast<std::size_t>(rng.next() % keys.size());
      auto to = static_cast<std::size_t>(rng.next() % (keys.size() - 1));
      if (to >= from) ++to;  // distinct from `from`, uniform over the others
      const std::size_t len = txn::build_transfer(keys[from], keys[to].public_key(), o.lamports, slot.blockhash, batch[i]);
      packets[i] = std::span<const std::uint8_t>(batch[i].data(), len);
      std::copy_n(batch[i].data() + 1, crypto::signature_bytes, batch_sigs[i].begin());
    }
    const std::uint64_t send_ns = now_ns();
    const std::size_t accepted = send_batch_rr(std::span(packets.data(), n));
    for (std::size_t i = 0; i < accepted; ++i) tracker.add({batch_sigs[i], send_ns});
    t.sent += accepted;
    t.send_errors += n - accepted;
    housekeeping(now_ns());
  }
  const std::uint64_t send_phase_ns = now_ns() - t0;

  // ---- 3. stragglers
  const std::uint64_t wait_end = now_ns() + timeout_ns;
  while (tracker.outstanding() != 0 && (now = now_ns()) < wait_end) {
    housekeeping(now);
    sleep_ns(20'000'000);
  }
  if (tracker.outstanding() != 0) tracker.poll(client, t, latencies_ns, ~std::uint64_t{0});
  print_line(now_ns());

  // Balances are the node's rooted ones: wait until the root has passed every slot a
  // confirmed transfer can be in (the slot in progress now), within the timeout.
  bool root_caught_up = true;
  {
    const rpc::slot_reply s = client.slot();
    if (s.root) {
      const std::uint64_t target = s.slot;
      const std::uint64_t root_end = now_ns() + timeout_ns;
      std::optional<std::uint64_t> root = s.root;
      while (root && *root < target && now_ns() < root_end) {
        sleep_ns(20'000'000);
        root = client.slot().root;
      }
      root_caught_up = root && *root >= target;
      if (!root_caught_up)
        out << fmt::format("  the node's root did not reach slot {} within {:.1f} s: balances may lag\n", target,
                           o.timeout_s);
    }
  }
  const std::uint64_t after = sum_balances(client, keys);
  const balance_check check{before, after, fee, t.fee_charged()};
  const auto lat = summarize(latencies_ns);
  const double send_s = static_cast<double>(send_phase_ns) / 1e9;
  out << "\nbench-tps summary\n";
  out << fmt::format("  send phase    {:.2f} s, target {}\n", send_s,
                     o.rate_tps > 0 ? fmt::format("{}/s", o.rate_tps) : std::string("as fast as possible"));
  out << fmt::format("  sent          {} (send errors {}{})\n", t.sent, t.send_errors,
                     t.send_errors != 0 ? fmt::format(": {}", std::strerror(last_send_errno)) : "");
  out << fmt::format("  confirmed ok  {}\n", t.ok);
  out << fmt::format("  failed        {} ({})\n", t.failed(), t.failures_text());
  out << fmt::format("  unconfirmed   {}\n", tracker.outstanding());
  out << fmt::format("  TPS           {:.1f} (confirmed ok per second of the send phase)\n",
                     static_cast<double>(t.ok) / send_s);
  if (lat.count != 0)
    out << fmt::format("  latency ms    p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  max {:.1f}  (over {} confirmations, "
                       "statuses polled every {} ms)\n",
                       ms(lat.p50), ms(lat.p90), ms(lat.p99), ms(lat.max), lat.count, o.status_poll_ms);
  else
    out << "  latency ms    none (no confirmations)\n";
  out << fmt::format("  balances      before {}  after {}  expected {}  ({} lamports fee x {} fee-charging "
                     "confirmed transactions)\n",
                     check.before, check.after,
                     check.expected_valid() ? fmt::to_string(check.expected_after()) : std::string("(fees exceed before)"),
                     fee, check.fee_charged_txs);
  out << fmt::format("  balances conserved minus fees: {}\n", check.conserved() ? "yes" : "no");
  if (!check.conserved() && tracker.outstanding() != 0)
    out << "  (unconfirmed transfers may have executed after their status was last polled, or been evicted "
           "from the node's status cache)\n";
  if (blockhash_errors != 0) out << fmt::format("  blockhash refresh failures: {}\n", blockhash_errors);
  const std::uint64_t unconfirmed = tracker.outstanding();
  const double loss_percent = t.sent == 0 ? 0 : 100.0 * static_cast<double>(unconfirmed) / static_cast<double>(t.sent);
  const bool loss_ok = loss_percent <= o.max_loss_percent;
  out << fmt::format("  loss          {:.2f} % of sent unconfirmed ({} of {}; at most {} % allowed): {}\n", loss_percent,
                     unconfirmed, t.sent, o.max_loss_percent, loss_ok ? "ok" : "TOO HIGH");
  std::string where;
  if (drops_error.empty()) {
    try {
      std::vector<std::pair<std::uint64_t, std::string>> moved;
      for (const auto& [name, value] : client.drops()) {
        const auto it = drops_before.find(name);
        const std::uint64_t was = it == drops_before.end() ? 0 : it->second;
        if (value > was) moved.emplace_back(value - was, name);
      }
      std::sort(moved.begin(), moved.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      for (const auto& [n, name] : moved) where += fmt::format(" {} +{}", name, n);
      if (where.empty()) where = " none";
    } catch (const rpc::rpc_error& e) {
      drops_error = e.what();
    }
  }
  out << "  node drops   " << (drops_error.empty() ? where + " (during the run, from GET /drops)"
                                                    : " unknown: " + drops_error)
      << "\n";
  out << std::flush;
  const bool ok = t.ok > 0 && check.conserved() && loss_ok;
  if (json != nullptr) {
    nlohmann::json failed_by = nlohmann::json::object();
    for (std::size_t i = 1; i < t.by_result.size(); ++i)
      if (t.by_result[i] != 0) failed_by[txn::to_string(static_cast<txn::tx_result>(i))] = t.by_result[i];
    *json << nlohmann::json{
                 {"commitment", rpc::to_string(o.commitment)},
                 {"sent", t.sent},
                 {"send_errors", t.send_errors},
                 {"confirmed_ok", t.ok},
                 {"failed", t.failed()},
                 {"failed_by_result", failed_by},
                 {"unconfirmed", unconfirmed},
                 {"send_seconds", send_s},
                 {"tps", static_cast<double>(t.ok) / send_s},
                 {"latency_ms",
                  {{"count", lat.count}, {"p50", ms(lat.p50)}, {"p90", ms(lat.p90)}, {"p99", ms(lat.p99)}, {"max", ms(lat.max)}}},
                 {"balances",
                  {{"before", check.before},
                   {"after", check.after},
                   {"expected", check.expected_valid() ? nlohmann::json(check.expected_after()) : nlohmann::json()},
                   {"fee_per_tx", fee},
                   {"fee_charged_txs", check.fee_charged_txs},
                   {"conserved", check.conserved()},
                   {"root_caught_up", root_caught_up}}},
                 {"loss_percent", loss_percent},
                 {"max_loss_percent", o.max_loss_percent},
                 {"loss_ok", loss_ok},
                 {"ok", ok}}
                 .dump(2)
          << "\n"
          << std::flush;
  }
  return ok ? 0 : 1;
}

}  // namespace riptide::node
