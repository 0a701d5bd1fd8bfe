// Parses configuration files (multi-document YAML of Kubernetes-style objects) into Resources.
// Each object is checked against the upstream schema of its kind: unknown fields, bad values
// and unsupported API versions are errors naming file, line and field. Objects of ordinary
// Kubernetes kinds that InferGate does not use are skipped (listed in Resources::skipped), so
// the manifests a user applies to a cluster load unchanged.
#pragma once

#include <string>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/resources.hpp"

namespace infergate::config {

struct LoadResult {
  Resources resources;
  Diagnostics diagnostics;
};

// Loads files in order; a later file's objects are younger.
LoadResult load_files(const std::vector<std::string>& paths);
// Loads YAML text as if it were the file `name`.
void load_text(const std::string& text, const std::string& name, LoadResult& into);

}  // namespace infergate::config
