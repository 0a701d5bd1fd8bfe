#include "gateway/routing/router.hpp"

#include <algorithm>

namespace infergate::gateway {

using config::PathMatch;
using config::RouteMatch;

namespace {

bool path_matches(const PathMatch& m, std::string_view path) {
  if (m.type == PathMatch::Type::kExact) return path == m.value;
  if (m.value == "/") return true;
  // A prefix matches whole path segments: "/v1" matches "/v1" and "/v1/x", not "/v10".
  if (path.substr(0, m.value.size()) != m.value) return false;
  return path.size() == m.value.size() || m.value.back() == '/' || path[m.value.size()] == '/';
}

bool matches(const RouteMatch& m, std::string_view path, const HeaderLookup& headers) {
  if (!path_matches(m.path, path)) return false;
  for (const auto& h : m.headers) {
    auto v = headers(h.name);
    if (!v || *v != h.value) return false;
  }
  return true;
}

}  // namespace

Router::Router(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {
  const auto& rules = config_->rules;
  for (std::size_t r = 0; r < rules.size(); ++r)
    for (std::size_t m = 0; m < rules[r].matches.size(); ++m) by_precedence_.push_back({r, m});
  std::stable_sort(by_precedence_.begin(), by_precedence_.end(),
                   [&](const Candidate& a, const Candidate& b) {
                     const RouteMatch& ma = rules[a.rule].matches[a.match];
                     const RouteMatch& mb = rules[b.rule].matches[b.match];
                     const bool ea = ma.path.type == PathMatch::Type::kExact,
                                eb = mb.path.type == PathMatch::Type::kExact;
                     if (ea != eb) return ea;
                     if (ma.path.value.size() != mb.path.value.size())
                       return ma.path.value.size() > mb.path.value.size();
                     if (ma.headers.size() != mb.headers.size())
                       return ma.headers.size() > mb.headers.size();
                     if (rules[a.rule].route_order != rules[b.rule].route_order)
                       return rules[a.rule].route_order < rules[b.rule].route_order;
                     return a.rule < b.rule;
                   });
}

namespace {

RequestError no_route(std::string_view model) {
  return RequestError::not_found("The model `" + std::string(model) + "` does not exist.", "model");
}

// One of `targets` (not empty), drawn by weight.
const std::string& draw_target(const std::vector<config::TargetModel>& targets, Random& random) {
  std::int64_t total = 0;
  for (const auto& t : targets) total += t.weight;
  auto draw = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(total)));
  for (const auto& t : targets) {
    if (draw < t.weight) return t.name;
    draw -= t.weight;
  }
  return targets.back().name;
}

}  // namespace

std::variant<RouteDecision, RequestError> Router::route(std::string_view path,
                                                        std::string_view model,
                                                        const HeaderLookup& headers,
                                                        Random& random) const {
  const config::Config& c = *config_;
  if (c.rules.empty()) {
    for (std::size_t i = 0; i < c.pools.size(); ++i)
      if (c.pools[i].models.contains(std::string(model))) return RouteDecision{i, nullptr, {}};
    if (c.pools.size() == 1) return RouteDecision{0, nullptr, {}};
    return no_route(model);
  }
  for (const Candidate& cand : by_precedence_) {
    const config::ResolvedRule& rule = c.rules[cand.rule];
    if (!matches(rule.matches[cand.match], path, headers)) continue;
    std::int64_t total = 0;
    for (const auto& b : rule.backends) total += b.weight;
    if (total <= 0)
      return RequestError::unavailable("the route for model `" + std::string(model) +
                                       "` has no backend with a positive weight");
    auto draw = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(total)));
    RouteDecision d;
    d.rule = &rule;
    for (const auto& b : rule.backends) {
      if (draw < b.weight) {
        d.pool = b.pool;
        break;
      }
      draw -= b.weight;
    }
    for (const auto& m : rule.mirrors)
      if (m.fraction >= 1.0 || random.unit() < m.fraction) d.mirror_pools.push_back(m.pool);
    return d;
  }
  return no_route(model);
}

ModelResolution resolve_model(const config::PoolConfig& pool, const std::string& model,
                              std::string_view objective, Random& random) {
  ModelResolution out;
  out.target_model = model;
  auto it = pool.models.find(model);
  if (it != pool.models.end()) {
    const config::InferenceModel& m = it->second;
    out.declared = &m;
    out.criticality = m.criticality;
    // Critical > Standard (0) > Sheddable on the priority scale.
    out.priority = m.criticality == config::Criticality::kCritical    ? 1
                   : m.criticality == config::Criticality::kSheddable ? -1
                                                                      : 0;
    if (!m.targets.empty()) out.target_model = draw_target(m.targets, random);
  }
  // An InferenceModelRewrite applies where no InferenceModel rewrites the model.
  if (!out.declared || out.declared->targets.empty()) {
    auto rw = pool.model_rewrites.find(model);
    const config::ModelRewriteRule* rule = rw != pool.model_rewrites.end() ? &rw->second
                                           : pool.default_rewrite          ? &*pool.default_rewrite
                                                                           : nullptr;
    if (rule && !rule->targets.empty()) {
      out.target_model = draw_target(rule->targets, random);
      out.rewrite_name = &rule->rewrite_name;
    }
  }
  out.declared_priority = out.priority;
  if (!objective.empty()) {
    auto obj = pool.objectives.find(std::string(objective));
    if (obj != pool.objectives.end()) out.priority = obj->second.priority;
  }
  return out;
}

}  // namespace infergate::gateway
