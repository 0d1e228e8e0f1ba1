#include <riptide/util/file_lock.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "../support/temp_dir.hpp"

using namespace riptide;

namespace {

// A child process that holds `path`'s lock until killed; returns its pid once it holds it.
pid_t hold_in_child(const std::filesystem::path& path) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    try {
      auto lock = util::file_lock::acquire(path, "test file");
      lock.write_pid();
      char c = 1;
      (void)!::write(ready[1], &c, 1);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(ready[1]);
  char c = 0;
  const bool ok = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  return ok ? pid : -1;
}

void reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

}  // namespace

TEST(file_lock, a_second_holder_is_refused_and_told_the_pid) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "lock";
  auto first = util::file_lock::acquire(path, "thing");
  first.write_pid();
  ASSERT_TRUE(first.held());
  // flock locks belong to open file descriptions: a second open in this process conflicts
  // just as another process would.
  try {
    (void)util::file_lock::acquire(path, "thing");
    FAIL() << "expected lock_held_error";
  } catch (const util::lock_held_error& e) {
    EXPECT_EQ(e.holder_pid(), static_cast<std::uint32_t>(::getpid()));
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find("thing is in use"), std::string::npos) << what;
    EXPECT_NE(what.find("pid " + std::to_string(::getpid())), std::string::npos) << what;
  }
  EXPECT_THROW(util::file_lock::check_free(path, "thing"), util::lock_held_error);
  first = util::file_lock{};  // released
  EXPECT_NO_THROW(util::file_lock::check_free(path, "thing"));
  EXPECT_TRUE(util::file_lock::acquire(path, "thing").held());
}

TEST(file_lock, another_process_holds_it_until_it_dies) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "lock";
  const pid_t child = hold_in_child(path);
  ASSERT_GT(child, 0);
  try {
    (void)util::file_lock::acquire(path, "ledger");
    ADD_FAILURE() << "expected lock_held_error";
  } catch (const util::lock_held_error& e) {
    EXPECT_EQ(e.holder_pid(), static_cast<std::uint32_t>(child));
  }
  // The refused attempt changed nothing: the holder's pid is still in the file.
  std::ifstream in(path);
  std::string text;
  in >> text;
  EXPECT_EQ(text, std::to_string(child));
  reap(child);  // kill -9: the kernel releases the lock, nothing stale remains
  EXPECT_TRUE(util::file_lock::acquire(path, "ledger").held());
}

TEST(file_lock, a_missing_file_is_free_and_check_free_creates_nothing) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "absent";
  EXPECT_NO_THROW(util::file_lock::check_free(path, "thing"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(file_lock, a_holder_that_deletes_the_file_does_not_share_it) {
  riptide::testing::temp_dir dir;
  const auto path = dir.path() / "lock";
  {
    auto a = util::file_lock::acquire(path, "thing");
    std::filesystem::remove(path);  // the holder's inode is now orphaned
    auto b = util::file_lock::acquire(path, "thing");  // a new file: a different lock
    EXPECT_TRUE(b.held());
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_THROW((void)util::file_lock::acquire(path, "thing"), util::lock_held_error);
  }
}
