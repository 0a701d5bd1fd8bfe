#include "fakes.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <stdexcept>

namespace infergate::gateway::testing {
namespace net = boost::asio;

namespace {

class FakeExchange final : public UpstreamExchange {
 public:
  FakeExchange(FakeUpstream& owner, std::string address)
      : owner_(owner), address_(std::move(address)) {}

  net::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(
      const UpstreamRequest& request) override {
    owner_.received.push_back({address_, request, request.flat_body()});
    owner_.received.back().request.body = {};
    auto& queue = owner_.script[address_];
    if (!queue.empty()) {
      reply_ = queue.front();
      queue.pop_front();
    } else if (auto it = owner_.fallback.find(address_); it != owner_.fallback.end()) {
      reply_ = it->second;
    } else {
      co_return UpstreamFailure::kConnect;  // nobody listens there
    }
    if (reply_.failure) co_return *reply_.failure;
    ResponseHead head;
    head.status = reply_.status;
    head.headers.emplace_back("content-type", reply_.content_type);
    head.headers.insert(head.headers.end(), reply_.headers.begin(), reply_.headers.end());
    std::size_t total = 0;
    for (const auto& p : reply_.body_pieces) total += p.size();
    if (reply_.content_type != "text/event-stream") head.content_length = total;
    co_return head;
  }

  net::awaitable<BodyRead> read_body(std::string& out) override {
    if (next_ < reply_.body_pieces.size()) {
      out += reply_.body_pieces[next_++];
      co_return BodyRead::kData;
    }
    co_return reply_.break_after_pieces ? BodyRead::kError : BodyRead::kEnd;
  }

 private:
  FakeUpstream& owner_;
  std::string address_;
  ScriptedReply reply_;
  std::size_t next_ = 0;
};

class InTurnSession final : public SchedulingSession {
 public:
  InTurnSession(PoolState& pool, std::atomic<std::uint64_t>& next) : pool_(pool), next_(next) {}

  PickResult pick(std::span<const Endpoint* const> exclude) override {
    const std::size_t n = pool_.endpoints.size();
    if (n == 0) return {nullptr, {503, "the pool has no endpoints"}};
    const std::uint64_t start = exclude.empty() ? next_.fetch_add(1, std::memory_order_relaxed)
                                                : next_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ep = pool_.endpoints[(start + i) % n];
      if (std::find(exclude.begin(), exclude.end(), ep.get()) == exclude.end()) return {ep, {}};
    }
    return {nullptr, {503, "every endpoint of the pool was tried"}};
  }

 private:
  PoolState& pool_;
  std::atomic<std::uint64_t>& next_;
};

}  // namespace

std::unique_ptr<SchedulingSession> InTurnScheduler::begin(PoolState& pool, const SchedulingRequest&,
                                                          SchedulingEnv) {
  return std::make_unique<InTurnSession>(pool, next_);
}

std::unique_ptr<UpstreamExchange> FakeUpstream::exchange(const std::string& address,
                                                         const UpstreamTls*) {
  return std::make_unique<FakeExchange>(*this, address);
}

StaticSnapshots::StaticSnapshots(const std::string& yaml)
    : datastore([](const config::Config&, std::size_t, PoolState&) {
        return std::make_shared<InTurnScheduler>();
      }) {
  config::LoadResult loaded;
  config::load_text(yaml, "test.yaml", loaded);
  auto built = config::build_config(std::move(loaded));
  if (!built.config) throw std::runtime_error(built.diagnostics.error_text());
  snapshot = datastore.reconcile(built.config);
}

Harness::Harness(const std::string& yaml, HandlerOptions options)
    : snapshots(yaml), handler(snapshots, upstream, random, clock, options) {
  handler.phases().on_complete = [this](const RequestRecord& r) { records.push_back(r); };
}

MemoryResponse Harness::run(const ClientRequest& request, int fail_after_writes) {
  MemoryResponse response;
  response.fail_after_writes = fail_after_writes;
  net::io_context io;
  net::co_spawn(io, handler.handle(request, response), [](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return response;
}

MemoryResponse Harness::post(const std::string& path, const std::string& body, HeaderList headers,
                             int fail_after_writes) {
  ClientRequest r{"POST", path, std::move(headers), body};
  return run(r, fail_after_writes);
}

}  // namespace infergate::gateway::testing
