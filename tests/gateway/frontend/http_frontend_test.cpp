// The front end on a loopback socket with misbehaving clients: half-close, close, reset, large
// bodies, a request trickling in, a silent connection, a client that stops reading, split and
// pipelined writes, the connection limit, and connections balanced over two workers. The handlers
// stand in for the request path and record whether they were cancelled.
#include "gateway/frontend/http_frontend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "gateway/frontend/connection_balancer.hpp"
#include "gateway/frontend/connection_limit.hpp"
#include "support/integration.hpp"
#include "support/raw_connection.hpp"
#include "support/test_pki.hpp"
#include "support/tls_client.hpp"
#include "tls/server_credentials.hpp"

namespace infergate::gateway {
namespace {
namespace net = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RawConnection;
using testing::until;

// What the handlers saw, read by the test thread.
struct Seen {
  std::atomic<int> started{0};
  std::atomic<int> cancelled{0};  // the wait was cancelled (the client is gone)
  std::atomic<int> answered{0};
  std::atomic<int> write_failed{0};
  std::atomic<std::size_t> body_bytes{0};
};

// A handler that works for `work` (cancellable), then answers "ok <body bytes>".
Handler working_handler(Seen& seen, milliseconds work) {
  return [&seen, work](const ClientRequest& req, ClientResponse& res) -> net::awaitable<void> {
    seen.started++;
    seen.body_bytes = req.body.size();
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(work);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) {
      seen.cancelled++;
      co_return;
    }
    const std::string body = "ok " + std::to_string(req.body.size());
    ResponseHead head;
    head.content_length = body.size();
    co_await res.send_head(head);
    const bool sent = co_await res.send_last(body);
    if (sent) seen.answered++;
  };
}

// A handler that streams 64 KiB pieces until a write fails.
Handler flooding_handler(Seen& seen) {
  return [&seen](const ClientRequest&, ClientResponse& res) -> net::awaitable<void> {
    seen.started++;
    const ResponseHead head;
    co_await res.send_head(head);
    const std::string piece(64 << 10, 'x');
    for (;;) {
      const bool sent = co_await res.send_body(piece);
      if (!sent) break;
    }
    seen.write_failed++;
  };
}

// A handler that streams three pieces of unknown total length.
Handler streaming_handler() {
  return [](const ClientRequest&, ClientResponse& res) -> net::awaitable<void> {
    const ResponseHead head;
    co_await res.send_head(head);
    for (const char* piece : {"one,", "two,", "three"}) {
      const bool sent = co_await res.send_body(piece);
      if (!sent) co_return;
    }
    co_await res.finish();
  };
}

class FrontendOnLoopback : public ::testing::Test {
 protected:
  void start(Handler handler, FrontendLimits limits = {}, std::size_t max_connections = 0,
             const tls::ServerCredentials* tls = nullptr) {
    if (max_connections > 0) limit_ = std::make_unique<ConnectionLimit>(max_connections);
    frontend_ =
        std::make_unique<HttpFrontend>(make_acceptor(io_.get_executor(), "127.0.0.1:0", false),
                                       std::move(handler), limits, limit_.get(), tls);
    port_ = frontend_->port();
    net::co_spawn(io_, frontend_->accept_loop(), net::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (!thread_.joinable()) return;
    // As the gateway stops a worker: end every coroutine, then let run() return.
    net::post(io_, [this] { frontend_->close_all(); });
    work_.reset();
    thread_.join();
  }
  static std::string post(const std::string& body, const std::string& extra_headers = "") {
    return "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
  }

  net::io_context io_{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{io_.get_executor()};
  std::unique_ptr<ConnectionLimit> limit_;
  std::unique_ptr<HttpFrontend> frontend_;
  std::thread thread_;
  unsigned short port_ = 0;
  Seen seen_;
};

TEST_F(FrontendOnLoopback, HalfCloseAfterTheRequestStillGetsTheAnswer) {
  start(working_handler(seen_, milliseconds(100)));
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}")));
  c.shutdown_send();
  bool closed = false;
  const std::string answer = c.read_until_close(seconds(10), closed);
  // The interim "100 Continue" asked whether the client had closed; the answer follows it.
  EXPECT_NE(answer.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("ok 2"), std::string::npos) << answer;
  EXPECT_TRUE(closed);
  EXPECT_EQ(seen_.cancelled, 0);
  EXPECT_EQ(seen_.answered, 1);
}

TEST_F(FrontendOnLoopback, ClientClosingWhileTheHandlerWorksCancelsIt) {
  start(working_handler(seen_, seconds(60)));
  {
    RawConnection c(port_);
    ASSERT_TRUE(c.send(post("{}")));
    ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
  }  // an orderly close, as a client that gives up does
  EXPECT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
}

TEST_F(FrontendOnLoopback, ClientResetCancelsTheHandler) {
  start(working_handler(seen_, seconds(60)));
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}")));
  ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
  c.reset();
  EXPECT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
}

TEST_F(FrontendOnLoopback, ClientLeavingAfterALargeBodyIsNoticed) {
  FrontendLimits limits;
  limits.max_body_bytes = 1 << 20;
  start(working_handler(seen_, seconds(60)), limits);
  {
    RawConnection c(port_);
    ASSERT_TRUE(c.send(post(std::string(256 << 10, 'a'))));
    ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
    EXPECT_EQ(seen_.body_bytes, std::size_t{256} << 10);
  }
  EXPECT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
}

TEST_F(FrontendOnLoopback, AClientIsWatchedOnlyOnceItsRequestHasRunForTheWatchDelay) {
  FrontendLimits limits;
  limits.client_watch_after = milliseconds(300);
  start(working_handler(seen_, seconds(60)), limits);
  std::chrono::steady_clock::time_point sent;
  {
    RawConnection c(port_);
    ASSERT_TRUE(c.send(post("{}")));
    sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
  }  // gone at once
  ASSERT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
  // Noticed by the watch, which starts no sooner than the delay after the request began.
  EXPECT_GE(std::chrono::steady_clock::now() - sent, milliseconds(300));
}

TEST_F(FrontendOnLoopback, AHandlerAboutToWaitHasItsClientWatchedAtOnce) {
  FrontendLimits limits;
  limits.client_watch_after = std::chrono::hours(1);
  Handler working = working_handler(seen_, seconds(60));
  start(
      [working](const ClientRequest& req, ClientResponse& res) -> net::awaitable<void> {
        res.watch_client();  // as a request that flow control queues
        co_await working(req, res);
      },
      limits);
  {
    RawConnection c(port_);
    ASSERT_TRUE(c.send(post("{}")));
    ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
  }
  EXPECT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
}

TEST_F(FrontendOnLoopback, ClosingEveryConnectionCancelsARequestWhoseClientIsNotWatchedYet) {
  FrontendLimits limits;
  limits.client_watch_after = std::chrono::hours(1);
  start(working_handler(seen_, seconds(60)), limits);
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}")));
  ASSERT_TRUE(until([&] { return seen_.started == 1; }, seconds(10)));
  net::post(io_, [this] { frontend_->close_all(); });
  EXPECT_TRUE(until([&] { return seen_.cancelled == 1; }, seconds(10)));
  bool closed = false;
  c.read_until_close(seconds(10), closed);
  EXPECT_TRUE(closed);
}

TEST_F(FrontendOnLoopback, RequestTricklingInIsCutAtTheReadTimeoutWith408) {
  FrontendLimits limits;
  limits.request_read_timeout = milliseconds(400);
  start(working_handler(seen_, milliseconds(1)), limits);
  RawConnection c(port_);
  const std::string request = post("{}");
  const auto began = std::chrono::steady_clock::now();
  // One byte every 50 ms would take over 3 s: each byte used to re-arm the timeout. The wait
  // for an answer between bytes paces the client.
  std::size_t sent = 0;
  std::optional<std::string> answer;
  while (!answer && sent < request.size() && c.send(request.substr(sent, 1))) {
    ++sent;
    answer = c.read_until("\r\n\r\n", milliseconds(50));
  }
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << *answer;
  EXPECT_LT(sent, request.size());
  EXPECT_LT(std::chrono::steady_clock::now() - began, seconds(2));
  bool closed = false;
  const std::string whole = *answer + c.read_until_close(seconds(10), closed);
  EXPECT_NE(whole.find("\"type\""), std::string::npos) << whole;
  EXPECT_EQ(seen_.started, 0);
}

TEST_F(FrontendOnLoopback, HeadNeverFinishedIs408) {
  FrontendLimits limits;
  limits.request_read_timeout = milliseconds(200);
  start(working_handler(seen_, milliseconds(1)), limits);
  RawConnection c(port_);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost:"));
  bool closed = false;
  const std::string answer = c.read_until_close(seconds(10), closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_TRUE(closed);
}

TEST_F(FrontendOnLoopback, ConnectionThatSendsNothingIsClosedWithoutAnAnswer) {
  FrontendLimits limits;
  limits.request_read_timeout = milliseconds(200);
  start(working_handler(seen_, milliseconds(1)), limits);
  RawConnection c(port_);
  bool closed = false;
  EXPECT_EQ(c.read_until_close(seconds(10), closed), "");
  EXPECT_TRUE(closed);
}

TEST_F(FrontendOnLoopback, ClientThatStopsReadingIsCutOffAtTheWriteTimeout) {
  FrontendLimits limits;
  limits.write_timeout = milliseconds(300);
  start(flooding_handler(seen_), limits);
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}")));
  // Never reads: the socket buffers fill, the write waits, the deadline ends it.
  EXPECT_TRUE(until([&] { return seen_.write_failed == 1; }, seconds(20)));
}

TEST_F(FrontendOnLoopback, RequestSplitIntoSingleBytesIsAnswered) {
  start(working_handler(seen_, milliseconds(1)));
  RawConnection c(port_);
  const std::string request = post("{\"a\": 1}");
  for (const char ch : request) ASSERT_TRUE(c.send(std::string(1, ch)));
  EXPECT_TRUE(c.read_until("ok 8", seconds(10)));
}

TEST_F(FrontendOnLoopback, PipelinedRequestsAreAnsweredInOrder) {
  start(working_handler(seen_, milliseconds(1)));
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}") + post("{\"b\": 22}")));
  const auto both = c.read_until("ok 9", seconds(10));
  ASSERT_TRUE(both);
  EXPECT_LT(both->find("ok 2"), both->find("ok 9"));
  EXPECT_EQ(seen_.cancelled, 0);
}

// A kept-alive connection serves one request after another, and closes once it has waited the
// idle timeout for the next.
TEST_F(FrontendOnLoopback, KeptAliveConnectionServesTheNextRequestsAndClosesWhenIdle) {
  FrontendLimits limits;
  limits.idle_timeout = milliseconds(300);
  start(working_handler(seen_, milliseconds(1)), limits);
  RawConnection c(port_);
  for (const std::string body : {"{\"n\": 1}", "{\"n\": 22}", "{\"n\": 333}"}) {
    ASSERT_TRUE(c.send(post(body)));
    ASSERT_TRUE(c.read_until("ok " + std::to_string(body.size()), seconds(10))) << body;
  }
  const auto idle_from = std::chrono::steady_clock::now();
  bool closed = false;
  EXPECT_EQ(c.read_until_close(seconds(10), closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - idle_from, seconds(5));
  EXPECT_EQ(seen_.answered, 3);
  EXPECT_EQ(seen_.cancelled, 0);
}

// A drain closes a connection that waits for its next request.
TEST_F(FrontendOnLoopback, DrainClosesAConnectionWaitingForItsNextRequest) {
  start(working_handler(seen_, milliseconds(1)));
  RawConnection c(port_);
  ASSERT_TRUE(c.send(post("{}")));
  ASSERT_TRUE(c.read_until("ok 2", seconds(10)));
  net::post(io_, [this] { frontend_->drain(); });
  bool closed = false;
  EXPECT_EQ(c.read_until_close(seconds(10), closed), "");
  EXPECT_TRUE(closed);
}

TEST_F(FrontendOnLoopback, EarlyCloseInTheHeadNeverReachesTheHandler) {
  start(working_handler(seen_, milliseconds(1)));
  {
    RawConnection c(port_);
    ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nContent-Le"));
  }
  RawConnection next(port_);  // the front end still serves
  ASSERT_TRUE(next.send(post("{}")));
  EXPECT_TRUE(next.read_until("ok 2", seconds(10)));
  EXPECT_EQ(seen_.started, 1);
}

TEST_F(FrontendOnLoopback, StreamToAnHttp10ClientIsNotChunkedAndEndsWithTheConnection) {
  start(streaming_handler());
  RawConnection c(port_);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"));
  bool closed = false;
  const std::string answer = c.read_until_close(seconds(10), closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(answer.find("Transfer-Encoding"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\none,two,three")) << answer;
  // The same stream to an HTTP/1.1 client is chunked.
  RawConnection c11(port_);
  ASSERT_TRUE(c11.send(post("{}")));
  EXPECT_TRUE(c11.read_until("Transfer-Encoding: chunked\r\n", seconds(10)));
}

TEST_F(FrontendOnLoopback, AtTheConnectionLimitNewConnectionsWaitUntilOneCloses) {
  start(working_handler(seen_, milliseconds(1)), {}, 2);
  auto first = std::make_unique<RawConnection>(port_);
  RawConnection second(port_);
  ASSERT_TRUE(first->send(post("{}")));
  ASSERT_TRUE(first->read_until("ok 2", seconds(10)));
  ASSERT_TRUE(second.send(post("{}")));
  ASSERT_TRUE(second.read_until("ok 2", seconds(10)));
  RawConnection third(port_);  // the kernel completes the handshake; nobody accepts it
  ASSERT_TRUE(third.send(post("{}")));
  EXPECT_FALSE(third.read_until("ok 2", milliseconds(300)));
  EXPECT_EQ(limit_->open(), 2u);
  first.reset();
  EXPECT_TRUE(third.read_until("ok 2", seconds(10)));
}

// Over TLS the watch reads records instead of peeking at bytes: a client that leaves still
// cancels its request, and keep-alive requests are still served one after the other.
class TlsFrontend : public FrontendOnLoopback {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate-frontend-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    const auto pair = ca_.issue({});
    tls::ServerFiles files{(dir_ / "tls.crt").string(), (dir_ / "tls.key").string()};
    testing::write_file_atomically(files.cert_file, pair.cert_pem);
    testing::write_file_atomically(files.key_file, pair.key_pem);
    credentials_ =
        std::make_unique<tls::ServerCredentials>(files, std::chrono::system_clock::now());
  }
  void TearDown() override {
    FrontendOnLoopback::TearDown();
    std::filesystem::remove_all(dir_);
  }
  testing::TlsClientOptions client_options() const {
    testing::TlsClientOptions o;
    o.ca_pem = ca_.cert_pem();
    return o;
  }

  std::filesystem::path dir_;
  testing::TestCa ca_{"frontend-ca"};
  std::unique_ptr<tls::ServerCredentials> credentials_;
};

TEST_F(TlsFrontend, KeepAliveRequestsAreServedInTurn) {
  start(working_handler(seen_, milliseconds(0)), {}, 0, credentials_.get());
  testing::TlsClient client(port_, client_options());
  for (int i = 0; i < 3; ++i) {
    const auto res = client.post("/v1/completions", std::string(100 * (i + 1), 'b'));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "ok " + std::to_string(100 * (i + 1)));
  }
  // The handler counts an answer once its write returned, which may be after the client read it.
  EXPECT_TRUE(until([&] { return seen_.answered.load() == 3; }));
}

TEST_F(TlsFrontend, AClientThatLeavesCancelsItsRequest) {
  start(working_handler(seen_, seconds(60)), {}, 0, credentials_.get());
  {
    testing::TlsClient client(port_, client_options());
    client.send_only("/v1/completions", "{}");
    ASSERT_TRUE(until([&] { return seen_.started.load() == 1; }));
  }  // the client closes its connection
  EXPECT_TRUE(until([&] { return seen_.cancelled.load() == 1; }));
  EXPECT_EQ(seen_.answered.load(), 0);
}

TEST_F(TlsFrontend, APlainHttpClientOnTheTlsPortIsCountedAndClosed) {
  start(working_handler(seen_, milliseconds(0)), {}, 0, credentials_.get());
  RawConnection raw(port_);
  raw.send(post("{}"));
  bool closed = false;
  EXPECT_EQ(raw.read_until_close(seconds(10), closed).find("HTTP/1.1 200"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(until([&] { return frontend_->tls_handshake_failures() == 1; }));
  EXPECT_EQ(seen_.started.load(), 0);
}

// Two workers' front ends, each on its own thread, balanced by a ConnectionBalancer; unless a
// test gives a handler, each answers "[served-by-<name>]". Only the first one's port is used:
// it accepts everything.
class BalancedFrontends : public ::testing::Test {
 protected:
  struct Worker {
    explicit Worker(std::string n) : name(std::move(n)) {}
    std::string name;
    net::io_context io{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work{io.get_executor()};
    std::unique_ptr<HttpFrontend> frontend;
    std::thread thread;
  };

  // Starts both workers; `handler` null: each answers with its name.
  void start(const Handler& handler = nullptr, FrontendLimits limits = {}) {
    for (const char* name : {"a", "b"}) {
      auto& w = *workers_.emplace_back(std::make_unique<Worker>(name));
      w.frontend =
          std::make_unique<HttpFrontend>(make_acceptor(w.io.get_executor(), "127.0.0.1:0", false),
                                         handler ? handler : answer_with(w.name), limits, &limit_);
      w.frontend->balance_with(balancer_);
    }
    for (auto& w : workers_) {
      net::co_spawn(w->io, w->frontend->accept_loop(), net::detached);
      w->thread = std::thread([&io = w->io] { io.run(); });
    }
  }
  void TearDown() override {
    for (auto& w : workers_) {
      net::post(w->io, [&w] { w->frontend->close_all(); });
      w->work.reset();
    }
    for (auto& w : workers_) w->thread.join();
  }

  static Handler answer_with(const std::string& name) {
    return [name](const ClientRequest&, ClientResponse& res) -> net::awaitable<void> {
      const std::string body = "[served-by-" + name + "]";
      ResponseHead head;
      head.content_length = body.size();
      co_await res.send_head(head);
      co_await res.send_last(body);
    };
  }
  // Who served one request on `c`: "a", "b", or "" when the connection gave no answer.
  static std::string served_by(RawConnection& c) {
    if (!c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")) return "";
    const auto answer = c.read_until("]", seconds(10));
    if (!answer) return "";
    const auto at = answer->find("[served-by-");
    return at == std::string::npos ? "" : answer->substr(at + 11, 1);
  }
  std::size_t open(std::size_t worker) const { return balancer_.open(*workers_[worker]->frontend); }

  ConnectionLimit limit_{100};
  ConnectionBalancer balancer_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

TEST_F(BalancedFrontends, ConnectionsOneWorkerAcceptsAreSpreadEvenly) {
  start();
  const unsigned short port = workers_[0]->frontend->port();
  std::vector<std::unique_ptr<RawConnection>> connections;
  std::map<std::string, int> served;
  for (int i = 0; i < 8; ++i) {
    connections.push_back(std::make_unique<RawConnection>(port));
    ++served[served_by(*connections.back())];
  }
  EXPECT_EQ(served, (std::map<std::string, int>{{"a", 4}, {"b", 4}}));
  // Each connection stays with its worker for its next requests.
  for (std::size_t i = 0; i < connections.size(); ++i)
    EXPECT_EQ(served_by(*connections[i]), i % 2 == 0 ? "a" : "b") << i;
  EXPECT_EQ(open(0), 4u);
  EXPECT_EQ(open(1), 4u);
  // The connection limit counts them once, plus one slot each accept loop holds for the
  // connection it waits for.
  EXPECT_TRUE(until([&] { return limit_.open() == 8 + 2; }));

  // Closed connections leave both counts, and the next ones fill the emptier worker first.
  connections.erase(connections.begin() + 1, connections.begin() + 4);  // b, a, b
  ASSERT_TRUE(until([&] { return open(0) == 3 && open(1) == 2 && limit_.open() == 5 + 2; }));
  for (int i = 0; i < 3; ++i) {
    connections.push_back(std::make_unique<RawConnection>(port));
    EXPECT_EQ(served_by(*connections.back()), i == 1 ? "a" : "b") << i;  // b, then a tie: a
  }
}

TEST_F(BalancedFrontends, AnAdoptedClientThatStopsReadingIsCutOffAtTheWriteTimeout) {
  // The adopting worker's deadlines hold for the connections it adopted, as for its own.
  Seen seen;
  FrontendLimits limits;
  limits.write_timeout = milliseconds(300);
  start(flooding_handler(seen), limits);
  RawConnection on_a(workers_[0]->frontend->port());
  RawConnection on_b(workers_[0]->frontend->port());
  ASSERT_TRUE(until([&] { return open(0) == 1 && open(1) == 1; }));
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  ASSERT_TRUE(on_a.send(request));
  ASSERT_TRUE(on_b.send(request));
  EXPECT_TRUE(until([&] { return seen.write_failed == 2; }, seconds(20)));
}

TEST_F(BalancedFrontends, NoConnectionIsPlacedOnADrainingWorker) {
  start();
  std::promise<void> drained;
  net::post(workers_[1]->io, [&] {
    workers_[1]->frontend->drain();
    drained.set_value();
  });
  drained.get_future().wait();
  std::vector<std::unique_ptr<RawConnection>> connections;
  for (int i = 0; i < 3; ++i) {
    connections.push_back(std::make_unique<RawConnection>(workers_[0]->frontend->port()));
    EXPECT_EQ(served_by(*connections.back()), "a") << i;
  }
  EXPECT_EQ(open(0), 3u);
  EXPECT_EQ(open(1), 0u);
}

TEST_F(BalancedFrontends, AConnectionPlacedJustBeforeItsWorkerDrainsIsClosedAndReleased) {
  start();
  HttpFrontend& a = *workers_[0]->frontend;
  HttpFrontend& b = *workers_[1]->frontend;
  ASSERT_EQ(&balancer_.place(a), &a);  // ties go to the accepting worker
  ASSERT_EQ(&balancer_.place(a), &b);
  std::promise<void> drained;
  net::post(workers_[1]->io, [&] {
    b.drain();
    drained.set_value();
  });
  drained.get_future().wait();
  // a's accept loop holds a slot of the limit for its next connection; b gave its own back.
  ASSERT_TRUE(until([&] { return limit_.open() == 1; }));
  ASSERT_TRUE(limit_.acquire_or_wait([] {}).ok);  // as accept_loop() does before accepting

  // A connection a accepted, handed to b after b began draining.
  net::io_context client_io;
  net::ip::tcp::socket accepted(client_io);
  net::ip::tcp::socket client(client_io);
  net::ip::tcp::acceptor listener(client_io, {net::ip::make_address("127.0.0.1"), 0});
  client.connect(listener.local_endpoint());
  listener.accept(accepted);
  b.adopt(std::move(accepted));

  // Turned away: its slot and its count given back, and the client sees the close.
  EXPECT_TRUE(until([&] { return limit_.open() == 1 && open(1) == 0; }));
  char byte = 0;
  boost::system::error_code ec;
  client.read_some(net::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, net::error::eof);
}

}  // namespace
}  // namespace infergate::gateway
