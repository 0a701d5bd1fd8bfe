// InferenceModel, InferenceObjective and InferenceModelRewrite
// (inference.networking.x-k8s.io/v1alpha2).
#include "config/parsers.hpp"

namespace infergate::config {
namespace {

void parse_pool_ref(MapReader& spec, PoolRef& out) {
  if (!spec.has("poolRef")) {
    spec.error("poolRef", "required field is missing");
    return;
  }
  MapReader ref(spec.child("poolRef"), spec.path_of("poolRef"), spec.file(), spec.diagnostics());
  if (auto g = ref.string("group")) out.group = *g;
  if (auto k = ref.string("kind")) {
    if (*k != "InferencePool") ref.error("kind", "must be InferencePool, got '" + *k + "'");
    out.kind = *k;
  }
  if (auto n = ref.string("name", true)) out.name = *n;
}

}  // namespace

std::string_view criticality_name(Criticality c) {
  switch (c) {
    case Criticality::kCritical:
      return "Critical";
    case Criticality::kStandard:
      return "Standard";
    case Criticality::kSheddable:
      return "Sheddable";
  }
  return "Standard";
}

void parse_inference_model(MapReader& spec, InferenceModel& out) {
  if (auto name = spec.string("modelName", true)) {
    if (name->empty() || name->size() > 256) spec.error("modelName", "must be 1 to 256 characters");
    out.model_name = *name;
  }
  if (auto c = spec.string("criticality")) {
    if (*c == "Critical")
      out.criticality = Criticality::kCritical;
    else if (*c == "Standard")
      out.criticality = Criticality::kStandard;
    else if (*c == "Sheddable")
      out.criticality = Criticality::kSheddable;
    else
      spec.error("criticality", "must be Critical, Standard or Sheddable, got '" + *c + "'");
  }
  int with_weight = 0;
  for_each_item(spec, "targetModels", [&](const YAML::Node& item, const std::string& path) {
    MapReader t(item, path, spec.file(), spec.diagnostics());
    TargetModel target;
    if (auto n = t.string("name", true)) target.name = *n;
    if (t.has("weight")) {
      ++with_weight;
      if (auto w = t.integer("weight", 1, 1000000)) target.weight = *w;
    } else {
      t.child("weight");
    }
    out.targets.push_back(std::move(target));
  });
  if (out.targets.size() > 10) spec.error("targetModels", "at most 10 target models");
  if (with_weight != 0 && with_weight != static_cast<int>(out.targets.size()))
    spec.error("targetModels", "either every target model has a weight or none has");
  parse_pool_ref(spec, out.pool);
}

void parse_inference_objective(MapReader& spec, InferenceObjective& out) {
  if (auto p = spec.integer("priority", INT32_MIN, INT32_MAX)) out.priority = *p;
  parse_pool_ref(spec, out.pool);
}

void parse_inference_model_rewrite(MapReader& spec, InferenceModelRewrite& out) {
  if (!spec.has("rules")) spec.error("rules", "required field is missing");
  for_each_item(spec, "rules", [&](const YAML::Node& item, const std::string& path) {
    MapReader r(item, path, spec.file(), spec.diagnostics());
    ModelRewriteRule rule;
    for_each_item(r, "matches", [&](const YAML::Node& m, const std::string& match_path) {
      MapReader match(m, match_path, spec.file(), spec.diagnostics());
      if (!match.has("model")) {
        match.error("model", "required field is missing");
        return;
      }
      MapReader model(match.child("model"), match.path_of("model"), spec.file(),
                      spec.diagnostics());
      if (auto t = model.string("type"); t && *t != "Exact")
        model.error("type", "must be Exact, got '" + *t + "'");
      if (auto v = model.string("value", true)) rule.models.push_back(*v);
    });
    int with_weight = 0;
    for_each_item(r, "targets", [&](const YAML::Node& t, const std::string& target_path) {
      MapReader target(t, target_path, spec.file(), spec.diagnostics());
      TargetModel tm;
      if (auto n = target.string("modelRewrite", true)) tm.name = *n;
      if (target.has("weight")) {
        ++with_weight;
        if (auto w = target.integer("weight", 1, 1000000)) tm.weight = *w;
      }
      rule.targets.push_back(std::move(tm));
    });
    if (with_weight != 0 && with_weight != static_cast<int>(rule.targets.size()))
      r.error("targets", "either every target has a weight or none has");
    out.rules.push_back(std::move(rule));
  });
  parse_pool_ref(spec, out.pool);
}

}  // namespace infergate::config
