// ApiTransport over HTTPS (Boost.Beast on Asio, Debian's OpenSSL): one connection per request,
// the server's certificate checked against the ClusterAccess CA (or the system store), the
// bearer token (a token file read again for each request, as bound tokens rotate) or client
// certificate presented. Every wait is bounded: a GET by its timeout, a watch by the longest
// silence allowed.
//
// Thread-safety: one request at a time; cancel() from any thread.
#pragma once

#include <memory>

#include "kube/api_transport.hpp"
#include "kube/kubeconfig.hpp"

namespace infergate::kube {

// The transport, or why it cannot be made (a bad CA or client certificate, a bad server URL).
std::unique_ptr<ApiTransport> make_https_transport(const ClusterAccess& access, std::string& error);

}  // namespace infergate::kube
