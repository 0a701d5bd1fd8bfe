// StaticEndpoints (infergate.dev/v1alpha1): the endpoints of pools outside Kubernetes.
//   spec.endpoints[] {name, address: host | host:port, metricsPort, labels, engine}
#include <charconv>
#include <set>

#include "config/parsers.hpp"

namespace infergate::config {
namespace {

bool parse_port(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

void parse_static_endpoints(MapReader& spec, StaticEndpoints& out) {
  std::set<std::string> names;
  for_each_item(spec, "endpoints", [&](const YAML::Node& item, const std::string& path) {
    MapReader e(item, path, spec.file(), spec.diagnostics());
    StaticEndpoint ep;
    ep.where = e.where();
    if (auto n = e.string("name", true)) {
      if (!names.insert(*n).second) e.error("name", "duplicate endpoint name '" + *n + "'");
      ep.name = *n;
    }
    if (auto a = e.string("address", true)) {
      // host, host:port, or [v6]:port
      std::string_view addr = *a;
      std::string_view host = addr, port;
      if (!addr.empty() && addr.front() == '[') {
        const auto close = addr.find(']');
        host = addr.substr(1, close == std::string_view::npos ? addr.size() : close - 1);
        if (close != std::string_view::npos && close + 1 < addr.size() && addr[close + 1] == ':')
          port = addr.substr(close + 2);
      } else if (const auto colon = addr.rfind(':');
                 colon != std::string_view::npos && addr.find(':') == colon) {
        host = addr.substr(0, colon);
        port = addr.substr(colon + 1);
      }
      if (host.empty()) e.error("address", "must be host or host:port, got '" + *a + "'");
      ep.host = std::string(host);
      if (!port.empty()) {
        std::uint16_t p = 0;
        if (parse_port(port, p))
          ep.port = p;
        else
          e.error("address", "bad port in '" + *a + "'");
      }
    }
    if (auto mp = e.integer("metricsPort", 1, 65535))
      ep.metrics_port = static_cast<std::uint16_t>(*mp);
    if (auto labels = e.string_map("labels")) ep.labels = *labels;
    if (auto engine = e.string("engine")) {
      static const std::set<std::string> kEngines = {"vllm", "sglang", "trtllm", "triton-trtllm",
                                                     "tgi"};
      if (!kEngines.contains(*engine))
        e.error("engine",
                "must be vllm, sglang, trtllm, triton-trtllm or tgi, got '" + *engine + "'");
      ep.engine = *engine;
    }
    out.endpoints.push_back(std::move(ep));
  });
}

}  // namespace infergate::config
