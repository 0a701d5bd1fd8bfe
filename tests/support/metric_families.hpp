// What a Prometheus text page says about each metric family: its TYPE, its HELP and the label
// names its samples carry (a histogram's `le` left out), for golden tests of /metrics. Reads the
// testutil files of upstream projects too (blanks after the commas of a label set).
#pragma once

#include <map>
#include <set>
#include <sstream>
#include <string>

namespace infergate::testing {

struct MetricFamily {
  std::string type;  // counter, gauge, histogram, untyped
  std::string help;
  std::set<std::string> labels;  // of every sample, `le` left out
  int samples = 0;
};

// The family a sample line belongs to: its name, without a histogram's _bucket/_sum/_count.
inline std::string family_of_sample(const std::string& name,
                                    const std::map<std::string, MetricFamily>& families) {
  if (families.contains(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      if (families.contains(base)) return base;
    }
  }
  return name;
}

inline std::map<std::string, MetricFamily> describe_families(const std::string& page) {
  std::map<std::string, MetricFamily> out;
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name = rest.substr(0, space);
      const std::string text = space == std::string::npos ? "" : rest.substr(space + 1);
      (line[2] == 'H' ? out[name].help : out[name].type) = text;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const std::size_t end = line.find_first_of("{ ");
    MetricFamily& f = out[family_of_sample(line.substr(0, end), out)];
    ++f.samples;
    if (end == std::string::npos || line[end] != '{') continue;
    std::size_t i = end + 1;
    while (i < line.size() && line[i] != '}') {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i >= line.size() || line[i] == '}') break;
      const std::size_t eq = line.find('=', i);
      if (eq == std::string::npos) break;
      const std::string key = line.substr(i, eq - i);
      if (key != "le") f.labels.insert(key);
      i = eq + 2;  // past ="
      while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
      ++i;  // past the closing quote
    }
  }
  return out;
}

}  // namespace infergate::testing
