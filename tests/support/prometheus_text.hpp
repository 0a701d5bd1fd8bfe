// Reading one value out of a Prometheus text exposition, for tests.
#pragma once

#include <string>
#include <string_view>

namespace infergate::testing {

// The value of the first sample whose line starts with `prefix` (a metric name, optionally with
// the start of its labels); -1 when there is none.
inline double sample_value(const std::string& exposition, const std::string& prefix) {
  std::size_t pos = 0;
  while ((pos = exposition.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || exposition[pos - 1] == '\n') {
      const auto eol = exposition.find('\n', pos);
      const auto line = exposition.substr(pos, eol - pos);
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    pos += prefix.size();
  }
  return -1;
}

// The sum of every sample of `family` (one per label set); 0 when there is none.
inline double sum_of_samples(const std::string& exposition, const std::string& family) {
  double sum = 0;
  std::size_t start = 0;
  while (start < exposition.size()) {
    std::size_t eol = exposition.find('\n', start);
    if (eol == std::string::npos) eol = exposition.size();
    const std::string_view line(exposition.data() + start, eol - start);
    if (line.starts_with(family) && line.size() > family.size() &&
        (line[family.size()] == '{' || line[family.size()] == ' '))
      sum += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
    start = eol + 1;
  }
  return sum;
}

}  // namespace infergate::testing
