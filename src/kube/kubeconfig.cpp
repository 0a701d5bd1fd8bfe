#include "kube/kubeconfig.hpp"

#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>

#include "common/small_file.hpp"

namespace infergate::kube {
namespace {

namespace fs = std::filesystem;
using Result = std::variant<ClusterAccess, std::string>;

// The entry of list `list` (clusters, users, contexts) whose name is `name`, or a null node.
YAML::Node named(const YAML::Node& root, const char* list, const std::string& name) {
  const YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) return YAML::Node();
  for (const auto& e : entries)
    if (e["name"] && e["name"].as<std::string>() == name) return e;
  return YAML::Node();
}

std::string text_of(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

// A kubeconfig's `<key>-data` (base64) or `<key>` (a file, relative to the kubeconfig's folder)
// into `out` (empty when neither is set); false, with `error`, when it cannot be read.
bool data_or_file(const YAML::Node& node, const std::string& key, const fs::path& base,
                  std::string& out, std::string& error) {
  out.clear();
  if (const std::string data = text_of(node, (key + "-data").c_str()); !data.empty()) {
    auto decoded = decode_base64(data);
    if (!decoded) {
      error = key + "-data is not base64";
      return false;
    }
    out = std::move(*decoded);
    return true;
  }
  const std::string file = text_of(node, key.c_str());
  if (file.empty()) return true;
  const fs::path path = fs::path(file).is_absolute() ? fs::path(file) : base / file;
  SmallFile read = read_small_file(path.string());
  if (!read.text) {
    error = read.error;
    return false;
  }
  out = std::move(*read.text);
  return true;
}

}  // namespace

std::optional<std::string> decode_base64(const std::string& text) {
  static const std::array<signed char, 256> kValue = [] {
    std::array<signed char, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      v[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return v;
  }();
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0, padding = 0;
  for (const char c : text) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const signed char v = kValue[static_cast<unsigned char>(c)];
    if (v < 0 || padding > 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 1 || padding > 2) return std::nullopt;
  if (count == 2) out += static_cast<char>((bits >> 4) & 0xff);
  if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  }
  return out;
}

Result load_kubeconfig(const std::string& path, const std::string& context) {
  const auto fail = [&](const std::string& what) { return Result(path + ": " + what); };
  SmallFile file = read_small_file(path);
  if (!file.text) return Result(file.error);
  YAML::Node root;
  try {
    root = YAML::Load(*file.text);
  } catch (const YAML::Exception& e) {
    return fail(std::string("not YAML: ") + e.what());
  }
  if (!root.IsMap()) return fail("not a kubeconfig (expected a mapping)");
  const fs::path base = fs::absolute(path).parent_path();
  try {
    const std::string context_name = context.empty() ? text_of(root, "current-context") : context;
    if (context_name.empty()) return fail("no current-context, and no --kube-context given");
    const YAML::Node ctx = named(root, "contexts", context_name)["context"];
    if (!ctx) return fail("no context named " + context_name);
    const std::string cluster_name = text_of(ctx, "cluster");
    const YAML::Node cluster = named(root, "clusters", cluster_name)["cluster"];
    if (!cluster) return fail("context " + context_name + " names no known cluster");
    const std::string user_name = text_of(ctx, "user");
    const YAML::Node user = named(root, "users", user_name)["user"];

    if (user && user["exec"])
      return fail("user " + user_name +
                  ": exec credential plugins are not supported; give a token or a client "
                  "certificate (docs/kubernetes.md)");
    if (user && user["auth-provider"])
      return fail("user " + user_name + ": auth-provider plugins are not supported");

    ClusterAccess a;
    a.source = path + " (context " + context_name + ")";
    a.ns = text_of(ctx, "namespace");
    if (a.ns.empty()) a.ns = "default";
    a.server = text_of(cluster, "server");
    while (a.server.ends_with('/')) a.server.pop_back();
    if (!a.server.starts_with("https://"))
      return fail("cluster " + cluster_name + ": server must be an https:// URL, got '" + a.server +
                  "'");
    a.insecure_skip_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    a.tls_server_name = text_of(cluster, "tls-server-name");
    std::string error;
    if (!data_or_file(cluster, "certificate-authority", base, a.ca_pem, error))
      return fail("cluster " + cluster_name + ": " + error);
    if (user) {
      a.token = text_of(user, "token");
      if (const std::string f = text_of(user, "tokenFile"); !f.empty())
        a.token_file = fs::path(f).is_absolute() ? f : (base / f).string();
      if (!data_or_file(user, "client-certificate", base, a.client_cert_pem, error) ||
          !data_or_file(user, "client-key", base, a.client_key_pem, error))
        return fail("user " + user_name + ": " + error);
      if (a.client_cert_pem.empty() != a.client_key_pem.empty())
        return fail("user " + user_name +
                    ": a client certificate needs its key, and a key its "
                    "certificate");
    }
    return a;
  } catch (const YAML::Exception& e) {
    return fail(std::string("malformed: ") + e.what());
  }
}

Result in_cluster(const EnvLookup& env, const std::string& account_dir) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty())
    return Result(
        "not in a Pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
        "(give --kubeconfig)");
  ClusterAccess a;
  a.source = "the Pod's service account (" + account_dir + ")";
  const bool ipv6 = host->find(':') != std::string::npos;
  a.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  a.token_file = account_dir + "/token";
  SmallFile token = read_small_file(a.token_file);
  if (!token.text) return Result(token.error);
  SmallFile ca = read_small_file(account_dir + "/ca.crt");
  if (!ca.text) return Result(ca.error);
  a.ca_pem = std::move(*ca.text);
  SmallFile ns = read_small_file(account_dir + "/namespace");
  a.ns = ns.text ? *ns.text : "default";
  while (!a.ns.empty() && (a.ns.back() == '\n' || a.ns.back() == ' ')) a.ns.pop_back();
  return a;
}

}  // namespace infergate::kube
