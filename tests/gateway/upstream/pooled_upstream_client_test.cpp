// The pooled upstream client against a scripted model server on loopback: which failures are
// retried on a fresh connection, which are handed back as not delivered (another endpoint may
// be tried), and which may have reached the server (never sent again); and when a pooled
// connection is not reused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <stdexcept>
#include <thread>

#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway {
namespace {
namespace net = boost::asio;
using std::chrono::milliseconds;

// A listening socket on a free loopback port; each accepted connection is handed to `serve`
// (in order) on the server's thread.
class ScriptedServer {
 public:
  using Script = std::function<void(int fd)>;
  explicit ScriptedServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0)
      throw std::runtime_error("cannot listen on loopback");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (auto& script : scripts_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) return;  // every wait bounded
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        ++accepted;
        script(fd);
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> accepted{0};

 private:
  std::vector<Script> scripts_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::thread thread_;
};

// Reads one whole request (head and Content-Length body); false at end of file or after 10 s.
bool read_request(int fd) {
  std::string in;
  for (;;) {
    const auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto cl = in.find("Content-Length: ");
      const std::size_t length = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= head_end + 4 + length) return true;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
  }
}

void answer(int fd) {
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
}

// Waits until the client's next request has arrived, without reading it.
void wait_for_bytes(int fd) {
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 10000);
}

struct Outcome {
  std::optional<int> status;
  std::optional<UpstreamFailure> failure;
};

class PooledClient : public ::testing::Test {
 protected:
  // Sends `n` requests one after another; `between` runs on the test thread between them.
  std::vector<Outcome> exchange(const std::string& address, int n, UpstreamTimeouts timeouts = {},
                                const std::function<void()>& between = {}, HostLookup lookup = {}) {
    auto client = make_pooled_upstream_client(io_.get_executor(), timeouts, 8, std::move(lookup));
    std::vector<Outcome> out;
    for (int i = 0; i < n; ++i) {
      if (i > 0 && between) between();
      bool done = false;
      net::co_spawn(
          io_,
          [&]() -> net::awaitable<void> {
            auto ex = client->exchange(address);
            UpstreamRequest request;
            request.target = "/v1/completions";
            request.body = "{}";
            auto sent = co_await ex->send(request);
            Outcome o;
            if (auto* f = std::get_if<UpstreamFailure>(&sent)) {
              o.failure = *f;
            } else {
              o.status = std::get<ResponseHead>(sent).status;
              std::string body;
              while (co_await ex->read_body(body) == BodyRead::kData) {
              }
            }
            out.push_back(o);
            done = true;
          },
          net::detached);
      // The client's deadline timers keep the context busy: run until this exchange is done.
      io_.restart();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done && std::chrono::steady_clock::now() < deadline)
        io_.run_one_for(milliseconds(100));
      if (!done) ADD_FAILURE() << "exchange " << i << " did not end";
    }
    client->shutdown();
    io_.restart();
    io_.run_for(std::chrono::seconds(5));
    return out;
  }
  net::io_context io_{1};
};

TEST_F(PooledClient, StaleConnectionResetWithoutReadingIsRetriedOnAFreshOne) {
  ScriptedServer server({[](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           // The keep-alive timeout fires as the next request arrives: closing
                           // with it unread sends a reset.
                           wait_for_bytes(fd);
                           ::close(fd);
                         },
                         [](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           ::close(fd);
                         }});
  const auto out = exchange(server.address(), 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, 200);
  EXPECT_EQ(out[1].status, 200) << "retried on a fresh connection, no failure";
  EXPECT_EQ(server.accepted, 2);
}

TEST_F(PooledClient, OrderlyCloseAfterTheWholeRequestMayHaveRunAndIsNotRetried) {
  ScriptedServer server({[](int fd) {
    ASSERT_TRUE(read_request(fd));
    answer(fd);
    ASSERT_TRUE(read_request(fd));  // took the request, then went away
    ::close(fd);
  }});
  const auto out = exchange(server.address(), 2);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[1].failure);
  EXPECT_EQ(*out[1].failure, UpstreamFailure::kClosedBeforeStatus);
  EXPECT_TRUE(request_may_have_run(*out[1].failure));
  EXPECT_EQ(server.accepted, 1) << "never sent again";
}

TEST_F(PooledClient, ResetOnAFreshConnectionIsNotDelivered) {
  ScriptedServer server({[](int fd) {
    wait_for_bytes(fd);
    ::close(fd);  // unread: a reset
  }});
  const auto out = exchange(server.address(), 1);
  ASSERT_TRUE(out.at(0).failure);
  EXPECT_EQ(*out[0].failure, UpstreamFailure::kNotDelivered);
  EXPECT_FALSE(request_may_have_run(*out[0].failure));
}

TEST_F(PooledClient, ConnectionTheServerClosedWhileIdleIsNotReused) {
  std::atomic<bool> closed{false};
  ScriptedServer server({[&](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           ::close(fd);  // an orderly close while idle in the pool
                           closed = true;
                         },
                         [](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           ::close(fd);
                         }});
  // On loopback the end of file is in the client's socket when close() returns.
  const auto out = exchange(server.address(), 2, {}, [&] {
    for (int i = 0; i < 10000 && !closed; ++i) std::this_thread::sleep_for(milliseconds(1));
  });
  EXPECT_EQ(out.at(1).status, 200);
  EXPECT_EQ(server.accepted, 2);
}

TEST_F(PooledClient, IdleConnectionOlderThanThePoolIdleTimeoutIsNotReused) {
  ScriptedServer server({[](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           wait_for_bytes(fd);  // would answer a reuse with a reset
                           ::close(fd);
                         },
                         [](int fd) {
                           ASSERT_TRUE(read_request(fd));
                           answer(fd);
                           ::close(fd);
                         }});
  UpstreamTimeouts timeouts;
  timeouts.pool_idle = milliseconds(20);
  const auto out = exchange(server.address(), 2, timeouts,
                            [] { std::this_thread::sleep_for(milliseconds(60)); });
  EXPECT_EQ(out.at(1).status, 200);
  EXPECT_EQ(server.accepted, 2);
}

TEST_F(PooledClient, RefusedConnectionIsAConnectFailure) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a port nobody listens on
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto out = exchange("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), 1);
  ::close(fd);
  ASSERT_TRUE(out.at(0).failure);
  EXPECT_EQ(*out[0].failure, UpstreamFailure::kConnect);
}

// A fake DNS: each lookup returns the next scripted answer (the last one repeats).
HostLookup scripted_lookup(std::vector<std::vector<std::string>> answers, std::atomic<int>& calls) {
  return [answers = std::move(answers), &calls](
             const std::string& host,
             std::chrono::milliseconds) -> net::awaitable<std::vector<std::string>> {
    EXPECT_EQ(host, "model-server.example");
    const int n = calls++;
    co_return answers[std::min<std::size_t>(static_cast<std::size_t>(n), answers.size() - 1)];
  };
}

// Answers one request per connection, so each request connects (and resolves) anew.
std::vector<ScriptedServer::Script> one_request_per_connection(int n) {
  return std::vector<ScriptedServer::Script>(static_cast<std::size_t>(n), [](int fd) {
    if (read_request(fd)) answer(fd);
    ::close(fd);
  });
}

std::string by_name(const ScriptedServer& server) {
  const std::string a = server.address();
  return "model-server.example" + a.substr(a.rfind(':'));
}

TEST_F(PooledClient, HostNameIsLookedUpAgainAfterTheRefreshInterval) {
  ScriptedServer server(one_request_per_connection(4));
  std::atomic<int> calls{0};
  UpstreamTimeouts timeouts;
  timeouts.dns_refresh = milliseconds(20);
  const auto out = exchange(
      by_name(server), 3, timeouts, [] { std::this_thread::sleep_for(milliseconds(40)); },
      scripted_lookup({{"127.0.0.1"}}, calls));
  for (const auto& o : out) EXPECT_EQ(o.status, 200);
  EXPECT_GE(calls, 2) << "looked up again after the interval";
}

TEST_F(PooledClient, FailedLookupKeepsTheLastGoodAnswer) {
  ScriptedServer server(one_request_per_connection(4));
  std::atomic<int> calls{0};
  UpstreamTimeouts timeouts;
  timeouts.dns_refresh = milliseconds(20);
  // The first lookup answers; every later one fails (a DNS outage, or a timeout).
  const auto out = exchange(
      by_name(server), 4, timeouts, [] { std::this_thread::sleep_for(milliseconds(40)); },
      scripted_lookup({{"127.0.0.1"}, {}}, calls));
  for (const auto& o : out) EXPECT_EQ(o.status, 200);
  EXPECT_GE(calls, 2);
}

TEST_F(PooledClient, NameThatNeverResolvedIsAConnectFailure) {
  std::atomic<int> calls{0};
  const auto out = exchange("model-server.example:8000", 1, {}, {}, scripted_lookup({{}}, calls));
  ASSERT_TRUE(out.at(0).failure);
  EXPECT_EQ(*out[0].failure, UpstreamFailure::kConnect);
}

}  // namespace
}  // namespace infergate::gateway
