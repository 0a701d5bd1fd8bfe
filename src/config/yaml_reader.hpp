// Reads one YAML mapping field by field, with the location of each value, and reports every
// key that was not read as an unknown field. Internal to the config loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "config/diagnostics.hpp"

namespace infergate::config {

SourceLocation location_of(const std::string& file, const YAML::Node& node);
// A mapping key's text; empty for a complex key (`? [a, b]`), which MapReader reports as an
// error. Never throws, unlike `as<std::string>()`.
const std::string& key_text(const YAML::Node& key);

class MapReader {
 public:
  // `node` must be a mapping; if it is not, an error is recorded and every read returns nothing.
  MapReader(const YAML::Node& node, std::string path, const std::string& file, Diagnostics& diag);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;
  // Reports the keys nobody read.
  ~MapReader();

  bool valid() const { return valid_; }
  bool has(const std::string& key) const;
  // The child node (marked as read); an undefined node when absent.
  YAML::Node child(const std::string& key);
  std::string path_of(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  SourceLocation where(const std::string& key) const;
  SourceLocation where() const { return location_of(file_, node_); }

  std::optional<std::string> string(const std::string& key, bool required = false);
  std::optional<std::int64_t> integer(const std::string& key, std::int64_t min, std::int64_t max,
                                      bool required = false);
  std::optional<std::map<std::string, std::string>> string_map(const std::string& key);
  // A key that the upstream schema has but InferGate does not use: read, with a warning.
  void ignore(const std::string& key, const std::string& why);
  void error(const std::string& key, const std::string& message);

  const std::string& file() const { return file_; }
  Diagnostics& diagnostics() { return diag_; }

 private:
  YAML::Node node_;
  std::string path_;
  const std::string& file_;
  Diagnostics& diag_;
  std::set<std::string> read_;
  bool valid_ = true;
};

}  // namespace infergate::config
