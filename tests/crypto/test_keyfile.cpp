#include <riptide/crypto/keyfile.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using namespace riptide::crypto;
namespace fs = std::filesystem;

// A fixed key so expected texts can be written out.
keypair fixed_key() {
  seckey secret{};
  secret[31] = 3;  // BIP-340 test vector 0
  return keypair::from_secret(secret);
}

const std::string fixed_text =
    "riptide-keyfile v1\n"
    "secret 0000000000000000000000000000000000000000000000000000000000000003\n"
    "pubkey f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9\n";

keyfile_error parse(const std::string& text) {
  keypair kp;
  return parse_keyfile(text, kp);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

struct temp_dir : riptide::testing::temp_dir {
  temp_dir() : riptide::testing::temp_dir("riptide-keyfile") {}
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

// Expects fn to throw std::runtime_error whose message starts with "<path>: " and contains
// needle.
template <typename Fn>
void expect_path_error(const fs::path& path, const std::string& needle, Fn&& fn) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected: " << needle;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0U) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

// ------------------------------------------------------------------------ text format

TEST(keyfile, format_is_canonical_and_round_trips) {
  const keypair kp = fixed_key();
  const std::string text = format_keyfile(kp);
  EXPECT_EQ(text, fixed_text);
  EXPECT_EQ(text.size(), keyfile_v1_bytes);
  keypair parsed;
  ASSERT_EQ(parse_keyfile(text, parsed), keyfile_error::none);
  EXPECT_EQ(parsed.secret_key(), kp.secret_key());
  EXPECT_EQ(parsed.public_key(), kp.public_key());

  const keypair fresh = keypair::generate();
  ASSERT_EQ(parse_keyfile(format_keyfile(fresh), parsed), keyfile_error::none);
  EXPECT_EQ(parsed.public_key(), fresh.public_key());
}

TEST(keyfile, format_rejects_empty_keypair) {
  EXPECT_THROW((void)format_keyfile(keypair{}), std::invalid_argument);
}

TEST(keyfile, failed_parse_leaves_output_untouched) {
  keypair out = fixed_key();
  EXPECT_EQ(parse_keyfile("nonsense\n", out), keyfile_error::bad_header);
  EXPECT_EQ(out.public_key(), fixed_key().public_key());
}

TEST(keyfile, error_truncated) {
  EXPECT_EQ(parse(""), keyfile_error::truncated);
  EXPECT_EQ(parse("riptide-keyfile v1"), keyfile_error::truncated);
  EXPECT_EQ(parse(fixed_text.substr(0, 19)), keyfile_error::truncated);
  EXPECT_EQ(parse(fixed_text.substr(0, 60)), keyfile_error::truncated);
  EXPECT_EQ(parse(fixed_text.substr(0, fixed_text.size() - 1)), keyfile_error::truncated);
}

TEST(keyfile, error_bad_header) {
  EXPECT_EQ(parse(replace(fixed_text, "riptide-keyfile v1", "riptide-keyfile 1")),
            keyfile_error::bad_header);
  EXPECT_EQ(parse(replace(fixed_text, "riptide-keyfile v1", "riptide-keyfile v")),
            keyfile_error::bad_header);
  EXPECT_EQ(parse(replace(fixed_text, "riptide-keyfile v1", "riptide-keyfile v1 ")),
            keyfile_error::bad_header);
  EXPECT_EQ(parse(replace(fixed_text, "riptide-keyfile v1", "solana-keypair v1")),
            keyfile_error::bad_header);
  EXPECT_EQ(parse("[1,2,3]\n"), keyfile_error::bad_header);
}

TEST(keyfile, error_unsupported_version) {
  EXPECT_EQ(parse(replace(fixed_text, "v1", "v2")), keyfile_error::unsupported_version);
  EXPECT_EQ(parse(replace(fixed_text, "v1", "v01")), keyfile_error::unsupported_version);
  EXPECT_EQ(parse(replace(fixed_text, "v1", "v0")), keyfile_error::unsupported_version);
}

TEST(keyfile, error_bad_secret_label) {
  EXPECT_EQ(parse(replace(fixed_text, "secret ", "secret:")), keyfile_error::bad_secret_label);
  EXPECT_EQ(parse(replace(fixed_text, "secret ", "pubkey ")), keyfile_error::bad_secret_label);
}

TEST(keyfile, error_bad_secret_length) {
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "003\n")), keyfile_error::bad_secret_length);
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "00003\n")), keyfile_error::bad_secret_length);
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "0003\r\n")), keyfile_error::bad_secret_length);
}

TEST(keyfile, error_bad_secret_hex) {
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "000g\n")), keyfile_error::bad_secret_hex);
  // Uppercase is rejected so the text stays canonical.
  EXPECT_EQ(parse(replace(fixed_text, "secret 00", "secret 0A")), keyfile_error::bad_secret_hex);
}

TEST(keyfile, error_bad_pubkey_label) {
  EXPECT_EQ(parse(replace(fixed_text, "pubkey ", "public ")), keyfile_error::bad_pubkey_label);
}

TEST(keyfile, error_bad_pubkey_length) {
  EXPECT_EQ(parse(replace(fixed_text, "36f9\n", "36f\n")), keyfile_error::bad_pubkey_length);
}

TEST(keyfile, error_bad_pubkey_hex) {
  EXPECT_EQ(parse(replace(fixed_text, "36f9\n", "36F9\n")), keyfile_error::bad_pubkey_hex);
}

TEST(keyfile, error_invalid_secret) {
  // Zero.
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "0000\n")), keyfile_error::invalid_secret);
  // The curve order n.
  const std::string n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
  EXPECT_EQ(parse(replace(fixed_text,
                          "0000000000000000000000000000000000000000000000000000000000000003",
                          n)),
            keyfile_error::invalid_secret);
}

TEST(keyfile, error_pubkey_mismatch) {
  EXPECT_EQ(parse(replace(fixed_text, "36f9\n", "36f8\n")), keyfile_error::pubkey_mismatch);
  // A valid key pair's pubkey under another secret.
  EXPECT_EQ(parse(replace(fixed_text, "0003\n", "0004\n")), keyfile_error::pubkey_mismatch);
}

TEST(keyfile, error_trailing_data) {
  EXPECT_EQ(parse(fixed_text + "\n"), keyfile_error::trailing_data);
  EXPECT_EQ(parse(fixed_text + "comment"), keyfile_error::trailing_data);
}

TEST(keyfile, every_error_has_a_distinct_message) {
  std::set<std::string> seen;
  for (int e = 0; e <= static_cast<int>(keyfile_error::trailing_data); ++e) {
    const char* s = to_string(static_cast<keyfile_error>(e));
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(seen.insert(s).second) << s;
  }
}

// --------------------------------------------------------------------------------- files

TEST(keyfile_disk, write_load_round_trip_with_mode_0600) {
  temp_dir dir;
  const fs::path path = dir.path() / "validator.key";
  const keypair kp = keypair::generate();
  write_keyfile(path, kp);
  EXPECT_EQ(mode_of(path), 0600U);
  EXPECT_EQ(slurp(path), format_keyfile(kp));
  const keypair loaded = load_keyfile(path);
  EXPECT_EQ(loaded.secret_key(), kp.secret_key());
  EXPECT_EQ(loaded.public_key(), kp.public_key());
}

TEST(keyfile_disk, mode_is_0600_whatever_the_umask) {
  temp_dir dir;
  for (const mode_t mask : {mode_t{0}, mode_t{0177}, mode_t{0777}}) {
    const mode_t old = ::umask(mask);
    const fs::path path = dir.path() / (std::to_string(mask) + ".key");
    write_keyfile(path, fixed_key());
    write_keyfile(path, fixed_key(), /*overwrite=*/true);
    ::umask(old);
    EXPECT_EQ(mode_of(path), 0600U) << "umask " << mask;
  }
}

TEST(keyfile_disk, refuses_to_overwrite) {
  temp_dir dir;
  const fs::path path = dir.path() / "id.key";
  const keypair first = keypair::generate();
  write_keyfile(path, first);
  expect_path_error(path, "already exists", [&] { write_keyfile(path, keypair::generate()); });
  EXPECT_EQ(load_keyfile(path).public_key(), first.public_key());
}

TEST(keyfile_disk, overwrite_replaces_atomically) {
  temp_dir dir;
  const fs::path path = dir.path() / "id.key";
  write_keyfile(path, keypair::generate());
  ::chmod(path.c_str(), 0644);
  const keypair second = keypair::generate();
  write_keyfile(path, second, /*overwrite=*/true);
  EXPECT_EQ(load_keyfile(path).public_key(), second.public_key());
  EXPECT_EQ(mode_of(path), 0600U);
  // No temporary files left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1U);
}

TEST(keyfile_disk, overwrite_true_creates_missing_file) {
  temp_dir dir;
  const fs::path path = dir.path() / "new.key";
  write_keyfile(path, fixed_key(), /*overwrite=*/true);
  EXPECT_EQ(slurp(path), fixed_text);
}

TEST(keyfile_disk, write_errors_name_the_path) {
  temp_dir dir;
  const fs::path missing_dir = dir.path() / "no" / "such" / "dir" / "k.key";
  expect_path_error(missing_dir, "cannot create", [&] { write_keyfile(missing_dir, fixed_key()); });
  const fs::path path = dir.path() / "k.key";
  expect_path_error(path, "empty keypair", [&] { write_keyfile(path, keypair{}); });
  EXPECT_FALSE(fs::exists(path));
}

TEST(keyfile_disk, load_errors_name_the_path) {
  temp_dir dir;
  const fs::path missing = dir.path() / "missing.key";
  expect_path_error(missing, "cannot open", [&] { (void)load_keyfile(missing); });

  expect_path_error(dir.path(), "not a regular file", [&] { (void)load_keyfile(dir.path()); });

  const fs::path bad = dir.path() / "bad.key";
  std::ofstream(bad) << replace(fixed_text, "36f9\n", "36f8\n");
  fs::permissions(bad, fs::perms::owner_read | fs::perms::owner_write);
  expect_path_error(bad, to_string(keyfile_error::pubkey_mismatch),
                    [&] { (void)load_keyfile(bad); });

  // A valid key that group or others can read is refused, naming the mode.
  const fs::path open_key = dir.path() / "open.key";
  write_keyfile(open_key, keypair::generate());
  fs::permissions(open_key, fs::perms::group_read, fs::perm_options::add);
  expect_path_error(open_key, "permissions 0640 are too open", [&] { (void)load_keyfile(open_key); });
  fs::permissions(open_key, fs::perms::group_read, fs::perm_options::remove);
  EXPECT_NO_THROW((void)load_keyfile(open_key));

  const fs::path big = dir.path() / "big.key";
  std::ofstream(big) << std::string(max_keyfile_bytes + 1, 'x');
  expect_path_error(big, "larger than", [&] { (void)load_keyfile(big); });
}

}  // namespace
