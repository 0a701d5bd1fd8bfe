// Routing: which pool serves a request, and as which model.
//
// Rules of every HTTPRoute are matched by Gateway API precedence: an Exact path beats a prefix,
// a longer prefix beats a shorter one, more header matches beat fewer, then the older route,
// then the earlier rule. The header X-Gateway-Model-Name carries the body's `model`, so a rule
// can send each model to its own pool ("body-based routing"). A matched rule draws one of its
// backend pools by weight. With no HTTPRoute at all, a model declared by an InferenceModel goes
// to that model's pool, and anything else to the only pool if there is exactly one.
//
// Thread-safety: immutable after construction; route() may run on any thread with its own Random.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/random.hpp"
#include "config/config.hpp"
#include "gateway/error/request_error.hpp"

namespace infergate::gateway {

// Looks up a request header by lower-case name.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view)>;

struct RouteDecision {
  std::size_t pool = 0;
  const config::ResolvedRule* rule = nullptr;  // null for the no-HTTPRoute fallback
  std::vector<std::size_t> mirror_pools;       // drawn by each mirror's fraction
};

class Router {
 public:
  explicit Router(std::shared_ptr<const config::Config> config);

  // The decision, or why there is none: 404 (no rule matches; no pool declares the model) or 503
  // (the matched rule has no backend with a positive weight).
  std::variant<RouteDecision, RequestError> route(std::string_view path, std::string_view model,
                                                  const HeaderLookup& headers,
                                                  Random& random) const;

 private:
  struct Candidate {
    std::size_t rule;
    std::size_t match;
  };
  std::shared_ptr<const config::Config> config_;
  std::vector<Candidate> by_precedence_;
};

// The model a request is served as, and how important it is.
struct ModelResolution {
  std::string target_model;                          // what goes upstream
  const config::InferenceModel* declared = nullptr;  // null: passed through undeclared
  config::Criticality criticality = config::Criticality::kStandard;
  std::int64_t priority = 0;           // the objective's when one was named and found
  std::int64_t declared_priority = 0;  // the model's own (its criticality), before any objective
  // The InferenceModelRewrite that chose target_model (points into the pool's configuration).
  const std::string* rewrite_name = nullptr;
};

// Resolves `model` in `pool`: an InferenceModel's targets are drawn by weight (all equal when
// unweighted), else an InferenceModelRewrite's rule for the model (an exact match, else the
// catch-all); an objective named by `objective` (x-gateway-inference-objective) sets priority.
ModelResolution resolve_model(const config::PoolConfig& pool, const std::string& model,
                              std::string_view objective, Random& random);

}  // namespace infergate::gateway
