// Relay: a model server's answer to the client as it arrives.
//
// Streams (text/event-stream) go read by read: the events of one upstream read leave in one
// write before the next read is requested, so a slow client slows the upstream read instead of
// filling memory; an EventRelay (response_rewrite.hpp) skims them and rewrites their model. A
// whole (non-stream) body is buffered up to a bound so its model can be rewritten and its usage
// read; a larger one is forwarded as it comes. Every piece that goes to the client passes the
// request-control response-body hook.
#include "gateway/lifecycle/phases.hpp"
#include "gateway/lifecycle/response_rewrite.hpp"
#include "sse/sse.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

std::string sse_error_event(const std::string& message) {
  const RequestError e = RequestError::bad_gateway(message);
  std::string out;
  sse::append_event(out, error_response_body(e));
  return out;
}

net::awaitable<void> relay_events(RequestContext& ctx, Attempt& ex, ClientResponse& response,
                                  const Clock& clock) {
  RequestRecord& record = ctx.record;
  EventRelay relay(record, ctx.quoted_client_model, clock, ex.started);
  for (;;) {
    const BodyRead r = co_await ex.upstream->read_body(relay.input());
    if (r == BodyRead::kEnd) break;
    if (r != BodyRead::kData) {
      const std::string event = sse_error_event(
          r == BodyRead::kTimeout ? "the model server stopped sending (timeout)"
                                  : "the model server closed the stream before its end");
      record.error = RequestError::bad_gateway("stream interrupted");
      ex.response_body(event);
      if (co_await response.send_body(event)) co_await response.finish();
      co_return;
    }
    const std::string_view to_send = relay.complete();
    if (relay.oversized()) record.error = RequestError::bad_gateway("oversized event");
    ex.response_body(to_send);
    if (ex.upstream->body_complete() && relay.all_complete()) {
      co_await response.send_last(to_send);  // the end of the stream leaves with its last events
      co_return;
    }
    if (!to_send.empty() && !co_await response.send_body(to_send)) co_return;
    relay.consume();
  }
  const std::string_view rest = relay.finish();
  ex.response_body(rest);
  if (!rest.empty() && !co_await response.send_body(rest)) co_return;
  co_await response.finish();
}

}  // namespace

net::awaitable<void> send_error(ClientResponse& response, const RequestError& error,
                                std::string_view request_id) {
  if (response.started()) co_return;  // too late for a status; the caller ends the stream
  ResponseHead head;
  head.status = error.status;
  head.headers.emplace_back("content-type", "application/json");
  if (!request_id.empty()) head.headers.emplace_back("x-request-id", request_id);
  if (error.retry_after_seconds > 0)
    head.headers.emplace_back("retry-after", std::to_string(error.retry_after_seconds));
  const std::string body = error_response_body(error);
  head.content_length = body.size();
  if (co_await response.send_head(head) && co_await response.send_body(body))
    co_await response.finish();
}

void RequestPhases::end_attempt(RequestContext& ctx, Attempt& attempt) {
  // A model server that failed mid-response counts against it.
  if (ctx.record.error && ctx.record.error->source == ErrorSource::kUpstream) {
    std::string ejected;
    report(ctx, attempt.endpoint(), AttemptOutcome::kFailure, ejected);
  }
  attempt.end();
}

net::awaitable<void> RequestPhases::relay(RequestContext& ctx, Attempt& ex, ResponseHead& head,
                                          ClientResponse& response) {
  RequestRecord& record = ctx.record;
  const std::string_view content_type = find_header(head.headers, "content-type").value_or("");
  const bool sse = content_type.starts_with("text/event-stream");
  if (options_.expose_endpoint)
    head.headers.emplace_back("x-gateway-destination-endpoint-served", ex.endpoint().address);
  // The client learns the id its request goes by, whatever the model server answered with.
  std::erase_if(head.headers, [](const auto& h) { return h.first == "x-request-id"; });
  head.headers.emplace_back("x-request-id", ctx.ids.request_id);
  std::string piece;

  if (sse) {
    head.content_length.reset();
    if (!co_await response.send_head(head)) co_return;
    co_await relay_events(ctx, ex, response, clock_);
    co_return;
  }

  // A whole body: buffer it (bounded) to rewrite the model and read the usage.
  std::string body;
  bool whole = !head.content_length || *head.content_length <= options_.max_buffered_response;
  while (whole) {
    piece.clear();
    const BodyRead r = co_await ex.upstream->read_body(piece);
    if (r == BodyRead::kEnd) break;
    if (r != BodyRead::kData) {
      const RequestError e =
          RequestError::bad_gateway("the model server failed while sending its response");
      record.status = 502;
      record.error = e;
      co_await send_error(response, e, ctx.ids.request_id);
      co_return;
    }
    body += piece;
    if (body.size() > options_.max_buffered_response) whole = false;  // too big: forward as is
  }
  if (whole) {
    record.ttft = clock_.now() - ex.started;
    const std::string out = rewrite_whole_body(record, std::move(body), ctx.quoted_client_model);
    head.content_length = out.size();
    ex.response_body(out);
    if (co_await response.send_head(head)) co_await response.send_last(out);
    co_return;
  }
  // Forward the rest as it comes, after what was buffered.
  if (!head.content_length) head.content_length.reset();
  if (!co_await response.send_head(head)) co_return;
  ex.response_body(body);
  if (!body.empty() && !co_await response.send_body(body)) co_return;
  for (;;) {
    piece.clear();
    const BodyRead r = co_await ex.upstream->read_body(piece);
    if (r == BodyRead::kEnd) break;
    if (r != BodyRead::kData) co_return;  // the front end closes the connection: a truncated body
    ex.response_body(piece);
    if (!co_await response.send_body(piece)) co_return;
  }
  co_await response.finish();
}

}  // namespace infergate::gateway
