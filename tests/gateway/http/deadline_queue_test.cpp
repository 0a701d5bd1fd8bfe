// DeadlineQueue on one io_context in the test's thread: an expired entry cancels its socket's
// wait and says so, an entry with an expiry action of its own calls that instead, a disarmed
// entry never fires, and entries armed at deadlines of their own expire in deadline order.
#include "gateway/http/deadline_queue.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <vector>

namespace infergate::gateway {
namespace {
namespace net = boost::asio;
using net::ip::tcp;
using std::chrono::milliseconds;

// Runs `io` until `done()`, at most 5 s; false if the time ran out.
bool run_until(net::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_for(milliseconds(5));
  }
  return true;
}

// A connected pair of sockets on loopback: `server` is the one the tests wait on.
struct SocketPair {
  explicit SocketPair(net::io_context& io) : server(io), client(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  tcp::socket server;
  tcp::socket client;
};

TEST(DeadlineQueue, AnExpiredEntryCancelsItsSocketsWaitAndSaysSo) {
  net::io_context io;
  SocketPair pair(io);
  DeadlineQueue queue(io.get_executor(), milliseconds(10));
  DeadlineQueue::Entry entry;
  queue.arm(entry, pair.server);
  char byte = 0;
  bool done = false;
  boost::system::error_code read_ec;
  pair.server.async_read_some(net::buffer(&byte, 1),
                              [&](const boost::system::error_code& ec, std::size_t) {
                                read_ec = ec;
                                done = true;
                              });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(read_ec, net::error::operation_aborted);
  EXPECT_TRUE(queue.disarm(entry));
}

TEST(DeadlineQueue, AnEntryWithAnExpiryActionCallsItAndLeavesTheSocketAlone) {
  net::io_context io;
  SocketPair pair(io);
  DeadlineQueue queue(io.get_executor(), milliseconds(10));
  static int calls = 0;
  calls = 0;
  DeadlineQueue::Entry entry;
  entry.on_expiry = [](DeadlineQueue::Entry&) { ++calls; };
  queue.arm(entry, pair.server);
  bool read_done = false;
  char byte = 0;
  pair.server.async_read_some(net::buffer(&byte, 1), [&](const boost::system::error_code&,
                                                         std::size_t) { read_done = true; });
  ASSERT_TRUE(run_until(io, [&] { return calls == 1; }));
  EXPECT_TRUE(queue.disarm(entry));
  EXPECT_FALSE(read_done);  // still waiting: the action replaced the cancellation
  // The action ran once; the queue holds nothing more.
  io.restart();
  io.run_for(milliseconds(30));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(read_done);
}

TEST(DeadlineQueue, ADisarmedEntryNeverFires) {
  net::io_context io;
  SocketPair pair(io);
  DeadlineQueue queue(io.get_executor(), milliseconds(10));
  static int calls = 0;
  calls = 0;
  DeadlineQueue::Entry disarmed;
  disarmed.on_expiry = [](DeadlineQueue::Entry&) { ++calls; };
  DeadlineQueue::Entry kept;
  kept.on_expiry = [](DeadlineQueue::Entry&) { calls += 10; };
  queue.arm(disarmed, pair.server);
  queue.arm(kept, pair.server);
  EXPECT_FALSE(queue.disarm(disarmed));
  ASSERT_TRUE(run_until(io, [&] { return calls >= 10; }));
  EXPECT_EQ(calls, 10);
}

TEST(DeadlineQueue, EntriesArmedAtTheirOwnDeadlinesExpireInDeadlineOrder) {
  net::io_context io;
  SocketPair pair(io);
  DeadlineQueue queue(io.get_executor(), std::chrono::hours(1));
  static std::vector<int> order;
  order.clear();
  struct Numbered : DeadlineQueue::Entry {
    int number = 0;
  };
  std::vector<Numbered> entries(3);
  const auto now = std::chrono::steady_clock::now();
  const milliseconds after[] = {milliseconds(40), milliseconds(10), milliseconds(25)};
  for (int i = 0; i < 3; ++i) {
    entries[i].number = i;
    entries[i].on_expiry = [](DeadlineQueue::Entry& e) {
      order.push_back(static_cast<Numbered&>(e).number);
    };
    queue.arm_at(entries[i], pair.server, now + after[i]);
  }
  ASSERT_TRUE(run_until(io, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 0}));
}

}  // namespace
}  // namespace infergate::gateway
