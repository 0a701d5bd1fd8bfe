// ApiKeys (infergate.dev/v1alpha1): who may call the gateway, as which tenant, and how
// important a request of theirs may claim to be.
//   spec.keys[] {key, tenant, maxPriority}
#include "config/parsers.hpp"

namespace infergate::config {

void parse_api_keys(MapReader& spec, ApiKeys& out) {
  for_each_item(spec, "keys", [&](const YAML::Node& item, const std::string& path) {
    MapReader k(item, path, spec.file(), spec.diagnostics());
    if (!k.valid()) return;
    ApiKey key;
    key.where = k.where();
    if (auto v = k.string("key", true)) {
      if (v->size() < 8) k.error("key", "must be at least 8 characters");
      key.key = *v;
    }
    if (auto t = k.string("tenant", true)) {
      if (t->empty()) k.error("tenant", "must not be empty");
      key.tenant = *t;
    }
    if (auto p = k.integer("maxPriority", -1000000, 1000000)) key.max_priority = *p;
    out.keys.push_back(std::move(key));
  });
}

}  // namespace infergate::config
