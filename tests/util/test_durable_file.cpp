#include <riptide/util/durable_file.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;

namespace {

std::string read(const std::filesystem::path& p) {
  std::string s(std::filesystem::file_size(p), '\0');
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) return "<cannot open>";
  const std::size_t n = std::fread(s.data(), 1, s.size(), f);
  std::fclose(f);
  s.resize(n);
  return s;
}

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST(durable_file, creates_then_replaces_whole_with_its_mode_and_no_temporary_left) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "f";
  util::replace_file_durably(path, bytes("first"), 0600);
  EXPECT_EQ(read(path), "first");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  util::replace_file_durably(path, bytes("the second, longer"), 0644);
  EXPECT_EQ(read(path), "the second, longer");
  util::replace_file_durably(path, {}, 0644);
  EXPECT_EQ(read(path), "");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(durable_file, a_failure_names_the_path_and_leaves_the_old_file) {
  riptide::testing::temp_dir dir;
  try {
    util::replace_file_durably(dir.path() / "no-such-dir" / "f", bytes("x"));
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-dir"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot create temporary file"), std::string::npos) << e.what();
  }
  // The target is a directory: the rename fails, the temporary goes, the directory stays.
  const auto target = dir.path() / "d";
  std::filesystem::create_directory(target);
  EXPECT_THROW(util::replace_file_durably(target, bytes("x")), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_directory(target));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}
