// The request path as named phases over one RequestContext, each in its own unit
// (lifecycle/phases/):
//
//   identify       the request id and trace context: the client's, or drawn
//   authenticate   the API key, with an API-key table (401)
//   parse          the OpenAI body (400)
//   route          the HTTPRoute rule and pool (404, 503)
//   resolve model  the target model, priority and fairness flow
//   admit          request-control admit plugins, then the pool's flow control (429, 503)
//   pick           the next endpoint not yet tried (503, 429)
//   forward        the upstream request, sent to the picked endpoint; sent elsewhere when
//                  nothing can have reached the model server, or it answered a retryable
//                  status, before any byte went to the client
//   relay          the response to the client as it arrives (usage, TTFT, model rewrite)
//   account        the record to logs and metrics
//
// A front end drives them through RequestPhases: the standalone proxy (RequestHandler) runs
// every phase; a front end that leaves forwarding to a proxy in front of it (Envoy's ext_proc)
// runs them up to pick, then reports the response through the Attempt's hooks, and accounts.
// A phase that fails returns the RequestError the client must get, and the driver sends it.
//
// One RequestPhases per worker thread: it holds the worker's random source and upstream client.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "gateway/datastore/outlier_detector.hpp"
#include "gateway/http/client_response.hpp"
#include "gateway/lifecycle/request_context.hpp"
#include "gateway/lifecycle/request_control.hpp"

namespace infergate::gateway {

namespace pickerclient {
class PickerClient;
}

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

// Sends `error` as an OpenAI-style JSON error response with the request's id (none when empty),
// unless the response has begun (then the caller ends the stream) (relay.cpp).
boost::asio::awaitable<void> send_error(ClientResponse& response, const RequestError& error,
                                        std::string_view request_id);

// "10.0.0.1" of "10.0.0.1:8000", "fd00::1" of "[fd00::1]:8000" (pick.cpp).
std::string_view host_of(std::string_view address);

// Whether a model server's answer with this status may be tried on another endpoint, when no
// byte has gone to the client yet (forward.cpp).
bool retryable_status(int status);

class RequestPhases {
 public:
  RequestPhases(const SnapshotSource& snapshots, UpstreamClient& upstream, Random& random,
                const Clock& clock, HandlerOptions options, const RequestControl& control);

  // A context for `request` over the current snapshot (loaded here, once).
  RequestContext begin(const ClientRequest& request) const {
    return RequestContext(request, snapshots_.current(), clock_.now());
  }

  // Draws the request id and trace context the client did not send well-formed (the context
  // kept those it did). A front end that sends the request upstream calls it first; an ext_proc
  // picker does not, as Envoy forwards the request with the ids it has (identify.cpp).
  void identify(RequestContext& ctx);
  std::optional<RequestError> authenticate(RequestContext& ctx) const;  // authenticate.cpp
  std::optional<RequestError> parse(RequestContext& ctx);               // parse.cpp
  std::optional<RequestError> route(RequestContext& ctx);               // route.cpp
  void resolve_model(RequestContext& ctx);                              // resolve_model.cpp
  boost::asio::awaitable<std::optional<RequestError>> admit(RequestContext& ctx);  // admit.cpp
  // Sets ctx.endpoint to an endpoint not tried yet (pick.cpp).
  std::optional<RequestError> pick(RequestContext& ctx);
  // Builds ctx.upstream_request and starts the mirrors (forward.cpp).
  void prepare_upstream_request(RequestContext& ctx, const boost::asio::any_io_executor& executor);
  // Picks and sends until a response head comes (into `attempt` and `head`, to be relayed) or
  // nothing more may be tried (the error) (forward.cpp). A pool with an endpoint picker of its
  // own is picked by it (forward_via_picker.cpp), unless it fails and may fail open.
  boost::asio::awaitable<std::optional<RequestError>> forward(RequestContext& ctx,
                                                              std::optional<Attempt>& attempt,
                                                              ResponseHead& head);
  // The response to the client; failures land in ctx.record (relay.cpp).
  boost::asio::awaitable<void> relay(RequestContext& ctx, Attempt& attempt, ResponseHead& head,
                                     ClientResponse& response);
  // After relay: a model server that failed mid-response counts against it (outlier
  // ejection), and the attempt ends (relay.cpp).
  void end_attempt(RequestContext& ctx, Attempt& attempt);
  // Ends the request: its record to on_complete, its buffers kept (account.cpp).
  void account(RequestContext& ctx);

  // Called once per finished request (any outcome).
  std::function<void(const RequestRecord&)> on_complete;
  // The request families of /metrics: a resolved request joins its series (null: none kept).
  RequestMetrics* metrics = nullptr;
  // How pools with an endpoint picker of their own reach it (null: InferGate picks for every
  // pool, as an endpoint picker does itself).
  pickerclient::PickerClient* pickers = nullptr;
  // Degraded-mode events worth a log line (an endpoint ejected, ...).
  std::function<void(const std::string&)> on_event;

  // The source identify() draws ids from, instead of the phases' own (a test's fixed one; null:
  // the own again). The own is seeded from the system, so that two gateways, or one restarted,
  // never draw the same ids, and is apart from the decisions' source, so that drawing ids never
  // shifts a decision.
  void set_id_random(Random* random) { id_random_ = random; }

  const HandlerOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  const RequestControl& control() const { return control_; }
  UpstreamClient& upstream() const { return upstream_; }
  const SnapshotSource& snapshots() const { return snapshots_; }

 private:
  // Sends a copy of the request to one endpoint of `pool` and drops the answer.
  boost::asio::awaitable<void> mirror(std::shared_ptr<const Snapshot> snapshot, std::size_t pool,
                                      UpstreamRequest request, std::string body,
                                      std::string target_model);
  // One attempt on ctx.endpoint: made, counted, sent, and its outcome reported for outlier
  // ejection (forward.cpp). The failure's error, or the response head in `head` and, when the
  // endpoint was ejected for it, the note to add to a failure message.
  struct Sent {
    std::optional<RequestError> error;
    std::string ejected;
  };
  boost::asio::awaitable<Sent> send_attempt(RequestContext& ctx, std::optional<Attempt>& attempt,
                                            ResponseHead& head);
  // Whether the pool's endpoint picker decides for this request.
  bool picked_externally(const RequestContext& ctx) const {
    return pickers != nullptr && ctx.pool_config->picker.has_value();
  }
  // What asking the pool's endpoint picker came to: forwarded (nothing set), an error for the
  // client, or fall back to InferGate's own picker (FailOpen).
  struct PickerForward {
    bool fall_back = false;
    std::optional<RequestError> error;
  };
  boost::asio::awaitable<PickerForward> forward_via_picker(RequestContext& ctx,
                                                           std::optional<Attempt>& attempt,
                                                           ResponseHead& head);
  // The endpoint's outcome for outlier ejection; names it in `failure` when it was ejected.
  void report(RequestContext& ctx, Endpoint& endpoint, AttemptOutcome outcome,
              std::string& failure);
  // Every request lists its prompt's pieces (views into its body): the lists are kept for the
  // next requests instead of being freed and allocated again (a bounded number, of bounded size).
  std::vector<std::string_view> take_prompt_buffer();
  void keep_prompt_buffer(std::vector<std::string_view> buffer);

  const SnapshotSource& snapshots_;
  UpstreamClient& upstream_;
  Random& random_;
  Mt19937Random own_id_random_;
  Random* id_random_ = nullptr;
  const Clock& clock_;
  HandlerOptions options_;
  const RequestControl& control_;
  std::vector<std::vector<std::string_view>> prompt_buffers_;
};

}  // namespace infergate::gateway
