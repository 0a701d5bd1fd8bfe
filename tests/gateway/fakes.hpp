// In-memory stand-ins for the request path's edges: a client response that records what the
// client would receive, model servers scripted per address, and a scheduler that takes a
// pool's endpoints in turn. With them the whole request path runs without sockets.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <map>

#include "config/config.hpp"
#include "gateway/lifecycle/request_handler.hpp"

namespace infergate::gateway::testing {

class MemoryResponse final : public ClientResponse {
 public:
  boost::asio::awaitable<bool> send_head(const ResponseHead& h) override {
    head = h;
    co_return !gone();
  }
  boost::asio::awaitable<bool> send_body(std::string_view data) override {
    if (gone()) co_return false;
    body.append(data);
    pieces.emplace_back(data);
    ++writes;
    co_return true;
  }
  boost::asio::awaitable<bool> finish() override {
    finished = !gone();
    co_return finished;
  }
  bool started() const override { return head.has_value(); }
  std::optional<std::string_view> header(std::string_view name) const {
    return head ? find_header(head->headers, name) : std::nullopt;
  }

  std::optional<ResponseHead> head;
  std::string body;
  std::vector<std::string> pieces;
  bool finished = false;
  int writes = 0;
  int fail_after_writes = -1;  // the client disappears after this many body writes

 private:
  bool gone() const { return fail_after_writes >= 0 && writes >= fail_after_writes; }
};

// What one scripted model server does with the next request it gets.
struct ScriptedReply {
  std::optional<UpstreamFailure> failure;  // fail before the response head
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::string> body_pieces;
  bool break_after_pieces = false;  // the connection dies after the pieces (mid-body)
  HeaderList headers{};             // more response headers
};

class FakeUpstream final : public UpstreamClient {
 public:
  struct Received {
    std::string address;
    UpstreamRequest request;  // its body's views are not valid after the exchange
    std::string body;         // the body as it went out
  };
  std::unique_ptr<UpstreamExchange> exchange(const std::string& address,
                                             const UpstreamTls* tls) override;

  // Replies for `address`, in order; when the script runs out, `fallback[address]` repeats.
  std::map<std::string, std::deque<ScriptedReply>> script;
  std::map<std::string, ScriptedReply> fallback;
  std::vector<Received> received;
};

// Each pool's endpoints in turn, skipping those the request already tried; a retry continues
// from the current position. The request path's tests script endpoints by address and want a
// known order, not the scheduling layer's rules (tested under tests/gateway/scheduling/).
class InTurnScheduler final : public Scheduler {
 public:
  std::unique_ptr<SchedulingSession> begin(PoolState& pool, const SchedulingRequest& request,
                                           SchedulingEnv env) override;

 private:
  std::atomic<std::uint64_t> next_{0};
};

// Snapshots of one configuration, every pool scheduled by an InTurnScheduler.
class StaticSnapshots final : public SnapshotSource {
 public:
  explicit StaticSnapshots(const std::string& yaml);
  std::shared_ptr<const Snapshot> current() const override { return snapshot; }
  Datastore datastore;
  std::shared_ptr<const Snapshot> snapshot;
};

// Runs one request through a RequestHandler to completion.
struct Harness {
  explicit Harness(const std::string& yaml, HandlerOptions options = {});
  MemoryResponse run(const ClientRequest& request, int fail_after_writes = -1);
  MemoryResponse post(const std::string& path, const std::string& body, HeaderList headers = {},
                      int fail_after_writes = -1);

  StaticSnapshots snapshots;
  FakeUpstream upstream;
  Mt19937Random random{7};
  ManualClock clock;
  RequestHandler handler;
  std::vector<RequestRecord> records;
};

}  // namespace infergate::gateway::testing
