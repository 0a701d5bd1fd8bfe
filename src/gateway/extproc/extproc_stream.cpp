#include "gateway/extproc/extproc_stream.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace infergate::gateway::extproc {
namespace net = boost::asio;

namespace {

RequestError protocol_error(std::string message) {
  return RequestError::gateway(500, "ext_proc protocol: " + std::move(message));
}

}  // namespace

ExtProcStream::ExtProcStream(RequestPhases& phases, net::any_io_executor executor,
                             std::shared_ptr<ReplySink> sink, StreamOptions options)
    : phases_(phases), executor_(std::move(executor)), sink_(std::move(sink)), options_(options) {}

ExtProcStream::~ExtProcStream() = default;

void ExtProcStream::on_message(pb::ProcessingRequest message) {
  if (finished_) return;
  if (message.has_metadata_context()) {
    if (std::string served = served_endpoint(message.metadata_context()); !served.empty())
      served_ = std::move(served);
  }
  if (deciding_) {
    pending_.push_back(std::move(message));
    return;
  }
  handle(message);
}

void ExtProcStream::handle(pb::ProcessingRequest& message) {
  using R = pb::ProcessingRequest;
  if (message.observability_mode()) return;  // nothing may be answered
  switch (message.request_case()) {
    case R::kRequestHeaders:
      on_request_headers(message);
      return;
    case R::kRequestBody:
      on_request_body(message.request_body());
      return;
    case R::kRequestTrailers:
      if (phase_ == Phase::kRequestBody) {  // FULL_DUPLEX_STREAMED: they end the body
        request_trailers_ = true;
        return decide();
      }
      if (phase_ == Phase::kForwarded && request_mode_ == ProcessingMode::BUFFERED) {
        pb::ProcessingResponse reply;
        reply.mutable_request_trailers();
        return send(std::move(reply));
      }
      return fail(protocol_error("request trailers out of order"));
    case R::kResponseHeaders:
      return on_response_headers(message.response_headers());
    case R::kResponseBody:
      return on_response_body(message.response_body());
    case R::kResponseTrailers:
      return on_response_trailers();
    case R::REQUEST_NOT_SET:
      return;
  }
}

void ExtProcStream::on_request_headers(const pb::ProcessingRequest& message) {
  if (phase_ != Phase::kHeaders) return fail(protocol_error("request headers came twice"));
  if (message.has_protocol_config()) {
    request_mode_ = message.protocol_config().request_body_mode();
    response_mode_ = message.protocol_config().response_body_mode();
  }
  Headers h = read_headers(message.request_headers());
  request_.method = std::move(h.method);
  request_.target = std::move(h.path);
  request_.headers = std::move(h.headers);
  if (!h.authority.empty() && !find_header(request_.headers, "host"))
    request_.headers.emplace_back("host", std::move(h.authority));
  if (message.has_metadata_context()) subset_ = subset_hint(message.metadata_context());
  if (message.request_headers().end_of_stream() || request_mode_ == ProcessingMode::NONE) {
    header_only_ = true;
    return decide();
  }
  if (request_mode_ != ProcessingMode::FULL_DUPLEX_STREAMED &&
      request_mode_ != ProcessingMode::BUFFERED)
    return fail(RequestError::gateway(
        500, "the picker needs request_body_mode FULL_DUPLEX_STREAMED or BUFFERED"));
  if (request_mode_ == ProcessingMode::BUFFERED) {
    // Envoy waits for this reply (within its message timeout) before it sends the body.
    pb::ProcessingResponse reply;
    reply.mutable_request_headers()->mutable_response();
    send(std::move(reply));
  }
  phase_ = Phase::kRequestBody;
}

void ExtProcStream::on_request_body(const pb::HttpBody& body) {
  if (phase_ != Phase::kRequestBody) return fail(protocol_error("a request body out of order"));
  if (body_.size() + body.body().size() > options_.max_body_bytes)
    return fail(RequestError::client(413, "the request body is larger than the gateway accepts (" +
                                              std::to_string(options_.max_body_bytes) + " bytes)"));
  body_ += body.body();
  // BUFFERED sends the whole body in one message, trailers (if any) after its reply.
  if (body.end_of_stream() || request_mode_ == ProcessingMode::BUFFERED) decide();
}

void ExtProcStream::decide() {
  phase_ = Phase::kDeciding;
  deciding_ = true;
  // The body is parsed where it lies: a few bytes past it must be readable.
  body_.reserve(body_.size() + kJsonPadding);
  request_.body = body_;
  request_.body_readable = body_.capacity();
  auto self = shared_from_this();
  net::co_spawn(executor_, run_phases(self),
                net::bind_cancellation_slot(cancel_.slot(), [self](const std::exception_ptr& e) {
                  if (!e) return;
                  // A bug, or memory ran out: the request still gets an answer and its end.
                  self->deciding_ = false;
                  self->fail(RequestError::gateway(500, "the picker failed to decide"));
                }));
}

// The standalone gateway's phases up to pick, in one frame (lifecycle/request_handler.cpp).
net::awaitable<void> ExtProcStream::run_phases(
    [[maybe_unused]] std::shared_ptr<ExtProcStream> self) {
  ctx_.reset(new RequestContext(phases_.begin(request_)));
  RequestContext& ctx = *ctx_;
  ctx.allowed_hosts = std::move(subset_);
  std::optional<RequestError> error = phases_.authenticate(ctx);
  if (!error) {
    if (header_only_)
      ctx.parsed.emplace();  // routed by path and headers alone, picked without a prompt
    else
      error = phases_.parse(ctx);
  }
  if (!error) error = phases_.route(ctx);
  if (!error) {
    phases_.resolve_model(ctx);
    // A stream cancelled before this coroutine began must not wait in a queue.
    if (cancelled_)
      error = RequestError::client(499, "the stream was cancelled");
    else
      error = co_await phases_.admit(ctx);
  }
  if (!error) error = phases_.pick(ctx);
  deciding_ = false;
  if (cancelled_) {
    ctx.record.error = error ? *error : RequestError::client(499, "the stream was cancelled");
    ctx.record.status = 499;
    complete();
    co_return end_stream();
  }
  if (error) co_return fail(*error);
  ctx.record.endpoint = ctx.endpoint->address;
  ctx.record.attempts = 1;
  if (ctx.resolution.target_model != ctx.parsed->model && !header_only_)
    ctx.quoted_client_model = boost::json::serialize(boost::json::string(ctx.parsed->model));
  attempt_.emplace(ctx, phases_.control(), ctx.endpoint, &phases_.clock());
  attempt_->started = phases_.clock().now();
  send_decision();
  phase_ = Phase::kForwarded;
  while (!pending_.empty() && !finished_) {
    pb::ProcessingRequest next = std::move(pending_.front());
    pending_.pop_front();
    handle(next);
  }
  if (client_closed_ && !finished_) on_client_closed();
}

std::string ExtProcStream::upstream_body() const {
  const ParsedRequest& parsed = *ctx_->parsed;
  const std::string& target = ctx_->resolution.target_model;
  if (header_only_ || target == parsed.model) return body_;
  std::string out;
  out.reserve(body_.size() + target.size() + 2);
  out.append(body_, 0, parsed.model_offset);
  out += boost::json::serialize(boost::json::string(target));
  out.append(body_, parsed.model_offset + parsed.model_length);
  return out;
}

void ExtProcStream::send_decision() {
  // The primary, then the fallbacks drawn by the same scheduling session (picked, not sent: only
  // the endpoint that serves is counted in flight, when Envoy says which it was).
  std::string endpoint = ctx_->endpoint->address;
  const std::shared_ptr<Endpoint> primary = ctx_->endpoint;
  for (std::size_t i = 0; i < options_.fallback_endpoints; ++i) {
    if (phases_.pick(*ctx_)) break;
    endpoint += "," + ctx_->endpoint->address;
  }
  ctx_->endpoint = primary;
  if (header_only_) {
    pb::ProcessingResponse reply;
    set_destination(reply, *reply.mutable_request_headers()->mutable_response(), endpoint,
                    std::nullopt);
    return send(std::move(reply));
  }
  const std::string body = upstream_body();
  if (request_mode_ == ProcessingMode::BUFFERED) {
    // One reply: the header mutation is applied with the body here, and a Content-Length
    // must match the body. The body goes back whether or not it changed: the one reply then
    // holds the whole request as the picker sends it on.
    pb::ProcessingResponse reply;
    pb::CommonResponse& common = *reply.mutable_request_body()->mutable_response();
    set_destination(reply, common, endpoint, body.size());
    common.mutable_body_mutation()->set_body(body);
    if (body.empty()) set_header(*common.mutable_header_mutation(), "content-length", "0");
    send(std::move(reply));
  } else {
    // Headers first, then the body Envoy drained, then the trailers' reply.
    pb::ProcessingResponse headers;
    set_destination(headers, *headers.mutable_request_headers()->mutable_response(), endpoint,
                    body.size());
    send(std::move(headers));
    std::vector<pb::ProcessingResponse> chunks;
    append_streamed_body(chunks, body, /*request=*/true, /*end_of_stream=*/!request_trailers_);
    for (auto& c : chunks) send(std::move(c));
  }
  if (request_trailers_) {
    pb::ProcessingResponse trailers;
    trailers.mutable_request_trailers();
    send(std::move(trailers));
  }
}

void ExtProcStream::on_response_headers(const pb::HttpHeaders& message) {
  if (phase_ != Phase::kForwarded) return fail(protocol_error("response headers out of order"));
  Headers h = read_headers(message);
  // A request Envoy sent elsewhere (a fallback) is the served endpoint's to account.
  if (!served_.empty() && served_ != attempt_->endpoint().address) {
    for (const auto& ep : ctx_->pool->endpoints)
      if (ep->address == served_) {
        const TimePoint started = attempt_->started;
        attempt_.reset();
        attempt_.emplace(*ctx_, phases_.control(), ep);
        attempt_->started = started;
        ctx_->record.endpoint = served_;
        break;
      }
  }
  ResponseHead head;
  head.status = h.status;
  head.headers = std::move(h.headers);
  ctx_->record.status = h.status;
  attempt_->response_header(head);
  sse_ = find_header(head.headers, "content-type").value_or("").find("text/event-stream") !=
         std::string_view::npos;
  if (sse_)
    events_.emplace(ctx_->record, ctx_->quoted_client_model, phases_.clock(), attempt_->started);
  pb::ProcessingResponse reply;
  reply.mutable_response_headers()->mutable_response();
  send(std::move(reply));
  phase_ = Phase::kResponseBody;
  if (message.end_of_stream()) complete();
}

// How each response body mode is answered:
//   FULL_DUPLEX_STREAMED: an event stream's chunks at once (the whole events they complete);
//     another body held to its end (or the trailers), then sent back in chunks;
//   BUFFERED: each body message is the whole body (trailers may follow), answered at once;
//   STREAMED and the rest: one reply per chunk; an event stream's chunk replaced by its whole
//     events, another body's chunks passed unchanged (its usage read at the end).
void ExtProcStream::on_response_body(const pb::HttpBody& body) {
  if (phase_ != Phase::kResponseBody) return fail(protocol_error("a response body out of order"));
  const bool eos = body.end_of_stream();
  const bool buffered = response_mode_ == ProcessingMode::BUFFERED;
  if (sse_) {
    events_->input() += body.body();
    if (eos || buffered) {
      // The whole events the last chunk completes, then the rest (finish() takes only what
      // follows the last whole event).
      std::string out(events_->complete());
      events_->consume();
      out += events_->finish();
      answer_response(out, eos, /*changed=*/true);
    } else {
      answer_response(events_->complete(), eos, /*changed=*/true);
      events_->consume();
    }
  } else if (streamed_response() || buffered) {
    response_body_ += body.body();
    if (eos || buffered) answer_whole_body(eos);
  } else {
    response_body_ += body.body();
    attempt_->response_body(body.body());
    pb::ProcessingResponse reply;
    reply.mutable_response_body()->mutable_response();
    send(std::move(reply));
    if (eos) rewrite_whole_body(ctx_->record, std::move(response_body_), {});
  }
  if (eos) complete();
}

void ExtProcStream::answer_whole_body(bool end_of_stream) {
  if (ctx_->record.ttft.count() == 0) ctx_->record.ttft = phases_.clock().now() - attempt_->started;
  const std::size_t original = response_body_.size();
  const std::string out =
      rewrite_whole_body(ctx_->record, std::move(response_body_), ctx_->quoted_client_model);
  response_body_.clear();
  answer_response(out, end_of_stream, out.size() != original || !ctx_->quoted_client_model.empty());
}

void ExtProcStream::answer_response(std::string_view out, bool end_of_stream, bool changed) {
  attempt_->response_body(out);
  if (streamed_response()) {
    std::vector<pb::ProcessingResponse> replies;
    append_streamed_body(replies, out, /*request=*/false, end_of_stream);
    for (auto& r : replies) send(std::move(r));
    return;
  }
  pb::ProcessingResponse reply;
  pb::CommonResponse& common = *reply.mutable_response_body()->mutable_response();
  if (changed) {
    common.mutable_body_mutation()->set_body(std::string(out));
    // A buffered body's Content-Length must match the new body, or Envoy answers 500.
    if (response_mode_ == ProcessingMode::BUFFERED)
      set_header(*common.mutable_header_mutation(), "content-length", std::to_string(out.size()));
  }
  send(std::move(reply));
}

void ExtProcStream::on_response_trailers() {
  if (phase_ != Phase::kResponseBody) return fail(protocol_error("response trailers out of order"));
  // What is held goes first, without ending the body: the trailers end it.
  if (streamed_response()) {
    if (sse_)
      answer_response(events_->finish(), /*end_of_stream=*/false, /*changed=*/true);
    else
      answer_whole_body(/*end_of_stream=*/false);
  } else if (!sse_ && response_mode_ != ProcessingMode::BUFFERED && !response_body_.empty()) {
    rewrite_whole_body(ctx_->record, std::move(response_body_), {});  // its usage
  }
  pb::ProcessingResponse reply;
  reply.mutable_response_trailers();
  send(std::move(reply));
  complete();
}

RequestContext& ExtProcStream::context() {
  if (!ctx_) ctx_.reset(new RequestContext(phases_.begin(request_)));
  return *ctx_;
}

void ExtProcStream::fail(const RequestError& error) {
  if (finished_) return;
  context().record.status = error.status;
  ctx_->record.error = error;
  send(immediate_error(error));
  complete();
  end_stream();
}

void ExtProcStream::complete() {
  if (completed_) return;
  completed_ = true;
  phase_ = Phase::kDone;
  events_.reset();
  if (attempt_) {
    phases_.end_attempt(*ctx_, *attempt_);
    attempt_.reset();
  }
  if (!ctx_) return;  // no request began
  phases_.account(*ctx_);
  ctx_.reset();
}

void ExtProcStream::end_stream() {
  if (finished_) return;
  finished_ = true;
  sink_->finish();
}

void ExtProcStream::on_client_closed() {
  client_closed_ = true;
  if (deciding_ || finished_) return;  // the phases' end looks at client_closed_
  if (!completed_ && phase_ != Phase::kHeaders) {
    // Envoy is done with the request before its response ended here: a response without a
    // body (or whose body this picker was not sent) ends with the stream; a request cut short
    // never had one.
    if (context().record.status == 0) ctx_->record.status = 499;
    complete();
  }
  end_stream();
}

void ExtProcStream::on_cancelled() {
  if (finished_) return;
  cancelled_ = true;
  if (deciding_) {
    cancel_.emit(net::cancellation_type::all);  // the phases' end completes the request
    return;
  }
  if (!completed_ && phase_ != Phase::kHeaders) {
    RequestRecord& record = context().record;
    record.error = RequestError::client(499, "the stream was cancelled");
    if (record.status == 0) record.status = 499;
  }
  complete();
  end_stream();
}

}  // namespace infergate::gateway::extproc
