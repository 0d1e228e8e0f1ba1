#include <riptide/node/config.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <variant>

#include <toml++/toml.h>

namespace riptide::node {

namespace {

using u64_ref = std::uint64_t& (*)(config&);
using bool_ref = bool& (*)(config&);
using string_ref = std::string& (*)(config&);
using ints_ref = std::vector<std::int64_t>& (*)(config&);
using layout_ref = std::vector<std::vector<std::string>>& (*)(config&);

struct field {
  std::string_view key;  // "section.name"
  std::string_view doc;
  std::variant<u64_ref, bool_ref, string_ref, ints_ref, layout_ref> ref;
};

#define RT_FIELD(sec, name, doc) \
  field { #sec "." #name, doc, +[](config& c) -> auto& { return c.sec.name; } }

const std::vector<field>& fields() {
  static const std::vector<field> all = {
      RT_FIELD(node, name, "Node name: labels logs and the metrics file."),
      RT_FIELD(node, run_seconds, "Stop by itself after this many seconds; 0 runs until SIGINT/SIGTERM."),
      RT_FIELD(layout, cores,
               "Tiles per core thread, e.g. [[\"poh\"], [\"load\", \"verify\", \"dedup\"]]. Tile "
               "names: poh, load, verify, dedup. Empty = auto: poh on the first core, the rest "
               "spread over the others."),
      RT_FIELD(layout, pin, "Pin each core thread to its CPU (pthread_setaffinity_np)."),
      RT_FIELD(layout, cpus, "CPU of core thread i; empty = the CPUs this process may use, in order."),
      RT_FIELD(poh, hashes_per_tick, "SHA-256 hashes per PoH tick (from genesis in a cluster)."),
      RT_FIELD(poh, ticks_per_slot, "PoH ticks per slot."),
      RT_FIELD(poh, tick_us, "Wall-clock target per tick in microseconds (sleep mode, for small "
                             "machines); 0 hashes flat out and takes a whole core."),
      RT_FIELD(poh, hashes_per_poll, "Hashes per poll of the PoH tile (bounds its time slice)."),
      RT_FIELD(poh, max_slots, "Stop the chain after this many slots; 0 = never."),
      RT_FIELD(verify, tiles, "Number of signature-verify tiles (work is sharded round-robin)."),
      RT_FIELD(verify, pubkey_cache_entries, "Parsed public keys cached per verify tile (power of two)."),
      RT_FIELD(verify, batch, "Packets a verify tile takes per poll (1..64)."),
      RT_FIELD(verify, ring_entries, "Slots in each ring into and out of the verify tiles (power of two)."),
      RT_FIELD(load, enabled, "Feed the verify tiles with synthetic signed transfers."),
      RT_FIELD(load, rate_tps, "Synthetic transactions per second; 0 = as fast as they are taken."),
      RT_FIELD(load, distinct_transactions, "Distinct signed transfers generated at start-up."),
      RT_FIELD(load, duplicate_percent, "Percent of sends that repeat an earlier transaction (0..100)."),
      RT_FIELD(load, invalid_percent, "Percent of distinct transactions with a corrupted signature (0..100)."),
      RT_FIELD(dedup, cache_entries, "Recent signature tags remembered by the dedup tile."),
      RT_FIELD(runtime, idle_spins, "Idle passes that just spin before backing off."),
      RT_FIELD(runtime, idle_pauses, "Then idle passes with a pause instruction."),
      RT_FIELD(runtime, idle_yields, "Then idle passes with sched_yield()."),
      RT_FIELD(runtime, idle_min_sleep_us, "Then sleeps starting at this many microseconds…"),
      RT_FIELD(runtime, idle_max_sleep_us, "…doubling up to this many."),
      RT_FIELD(runtime, housekeep_interval_us, "How often tiles flush metrics and run timers."),
      RT_FIELD(metrics, path, "Shared-memory metrics file read by `riptide monitor`; {name} = node.name."),
  };
  return all;
}
#undef RT_FIELD

const field* find_field(std::string_view key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

[[noreturn]] void fail(std::string_view origin, std::string_view key, const std::string& what) {
  throw config_error(std::string(origin) + ": " + std::string(key) + ": " + what);
}

std::string type_name(const toml::node& n) {
  std::ostringstream os;
  os << n.type();
  return os.str();
}

void set_from_toml(const field& f, const toml::node& n, std::string_view origin, config& cfg) {
  std::visit(
      [&](auto ref) {
        using R = decltype(ref);
        if constexpr (std::is_same_v<R, u64_ref>) {
          const auto v = n.value<std::int64_t>();
          if (!n.is_integer() || !v || *v < 0)
            fail(origin, f.key, "expected a non-negative integer, got " + type_name(n));
          ref(cfg) = static_cast<std::uint64_t>(*v);
        } else if constexpr (std::is_same_v<R, bool_ref>) {
          if (!n.is_boolean()) fail(origin, f.key, "expected true or false, got " + type_name(n));
          ref(cfg) = *n.value<bool>();
        } else if constexpr (std::is_same_v<R, string_ref>) {
          if (!n.is_string()) fail(origin, f.key, "expected a string, got " + type_name(n));
          ref(cfg) = *n.value<std::string>();
        } else if constexpr (std::is_same_v<R, ints_ref>) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(origin, f.key, "expected an array of integers, got " + type_name(n));
          std::vector<std::int64_t> out;
          for (const auto& e : *arr) {
            if (!e.is_integer()) fail(origin, f.key, "expected an array of integers");
            out.push_back(*e.value<std::int64_t>());
          }
          ref(cfg) = std::move(out);
        } else {
          if (const auto s = n.value<std::string>(); s && *s == "auto") {
            ref(cfg).clear();
            return;
          }
          const auto* arr = n.as_array();
          if (arr == nullptr)
            fail(origin, f.key, "expected \"auto\" or an array of arrays of tile names");
          std::vector<std::vector<std::string>> out;
          for (const auto& core : *arr) {
            const auto* tiles = core.as_array();
            if (tiles == nullptr) fail(origin, f.key, "each core must be an array of tile names");
            auto& names = out.emplace_back();
            for (const auto& t : *tiles) {
              if (!t.is_string()) fail(origin, f.key, "tile names must be strings");
              names.push_back(*t.value<std::string>());
            }
          }
          ref(cfg) = std::move(out);
        }
      },
      f.ref);
}

bool power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

void require(bool ok, std::string_view key, const std::string& what) {
  if (!ok) throw config_error(std::string(key) + ": " + what);
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string format_value(const field& f, config& cfg) {
  return std::visit(
      [&](auto ref) -> std::string {
        using R = decltype(ref);
        if constexpr (std::is_same_v<R, u64_ref>) {
          return std::to_string(ref(cfg));
        } else if constexpr (std::is_same_v<R, bool_ref>) {
          return ref(cfg) ? "true" : "false";
        } else if constexpr (std::is_same_v<R, string_ref>) {
          return quote(ref(cfg));
        } else if constexpr (std::is_same_v<R, ints_ref>) {
          std::string s = "[";
          for (std::size_t i = 0; i < ref(cfg).size(); ++i)
            s += (i ? ", " : "") + std::to_string(ref(cfg)[i]);
          return s + "]";
        } else {
          if (ref(cfg).empty()) return "\"auto\"";
          std::string s = "[";
          for (std::size_t i = 0; i < ref(cfg).size(); ++i) {
            s += i ? ", [" : "[";
            for (std::size_t j = 0; j < ref(cfg)[i].size(); ++j)
              s += (j ? ", " : "") + quote(ref(cfg)[i][j]);
            s += "]";
          }
          return s + "]";
        }
      },
      f.ref);
}

}  // namespace

void load_config_text(std::string_view toml_text, std::string_view origin, config& cfg) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": invalid TOML: " << e.description();
    throw config_error(os.str());
  }
  for (const auto& [section, value] : root) {
    const auto* table = value.as_table();
    if (table == nullptr)
      fail(origin, section.str(), "unknown key (settings live in sections such as [poh])");
    for (const auto& [name, node] : *table) {
      const std::string key = std::string(section.str()) + "." + std::string(name.str());
      const field* f = find_field(key);
      if (f == nullptr) fail(origin, key, "unknown key");
      set_from_toml(*f, node, origin, cfg);
    }
  }
}

void load_config_file(const std::filesystem::path& path, config& cfg) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw config_error(path.string() + ": cannot read config file (missing or not a file)");
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) throw config_error(path.string() + ": cannot read config file");
  load_config_text(buf.str(), path.string(), cfg);
}

void apply_override(std::string_view key, std::string_view value, config& cfg) {
  const field* f = find_field(key);
  if (f == nullptr) throw config_error("--set: " + std::string(key) + ": unknown key");
  // Values are TOML literals, so `--set node.name=a` works unquoted for strings too.
  std::string text = "v = " + std::string(value);
  if (std::holds_alternative<string_ref>(f->ref) && (value.empty() || value.front() != '"'))
    text = "v = " + quote(std::string(value));
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw config_error("--set: " + std::string(key) + ": invalid value '" + std::string(value) +
                       "': " + std::string(e.description()));
  }
  set_from_toml(*f, *t.get("v"), "--set", cfg);
}

void apply_override(std::string_view assignment, config& cfg) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw config_error("--set: expected section.key=value, got '" + std::string(assignment) + "'");
  apply_override(assignment.substr(0, eq), assignment.substr(eq + 1), cfg);
}

void config::validate() const {
  require(!node.name.empty() && node.name.size() <= 32 &&
              std::all_of(node.name.begin(), node.name.end(),
                          [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_'; }),
          "node.name", "must be 1..32 characters of [A-Za-z0-9_-]");
  require(poh.hashes_per_tick >= 2, "poh.hashes_per_tick", "must be >= 2");
  require(poh.ticks_per_slot >= 1, "poh.ticks_per_slot", "must be >= 1");
  require(poh.hashes_per_poll >= 1 && poh.hashes_per_poll <= 1'000'000, "poh.hashes_per_poll",
          "must be in 1..1000000");
  require(poh.tick_us <= 10'000'000, "poh.tick_us", "must be <= 10000000 (10 s)");
  require(verify.tiles <= 64, "verify.tiles", "must be in 0..64");
  require(power_of_two(verify.pubkey_cache_entries), "verify.pubkey_cache_entries",
          "must be a power of two");
  require(verify.batch >= 1 && verify.batch <= 64, "verify.batch", "must be in 1..64");
  require(power_of_two(verify.ring_entries) && verify.ring_entries >= 16,
          "verify.ring_entries", "must be a power of two >= 16");
  require(!load.enabled || verify.tiles >= 1, "load.enabled", "needs verify.tiles >= 1");
  require(load.distinct_transactions >= 1 && load.distinct_transactions <= 1'000'000,
          "load.distinct_transactions", "must be in 1..1000000");
  require(load.duplicate_percent <= 100, "load.duplicate_percent", "must be in 0..100");
  require(load.invalid_percent <= 100, "load.invalid_percent", "must be in 0..100");
  require(dedup.cache_entries >= 1 && dedup.cache_entries <= (1ULL << 26), "dedup.cache_entries",
          "must be in 1..67108864");
  require(runtime.idle_min_sleep_us >= 1 && runtime.idle_min_sleep_us <= runtime.idle_max_sleep_us,
          "runtime.idle_min_sleep_us", "must be >= 1 and <= runtime.idle_max_sleep_us");
  require(runtime.idle_max_sleep_us <= 100'000, "runtime.idle_max_sleep_us", "must be <= 100000");
  require(runtime.housekeep_interval_us >= 10, "runtime.housekeep_interval_us", "must be >= 10");
  require(!metrics.path.empty(), "metrics.path", "must not be empty");
  for (auto cpu : layout.cpus) require(cpu >= 0 && cpu < 4096, "layout.cpus", "CPU numbers must be in 0..4095");
  if (!layout.cores.empty()) {
    std::map<std::string, std::uint64_t> seen;
    for (const auto& core : layout.cores) {
      require(!core.empty(), "layout.cores", "a core thread must run at least one tile");
      for (const auto& t : core) {
        require(t == "poh" || t == "verify" || t == "load" || t == "dedup", "layout.cores",
                "unknown tile '" + t + "' (known: poh, load, verify, dedup)");
        ++seen[t];
      }
    }
    require(seen["poh"] == 1, "layout.cores", "must place exactly one poh tile");
    require(seen["verify"] == verify.tiles, "layout.cores",
            "places " + std::to_string(seen["verify"]) + " verify tiles but verify.tiles = " +
                std::to_string(verify.tiles));
    const std::uint64_t want_pipeline = verify.tiles > 0 ? 1 : 0;
    require(seen["dedup"] == want_pipeline, "layout.cores",
            verify.tiles > 0 ? "must place exactly one dedup tile" : "dedup needs verify tiles");
    require(seen["load"] == (load.enabled ? 1u : 0u), "layout.cores",
            load.enabled ? "must place exactly one load tile (load.enabled = true)"
                         : "places a load tile but load.enabled = false");
    require(layout.cpus.empty() || layout.cpus.size() >= layout.cores.size(), "layout.cpus",
            "names fewer CPUs than layout.cores has core threads");
  }
}

std::filesystem::path config::metrics_path() const {
  std::string p = metrics.path;
  for (auto pos = p.find("{name}"); pos != std::string::npos; pos = p.find("{name}"))
    p.replace(pos, 6, node.name);
  return p;
}

std::string format_config(const config& cfg_in) {
  config cfg = cfg_in;
  std::string out =
      "# riptide node configuration. Every key is optional; shown values are the defaults.\n";
  std::string section;
  for (const auto& f : fields()) {
    const auto dot = f.key.find('.');
    const std::string sec(f.key.substr(0, dot));
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += "# " + std::string(f.doc) + "\n";
    out += std::string(f.key.substr(dot + 1)) + " = " + format_value(f, cfg) + "\n";
  }
  return out;
}

std::string format_defaults() { return format_config(config{}); }

}  // namespace riptide::node
