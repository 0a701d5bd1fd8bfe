#include "load_report.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <numeric>

namespace infergate::bench {

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  p.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  return p;
}

namespace {
boost::json::object to_object(const Percentiles& p) {
  return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

boost::json::object errors_object(const std::map<int, int>& errors_by_status) {
  boost::json::object errors;
  for (const auto& [status, n] : errors_by_status) errors[std::to_string(status)] = n;
  return errors;
}
}  // namespace

boost::json::object ClassReport::to_json() const {
  return {{"sent", sent},
          {"ok", ok},
          {"errors", errors_object(errors_by_status)},
          {"ttft_s", to_object(percentiles(ttft_s))},
          {"e2e_s", to_object(percentiles(e2e_s))},
          {"time_to_429_s", to_object(percentiles(time_to_429_s))}};
}

std::string LoadReport::to_json() const {
  boost::json::object by_class;
  for (const auto& [name, c] : classes) by_class[name] = c.to_json();
  return boost::json::serialize(boost::json::object{
      {"sent", sent},
      {"ok", ok},
      {"errors", errors_object(errors_by_status)},
      {"wall_s", wall_s},
      {"throughput_rps", wall_s > 0 ? ok / wall_s : 0.0},
      {"window_s", window_s},
      {"window_throughput_rps", window_s > 0 ? ok_in_window / window_s : 0.0},
      {"output_tokens_per_s", wall_s > 0 ? static_cast<double>(output_tokens) / wall_s : 0.0},
      {"ttft_s", to_object(percentiles(ttft_s))},
      {"e2e_s", to_object(percentiles(e2e_s))},
      {"with_usage", with_usage},
      {"prompt_tokens", prompt_tokens},
      {"cached_tokens", cached_tokens},
      {"cached_share", prompt_tokens > 0
                           ? static_cast<double>(cached_tokens) / static_cast<double>(prompt_tokens)
                           : 0.0},
      {"time_to_429_s", to_object(percentiles(time_to_429_s))},
      {"classes", by_class}});
}

std::string LoadReport::to_text() const {
  const auto t = percentiles(ttft_s), e = percentiles(e2e_s);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "sent %d, ok %d, failed %d in %.1f s: %.1f req/s, %.0f output tokens/s\n"
                "TTFT ms   mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f\n"
                "e2e  ms   mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f\n",
                sent, ok, sent - ok, wall_s, wall_s > 0 ? ok / wall_s : 0.0,
                wall_s > 0 ? static_cast<double>(output_tokens) / wall_s : 0.0, t.mean * 1e3,
                t.p50 * 1e3, t.p90 * 1e3, t.p99 * 1e3, e.mean * 1e3, e.p50 * 1e3, e.p90 * 1e3,
                e.p99 * 1e3);
  std::string text = buf;
  if (window_s > 0 && window_s < wall_s) {
    std::snprintf(buf, sizeof buf,
                  "within the measured %.1f s of arrivals: %d completed, %.1f req/s\n", window_s,
                  ok_in_window, ok_in_window / window_s);
    text += buf;
  }
  if (with_usage > 0) {
    std::snprintf(
        buf, sizeof buf, "usage     %d responses: %ld prompt tokens, %ld cached (%.1f %%)\n",
        with_usage, prompt_tokens, cached_tokens,
        prompt_tokens > 0
            ? 100.0 * static_cast<double>(cached_tokens) / static_cast<double>(prompt_tokens)
            : 0.0);
    text += buf;
  }
  if (!time_to_429_s.empty()) {
    const auto r = percentiles(time_to_429_s);
    std::snprintf(buf, sizeof buf,
                  "429  ms   mean %.2f  p50 %.2f  p90 %.2f  p99 %.2f  (%zu answers)\n",
                  r.mean * 1e3, r.p50 * 1e3, r.p90 * 1e3, r.p99 * 1e3, time_to_429_s.size());
    text += buf;
  }
  for (const auto& [name, c] : classes) {
    std::string statuses;
    for (const auto& [status, n] : c.errors_by_status)
      statuses += " " + std::to_string(status) + ":" + std::to_string(n);
    const auto ttft = percentiles(c.ttft_s);
    std::snprintf(buf, sizeof buf,
                  "%-20s sent %d, ok %d, failed%s; TTFT ms p50 %.1f p90 %.1f p99 %.1f\n",
                  name.c_str(), c.sent, c.ok, statuses.empty() ? " 0" : statuses.c_str(),
                  ttft.p50 * 1e3, ttft.p90 * 1e3, ttft.p99 * 1e3);
    text += buf;
  }
  return text;
}

}  // namespace infergate::bench
