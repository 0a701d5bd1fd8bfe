// Reading one value out of a Prometheus text exposition, for tests.
#pragma once

#include <string>

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

}  // namespace infergate::testing
