// Resolves the scraper's host names on a thread of its own, so a slow DNS server never delays
// a scrape: resolve() queues a name, the thread calls getaddrinfo and hands the result back
// through take(), calling `on_result` (the scraper wakes its loop) after each. Literal IPv4 and
// IPv6 addresses need none of this: numeric() reads them at once.
//
// Thread-safety: resolve(), take() and stop() from any thread; the thread starts with the first
// name and ends at stop() (or destruction), after the name it is resolving.
#pragma once

#include <sys/socket.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace infergate::gateway {

struct ResolvedAddress {
  std::uint64_t id = 0;  // the caller's, from resolve()
  bool ok = false;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  std::string error;  // when not ok
};

class HostResolver {
 public:
  explicit HostResolver(std::function<void()> on_result) : on_result_(std::move(on_result)) {}
  ~HostResolver() { stop(); }
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // A literal address (brackets allowed around IPv6), or false.
  static bool numeric(const std::string& host, std::uint16_t port, sockaddr_storage& out,
                      socklen_t& len);

  void resolve(std::uint64_t id, std::string host, std::uint16_t port);
  std::vector<ResolvedAddress> take();
  void stop();

 private:
  struct Name {
    std::uint64_t id;
    std::string host;
    std::uint16_t port;
  };
  void run();

  std::function<void()> on_result_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Name> queue_;
  std::vector<ResolvedAddress> done_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace infergate::gateway
