// The gateway and the simulator as child processes, and the configuration snippets the
// process-level tests of the gateway build their files from. The including test target defines
// INFERGATE_BIN and INFERGATE_SIM_BIN, the paths of the two programs.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {

struct Process {
  Process(const std::string& bin, const std::vector<std::string>& args) : child(bin, args) {}
  ChildProcess child;
  boost::json::value ready() const { return boost::json::parse(child.ready_json()); }
};

inline std::unique_ptr<Process> start_sim(std::vector<std::string> args) {
  args.insert(args.begin(), {"--port", "0"});
  return std::make_unique<Process>(INFERGATE_SIM_BIN, std::move(args));
}

inline std::string endpoints_yaml(const std::string& name, const std::string& app,
                                  const Process& sim) {
  std::string out;
  int i = 0;
  for (auto port : replica_ports(sim.child.ready_json()))
    out += "  - {name: " + name + "-" + std::to_string(i++) +
           ", address: \"127.0.0.1:" + std::to_string(port) + "\", labels: {app: " + app + "}}\n";
  return out;
}

inline std::string pool_yaml(const std::string& name) {
  return "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: " +
         name + "}\nspec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: " + name +
         "}}}\n";
}

inline std::string backend(const std::string& pool, int weight = 1) {
  return "{group: inference.networking.k8s.io, kind: InferencePool, name: " + pool +
         ", weight: " + std::to_string(weight) + "}";
}

struct Gateway {
  Gateway(const std::string& config_path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--config",       config_path,   "--listen",  "127.0.0.1:0",
                                     "--admin-listen", "127.0.0.1:0", "--workers", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    // The access log (on by default, to stdout) goes to /dev/null unless the test says where:
    // a test reads stdout only up to READY, and a full pipe would hold the log's writer.
    const bool log_chosen = std::any_of(extra.begin(), extra.end(), [](const std::string& a) {
      return a.starts_with("--access-log") || a == "--no-access-log";
    });
    if (!log_chosen) args.insert(args.end(), {"--access-log-file", "/dev/null"});
    process = std::make_unique<Process>(INFERGATE_BIN, args);
    const auto ready = process->ready();
    port = static_cast<unsigned short>(ready.at("port").to_number<int>());
    admin_port = static_cast<unsigned short>(ready.at("admin_port").to_number<int>());
  }
  HttpClient client() const { return HttpClient("127.0.0.1", port); }
  HttpClient admin() const { return HttpClient("127.0.0.1", admin_port); }
  std::unique_ptr<Process> process;
  unsigned short port = 0, admin_port = 0;
};

inline std::string completion(const std::string& model, int max_tokens = 4, bool stream = false,
                              bool usage = false) {
  boost::json::object body{{"model", model},
                           {"prompt", "Hello gateway"},
                           {"max_tokens", max_tokens},
                           {"ignore_eos", true},
                           {"stream", stream}};
  if (usage) body["stream_options"] = boost::json::object{{"include_usage", true}};
  return boost::json::serialize(body);
}

inline double metric(HttpClient& c, const std::string& prefix) {
  return sample_value(c.get("/metrics").body, prefix);
}

}  // namespace infergate::testing
