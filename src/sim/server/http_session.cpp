// The HTTP/1.1 side of a simulated replica: reads requests with Beast, routes them, and relays
// the engine's tokens as they are produced (SSE over chunked encoding) or whole. A session runs
// over a plain TCP stream or, for a TLS replica, over an Asio ssl::stream on one (the Session
// template, instantiated for both).
#include "sim/server/http_session.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "sim/server/openai_api.hpp"
#include "tls/tls_context.hpp"

namespace infergate::sim {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace net::experimental::awaitable_operators;
using tcp = net::ip::tcp;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double unix_seconds_precise() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Collects what the engine produces for one request and wakes the session waiting on it.
class PendingRequest final : public RequestObserver {
 public:
  PendingRequest(const net::any_io_executor& ex, bool wake_per_token)
      : signal_(ex, net::steady_timer::time_point::max()), wake_per_token_(wake_per_token) {}

  void on_token(std::size_t index, TimePoint) override {
    produced = index + 1;
    if (wake_per_token_) signal_.cancel();
  }
  void on_finished(const RequestResult& r) override {
    result = r;
    signal_.cancel();
  }
  // Returns after the next event (or at once if cancelled by the caller).
  net::awaitable<void> next_event() { co_await signal_.async_wait(kUseTuple); }

  std::size_t produced = 0;
  std::optional<RequestResult> result;

 private:
  net::steady_timer signal_;
  bool wake_per_token_;
};

// A whole response decided without waiting on anything. Responses are built into a named
// Reply before being awaited: GCC 12 destroys some temporaries of a co_await expression twice.
struct Reply {
  http::status status = http::status::ok;
  std::string body;
  std::string_view content_type = "application/json";
};

Reply error_reply(const ApiError& error) {
  return Reply{static_cast<http::status>(error.status), error_body(error), "application/json"};
}

std::optional<int> header_int(const http::request<http::string_body>& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  int v = 0;
  const auto s = it->value();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

using TlsStream = net::ssl::stream<beast::tcp_stream>;

template <class Stream>
class Session {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `args` make the stream: a socket, or a socket and the SSL object of a TLS connection.
  template <class... Args>
  explicit Session(ReplicaContext& ctx, Args&&... args)
      : stream_(std::forward<Args>(args)...), ctx_(ctx) {
    ctx_.open_sockets->push_back(&socket());
  }
  ~Session() { std::erase(*ctx_.open_sockets, &socket()); }

  net::awaitable<void> run();

 private:
  using Request = http::request<http::string_body>;
  // What a request needs: an immediate reply, a generation, or the /metrics page.
  struct Route {
    std::optional<Reply> reply;
    std::optional<ApiKind> generation;
    bool metrics = false;
  };

  Route route(Request& req);
  net::awaitable<bool> handle_generation(Request& req, ApiKind kind);
  net::awaitable<bool> handle_metrics();
  net::awaitable<bool> send(Reply& reply);
  net::awaitable<bool> stream_tokens(PendingRequest& pending, const ResponseContext& rc,
                                     int abort_after);
  // One chunk of a chunked body (and the terminating chunk when `last`), in one write.
  net::awaitable<bool> write_chunk(const std::string& data, bool last);
  net::awaitable<void> wait_finished(PendingRequest& pending);
  net::awaitable<void> watch_for_close();
  // Appends the request's target and headers to the header log as one JSON line.
  void log_headers(const Request& req, std::string_view target);
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  Stream stream_;
  std::string tls_client_;  // the TLS client certificate's common name
  beast::flat_buffer buffer_;
  ReplicaContext& ctx_;
  bool keep_alive_ = true;
};

template <class Stream>
net::awaitable<void> Session<Stream>::run() {
  if constexpr (kTls) {
    beast::get_lowest_layer(stream_).expires_after(ctx_.limits.idle_timeout);
    auto [ec] = co_await stream_.async_handshake(net::ssl::stream_base::server, kUseTuple);
    if (ec) co_return;  // the destructor closes the socket
    tls_client_ = tls::peer_common_name(stream_.native_handle());
  }
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(ctx_.limits.max_header_bytes));
    parser.body_limit(ctx_.limits.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(ctx_.limits.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
    if (ec) {
      // Over a limit or malformed: answer, then close. A closed or idle connection just ends.
      std::optional<ApiError> error;
      if (ec == http::error::body_limit) {
        error = ApiError{
            413,
            "request body exceeds " + std::to_string(ctx_.limits.max_body_bytes) + " bytes",
            {}};
      } else if (ec == http::error::header_limit) {
        error = ApiError{431, "request headers too large", {}};
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        error = ApiError{400, "malformed HTTP request: " + ec.message(), {}};
      }
      if (error) {
        keep_alive_ = false;
        Reply reply = error_reply(*error);
        co_await send(reply);
      }
      break;
    }
    beast::get_lowest_layer(stream_).expires_never();
    Request req = parser.release();
    keep_alive_ = req.keep_alive();
    if (ctx_.header_log) {
      const std::string_view target(req.target().data(), req.target().size());
      if (target != "/metrics") log_headers(req, target);
    }
    Route r = route(req);
    bool keep = false;
    if (r.reply) {
      keep = co_await send(*r.reply);
    } else if (r.generation) {
      keep = co_await handle_generation(req, *r.generation);
    } else {
      keep = co_await handle_metrics();
    }
    if (!keep) break;
  }
  if constexpr (kTls) {  // close_notify, briefly waiting for the client's
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
    co_await stream_.async_shutdown(kUseTuple);
  }
  boost::system::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_send, ignored);
  socket().close(ignored);
}

template <class Stream>
void Session<Stream>::log_headers(const Request& req, std::string_view target) {
  std::string line = "{\"replica\":" + quote_json(ctx_.replica.name()) +
                     ",\"target\":" + quote_json(target) +
                     ",\"tls_client\":" + quote_json(tls_client_) + ",\"headers\":[";
  bool first = true;
  for (const auto& field : req) {
    line += first ? "[" : ",[";
    first = false;
    line += quote_json(std::string_view(field.name_string().data(), field.name_string().size()));
    line += ',';
    line += quote_json(std::string_view(field.value().data(), field.value().size()));
    line += ']';
  }
  line += "]}\n";
  std::fputs(line.c_str(), ctx_.header_log);
  std::fflush(ctx_.header_log);
}

template <class Stream>
net::awaitable<bool> Session<Stream>::send(Reply& reply) {
  http::response<http::string_body> res{reply.status, 11};
  res.set(http::field::content_type, reply.content_type);
  res.set("x-inference-pod", ctx_.replica.name());
  res.keep_alive(keep_alive_);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream_, res, kUseTuple);
  co_return !ec && keep_alive_;
}

template <class Stream>
typename Session<Stream>::Route Session<Stream>::route(Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;
  Replica& replica = ctx_.replica;
  const TimePoint now = ctx_.clock.now();
  const auto error = [](int status, std::string message) {
    return Route{error_reply(ApiError{status, std::move(message), {}}), {}, false};
  };
  const auto not_allowed = [&] { return error(405, "Method Not Allowed"); };

  if (target == "/health") {
    if (!get) return not_allowed();
    if (!replica.healthy(now)) return error(503, "the model server is not ready");
    return Route{Reply{http::status::ok, "", "application/json"}, {}, false};
  }
  if (target == "/metrics") return get ? Route{{}, {}, true} : not_allowed();
  if (target == "/sim/faults") {
    if (!post) return not_allowed();
    if (auto err = replica.update_faults(req.body())) return Route{error_reply(*err), {}, false};
    return Route{Reply{http::status::ok, R"({"status":"ok"})", "application/json"}, {}, false};
  }
  if (target == "/sim/stats") {
    if (!get) return not_allowed();
    return Route{Reply{http::status::ok,
                       R"({"metrics_requests":)" + std::to_string(replica.metrics_requests()) + "}",
                       "application/json"},
                 {},
                 false};
  }
  if (!ctx_.api_key.empty() && target.starts_with("/v1/") &&
      req[http::field::authorization] != "Bearer " + ctx_.api_key) {
    // As vLLM's --api-key: every /v1 route needs the key; its answer is this plain object.
    return Route{
        Reply{http::status::unauthorized, R"({"error":"Unauthorized"})", "application/json"},
        {},
        false};
  }
  if (!replica.ready(now)) return error(503, "the model server is starting");
  if (target == "/v1/models") {
    if (!get) return not_allowed();
    return Route{Reply{http::status::ok, replica.models_json(unix_seconds()), "application/json"},
                 {},
                 false};
  }
  if (target == "/v1/load_lora_adapter" || target == "/v1/unload_lora_adapter") {
    if (!post) return not_allowed();
    auto result = target == "/v1/load_lora_adapter" ? replica.load_adapter(req.body())
                                                    : replica.unload_adapter(req.body());
    if (auto* err = std::get_if<ApiError>(&result)) return Route{error_reply(*err), {}, false};
    return Route{Reply{http::status::ok, std::get<std::string>(result), "text/plain"}, {}, false};
  }
  std::optional<ApiKind> kind;
  if (target == "/v1/completions") kind = ApiKind::kCompletions;
  if (target == "/v1/chat/completions") kind = ApiKind::kChat;
  if (target == "/v1/embeddings") kind = ApiKind::kEmbeddings;
  if (kind) return post ? Route{{}, kind, false} : not_allowed();
  return error(404, "Not Found: " + std::string(target));
}

template <class Stream>
net::awaitable<bool> Session<Stream>::handle_metrics() {
  ctx_.replica.count_metrics_request();
  const FaultSettings& faults = ctx_.replica.faults();
  Reply reply{http::status::ok, {}, "text/plain; version=0.0.4; charset=utf-8"};
  switch (faults.metrics) {
    case FaultSettings::Metrics::kMissing:
      reply = error_reply(ApiError{404, "Not Found: /metrics", {}});
      co_return co_await send(reply);
    case FaultSettings::Metrics::kGarbled:
      reply.body =
          "vllm:num_requests_running{model_name=\"x\" 1.0 2.0 3\n"
          "\x01\x02# TYPE\nvllm:kv_cache_usage_perc{=} one\n{{{\n";
      co_return co_await send(reply);
    case FaultSettings::Metrics::kSlow: {
      net::steady_timer delay(co_await net::this_coro::executor, faults.metrics_delay);
      co_await delay.async_wait(kUseTuple);
      break;
    }
    case FaultSettings::Metrics::kOk:
      break;
  }
  reply.body = render_metrics(ctx_.replica, unix_seconds_precise());
  co_return co_await send(reply);
}

template <class Stream>
net::awaitable<bool> Session<Stream>::handle_generation(Request& req, ApiKind kind) {
  Replica& replica = ctx_.replica;
  std::optional<ApiError> error;
  std::optional<GenerationRequest> gen;
  std::optional<EngineRequest> engine_request;
  if (auto forced = header_int(req, "x-sim-force-status");
      forced && *forced >= 400 && *forced <= 599) {
    error = ApiError{*forced, "failure injected by x-sim-force-status", {}};
  } else if (auto parsed = parse_generation_request(kind, req.body());
             std::holds_alternative<ApiError>(parsed)) {
    error = std::get<ApiError>(parsed);
  } else {
    gen = std::move(std::get<GenerationRequest>(parsed));
    const auto adapter = replica.resolve_model(gen->model);
    if (!adapter) {
      error = ApiError{404, "The model `" + gen->model + "` does not exist.", "model"};
    } else if (replica.draw_failure()) {
      error = ApiError{replica.faults().failure_status, "failure injected by the failure rate", {}};
    } else if (auto prepared = replica.prepare(*gen, *adapter);
               std::holds_alternative<ApiError>(prepared)) {
      error = std::get<ApiError>(prepared);
    } else {
      engine_request = std::move(std::get<EngineRequest>(prepared));
    }
  }
  if (error) {
    Reply reply = error_reply(*error);
    co_return co_await send(reply);
  }

  ResponseContext rc;
  rc.kind = kind;
  const char* prefix = kind == ApiKind::kChat         ? "chatcmpl-"
                       : kind == ApiKind::kEmbeddings ? "embd-"
                                                      : "cmpl-";
  rc.id = prefix + replica.name() + "-" + std::to_string(replica.next_response_number());
  rc.created = unix_seconds();
  rc.model_json = quote_json(gen->model);
  rc.include_usage = gen->include_usage;

  const bool streaming = gen->stream && kind != ApiKind::kEmbeddings;
  PendingRequest pending(co_await net::this_coro::executor, streaming);
  engine_request->observer = &pending;
  Engine& engine = replica.engine();
  const RequestId id = engine.submit(std::move(*engine_request), ctx_.clock.now());
  ctx_.driver.kick();
  if (ctx_.generation_log) {
    const auto request_id = req["x-request-id"];
    std::fprintf(ctx_.generation_log, "%.*s %s\n", static_cast<int>(request_id.size()),
                 request_id.data(), replica.name().c_str());
    std::fflush(ctx_.generation_log);
  }

  int abort_after = replica.faults().abort_after_tokens;
  if (auto h = header_int(req, "x-sim-abort-after-tokens"); h && *h > 0) abort_after = *h;

  bool keep = true;
  if (streaming) {
    auto outcome = co_await (stream_tokens(pending, rc, abort_after) || watch_for_close());
    keep = outcome.index() == 0 && std::get<0>(outcome);
  } else {
    co_await (wait_finished(pending) || watch_for_close());
  }
  if (!pending.result) {
    engine.abort(id);  // the client went away, or the stream was cut on purpose
    co_return false;
  }
  if (streaming) co_return keep;

  const RequestResult& r = *pending.result;
  const Usage usage{r.prompt_tokens, r.output_tokens, r.cached_tokens};
  Reply reply;
  reply.body =
      kind == ApiKind::kEmbeddings
          ? embeddings_body(rc, gen->embedding_inputs, replica.options().embedding_dims, usage)
          : completion_body(rc, static_cast<std::size_t>(r.output_tokens), r.finish_reason, usage);
  co_return co_await send(reply);
}

template <class Stream>
net::awaitable<bool> Session<Stream>::write_chunk(const std::string& data, bool last) {
  char head[24];
  const int len = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
  static constexpr std::string_view kEnd = "\r\n";
  static constexpr std::string_view kEndAndLast = "\r\n0\r\n\r\n";
  const std::array<net::const_buffer, 3> buffers{net::buffer(head, static_cast<std::size_t>(len)),
                                                 net::buffer(data),
                                                 net::buffer(last ? kEndAndLast : kEnd)};
  auto [ec, n] = co_await net::async_write(stream_, buffers, kUseTuple);
  co_return !ec;
}

template <class Stream>
net::awaitable<void> Session<Stream>::wait_finished(PendingRequest& pending) {
  while (!pending.result) co_await pending.next_event();
}

// Completes only when the client closes the connection (or it fails). Bytes of a pipelined
// next request are kept in the session's buffer for the next read.
template <class Stream>
net::awaitable<void> Session<Stream>::watch_for_close() {
  for (;;) {
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), kUseTuple);
    if (ec) co_return;
    buffer_.commit(n);
    if (buffer_.size() > ctx_.limits.max_body_bytes + ctx_.limits.max_header_bytes) {
      // A client flooding us while waiting: stop reading; the response still goes out.
      net::steady_timer never(co_await net::this_coro::executor,
                              net::steady_timer::time_point::max());
      co_await never.async_wait(kUseTuple);
      co_return;
    }
  }
}

template <class Stream>
net::awaitable<bool> Session<Stream>::stream_tokens(PendingRequest& pending,
                                                    const ResponseContext& rc, int abort_after) {
  http::response<http::empty_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.set("x-inference-pod", ctx_.replica.name());
  res.keep_alive(keep_alive_);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr(res);
  if (auto [ec, n] = co_await http::async_write_header(stream_, sr, kUseTuple); ec) co_return false;

  std::string chunk;
  if (rc.kind == ApiKind::kChat) append_role_chunk(chunk, rc);
  std::size_t sent = 0;
  for (;;) {
    const std::size_t produced = pending.produced;
    const bool finished = pending.result.has_value();
    const std::size_t total =
        finished ? static_cast<std::size_t>(pending.result->output_tokens) : 0;
    for (; sent < produced; ++sent) {
      if (abort_after > 0 && sent >= static_cast<std::size_t>(abort_after)) break;
      const bool last = finished && sent + 1 == total;
      append_token_chunk(chunk, rc, sent, last ? pending.result->finish_reason.c_str() : nullptr);
    }
    if (abort_after > 0 && sent >= static_cast<std::size_t>(abort_after) && !finished) {
      // Injected fault: the server dies mid-answer. Flush what we have, then drop the connection.
      if (!chunk.empty()) co_await write_chunk(chunk, false);
      boost::system::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return false;
    }
    if (finished && sent >= total) {
      if (rc.include_usage) {
        const auto& r = *pending.result;
        append_usage_chunk(chunk, rc, {r.prompt_tokens, r.output_tokens, r.cached_tokens});
      }
      append_done(chunk);
      const bool ok = co_await write_chunk(chunk, true);
      co_return ok&& keep_alive_;
    }
    if (!chunk.empty()) {
      if (!co_await write_chunk(chunk, false)) co_return false;
      chunk.clear();
    }
    if (pending.produced == sent && !pending.result) co_await pending.next_event();
  }
}

}  // namespace

net::awaitable<void> serve_connection(tcp::socket socket, ReplicaContext& ctx) {
  if (!ctx.tls) {
    Session<beast::tcp_stream> session(ctx, std::move(socket));
    co_await session.run();
    co_return;
  }
  ssl_st* ssl = tls::new_server_connection(ctx.tls);
  if (!ssl) co_return;
  Session<TlsStream> session(ctx, std::move(socket), ssl);  // the stream owns `ssl`
  co_await session.run();
}

}  // namespace infergate::sim
