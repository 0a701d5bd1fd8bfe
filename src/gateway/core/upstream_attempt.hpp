// One attempt at serving a request on one endpoint (internal to the request path): holds the
// endpoint counted in flight (requests and tokens) for as long as the attempt lives, and the
// upstream exchange.
#pragma once

#include <memory>
#include <string>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway {

struct UpstreamAttempt {
  UpstreamAttempt(std::shared_ptr<Endpoint> e, std::unique_ptr<UpstreamExchange> x, long tokens = 0)
      : endpoint(std::move(e)), upstream(std::move(x)), tokens_(tokens) {
    endpoint->in_flight.fetch_add(1, std::memory_order_relaxed);
    endpoint->in_flight_tokens.fetch_add(tokens_, std::memory_order_relaxed);
    endpoint->requests.fetch_add(1, std::memory_order_relaxed);
  }
  ~UpstreamAttempt() {
    endpoint->in_flight.fetch_sub(1, std::memory_order_relaxed);
    endpoint->in_flight_tokens.fetch_sub(tokens_, std::memory_order_relaxed);
  }
  UpstreamAttempt(const UpstreamAttempt&) = delete;
  UpstreamAttempt& operator=(const UpstreamAttempt&) = delete;

  std::shared_ptr<Endpoint> endpoint;
  std::unique_ptr<UpstreamExchange> upstream;
  std::string quoted_client_model;  // set when the response's model must be rewritten back
  TimePoint started{};

 private:
  long tokens_ = 0;  // counted in the endpoint's in-flight tokens while the attempt lives
};

}  // namespace infergate::gateway
