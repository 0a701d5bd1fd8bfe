// Small helpers shared by the process-level tests: bounded waits on observable state and
// configuration files written for one test.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace infergate::testing {

// Re-checks `pred` (typically a real request to a server) until it holds or `bound` passes:
// waits on observable state, never on a fixed sleep. Between checks it backs off from 1 ms to
// 50 ms, so a check that fails fast does not spin and starve the processes under test (two
// cores run the gateway, the simulators and the test).
template <typename Pred>
bool until(Pred pred, std::chrono::seconds bound = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (pred()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
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
