// One request's ext_proc stream, message by message, as Envoy writes and reads them in
// FULL_DUPLEX_STREAMED mode (../docs/extproc.md): what the gateway sends, and how it reads the
// picker's decision and its replies on the response path.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "gateway/pickerclient/picker_call.hpp"
#include "gateway/pickerclient/picker_client.hpp"

namespace infergate::gateway::pickerclient {
namespace net = boost::asio;

namespace {

constexpr std::string_view kDestinationHeader = "x-gateway-destination-endpoint";
constexpr std::string_view kServedKey = "x-gateway-destination-endpoint-served";
constexpr std::string_view kLbNamespace = "envoy.lb";
// Envoy sends a body in the pieces it reads; the gateway has it whole and cuts it at upstream's
// BodyByteLimit, under gRPC's and Envoy's 64 KiB per message.
constexpr std::size_t kChunkBytes = 62000;

void add_header(pb::HttpHeaders& message, std::string_view name, std::string_view value) {
  auto* h = message.mutable_headers()->add_headers();
  h->set_key(std::string(name));
  h->set_raw_value(std::string(value));
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The set and removed headers of a mutation, names lower-cased (Envoy's are).
void read_mutation(const pb::HeaderMutation& m, HeaderList& set,
                   std::vector<std::string>& removed) {
  for (const auto& option : m.set_headers()) {
    const auto& h = option.header();
    set.emplace_back(lower(h.key()), h.raw_value().empty() ? h.value() : h.raw_value());
  }
  for (const auto& name : m.remove_headers()) removed.push_back(lower(name));
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

// The destination of the envoy.lb dynamic metadata (the header is read first).
std::string metadata_destination(const google::protobuf::Struct& metadata) {
  const auto ns = metadata.fields().find(std::string(kLbNamespace));
  if (ns == metadata.fields().end()) return {};
  const auto& fields = ns->second.struct_value().fields();
  const auto v = fields.find(std::string(kDestinationHeader));
  return v == fields.end() ? std::string() : v->second.string_value();
}

Refusal refusal_of(const pb::ImmediateResponse& r) {
  Refusal out;
  out.status = r.status().code() >= 200 && r.status().code() <= 599 ? r.status().code() : 500;
  std::vector<std::string> removed;
  read_mutation(r.headers(), out.headers, removed);
  out.body = r.body();
  return out;
}

class Stream final : public PickerStream {
 public:
  Stream(std::unique_ptr<PickerCall> call, const ClientOptions& options)
      : call_(std::move(call)), timeout_(options.decision_timeout) {}

  net::awaitable<Outcome> decide(const PickerRequest& request) override {
    pb::ProcessingRequest headers;
    auto* config = headers.mutable_protocol_config();
    config->set_request_body_mode(
        envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED);
    config->set_response_body_mode(
        envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED);
    pb::HttpHeaders& h = *headers.mutable_request_headers();
    add_header(h, ":authority", request.authority);
    add_header(h, ":method", request.method);
    add_header(h, ":path", request.path);
    add_header(h, ":scheme", "http");
    if (request.headers)
      for (const auto& [name, value] : *request.headers) add_header(h, name, value);
    add_header(h, "content-length", std::to_string(request.body.size()));
    h.set_end_of_stream(request.body.empty());
    call_->write(std::move(headers));
    for (std::size_t at = 0; at < request.body.size(); at += kChunkBytes) {
      pb::ProcessingRequest chunk;
      auto* body = chunk.mutable_request_body();
      body->set_body(std::string(request.body.substr(at, kChunkBytes)));
      body->set_end_of_stream(at + kChunkBytes >= request.body.size());
      call_->write(std::move(chunk));
    }
    co_return co_await within_timeout(read_decision(request.body.empty()), "decide");
  }

  net::awaitable<std::optional<std::variant<Refusal, Failure>>> response_headers(
      ResponseHead& head, std::string_view served_endpoint) override {
    pb::ProcessingRequest message;
    pb::HttpHeaders& h = *message.mutable_response_headers();
    add_header(h, ":status", std::to_string(head.status));
    for (const auto& [name, value] : head.headers) add_header(h, name, value);
    if (head.content_length) add_header(h, "content-length", std::to_string(*head.content_length));
    google::protobuf::Struct lb;
    (*lb.mutable_fields())[std::string(kServedKey)].set_string_value(std::string(served_endpoint));
    (*message.mutable_metadata_context()->mutable_filter_metadata())[std::string(kLbNamespace)] =
        std::move(lb);
    call_->write(std::move(message));

    Outcome answer = co_await within_timeout(read_response_headers(head), "answer the response");
    if (auto* r = std::get_if<Refusal>(&answer)) co_return std::move(*r);
    if (auto* f = std::get_if<Failure>(&answer)) co_return std::move(*f);
    co_return std::nullopt;
  }

 protected:
  void send_response_body(std::string_view piece, bool end_of_stream) override {
    std::size_t at = 0;
    do {
      pb::ProcessingRequest message;
      auto* body = message.mutable_response_body();
      body->set_body(std::string(piece.substr(at, kChunkBytes)));
      at += kChunkBytes;
      body->set_end_of_stream(end_of_stream && at >= piece.size());
      call_->write(std::move(message));
    } while (at < piece.size());
    if (end_of_stream) call_->writes_done();
  }

  net::awaitable<BodyRead> read_response_body(std::string& out) override {
    while (!response_ended_) {
      if (!co_await call_->read(reply_)) co_return BodyRead::kError;
      switch (reply_.response_case()) {
        case pb::ProcessingResponse::kResponseBody: {
          const auto& mutation = reply_.response_body().response().body_mutation();
          if (mutation.has_streamed_response()) {
            out += mutation.streamed_response().body();
            response_ended_ = mutation.streamed_response().end_of_stream();
          } else if (mutation.mutation_case() == pb::BodyMutation::kBody) {
            out += mutation.body();
            response_ended_ = true;
          } else {
            response_ended_ = mutation.clear_body();
          }
          co_return response_ended_&& out.empty() ? BodyRead::kEnd : BodyRead::kData;
        }
        case pb::ProcessingResponse::kResponseTrailers:
          continue;
        default:  // an ImmediateResponse after the head went, or a reply out of order
          call_->cancel();
          co_return BodyRead::kError;
      }
    }
    co_return BodyRead::kEnd;
  }

  bool response_complete() const override { return response_ended_; }
  void cancel() override { call_->cancel(); }

 private:
  // `op`, or a Failure when the picker takes longer than the decision timeout: then the call
  // is cancelled, which ends the read `op` waits in.
  net::awaitable<Outcome> within_timeout(net::awaitable<Outcome> op, std::string_view what) {
    struct Deadline {
      bool done = false;
      bool passed = false;
    };
    auto deadline = std::make_shared<Deadline>();
    net::steady_timer timer(co_await net::this_coro::executor, timeout_);
    PickerCall* call = call_.get();
    // The handler runs on this executor: once `done` is set, it no longer touches the call.
    timer.async_wait([deadline, call](const boost::system::error_code& ec) {
      if (ec || deadline->done) return;
      deadline->passed = true;
      call->cancel();
    });
    Outcome outcome = co_await std::move(op);
    deadline->done = true;
    timer.cancel();
    if (!deadline->passed) co_return outcome;
    co_return Failure{"the picker did not " + std::string(what) + " within " +
                      std::to_string(timeout_.count()) + " ms"};
  }

  net::awaitable<Outcome> read_decision(bool header_only) {
    Decision decision;
    bool headers_seen = false;
    bool body_done = header_only;
    std::string destination;
    while (!headers_seen || !body_done) {
      if (!co_await call_->read(reply_))
        co_return Failure{"the picker ended the stream before deciding (" + call_->status() + ")"};
      if (destination.empty()) destination = metadata_destination(reply_.dynamic_metadata());
      switch (reply_.response_case()) {
        case pb::ProcessingResponse::kImmediateResponse:
          co_return refusal_of(reply_.immediate_response());
        case pb::ProcessingResponse::kRequestHeaders: {
          if (headers_seen) co_return Failure{"the picker answered the request headers twice"};
          headers_seen = true;
          const pb::CommonResponse& common = reply_.request_headers().response();
          read_mutation(common.header_mutation(), decision.set_headers, decision.remove_headers);
          if (common.status() == pb::CommonResponse::CONTINUE_AND_REPLACE) {
            decision.body = common.body_mutation().body();
            body_done = true;
          }
          break;
        }
        case pb::ProcessingResponse::kRequestBody: {
          // Envoy takes a body reply before the headers reply as spurious (a local 500).
          if (!headers_seen) co_return Failure{"the picker answered the body before the headers"};
          const pb::BodyMutation& m = reply_.request_body().response().body_mutation();
          if (m.has_streamed_response()) {
            decision.body += m.streamed_response().body();
            body_done = m.streamed_response().end_of_stream();
          } else if (m.mutation_case() == pb::BodyMutation::kBody) {
            decision.body = m.body();
            body_done = true;
          } else if (m.clear_body()) {
            decision.body.clear();
            body_done = true;
          } else {
            co_return Failure{
                "the picker answered a body chunk without streaming it back, which "
                "FULL_DUPLEX_STREAMED needs"};
          }
          break;
        }
        case pb::ProcessingResponse::kRequestTrailers:
          break;
        default:
          co_return Failure{"the picker sent a reply out of order (" +
                            std::to_string(static_cast<int>(reply_.response_case())) + ")"};
      }
    }
    for (const auto& [name, value] : decision.set_headers)
      if (name == kDestinationHeader) destination = value;
    decision.endpoints = split_list(destination);
    if (decision.endpoints.empty())
      co_return Failure{"the picker named no endpoint (no " + std::string(kDestinationHeader) +
                        ")"};
    co_return decision;
  }

  // The headers reply of the response, applied to `head` (an Outcome for within_timeout: a
  // Decision means applied).
  net::awaitable<Outcome> read_response_headers(ResponseHead& head) {
    for (;;) {
      if (!co_await call_->read(reply_))
        co_return Failure{"the picker ended the stream on the response (" + call_->status() + ")"};
      switch (reply_.response_case()) {
        case pb::ProcessingResponse::kImmediateResponse:
          co_return refusal_of(reply_.immediate_response());
        case pb::ProcessingResponse::kResponseHeaders: {
          HeaderList set;
          std::vector<std::string> removed;
          read_mutation(reply_.response_headers().response().header_mutation(), set, removed);
          for (const auto& name : removed)
            std::erase_if(head.headers, [&](const auto& h) { return h.first == name; });
          for (auto& [set_name, set_value] : set) {
            // (Named again: clang 14 does not let a lambda capture a structured binding.)
            std::string name = std::move(set_name);
            std::string value = std::move(set_value);
            if (name == ":status") {
              int status = 0;
              const auto [end, ec] =
                  std::from_chars(value.data(), value.data() + value.size(), status);
              if (ec == std::errc() && end == value.data() + value.size() && status >= 200 &&
                  status <= 599)
                head.status = status;
              continue;
            }
            // The front end frames the body itself; the picker may change its length.
            if (name.starts_with(':') || name == "content-length" || name == "transfer-encoding")
              continue;
            std::erase_if(head.headers, [&](const auto& h) { return h.first == name; });
            head.headers.emplace_back(std::move(name), std::move(value));
          }
          head.content_length.reset();
          co_return Decision{};
        }
        case pb::ProcessingResponse::kRequestBody:
        case pb::ProcessingResponse::kRequestTrailers:
          continue;  // late replies of the request path
        default:
          co_return Failure{"the picker sent a reply out of order on the response"};
      }
    }
  }

  std::unique_ptr<PickerCall> call_;
  const std::chrono::milliseconds timeout_;
  pb::ProcessingResponse reply_;
  bool response_ended_ = false;
};

}  // namespace

std::unique_ptr<PickerStream> make_picker_stream(std::unique_ptr<PickerCall> call,
                                                 const ClientOptions& options) {
  return std::make_unique<Stream>(std::move(call), options);
}

}  // namespace infergate::gateway::pickerclient
