#include "tls/server_credentials.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace infergate::tls {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

ServerCredentials::ServerCredentials(ServerFiles files, std::chrono::system_clock::time_point now)
    : files_(std::move(files)) {
  const auto cert = read_file(files_.cert_file);
  const auto key = read_file(files_.key_file);
  if (!cert) throw std::runtime_error("cannot read the TLS certificate file " + files_.cert_file);
  if (!key) throw std::runtime_error("cannot read the TLS key file " + files_.key_file);
  Built built = make_server_context(*cert, *key, files_.min_version, now);
  if (!built.context)
    throw std::runtime_error("TLS certificate " + files_.cert_file + " with key " +
                             files_.key_file + " refused: " + built.error);
  context_ = std::move(built.context);
  summary_ = std::move(built.summary);
  cert_text_ = *cert;
  key_text_ = *key;
}

ContextPtr ServerCredentials::current() const {
  std::lock_guard lock(mu_);
  return context_;
}

std::string ServerCredentials::summary() const {
  std::lock_guard lock(mu_);
  return summary_;
}

ServerCredentials::Refresh ServerCredentials::refresh(std::chrono::system_clock::time_point now) {
  Refresh out;
  const auto cert = read_file(files_.cert_file);
  const auto key = read_file(files_.key_file);
  // A file missing for a moment (replaced by rename) is not a change: look again next time.
  if (!cert || !key || (*cert == cert_text_ && *key == key_text_)) return out;
  out.changed = true;
  cert_text_ = *cert;
  key_text_ = *key;
  Built built = make_server_context(*cert, *key, files_.min_version, now);
  if (!built.context) {
    out.message = "TLS certificate " + files_.cert_file + " with key " + files_.key_file +
                  " refused, still serving the previous one: " + built.error;
    return out;
  }
  out.applied = true;
  out.message = "TLS certificate reloaded from " + files_.cert_file + ": " + built.summary;
  std::lock_guard lock(mu_);
  context_ = std::move(built.context);
  summary_ = std::move(built.summary);
  return out;
}

}  // namespace infergate::tls
