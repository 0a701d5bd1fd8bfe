// Relay: a model server's answer to the client as it arrives.
//
// Streams (text/event-stream) go read by read: the events of one upstream read leave in one
// write before the next read is requested, so a slow client slows the upstream read instead of
// filling memory. Each event is found where it lies in the read buffer and skimmed (not parsed
// into a document) for usage and generated pieces. Bytes are forwarded untouched, except that
// when the model name must be rewritten back, the client's name is spliced over the model value
// of each event (an event whose data spans several lines is re-framed instead). A whole
// (non-stream) body is buffered up to a bound so its model can be rewritten and its usage read;
// a larger one is forwarded as it comes. Every piece that goes to the client passes the
// request-control response-body hook.
#include "gateway/lifecycle/phases.hpp"
#include "gateway/request/event_stream.hpp"
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
  const std::string& client_model = ctx.quoted_client_model;
  const bool rewrite = !client_model.empty();
  EventStreamScanner scanner;
  std::vector<StreamEvent> events;
  std::string buffer;  // upstream bytes: the event not yet complete, then what the last read added
  std::string out;     // with a rewrite: what goes to the client for this read
  bool first_content = true;

  // Reads usage and generated pieces; with a rewrite, appends the bytes up to the event's end
  // (from `copied` on) to `out`, the client's model name spliced in.
  std::size_t copied = 0;
  const auto take = [&](const StreamEvent& e) {
    const std::string_view data = e.data(buffer);
    if (data == sse::kDone) return;
    const ResponseJson info = skim_response_json(data);
    if (info.usage) record.usage = info.usage;
    record.counted_output += info.content_pieces;
    if (first_content && info.content_pieces > 0) {
      record.ttft = clock.now() - ex.started;
      first_content = false;
    }
    if (!rewrite || !info.valid || info.model_length == 0) return;
    if (!e.joined) {
      const std::size_t at = e.data_begin + info.model_offset;
      out.append(buffer, copied, at - copied);
      out += client_model;
      copied = at + info.model_length;
      return;
    }
    // Several data lines: write the event again, one data line per line of the new text.
    out.append(buffer, copied, e.begin - copied);
    std::string text;
    append_with_model(text, data, info, client_model);
    sse::append_event(out, text);
    copied = e.end;
  };

  for (;;) {
    const BodyRead r = co_await ex.upstream->read_body(buffer);
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
    events.clear();
    if (scanner.scan(buffer, events) != EventStreamScanner::Status::kOk)
      record.error = RequestError::bad_gateway("oversized event");
    out.clear();
    copied = 0;
    for (const StreamEvent& e : events) take(e);
    // Only whole events go to the client: a stream cut inside an event must not leave half an
    // event in front of the error event. The incomplete rest waits in `buffer` for its end.
    const std::size_t complete = scanner.complete_end();
    std::string_view to_send;
    if (rewrite) {
      out.append(buffer, copied, complete - copied);
      to_send = out;
    } else {
      to_send = std::string_view(buffer).substr(0, complete);
    }
    ex.response_body(to_send);
    if (ex.upstream->body_complete() && complete == buffer.size()) {
      co_await response.send_last(to_send);  // the end of the stream leaves with its last events
      co_return;
    }
    if (!to_send.empty() && !co_await response.send_body(to_send)) co_return;
    buffer.erase(0, complete);
    scanner.discard(complete);
  }
  events.clear();
  scanner.finish(buffer, events);
  out.clear();
  copied = 0;
  for (const StreamEvent& e : events) take(e);
  // The stream ended cleanly: a last event without its blank line is whole all the same.
  if (rewrite)
    out.append(buffer, copied, buffer.size() - copied);
  else
    out = buffer;
  ex.response_body(out);
  if (!out.empty() && !co_await response.send_body(out)) co_return;
  co_await response.finish();
}

}  // namespace

net::awaitable<void> send_error(ClientResponse& response, const RequestError& error) {
  if (response.started()) co_return;  // too late for a status; the caller ends the stream
  ResponseHead head;
  head.status = error.status;
  head.headers.emplace_back("content-type", "application/json");
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
  const bool rewrite = !ctx.quoted_client_model.empty();
  if (options_.expose_endpoint)
    head.headers.emplace_back("x-gateway-destination-endpoint-served", ex.endpoint().address);
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
      co_await send_error(response, e);
      co_return;
    }
    body += piece;
    if (body.size() > options_.max_buffered_response) whole = false;  // too big: forward as is
  }
  if (whole) {
    const ResponseJson info = skim_response_json(body);
    if (info.usage) record.usage = info.usage;
    record.counted_output = info.content_pieces;
    record.ttft = clock_.now() - ex.started;
    std::string out;
    if (rewrite && info.valid) {
      append_with_model(out, body, info, ctx.quoted_client_model);
    } else {
      out = std::move(body);
    }
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
