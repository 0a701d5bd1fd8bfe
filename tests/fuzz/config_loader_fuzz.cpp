// libFuzzer target: configuration files are untrusted multi-document YAML (manifests copied
// from clusters, ConfigMaps). Loading and building must end in a configuration or diagnostics,
// never a crash, an exception or a leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "config/load_resources.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  infergate::config::LoadResult loaded;
  infergate::config::load_text(text, "fuzz.yaml", loaded);
  const auto built = infergate::config::build_config(std::move(loaded));
  if (built.config) (void)infergate::config::dump(*built.config);
  for (const auto& e : built.diagnostics.errors) (void)e.to_string();
  return 0;
}
