#include <riptide/node/node.hpp>

#include <chrono>
#include <optional>
#include <ostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <riptide/bank/chain_board.hpp>
#include <riptide/bank/replay.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/crypto/keyfile.hpp>
#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/epoch/schedule_window.hpp>
#include <riptide/gossip/gossip_tile.hpp>
#include <riptide/net/contact_book.hpp>
#include <riptide/net/net_tile.hpp>
#include <riptide/node/genesis.hpp>
#include <riptide/node/ledger_tool.hpp>
#include <riptide/node/node_topology.hpp>
#include <riptide/rpc/http_api.hpp>
#include <riptide/shred/turbine.hpp>
#include <riptide/tpu/bank_tile.hpp>
#include <riptide/tpu/dedup_tile.hpp>
#include <riptide/tpu/ledger_tile.hpp>
#include <riptide/tpu/load_tile.hpp>
#include <riptide/tpu/microblock.hpp>
#include <riptide/tpu/poh_tile.hpp>
#include <riptide/tpu/shred_tile.hpp>
#include <riptide/tpu/verify_tile.hpp>
#include <riptide/consensus/tower_file.hpp>
#include <riptide/consensus/vote_engine.hpp>
#include <riptide/tvu/consensus_tile.hpp>
#include <riptide/tvu/replay_tile.hpp>
#include <riptide/tvu/tvu_tile.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/util/cpu.hpp>
#include <riptide/util/hex.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/runtime.hpp>

namespace riptide::node {

namespace {
using frag = util::frag_desc;
using ring = util::spsc_ring<frag>;
}  // namespace

struct node::impl {
  config cfg;
  std::unique_ptr<util::metrics_registry> metrics;
  topology topo;                  // the wiring: tiles, links, cores (node_topology.hpp)
  std::unique_ptr<link_set> rings;  // every link's ring
  std::vector<util::metrics_block> link_blocks;  // one per link, in topo.links() order
  riptide::bank::chain_board board_chain;
  // A validator's PoH clock (its slot now, whoever leads it): what its forward tile plans by.
  // board_chain is the chain replay stored (GET /slot), a slot or so behind it.
  riptide::bank::chain_board poh_clock;
  std::unique_ptr<riptide::bank::tx_status_cache> statuses;
  std::unique_ptr<riptide::bank::bank_forks> forks;    // every bank: replay's, and the leader's bank tiles'
  std::unique_ptr<tpu::bank_gate> gate;                // which bank the bank tiles execute into
  std::vector<std::unique_ptr<tpu::microblock_store>> stores;
  tpu_tiles tpu;                                       // verify, dedup, bank, poh, ledger
  std::unique_ptr<tpu::load_tile> load;
  std::unique_ptr<ledger::ledger> ledger_store;
  // A rotating validator's own blocks, as its ledger tile wrote them (<ledger.dir>/produced):
  // what its shred tile cuts. The main ledger holds the chain, written by replay alone.
  std::unique_ptr<ledger::ledger> produced_store;
  std::unique_ptr<shred::shred_archive> archive;  // data shreds for repair; tiles below point at it
  std::unique_ptr<net::net_tile> net;
  std::unique_ptr<gossip::gossip_tile> gossip;
  gossip::snapshot_board board;
  std::unique_ptr<rpc::http_api> api;
  crypto::keypair identity;
  // Turbine and repair (a cluster with a genesis): who leads, the tree, the peers.
  node_role role = node_role::standalone;
  std::string role_note;
  std::unique_ptr<epoch::stakes> stakes;  // the genesis's (a cluster node)
  std::unique_ptr<epoch::leader_schedule> schedule;
  std::unique_ptr<shred::turbine_cluster> turbine;
  // Every validator's ports, one row per turbine cluster index: seeded from the genesis (own
  // row from the config), then kept up to date by the gossip tile from ContactInfo.
  std::unique_ptr<net::contact_book> contacts;
  std::vector<crypto::pubkey> peer_ids;     // the contact book's rows (turbine order)
  std::uint32_t self_peer = 0;
  std::unique_ptr<tpu::shred_tile> shredder;
  std::unique_ptr<riptide::bank::slot_replayer> replayer;
  std::unique_ptr<tvu::tvu_tile> tvu;
  std::unique_ptr<tvu::replay_tile> replay;
  std::unique_ptr<consensus::vote_engine> votes;  // a staked validator's, run by its consensus tile
  std::unique_ptr<tvu::consensus_tile> consensus;
  std::optional<tpu::poh_rotation> rotation;  // a validator's, until its TVU exists
  // The leader schedules of the epochs around each reader's slot, one window per thread that
  // reads them: PoH and the forward tile (a validator's), the TVU (every follower's).
  std::unique_ptr<epoch::schedule_window> poh_window, forward_window, tvu_window, consensus_window;
  std::optional<tvu::tvu_repair_links> repair_links;
  std::vector<util::core_plan> plan;
  std::unique_ptr<util::runtime> rt;
  std::string banking_note;  // why banking is off, printed at start
  std::string resume_note;   // how the ledger was resumed, printed at start
  std::uint64_t poh_start_tick = 0;
  // Every tile's drop counters, in core order (built once the tiles are placed).
  struct drop_ref {
    const util::tile* tile;
    std::size_t counter;
    std::string tile_name;
    std::string counter_name;
  };
  std::vector<drop_ref> drops;

  // tvu.slot_log with {name} replaced by node.name.
  std::string slot_log_path() const {
    std::string p = cfg.tvu.slot_log;
    if (const auto at = p.find("{name}"); at != std::string::npos) p.replace(at, 6, cfg.node.name);
    return p;
  }
  // A validator's shred tile logs the blocks it made beside replay's log of the chain:
  // slots-node0.csv -> slots-node0.sent.csv.
  std::string sent_log_path() const {
    std::string p = slot_log_path();
    if (p.empty()) return p;
    const auto dot = p.rfind('.');
    const auto slash = p.rfind('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return p + ".sent";
    return p.insert(dot, ".sent");
  }
  void sample_links() {
    for (std::size_t i = 0; i < link_blocks.size(); ++i) {
      const std::uint64_t popped = rings->popped(i);
      const std::uint64_t pushed = rings->pushed(i);
      link_blocks[i].set(0, pushed);
      link_blocks[i].set(1, popped);
      link_blocks[i].set(2, pushed >= popped ? pushed - popped : 0);
    }
  }
};

node::node(const config& cfg) : impl_(std::make_unique<impl>()) {
  auto& m = *impl_;
  m.cfg = cfg;
  const auto allowed = util::allowed_cpus();
  // The role decides which tiles exist; it needs the genesis and the identity (below).
  std::optional<riptide::node::genesis> cluster_genesis;
  if (!cfg.cluster.genesis.empty()) cluster_genesis = load_genesis(cfg.cluster.genesis);
  m.identity = cfg.identity.key_file.empty() ? crypto::keypair::generate()
                                             : crypto::load_keyfile(cfg.identity.key_file);
  // The ledger first: opening it takes its lock, so a second process started on this node's
  // ledger stops here (util::lock_held_error), before it has touched the metrics file, a port
  // or a byte of the ledger.
  if (cfg.ledger.enabled) {
    ledger::ledger_config lc;
    lc.dir = cfg.ledger.dir;
    lc.segment_bytes = static_cast<std::size_t>(cfg.ledger.segment_mib) << 20;
    m.ledger_store = std::make_unique<ledger::ledger>(ledger::ledger::open(lc));
  }
  std::vector<epoch::stake_entry> stakes;
  if (cluster_genesis) {
    for (const auto& val : cluster_genesis->validators) stakes.push_back({val.id, val.stake});
    m.stakes = std::make_unique<epoch::stakes>(stakes);
  }
  if (cluster_genesis && cfg.tvu.enabled) {
    const auto& g = *cluster_genesis;
    m.schedule = std::make_unique<epoch::leader_schedule>(*m.stakes, 0, g.slots_per_epoch);
    const auto leaders = m.schedule->group_leaders();
    const bool one_leader = std::all_of(leaders.begin(), leaders.end(),
                                        [&](const crypto::pubkey& k) { return k == leaders.front(); });
    {
      m.role = !one_leader                                  ? node_role::validator
               : leaders.front() == m.identity.public_key() ? node_role::leader
                                                            : node_role::follower;
      m.turbine = std::make_unique<shred::turbine_cluster>(stakes);
      for (std::uint32_t i = 0; i < m.turbine->size(); ++i) m.peer_ids.push_back(m.turbine->node(i).id);
      m.contacts = std::make_unique<net::contact_book>(m.peer_ids);
      for (const auto& val : g.validators) {
        const std::size_t row = *m.contacts->row_of(val.id);
        if (val.id != m.identity.public_key()) {
          m.contacts->set_row(row, *parse_ipv4(val.ip),
                              net::port_numbers_of(val.gossip_port, val.tpu_port, val.tpu_forwards_port,
                                                   val.tvu_port, val.repair_port));
          continue;
        }
        // Our own row: where this process listens, whatever the genesis says.
        const auto port = [](auto p) { return static_cast<std::uint16_t>(p); };
        m.self_peer = static_cast<std::uint32_t>(row);
        m.contacts->set_row(row, *parse_ipv4(cfg.net.ip),
                            net::port_numbers_of(port(cfg.net.gossip_port), port(cfg.net.tpu_port),
                                                 port(cfg.net.tpu_forwards_port), port(cfg.net.tvu_port),
                                                 port(cfg.net.repair_port)));
      }
      const bool in_genesis =
          std::find(m.peer_ids.begin(), m.peer_ids.end(), m.identity.public_key()) != m.peer_ids.end();
      if (m.role != node_role::leader && !in_genesis)
        throw config_error("identity: this node's key is not a validator of the genesis " + cfg.cluster.genesis);
      if (m.role != node_role::leader && !cfg.ledger.enabled)
        throw config_error(fmt::format("ledger.enabled: a {} stores the slots it replays; it must be true",
                                       m.role == node_role::validator ? "validator" : "follower"));
      if (m.role != node_role::leader && !cfg.net.enabled)
        throw config_error(fmt::format("net.enabled: a {} receives shreds; it must be true",
                                       m.role == node_role::validator ? "validator" : "follower"));
      m.role_note =
          m.role == node_role::leader
              ? fmt::format("leader of every slot: shreds to {} followers over Turbine (fanout {})",
                            g.validators.size() - 1, g.turbine_fanout)
          : m.role == node_role::follower
              ? fmt::format("follower: shreds from the leader over Turbine (fanout {}), repair, "
                            "replay into the ledger", g.turbine_fanout)
              : fmt::format("validator of {} (leader rotation): leads its slots of the schedule and follows the "
                            "others' over Turbine (fanout {}); every block, its own too, is replayed into the "
                            "ledger", g.validators.size(), g.turbine_fanout);
    }
  }
  const bool follower = m.role == node_role::follower;
  const bool leader = m.role == node_role::leader;
  const bool validator = m.role == node_role::validator;
  const std::size_t v = follower ? 0 : cfg.verify.tiles;
  // A validator's transactions pass its forward tile (Gulf Stream), which feeds one bank tile.
  const std::size_t b = follower ? 0 : validator ? std::min<std::size_t>(cfg.active_bank_tiles(), 1)
                                                 : cfg.active_bank_tiles();
  const bool tpu_open = cfg.net.enabled && v > 0;

  tpu::poh_tile_config pc;
  pc.hashes_per_tick = cfg.poh.hashes_per_tick;
  pc.ticks_per_slot = cfg.poh.ticks_per_slot;
  pc.target_tick_ns = cfg.poh.tick_us * 1000;
  // A cluster's facts (shred version, PoH timing, funding) are the genesis's, not the node's.
  if (cluster_genesis) {
    const auto& g = *cluster_genesis;
    pc.hashes_per_tick = g.hashes_per_tick;
    pc.ticks_per_slot = g.ticks_per_slot;
    pc.target_tick_ns = g.tick_us * 1000;
    m.cfg.poh.hashes_per_tick = g.hashes_per_tick;
    m.cfg.poh.ticks_per_slot = g.ticks_per_slot;
    m.cfg.poh.tick_us = g.tick_us;
  }
  pc.hashes_per_poll = cfg.poh.hashes_per_poll;
  pc.max_slots = cfg.poh.max_slots;
  // A cluster's chain starts from its genesis hash, which binds every ledger to its cluster;
  // a standalone node's from the zero hash.
  const crypto::hash32 chain_start = cluster_genesis ? cluster_genesis->hash() : crypto::hash32{};
  crypto::hash32 start_hash = chain_start;

  // Cluster facts.
  const std::uint16_t shred_version = cluster_genesis
                                          ? cluster_genesis->shred_version
                                          : static_cast<std::uint16_t>(cfg.cluster.shred_version);

  // ---- the wiring, declared (node_topology.hpp), placed on cores, and its rings allocated
  node_shape shape;
  shape.net = cfg.net.enabled;
  shape.gossip = cfg.gossip.enabled;
  shape.rpc = cfg.rpc.enabled;
  shape.poh = !follower;
  shape.tpu.verify_tiles = tpu_open ? v : 0;
  shape.tpu.bank_tiles = tpu_open ? b : 0;
  shape.tpu.ledger = cfg.ledger.enabled && !follower;  // a validator's writes its own blocks only
  shape.tpu.verify_ring = cfg.verify.ring_entries;
  shape.tpu.bank_ring = cfg.bank.ring_entries;
  shape.load = cfg.load.enabled && tpu_open;
  // The leader sends shreds when it has followers and a ledger to cut them from.
  shape.shred = validator || (leader && cfg.ledger.enabled && cfg.net.enabled && m.peer_ids.size() > 1);
  shape.tpu.records_out = shape.shred;
  shape.tvu = follower || validator;
  shape.rotation = validator;
  // A staked validator votes (the genesis's stakes; an unstaked one only follows).
  if (validator)
    for (const auto& val : cluster_genesis->validators)
      if (val.id == m.identity.public_key() && val.stake != 0) shape.consensus = true;
  shape.tpu.forward = validator && shape.tpu.bank_tiles == 1;
  shape.rx_free_ring = cfg.net.rx_frames;
  shape.gossip_tx_frames = gossip::gossip_tile_config{}.tx_frames;
  shape.shred_tx_frames = cfg.tvu.shred_tx_frames;
  shape.retransmit_frames = cfg.tvu.retransmit_frames;
  if (leader && !shape.shred && m.peer_ids.size() > 1)
    m.role_note += " -- but no shreds are sent: the leader needs ledger.enabled and net.enabled";
  m.topo = declare_node(shape);
  if (cfg.layout.cores.empty()) {
    // PoH in sleep mode is light and shares the first core; flat-out PoH gets a core to
    // itself when there is more than one.
    m.topo.place_auto(allowed.size(), shape.poh && cfg.poh.tick_us == 0);
  } else {
    m.topo.place(cfg.layout.cores);
  }
  m.topo.check();
  // Blocks: one per core thread, tile and link, and a few spare.
  const auto blocks =
      static_cast<std::uint32_t>(m.topo.cores().size() + m.topo.tiles().size() + m.topo.links().size() + 8);
  m.metrics = std::make_unique<util::metrics_registry>(cfg.metrics_path(), blocks);
  m.rings = std::make_unique<link_set>(m.topo);
  for (const link_decl& l : m.topo.links())
    m.link_blocks.push_back(m.metrics->add(util::metrics_kind::link, l.name, {"pushed", "popped", "depth"}));
  // The net tile's ends of a port's receive link (and its frames coming back), and of a
  // tile's send link (and the send frames going back to that tile).
  const auto net_rx = [&](net::port_kind port, std::string_view rx, std::string_view rx_free) {
    m.net->connect_rx(port, &m.rings->out<frag>("net", rx), &m.rings->in<frag>("net", rx_free));
  };
  const auto net_tx = [&](std::string_view tx, const util::frame_pool& frames, std::string_view tx_free) {
    m.net->add_tx(&m.rings->in<frag>("net", tx), &frames, &m.rings->out<frag>("net", tx_free));
  };

  // ---- net: every UDP port with a consumer
  if (cfg.net.enabled) {
    net::net_tile_config nc;
    nc.backend = cfg.net.backend == "io_uring"   ? net::backend_kind::io_uring
                 : cfg.net.backend == "recvmmsg" ? net::backend_kind::recvmmsg
                                                 : net::backend_kind::automatic;
    nc.bind_ip = *parse_ipv4(cfg.net.ip);
    // Only ports with a consumer are opened; the others are advertised for later stages.
    if (cfg.gossip.enabled)
      nc.ports[static_cast<std::size_t>(net::port_kind::gossip)] = static_cast<std::uint16_t>(cfg.net.gossip_port);
    if (tpu_open)
      nc.ports[static_cast<std::size_t>(net::port_kind::tpu)] = static_cast<std::uint16_t>(cfg.net.tpu_port);
    // Transactions other validators forward to us (Gulf Stream).
    if (tpu_open && validator)
      nc.ports[static_cast<std::size_t>(net::port_kind::tpu_forwards)] =
          static_cast<std::uint16_t>(cfg.net.tpu_forwards_port);
    // The leader sends its shreds from the tvu port (and receives nothing there).
    if (follower || leader || validator)
      nc.ports[static_cast<std::size_t>(net::port_kind::tvu)] = static_cast<std::uint16_t>(cfg.net.tvu_port);
    if (follower || leader || validator)
      nc.ports[static_cast<std::size_t>(net::port_kind::repair)] = static_cast<std::uint16_t>(cfg.net.repair_port);
    nc.rx_frames = static_cast<std::uint32_t>(cfg.net.rx_frames);
    auto quota = [&](double share) {
      return std::max<std::uint32_t>(1, static_cast<std::uint32_t>(share * static_cast<double>(cfg.net.rx_frames)));
    };
    nc.rx_quota[static_cast<std::size_t>(net::port_kind::gossip)] = quota(cfg.net.rx_share_gossip);
    nc.rx_quota[static_cast<std::size_t>(net::port_kind::tpu)] = quota(cfg.net.rx_share_tpu);
    nc.rx_quota[static_cast<std::size_t>(net::port_kind::tpu_forwards)] = quota(cfg.net.rx_share_tpu_forwards);
    nc.rx_quota[static_cast<std::size_t>(net::port_kind::tvu)] = quota(cfg.net.rx_share_tvu);
    nc.rx_quota[static_cast<std::size_t>(net::port_kind::repair)] = quota(cfg.net.rx_share_repair);
    nc.uring_provided_frames = static_cast<std::uint32_t>(cfg.net.uring_provided_frames);
    nc.socket_buffer_bytes = static_cast<std::uint32_t>(cfg.net.socket_buffer_bytes);
    nc.faults.drop[static_cast<std::size_t>(net::port_kind::tpu_forwards)] = cfg.net.drop_tpu_forwards;
    nc.faults.drop[static_cast<std::size_t>(net::port_kind::gossip)] = cfg.net.drop_gossip;
    nc.faults.drop[static_cast<std::size_t>(net::port_kind::tpu)] = cfg.net.drop_tpu;
    nc.faults.drop[static_cast<std::size_t>(net::port_kind::tvu)] = cfg.net.drop_tvu;
    nc.faults.drop[static_cast<std::size_t>(net::port_kind::repair)] = cfg.net.drop_repair;
    nc.faults.duplicate = cfg.net.duplicate;
    nc.faults.reorder_window = static_cast<std::uint32_t>(cfg.net.reorder_window);
    // Mixed with the node's port, so the nodes of one cluster lose different packets (and a
    // run with the same seed loses the same ones again).
    nc.faults.seed = cfg.net.fault_seed * 0x9e3779b97f4a7c15ULL ^ cfg.net.gossip_port;
    m.net = std::make_unique<net::net_tile>("net", nc);
  }

  // ---- bank and ledger
  const std::uint64_t load_seed = 1;
  const std::size_t load_signers = std::min<std::uint64_t>(cfg.load.distinct_transactions, 256);
  // What the bank holds before slot 0: the genesis faucet, and the load tile's signers
  // (deterministic keys) when it runs. The ledger's start-state record says the same, so a
  // node that resumes (or follows) with other funding is told so at slot 0.
  ledger::start_state start_state;
  start_state.lamports_per_signature = cfg.bank.lamports_per_signature;
  if (cluster_genesis && cluster_genesis->faucet.lamports != 0)
    start_state.accounts.push_back({cluster_genesis->faucet.id, cluster_genesis->faucet.lamports});
  if (shape.load)
    for (std::size_t i = 0; i < load_signers; ++i)
      start_state.accounts.push_back({tpu::load_tile::signer(load_seed, i).public_key(), cfg.bank.load_signer_lamports});
  // The staked validators vote (the bank keeps a vote state for each, in the genesis's order)
  // and pay their votes' fees from their identity.
  if (cluster_genesis)
    for (const auto& val : cluster_genesis->validators)
      if (val.stake != 0) {
        start_state.voters.push_back(val.id);
        start_state.accounts.push_back({val.id, cfg.bank.voter_lamports});
      }
  ledger::sort_start_state(start_state.accounts);
  if (b > 0 || follower || validator) {
    // Replay's bank forks: a follower replays every slot into them; a leader only rebuilds
    // its state from its ledger at start, then hands it to the bank its tiles execute into.
    riptide::bank::forks_config fc;
    fc.max_accounts = cfg.bank.max_accounts;
    fc.max_statuses = cfg.bank.max_statuses;
    fc.lamports_per_signature = cfg.bank.lamports_per_signature;
    fc.hash_seed = util::unix_time_ns() * 0x9e3779b97f4a7c15ULL;
    fc.max_voters = std::max<std::size_t>(1, start_state.voters.size());
    if (fc.max_voters > riptide::bank::max_voter_count)
      throw std::runtime_error(fmt::format("genesis: {} staked validators; the bank counts the votes of at most {}",
                                           start_state.voters.size(), riptide::bank::max_voter_count));
    m.forks = std::make_unique<riptide::bank::bank_forks>(fc, chain_start);
    for (const crypto::pubkey& voter : start_state.voters) (void)m.forks->add_voter(voter);  // distinct, max_voters
    for (const ledger::start_account& a : start_state.accounts)
      if (!m.forks->credit(a.key, a.lamports))
        throw std::runtime_error(fmt::format("bank: cannot fund the {} accounts of the start state (genesis faucet, "
                                             "load-tile signers): bank.max_accounts too small?",
                                             start_state.accounts.size()));
  } else if (v > 0 && !cfg.ledger.enabled) {
    m.banking_note = "banking off: ledger.enabled = false (the ledger tile stores executed batches)";
  }
  // The one replay function: rebuilds the bank from the ledger at start, and (a follower)
  // replays every slot the leader sends after that.
  riptide::bank::replay_chain_config rc;
  rc.hashes_per_tick = pc.hashes_per_tick;
  rc.ticks_per_slot = pc.ticks_per_slot;
  rc.start_hash = chain_start;
  rc.start_state = start_state;
  if (m.forks) m.replayer = std::make_unique<riptide::bank::slot_replayer>(*m.forks, rc);
  std::optional<resume_point> resume;
  if (cfg.ledger.enabled) {
    m.statuses = std::make_unique<riptide::bank::tx_status_cache>(cfg.ledger.tx_status_entries);
    const std::uint64_t trimmed = validator ? trim_own_tail(*m.ledger_store, m.identity.public_key()) : 0;
    resume = find_resume_point(*m.ledger_store);
    if (trimmed != 0)
      m.resume_note += fmt::format("cut the last {} block(s) of the chain, this node's own, that no other leader had "
                                   "built on: the cluster may have skipped them (repair brings back the ones it kept); ",
                                   trimmed);
    if (resume) {
      if (resume->chain_start_hash != chain_start)
        throw config_error(fmt::format(
            "ledger.dir {}: this ledger's chain starts from {}, which is not this node's {} {}; it "
            "belongs to another cluster (use a new ledger.dir, or remove this one)",
            cfg.ledger.dir, util::to_hex(resume->chain_start_hash),
            cluster_genesis ? "genesis hash" : "start hash (no genesis: zero)", util::to_hex(chain_start)));
      if (resume->hashes_per_tick != pc.hashes_per_tick || resume->ticks_per_slot != pc.ticks_per_slot)
        throw std::runtime_error(fmt::format(
            "{}: the ledger's chain has {} hashes/tick and {} ticks/slot, this node {} and {}; "
            "use a new ledger.dir",
            cfg.ledger.dir, resume->hashes_per_tick, resume->ticks_per_slot, pc.hashes_per_tick,
            pc.ticks_per_slot));
    }
    if (resume && resume->next_slot == 0) {
      // This cluster's chain, but not one slot of it complete: start it over.
      m.ledger_store->truncate({0, ledger::segment_header_bytes});
      resume.reset();
    }
    if (resume) {
      start_hash = resume->last_hash;
      pc.start_tick_height = resume->tick_height;
      m.poh_start_tick = resume->tick_height;
      m.resume_note += fmt::format("resuming the ledger at slot {} (tick height {}{})", resume->next_slot,
                                  resume->tick_height,
                                  resume->truncated_records != 0
                                      ? fmt::format(", cut {} records of a partial slot", resume->truncated_records)
                                      : std::string());
      if (m.replayer) {
        const auto t0 = std::chrono::steady_clock::now();
        const riptide::bank::ledger_replay_result r = riptide::bank::replay_ledger(*m.ledger_store, *m.replayer);
        if (!r.ok())
          throw std::runtime_error(fmt::format("{}: replaying the ledger into the bank failed: {}: {}", cfg.ledger.dir,
                                               riptide::bank::to_string(r.error), r.detail));
        if (m.replayer->next_slot() != resume->next_slot)
          throw std::runtime_error(fmt::format("{}: the ledger replays to slot {}, its last slot end is {}",
                                               cfg.ledger.dir, m.replayer->next_slot(), resume->next_slot));
        m.board_chain.set_root_slot(resume->next_slot - 1);  // replay rooted every slot
        m.resume_note += fmt::format(
            "; replayed {} slots, {} txs into the bank in {:.2f} s ({} bank hashes matched)", r.slots, r.txs,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), r.bank_hashes);
      }
    }
  }
  if (!follower && !validator) m.replayer.reset();  // a leader's replay ends with the ledger it resumed
  // A validator's own blocks: never two for one slot, so never a slot at or below the highest
  // it ever produced (its produced blocks, complete or not, and its blocks in the chain).
  std::optional<std::uint64_t> highest_produced;
  if (validator) {
    ledger::ledger_config lc;
    lc.dir = std::filesystem::path(cfg.ledger.dir) / "produced";
    lc.segment_bytes = static_cast<std::size_t>(cfg.ledger.segment_mib) << 20;
    m.produced_store = std::make_unique<ledger::ledger>(ledger::ledger::open(lc));
    if (!m.produced_store->empty()) highest_produced = m.produced_store->last_slot();
    if (const auto led = highest_led_slot(*m.ledger_store, m.identity.public_key()))
      highest_produced = std::max(highest_produced.value_or(0), *led);
  }

  // ---- TPU: net → verify ×V → dedup → bank ×B → PoH → ledger (tpu_pipeline.hpp)
  if (shape.poh) {
    tpu_resources res;
    res.frames = m.net ? &m.net->rx_frames() : nullptr;
    res.ledger = validator ? m.produced_store.get() : m.ledger_store.get();
    // A validator's chain (GET /slot) is what replay stored, not what PoH is making. Until
    // replay stores a slot it is where the chain starts: its hash is the one blockhash the
    // dedup tile knows then (PoH sends it at start), so a client that asks at once gets a
    // usable one, never zeros.
    res.board = validator ? &m.poh_clock : &m.board_chain;
    if (validator) {
      const std::uint64_t first = m.poh_start_tick / m.cfg.poh.ticks_per_slot;
      m.board_chain.publish(first, m.poh_start_tick, riptide::bank::slot_hash{first == 0 ? 0 : first - 1, start_hash});
    }
    res.start_hash = start_hash;
    res.verify.pubkey_cache_entries = cfg.verify.pubkey_cache_entries;
    res.verify.batch = cfg.verify.batch;
    res.dedup.cache_entries = cfg.dedup.cache_entries;
    res.bank.max_txs_per_microblock = cfg.bank.max_txs_per_microblock;
    res.bank.retry_slots = cfg.bank.retry_slots;
    res.poh = pc;
    const std::size_t microblock_bytes =
        cfg.bank.max_txs_per_microblock * (txn::max_transaction_bytes + tpu::microblock_tx_overhead_bytes);
    if (shape.tpu.bank_tiles > 0) {
      // The leader's bank tiles execute into the forks replay rebuilt (the start state, or the
      // ledger's last slot rooted): one bank per slot, made and opened by the ledger tile at
      // each slot end, behind the gate PoH closes at each slot's end (bank_gate.hpp).
      m.gate = std::make_unique<tpu::bank_gate>(shape.tpu.bank_tiles, resume ? resume->next_slot : 0);
      res.forks = m.forks.get();
      res.gate = m.gate.get();
      for (std::size_t j = 0; j < shape.tpu.bank_tiles; ++j) {
        m.stores.push_back(std::make_unique<tpu::microblock_store>(cfg.bank.microblocks, microblock_bytes));
        res.stores.push_back(m.stores.back().get());
      }
      // Replay protection survives a restart: the bank forks hold the blockhashes and landed
      // signatures of the last 150 slots (replay rebuilt them); dedup, which drops early, gets
      // the same blockhashes (PoH only sends the newest) and signatures (below), so a transfer
      // signed just before the restart executes after it and one that executed before it is a
      // duplicate after it.
      if (resume)
        for (const auto& h : riptide::bank::recent_blockhashes(*m.ledger_store, txn::blockhash_queue::max_age_slots))
          res.resumed_blockhashes.push_back(riptide::bank::slot_hash{h.slot, h.hash});
    }
    res.ledger_tile.sync_at_slot_end = cfg.ledger.sync_at_slot_end;
    res.ledger_tile.start_state = start_state;
    res.ledger_tile.statuses = validator ? nullptr : m.statuses.get();
    res.ledger_tile.leader = m.identity.public_key();
    res.ledger_tile.resume = resume.has_value();
    if (validator) {
      // Its own blocks only, after whatever it made before; the chain start belongs to slot 0.
      res.ledger_tile.resume = true;
      res.ledger_tile.chain_start = !resume && !highest_produced && m.schedule->leader_for_slot(0) &&
                                    *m.schedule->leader_for_slot(0) == m.identity.public_key();
      res.ledger_tile.sync_at_slot_end = false;  // the chain's durability is replay's
      res.ledger_tile.rotation = true;
    }
    res.ledger_tile.max_microblock_tx_bytes = microblock_bytes;
    if (validator) {
      const std::uint64_t first = resume ? resume->next_slot : 0;
      m.poh_window = std::make_unique<epoch::schedule_window>(*m.stakes, cluster_genesis->slots_per_epoch, first);
      m.forward_window = std::make_unique<epoch::schedule_window>(*m.stakes, cluster_genesis->slots_per_epoch, first);
      res.forward.identity = m.identity.public_key();
      res.timeline = &m.forward_window->timeline();
      res.contacts = m.contacts.get();
      res.forward_board = &m.poh_clock;
    }
    m.tpu = build_tpu(shape.tpu, *m.rings, res);
    if (validator) {
      if (m.tpu.forward) m.tpu.forward->follow_epochs(*m.forward_window);
      tpu::poh_rotation rot;
      rot.window = m.poh_window.get();
      rot.identity = m.identity.public_key();
      rot.highest_produced = highest_produced;
      if (resume) rot.start_parent = resume->next_slot - 1;
      // rot.arriving: the TVU's, set once it exists (below)
      m.rotation = rot;
      m.tpu.poh->connect_resets(&m.rings->in<tpu::poh_reset>("poh", links::resets));
    }
    if (resume && m.tpu.dedup && shape.tpu.bank_tiles > 0) {
      const std::uint64_t from = resume->next_slot > txn::blockhash_queue::max_age_slots
                                     ? resume->next_slot - txn::blockhash_queue::max_age_slots
                                     : 0;
      std::uint64_t signatures = 0;
      riptide::bank::for_each_landed_signature(*m.ledger_store, from, [&](std::uint64_t, const crypto::signature& sig) {
        m.tpu.dedup->remember(sig);
        ++signatures;
      });
      m.resume_note += fmt::format("; replay protection rebuilt: {} blockhashes, {} landed signatures",
                                   res.resumed_blockhashes.size(), signatures);
    }
    for (std::size_t i = 0; i < shape.tpu.verify_tiles; ++i) {
      auto* in = &m.rings->out<frag>("net", tpu_verify_in(shape.tpu, i));
      auto* free = &m.rings->in<frag>("net", tpu_verify_free(shape.tpu, i));
      m.net->connect_rx(net::port_kind::tpu, in, free);
      // Forwarded transactions take the same verify rings, marked by their port (the forward
      // tile never forwards them again).
      if (shape.tpu.forward) m.net->connect_rx(net::port_kind::tpu_forwards, in, free);
    }
    if (m.tpu.forward) net_tx(tpu_forward_tx, m.tpu.forward->tx_frames(), tpu_forward_tx_free);
    for (const std::string& link : tpu_release_links(shape.tpu)) m.net->add_release(&m.rings->in<frag>("net", link));
  }
  if (shape.load) {
    // The load tile is a client of the node's own tpu port: its packets take the same path
    // (net → verify → dedup → bank) as anyone's.
    tpu::load_tile_config lc;
    lc.rate_tps = cfg.load.rate_tps;
    lc.duplicate_percent = cfg.load.duplicate_percent;
    lc.invalid_percent = cfg.load.invalid_percent;
    lc.signers = load_signers;
    lc.seed = load_seed;
    lc.frames = static_cast<std::uint32_t>(shape.load_frames);
    lc.board = &m.board_chain;
    lc.desc_kind = static_cast<std::uint16_t>(net::port_kind::tpu);
    lc.desc_meta = m.net->local_endpoint(net::port_kind::tpu).pack();
    m.load = std::make_unique<tpu::load_tile>("load", lc, std::vector<ring*>{&m.rings->out<frag>("load", links::load_tx)},
                                              std::vector<ring*>{&m.rings->in<frag>("load", links::load_free)});
    net_tx(links::load_tx, m.load->frames(), links::load_free);
  }

  if (cfg.gossip.enabled) {
    gossip::contact_info self;
    self.id = m.identity.public_key();
    self.shred_version = shred_version;
    self.ip = *parse_ipv4(cfg.net.ip);
    self.gossip_port = static_cast<std::uint16_t>(cfg.net.gossip_port);
    self.tpu_port = static_cast<std::uint16_t>(cfg.net.tpu_port);
    self.tpu_forwards_port = static_cast<std::uint16_t>(cfg.net.tpu_forwards_port);
    self.tvu_port = static_cast<std::uint16_t>(cfg.net.tvu_port);
    self.repair_port = static_cast<std::uint16_t>(cfg.net.repair_port);
    self.rpc_port = cfg.rpc.enabled ? static_cast<std::uint16_t>(cfg.rpc.port) : 0;
    // The start time, signed into our NodeInstance: values of our identity signed before it
    // are our previous incarnation's (restarted), not a second live process.
    self.wallclock_ms = util::unix_time_ns() / 1'000'000;
    gossip::gossip_tile_config gc;
    gc.engine.shred_version = shred_version;
    gc.engine.push_fanout = cfg.gossip.push_fanout;
    gc.engine.push_interval_ms = cfg.gossip.push_interval_ms;
    gc.engine.pull_interval_ms = cfg.gossip.pull_interval_ms;
    gc.engine.active_set_rotate_ms = cfg.gossip.active_set_rotate_ms;
    gc.engine.refresh_own_values_ms = cfg.gossip.refresh_own_values_ms;
    gc.engine.heartbeat_ms = cfg.gossip.heartbeat_ms;
    gc.engine.suspect_after_ms = cfg.gossip.suspect_after_ms;
    gc.engine.dead_after_ms = cfg.gossip.dead_after_ms;
    gc.engine.purge_after_ms = cfg.gossip.purge_after_ms;
    gc.engine.wallclock_tolerance_ms = cfg.gossip.wallclock_tolerance_ms;
    gc.engine.max_values = cfg.gossip.max_values;
    gc.engine.max_own_data_keys = cfg.gossip.max_own_data_keys;
    for (const auto& e : cfg.cluster.entrypoints) {
      const auto ep = *parse_endpoint(e);
      gc.entrypoints.push_back(gossip::socket_addr{ep.first, ep.second});
    }
    gc.seed = util::unix_time_ns() ^ (static_cast<std::uint64_t>(self.gossip_port) << 32);
    gc.gossip_port_kind = static_cast<std::uint16_t>(net::port_kind::gossip);
    auto* commands = shape.rpc ? &m.rings->in<gossip::gossip_command>("gossip", links::gossip_commands) : nullptr;
    m.gossip = std::make_unique<gossip::gossip_tile>(
        "gossip", m.identity, self, gc, m.net->rx_frames(), m.rings->in<frag>("gossip", links::gossip_rx),
        m.rings->out<frag>("gossip", links::gossip_rx_free), m.rings->out<frag>("gossip", links::gossip_tx),
        m.rings->in<frag>("gossip", links::gossip_tx_free), commands, &m.board);
    if (m.contacts) m.gossip->connect_contacts(*m.contacts);
    net_rx(net::port_kind::gossip, links::gossip_rx, links::gossip_rx_free);
    net_tx(links::gossip_tx, m.gossip->tx_frames(), links::gossip_tx_free);
  }
  // ---- Turbine: the leader's shred tile, or a follower's TVU and replay tiles
  if ((shape.shred || follower) && cfg.tvu.archive_shreds) {
    // (a validator's TVU archives every block of the chain, its own included)
    shred::shred_archive_config ac;
    ac.dir = std::filesystem::path(cfg.ledger.dir) / "shreds";
    ac.segment_bytes = static_cast<std::size_t>(cfg.tvu.archive_segment_mib) << 20;
    m.archive = std::make_unique<shred::shred_archive>(ac);
    if (m.archive->repair_report().cut)
      m.resume_note += fmt::format(" The shred archive was cut back at damage ({}).", m.archive->repair_report().reason);
    // Shreds of slots the ledger does not hold (lost with a cut tail, or never replayed) are
    // not served: this node may make or receive those slots again.
    if (const std::uint64_t dropped = m.archive->drop_from(resume ? resume->next_slot : 0); dropped != 0)
      m.resume_note += fmt::format(" The shred archive dropped {} shreds of slots past the ledger.", dropped);
  }
  if (shape.shred) {
    const auto& g = *cluster_genesis;
    tpu::shred_tile_config sc;
    sc.shred_version = shred_version;
    sc.fanout = g.turbine_fanout;
    sc.tx_frames = static_cast<std::uint32_t>(shape.shred_tx_frames);
    sc.store.max_shreds = cfg.tvu.store_shreds;
    sc.store.max_slots = cfg.tvu.store_slots;
    sc.repair.shred_version = shred_version;
    // A validator's TVU (replay's log) logs, archives and answers repair for every block, its
    // own included; its shred tile logs when its own blocks left, in a log of their own.
    sc.slot_log = validator ? m.sent_log_path() : m.slot_log_path();
    sc.archive = validator ? nullptr : m.archive.get();
    m.shredder = std::make_unique<tpu::shred_tile>(
        "shred", sc, m.identity, validator ? *m.produced_store : *m.ledger_store,
        m.rings->in<tpu::ledger_record_ref>("shred", tpu_records_link), *m.turbine, m.contacts->column(net::port_kind::tvu),
        tpu::shred_peers{m.peer_ids, m.contacts->column(net::port_kind::repair)}, m.net->rx_frames(),
        validator ? nullptr : &m.rings->in<frag>("shred", links::shred_repair_rx),
        validator ? nullptr : &m.rings->out<frag>("shred", links::shred_repair_free),
        m.rings->out<frag>("shred", links::shred_tx), m.rings->in<frag>("shred", links::shred_tx_free));
    if (!validator) net_rx(net::port_kind::repair, links::shred_repair_rx, links::shred_repair_free);
    net_tx(links::shred_tx, m.shredder->tx_frames(), links::shred_tx_free);
    if (validator)
      m.shredder->connect_own(static_cast<std::uint32_t>(shape.own_shred_frames),
                              m.rings->out<frag>("shred", links::own_shreds),
                              m.rings->in<frag>("shred", links::own_shreds_free));
  }
  if (follower || validator) {
    const auto& g = *cluster_genesis;
    const std::uint64_t first_slot = resume ? resume->next_slot : 0;
    tvu::tvu_tile_config tc;
    tc.resolver.shred_version = shred_version;
    tc.fanout = g.turbine_fanout;
    tc.tx_frames = static_cast<std::uint32_t>(shape.retransmit_frames);
    tc.tx_port = net::port_kind::tvu;
    tc.output_slots = 4;
    tc.max_slot_bytes = static_cast<std::size_t>(cfg.tvu.max_slot_mib) << 20;
    tc.root_slot = first_slot == 0 ? 0 : first_slot - 1;
    tc.deliver_from = first_slot;
    tc.forks = shape.consensus;  // replay keeps every fork until consensus roots one
    tvu::tvu_repair_links repair;
    repair.identity = &m.identity;
    repair.peer_ids = m.peer_ids;
    repair.peer_repair = m.contacts->column(net::port_kind::repair);
    repair.self_index = m.self_peer;
    repair.in = &m.rings->in<frag>("tvu", links::tvu_repair_rx);
    repair.release = &m.rings->out<frag>("tvu", links::tvu_repair_free);
    repair.store.max_shreds = cfg.tvu.store_shreds;
    repair.store.max_slots = cfg.tvu.store_slots;
    repair.server.shred_version = shred_version;
    repair.client.shred_version = shred_version;
    repair.client.retry_ms = cfg.tvu.repair_retry_ms;
    repair.client.seed = util::unix_time_ns() ^ m.self_peer;
    repair.interval_ms = cfg.tvu.repair_interval_ms;
    repair.defer_ms = cfg.tvu.repair_defer_ms;
    repair.archive = m.archive.get();
    m.repair_links = repair;
    auto& completed = m.rings->out<tvu::completed_slot>("tvu", links::completed);
    auto& completed_release = m.rings->in<tvu::completed_slot>("tvu", links::completed_release);
    m.tvu = std::make_unique<tvu::tvu_tile>(
        "tvu", tc, m.net->rx_frames(), m.rings->in<frag>("tvu", links::tvu_rx),
        m.rings->out<frag>("tvu", links::tvu_rx_free), m.rings->out<frag>("tvu", links::tvu_tx),
        m.rings->in<frag>("tvu", links::tvu_tx_free), completed, completed_release, *m.schedule, *m.turbine,
        m.identity.public_key(), m.contacts->column(net::port_kind::tvu), &*m.repair_links);
    m.tvu_window = std::make_unique<epoch::schedule_window>(*m.stakes, g.slots_per_epoch, first_slot);
    m.tvu->follow_epochs(*m.tvu_window);
    net_rx(net::port_kind::tvu, links::tvu_rx, links::tvu_rx_free);
    net_rx(net::port_kind::repair, links::tvu_repair_rx, links::tvu_repair_free);
    net_tx(links::tvu_tx, m.tvu->tx_frames(), links::tvu_tx_free);
    if (validator) {
      m.tvu->connect_own(*m.shredder->own_frames(), m.rings->in<frag>("tvu", links::own_shreds),
                         m.rings->out<frag>("tvu", links::own_shreds_free));
      m.rotation->arriving = &m.tvu->arriving();
      m.rotation->highest_seen = &m.tvu->highest_seen();
      m.tpu.poh->connect_rotation(*m.rotation);
    }
    tvu::replay_tile_config rtc;
    rtc.sync_at_slot_end = cfg.ledger.sync_at_slot_end;
    rtc.slot_log = m.slot_log_path();
    // Blocks waiting for a root each hold a bank: keep half the bank table for the rest (the
    // root, the node's own blocks, dead ones), so a long stall makes replay wait, never fail
    // a block for want of a bank (bank_table_full would refuse it and its children for good).
    if (m.forks) rtc.max_unrooted_blocks = std::max<std::size_t>(1, m.forks->stats().max_banks / 2);
    m.replay = std::make_unique<tvu::replay_tile>(
        "replay", rtc, *m.replayer, *m.ledger_store, *m.tvu, m.rings->in<tvu::completed_slot>("replay", links::completed),
        m.rings->out<tvu::completed_slot>("replay", links::completed_release), &m.board_chain);
    if (validator) {
      m.replay->connect_resets(&m.rings->out<tpu::poh_reset>("replay", links::resets));
      // Its bank tiles execute into the same forks: replay keeps out of their way, on the
      // ledger tile's core thread (node_topology keeps the two together).
      if (m.gate) m.replay->connect_leader(m.gate.get(), m.tpu.ledger.get());
      m.replay->connect_statuses(m.statuses.get());
    }
    if (shape.consensus) {
      // Votes: the stakes in the bank's voter order (the start state's), ours among them; the
      // tower from the last run, if any (a restart never votes against it); what the others
      // had voted by the ledger's tip, from the bank's vote states.
      consensus::vote_engine_config ec;
      for (const crypto::pubkey& voter : start_state.voters) {
        for (const auto& val : g.validators)
          if (val.id == voter) ec.stakes.push_back(val.stake);
        if (voter == m.identity.public_key()) ec.self = ec.stakes.size() - 1;
      }
      tvu::consensus_tile_config cc;
      cc.tower_path = std::filesystem::path(cfg.ledger.dir) / "tower.bin";
      cc.tx_frames = static_cast<std::uint32_t>(shape.consensus_tx_frames);
      const std::optional<consensus::tower_sync> restored = consensus::load_tower(cc.tower_path, m.identity.public_key());
      m.votes = std::make_unique<consensus::vote_engine>(ec, tc.root_slot, restored ? restored->votes : consensus::tower{});
      for (std::size_t voter = 0; voter < m.forks->voters(); ++voter)
        if (const auto state = m.forks->vote_state(m.forks->root(), voter)) m.votes->on_vote(voter, state->votes);
      m.consensus_window = std::make_unique<epoch::schedule_window>(*m.stakes, g.slots_per_epoch, first_slot);
      m.consensus = std::make_unique<tvu::consensus_tile>(
          "consensus", cc, m.identity, *m.votes, m.consensus_window->timeline(), *m.contacts, m.poh_clock, m.board_chain,
          m.rings->in<tvu::consensus_event>("consensus", links::consensus_events),
          m.rings->out<frag>("consensus", links::consensus_tx), m.rings->in<frag>("consensus", links::consensus_tx_free));
      m.consensus->follow_epochs(*m.consensus_window);
      net_tx(links::consensus_tx, m.consensus->tx_frames(), links::consensus_tx_free);
      m.replay->connect_consensus(&m.rings->out<tvu::consensus_event>("replay", links::consensus_events));
      // Roots and resets are consensus's: the ledger keeps the rooted chain, the TVU follows.
      m.consensus->connect_verdicts(&m.rings->out<tvu::consensus_verdict>("consensus", links::consensus_verdicts));
      m.replay->follow_consensus(&m.rings->in<tvu::consensus_verdict>("replay", links::consensus_verdicts));
      m.tvu->follow_roots(&m.board_chain);
      if (restored)
        m.resume_note += fmt::format("{}tower restored: last vote {}, root {}", m.resume_note.empty() ? "" : "; ",
                                     restored->votes.last_voted_slot().value_or(0),
                                     restored->votes.root() ? std::to_string(*restored->votes.root()) : "none");
    }
  }

  if (cfg.rpc.enabled) {
    rpc::http_api_config hc;
    hc.ip = cfg.rpc.ip;
    hc.port = static_cast<std::uint16_t>(cfg.rpc.port);
    hc.max_body_bytes = cfg.rpc.max_body_bytes;
    hc.max_own_data_keys = cfg.gossip.max_own_data_keys;
    hc.max_batch_body_bytes = cfg.rpc.max_batch_body_bytes;
    hc.metrics_path = cfg.metrics_path();
    hc.node_name = cfg.node.name;
    m.api = std::make_unique<rpc::http_api>(
        hc, m.gossip ? &m.board : nullptr,
        m.gossip ? &m.rings->out<gossip::gossip_command>("api", links::gossip_commands) : nullptr);
    rpc::http_chain_view view;
    view.board = &m.board_chain;
    view.forks = m.forks.get();
    view.statuses = m.statuses.get();
    if (cluster_genesis) {
      view.stakes = m.stakes.get();
      view.slots_per_epoch = cluster_genesis->slots_per_epoch;
    }
    view.produces = !follower;  // standalone and leader nodes run PoH for every slot
    if (validator) {
      const tpu::poh_tile* poh = m.tpu.poh.get();
      view.leading = [poh] { return poh->own_counter(tpu::poh_tile::c_leading) != 0; };
    }
    if (tpu_open) {
      view.tpu_ip = *parse_ipv4(cfg.net.ip);
      view.tpu_port = m.net->bound_port(net::port_kind::tpu);
    }
    m.api->set_chain(view);
  }
  // Every declared ring went to both of its ends (or this is a wiring bug: say which).
  m.rings->check_bound();

  // ---- core threads, as placed
  std::vector<util::tile*> built = m.tpu.all();
  for (util::tile* t : std::initializer_list<util::tile*>{m.net.get(), m.gossip.get(), m.load.get(),
                                                          m.shredder.get(), m.tvu.get(), m.replay.get(),
                                                          m.consensus.get()})
    if (t != nullptr) built.push_back(t);
  m.plan = make_plan(m.topo, built, [&](std::size_t c) {
    if (!cfg.layout.cpus.empty()) return static_cast<int>(cfg.layout.cpus[c]);
    return allowed.empty() ? -1 : allowed[c % allowed.size()];
  });
  // Every drop counter of every tile (tile.hpp, drop_counters()): the live line, the summary
  // and GET /drops name what was lost, where and why.
  for (const auto& p : m.plan)
    for (const util::tile* t : p.tiles) {
      const auto names = t->own_counter_names();
      for (std::size_t c : t->drop_counters()) {
        if (c >= names.size())
          throw std::logic_error(fmt::format("tile {}: drop counter {} is not one of its {} counters", t->name(), c,
                                             names.size()));
        m.drops.push_back({t, c, t->name(), std::string(names[c])});
      }
    }
  if (m.api) {
    std::vector<std::pair<std::string, std::string>> drop_names;
    for (const auto& d : m.drops) drop_names.emplace_back(d.tile_name, d.counter_name);
    m.api->set_drop_counters(std::move(drop_names));
  }
  util::runtime_options ro;
  ro.pin = cfg.layout.pin;
  ro.metrics = m.metrics.get();
  ro.housekeep_interval_ns = cfg.runtime.housekeep_interval_us * 1000;
  ro.idle.spins = static_cast<std::uint32_t>(cfg.runtime.idle_spins);
  ro.idle.pauses = static_cast<std::uint32_t>(cfg.runtime.idle_pauses);
  ro.idle.yields = static_cast<std::uint32_t>(cfg.runtime.idle_yields);
  ro.idle.min_sleep_us = static_cast<std::uint32_t>(cfg.runtime.idle_min_sleep_us);
  ro.idle.max_sleep_us = static_cast<std::uint32_t>(cfg.runtime.idle_max_sleep_us);
  m.rt = std::make_unique<util::runtime>(m.plan, ro);
}

node::~node() = default;

std::string node::describe_layout() const {
  std::string s;
  for (std::size_t c = 0; c < impl_->plan.size(); ++c) {
    s += fmt::format("  core thread {} (cpu {}{}):", c, impl_->plan[c].cpu,
                     impl_->cfg.layout.pin ? ", pinned" : ", not pinned");
    for (auto* t : impl_->plan[c].tiles) s += " " + t->name();
    s += "\n";
  }
  return s;
}

namespace {
struct totals {
  std::uint64_t hashes, slot, ticks, sent, verified, sig_failed, parse_failed, unique, duplicate;
  std::uint64_t too_old, unknown_blockhash, executed, ok, failed, tpu_rx;
  std::uint64_t gossip_rx, gossip_tx;
};
}  // namespace

run_summary node::run(const std::atomic<bool>& stop_requested, std::ostream& out) {
  auto& m = *impl_;
  auto own = [](const util::tile* t, std::size_t c) -> std::uint64_t {
    return t == nullptr ? 0 : t->own_counter(c);
  };
  auto read = [&]() {
    totals t{};
    t.hashes = own(m.tpu.poh.get(), tpu::poh_tile::c_hashes);
    t.ticks = own(m.tpu.poh.get(), tpu::poh_tile::c_ticks);
    t.slot = own(m.tpu.poh.get(), tpu::poh_tile::c_slot);
    t.sent = own(m.load.get(), tpu::load_tile::c_sent);
    for (auto& v : m.tpu.verifiers) {
      t.verified += own(v.get(), tpu::verify_tile::c_verified);
      t.sig_failed += own(v.get(), tpu::verify_tile::c_sig_failed);
      t.parse_failed += own(v.get(), tpu::verify_tile::c_parse_failed);
    }
    t.unique = own(m.tpu.dedup.get(), tpu::dedup_tile::c_unique);
    t.duplicate = own(m.tpu.dedup.get(), tpu::dedup_tile::c_duplicate);
    t.too_old = own(m.tpu.dedup.get(), tpu::dedup_tile::c_blockhash_too_old);
    t.unknown_blockhash = own(m.tpu.dedup.get(), tpu::dedup_tile::c_blockhash_unknown);
    for (auto& bt : m.tpu.banks) {
      t.executed += own(bt.get(), tpu::bank_tile::c_executed);
      t.ok += own(bt.get(), tpu::bank_tile::c_ok);
      t.failed += own(bt.get(), tpu::bank_tile::c_failed);
    }
    t.tpu_rx = own(m.net.get(), net::net_tile::c_rx_tpu);
    t.gossip_rx = own(m.gossip.get(), gossip::gossip_tile::c_rx_packets);
    t.gossip_tx = own(m.gossip.get(), gossip::gossip_tile::c_tx_packets);
    return t;
  };

  out << fmt::format("riptide node '{}': {} core thread(s), metrics at {}\n", m.cfg.node.name,
                     m.plan.size(), m.cfg.metrics_path().string())
      << describe_layout()
      << (m.role_note.empty() ? std::string() : "  " + m.role_note + "\n")
      << fmt::format("  poh: {} hashes/tick, {} ticks/slot, {}\n", m.cfg.poh.hashes_per_tick,
                     m.cfg.poh.ticks_per_slot,
                     m.cfg.poh.tick_us == 0 ? std::string("flat out")
                                            : fmt::format("sleep mode, {} us/tick", m.cfg.poh.tick_us))
      << std::flush;

  const auto t0 = std::chrono::steady_clock::now();
  if (m.api) {
    m.api->start();
    out << fmt::format("  http api on {}:{}\n", m.cfg.rpc.ip, m.cfg.rpc.port);
  }
  if (!m.resume_note.empty()) out << "  " << m.resume_note << "\n";
  if (!m.banking_note.empty()) out << "  " << m.banking_note << "\n";
  if (m.net) out << fmt::format("  net backend: {}\n", m.net->backend() == net::backend_kind::io_uring ? "io_uring" : "recvmmsg");
  if (m.gossip) {
    std::string id;
    for (auto b : m.identity.public_key()) id += fmt::format("{:02x}", b);
    out << fmt::format("  identity {} gossip {}:{}\n", id, m.cfg.net.ip, m.cfg.net.gossip_port);
  }
  out << std::flush;
  m.rt->start();
  std::vector<std::uint64_t> drops_last(m.drops.size(), 0);  // for the live line's rates
  totals prev{};
  bool duplicate_reported = false;
  auto prev_time = t0;
  const auto limit = std::chrono::seconds(m.cfg.node.run_seconds);
  for (;;) {
    const auto next = prev_time + std::chrono::seconds(1);
    bool done = false;
    while (std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const auto now = std::chrono::steady_clock::now();
      if (stop_requested.load() || (m.tpu.poh && m.tpu.poh->finished()) ||
          (m.cfg.node.run_seconds != 0 && now - t0 >= limit)) {
        done = true;
        break;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - prev_time).count();
    // Our identity live in another process: two leaders with one key would sign two
    // different blocks for the same slots. Stop leading at the end of this slot, say so.
    if (m.tpu.poh && m.gossip && !duplicate_reported) {
      const auto snap = m.board.latest();
      if (snap && snap->duplicate_identity) {
        m.tpu.poh->halt_at_slot_end();
        duplicate_reported = true;
        out << "ERROR: another live process signs gossip with this node's identity (gossip "
               "duplicate_identity_detected); this node stops leading at the end of the current slot "
               "and makes no more blocks. Stop one of the two processes.\n"
            << std::flush;
      }
    }
    const totals cur = read();
    m.sample_links();
    if (dt > 0.05) {
      m.metrics->heartbeat(util::unix_time_ns());
      std::string line =
          m.tpu.poh ? fmt::format("[{:6.1f}s] slot {:>5} tick {:>7} | poh {:7.3f} M hashes/s",
                              std::chrono::duration<double>(now - t0).count(), cur.slot, cur.ticks,
                              static_cast<double>(cur.hashes - prev.hashes) / dt / 1e6)
                : fmt::format("[{:6.1f}s] replayed slot {:>5}", std::chrono::duration<double>(now - t0).count(),
                              own(m.replay.get(), tvu::replay_tile::c_last_slot));
      if (m.shredder)
        line += fmt::format(" | shreds sent {} (no frame {}), repair answers {}",
                            own(m.shredder.get(), tpu::shred_tile::c_sent),
                            own(m.shredder.get(), tpu::shred_tile::c_send_no_frame),
                            own(m.shredder.get(), tpu::shred_tile::c_repair_responses));
      if (m.tvu)
        line += fmt::format(" | shreds in {} recovered {} (data) repaired {} retransmitted {}",
                            own(m.tvu.get(), tvu::tvu_tile::c_accepted),
                            own(m.tvu.get(), tvu::tvu_tile::c_recovered_data),
                            own(m.tvu.get(), tvu::tvu_tile::c_repaired),
                            own(m.tvu.get(), tvu::tvu_tile::c_retransmitted));
      if (m.replay)
        line += fmt::format(" | stored {} slots ({} txs), dead {}, durable slot {}",
                            own(m.replay.get(), tvu::replay_tile::c_slots_stored),
                            own(m.replay.get(), tvu::replay_tile::c_txs),
                            own(m.replay.get(), tvu::replay_tile::c_slots_dead),
                            own(m.replay.get(), tvu::replay_tile::c_durable_slot));
      if (m.tpu.ledger)
        line += fmt::format(" | ledger {} entries, durable slot {}",
                            own(m.tpu.ledger.get(), tpu::ledger_tile::c_entries),
                            own(m.tpu.ledger.get(), tpu::ledger_tile::c_durable_slot));
      if (m.gossip)
        line += fmt::format(" | gossip peers {} values {} rx {:.0f}/s tx {:.0f}/s",
                            own(m.gossip.get(), gossip::gossip_tile::c_peers_active),
                            own(m.gossip.get(), gossip::gossip_tile::c_table_size),
                            static_cast<double>(cur.gossip_rx - prev.gossip_rx) / dt,
                            static_cast<double>(cur.gossip_tx - prev.gossip_tx) / dt);
      auto rate = [&](std::uint64_t a, std::uint64_t b) { return static_cast<double>(a - b) / dt; };
      if (m.load) line += fmt::format(" | load sent {:.0f}/s", rate(cur.sent, prev.sent));
      if (!m.tpu.verifiers.empty())
        line += fmt::format(" | tpu rx {:.0f}/s verified {:.0f}/s bad {:.0f}/s dup {:.0f}/s blockhash old {:.0f}/s "
                            "unknown {:.0f}/s",
                            rate(cur.tpu_rx, prev.tpu_rx), rate(cur.verified, prev.verified),
                            rate(cur.sig_failed + cur.parse_failed, prev.sig_failed + prev.parse_failed),
                            rate(cur.duplicate, prev.duplicate), rate(cur.too_old, prev.too_old),
                            rate(cur.unknown_blockhash, prev.unknown_blockhash));
      if (!m.tpu.banks.empty())
        line += fmt::format(" | bank {:.0f} tx/s (failed {:.0f}/s), {} tx total", rate(cur.executed, prev.executed),
                            rate(cur.failed, prev.failed), cur.executed);
      std::string lost;
      for (std::size_t i = 0; i < m.drops.size(); ++i) {
        const auto& d = m.drops[i];
        const std::uint64_t v = d.tile->own_counter(d.counter);
        if (v != drops_last[i])
          lost += fmt::format(" {}.{} {:.0f}/s", d.tile_name, d.counter_name,
                              static_cast<double>(v - drops_last[i]) / dt);
        drops_last[i] = v;
      }
      if (!lost.empty()) line += " | DROPS" + lost;
      out << line << "\n" << std::flush;
    }
    prev = cur;
    prev_time = now;
    if (done) break;
  }
  run_summary s;
  s.drained_cleanly = m.rt->stop();
  m.sample_links();
  if (m.api) m.api->stop();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const totals fin = read();
  s.hashes = m.tpu.poh ? m.tpu.poh->hash_count() : 0;
  s.ticks = m.tpu.poh ? m.tpu.poh->tick_count() : 0;
  s.slots = m.tpu.poh ? m.tpu.poh->slot() : 0;
  s.tx_sent = fin.sent;
  s.tx_verified = fin.verified;
  s.tx_sig_failed = fin.sig_failed;
  s.tx_parse_failed = fin.parse_failed;
  s.tx_unique = fin.unique;
  s.tx_duplicate = fin.duplicate;
  s.tx_blockhash_too_old = fin.too_old;
  s.tx_blockhash_unknown = fin.unknown_blockhash;
  const std::uint64_t first_slot = m.poh_start_tick / m.cfg.poh.ticks_per_slot;
  // A validator makes blocks for its own slots only: PoH counts them.
  s.slots_produced = m.role == node_role::validator && m.tpu.poh
                         ? m.tpu.poh->own_counter(tpu::poh_tile::c_slots_produced)
                         : s.slots - std::min(s.slots, first_slot);
  s.tx_received = fin.tpu_rx;
  if (m.tpu.poh) out << fmt::format(
      "summary: {:.1f} s, {} slots, {} ticks, {} hashes ({:.3f} M hashes/s average){}\n",
      s.seconds, s.slots - first_slot, s.ticks - m.poh_start_tick, s.hashes,
      static_cast<double>(s.hashes) / s.seconds / 1e6,
      first_slot != 0 ? fmt::format(", resumed at slot {}", first_slot) : std::string());
  if (!m.tpu.verifiers.empty())
    out << fmt::format(
        "summary: tpu received {}, load sent {}, verified {}, bad signature {}, unparseable {}, "
        "unique {}, duplicate {}, blockhash too old {}, blockhash unknown {} ({:.0f} verified tx/s)\n",
        fin.tpu_rx, s.tx_sent, s.tx_verified, s.tx_sig_failed, s.tx_parse_failed, s.tx_unique,
        s.tx_duplicate, s.tx_blockhash_too_old, s.tx_blockhash_unknown,
        static_cast<double>(s.tx_verified) / s.seconds);
  if (!m.tpu.banks.empty()) {
    txn::execution_counters all;
    for (auto& bt : m.tpu.banks) all.add(bt->execution());
    s.tx_executed = all.executed();
    s.tx_ok = all.count(txn::tx_result::ok);
    std::string failures;
    for (std::size_t r = 1; r < txn::tx_result_count; ++r)
      if (all.by_result[r] != 0)
        failures += fmt::format(" {}={}", txn::to_string(static_cast<txn::tx_result>(r)), all.by_result[r]);
    out << fmt::format("summary: bank executed {} ({:.0f} tx/s), ok {}, failed {}{}{}, fees {} lamports\n",
                       all.executed(), static_cast<double>(all.executed()) / s.seconds,
                       all.count(txn::tx_result::ok), all.executed() - all.count(txn::tx_result::ok),
                       failures.empty() ? "" : ":", failures, all.fees_collected_lamports);
  }
  if (m.shredder)
    out << fmt::format("summary: shred: {} slots, {} data + {} coding shreds, sent {}, not sent {} (no frame) {} "
                       "(ring full); repair requests {}, answers {}\n",
                       own(m.shredder.get(), tpu::shred_tile::c_slots), own(m.shredder.get(), tpu::shred_tile::c_data_shreds),
                       own(m.shredder.get(), tpu::shred_tile::c_coding_shreds), own(m.shredder.get(), tpu::shred_tile::c_sent),
                       own(m.shredder.get(), tpu::shred_tile::c_send_no_frame),
                       own(m.shredder.get(), tpu::shred_tile::c_send_ring_full),
                       own(m.shredder.get(), tpu::shred_tile::c_repair_requests),
                       own(m.shredder.get(), tpu::shred_tile::c_repair_responses));
  if (m.tvu) {
    const auto* t = m.tvu.get();
    std::uint64_t dropped = 0;
    for (std::size_t r = 1; r < shred::drop_reason_count; ++r)
      dropped += own(t, tvu::tvu_tile::drop_counter(static_cast<shred::drop_reason>(r)));
    out << fmt::format("summary: tvu: received {}, accepted {}, dropped {}, recovered {} (data {}), repaired {} "
                       "(requests {}, unmatched answers {}), retransmitted {}, slots delivered {} (rejected {}); "
                       "served {} repair answers\n",
                       own(t, tvu::tvu_tile::c_received), own(t, tvu::tvu_tile::c_accepted), dropped,
                       own(t, tvu::tvu_tile::c_recovered), own(t, tvu::tvu_tile::c_recovered_data),
                       own(t, tvu::tvu_tile::c_repaired),
                       own(t, tvu::tvu_tile::c_repair_sent), own(t, tvu::tvu_tile::c_repair_unmatched),
                       own(t, tvu::tvu_tile::c_retransmitted), own(t, tvu::tvu_tile::c_slots_delivered),
                       own(t, tvu::tvu_tile::c_slots_rejected), own(t, tvu::tvu_tile::c_repair_served));
  }
  if (m.shredder || m.tvu)
    out << fmt::format("summary: net: injected drops {}, duplicates {}, reordered {}; kernel drops {}; no frame {}, "
                       "ring full {}\n",
                       own(m.net.get(), net::net_tile::c_fault_dropped), own(m.net.get(), net::net_tile::c_fault_duplicated),
                       own(m.net.get(), net::net_tile::c_fault_reordered), own(m.net.get(), net::net_tile::c_rx_kernel_drops),
                       own(m.net.get(), net::net_tile::c_rx_dropped_no_frame),
                       own(m.net.get(), net::net_tile::c_rx_dropped_ring_full));
  if (m.replay)
    out << fmt::format("summary: replay: stored {} slots (last {}), {} txs ({} failed), dead slots {}{}\n",
                       own(m.replay.get(), tvu::replay_tile::c_slots_stored),
                       own(m.replay.get(), tvu::replay_tile::c_last_slot), own(m.replay.get(), tvu::replay_tile::c_txs),
                       own(m.replay.get(), tvu::replay_tile::c_failed_txs),
                       own(m.replay.get(), tvu::replay_tile::c_slots_dead),
                       m.replay->first_problem().empty() ? std::string() : " -- first: " + m.replay->first_problem());
  {
    std::vector<std::pair<std::uint64_t, std::string>> lost;
    for (const auto& d : m.drops)
      if (const std::uint64_t v = d.tile->own_counter(d.counter); v != 0)
        lost.emplace_back(v, d.tile_name + "." + d.counter_name);
    std::sort(lost.begin(), lost.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string text;
    for (const auto& [v, label] : lost) text += fmt::format(" {}={}", label, v);
    out << "summary: drops:" << (text.empty() ? std::string(" none") : text) << "\n";
  }
  out << fmt::format("summary: pipeline {} on stop\n",
                     s.drained_cleanly ? "drained cleanly" : "did NOT drain within the timeout");
  for (const auto& p : m.plan)
    for (const util::tile* t : p.tiles) {
      run_summary::tile_counters tc{t->name(), {}};
      const auto names = t->own_counter_names();
      for (std::size_t c = 0; c < names.size(); ++c) tc.counters.emplace_back(std::string(names[c]), t->own_counter(c));
      s.tiles.push_back(std::move(tc));
    }
  return s;
}

std::string to_json(const run_summary& s) {
  return nlohmann::json{{"seconds", s.seconds},
                        {"hashes", s.hashes},
                        {"ticks", s.ticks},
                        {"slot", s.slots},
                        {"slots_produced", s.slots_produced},
                        {"tx_received", s.tx_received},
                        {"tx_sent", s.tx_sent},
                        {"tx_verified", s.tx_verified},
                        {"tx_sig_failed", s.tx_sig_failed},
                        {"tx_parse_failed", s.tx_parse_failed},
                        {"tx_unique", s.tx_unique},
                        {"tx_duplicate", s.tx_duplicate},
                        {"tx_blockhash_too_old", s.tx_blockhash_too_old},
                        {"tx_blockhash_unknown", s.tx_blockhash_unknown},
                        {"tx_executed", s.tx_executed},
                        {"tx_ok", s.tx_ok},
                        {"drained_cleanly", s.drained_cleanly},
                        {"tiles", [&] {
                           nlohmann::json tiles = nlohmann::json::object();
                           for (const auto& t : s.tiles) {
                             nlohmann::json counters = nlohmann::json::object();
                             for (const auto& [name, value] : t.counters) counters[name] = value;
                             tiles[t.tile] = std::move(counters);
                           }
                           return tiles;
                         }()}}
      .dump(2);
}

}  // namespace riptide::node
