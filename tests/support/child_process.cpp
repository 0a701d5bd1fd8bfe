#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace infergate::testing {
namespace {

struct Spawned {
  pid_t pid = -1;
  int output_fd = -1;  // the read end of the child's stdout (and stderr, when asked)
  int input_fd = -1;   // the write end of its stdin, when asked
};

// Starts `program` with its stdout (and, `with_stderr`, its stderr) on a pipe, and its stdin
// on another when `with_stdin`.
Spawned spawn(const std::string& program, const std::vector<std::string>& args, bool with_stderr,
              bool with_stdin = false) {
  int fds[2];
  int in[2] = {-1, -1};
  // The stdin pipe is close-on-exec: the other programs a test starts do not hold it open.
  if (pipe(fds) != 0 || (with_stdin && pipe2(in, O_CLOEXEC) != 0))
    throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (with_stderr) dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    if (with_stdin) {
      dup2(in[0], STDIN_FILENO);
      close(in[0]);
      close(in[1]);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  if (with_stdin) close(in[0]);
  return {pid, fds[0], in[1]};
}

}  // namespace

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout, bool pipe_stdin) {
  const Spawned child = spawn(program, args, /*with_stderr=*/false, pipe_stdin);
  pid_ = child.pid;
  stdout_fd_ = child.output_fd;
  stdin_fd_ = child.input_fd;
  std::string before;
  if (auto ready = read_line_after("READY ", timeout, &before)) {
    banner_ = std::move(before);
    ready_json_ = std::move(*ready);
    return;
  }
  terminate();
  throw std::runtime_error(program + " did not get ready; output: " + before);
}

std::optional<std::string> ChildProcess::read_line_after(const std::string& marker,
                                                         std::chrono::milliseconds timeout,
                                                         std::string* before) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto pos = unread_.find(marker);
    if (pos != std::string::npos) {
      const auto eol = unread_.find('\n', pos);
      if (eol != std::string::npos) {
        if (before) *before = unread_.substr(0, pos);
        std::string rest = unread_.substr(pos + marker.size(), eol - pos - marker.size());
        unread_.erase(0, eol + 1);
        return rest;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    char buf[4096];
    if (stdout_fd_ < 0 || left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    const ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;  // it exited
    unread_.append(buf, static_cast<std::size_t>(n));
  }
  if (before) *before = unread_;
  return std::nullopt;
}

bool ChildProcess::write_line(const std::string& line) {
  if (stdin_fd_ < 0) return false;
  const std::string text = line + "\n";
  return write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void ChildProcess::signal(int signo) const {
  if (pid_ > 0) kill(pid_, signo);
}

void ChildProcess::forget() {
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool ChildProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || kill(pid_, SIGSTOP) != 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG | WUNTRACED);
    if (r == pid_ && WIFSTOPPED(status)) return true;
    if (r == pid_ || r < 0) {  // it ended
      forget();
      return false;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      kill(pid_, SIGCONT);  // not left stopped for the tests after
      return false;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) {
      const bool exited = r == pid_ && WIFEXITED(status);
      forget();
      return exited ? WEXITSTATUS(status) : -1;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

int ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  signal(SIGTERM);
  if (const auto status = wait_exit(grace)) return *status;
  signal(SIGKILL);
  (void)wait_exit(std::chrono::seconds(10));
  return -1;
}

ChildProcess::~ChildProcess() { terminate(); }

Finished run_to_exit(const std::string& program, const std::vector<std::string>& args,
                     std::chrono::milliseconds timeout) {
  const Spawned child = spawn(program, args, /*with_stderr=*/true);
  const pid_t pid = child.pid;
  const int output = child.output_fd;
  Finished out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{output, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    char buf[4096];
    const ssize_t n = read(output, buf, sizeof buf);
    if (n <= 0) break;  // the program ended (its end of the pipe closed)
    out.output.append(buf, static_cast<std::size_t>(n));
  }
  close(output);
  int status = 0;
  waitpid(pid, &status, 0);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<unsigned short> replica_ports(const std::string& ready_json) {
  std::vector<unsigned short> ports;
  const auto doc = boost::json::parse(ready_json);
  for (const auto& r : doc.at("replicas").as_array())
    ports.push_back(static_cast<unsigned short>(r.at("port").to_number<int>()));
  return ports;
}

}  // namespace infergate::testing
