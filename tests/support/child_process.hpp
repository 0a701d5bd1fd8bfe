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
  // With `pipe_stdin`, its stdin is a pipe that write_line() writes to (and that closes when
  // the process is gone); without, it inherits the test's.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               std::chrono::milliseconds timeout = std::chrono::seconds(20),
               bool pipe_stdin = false);
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
  // Sends SIGSTOP and waits up to `timeout` until every thread of the process has stopped
  // (the kernel tells the parent once the whole group has): false when it did not (it is sent
  // SIGCONT then), or exited. SIGCONT (signal()) resumes it.
  bool stop(std::chrono::milliseconds timeout);
  // Waits up to `timeout` for the process to exit: its exit status, -1 when a signal ended it,
  // or nullopt when it is still running. Does not kill.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // Writes `line` and a newline to its stdin (pipe_stdin); false when that failed.
  bool write_line(const std::string& line);
  // Reads its stdout up to the next line holding `marker`: the rest of that line, or nullopt
  // when `timeout` passed or it exited first. What came before the marker goes to `before`.
  std::optional<std::string> read_line_after(const std::string& marker,
                                             std::chrono::milliseconds timeout,
                                             std::string* before = nullptr);

 private:
  void forget();  // after the process was reaped
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  std::string unread_;  // stdout read but not yet returned
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
