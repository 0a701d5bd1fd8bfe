#include "config/yaml_reader.hpp"

namespace infergate::config {

SourceLocation location_of(const std::string& file, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return SourceLocation{file, m.line + 1, m.column + 1};
}

MapReader::MapReader(const YAML::Node& node, std::string path, const std::string& file,
                     Diagnostics& diag)
    : node_(node), path_(std::move(path)), file_(file), diag_(diag) {
  if (!node_.IsMap()) {
    valid_ = false;
    diag_.error(location_of(file_, node_), path_, "must be a mapping");
  }
}

MapReader::~MapReader() {
  if (!valid_) return;
  // A destructor must not throw: should yaml-cpp throw while the keys are walked, the mapping
  // is reported as unreadable instead.
  try {
    for (const auto& kv : node_) {
      if (!kv.first.IsScalar()) {
        // A complex key is well-formed YAML but names no field.
        diag_.error(location_of(file_, kv.first), path_, "a field name must be a plain string");
        continue;
      }
      const std::string& key = kv.first.Scalar();
      if (!read_.contains(key))
        diag_.error(location_of(file_, kv.first), path_of(key), "unknown field");
    }
  } catch (const std::exception& e) {
    diag_.errors.push_back(
        {location_of(file_, node_), path_, std::string("unreadable: ") + e.what()});
  }
}

bool MapReader::has(const std::string& key) const { return valid_ && node_[key].IsDefined(); }

YAML::Node MapReader::child(const std::string& key) {
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  read_.insert(key);
  // Looked up through a const reference: yaml-cpp's non-const operator[] adds the key to the
  // mapping, which would invalidate the iterators of a caller walking it.
  const YAML::Node& map = node_;
  return map[key];
}

const std::string& key_text(const YAML::Node& key) {
  static const std::string kNone;
  return key.IsScalar() ? key.Scalar() : kNone;
}

SourceLocation MapReader::where(const std::string& key) const {
  if (valid_) {
    for (const auto& kv : node_)
      if (key_text(kv.first) == key) return location_of(file_, kv.first);
  }
  return where();
}

void MapReader::error(const std::string& key, const std::string& message) {
  diag_.error(where(key), path_of(key), message);
}

std::optional<std::string> MapReader::string(const std::string& key, bool required) {
  const YAML::Node n = child(key);
  if (!n.IsDefined() || n.IsNull()) {
    if (required && valid_) diag_.error(where(), path_of(key), "required field is missing");
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    diag_.error(location_of(file_, n), path_of(key), "must be a string");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<std::int64_t> MapReader::integer(const std::string& key, std::int64_t min,
                                               std::int64_t max, bool required) {
  const YAML::Node n = child(key);
  if (!n.IsDefined() || n.IsNull()) {
    if (required && valid_) diag_.error(where(), path_of(key), "required field is missing");
    return std::nullopt;
  }
  std::int64_t v = 0;
  if (!n.IsScalar() || !YAML::convert<std::int64_t>::decode(n, v)) {
    diag_.error(location_of(file_, n), path_of(key), "must be an integer");
    return std::nullopt;
  }
  if (v < min || v > max) {
    diag_.error(location_of(file_, n), path_of(key),
                "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    ", got " + std::to_string(v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::map<std::string, std::string>> MapReader::string_map(const std::string& key) {
  const YAML::Node n = child(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsMap()) {
    diag_.error(location_of(file_, n), path_of(key), "must be a map of strings");
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  for (const auto& kv : n) {
    if (!kv.second.IsScalar()) {
      diag_.error(location_of(file_, kv.second), path_of(key) + "." + key_text(kv.first),
                  "must be a string");
      continue;
    }
    out[key_text(kv.first)] = kv.second.Scalar();
  }
  return out;
}

void MapReader::ignore(const std::string& key, const std::string& why) {
  const YAML::Node n = child(key);
  if (n.IsDefined()) diag_.warn(where(key), path_of(key), "ignored: " + why);
}

std::string Diagnostic::to_string() const {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
         (field.empty() ? "" : field + ": ") + message;
}

std::string Diagnostics::error_text() const {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace infergate::config
