// One request's state on its way through the phases (lifecycle/phases.hpp): what arrived, and
// everything each phase learns, in the order the phases learn it. A phase reads what the phases
// before it wrote and writes its own part; none keeps state elsewhere, so each can be run and
// tested alone over a context, and a second front end drives the same phases.
//
// A context belongs to its request's coroutine (one thread); it holds the configuration
// snapshot the request began with, so a reload never changes a request mid-way.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "config/config.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/error/request_error.hpp"
#include "gateway/http/client_response.hpp"
#include "gateway/http/http_types.hpp"
#include "gateway/lifecycle/request_ids.hpp"
#include "gateway/lifecycle/request_metrics.hpp"
#include "gateway/request/openai_request.hpp"
#include "gateway/request/response_json.hpp"
#include "gateway/routing/router.hpp"
#include "gateway/scheduling/scheduler.hpp"
#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway {

namespace flowcontrol {
class FlowController;
}

// What happened to one request: the account phase hands it to logs and metrics.
struct RequestRecord {
  std::string request_id;  // x-request-id: the client's, or drawn by the gateway
  std::string trace_id;    // of the traceparent sent upstream (empty: none)
  std::string method;
  std::string path;          // without the query, which may hold anything
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
  std::optional<RequestError> error;
  std::size_t request_bytes = 0;   // the client's body
  std::size_t response_bytes = 0;  // what went to the client
  TimePoint last_piece{};          // when the latest response piece went (inter-token latency)
  InterTokenLatency itl;           // between the pieces of a streamed response
  // The request's metric series (set when its model is resolved; null before).
  RequestMetrics::Series* series = nullptr;
};

// Held from admission to the request's end: when it goes, the pool may have room again, and
// its flow controller dispatches queued requests.
class AdmissionTicket {
 public:
  AdmissionTicket() = default;
  explicit AdmissionTicket(flowcontrol::FlowController* flow) : flow_(flow) {}
  AdmissionTicket(AdmissionTicket&& other) noexcept : flow_(std::exchange(other.flow_, nullptr)) {}
  AdmissionTicket& operator=(AdmissionTicket&& other) noexcept {
    release();
    flow_ = std::exchange(other.flow_, nullptr);
    return *this;
  }
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  ~AdmissionTicket() { release(); }

 private:
  void release();  // admit.cpp
  flowcontrol::FlowController* flow_ = nullptr;
};

struct RequestContext {
  RequestContext(const ClientRequest& r, std::shared_ptr<const Snapshot> s, TimePoint start)
      : request(r), snapshot(std::move(s)), started(start), ids(client_request_ids(r.headers)) {
    path = request.target;
    if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  }
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  const config::Config& config() const { return *snapshot->config; }

  // --- arrived ---
  const ClientRequest& request;
  std::string_view path;                           // the target without its query
  const std::shared_ptr<const Snapshot> snapshot;  // loaded once, held to the end
  const TimePoint started;
  // The client's well-formed request id and trace context; a front end that forwards the
  // request itself draws what is missing (RequestPhases::identify).
  RequestIds ids;

  // --- authenticate ---
  const config::Config::Grant* grant = nullptr;  // the API key's, with an API-key table

  // --- parse ---
  std::optional<ParsedRequest> parsed;

  // --- route ---
  std::optional<RouteDecision> route;
  const config::PoolConfig* pool_config = nullptr;
  PoolState* pool = nullptr;
  const PoolServices* services = nullptr;  // the pool's scheduler and flow controller

  // --- resolve model ---
  std::string_view objective;  // claimed by header (empty: none)
  ModelResolution resolution;
  std::int64_t priority = 0;  // after the trust rule for claims
  std::string flow;           // the fairness flow

  RequestMetrics::Running running;  // counted in its series' running gauge until the end

  // --- admit ---
  AdmissionTicket admission;
  // Where the answer goes, when the front end writes it (not the ext_proc one): told when the
  // request is queued (ClientResponse::watch_client).
  ClientResponse* client = nullptr;

  // --- pick ---
  // Only endpoints on these hosts may be picked (an ext_proc subset hint); absent: any.
  std::optional<std::vector<std::string>> allowed_hosts;
  SchedulingRequest scheduling;
  std::unique_ptr<SchedulingSession> session;  // begun by the first pick
  // Every endpoint picked, in order (inline for the usual few attempts: no allocation).
  boost::container::small_vector<const Endpoint*, 4> tried;
  std::shared_ptr<Endpoint> endpoint;  // the latest pick

  // --- forward ---
  UpstreamRequest upstream_request;
  std::string picker_body;          // the body as the pool's endpoint picker sent it back
  std::string quoted_client_model;  // non-empty: the response's model is rewritten back to it

  // --- relay and account: timings, usage and outcome ---
  RequestRecord record;
};

}  // namespace infergate::gateway
