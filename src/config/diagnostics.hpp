// Errors and warnings of a configuration load, each naming file, line and field.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "config/resources.hpp"

namespace infergate::config {

struct Diagnostic {
  SourceLocation where;
  std::string field;  // dotted path inside the object, e.g. "spec.targetModels[1].weight"
  std::string message;
  std::string to_string() const;  // "file:line:column: field: message"
};

struct Diagnostics {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  bool ok() const { return errors.empty(); }
  void error(SourceLocation where, std::string field, std::string message) {
    errors.push_back({std::move(where), std::move(field), std::move(message)});
  }
  void warn(SourceLocation where, std::string field, std::string message) {
    warnings.push_back({std::move(where), std::move(field), std::move(message)});
  }
  // All errors, one per line.
  std::string error_text() const;
};

// The warnings of successive loads of one configuration (every reload, which in Kubernetes
// mode follows every change in the cluster), said once while they hold: a warning is new when
// the load before did not have it, and said again only after a load without it.
class WarningsSaid {
 public:
  // The warnings of this load that the last one did not have, as to_string() gives them.
  std::vector<std::string> new_since_last(const Diagnostics& load) {
    std::vector<std::string> now;
    for (const Diagnostic& w : load.warnings) now.push_back(w.to_string());
    return new_since_last(std::move(now));
  }
  // The same for warnings already written out (what the cluster holds and cannot be served).
  std::vector<std::string> new_since_last(std::vector<std::string> now) {
    std::vector<std::string> fresh;
    for (const std::string& w : now)
      if (std::find(last_.begin(), last_.end(), w) == last_.end()) fresh.push_back(w);
    last_ = std::move(now);
    return fresh;
  }

 private:
  std::vector<std::string> last_;
};

}  // namespace infergate::config
