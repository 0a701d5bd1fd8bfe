#include "gateway/lifecycle/request_metrics.hpp"

#include <algorithm>
#include <map>
#include <span>

#include "config/config.hpp"
#include "gateway/lifecycle/request_context.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway {

using metrics::LabelSet;
using metrics::MetricType;

namespace {

// Upstream's buckets (Inference Extension v1.5.0 pkg/epp/metrics/metrics.go, llm-d router
// v0.10.0 pkg/epp/metrics/llm_d_router_metrics.go). Where the two versions differ, one
// version's bounds are a subset of the other's: one histogram is kept with the finer bounds and
// each name is written with its own (cumulative counts at a subset of bounds are exact).
constexpr std::array<double, 35> kGeneralLatency{
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,  1.0,  1.25, 1.5, 2,
    3,     4,     5,    6,   8,   10,  15,  20,   30,   45,   60,  120,
    180,   240,   300,  360, 480, 600, 900, 1200, 1800, 2700, 3600};
constexpr std::array<double, 24> kLlmdTtft{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,
                                           1.0,   1.25,  1.5,  2,   3,   4,   5,   6,
                                           8,     10,    15,   20,  30,  45,  60,  120};
constexpr std::array<double, 35> kTpot{0.0005, 0.00205, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                       0.125,  0.15,    0.2,   0.3,  0.4,  0.5,  0.6,  0.8,  1,
                                       1.5,    2,       3,     4.5,  6,    12,   18,   24,   30,
                                       36,     48,      60,    90,   120,  180,  270,  360};
constexpr std::array<double, 19> kLlmdTpot{0.0005, 0.00205, 0.005, 0.01, 0.02, 0.04, 0.06,
                                           0.08,   0.1,     0.125, 0.15, 0.2,  0.3,  0.4,
                                           0.5,    0.6,     0.8,   1,    2};
constexpr std::array<double, 25> kRequestSizes{
    64,       128,      256,      512,       1024,      2048,      4096,      8192,    16384,
    32768,    65536,    131072,   262144,    524288,    1048576,   2097152,   4194304, 8388608,
    16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824};
constexpr std::array<double, 15> kResponseSizes{1,    8,    16,   32,   64,    128,   256,  512,
                                                1024, 2048, 4096, 8192, 16384, 32778, 65536};
constexpr std::array<double, 19> kInputTokens{1,     8,      16,     32,     64,     128,   256,
                                              512,   1024,   2048,   4096,   8192,   16384, 32778,
                                              65536, 131072, 262144, 524288, 1048576};
constexpr std::array<double, 12> kOutputTokens{1,   8,   16,   32,   64,   128,
                                               256, 512, 1024, 2048, 4096, 8192};
constexpr std::array<double, 13> kNtpot{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                        0.2,   0.5,   1.0,   2.0,  5.0,  10.0};

// A histogram over fixed bounds, read and written under the RequestMetrics lock.
struct Histogram {
  explicit Histogram(std::span<const double> b) : bounds(b), counts(b.size() + 1) {}
  std::span<const double> bounds;
  std::vector<std::uint64_t> counts;  // per bucket, the last above every bound
  double sum = 0;
  std::uint64_t count = 0;

  void observe(double v) {
    const auto at = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
    ++counts[static_cast<std::size_t>(at)];
    sum += v;
    ++count;
  }
  void add(const Histogram& h) {
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += h.counts[i];
    sum += h.sum;
    count += h.count;
  }
  // The per-bucket counts over `sub`, a subset of these bounds.
  std::vector<std::uint64_t> over(std::span<const double> sub) const {
    std::vector<std::uint64_t> out(sub.size() + 1);
    std::size_t j = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      while (i < bounds.size() && j < sub.size() && sub[j] < bounds[i]) ++j;
      out[j] += counts[i];
    }
    return out;
  }
};

std::string priority_text(std::int64_t p) { return std::to_string(p); }

}  // namespace

void InterTokenLatency::observe(double seconds) {
  const auto at = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  ++counts[static_cast<std::size_t>(at)];
  sum += seconds;
  ++count;
}

namespace {

// What the requests that ended added to a series.
struct Observed {
  std::uint64_t requests = 0;
  std::map<std::string_view, std::uint64_t> errors;  // by upstream error code
  Histogram duration{kGeneralLatency}, request_size{kRequestSizes}, response_size{kResponseSizes},
      input{kInputTokens}, output{kOutputTokens}, cached{kInputTokens}, ntpot{kNtpot}, tpot{kTpot},
      itl{InterTokenLatency::kBounds};
  Histogram ttft_whole{kGeneralLatency}, ttft_streamed{kGeneralLatency};

  void add(const Observed& o) {
    requests += o.requests;
    for (const auto& [code, n] : o.errors) errors[code] += n;
    for (Histogram Observed::*h :
         {&Observed::duration, &Observed::request_size, &Observed::response_size, &Observed::input,
          &Observed::output, &Observed::cached, &Observed::ntpot, &Observed::tpot, &Observed::itl,
          &Observed::ttft_whole, &Observed::ttft_streamed})
      (this->*h).add(o.*h);
  }
};

// Which shard of a series this thread adds to: the workers, numbered as they first end a
// request, each have their own up to kShards of them.
std::size_t this_thread_shard(std::size_t shards) {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % shards;
}

// The last series each thread resolved: requests on a worker mostly repeat their labels, and a
// hit takes no lock. Only series named by the request's own values are kept (a value folded
// into "other" may get its own series after a reload pins it).
struct LastSeries {
  std::uint64_t owner = 0;  // RequestMetrics::id_; 0: none
  std::string model, target, fairness;
  std::int64_t priority = 0;
  RequestMetrics::Series* series = nullptr;
};
std::atomic<std::uint64_t> next_metrics_id{1};

}  // namespace

// The (model, target, fairness, priority) series. Requests add to the shard of their worker
// thread under that shard's lock, so workers never wait for each other; render() sums the
// shards into the Observed base, which it then reads.
struct RequestMetrics::Series : Observed {
  Series(std::string_view m, std::string_view t, std::string_view f, std::int64_t p)
      : model(m), target(t), fairness(f), priority(priority_text(p)) {}
  const std::string model, target, fairness, priority;
  std::atomic<long> running{0};
  static constexpr std::size_t kShards = 8;
  struct alignas(64) Shard {
    std::mutex mu;
    std::unique_ptr<Observed> observed;  // made by its first request
  };
  std::array<Shard, kShards> shards;

  // Under the RequestMetrics lock (render()).
  void gather() {
    Observed sum;
    for (Shard& shard : shards) {
      std::lock_guard lock(shard.mu);
      if (shard.observed) sum.add(*shard.observed);
    }
    static_cast<Observed&>(*this) = std::move(sum);
  }
};

RequestMetrics::RequestMetrics()
    : id_(next_metrics_id.fetch_add(1, std::memory_order_relaxed)),
      models_(1000),
      fairness_(1000),
      rewrite_models_(1000) {}
RequestMetrics::~RequestMetrics() = default;

void RequestMetrics::pin_models(const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  models_.pin(names);
  rewrite_models_.pin(names);
}

RequestMetrics::Series* RequestMetrics::series(std::string_view model, std::string_view target,
                                               std::string_view fairness, std::int64_t priority) {
  thread_local LastSeries last;
  if (last.owner == id_ && last.priority == priority && last.model == model &&
      last.target == target && last.fairness == fairness)
    return last.series;
  Series* found = nullptr;
  {
    std::lock_guard lock(mu_);
    found = series_locked(model, target, fairness, priority);
  }
  if (found->model == model && found->target == target && found->fairness == fairness) {
    last.owner = id_;
    last.model = model;
    last.target = target;
    last.fairness = fairness;
    last.priority = priority;
    last.series = found;
  }
  return found;
}

RequestMetrics::Series* RequestMetrics::series_locked(std::string_view model,
                                                      std::string_view target,
                                                      std::string_view fairness,
                                                      std::int64_t priority) {
  model = models_.admit(model);
  target = models_.admit(target);
  fairness = fairness_.admit(fairness);
  const auto key_of = [&] {
    std::string key;
    key.reserve(model.size() + target.size() + fairness.size() + 24);
    key.append(model).push_back('\0');
    key.append(target).push_back('\0');
    key.append(fairness).push_back('\0');
    key += priority_text(priority);
    return key;
  };
  std::string key = key_of();
  if (const auto it = series_.find(key); it != series_.end()) return it->second.get();
  if (series_.size() >= kMaxSeries) {
    model = target = fairness = metrics::LabelCap::kOther;
    key = key_of();
    if (const auto it = series_.find(key); it != series_.end()) return it->second.get();
  }
  auto s = std::make_unique<Series>(model, target, fairness, priority);
  Series* out = s.get();
  series_.emplace(std::move(key), std::move(s));
  order_.push_back(out);
  return out;
}

RequestMetrics::Labels RequestMetrics::labels(const Series& s) {
  return {s.model, s.target, s.fairness};
}

RequestMetrics::Running::Running(Series* series) : series_(series) {
  if (series_) series_->running.fetch_add(1, std::memory_order_relaxed);
}

RequestMetrics::Running& RequestMetrics::Running::operator=(Running&& other) noexcept {
  if (this != &other) {
    release();
    series_ = std::exchange(other.series_, nullptr);
  }
  return *this;
}

void RequestMetrics::Running::release() {
  if (series_) series_->running.fetch_sub(1, std::memory_order_relaxed);
  series_ = nullptr;
}

std::vector<std::string> configured_model_names(const config::Config& config) {
  std::vector<std::string> names;
  const auto add_rule = [&](const config::ModelRewriteRule& rule) {
    for (const auto& m : rule.models) names.push_back(m);
    for (const auto& t : rule.targets) names.push_back(t.name);
  };
  for (const auto& pool : config.pools) {
    for (const auto& [name, model] : pool.models) {
      names.push_back(name);
      for (const auto& t : model.targets) names.push_back(t.name);
    }
    for (const auto& [_, rule] : pool.model_rewrites) add_rule(rule);
    if (pool.default_rewrite) add_rule(*pool.default_rewrite);
  }
  return names;
}

std::string_view upstream_error_code(int status, bool from_model_server) {
  if (status < 400 || status == 499) return {};
  if (from_model_server) return "ModelServerError";
  switch (status) {
    case 400:
    case 413:
    case 422:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 429:
      return "ResourceExhausted";
    case 503:
      return "ServiceUnavailable";
    case 502:
    case 504:
      return "ModelServerError";
    default:
      return status >= 500 ? "Internal" : "BadRequest";
  }
}

void RequestMetrics::finished(const RequestRecord& r) {
  using Seconds = std::chrono::duration<double>;
  const double total = Seconds(r.total).count();
  const double ttft = r.ttft > Duration::zero() ? Seconds(r.ttft).count() : total;
  const long output = r.usage ? r.usage->completion_tokens : r.counted_output;
  const bool from_model_server = r.error && r.error->source == ErrorSource::kUpstream;
  const std::string_view code = upstream_error_code(r.status, from_model_server);
  // Not an inference request (a path that is not one, a models listing): none of upstream's.
  if (!r.series && r.model.empty() && r.request_bytes == 0) return;
  Series* series = r.series;
  if (series == nullptr) {
    std::lock_guard lock(mu_);
    series = series_locked(r.model, r.target_model, r.flow, r.priority);
  }
  Series::Shard& shard = series->shards[this_thread_shard(Series::kShards)];
  std::lock_guard lock(shard.mu);
  if (!shard.observed) shard.observed = std::make_unique<Observed>();
  Observed* s = shard.observed.get();
  ++s->requests;
  if (!code.empty()) ++s->errors[code];
  s->duration.observe(total);
  s->request_size.observe(static_cast<double>(r.request_bytes));
  if (r.response_bytes > 0) s->response_size.observe(static_cast<double>(r.response_bytes));
  if (code.empty()) (r.streamed ? s->ttft_streamed : s->ttft_whole).observe(ttft);
  if (r.usage) {
    s->input.observe(static_cast<double>(r.usage->prompt_tokens));
    s->cached.observe(static_cast<double>(r.usage->cached_tokens));
  }
  if (output > 0) {
    s->output.observe(static_cast<double>(output));
    s->ntpot.observe(total / static_cast<double>(output));
  }
  if (r.streamed && output > 1 && code.empty())
    s->tpot.observe((total - ttft) / static_cast<double>(output - 1));
  if (r.itl.count > 0) {
    for (std::size_t i = 0; i < r.itl.counts.size(); ++i) s->itl.counts[i] += r.itl.counts[i];
    s->itl.sum += r.itl.sum;
    s->itl.count += r.itl.count;
  }
}

void RequestMetrics::rewrote(std::string_view rewrite_name, std::string_view model,
                             std::string_view target) {
  std::lock_guard lock(mu_);
  model = rewrite_models_.admit(model);
  std::string key;
  key.append(rewrite_name).push_back('\0');
  key.append(model).push_back('\0');
  key.append(target);
  auto [it, added] = rewrites_.try_emplace(std::move(key));
  if (added)
    it->second = Rewrite{std::string(rewrite_name), std::string(model), std::string(target), 0};
  ++it->second.count;
}

void RequestMetrics::render(metrics::PrometheusWriter& w) const {
  std::lock_guard lock(mu_);
  for (Series* s : order_) s->gather();
  const auto all = [](const Series& s) {
    return LabelSet{{"model_name", s.model},
                    {"target_model_name", s.target},
                    {"fairness_id", s.fairness},
                    {"priority", s.priority}};
  };
  const auto models = [](const Series& s) {
    return LabelSet{{"model_name", s.model}, {"target_model_name", s.target}};
  };

  // --- llm-d router v0.10.0: every label ---
  w.family("llm_d_epp_request_total", MetricType::kCounter,
           "[ALPHA] Total number of processed requests.");
  for (const Series* s : order_)
    w.sample("llm_d_epp_request_total", all(*s), static_cast<double>(s->requests));
  w.family("llm_d_epp_request_error_total", MetricType::kCounter,
           "[ALPHA] Total number of request errors.");
  for (const Series* s : order_)
    for (const auto& [code, n] : s->errors)
      w.sample("llm_d_epp_request_error_total", all(*s).add("error_code", code),
               static_cast<double>(n));
  w.family("llm_d_epp_request_running", MetricType::kGauge,
           "[ALPHA] Current number of active running requests.");
  for (const Series* s : order_)
    w.sample("llm_d_epp_request_running", all(*s),
             static_cast<double>(s->running.load(std::memory_order_relaxed)));
  const auto each = [&](std::string_view name, std::string_view help, auto field,
                        std::span<const double> bounds) {
    w.family(name, MetricType::kHistogram, help);
    for (const Series* s : order_) {
      const Histogram& h = s->*field;
      const auto counts = h.over(bounds);
      w.histogram(name, all(*s), bounds, counts, h.sum, h.count);
    }
  };
  each("llm_d_epp_request_duration_seconds",
       "[ALPHA] End-to-end request latency distribution in seconds.", &Series::duration,
       kGeneralLatency);
  each("llm_d_epp_request_size_bytes", "[ALPHA] Incoming request body size distribution in bytes.",
       &Series::request_size, kRequestSizes);
  each("llm_d_epp_response_size_bytes",
       "[ALPHA] Outgoing response body size distribution in bytes.", &Series::response_size,
       kResponseSizes);
  each("llm_d_epp_request_input_tokens", "[ALPHA] Input token count distribution per request.",
       &Series::input, kInputTokens);
  each("llm_d_epp_request_output_tokens", "[ALPHA] Output token count distribution per request.",
       &Series::output, kOutputTokens);
  each("llm_d_epp_request_cached_tokens",
       "[ALPHA] Distribution of prompt tokens read from cache per request, as reported by the "
       "model server in the response.",
       &Series::cached, kInputTokens);
  each("llm_d_epp_request_ntpot_seconds",
       "[ALPHA] Normalized time per output token in seconds (end-to-end latency divided by "
       "output token count).",
       &Series::ntpot, kNtpot);
  w.family("llm_d_epp_request_ttft_seconds", MetricType::kHistogram,
           "[ALPHA] Time to first token in seconds, measured from request received to first "
           "response byte. For non-streaming requests, this equals total request duration.");
  for (const Series* s : order_)
    for (const bool streaming : {false, true}) {
      const Histogram& h = streaming ? s->ttft_streamed : s->ttft_whole;
      if (h.count == 0) continue;
      w.histogram("llm_d_epp_request_ttft_seconds",
                  all(*s).add("streaming", streaming ? "true" : "false"), kLlmdTtft,
                  h.over(kLlmdTtft), h.sum, h.count);
    }
  each("llm_d_epp_request_streaming_tpot_seconds",
       "[ALPHA] Average time per output token in seconds for streaming requests, computed as "
       "(e2e - TTFT) / (output_tokens - 1).",
       &Series::tpot, kLlmdTpot);
  each("llm_d_epp_request_streaming_itl_seconds",
       "[ALPHA] Inter-token latency in seconds for streaming requests, measured as the time "
       "between consecutive response body chunks.",
       &Series::itl, InterTokenLatency::kBounds);

  // --- Inference Extension v1.5.0: the same requests, summed over the labels it lacks ---
  // `samples_of(series, add)` calls add(labels, value) for each sample a series adds to.
  struct Sum {
    LabelSet labels;
    double value = 0;
  };
  const auto summed = [&](std::string_view name, std::string_view help, MetricType type,
                          auto samples_of) {
    std::map<std::string, Sum> sums;  // by label text: a stable order
    for (const Series* s : order_)
      samples_of(*s, [&](LabelSet labels, double value) {
        auto& sum = sums[std::string(labels.text())];
        sum.labels = std::move(labels);
        sum.value += value;
      });
    w.family(name, type, help);
    for (const auto& [_, sum] : sums) w.sample(name, sum.labels, sum.value);
  };
  summed("inference_objective_request_total",
         "[ALPHA] Counter of inference objective requests broken out for each model and target "
         "model.",
         MetricType::kCounter, [](const Series& s, auto add) {
           add(LabelSet{{"model_name", s.model},
                        {"priority", s.priority},
                        {"target_model_name", s.target}},
               static_cast<double>(s.requests));
         });
  summed("inference_objective_request_error_total",
         "[ALPHA] Counter of inference objective requests errors broken out for each model and "
         "target model.",
         MetricType::kCounter, [](const Series& s, auto add) {
           for (const auto& [code, n] : s.errors)
             add(LabelSet{{"error_code", code},
                          {"model_name", s.model},
                          {"target_model_name", s.target}},
                 static_cast<double>(n));
         });
  summed("inference_objective_running_requests",
         "[ALPHA] Inference objective number of running requests in each model.",
         MetricType::kGauge, [](const Series& s, auto add) {
           add(LabelSet{{"model_name", s.model}},
               static_cast<double>(s.running.load(std::memory_order_relaxed)));
         });
  // Histograms by model and target: `fields` of each series added up, written over `bounds`.
  const auto summed_histogram = [&](std::string_view name, std::string_view help,
                                    std::initializer_list<Histogram Series::*> fields,
                                    std::span<const double> bounds) {
    std::map<std::string, std::pair<LabelSet, Histogram>> sums;
    for (const Series* s : order_) {
      LabelSet labels = models(*s);
      auto it = sums.find(std::string(labels.text()));
      if (it == sums.end())
        it = sums.emplace(std::string(labels.text()),
                          std::pair{labels, Histogram{(s->**fields.begin()).bounds}})
                 .first;
      for (Histogram Series::*f : fields) it->second.second.add(s->*f);
    }
    w.family(name, MetricType::kHistogram, help);
    for (const auto& [_, entry] : sums) {
      const Histogram& h = entry.second;
      w.histogram(name, entry.first, bounds, h.over(bounds), h.sum, h.count);
    }
  };
  summed_histogram("inference_objective_request_duration_seconds",
                   "[ALPHA] Inference objective response latency distribution in seconds for "
                   "each model and target model.",
                   {&Series::duration}, kGeneralLatency);
  summed_histogram("inference_objective_request_sizes",
                   "[ALPHA] Inference objective requests size distribution in bytes for each "
                   "model and target model.",
                   {&Series::request_size}, kRequestSizes);
  summed_histogram("inference_objective_response_sizes",
                   "[ALPHA] Inference objective responses size distribution in bytes for each "
                   "model and target model.",
                   {&Series::response_size}, kResponseSizes);
  summed_histogram("inference_objective_input_tokens",
                   "[ALPHA] Inference objective input token count distribution for requests in "
                   "each model.",
                   {&Series::input}, kInputTokens);
  summed_histogram("inference_objective_output_tokens",
                   "[ALPHA] Inference objective output token count distribution for requests "
                   "in each model.",
                   {&Series::output}, kOutputTokens);
  summed_histogram("inference_objective_prompt_cached_tokens",
                   "[ALPHA] Inference objective prompt cached token count distribution for "
                   "requests in each model.",
                   {&Series::cached}, kInputTokens);
  summed_histogram("inference_objective_normalized_time_per_output_token_seconds",
                   "[ALPHA] Inference objective latency divided by number of output tokens in "
                   "seconds for each model and target model.",
                   {&Series::ntpot}, kNtpot);
  // Streamed and whole responses together: v1.5.0's family has no streaming label.
  summed_histogram("inference_objective_request_ttft_seconds",
                   "[ALPHA] Inference model TTFT distribution in seconds for each model and "
                   "target model.",
                   {&Series::ttft_whole, &Series::ttft_streamed}, kGeneralLatency);
  summed_histogram("inference_objective_request_tpot_seconds",
                   "[ALPHA] Inference model TPOT distribution in seconds for each model and "
                   "target model.",
                   {&Series::tpot}, kTpot);

  // --- InferenceModelRewrite decisions, under both names ---
  for (const std::string_view name : {"inference_extension_model_rewrite_decisions_total",
                                      "llm_d_epp_model_rewrite_decisions_total"}) {
    w.family(name, MetricType::kCounter,
             "[ALPHA] Total number of inference model rewrite decisions.");
    for (const auto& [_, r] : rewrites_)
      w.sample(
          name,
          LabelSet{
              {"model_rewrite_name", r.name}, {"model_name", r.model}, {"target_model", r.target}},
          static_cast<double>(r.count));
  }
}

}  // namespace infergate::gateway
