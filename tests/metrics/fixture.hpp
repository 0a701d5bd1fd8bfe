// Reading the shared metric dumps (INFERGATE_FIXTURES/metrics/...) in the metrics tests.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace infergate::metrics::testing {

inline std::string fixture_path(const std::string& relative) {
  return std::string(INFERGATE_FIXTURES) + "/metrics/" + relative;
}

// The file's bytes; empty when it cannot be read (tests then fail on their expectations).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string read_fixture(const std::string& relative) {
  return read_file(fixture_path(relative));
}

}  // namespace infergate::metrics::testing
