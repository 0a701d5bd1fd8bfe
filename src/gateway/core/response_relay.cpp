// Relaying a model server's answer to the client as it arrives.
//
// Streams (text/event-stream) go event by event: each upstream read is forwarded before the
// next is requested, so a slow client slows the upstream read instead of filling memory. Events
// are parsed (reassembled across reads) for usage and generated pieces; their bytes are
// forwarded untouched unless the model name must be rewritten back, in which case each event is
// re-framed with the client's model name. A whole (non-stream) body is buffered up to a bound so
// its model can be rewritten and its usage read; a larger one is forwarded as it comes.
#include "gateway/core/request_handler.hpp"
#include "gateway/core/upstream_attempt.hpp"
#include "sse/sse.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

std::string sse_error_event(const std::string& message) {
  const GatewayError e{502, message, {}, ErrorSource::kUpstream, false};
  std::string out = "data: ";
  out += to_response_body(e);
  out += "\n\n";
  return out;
}

}  // namespace

net::awaitable<void> RequestHandler::relay(UpstreamAttempt& ex, ResponseHead head, ClientResponse& response,
                                           RequestRecord& record) {
  const std::string_view content_type = find_header(head.headers, "content-type").value_or("");
  const bool sse = content_type.starts_with("text/event-stream");
  const bool rewrite = !ex.quoted_client_model.empty();
  head.headers.emplace_back("x-gateway-destination-endpoint-served", ex.endpoint->address);
  std::string piece;

  if (sse) {
    head.content_length.reset();
    if (!co_await response.send_head(head)) co_return;
    sse::SseParser parser;
    std::string out;
    bool first_content = true;
    const auto on_event = [&](const sse::Event& e) {
      if (e.data == sse::kDone) {
        if (rewrite) out += "data: [DONE]\n\n";
        return;
      }
      const ResponseJson info = inspect_response_json(e.data);
      if (info.usage) record.usage = info.usage;
      record.counted_output += info.content_pieces;
      if (first_content && info.content_pieces > 0) {
        record.ttft = clock_.now() - ex.started;
        first_content = false;
      }
      if (rewrite) {
        out += "data: ";
        append_with_model(out, e.data, info, ex.quoted_client_model);
        out += "\n\n";
      }
    };
    for (;;) {
      piece.clear();
      const BodyRead r = co_await ex.upstream->read_body(piece);
      if (r == BodyRead::kEnd) break;
      if (r != BodyRead::kData) {
        const std::string event = sse_error_event(
            r == BodyRead::kTimeout ? "the model server stopped sending (timeout)"
                                    : "the model server closed the stream before its end");
        record.error = GatewayError{502, "stream interrupted", {}, ErrorSource::kUpstream, false};
        if (co_await response.send_body(event)) co_await response.finish();
        co_return;
      }
      out.clear();
      if (parser.feed(piece, on_event) != sse::SseParser::Status::kOk) {
        record.error = GatewayError{502, "oversized event", {}, ErrorSource::kUpstream, false};
      }
      const std::string_view to_send = rewrite ? std::string_view(out) : std::string_view(piece);
      if (!to_send.empty() && !co_await response.send_body(to_send)) co_return;
    }
    out.clear();
    parser.finish(on_event);
    if (!out.empty() && !co_await response.send_body(out)) co_return;
    co_await response.finish();
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
      const GatewayError e{502, "the model server failed while sending its response", {},
                           ErrorSource::kUpstream, false};
      record.status = 502;
      record.error = e;
      co_await send_error(response, e);
      co_return;
    }
    body += piece;
    if (body.size() > options_.max_buffered_response) whole = false;  // too big: forward as is
  }
  if (whole) {
    const ResponseJson info = inspect_response_json(body);
    if (info.usage) record.usage = info.usage;
    record.counted_output = info.content_pieces;
    record.ttft = clock_.now() - ex.started;
    std::string out;
    if (rewrite && info.valid) {
      append_with_model(out, body, info, ex.quoted_client_model);
    } else {
      out = std::move(body);
    }
    head.content_length = out.size();
    if (co_await response.send_head(head) && co_await response.send_body(out)) co_await response.finish();
    co_return;
  }
  // Forward the rest as it comes, after what was buffered.
  if (!head.content_length) head.content_length.reset();
  if (!co_await response.send_head(head)) co_return;
  if (!body.empty() && !co_await response.send_body(body)) co_return;
  for (;;) {
    piece.clear();
    const BodyRead r = co_await ex.upstream->read_body(piece);
    if (r == BodyRead::kEnd) break;
    if (r != BodyRead::kData) co_return;  // the front end closes the connection: a truncated body
    if (!co_await response.send_body(piece)) co_return;
  }
  co_await response.finish();
}

}  // namespace infergate::gateway
