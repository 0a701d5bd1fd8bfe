// The live page's files (src/gateway/server/dashboard/), embedded into the binary at build time:
// CMake writes their bytes into a generated source (cmake/embed_files.cmake).
#pragma once

#include <span>
#include <string_view>

namespace infergate::gateway {

struct EmbeddedFile {
  std::string_view name;   // "index.html", "dashboard.js", ...
  std::string_view bytes;  // the file as it was at build time
};

std::span<const EmbeddedFile> dashboard_files();

}  // namespace infergate::gateway
