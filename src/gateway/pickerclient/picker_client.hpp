// The standalone gateway as an ext_proc client: a pool whose InferencePool names an endpoint
// picker (spec.endpointPickerRef, v1alpha2's extensionRef) is picked by that picker, over one
// Envoy ext_proc stream per request, as Envoy drives it in FULL_DUPLEX_STREAMED mode
// (docs/extproc.md, "The gateway as a picker's client"):
//
//   request   request_headers, then the body in chunks, the last with end_of_stream; the
//             picker answers a headers reply (the destination, header mutations) and the body
//             back in streamed chunks (rewritten or not), or an ImmediateResponse;
//   response  response_headers (with the endpoint that served, proposal 004's metadata), then
//             the body as it comes; the picker's replies are what reaches the client.
//
// gRPC and protobuf stay inside this folder's .cpp files: the request path sees plain values.
//
// Thread-safety: one PickerClient per gateway, shared by every worker (its channels are
// gRPC's, thread-safe). A PickerStream belongs to its request's coroutine and executor; gRPC's
// threads hand it each message through that executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/http/http_types.hpp"
#include "gateway/pickerclient/client_options.hpp"
#include "gateway/pickerclient/picker_stats.hpp"
#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway::pickerclient {

// The request as the picker sees it: Envoy's pseudo-headers and the headers it forwards.
struct PickerRequest {
  std::string_view method;
  std::string_view path;
  std::string_view authority;
  const HeaderList* headers = nullptr;
  std::string_view body;
};

// The picker chose: where to send the request, and what to send.
struct Decision {
  std::vector<std::string> endpoints;  // "host:port", primary first (a comma list's fallbacks)
  HeaderList set_headers;              // lower-case names, pseudo-headers left out
  std::vector<std::string> remove_headers;
  std::string body;  // the request body as the picker streamed it back
};
// The picker answered the client itself (an ImmediateResponse: 429 when it sheds, 503, ...).
struct Refusal {
  int status = 500;
  HeaderList headers;
  std::string body;
};
// The picker could not be asked or did not answer properly: it is down, too slow, broke the
// stream or the protocol. `what` says which, for the error and the log.
struct Failure {
  std::string what;
};
using Outcome = std::variant<Decision, Refusal, Failure>;

class PickerStream {
 public:
  virtual ~PickerStream() = default;
  // Sends the request and waits (at most the decision timeout) for the picker's decision.
  virtual boost::asio::awaitable<Outcome> decide(const PickerRequest& request) = 0;
  // After the decision: the endpoint's response head, with the endpoint that served it. The
  // picker's header mutations are applied to `head`; a Refusal or Failure means the picker
  // refused or broke the response (it cannot be relayed).
  virtual boost::asio::awaitable<std::optional<std::variant<Refusal, Failure>>> response_headers(
      ResponseHead& head, std::string_view served_endpoint) = 0;
  // The response body, read from `upstream` and passed through the picker: what the picker
  // streams back is what read_body returns. Takes the stream's place as the request's exchange.
  static std::unique_ptr<UpstreamExchange> relay_body(std::unique_ptr<PickerStream> stream,
                                                      std::unique_ptr<UpstreamExchange> upstream);

 protected:
  // relay_body's side of the stream: the body messages.
  virtual void send_response_body(std::string_view piece, bool end_of_stream) = 0;
  // The next piece of the response body the picker sends back (appended to `out`).
  virtual boost::asio::awaitable<BodyRead> read_response_body(std::string& out) = 0;
  // Whether the picker has sent the last piece of the response body.
  virtual bool response_complete() const = 0;
  // Ends the stream now (the response was abandoned).
  virtual void cancel() = 0;
  friend class RelayedExchange;
};

class PickerClient {
 public:
  explicit PickerClient(ClientOptions options);
  ~PickerClient();
  PickerClient(const PickerClient&) = delete;
  PickerClient& operator=(const PickerClient&) = delete;

  // A stream for one request to the picker at `address` ("host:port"), its messages handed to
  // `executor`. The channel to each address is made once and kept.
  std::unique_ptr<PickerStream> open(const std::string& address,
                                     const boost::asio::any_io_executor& executor);
  const ClientOptions& options() const { return options_; }
  PickerStats& stats() { return stats_; }
  const PickerStats& stats() const { return stats_; }
  // How the picker is reached, for the log.
  std::string tls_summary() const;

 private:
  struct Channels;
  ClientOptions options_;
  std::unique_ptr<Channels> channels_;
  PickerStats stats_;
};

}  // namespace infergate::gateway::pickerclient
