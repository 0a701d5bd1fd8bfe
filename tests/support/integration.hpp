// Small helpers shared by the process-level tests: bounded waits on observable state and
// configuration files written for one test.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace infergate::testing {

// Re-checks `pred` (typically a real request to a server) until it holds or `bound` passes:
// waits on observable state, never on a sleep.
template <typename Pred>
bool until(Pred pred, std::chrono::seconds bound = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline)
    if (pred()) return true;
  return false;
}

// A configuration file in the temporary folder, removed with the object.
class TempConfig {
 public:
  explicit TempConfig(const std::string& text)
      : path_((std::filesystem::temp_directory_path() /
               ("infergate-it-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) +
                ".yaml"))
                  .string()) {
    write(text);
  }
  ~TempConfig() { std::filesystem::remove(path_); }
  TempConfig(const TempConfig&) = delete;
  TempConfig& operator=(const TempConfig&) = delete;

  // Replaces the content as editors do (write aside, rename): a watcher sees one whole file.
  void write(const std::string& text) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

}  // namespace infergate::testing
