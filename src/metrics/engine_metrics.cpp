#include "metrics/engine_metrics.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <span>

#include "metrics/prometheus_text.hpp"

namespace infergate::metrics {
namespace {

enum class Signal {
  kWaiting,        // summed
  kRunning,        // summed
  kKvUsage,        // largest
  kKvUsageLegacy,  // largest; used only when kKvUsage is absent (vLLM before 0.10)
  kBlockSize,      // the sample's value
  kNumBlocks,      // the sample's value, summed
  kCacheConfig,    // block size and block count in the labels of an *_info series
  kLora,           // vllm:lora_requests_info
};

// Samples of `names[metric]` feed `signal`; with a selector, only the series whose label
// `label` has the value `value` do (Triton puts several signals in one family).
struct Rule {
  std::size_t metric;
  Signal signal;
  std::string_view label = {};
  std::string_view value = {};
};

struct EngineSpec {
  std::span<const std::string_view> names;
  std::span<const Rule> rules;
  std::string_view block_size_label = {};  // for kCacheConfig
  std::string_view num_blocks_label = {};
  bool reports_kv = true;
};

constexpr std::string_view kVllmNames[] = {"vllm:num_requests_waiting", "vllm:num_requests_running",
                                           "vllm:kv_cache_usage_perc",  "vllm:gpu_cache_usage_perc",
                                           "vllm:cache_config_info",    "vllm:lora_requests_info"};
constexpr Rule kVllmRules[] = {{0, Signal::kWaiting},     {1, Signal::kRunning},
                               {2, Signal::kKvUsage},     {3, Signal::kKvUsageLegacy},
                               {4, Signal::kCacheConfig}, {5, Signal::kLora}};

constexpr std::string_view kSglangNames[] = {"sglang:num_queue_reqs", "sglang:num_running_reqs",
                                             "sglang:token_usage", "sglang:cache_config_info"};
constexpr Rule kSglangRules[] = {
    {0, Signal::kWaiting}, {1, Signal::kRunning}, {2, Signal::kKvUsage}, {3, Signal::kCacheConfig}};

constexpr std::string_view kTrtllmServeNames[] = {
    "trtllm_num_requests_waiting", "trtllm_num_requests_running", "trtllm_kv_cache_utilization",
    "trtllm_kv_cache_tokens_per_block", "trtllm_kv_cache_max_blocks"};
constexpr Rule kTrtllmServeRules[] = {{0, Signal::kWaiting},
                                      {1, Signal::kRunning},
                                      {2, Signal::kKvUsage},
                                      {3, Signal::kBlockSize},
                                      {4, Signal::kNumBlocks}};

constexpr std::string_view kTritonNames[] = {"nv_trt_llm_request_metrics",
                                             "nv_trt_llm_kv_cache_block_metrics"};
constexpr Rule kTritonRules[] = {{0, Signal::kWaiting, "request_type", "waiting"},
                                 {0, Signal::kRunning, "request_type", "scheduled"},
                                 {1, Signal::kKvUsage, "kv_cache_block_type", "fraction"},
                                 {1, Signal::kBlockSize, "kv_cache_block_type", "tokens_per"},
                                 {1, Signal::kNumBlocks, "kv_cache_block_type", "max"}};

constexpr std::string_view kTgiNames[] = {"tgi_queue_size", "tgi_batch_current_size"};
constexpr Rule kTgiRules[] = {{0, Signal::kWaiting}, {1, Signal::kRunning}};

EngineSpec spec_of(EngineKind kind) {
  switch (kind) {
    case EngineKind::kVllm:
      return {kVllmNames, kVllmRules, "block_size", "num_gpu_blocks"};
    case EngineKind::kSglang:
      return {kSglangNames, kSglangRules, "page_size", "num_pages"};
    case EngineKind::kTrtllmServe:
      return {kTrtllmServeNames, kTrtllmServeRules};
    case EngineKind::kTritonTrtllm:
      return {kTritonNames, kTritonRules};
    case EngineKind::kTgi:
      return {kTgiNames, kTgiRules, {}, {}, false};
  }
  return {kVllmNames, kVllmRules, "block_size", "num_gpu_blocks"};
}

// What the samples of one page add up to.
struct Totals {
  double waiting = 0;
  double running = 0;
  bool has_waiting = false;
  bool has_running = false;
  std::optional<double> kv_usage;
  std::optional<double> kv_usage_legacy;
  std::optional<std::int64_t> block_size;
  std::optional<std::int64_t> num_blocks;
  bool num_blocks_invalid = false;  // one series had no usable count: report none
  std::optional<Sample> lora;       // the series with the largest value
};

// Integers beyond 2^53 cannot come from a double exactly; no KV cache is that large.
constexpr double kMaxExactInteger = 9007199254740992.0;

std::optional<std::int64_t> integer_from_value(double v) {
  if (!(v >= 0 && v <= kMaxExactInteger) || v != std::floor(v)) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

std::optional<std::int64_t> integer_from_label(const Sample& s, std::string_view name) {
  const auto value = s.label(name);
  if (!value || value->has_escapes()) return std::nullopt;
  const std::string_view text = value->raw();
  std::int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || n < 0) {
    return std::nullopt;
  }
  return n;
}

void add_blocks(Totals& t, std::optional<std::int64_t> blocks) {
  std::int64_t sum = 0;
  if (!blocks || __builtin_add_overflow(t.num_blocks.value_or(0), *blocks, &sum)) {
    t.num_blocks_invalid = true;
    return;
  }
  t.num_blocks = sum;
}

void take_block_size(Totals& t, std::optional<std::int64_t> size) {
  if (!t.block_size && size && *size > 0) t.block_size = size;
}

std::string describe(const EngineSpec& spec, const Rule& rule) {
  std::string out(spec.names[rule.metric]);
  if (!rule.label.empty()) {
    out += '{';
    out += rule.label;
    out += "=\"";
    out += rule.value;
    out += "\"}";
  }
  return out;
}

MetricsError bad_value(const EngineSpec& spec, const Rule& rule, const Sample& s) {
  return MetricsError{describe(spec, rule) + " on line " + std::to_string(s.line) +
                      " is not a finite, non-negative number"};
}

// Folds one sample into the totals; an error when a signal's value is unusable.
std::optional<MetricsError> apply(const EngineSpec& spec, const Rule& rule, const Sample& s,
                                  Totals& t) {
  const bool usable = std::isfinite(s.value) && s.value >= 0;
  switch (rule.signal) {
    case Signal::kWaiting:
      if (!usable) return bad_value(spec, rule, s);
      t.waiting += s.value;
      t.has_waiting = true;
      break;
    case Signal::kRunning:
      if (!usable) return bad_value(spec, rule, s);
      t.running += s.value;
      t.has_running = true;
      break;
    case Signal::kKvUsage:
    case Signal::kKvUsageLegacy: {
      if (!usable) return bad_value(spec, rule, s);
      auto& kv = rule.signal == Signal::kKvUsage ? t.kv_usage : t.kv_usage_legacy;
      if (!kv || s.value > *kv) kv = s.value;
      break;
    }
    case Signal::kBlockSize:
      take_block_size(t, integer_from_value(s.value));
      break;
    case Signal::kNumBlocks:
      add_blocks(t, integer_from_value(s.value));
      break;
    case Signal::kCacheConfig:
      take_block_size(t, integer_from_label(s, spec.block_size_label));
      add_blocks(t, integer_from_label(s, spec.num_blocks_label));
      break;
    case Signal::kLora:
      if (!t.lora || s.value > t.lora->value || std::isnan(t.lora->value)) t.lora = s;
      break;
  }
  return std::nullopt;
}

// Splits a comma list of adapter names, dropping blanks around names and empty items.
std::vector<std::string> split_adapters(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

std::vector<std::string> adapters(const Sample& s, std::string_view label) {
  const auto value = s.label(label);
  if (!value) return {};
  if (!value->has_escapes()) return split_adapters(value->raw());
  return split_adapters(value->unescaped());
}

LoraInfo lora_info(const Sample& s) {
  LoraInfo info;
  info.running = adapters(s, "running_lora_adapters");
  info.waiting = adapters(s, "waiting_lora_adapters");
  const auto max_lora = integer_from_label(s, "max_lora");
  if (max_lora && *max_lora <= std::numeric_limits<int>::max()) {
    info.max_lora = static_cast<int>(*max_lora);
  }
  return info;
}

const Rule* rule_for(const EngineSpec& spec, Signal signal) {
  for (const Rule& r : spec.rules) {
    if (r.signal == signal) return &r;
  }
  return nullptr;
}

MetricsError missing(const EngineSpec& spec, Signal signal) {
  std::string message = "missing " + describe(spec, *rule_for(spec, signal));
  if (signal == Signal::kKvUsage) {
    if (const Rule* legacy = rule_for(spec, Signal::kKvUsageLegacy)) {
      message += " (or " + describe(spec, *legacy) + ")";
    }
  }
  return MetricsError{std::move(message)};
}

}  // namespace

std::optional<EngineKind> engine_kind_from_name(std::string_view name) {
  if (name == "vllm") return EngineKind::kVllm;
  if (name == "sglang") return EngineKind::kSglang;
  if (name == "trtllm") return EngineKind::kTrtllmServe;
  if (name == "triton-trtllm") return EngineKind::kTritonTrtllm;
  if (name == "tgi") return EngineKind::kTgi;
  return std::nullopt;
}

std::string_view engine_kind_name(EngineKind kind) {
  switch (kind) {
    case EngineKind::kVllm:
      return "vllm";
    case EngineKind::kSglang:
      return "sglang";
    case EngineKind::kTrtllmServe:
      return "trtllm";
    case EngineKind::kTritonTrtllm:
      return "triton-trtllm";
    case EngineKind::kTgi:
      return "tgi";
  }
  return "unknown";
}

std::variant<EndpointMetrics, MetricsError> extract_metrics(EngineKind engine,
                                                            std::string_view page) {
  const EngineSpec spec = spec_of(engine);
  SampleScanner scanner(page, spec.names);
  Totals totals;
  Sample sample;
  for (;;) {
    const auto status = scanner.next(sample);
    if (status == SampleScanner::Status::kEnd) break;
    if (status == SampleScanner::Status::kError) {
      return MetricsError{"malformed metrics page: line " + std::to_string(scanner.error().line) +
                          ": " + std::string(scanner.error().reason)};
    }
    for (const Rule& rule : spec.rules) {
      if (rule.metric != sample.metric) continue;
      if (!rule.label.empty()) {
        const auto selector = sample.label(rule.label);
        if (!selector || !selector->equals(rule.value)) continue;
      }
      if (auto error = apply(spec, rule, sample, totals)) return std::move(*error);
    }
  }

  if (!totals.has_waiting) return missing(spec, Signal::kWaiting);
  if (!totals.has_running) return missing(spec, Signal::kRunning);
  EndpointMetrics m;
  m.waiting = totals.waiting;
  m.running = totals.running;
  if (!std::isfinite(m.waiting) || !std::isfinite(m.running)) {
    return MetricsError{"the queue or running sums overflow"};
  }
  if (spec.reports_kv) {
    m.kv_usage = totals.kv_usage ? totals.kv_usage : totals.kv_usage_legacy;
    if (!m.kv_usage) return missing(spec, Signal::kKvUsage);
  }
  m.block_size = totals.block_size;
  if (!totals.num_blocks_invalid) m.num_blocks = totals.num_blocks;
  if (totals.lora) m.lora = lora_info(*totals.lora);
  return m;
}

}  // namespace infergate::metrics
