#include "sim/server/replica.hpp"

#include <algorithm>
#include <boost/json.hpp>

namespace infergate::sim {
namespace json = boost::json;

std::optional<MetricsFlavor> parse_metrics_flavor(std::string_view name) {
  if (name == "vllm") return MetricsFlavor::kVllm;
  if (name == "sglang") return MetricsFlavor::kSglang;
  if (name == "trtllm") return MetricsFlavor::kTrtllm;
  return std::nullopt;
}

std::string_view metrics_flavor_name(MetricsFlavor flavor) {
  switch (flavor) {
    case MetricsFlavor::kVllm:
      return "vllm";
    case MetricsFlavor::kSglang:
      return "sglang";
    case MetricsFlavor::kTrtllm:
      return "trtllm";
  }
  return "vllm";
}

Replica::Replica(ReplicaOptions options, TimePoint started_at)
    : options_(std::move(options)),
      engine_(options_.engine),
      ready_at_(started_at + options_.startup_delay),
      rng_(options_.seed) {
  if (options_.served_model_names.empty()) options_.served_model_names = {options_.model};
}

std::optional<std::string> Replica::resolve_model(std::string_view model) const {
  for (const auto& name : options_.served_model_names)
    if (name == model) return std::string();
  if (options_.enable_lora) {
    auto it = options_.lora_modules.find(std::string(model));
    if (it != options_.lora_modules.end()) return it->first;
  }
  return std::nullopt;
}

std::string Replica::models_json(std::int64_t unix_now) const {
  std::vector<ModelCard> cards;
  for (const auto& name : options_.served_model_names) cards.push_back({name, options_.model, {}});
  if (options_.enable_lora) {
    for (const auto& [name, path] : options_.lora_modules)
      cards.push_back({name, path, options_.served_model_names.front()});
  }
  return models_body(cards, unix_now, options_.max_model_len);
}

namespace {

std::optional<std::string> string_field(const json::value& doc, std::string_view key) {
  if (!doc.is_object()) return std::nullopt;
  const auto* v = doc.get_object().if_contains(key);
  if (!v || !v->is_string() || v->get_string().empty()) return std::nullopt;
  return std::string(v->get_string());
}

}  // namespace

std::variant<std::string, ApiError> Replica::load_adapter(std::string_view body) {
  if (!options_.enable_lora)
    return ApiError{400, "LoRA is not enabled on this server (--enable-lora)", {}};
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec) return ApiError{400, "request body is not valid JSON", {}};
  const auto name = string_field(doc, "lora_name");
  const auto path = string_field(doc, "lora_path");
  if (!name || !path)
    return ApiError{400, "Both 'lora_name' and 'lora_path' must be provided.", {}};
  if (options_.lora_modules.contains(*name))
    return ApiError{400, "The lora adapter '" + *name + "' has already been loaded.", "lora_name"};
  options_.lora_modules.emplace(*name, *path);
  return "Success: LoRA adapter '" + *name + "' added successfully.";
}

std::variant<std::string, ApiError> Replica::unload_adapter(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec) return ApiError{400, "request body is not valid JSON", {}};
  const auto name = string_field(doc, "lora_name");
  if (!name) return ApiError{400, "'lora_name' must be provided.", "lora_name"};
  if (options_.lora_modules.erase(*name) == 0)
    return ApiError{404, "The lora adapter '" + *name + "' cannot be found.", "lora_name"};
  return "Success: LoRA adapter '" + *name + "' removed successfully.";
}

std::optional<ApiError> Replica::update_faults(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return ApiError{400, "request body must be a JSON object", {}};
  FaultSettings f = options_.faults;
  double slowdown = engine_.slowdown();
  for (const auto& [key, v] : doc.get_object()) {
    if (key == "metrics" && v.is_string()) {
      const std::string_view m = v.get_string();
      if (m == "ok")
        f.metrics = FaultSettings::Metrics::kOk;
      else if (m == "slow")
        f.metrics = FaultSettings::Metrics::kSlow;
      else if (m == "garbled")
        f.metrics = FaultSettings::Metrics::kGarbled;
      else if (m == "missing")
        f.metrics = FaultSettings::Metrics::kMissing;
      else
        return ApiError{400, "'metrics' must be ok, slow, garbled or missing", "metrics"};
    } else if (key == "metrics_delay_ms" && v.is_int64() && v.get_int64() >= 0) {
      f.metrics_delay = std::chrono::milliseconds(v.get_int64());
    } else if (key == "failure_rate" && v.is_number() && v.to_number<double>() >= 0 &&
               v.to_number<double>() <= 1) {
      f.failure_rate = v.to_number<double>();
    } else if (key == "failure_status" && v.is_int64() && v.get_int64() >= 400 &&
               v.get_int64() <= 599) {
      f.failure_status = static_cast<int>(v.get_int64());
    } else if (key == "abort_after_tokens" && v.is_int64() && v.get_int64() >= 0) {
      f.abort_after_tokens = static_cast<int>(v.get_int64());
    } else if (key == "health" && v.is_string() &&
               (v.get_string() == "ok" || v.get_string() == "fail")) {
      f.health_fail = v.get_string() == "fail";
    } else if (key == "slowdown" && v.is_number() && v.to_number<double>() > 0) {
      slowdown = v.to_number<double>();
    } else {
      return ApiError{400, "unknown or invalid fault setting '" + std::string(key) + "'",
                      std::string(key)};
    }
  }
  options_.faults = f;
  engine_.set_slowdown(slowdown);
  return std::nullopt;
}

std::variant<EngineRequest, ApiError> Replica::prepare(const GenerationRequest& request,
                                                       const std::string& adapter) {
  EngineRequest out;
  out.prompt =
      request.prompt_tokens.empty() ? Tokenizer::encode(request.prompt) : request.prompt_tokens;
  out.lora = adapter;
  out.seed = rng_();
  const int prompt_tokens = static_cast<int>(out.prompt.size());
  const auto too_long = [&](int requested_tokens, const char* param) {
    return ApiError{400,
                    "This model's maximum context length is " +
                        std::to_string(options_.max_model_len) +
                        " tokens. However, you requested " + std::to_string(requested_tokens) +
                        " tokens. Please reduce the length of the input or completion.",
                    param};
  };
  if (request.kind == ApiKind::kEmbeddings) {
    if (prompt_tokens > options_.max_model_len) return too_long(prompt_tokens, "input");
    out.output_tokens = 0;
    return out;
  }
  const int room = options_.max_model_len - prompt_tokens;
  // vLLM's defaults: 16 tokens for completions (as OpenAI's API), the rest of the context for chat.
  const int requested = request.max_tokens.value_or(
      request.kind == ApiKind::kCompletions ? std::min(16, room) : room);
  if (room < 1 || requested > room)
    return too_long(prompt_tokens + std::max(requested, 1), "max_tokens");
  if (request.ignore_eos) {
    out.output_tokens = requested;
    out.finish_reason = "length";
    return out;
  }
  // The model stops by itself after a geometric number of tokens (mean output_len_mean),
  // unless the limit comes first.
  std::geometric_distribution<int> natural(1.0 / std::max(1, options_.output_len_mean));
  const int drawn = 1 + natural(rng_);
  out.output_tokens = std::min(drawn, requested);
  out.finish_reason = drawn < requested ? "stop" : "length";
  return out;
}

bool Replica::draw_failure() {
  if (options_.faults.failure_rate <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < options_.faults.failure_rate;
}

}  // namespace infergate::sim
