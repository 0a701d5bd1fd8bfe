// The request path, independent of how the request arrived: parse the OpenAI body, route it to
// a pool, resolve the model, pick an endpoint, forward (retrying on another endpoint while the
// client has not received a byte), relay the answer as it arrives, account for it.
//
// One RequestHandler per worker thread: it owns nothing shared except through the snapshot
// source (whose pools carry their schedulers) and the endpoints' atomic counters.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "gateway/core/client_response.hpp"
#include "gateway/core/error.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/datastore/outlier_detector.hpp"
#include "gateway/request/response_json.hpp"
#include "gateway/scheduling/scheduler.hpp"
#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway {

struct UpstreamAttempt;
struct ModelsCacheEntry;  // one pool's models, as its servers report them (models_endpoint.cpp)

class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual std::shared_ptr<const Snapshot> current() const = 0;
};

struct HandlerOptions {
  int max_retries = 2;  // further endpoints tried after the first, before any byte to the client
  std::size_t max_buffered_response = 16 << 20;  // a whole (non-stream) body is buffered up to this
  std::chrono::milliseconds models_cache_ttl{10000};
  OutlierOptions outlier;
  // Tell clients which endpoint served them (x-gateway-destination-endpoint-served): it reveals
  // model-server addresses, so it is off unless asked for.
  bool expose_endpoint = false;
  // Honour every priority and fairness claim in request headers, as a picker behind a trusted
  // gateway does. Off: a claimed objective may lower the priority its model gives, never raise
  // it, and the fairness-id header is ignored (docs/security.md). An API key's grant overrides
  // both: claims up to its maxPriority, its tenant as the flow.
  bool trust_client_claims = false;
};

// What happened to one request, for logs, metrics and tests.
struct RequestRecord {
  std::string model;         // as the client sent it
  std::string target_model;  // as sent upstream
  std::string pool;
  std::string endpoint;  // the one that served (after retries)
  int status = 0;
  int attempts = 0;
  bool streamed = false;
  std::optional<Usage> usage;  // from the response's usage, when present
  long counted_output = 0;     // generated pieces counted from the stream
  Duration queued{};           // time waiting in flow control
  std::int64_t priority = 0;   // as admitted, after the trust rule for claims
  std::string flow;            // the fairness flow it was queued in
  Duration ttft{};
  Duration total{};
  std::optional<GatewayError> error;
};

class RequestHandler {
 public:
  // Every pool of the snapshots has a scheduler (a Datastore built with a SchedulerFactory).
  RequestHandler(const SnapshotSource& snapshots, UpstreamClient& upstream, Random& random,
                 const Clock& clock, HandlerOptions options);

  boost::asio::awaitable<void> handle(const ClientRequest& request, ClientResponse& response);

  // Called once per finished request (any outcome).
  std::function<void(const RequestRecord&)> on_complete;
  // Degraded-mode events worth a log line (an endpoint ejected, ...).
  std::function<void(const std::string&)> on_event;

 private:
  // Where a routed request goes and what it sends.
  struct ForwardPlan {
    const config::PoolConfig& pool_config;
    PoolState& pool;
    UpstreamRequest request;
    SchedulingRequest scheduling;
    std::string quoted_client_model;  // non-empty: rewrite the response's model back to this
  };
  boost::asio::awaitable<void> proxy(const ClientRequest& request, std::string_view path,
                                     ClientResponse& response, RequestRecord& record,
                                     const config::Config::Grant* grant);
  boost::asio::awaitable<void> forward(ForwardPlan& plan, ClientResponse& response,
                                       RequestRecord& record);
  // Sends a copy of `request` (its body's bytes copied into `body`) to one endpoint of `pool`
  // and drops the answer.
  boost::asio::awaitable<void> mirror(std::shared_ptr<const Snapshot> snapshot, std::size_t pool,
                                      UpstreamRequest request, std::string body,
                                      std::string target_model);
  boost::asio::awaitable<void> list_models(ClientResponse& response);
  // Asks `addresses` in turn for their models (each within a short bound) into `entry`.
  boost::asio::awaitable<void> refresh_models(std::shared_ptr<ModelsCacheEntry> entry,
                                              std::shared_ptr<const Snapshot> snapshot,
                                              std::size_t pool, std::vector<std::string> addresses);
  boost::asio::awaitable<void> relay(UpstreamAttempt& ex, ResponseHead head,
                                     ClientResponse& response, RequestRecord& record);
  boost::asio::awaitable<void> send_error(ClientResponse& response, const GatewayError& error);
  // Prompt texts are 4-16 KB and every request builds one: their buffers are kept for the next
  // requests instead of being freed and allocated again (a bounded number, of bounded size).
  std::string take_prompt_buffer();
  void keep_prompt_buffer(std::string buffer);

  const SnapshotSource& snapshots_;
  UpstreamClient& upstream_;
  Random& random_;
  const Clock& clock_;
  HandlerOptions options_;
  struct ModelsCache;
  std::shared_ptr<ModelsCache> models_cache_;
  std::vector<std::string> prompt_buffers_;
};

}  // namespace infergate::gateway
