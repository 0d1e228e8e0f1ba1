#include <riptide/consensus/vote_engine.hpp>

#include <stdexcept>
#include <string>

namespace riptide::consensus {

void vote_engine_config::validate() const {
  if (stakes.empty()) throw std::invalid_argument("consensus: no voters");
  std::uint64_t total = 0;
  for (const std::uint64_t s : stakes) {
    if (s > ~std::uint64_t{0} - total) throw std::invalid_argument("consensus: the stakes add up past 2^64 - 1");
    total += s;
  }
  if (total == 0) throw std::invalid_argument("consensus: the voters' stakes add up to 0");
  if (self && *self >= stakes.size())
    throw std::invalid_argument("consensus: self is voter " + std::to_string(*self) + " of " +
                                std::to_string(stakes.size()));
  if (max_blocks == 0 || max_slots == 0) throw std::invalid_argument("consensus: max_blocks and max_slots must be > 0");
}

namespace {
std::uint64_t total_of(const vote_engine_config& c) {
  c.validate();
  std::uint64_t total = 0;
  for (const std::uint64_t s : c.stakes) total += s;
  return total;
}
}  // namespace

vote_engine::vote_engine(const vote_engine_config& config, std::uint64_t root, const tower& restored)
    : config_(config),
      total_(total_of(config)),
      tower_(restored),
      root_(root),
      forks_(root, config.max_blocks, config.stakes.size()),
      confirmations_(total_, config.stakes.size(), config.max_slots),
      latest_(config.stakes.size()) {
  if (config_.self && restored.last_voted_slot()) count_vote(*config_.self, restored);
}

void vote_engine::count_vote(std::size_t voter, const tower& t) {
  const auto last = t.last_voted_slot();
  if (!last) return;
  std::optional<tower>& seen = latest_[voter];
  if (seen && seen->last_voted_slot() && *seen->last_voted_slot() >= *last) return;
  seen = t;
  const std::uint64_t stake = config_.stakes[voter];
  (void)forks_.vote(voter, *last, stake);  // unknown_slot: offered again when its bank comes
  (void)confirmations_.on_vote(voter, stake, t.votes(), t.root());
}

bool vote_engine::on_bank(const bank_view& bank) {
  const auto added = forks_.add(bank.slot, bank.parent);
  if (added != fork_choice::add_result::added && added != fork_choice::add_result::exists) return false;
  hashes_[bank.slot] = bank.bank_hash;
  // Votes for this slot seen before its block was here.
  for (std::size_t v = 0; v < latest_.size(); ++v)
    if (latest_[v] && latest_[v]->last_voted_slot() == bank.slot) (void)forks_.vote(v, bank.slot, config_.stakes[v]);
  const std::size_t n = std::min(bank.votes.size(), latest_.size());
  for (std::size_t v = 0; v < n; ++v)
    if (bank.votes[v]) count_vote(v, bank.votes[v]->votes);
  return true;
}

vote_decision vote_engine::decide(std::int64_t now_ms) {
  std::vector<voter_tower> voters;
  voters.reserve(latest_.size());
  for (std::size_t v = 0; v < latest_.size(); ++v)
    if (latest_[v]) voters.push_back({config_.stakes[v], latest_[v]->votes(), latest_[v]->root()});
  vote_decision out;
  out.why = decide_vote_and_reset(tower_, forks_, voters, total_);
  if (!out.why.vote || !config_.self) return out;
  const auto hash = hashes_.find(*out.why.vote);
  if (hash == hashes_.end()) return out;  // the start's root: no bank hash to vote with
  out.root = tower_.record_vote(*out.why.vote);
  tower_sync sync;
  sync.votes = tower_;
  sync.bank_hash = hash->second;
  sync.timestamp_ms = now_ms;
  out.vote = sync;
  if (out.root && *out.root > root_) {
    root_ = *out.root;
    (void)forks_.set_root(root_);
    confirmations_.prune_to(root_);
    hashes_.erase(hashes_.begin(), hashes_.lower_bound(root_));
  }
  count_vote(*config_.self, tower_);
  return out;
}

std::size_t vote_engine::delinquent(std::uint64_t now_slot, std::uint64_t max_age_slots) const noexcept {
  std::size_t n = 0;
  for (std::size_t v = 0; v < latest_.size(); ++v) {
    if (config_.stakes[v] == 0) continue;
    const std::optional<std::uint64_t> last = latest_[v] ? latest_[v]->last_voted_slot() : std::nullopt;
    if (now_slot > last.value_or(0) + max_age_slots) ++n;
  }
  return n;
}

}  // namespace riptide::consensus
