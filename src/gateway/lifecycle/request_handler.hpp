// The standalone gateway's request path: every phase in order (lifecycle/phases.hpp), the
// route's timeout around forwarding and relaying, errors sent as OpenAI-style JSON, and the
// models list (GET /v1/models) answered by the gateway itself.
//
// One RequestHandler per worker thread: it owns nothing shared except through the snapshot
// source (whose pools carry their schedulers) and the endpoints' atomic counters.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

struct ModelsCacheEntry;  // one pool's models, as its servers report them (models_endpoint.cpp)

class RequestHandler {
 public:
  // Every pool of the snapshots has a scheduler (a Datastore built with a SchedulerFactory).
  // `control` (the built-in plugins by default) must outlive the handler.
  RequestHandler(const SnapshotSource& snapshots, UpstreamClient& upstream, Random& random,
                 const Clock& clock, HandlerOptions options,
                 const RequestControl& control = builtin_request_control());

  boost::asio::awaitable<void> handle(const ClientRequest& request, ClientResponse& response);

  // Its phases: on_complete and on_event are set there.
  RequestPhases& phases() { return phases_; }

  // RequestControl::with_builtin_plugins(), made once.
  static const RequestControl& builtin_request_control();

 private:
  boost::asio::awaitable<void> forward_and_relay(RequestContext& ctx, ClientResponse& response);
  // The request fails with `error`: recorded, and sent unless the response has begun.
  static boost::asio::awaitable<void> fail(RequestContext& ctx, ClientResponse& response,
                                           const RequestError& error);
  boost::asio::awaitable<void> list_models(const RequestContext& ctx, ClientResponse& response);
  // Asks `addresses` in turn for their models (each within a short bound) into `entry`.
  boost::asio::awaitable<void> refresh_models(std::shared_ptr<ModelsCacheEntry> entry,
                                              std::shared_ptr<const Snapshot> snapshot,
                                              std::size_t pool, std::vector<std::string> addresses);

  RequestPhases phases_;
  struct ModelsCache;
  std::shared_ptr<ModelsCache> models_cache_;
};

}  // namespace infergate::gateway
