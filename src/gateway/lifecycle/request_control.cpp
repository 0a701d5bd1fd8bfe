#include "gateway/lifecycle/request_control.hpp"

namespace infergate::gateway {
namespace {

// The gateway's own count of what each endpoint is serving: it fills the gap between scrapes
// for the queue and token-load scorers and for flow control's saturation.
class InFlightCounter final : public RequestControlPlugin {
 public:
  std::string_view name() const override { return "in-flight-counter"; }
  void pre_request(RequestContext& ctx, Endpoint& ep) override {
    ep.in_flight.fetch_add(1, std::memory_order_relaxed);
    ep.in_flight_tokens.fetch_add(ctx.scheduling.expected_tokens, std::memory_order_relaxed);
    ep.requests.fetch_add(1, std::memory_order_relaxed);
  }
  void response_body(RequestContext& ctx, Endpoint& ep, std::string_view /*piece*/,
                     bool end_of_stream) override {
    if (!end_of_stream) return;
    ep.in_flight.fetch_sub(1, std::memory_order_relaxed);
    ep.in_flight_tokens.fetch_sub(ctx.scheduling.expected_tokens, std::memory_order_relaxed);
  }
};

// The prompt's blocks go into the pool's prefix index under the endpoint the request is sent
// to; a retry moves them from the endpoint that failed (the scheduling session knows both).
class PrefixCacheRecorder final : public RequestControlPlugin {
 public:
  std::string_view name() const override { return "prefix-cache-recorder"; }
  void pre_request(RequestContext& ctx, Endpoint& ep) override {
    if (ctx.session) ctx.session->dispatched(ep);
  }
};

}  // namespace

RequestControl RequestControl::with_builtin_plugins() {
  RequestControl control;
  control.add(std::make_shared<InFlightCounter>());
  control.add(std::make_shared<PrefixCacheRecorder>());
  return control;
}

std::optional<RequestError> RequestControl::admit(const RequestContext& ctx) const {
  for (const auto& p : plugins_)
    if (auto refused = p->admit(ctx)) return refused;
  return std::nullopt;
}

void RequestControl::pre_request(RequestContext& ctx, Endpoint& endpoint) const {
  for (const auto& p : plugins_) p->pre_request(ctx, endpoint);
}

void RequestControl::response_header(RequestContext& ctx, Endpoint& endpoint,
                                     const ResponseHead& head) const {
  for (const auto& p : plugins_) p->response_header(ctx, endpoint, head);
}

void RequestControl::response_body(RequestContext& ctx, Endpoint& endpoint, std::string_view piece,
                                   bool end_of_stream) const {
  for (const auto& p : plugins_) p->response_body(ctx, endpoint, piece, end_of_stream);
}

Attempt::Attempt(RequestContext& ctx, const RequestControl& control,
                 std::shared_ptr<Endpoint> endpoint, const Clock* clock)
    : ctx_(ctx), control_(control), clock_(clock), endpoint_(std::move(endpoint)) {
  control_.pre_request(ctx_, *endpoint_);
}

void Attempt::meter(std::size_t bytes) {
  RequestRecord& r = ctx_.record;
  r.response_bytes += bytes;
  if (!clock_ || !r.streamed) return;
  const TimePoint now = clock_->now();
  if (r.last_piece != TimePoint{})
    r.itl.observe(std::chrono::duration<double>(now - r.last_piece).count());
  r.last_piece = now;
}

}  // namespace infergate::gateway
