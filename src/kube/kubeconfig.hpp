// How InferGate reaches a Kubernetes API server: from a kubeconfig file (--kubeconfig), or from
// inside a Pod (its service account), as client-go's rules find them.
//
// Supported credentials: a bearer token (inline or a file, re-read as bound service-account
// tokens rotate) and a client certificate (inline data or files). Exec credential plugins
// (what GKE's gke-gcloud-auth-plugin uses) and the old auth-provider plugins are refused with
// an error saying so: they run programs the gateway has no business running (docs/kubernetes.md
// says how to give a token instead).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>

namespace infergate::kube {

struct ClusterAccess {
  std::string server;  // "https://host:port" (no trailing slash)
  std::string ca_pem;  // the server's CA; empty: the system's trust store
  bool insecure_skip_verify = false;
  std::string tls_server_name;  // SNI and name check, when not the server's host
  std::string token;            // a bearer token, or
  std::string token_file;       // a file holding one (read again before each connection)
  std::string client_cert_pem;  // a client certificate and its key
  std::string client_key_pem;
  std::string ns;      // the context's namespace ("default" when it names none)
  std::string source;  // where this came from, for messages
};

// The kubeconfig at `path`, with `context` (empty: its current-context). Relative file paths
// in it are relative to its folder. The error names the file and what is wrong.
std::variant<ClusterAccess, std::string> load_kubeconfig(const std::string& path,
                                                         const std::string& context = "");

// A Pod's own access: KUBERNETES_SERVICE_HOST and _PORT from `env`, and the service account's
// token, CA and namespace under `account_dir`.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::variant<ClusterAccess, std::string> in_cluster(
    const EnvLookup& env,
    const std::string& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Standard base64 (kubeconfig's *-data fields); nothing when the text is not base64.
std::optional<std::string> decode_base64(const std::string& text);

}  // namespace infergate::kube
