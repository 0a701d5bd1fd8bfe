// One ext_proc stream: one HTTP request that Envoy (or any proxy speaking ext_proc) forwards,
// and the picker's part in it (docs/extproc.md).
//
// The request path runs the standalone gateway's phases (lifecycle/phases.hpp) up to pick:
// authenticate, parse, route, resolve model, admit, pick. Forwarding is Envoy's: the decision
// goes back in the destination header and the envoy.lb metadata, and the body goes back (its
// model rewritten when the route or InferenceModel rewrites it). The response path then passes
// through the request-control hooks of the attempt (in-flight counters, prefix index), as the
// relay phase's pieces do, with the model rewritten back, usage read and TTFT measured; the
// request is accounted when its response ends, or when the stream does (cancelled, reset).
//
// Body modes: FULL_DUPLEX_STREAMED (what upstream's Envoy configuration uses: the body is held
// until its end, then replies go headers, body chunks, trailers) and BUFFERED (the header reply
// at once; the decision with the body). A header-only request is routed and picked without a
// body. Errors are an ImmediateResponse, after which the stream ends.
//
// Thread-safety: a stream runs on one worker's event loop (its phases, its executor); every
// entry point is called there, in the order the messages came.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/extproc/extproc_messages.hpp"
#include "gateway/extproc/extproc_options.hpp"
#include "gateway/lifecycle/phases.hpp"
#include "gateway/lifecycle/response_rewrite.hpp"

namespace infergate::gateway::extproc {

// Where a stream's replies go: the gRPC stream, or a list in tests. Called on the worker.
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual void send(pb::ProcessingResponse reply) = 0;
  // No more replies: the stream ends (with OK) once those sent are written.
  virtual void finish() = 0;
};

class ExtProcStream : public std::enable_shared_from_this<ExtProcStream> {
 public:
  using ProcessingMode = envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
  using BodyMode = ProcessingMode::BodySendMode;

  ExtProcStream(RequestPhases& phases, boost::asio::any_io_executor executor,
                std::shared_ptr<ReplySink> sink, StreamOptions options);
  ~ExtProcStream();
  ExtProcStream(const ExtProcStream&) = delete;
  ExtProcStream& operator=(const ExtProcStream&) = delete;

  // The next message of the stream.
  void on_message(pb::ProcessingRequest message);
  // Envoy closed its side (the request is over, as far as it is concerned).
  void on_client_closed();
  // The stream was cancelled or reset: whatever the request holds is given back.
  void on_cancelled();

  bool finished() const { return finished_; }

 private:
  enum class Phase { kHeaders, kRequestBody, kDeciding, kForwarded, kResponseBody, kDone };

  void handle(pb::ProcessingRequest& message);
  void on_request_headers(const pb::ProcessingRequest& message);
  void on_request_body(const pb::HttpBody& body);
  void on_response_headers(const pb::HttpHeaders& headers);
  void on_response_body(const pb::HttpBody& body);
  void on_response_trailers();
  // The held response body, its model rewritten back, as the mode wants it.
  void answer_whole_body(bool end_of_stream);
  // A piece of the response back to Envoy (`changed`: it differs from what Envoy sent).
  void answer_response(std::string_view out, bool end_of_stream, bool changed);
  // The request is whole: the phases run (they may wait in flow control).
  void decide();
  // `self` keeps the stream alive while the phases run.
  boost::asio::awaitable<void> run_phases(std::shared_ptr<ExtProcStream> self);
  // The decision and the body, in the order Envoy needs them.
  void send_decision();
  // What goes upstream: the client's body, its model replaced when it is rewritten.
  std::string upstream_body() const;
  void fail(const RequestError& error);
  RequestContext& context();  // made when a request fails before its phases made it
  // The request ends: the attempt's hooks, the account phase, the context's release.
  void complete();
  // The stream's last reply was sent (or will never be).
  void end_stream();
  void send(pb::ProcessingResponse reply) { sink_->send(std::move(reply)); }
  bool streamed_response() const { return response_mode_ == ProcessingMode::FULL_DUPLEX_STREAMED; }

  RequestPhases& phases_;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<ReplySink> sink_;
  const StreamOptions options_;

  Phase phase_ = Phase::kHeaders;
  BodyMode request_mode_ = ProcessingMode::FULL_DUPLEX_STREAMED;
  BodyMode response_mode_ = ProcessingMode::FULL_DUPLEX_STREAMED;
  bool header_only_ = false;
  bool request_trailers_ = false;
  std::optional<std::vector<std::string>> subset_;
  std::string served_;
  std::deque<pb::ProcessingRequest> pending_;  // came while the phases ran

  // The request, as the phases see it: the context views it, so it goes after the context.
  ClientRequest request_;
  std::string body_;
  std::unique_ptr<RequestContext> ctx_;
  std::optional<Attempt> attempt_;  // views the context: goes first
  boost::asio::cancellation_signal cancel_;
  bool deciding_ = false;
  bool cancelled_ = false;
  bool client_closed_ = false;
  bool completed_ = false;
  bool finished_ = false;

  // The response.
  bool sse_ = false;
  std::optional<EventRelay> events_;
  std::string response_body_;  // a whole body, buffered to its end
};

}  // namespace infergate::gateway::extproc
