// libFuzzer target: /metrics pages come from endpoints the gateway does not control.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/engine_metrics.hpp"
#include "metrics/prometheus_text.hpp"

namespace {

using infergate::metrics::Sample;
using infergate::metrics::SampleScanner;

bool inside(std::string_view part, std::string_view page) {
  return part.empty() ||
         (part.data() >= page.data() && part.data() + part.size() <= page.data() + page.size());
}

// Walks the scanner to its end and checks what it yields; touches every label it reports.
void scan(SampleScanner scanner, std::string_view page) {
  Sample s;
  std::size_t last_line = 0;
  std::string scratch;
  SampleScanner::Status status;
  while ((status = scanner.next(s)) == SampleScanner::Status::kSample) {
    if (!inside(s.name, page) || !inside(s.labels, page) || s.line <= last_line) __builtin_trap();
    last_line = s.line;
    for (const char* label : {"a", "le", "model_name", "request_type", "engine"}) {
      if (const auto value = s.label(label)) {
        if (!inside(value->raw(), s.labels)) __builtin_trap();
        scratch.clear();
        value->append_to(scratch);
        if (!value->equals(scratch)) __builtin_trap();
      }
    }
  }
  if (status == SampleScanner::Status::kError &&
      (scanner.error().reason.empty() || scanner.error().line <= last_line)) {
    __builtin_trap();
  }
  if (scanner.next(s) != status) __builtin_trap();  // end and error are sticky
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the engine whose names are looked for.
  const auto engine = static_cast<infergate::metrics::EngineKind>(data[0] % 5);
  // A copy of exactly the page's bytes, so ASan catches any read past its end.
  const std::string page(reinterpret_cast<const char*>(data + 1), size - 1);

  static constexpr std::string_view kWanted[] = {"m", "a_b:c", "vllm:num_requests_waiting",
                                                 "nv_trt_llm_request_metrics"};
  scan(SampleScanner(page, kWanted), page);
  scan(SampleScanner::every_metric(page), page);

  const auto result = infergate::metrics::extract_metrics(engine, page);
  if (const auto* m = std::get_if<infergate::metrics::EndpointMetrics>(&result)) {
    if (!(m->waiting >= 0) || !(m->running >= 0)) __builtin_trap();
    if (m->kv_usage && !(*m->kv_usage >= 0)) __builtin_trap();
  } else if (std::get<infergate::metrics::MetricsError>(result).message.empty()) {
    __builtin_trap();
  }
  return 0;
}
