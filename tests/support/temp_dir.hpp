#pragma once
// A fresh directory under the system temp dir (mkdtemp), removed with everything in it when
// the object goes out of scope. Tests only.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace riptide::testing {

class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "riptide-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace riptide::testing
