// HTTPRoute (gateway.networking.k8s.io/v1), the subset a gateway of models needs: path and
// exact-header matches, InferencePool backendRefs with weights, RequestMirror filters, and
// timeouts.request. Other parts of the Gateway API schema are either accepted with a warning
// (they have no meaning for a standalone gateway) or rejected (they would change routing in ways
// InferGate does not implement); docs/configuration.md lists each.
#include <algorithm>
#include <cctype>
#include <regex>

#include "config/parsers.hpp"

namespace infergate::config {
namespace {

bool is_pool_group(const std::string& g) {
  return g == "inference.networking.k8s.io" || g == "inference.networking.x-k8s.io";
}

// Gateway API durations: 1 to 4 of <number><h|m|s|ms>, e.g. "1h30m", "500ms".
std::optional<std::chrono::milliseconds> parse_duration(const std::string& s) {
  static const std::regex kShape("^([0-9]{1,5}(h|m|s|ms)){1,4}$");
  if (!std::regex_match(s, kShape)) return std::nullopt;
  std::chrono::milliseconds total{0};
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    const long n = std::stol(s.substr(i, j - i));
    if (s.compare(j, 2, "ms") == 0) {
      total += std::chrono::milliseconds(n);
      j += 2;
    } else {
      const char u = s[j++];
      total += u == 'h'   ? std::chrono::hours(n)
               : u == 'm' ? std::chrono::minutes(n)
                          : std::chrono::seconds(n);
    }
    i = j;
  }
  return total;
}

// group/kind/name/namespace/port of a reference to an InferencePool.
template <typename Out>
void parse_pool_backend(MapReader& ref, Out& out) {
  const std::string group = ref.string("group").value_or("");
  const std::string kind = ref.string("kind").value_or("Service");
  if (kind != "InferencePool" || !is_pool_group(group))
    ref.error(
        ref.has("kind") ? "kind" : "name",
        "only InferencePool backends (group inference.networking.k8s.io) are supported, got " +
            (group.empty() ? std::string("core") : group) + "/" + kind);
  if (auto n = ref.string("name", true)) out.pool = *n;
  if (auto ns = ref.string("namespace")) out.ns = *ns;
}

void parse_match(MapReader& m, RouteMatch& out) {
  if (m.has("path")) {
    MapReader path(m.child("path"), m.path_of("path"), m.file(), m.diagnostics());
    if (auto t = path.string("type")) {
      if (*t == "PathPrefix")
        out.path.type = PathMatch::Type::kPathPrefix;
      else if (*t == "Exact")
        out.path.type = PathMatch::Type::kExact;
      else
        path.error("type", "path match type '" + *t + "' is not supported (PathPrefix, Exact)");
    }
    if (auto v = path.string("value")) {
      if (v->empty() || v->front() != '/') path.error("value", "must start with '/'");
      out.path.value = *v;
    }
  } else {
    m.child("path");
  }
  for_each_item(m, "headers", [&](const YAML::Node& item, const std::string& p) {
    MapReader h(item, p, m.file(), m.diagnostics());
    if (auto t = h.string("type"); t && *t != "Exact")
      h.error("type", "header match type '" + *t + "' is not supported (Exact)");
    HeaderMatch hm;
    if (auto n = h.string("name", true)) {
      hm.name = *n;
      std::transform(hm.name.begin(), hm.name.end(), hm.name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    if (auto v = h.string("value", true)) hm.value = *v;
    out.headers.push_back(std::move(hm));
  });
  if (m.has("queryParams")) m.error("queryParams", "query parameter matches are not supported");
  m.child("queryParams");
  if (m.has("method")) m.error("method", "method matches are not supported");
  m.child("method");
}

void parse_mirror(MapReader& f, RouteRule& rule) {
  MapReader mirror(f.child("requestMirror"), f.path_of("requestMirror"), f.file(), f.diagnostics());
  MirrorFilter out;
  if (mirror.has("backendRef")) {
    MapReader ref(mirror.child("backendRef"), mirror.path_of("backendRef"), f.file(),
                  f.diagnostics());
    parse_pool_backend(ref, out);
    ref.integer("port", 1, 65535);
  } else {
    mirror.error("backendRef", "required field is missing");
  }
  if (auto pct = mirror.integer("percent", 0, 100))
    out.fraction = static_cast<double>(*pct) / 100.0;
  if (mirror.has("fraction")) {
    MapReader fr(mirror.child("fraction"), mirror.path_of("fraction"), f.file(), f.diagnostics());
    const auto num = fr.integer("numerator", 0, INT32_MAX, true);
    const auto den = fr.integer("denominator", 1, INT32_MAX).value_or(100);
    if (num) {
      if (*num > den) fr.error("numerator", "must not exceed the denominator");
      out.fraction = static_cast<double>(*num) / static_cast<double>(den);
    }
  } else {
    mirror.child("fraction");
  }
  rule.mirrors.push_back(std::move(out));
}

void parse_rule(MapReader& r, RouteRule& rule) {
  r.string("name");
  for_each_item(r, "matches", [&](const YAML::Node& item, const std::string& p) {
    MapReader m(item, p, r.file(), r.diagnostics());
    RouteMatch match;
    parse_match(m, match);
    rule.matches.push_back(std::move(match));
  });
  for_each_item(r, "filters", [&](const YAML::Node& item, const std::string& p) {
    MapReader f(item, p, r.file(), r.diagnostics());
    const auto type = f.string("type", true);
    if (type == "RequestMirror") {
      parse_mirror(f, rule);
    } else if (type) {
      f.error("type", "filter type '" + *type + "' is not supported (RequestMirror)");
      for (const char* k : {"requestHeaderModifier", "responseHeaderModifier", "requestRedirect",
                            "urlRewrite", "extensionRef", "cors", "requestMirror"})
        f.child(k);
    }
  });
  for_each_item(r, "backendRefs", [&](const YAML::Node& item, const std::string& p) {
    MapReader b(item, p, r.file(), r.diagnostics());
    BackendRef ref;
    ref.where = b.where();
    parse_pool_backend(b, ref);
    if (auto port = b.integer("port", 1, 65535)) ref.port = static_cast<std::uint16_t>(*port);
    if (auto w = b.integer("weight", 0, 1000000)) ref.weight = *w;
    if (b.has("filters")) b.error("filters", "per-backend filters are not supported");
    b.child("filters");
    rule.backends.push_back(std::move(ref));
  });
  if (r.has("timeouts")) {
    MapReader t(r.child("timeouts"), r.path_of("timeouts"), r.file(), r.diagnostics());
    if (auto req = t.string("request")) {
      if (auto d = parse_duration(*req)) {
        if (d->count() > 0) rule.request_timeout = *d;  // "0s" disables the timeout
      } else {
        t.error("request", "must be a duration such as 30s or 1m30s, got '" + *req + "'");
      }
    }
    t.ignore("backendRequest", "each upstream attempt is bounded by the gateway's own timeouts");
  } else {
    r.child("timeouts");
  }
  r.ignore("sessionPersistence", "InferGate routes by load and prefix, not by session");
  r.ignore("retry", "retries follow the gateway's --upstream-retries");
}

}  // namespace

void parse_http_route(MapReader& spec, HttpRoute& out) {
  spec.ignore("parentRefs", "a standalone gateway serves every route on its own listener");
  spec.ignore("hostnames", "a standalone gateway does not match on host names");
  for_each_item(spec, "rules", [&](const YAML::Node& item, const std::string& p) {
    MapReader r(item, p, spec.file(), spec.diagnostics());
    RouteRule rule;
    parse_rule(r, rule);
    out.rules.push_back(std::move(rule));
  });
}

}  // namespace infergate::config
