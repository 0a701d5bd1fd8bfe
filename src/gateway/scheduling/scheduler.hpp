// Endpoint picking, as the request path sees it. A request begins one SchedulingSession on its
// pool; each attempt (the first, then each retry) asks the session for an endpoint that is not
// in `exclude` (the endpoints that already failed this request), then tells it where the
// request is dispatched, so state keyed by the request (the prefix index's entries) follows it
// to the endpoint that finally serves it.
//
// Implementation: ProfileScheduler (filters -> scorers -> picker, scheduling/framework/), one
// per pool, built by the Datastore's SchedulerFactory (scheduling::scheduler_factory).
//
// Thread-safety: Scheduler::begin() may be called from every worker thread at once; a session
// belongs to its request's thread.
#pragma once

#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/text_pieces.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/error/request_error.hpp"

namespace infergate::gateway {

struct SchedulingRequest {
  std::string target_model;  // after rewrite: LoRA affinity and the prefix hash seed
  TextPieces prompt;         // completion prompt, or chat roles and contents in order
  long expected_tokens = 0;  // prompt estimate plus expected output (live token counters)
};

struct PickResult {
  std::shared_ptr<Endpoint> endpoint;  // null on failure
  // Why none: 503 (none healthy, or all tried) or 429 (the filters left none: load).
  RequestError failure;
};

class SchedulingSession {
 public:
  virtual ~SchedulingSession() = default;
  // The decision: an endpoint not in `exclude`.
  virtual PickResult pick(std::span<const Endpoint* const> exclude) = 0;
  // The request is being sent to `endpoint` (after pick): state keyed by the request (the
  // prompt's prefix-index entries) goes there, moved from the previous attempt's endpoint.
  virtual void dispatched(const Endpoint& /*endpoint*/) {}
};

// Per-thread things a decision draws on.
struct SchedulingEnv {
  Random& random;
  const Clock& clock;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // A request's decisions. The caller picks at once: the first decision may be made at the time
  // the session began.
  virtual std::unique_ptr<SchedulingSession> begin(PoolState& pool,
                                                   const SchedulingRequest& request,
                                                   SchedulingEnv env) = 0;
  // How many characters of the prompt text its decisions read (prefix hashing): the request
  // path need not keep more.
  virtual std::size_t prompt_chars() const { return std::numeric_limits<std::size_t>::max(); }
};

}  // namespace infergate::gateway
