// /metrics of a simulated replica in Prometheus text format, named as the real engine names
// them (SPEC.md section 5): vLLM, SGLang or trtllm-serve.
#include <charconv>
#include <cmath>

#include "sim/server/openai_api.hpp"
#include "sim/server/replica.hpp"

namespace infergate::sim {
namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(',');
    out += s;
  }
  return out;
}

class Writer {
 public:
  explicit Writer(std::string base_labels) : base_(std::move(base_labels)) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample; `extra` are labels before the replica's own ("a=\"b\",").
  void sample(std::string_view name, double value, std::string_view extra = {}) {
    out_ += name;
    out_ += '{';
    out_ += extra;
    out_ += base_;
    out_ += "} ";
    append_value(value);
    out_ += '\n';
  }
  // A sample with only its own labels (vLLM's *_info series carry no model_name).
  void info(std::string_view name, double value, std::string_view labels) {
    out_ += name;
    out_ += '{';
    out_ += labels;
    out_ += "} ";
    append_value(value);
    out_ += '\n';
  }
  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(name, value);
  }
  void counter(std::string_view name, std::string_view help, double value) {
    family(name, "counter", help);
    sample(name, value);
  }
  void histogram(std::string_view name, std::string_view help, const Histogram& h) {
    family(name, "histogram", help);
    std::uint64_t cumulative = 0;
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
      cumulative += h.counts()[i];
      std::string le = "le=\"";
      if (i == h.bounds().size()) {
        le += "+Inf";
      } else {
        std::string v;
        append_number(v, h.bounds()[i]);
        le += v;
      }
      le += "\",";
      sample(bucket, static_cast<double>(cumulative), le);
    }
    sample(std::string(name) + "_sum", h.sum());
    sample(std::string(name) + "_count", static_cast<double>(h.count()));
  }
  std::string take() { return std::move(out_); }

  static void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
      out += "NaN";
      return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    const std::string_view s(buf, static_cast<std::size_t>(end - buf));
    out += s;
    // vLLM (prometheus_client) writes integral values as "1.0".
    if (s.find_first_of(".eEn") == std::string_view::npos) out += ".0";
  }

 private:
  void append_value(double v) { append_number(out_, v); }
  std::string base_;
  std::string out_;
};

void render_vllm(const Replica& r, double unix_now, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Writer w("model_name=\"" + escape_label(r.options().served_model_names.front()) +
           "\",engine=\"0\"");
  w.gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
          e.num_running());
  w.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
          e.num_waiting());
  w.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
          e.kv_cache().usage());
  // The name before vLLM 0.10, still read by older pickers.
  w.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.",
          e.kv_cache().usage());
  w.family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  w.info("vllm:cache_config_info", 1.0,
         "block_size=\"" + std::to_string(profile.block_size) + "\",cache_dtype=\"auto\"," +
             "enable_prefix_caching=\"" + (e.config().enable_prefix_caching ? "True" : "False") +
             "\",num_gpu_blocks=\"" + std::to_string(profile.num_gpu_blocks) + "\"");
  w.family("vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
  w.info("vllm:lora_requests_info", unix_now,
         "max_lora=\"" + std::to_string(r.options().enable_lora ? e.config().max_loras : 0) +
             "\",running_lora_adapters=\"" + escape_label(join(e.running_adapters())) +
             "\",waiting_lora_adapters=\"" + escape_label(join(e.waiting_adapters())) + "\"");
  w.counter("vllm:prefix_cache_queries_total",
            "Prefix cache queries, in terms of number of queried tokens.",
            static_cast<double>(s.prefix_cache_queries));
  w.counter("vllm:prefix_cache_hits_total",
            "Prefix cache hits, in terms of number of cached tokens.",
            static_cast<double>(s.prefix_cache_hits));
  w.counter("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.",
            static_cast<double>(s.preemptions));
  w.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.",
            static_cast<double>(s.prompt_tokens));
  w.counter("vllm:generation_tokens_total", "Number of generation tokens processed.",
            static_cast<double>(s.generation_tokens));
  w.family("vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (const char* reason : {"stop", "length", "abort"}) {
    auto it = s.finished_by_reason.find(reason);
    w.sample("vllm:request_success_total",
             it == s.finished_by_reason.end() ? 0.0 : static_cast<double>(it->second),
             std::string("finished_reason=\"") + reason + "\",");
  }
  w.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              s.time_to_first_token);
  w.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              s.inter_token_latency);
  w.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
              s.e2e_request_latency);
  w.histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
              s.iteration_tokens);
  out = w.take();
}

void render_sglang(const Replica& r, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Writer w("model_name=\"" + escape_label(r.options().served_model_names.front()) + "\"");
  w.gauge("sglang:num_running_reqs", "The number of running requests.", e.num_running());
  w.gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.", e.num_waiting());
  w.gauge("sglang:token_usage", "The token usage.", e.kv_cache().usage());
  w.gauge("sglang:num_used_tokens", "The number of used tokens.",
          e.kv_cache().usage() * profile.num_gpu_blocks * profile.block_size);
  w.family("sglang:cache_config_info", "gauge", "Information of the KV cache configuration.");
  w.info("sglang:cache_config_info", 1.0,
         "page_size=\"" + std::to_string(profile.block_size) + "\",num_pages=\"" +
             std::to_string(profile.num_gpu_blocks) + "\"");
  const double hit_rate =
      s.prefix_cache_queries == 0
          ? 0.0
          : static_cast<double>(s.prefix_cache_hits) / static_cast<double>(s.prefix_cache_queries);
  w.gauge("sglang:cache_hit_rate", "The prefix cache hit rate.", hit_rate);
  w.counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.",
            static_cast<double>(s.prompt_tokens));
  w.counter("sglang:generation_tokens_total", "Number of generation tokens processed.",
            static_cast<double>(s.generation_tokens));
  w.histogram("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              s.time_to_first_token);
  w.histogram("sglang:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              s.inter_token_latency);
  w.histogram("sglang:e2e_request_latency_seconds",
              "Histogram of End-to-end request latency in seconds", s.e2e_request_latency);
  out = w.take();
}

void render_trtllm(const Replica& r, std::string& out) {
  const Engine& e = r.engine();
  const EngineStats& s = e.stats();
  const auto& profile = e.config().profile;
  Writer w("model_name=\"" + escape_label(r.options().served_model_names.front()) +
           "\",engine_type=\"trtllm\"");
  w.gauge("trtllm_num_requests_waiting", "Number of requests waiting.", e.num_waiting());
  w.gauge("trtllm_num_requests_running", "Number of requests running.", e.num_running());
  w.gauge("trtllm_kv_cache_utilization", "KV cache utilization, 0 to 1.", e.kv_cache().usage());
  w.gauge("trtllm_kv_cache_tokens_per_block", "Tokens per KV cache block.", profile.block_size);
  w.gauge("trtllm_kv_cache_max_blocks", "Maximum number of KV cache blocks.",
          profile.num_gpu_blocks);
  w.counter("trtllm_prompt_tokens_total", "Number of prefill tokens processed.",
            static_cast<double>(s.prompt_tokens));
  w.counter("trtllm_generation_tokens_total", "Number of generation tokens processed.",
            static_cast<double>(s.generation_tokens));
  w.histogram("trtllm_time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              s.time_to_first_token);
  w.histogram("trtllm_e2e_request_latency_seconds",
              "Histogram of end to end request latency in seconds.", s.e2e_request_latency);
  out = w.take();
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
