// One simulated model-server replica: an Engine plus everything around it that a vLLM server
// has (served model names, LoRA adapters, limits) and the faults a test can inject. Holds no
// sockets: the HTTP layer (http_server.cpp) calls into it, and tests can drive it directly.
//
// Thread-safety: none; a replica and its engine live on the server's one I/O thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "sim/engine/engine.hpp"
#include "sim/server/openai_api.hpp"

namespace infergate::sim {

// Which engine's metric names /metrics uses.
enum class MetricsFlavor { kVllm, kSglang, kTrtllm };
std::optional<MetricsFlavor> parse_metrics_flavor(std::string_view name);
std::string_view metrics_flavor_name(MetricsFlavor flavor);

struct FaultSettings {
  enum class Metrics { kOk, kSlow, kGarbled, kMissing };
  Metrics metrics = Metrics::kOk;
  Duration metrics_delay = std::chrono::seconds(2);  // for kSlow
  double failure_rate = 0;  // share of generation requests answered with failure_status
  int failure_status = 500;
  int abort_after_tokens = 0;  // >0: streams are cut after this many tokens
  bool health_fail = false;    // /health answers 503
};

struct ReplicaOptions {
  std::string name = "sim-0";
  std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  std::vector<std::string> served_model_names;  // empty: `model`
  EngineConfig engine;
  MetricsFlavor flavor = MetricsFlavor::kVllm;
  bool enable_lora = false;
  std::map<std::string, std::string> lora_modules;  // name -> path
  int max_model_len = 131072;
  int output_len_mean = 128;  // when a request neither sets max_tokens nor ignores EOS
  std::size_t embedding_dims = 16;
  Duration startup_delay{};
  std::uint64_t seed = 0;
  FaultSettings faults;
};

class Replica {
 public:
  Replica(ReplicaOptions options, TimePoint started_at);

  const std::string& name() const { return options_.name; }
  const ReplicaOptions& options() const { return options_; }
  Engine& engine() { return engine_; }
  const Engine& engine() const { return engine_; }
  FaultSettings& faults() { return options_.faults; }

  bool ready(TimePoint now) const { return now >= ready_at_; }
  bool healthy(TimePoint now) const { return ready(now) && !options_.faults.health_fail; }

  // The adapter a model name selects: "" for the base model, nullopt when unknown.
  std::optional<std::string> resolve_model(std::string_view model) const;
  std::string models_json(std::int64_t unix_now) const;

  // /v1/load_lora_adapter and /v1/unload_lora_adapter: a message for 200, or the error.
  std::variant<std::string, ApiError> load_adapter(std::string_view body);
  std::variant<std::string, ApiError> unload_adapter(std::string_view body);
  // POST /sim/faults: changes fault settings and the slowdown at run time.
  std::optional<ApiError> update_faults(std::string_view body);

  // Turns a parsed request into an engine request, or the error vLLM would answer.
  std::variant<EngineRequest, ApiError> prepare(const GenerationRequest& request,
                                                const std::string& adapter);
  // Draws whether this request fails by the configured failure rate.
  bool draw_failure();
  std::uint64_t next_response_number() { return ++responses_; }
  // GET /metrics requests received (failed or not), for GET /sim/stats: tests wait on a
  // gateway's scrapes with it.
  std::uint64_t metrics_requests() const { return metrics_requests_; }
  void count_metrics_request() { ++metrics_requests_; }

 private:
  ReplicaOptions options_;
  Engine engine_;
  TimePoint ready_at_;
  std::mt19937_64 rng_;
  std::uint64_t responses_ = 0;
  std::uint64_t metrics_requests_ = 0;
};

// Prometheus text exposition of a replica's state, with the names of its engine flavour.
std::string render_metrics(const Replica& replica, double unix_now);

}  // namespace infergate::sim
