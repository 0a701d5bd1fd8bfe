// UpstreamPolicy (infergate.dev/v1alpha1): TLS and a credential for one pool's model servers.
//   spec.targetRef {group: inference.networking.k8s.io, kind: InferencePool, name}
//   spec.tls {caFile, serverName, clientCertificateFile, clientKeyFile, minVersion,
//             insecureSkipVerify}
//   spec.credential {header (default authorization), valueFile | valueEnv,
//                    prefix (default "Bearer " for authorization, else none)}
// Relative file paths are read from the configuration file's folder; only regular files up to
// 1 MiB are read (common/small_file.hpp).
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "common/small_file.hpp"
#include "config/parsers.hpp"

namespace infergate::config {
namespace {

// Reads the file a field names into `out`; an error at the field when it cannot.
std::optional<std::string> read_named_file(MapReader& m, const std::string& key,
                                           std::string& path_out) {
  auto path = m.string(key);
  if (!path) return std::nullopt;
  if (path->empty()) {
    m.error(key, "must not be empty");
    return std::nullopt;
  }
  std::filesystem::path full(*path);
  if (full.is_relative()) full = std::filesystem::path(m.file()).parent_path() / full;
  path_out = full.string();
  SmallFile file = read_small_file(path_out);
  if (!file.text) m.error(key, file.error);
  return std::move(file.text);
}

void parse_tls(MapReader& spec, UpstreamPolicy& out) {
  MapReader t(spec.child("tls"), spec.path_of("tls"), spec.file(), spec.diagnostics());
  if (!t.valid()) return;
  UpstreamTlsSpec tls;
  if (auto ca = read_named_file(t, "caFile", tls.ca_file)) tls.ca_pem = std::move(*ca);
  if (auto name = t.string("serverName")) tls.server_name = *name;
  const bool has_cert = t.has("clientCertificateFile"), has_key = t.has("clientKeyFile");
  if (auto cert = read_named_file(t, "clientCertificateFile", tls.client_cert_file))
    tls.client_cert_pem = std::move(*cert);
  if (auto key = read_named_file(t, "clientKeyFile", tls.client_key_file))
    tls.client_key_pem = std::move(*key);
  if (has_cert != has_key)
    t.error(has_cert ? "clientKeyFile" : "clientCertificateFile",
            "clientCertificateFile and clientKeyFile go together");
  if (auto v = t.string("minVersion")) {
    if (*v != "1.2" && *v != "1.3")
      t.error("minVersion", "must be \"1.2\" or \"1.3\", got '" + *v + "'");
    else
      tls.min_version = *v;
  }
  if (auto skip = t.string("insecureSkipVerify")) {
    if (*skip != "true" && *skip != "false") t.error("insecureSkipVerify", "must be true or false");
    tls.insecure_skip_verify = *skip == "true";
    if (tls.insecure_skip_verify && !tls.ca_file.empty())
      t.error("insecureSkipVerify", "contradicts caFile: a CA is given to verify with");
  }
  out.tls = std::move(tls);
}

bool valid_header_name(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

void parse_credential(MapReader& spec, UpstreamPolicy& out) {
  MapReader c(spec.child("credential"), spec.path_of("credential"), spec.file(),
              spec.diagnostics());
  if (!c.valid()) return;
  UpstreamCredential cred;
  cred.header = c.string("header").value_or("authorization");
  for (auto& ch : cred.header) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!valid_header_name(cred.header))
    c.error("header", "not a header name: '" + cred.header + "'");
  if (cred.header == "host" || cred.header == "content-length" ||
      cred.header == "transfer-encoding" || cred.header == "connection")
    c.error("header", "the gateway sets " + cred.header + " itself");
  std::string prefix = c.string("prefix").value_or(cred.header == "authorization" ? "Bearer " : "");
  std::string secret;
  const bool from_file = c.has("valueFile"), from_env = c.has("valueEnv");
  if (from_file == from_env) {
    c.error(from_file ? "valueEnv" : "valueFile",
            "exactly one of valueFile and valueEnv is needed");
    c.child("valueFile");
    c.child("valueEnv");
    return;
  }
  if (from_file) {
    std::string path;
    auto text = read_named_file(c, "valueFile", path);
    if (!text) return;
    secret = std::move(*text);
    cred.source = "file " + path;
  } else {
    const auto name = c.string("valueEnv").value_or("");
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (!value || !*value) {
      c.error("valueEnv", "environment variable '" + name + "' is not set or empty");
      return;
    }
    secret = value;
    cred.source = "env " + name;
  }
  // A Secret's file usually ends with a newline; the value must not.
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    c.error(from_file ? "valueFile" : "valueEnv", "the credential is empty");
    return;
  }
  for (const char ch : prefix + secret)
    if (ch == '\r' || ch == '\n' || ch == '\0') {
      c.error(from_file ? "valueFile" : "valueEnv", "the credential holds a line break or NUL");
      return;
    }
  cred.value = prefix + secret;
  out.credential = std::move(cred);
}

}  // namespace

void parse_upstream_policy(MapReader& spec, UpstreamPolicy& out) {
  if (spec.has("targetRef")) {
    MapReader ref(spec.child("targetRef"), spec.path_of("targetRef"), spec.file(),
                  spec.diagnostics());
    if (auto group = ref.string("group"); group && *group != "inference.networking.k8s.io" &&
                                          *group != "inference.networking.x-k8s.io")
      ref.error("group", "must be inference.networking.k8s.io, got '" + *group + "'");
    if (auto kind = ref.string("kind"); kind && *kind != "InferencePool")
      ref.error("kind", "must be InferencePool, got '" + *kind + "'");
    out.pool = ref.string("name", true).value_or("");
  } else {
    spec.error("targetRef", "required field is missing");
  }
  if (spec.has("tls")) parse_tls(spec, out);
  if (spec.has("credential")) parse_credential(spec, out);
  if (!out.tls && !out.credential)
    spec.error("tls", "an UpstreamPolicy needs tls, credential or both");
}

}  // namespace infergate::config
