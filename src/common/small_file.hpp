// Reads a small regular file whole: certificates, keys, secrets. Nothing else is read (a device
// or a pipe named by mistake could block a load or never end), and nothing larger than a bound.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace infergate {

struct SmallFile {
  std::optional<std::string> text;  // nothing when it could not be read
  std::string error;                // then why, naming the file
};

inline SmallFile read_small_file(const std::string& path,
                                 std::uintmax_t max_bytes = std::uintmax_t{1} << 20) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return {std::nullopt, "cannot read " + path + ": not a regular file"};
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return {std::nullopt, "cannot read " + path + ": " + ec.message()};
  if (size > max_bytes)
    return {std::nullopt, path + " is larger than " + std::to_string(max_bytes) + " bytes"};
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) return {std::nullopt, "cannot read " + path};
  return {std::move(text).str(), {}};
}

}  // namespace infergate
