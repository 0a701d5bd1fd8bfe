// Splits YAML text into its documents with yaml-cpp, guarding against the inputs on which
// yaml-cpp 0.7 (Debian 12's) never returns. Every problem is an error naming file, line and
// column; nothing throws.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "config/diagnostics.hpp"

namespace infergate::config {

// The documents of `text` (read as the file `name`), or nullopt with an error in `diagnostics`.
std::optional<std::vector<YAML::Node>> parse_yaml_documents(const std::string& text,
                                                            const std::string& name,
                                                            Diagnostics& diagnostics);

}  // namespace infergate::config
