#include "support/child_process.hpp"

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
};

// Starts `program` with its stdout (and, `with_stderr`, its stderr) on a pipe.
Spawned spawn(const std::string& program, const std::vector<std::string>& args, bool with_stderr) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (with_stderr) dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

}  // namespace

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout) {
  const Spawned child = spawn(program, args, /*with_stderr=*/false);
  pid_ = child.pid;
  stdout_fd_ = child.output_fd;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      terminate();
      throw std::runtime_error(program + " did not get ready; output: " + out);
    }
    char buf[4096];
    const ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      terminate();
      throw std::runtime_error(program + " exited before getting ready; output: " + out);
    }
    out.append(buf, static_cast<std::size_t>(n));
    const auto pos = out.find("READY ");
    if (pos != std::string::npos) {
      const auto eol = out.find('\n', pos);
      if (eol != std::string::npos) {
        banner_ = out.substr(0, pos);
        ready_json_ = out.substr(pos + 6, eol - pos - 6);
        return;
      }
    }
  }
}

void ChildProcess::signal(int signo) const {
  if (pid_ > 0) kill(pid_, signo);
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
      pid_ = -1;
      if (stdout_fd_ >= 0) close(stdout_fd_);
      stdout_fd_ = -1;
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
