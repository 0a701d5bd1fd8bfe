#include "tls/server_credentials.hpp"

#include <stdexcept>

#include "common/small_file.hpp"

namespace infergate::tls {

ServerCredentials::ServerCredentials(ServerFiles files, std::chrono::system_clock::time_point now)
    : files_(std::move(files)) {
  const SmallFile cert_file = read_small_file(files_.cert_file);
  const SmallFile key_file = read_small_file(files_.key_file);
  if (!cert_file.text) throw std::runtime_error("TLS certificate file: " + cert_file.error);
  if (!key_file.text) throw std::runtime_error("TLS key file: " + key_file.error);
  const auto& cert = cert_file.text;
  const auto& key = key_file.text;
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
  const auto cert = read_small_file(files_.cert_file).text;
  const auto key = read_small_file(files_.key_file).text;
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
