// Forward: the upstream request (the client's body as views, the model rewritten in place, the
// headers a model server may see), its mirrors, and the attempts. A failed attempt goes to
// another endpoint only when its error is retryable (nothing can have reached the model
// server: a generation must never run twice) or when the endpoint answered a retryable status
// before any byte went to the client, up to max_retries more endpoints.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cctype>

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {
namespace net = boost::asio;

namespace {

// Headers a client must not choose (they would pick the upstream address), hop-by-hop
// headers, which describe the client connection, not the request, and the gateway's control
// headers (priority and fairness claims), which are for the gateway alone.
bool forwardable(std::string_view name) {
  return !(name == "host" || name == "content-length" || name == "connection" ||
           name == "keep-alive" || name == "transfer-encoding" || name == "te" ||
           name == "upgrade" || name == "proxy-connection" || name == "expect" ||
           name == "x-gateway-model-name" || name.starts_with("x-gateway-destination-endpoint") ||
           name == "x-gateway-inference-objective" || name == "x-llm-d-inference-objective" ||
           name == "x-gateway-inference-fairness-id" || name == "x-llm-d-inference-fairness-id" ||
           name == "x-gateway-model-name-rewrite" || name == "x-llm-d-model-name-rewrite");
}

// Whether the comma-separated token list `list` (a Connection header) names `lower_name`.
bool names_header(std::string_view list, std::string_view lower_name) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view token = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token.size() != lower_name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < token.size() && same; ++i)
      same = static_cast<char>(std::tolower(static_cast<unsigned char>(token[i]))) == lower_name[i];
    if (same) return true;
  }
  return false;
}

// The body goes upstream as views of the client's bytes, a rewritten model spliced between
// them: no copy of the (often 4-16 KB) body.
void set_body(UpstreamRequest& r, std::string_view body, const ParsedRequest& parsed,
              const std::string& target_model) {
  r.body = body;
  if (target_model == parsed.model) {
    r.replace_at = r.replace_length = 0;
    r.replacement.clear();
  } else {
    r.replace_at = parsed.model_offset;
    r.replace_length = parsed.model_length;
    r.replacement = boost::json::serialize(boost::json::string(target_model));
  }
}

}  // namespace

bool retryable_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

void RequestPhases::prepare_upstream_request(RequestContext& ctx,
                                             const net::any_io_executor& executor) {
  identify(ctx);  // a driver that did not identify the request first: its ids are drawn now
  const ClientRequest& request = ctx.request;
  const ParsedRequest& parsed = *ctx.parsed;
  UpstreamRequest& upstream = ctx.upstream_request;
  upstream.method = "POST";
  upstream.target = request.target;
  set_body(upstream, request.body, parsed, ctx.resolution.target_model);
  // Not forwarded: hop-by-hop headers, those the client's Connection header names (RFC 9110
  // 7.6.1), the gateway's own control headers, and, with an API-key table, the client's
  // credential (a gateway key never reaches a model server or a mirror). X-Forwarded-For gets
  // the client's address appended. The request id and traceparent are the request's (the
  // client's when well-formed); tracestate goes with the client's traceparent only.
  const std::string_view connection = find_header(request.headers, "connection").value_or("");
  upstream.headers.reserve(request.headers.size() + 6);  // the ones added below: no regrowth
  for (const auto& [k, v] : request.headers) {
    if (!forwardable(k) || names_header(connection, k) || k == "x-forwarded-for") continue;
    if (k == "x-request-id" || k == "traceparent" || (k == "tracestate" && !ctx.ids.client_trace))
      continue;
    if (ctx.grant && k == "authorization") continue;
    upstream.headers.emplace_back(k, v);
  }
  if (const auto forwarded = find_header(request.headers, "x-forwarded-for"))
    upstream.headers.emplace_back(
        "x-forwarded-for", request.peer.empty() ? std::string(*forwarded)
                                                : std::string(*forwarded) + ", " + request.peer);
  else if (!request.peer.empty())
    upstream.headers.emplace_back("x-forwarded-for", request.peer);
  upstream.headers.emplace_back("x-request-id", ctx.ids.request_id);
  upstream.headers.emplace_back("traceparent", ctx.ids.traceparent);
  upstream.headers.emplace_back("x-gateway-model-name", parsed.model);

  // RequestMirror: a copy goes to each drawn mirror pool, detached, so it never delays or fails
  // the primary request; its answer is read and dropped. The mirror pool resolves the client's
  // model with its own InferenceModels. A mirror never gets the client's credential, only its
  // own pool's.
  for (const std::size_t mirror_pool : ctx.route->mirror_pools) {
    const config::PoolConfig& mirror_config = ctx.config().pools[mirror_pool];
    const ModelResolution mirrored =
        gateway::resolve_model(mirror_config, parsed.model, ctx.objective, random_);
    UpstreamRequest copy = upstream;
    std::erase_if(copy.headers, [](const auto& h) { return h.first == "authorization"; });
    add_pool_credential(copy.headers, mirror_config);
    set_body(copy, request.body, parsed, mirrored.target_model);
    // The mirror outlives this request: it sends its own copy of the client's body.
    net::co_spawn(executor,
                  mirror(ctx.snapshot, mirror_pool, std::move(copy), std::string(request.body),
                         mirrored.target_model),
                  net::detached);
  }

  add_pool_credential(upstream.headers, *ctx.pool_config);
  if (ctx.resolution.target_model != parsed.model)
    ctx.quoted_client_model = boost::json::serialize(boost::json::string(parsed.model));
}

net::awaitable<void> RequestPhases::mirror(std::shared_ptr<const Snapshot> snapshot,
                                           std::size_t pool, UpstreamRequest request,
                                           std::string body, std::string target_model) {
  request.body = body;  // the copy in this coroutine's frame
  // The mirror is a request of its own on its pool: picked, counted in flight, dropped.
  ClientRequest mirrored;
  mirrored.method = "POST";
  mirrored.target = request.target;
  mirrored.body = body;
  RequestContext ctx(mirrored, std::move(snapshot), clock_.now());
  ctx.pool_config = &ctx.config().pools[pool];
  ctx.pool = ctx.snapshot->pools[pool].get();
  ctx.services = &ctx.snapshot->services[pool];
  ctx.scheduling = SchedulingRequest{std::move(target_model), {}, 0};
  if (pick(ctx)) co_return;
  Attempt attempt(ctx, control_, ctx.endpoint);
  attempt.upstream = upstream_.exchange(ctx.endpoint->address, upstream_tls_of(*ctx.pool_config));
  auto sent = co_await attempt.upstream->send(request);
  if (!std::holds_alternative<ResponseHead>(sent)) co_return;
  std::string discarded;
  while (co_await attempt.upstream->read_body(discarded) == BodyRead::kData) discarded.clear();
}

void RequestPhases::report(RequestContext& ctx, Endpoint& ep, AttemptOutcome outcome,
                           std::string& failure) {
  if (!report_outcome(options_.outlier, *ctx.pool, ep, outcome, clock_)) return;
  failure += " (" + ep.address + " ejected)";
  if (on_event)
    on_event("endpoint " + ep.spec.name + " (" + ep.address + ") ejected after " +
             std::to_string(options_.outlier.consecutive_failures) +
             " failed requests in a row (ejection " +
             std::to_string(ep.outlier.times_ejected.load()) + ")");
}

net::awaitable<RequestPhases::Sent> RequestPhases::send_attempt(RequestContext& ctx,
                                                                std::optional<Attempt>& attempt,
                                                                ResponseHead& head) {
  attempt.emplace(ctx, control_, ctx.endpoint, &clock_);
  ++ctx.record.attempts;
  Endpoint& ep = attempt->endpoint();
  attempt->upstream = upstream_.exchange(ep.address, upstream_tls_of(*ctx.pool_config));
  attempt->started = clock_.now();
  auto sent = co_await attempt->upstream->send(ctx.upstream_request);
  if (auto* failure = std::get_if<UpstreamFailure>(&sent)) {
    RequestError e = upstream_error(*failure, ep.address, attempt->upstream->failure_detail());
    report(ctx, ep, AttemptOutcome::kFailure, e.message);
    co_return Sent{std::move(e), {}};
  }
  head = std::move(std::get<ResponseHead>(sent));
  Sent out;
  report(ctx, ep,
         head.status >= 500   ? AttemptOutcome::kFailure
         : head.status == 429 ? AttemptOutcome::kNeutral
                              : AttemptOutcome::kSuccess,
         out.ejected);
  co_return out;
}

net::awaitable<std::optional<RequestError>> RequestPhases::forward(RequestContext& ctx,
                                                                   std::optional<Attempt>& attempt,
                                                                   ResponseHead& head) {
  if (picked_externally(ctx)) {
    PickerForward asked = co_await forward_via_picker(ctx, attempt, head);
    if (!asked.fall_back) co_return std::move(asked.error);
  }
  std::string last_failure;
  for (int n = 0; n <= options_.max_retries; ++n) {
    attempt.reset();
    if (auto refused = pick(ctx)) {
      if (ctx.tried.empty()) co_return refused;  // the first pick: its reason
      break;
    }
    Sent sent = co_await send_attempt(ctx, attempt, head);
    if (sent.error) {
      if (!sent.error->retryable) co_return sent.error;
      last_failure = std::move(sent.error->message);
      continue;
    }
    const Endpoint& ep = attempt->endpoint();
    // A retryable status with endpoints left: the exchange closes the connection unread.
    if (retryable_status(head.status) && n < options_.max_retries &&
        ctx.tried.size() < ctx.pool->endpoints.size()) {
      last_failure = ep.address + ": answered " + std::to_string(head.status) + sent.ejected;
      continue;
    }
    attempt->response_header(head);
    ctx.record.endpoint = ep.address;
    ctx.record.status = head.status;
    co_return std::nullopt;
  }
  attempt.reset();
  co_return RequestError::unavailable("all endpoints failed (" + last_failure + ")");
}

}  // namespace infergate::gateway
