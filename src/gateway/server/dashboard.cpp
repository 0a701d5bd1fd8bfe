#include "gateway/server/dashboard.hpp"

#include <cmath>
#include <cstdio>

#include "gateway/server/dashboard_files.hpp"
#include "openai/error.hpp"

namespace infergate::gateway {
namespace {

// The page runs only its own script and style sheet and talks only to this listener.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// "/dashboard" is index.html; "/dashboard/<name>" one of the files.
const EmbeddedFile* file_at(std::string_view path) {
  std::string_view name;
  if (path == "/dashboard" || path == "/dashboard/")
    name = "index.html";
  else if (path.starts_with("/dashboard/"))
    name = path.substr(11);
  else
    return nullptr;
  for (const EmbeddedFile& f : dashboard_files())
    if (f.name == name) return &f;
  return nullptr;
}

void set_header(HeaderList& headers, std::string name, std::string value) {
  for (auto& [n, v] : headers)
    if (n == name) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

void append_scored(std::string& out, const scheduling::ScoredEndpoint& e) {
  out += "{\"endpoint\":";
  openai::append_json_string(out, e.endpoint);
  out += ",\"address\":";
  openai::append_json_string(out, e.address);
  out += ",\"total\":";
  append_number(out, e.total);
  out += ",\"shares\":[";
  for (std::size_t i = 0; i < e.shares.size(); ++i) {
    if (i) out += ',';
    out += "{\"scorer\":";
    openai::append_json_string(out, e.shares[i].scorer);
    out += ",\"weight\":";
    append_number(out, e.shares[i].weight);
    out += ",\"weighted\":";
    append_number(out, e.shares[i].weighted);
    out += '}';
  }
  out += "]}";
}

}  // namespace

bool is_dashboard_file(std::string_view path) { return file_at(path) != nullptr; }

bool serve_dashboard(std::string_view path, scheduling::DecisionLog& decisions, ResponseHead& head,
                     std::string& body) {
  if (path == "/dashboard/decisions") {
    decisions.watch();
    set_header(head.headers, "content-type", "application/json");
    body = decisions_json(decisions.recent(), decisions.clock().now());
  } else if (const EmbeddedFile* f = file_at(path)) {
    set_header(head.headers, "content-type", std::string(content_type_of(f->name)));
    set_header(head.headers, "content-security-policy", std::string(kContentSecurityPolicy));
    set_header(head.headers, "x-content-type-options", "nosniff");
    body.assign(f->bytes);
  } else {
    return false;
  }
  set_header(head.headers, "cache-control", "no-store");
  return true;
}

std::string decisions_json(const std::vector<scheduling::Decision>& decisions, TimePoint now) {
  std::string out = "{\"decisions\":[";
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const scheduling::Decision& d = decisions[i];
    if (i) out += ',';
    out += "{\"seq\":" + std::to_string(d.seq) + ",\"age_seconds\":";
    append_number(out, to_seconds(now - d.at));
    out += ",\"pool\":";
    openai::append_json_string(out, d.pool);
    out += ",\"profile\":";
    openai::append_json_string(out, d.profile);
    out += ",\"picker\":";
    openai::append_json_string(out, d.picker);
    out += ",\"target_model\":";
    openai::append_json_string(out, d.target_model);
    out += ",\"endpoints\":" + std::to_string(d.endpoints) +
           ",\"candidates\":" + std::to_string(d.candidates) + ",\"chosen\":";
    append_scored(out, d.chosen);
    out += ",\"runners_up\":[";
    for (std::size_t r = 0; r < d.runners_up.size(); ++r) {
      if (r) out += ',';
      append_scored(out, d.runners_up[r]);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace infergate::gateway
