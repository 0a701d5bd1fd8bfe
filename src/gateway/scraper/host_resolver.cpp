#include "gateway/scraper/host_resolver.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace infergate::gateway {

bool HostResolver::numeric(const std::string& host, std::uint16_t port, sockaddr_storage& out,
                           socklen_t& len) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  out = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

void HostResolver::resolve(std::uint64_t id, std::string host, std::uint16_t port) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(Name{id, std::move(host), port});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_one();
}

std::vector<ResolvedAddress> HostResolver::take() {
  std::vector<ResolvedAddress> out;
  std::lock_guard lock(mu_);
  out.swap(done_);
  return out;
}

void HostResolver::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HostResolver::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Name name = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    ResolvedAddress r;
    r.id = name.id;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc =
        ::getaddrinfo(name.host.c_str(), std::to_string(name.port).c_str(), &hints, &found);
    if (rc == 0 && found) {
      std::memcpy(&r.address, found->ai_addr, found->ai_addrlen);
      r.address_len = static_cast<socklen_t>(found->ai_addrlen);
      r.ok = true;
    } else {
      r.error = ::gai_strerror(rc);
    }
    if (found) ::freeaddrinfo(found);
    lock.lock();
    done_.push_back(std::move(r));
    on_result_();
  }
}

}  // namespace infergate::gateway
