// Starts a real process for integration tests and reads its "READY <json>" line, so a test
// waits for the process to be listening by reading its output, never by sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace infergate::testing {

class ChildProcess {
 public:
  // Starts `program` with `args`; throws if it does not print "READY ..." within `timeout`.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The JSON after "READY ".
  const std::string& ready_json() const { return ready_json_; }
  // Everything printed before READY.
  const std::string& banner() const { return banner_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits up to `grace`, then SIGKILL; returns the exit status, or -1 when
  // the process had to be killed or died of a signal.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // Sends `signo` without waiting.
  void signal(int signo) const;
  // Waits up to `timeout` for the process to exit: its exit status, -1 when a signal ended it,
  // or nullopt when it is still running. Does not kill.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string ready_json_;
  std::string banner_;
};

// Runs `program` to its end (SIGKILL after `timeout`): its exit status (-1 when a signal ended
// it) and everything it wrote to stdout and stderr.
struct Finished {
  int status = -1;
  std::string output;
};
Finished run_to_exit(const std::string& program, const std::vector<std::string>& args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Ports of the replicas listed in an infergate-sim READY line, in order.
std::vector<unsigned short> replica_ports(const std::string& ready_json);

}  // namespace infergate::testing
