// /metrics of a simulated replica in Prometheus text format, named as the real engine names
// them (SPEC.md section 5): vLLM, SGLang or trtllm-serve.
#include "metrics/prometheus_writer.hpp"
#include "sim/server/openai_api.hpp"
#include "sim/server/replica.hpp"

namespace infergate::sim {
namespace {

using metrics::LabelSet;
using metrics::MetricType;
using metrics::NumberStyle;
using metrics::PrometheusWriter;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(',');
    out += s;
  }
  return out;
}

// The page being written, with the labels every series of the replica carries. Numbers are
// written as Python's prometheus_client writes them ("1.0"), as the real engines do.
class Page {
 public:
  Page(std::string& out, LabelSet replica_labels)
      : writer(out, NumberStyle::kPython), labels(std::move(replica_labels)) {}

  void gauge(std::string_view name, std::string_view help, double value) {
    writer.family(name, MetricType::kGauge, help);
    writer.sample(name, labels, value);
  }
  void counter(std::string_view name, std::string_view help, double value) {
    writer.family(name, MetricType::kCounter, help);
    writer.sample(name, labels, value);
  }
  void histogram(std::string_view name, std::string_view help, const Histogram& h) {
    writer.family(name, MetricType::kHistogram, help);
    writer.histogram(name, labels, h.bounds(), h.counts(), h.sum(), h.count());
  }

  PrometheusWriter writer;
  const LabelSet labels;
};

void render_vllm(const Replica& r, double unix_now, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Page page(out, {{"model_name", r.options().served_model_names.front()}, {"engine", "0"}});
  page.gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
             e.num_running());
  page.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
             e.num_waiting());
  page.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
             e.kv_cache().usage());
  // The name before vLLM 0.10, still read by older pickers.
  page.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.",
             e.kv_cache().usage());
  // vLLM's *_info series carry only their own labels (no model_name).
  page.writer.family("vllm:cache_config_info", MetricType::kGauge,
                     "Information of the LLMEngine CacheConfig");
  page.writer.sample(
      "vllm:cache_config_info",
      LabelSet{{"block_size", std::to_string(profile.block_size)},
               {"cache_dtype", "auto"},
               {"enable_prefix_caching", e.config().enable_prefix_caching ? "True" : "False"},
               {"num_gpu_blocks", std::to_string(profile.num_gpu_blocks)}},
      1.0);
  page.writer.family("vllm:lora_requests_info", MetricType::kGauge,
                     "Running stats on lora requests.");
  page.writer.sample(
      "vllm:lora_requests_info",
      LabelSet{{"max_lora", std::to_string(r.options().enable_lora ? e.config().max_loras : 0)},
               {"running_lora_adapters", join(e.running_adapters())},
               {"waiting_lora_adapters", join(e.waiting_adapters())}},
      unix_now);
  page.counter("vllm:prefix_cache_queries_total",
               "Prefix cache queries, in terms of number of queried tokens.",
               static_cast<double>(s.prefix_cache_queries));
  page.counter("vllm:prefix_cache_hits_total",
               "Prefix cache hits, in terms of number of cached tokens.",
               static_cast<double>(s.prefix_cache_hits));
  page.counter("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.",
               static_cast<double>(s.preemptions));
  page.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.",
               static_cast<double>(s.prompt_tokens));
  page.counter("vllm:generation_tokens_total", "Number of generation tokens processed.",
               static_cast<double>(s.generation_tokens));
  page.writer.family("vllm:request_success_total", MetricType::kCounter,
                     "Count of successfully processed requests.");
  for (const char* reason : {"stop", "length", "abort"}) {
    auto it = s.finished_by_reason.find(reason);
    page.writer.sample("vllm:request_success_total",
                       LabelSet{{"finished_reason", reason}}.append(page.labels),
                       it == s.finished_by_reason.end() ? 0.0 : static_cast<double>(it->second));
  }
  page.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                 s.time_to_first_token);
  page.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                 s.inter_token_latency);
  page.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                 s.e2e_request_latency);
  page.histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                 s.iteration_tokens);
}

void render_sglang(const Replica& r, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Page page(out, {{"model_name", r.options().served_model_names.front()}});
  page.gauge("sglang:num_running_reqs", "The number of running requests.", e.num_running());
  page.gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.",
             e.num_waiting());
  page.gauge("sglang:token_usage", "The token usage.", e.kv_cache().usage());
  page.gauge("sglang:num_used_tokens", "The number of used tokens.",
             e.kv_cache().usage() * profile.num_gpu_blocks * profile.block_size);
  page.writer.family("sglang:cache_config_info", MetricType::kGauge,
                     "Information of the KV cache configuration.");
  page.writer.sample("sglang:cache_config_info",
                     LabelSet{{"page_size", std::to_string(profile.block_size)},
                              {"num_pages", std::to_string(profile.num_gpu_blocks)}},
                     1.0);
  const double hit_rate =
      s.prefix_cache_queries == 0
          ? 0.0
          : static_cast<double>(s.prefix_cache_hits) / static_cast<double>(s.prefix_cache_queries);
  page.gauge("sglang:cache_hit_rate", "The prefix cache hit rate.", hit_rate);
  page.counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.",
               static_cast<double>(s.prompt_tokens));
  page.counter("sglang:generation_tokens_total", "Number of generation tokens processed.",
               static_cast<double>(s.generation_tokens));
  page.histogram("sglang:time_to_first_token_seconds",
                 "Histogram of time to first token in seconds.", s.time_to_first_token);
  page.histogram("sglang:inter_token_latency_seconds",
                 "Histogram of inter-token latency in seconds.", s.inter_token_latency);
  page.histogram("sglang:e2e_request_latency_seconds",
                 "Histogram of End-to-end request latency in seconds", s.e2e_request_latency);
}

void render_trtllm(const Replica& r, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Page page(out,
            {{"model_name", r.options().served_model_names.front()}, {"engine_type", "trtllm"}});
  page.gauge("trtllm_num_requests_waiting", "Number of requests waiting.", e.num_waiting());
  page.gauge("trtllm_num_requests_running", "Number of requests running.", e.num_running());
  page.gauge("trtllm_kv_cache_utilization", "KV cache utilization, 0 to 1.", e.kv_cache().usage());
  page.gauge("trtllm_kv_cache_tokens_per_block", "Tokens per KV cache block.", profile.block_size);
  page.gauge("trtllm_kv_cache_max_blocks", "Maximum number of KV cache blocks.",
             profile.num_gpu_blocks);
  page.counter("trtllm_prompt_tokens_total", "Number of prefill tokens processed.",
               static_cast<double>(s.prompt_tokens));
  page.counter("trtllm_generation_tokens_total", "Number of generation tokens processed.",
               static_cast<double>(s.generation_tokens));
  page.histogram("trtllm_time_to_first_token_seconds",
                 "Histogram of time to first token in seconds.", s.time_to_first_token);
  page.histogram("trtllm_e2e_request_latency_seconds",
                 "Histogram of end to end request latency in seconds.", s.e2e_request_latency);
}

}  // namespace

std::string render_metrics(const Replica& replica, double unix_now) {
  std::string out;
  switch (replica.options().flavor) {
    case MetricsFlavor::kVllm:
      render_vllm(replica, unix_now, out);
      break;
    case MetricsFlavor::kSglang:
      render_sglang(replica, out);
      break;
    case MetricsFlavor::kTrtllm:
      render_trtllm(replica, out);
      break;
  }
  return out;
}

}  // namespace infergate::sim
