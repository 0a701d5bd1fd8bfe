// Request-control extension points, as the upstream picker (v1.5.0, requestcontrol) names
// them: code that watches or vetoes a request at fixed points of its life without being part of
// a phase. Every front end calls them at the same points:
//
//   admit            before flow control: a plugin may refuse the request (its error is sent);
//   pre-request      each attempt, once its endpoint is picked and before anything is sent;
//   response header  the endpoint's response head arrived;
//   response body    each piece of the response as it goes to the client, then once with
//                    end_of_stream: also when the attempt failed, was abandoned, or the client
//                    left, so whatever pre-request took is always given back.
//
// What used to be hard-wired at dispatch are the built-in plugins (request_control.cpp):
// `in-flight-counter` (the endpoint's in-flight requests and tokens, which the scorers and the
// saturation detector read) and `prefix-cache-recorder` (the prompt's blocks recorded in the
// pool's prefix index for the endpoint that serves them).
//
// Thread-safety: plugins are shared by every worker; a hook runs on its request's thread and
// must not block.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/lifecycle/request_context.hpp"

namespace infergate::gateway {

class RequestControlPlugin {
 public:
  virtual ~RequestControlPlugin() = default;
  virtual std::string_view name() const = 0;
  virtual std::optional<RequestError> admit(const RequestContext& /*ctx*/) { return std::nullopt; }
  virtual void pre_request(RequestContext& /*ctx*/, Endpoint& /*endpoint*/) {}
  virtual void response_header(RequestContext& /*ctx*/, Endpoint& /*endpoint*/,
                               const ResponseHead& /*head*/) {}
  virtual void response_body(RequestContext& /*ctx*/, Endpoint& /*endpoint*/,
                             std::string_view /*piece*/, bool /*end_of_stream*/) {}
};

// The plugins of a gateway, called in the order they were added.
class RequestControl {
 public:
  // in-flight-counter, then prefix-cache-recorder.
  static RequestControl with_builtin_plugins();

  void add(std::shared_ptr<RequestControlPlugin> plugin) { plugins_.push_back(std::move(plugin)); }
  const std::vector<std::shared_ptr<RequestControlPlugin>>& plugins() const { return plugins_; }

  std::optional<RequestError> admit(const RequestContext& ctx) const;
  void pre_request(RequestContext& ctx, Endpoint& endpoint) const;
  void response_header(RequestContext& ctx, Endpoint& endpoint, const ResponseHead& head) const;
  void response_body(RequestContext& ctx, Endpoint& endpoint, std::string_view piece,
                     bool end_of_stream) const;

 private:
  std::vector<std::shared_ptr<RequestControlPlugin>> plugins_;
};

// One attempt at serving the request on its picked endpoint: runs pre-request when made, and
// the end of the response body when it goes (unless ended before), however the attempt ends.
class Attempt {
 public:
  // With a clock, the gaps between a streamed response's pieces are its inter-token latency.
  Attempt(RequestContext& ctx, const RequestControl& control, std::shared_ptr<Endpoint> endpoint,
          const Clock* clock = nullptr);
  ~Attempt() { end(); }
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  Endpoint& endpoint() const { return *endpoint_; }
  void response_header(const ResponseHead& head) {
    control_.response_header(ctx_, *endpoint_, head);
  }
  // A piece of the response went to the client (metered: bytes, inter-token latency).
  void response_body(std::string_view piece) {
    if (!piece.empty()) meter(piece.size());
    control_.response_body(ctx_, *endpoint_, piece, false);
  }
  // The response is over (or will never come): once.
  void end() {
    if (ended_) return;
    ended_ = true;
    control_.response_body(ctx_, *endpoint_, {}, true);
  }

  std::unique_ptr<UpstreamExchange> upstream;  // the standalone front end's exchange
  TimePoint started{};

 private:
  void meter(std::size_t bytes);

  RequestContext& ctx_;
  const RequestControl& control_;
  const Clock* clock_;
  std::shared_ptr<Endpoint> endpoint_;
  bool ended_ = false;
};

}  // namespace infergate::gateway
