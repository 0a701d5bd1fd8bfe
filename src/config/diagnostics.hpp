// Errors and warnings of a configuration load, each naming file, line and field.
#pragma once

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

}  // namespace infergate::config
