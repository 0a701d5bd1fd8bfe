#include "gateway/core/request_handler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cassert>
#include <cctype>

#include "gateway/core/upstream_attempt.hpp"
#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/request/openai_request.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;

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
           name == "x-gateway-inference-fairness-id");
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

std::string new_request_id(Random& random) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = random.next(), b = random.next();
  for (int i = 0; i < 16; ++i) {
    id[static_cast<std::size_t>(i)] = kHex[(a >> (i * 4)) & 15];
    id[static_cast<std::size_t>(i) + 16] = kHex[(b >> (i * 4)) & 15];
  }
  return id;
}

// A pool's scheduler. The Datastore gives every pool one through its SchedulerFactory, from a
// configuration the scheduling validator accepted; a pool without one is a wiring mistake.
Scheduler& scheduler_of(const PoolState& pool) {
  assert(pool.scheduler && "the pool has no scheduler: its Datastore needs a SchedulerFactory");
  return *pool.scheduler;
}

}  // namespace

RequestHandler::RequestHandler(const SnapshotSource& snapshots, UpstreamClient& upstream,
                               Random& random, const Clock& clock, HandlerOptions options)
    : snapshots_(snapshots),
      upstream_(upstream),
      random_(random),
      clock_(clock),
      options_(options) {}

std::string RequestHandler::take_prompt_buffer() {
  if (prompt_buffers_.empty()) return {};
  std::string buffer = std::move(prompt_buffers_.back());
  prompt_buffers_.pop_back();
  return buffer;
}

void RequestHandler::keep_prompt_buffer(std::string buffer) {
  constexpr std::size_t kMaxBuffers = 64;  // about the requests one worker has in flight
  constexpr std::size_t kMaxCapacity = std::size_t{64}
                                       << 10;  // a rare huge prompt's memory goes back
  if (prompt_buffers_.size() < kMaxBuffers && buffer.capacity() <= kMaxCapacity)
    prompt_buffers_.push_back(std::move(buffer));
}

net::awaitable<void> RequestHandler::send_error(ClientResponse& response,
                                                const GatewayError& error) {
  if (response.started()) co_return;  // too late for a status; the caller ends the stream
  ResponseHead head;
  head.status = error.status;
  head.headers.emplace_back("content-type", "application/json");
  if (error.retry_after_seconds > 0)
    head.headers.emplace_back("retry-after", std::to_string(error.retry_after_seconds));
  const std::string body = to_response_body(error);
  head.content_length = body.size();
  if (co_await response.send_head(head) && co_await response.send_body(body))
    co_await response.finish();
}

net::awaitable<void> RequestHandler::handle(const ClientRequest& request,
                                            ClientResponse& response) {
  RequestRecord record;
  const TimePoint start = clock_.now();
  std::string_view path = request.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);

  // With an API-key table, every request names a listed key; its grant decides the tenant
  // and caps the priority. (The snapshot is held so the grant outlives the request.)
  const std::shared_ptr<const Snapshot> snapshot = snapshots_.current();
  const config::Config::Grant* grant = nullptr;
  if (!snapshot->config->api_keys.empty()) {
    const auto auth = find_header(request.headers, "authorization");
    std::string_view key = auth.value_or("");
    if (key.size() > 7 && (key.starts_with("Bearer ") || key.starts_with("bearer ")))
      key.remove_prefix(7);
    else
      key = {};
    auto it = snapshot->config->api_keys.find(std::string(key));
    if (it == snapshot->config->api_keys.end()) {
      const GatewayError e{401,
                           key.empty() ? "Missing API key: send `Authorization: Bearer <key>`."
                                       : "Incorrect API key provided.",
                           {},
                           ErrorSource::kClient,
                           false};
      record.status = 401;
      record.error = e;
      co_await send_error(response, e);
      record.total = clock_.now() - start;
      if (on_complete) on_complete(record);
      co_return;
    }
    grant = &it->second;
  }

  if (path == "/v1/models") {
    if (request.method != "GET") {
      const GatewayError e{405, "Method Not Allowed", {}, ErrorSource::kClient, false};
      co_await send_error(response, e);
    } else {
      co_await list_models(response);
    }
    co_return;
  }
  if (!api_type_for_path(path)) {
    const GatewayError e = GatewayError::not_found("Not Found: " + std::string(path));
    co_await send_error(response, e);
    record.status = 404;
  } else if (request.method != "POST") {
    const GatewayError e{405, "Method Not Allowed", {}, ErrorSource::kClient, false};
    co_await send_error(response, e);
    record.status = 405;
  } else {
    co_await proxy(request, path, response, record, grant);
  }
  record.total = clock_.now() - start;
  if (on_complete) on_complete(record);
}

net::awaitable<void> RequestHandler::proxy(const ClientRequest& request, std::string_view path,
                                           ClientResponse& response, RequestRecord& record,
                                           const config::Config::Grant* grant) {
  const ApiType api = *api_type_for_path(path);
  const std::shared_ptr<const Snapshot> snapshot = snapshots_.current();

  std::optional<GatewayError> error;
  auto parsed_or_error =
      parse_openai_request(api, request.body, request.body_readable, take_prompt_buffer());
  if (auto* e = std::get_if<GatewayError>(&parsed_or_error)) {
    error = *e;
  }
  // However the request ends, its prompt's buffer is kept for the next one. (Declared before
  // the plan that views the prompt, so destroyed after it.)
  struct PromptRecycler {
    RequestHandler& handler;
    std::variant<ParsedRequest, GatewayError>& parsed;
    ~PromptRecycler() {
      if (auto* p = std::get_if<ParsedRequest>(&parsed))
        handler.keep_prompt_buffer(std::move(p->prompt));
    }
  } prompt_recycler{*this, parsed_or_error};
  std::optional<RouteDecision> decision;
  if (!error) {
    const ParsedRequest& parsed = std::get<ParsedRequest>(parsed_or_error);
    record.model = parsed.model;
    const HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string_view> {
      if (name == "x-gateway-model-name") return std::string_view(parsed.model);
      return find_header(request.headers, name);
    };
    auto routed = snapshot->router.route(path, parsed.model, lookup, random_);
    if (auto* d = std::get_if<RouteDecision>(&routed)) {
      decision = *d;
    } else if (std::get<RouteFailure>(routed) == RouteFailure::kNoRoute) {
      error = GatewayError::not_found("The model `" + parsed.model + "` does not exist.", "model");
    } else {
      error = GatewayError::unavailable("the route for model `" + parsed.model +
                                        "` has no backend with a positive weight");
    }
  }
  if (error) {
    record.status = error->status;
    record.error = error;
    co_await send_error(response, *error);
    co_return;
  }

  const ParsedRequest& parsed = std::get<ParsedRequest>(parsed_or_error);
  const config::PoolConfig& pool = snapshot->config->pools[decision->pool];
  PoolState& pool_state = *snapshot->pools[decision->pool];
  record.pool = pool.ns() + "/" + pool.name();
  record.streamed = parsed.stream;
  // The objective a client claims: ours, or the current upstream's name for the header.
  auto objective = find_header(request.headers, "x-gateway-inference-objective");
  if (!objective) objective = find_header(request.headers, "x-llm-d-inference-objective");
  const ModelResolution resolution =
      resolve_model(pool, parsed.model, objective.value_or(""), random_);
  record.target_model = resolution.target_model;
  // Whose claims count (docs/security.md): a key's grant caps them at its maxPriority and names
  // the flow; without one, only trusted clients (--trust-client-claims) may raise a priority or
  // choose a flow, and the others may only lower their priority.
  std::int64_t priority = resolution.priority;
  std::string flow = "default-flow";
  if (grant) {
    priority = std::min(priority, grant->max_priority);
    flow = grant->tenant;
  } else if (options_.trust_client_claims) {
    flow = std::string(
        find_header(request.headers, "x-gateway-inference-fairness-id").value_or("default-flow"));
  } else {
    priority = std::min(priority, resolution.declared_priority);
  }

  record.priority = priority;
  record.flow = flow;

  // Admission (flow control): by its priority the request goes now, waits, or is shed.
  if (pool_state.flow) {
    const flowcontrol::AdmitRequest admit{priority, std::move(flow), request.body.size()};
    const flowcontrol::Admission admission = co_await pool_state.flow->admit(admit);
    record.queued = admission.waited;
    if (!admission.admitted) {
      GatewayError e{admission.status, admission.message, {}, ErrorSource::kGateway, false};
      if (e.status == 429)
        e.retry_after_seconds = static_cast<int>(pool_state.flow->retry_after().count());
      record.status = e.status;
      record.error = e;
      co_await send_error(response, e);
      co_return;
    }
  }
  // However the request ends, its pool may have room again: queued requests are dispatched.
  struct CapacityFreed {
    PoolState& pool;
    ~CapacityFreed() {
      if (pool.flow) pool.flow->on_capacity_changed();
    }
  } capacity_freed{pool_state};

  // The body goes upstream as views of the client's bytes, a rewritten model spliced between
  // them: no copy of the (often 4-16 KB) body.
  const auto set_body = [&](UpstreamRequest& r, const std::string& target_model) {
    r.body = request.body;
    if (target_model == parsed.model) {
      r.replace_at = r.replace_length = 0;
      r.replacement.clear();
    } else {
      r.replace_at = parsed.model_offset;
      r.replace_length = parsed.model_length;
      r.replacement = boost::json::serialize(boost::json::string(target_model));
    }
  };
  UpstreamRequest upstream_request;
  upstream_request.method = "POST";
  upstream_request.target = request.target;
  set_body(upstream_request, resolution.target_model);
  // Not forwarded: hop-by-hop headers, those the client's Connection header names (RFC 9110
  // 7.6.1), the gateway's own control headers, and, with an API-key table, the client's
  // credential (a gateway key never reaches a model server or a mirror). X-Forwarded-For gets
  // the client's address appended.
  const std::string_view connection = find_header(request.headers, "connection").value_or("");
  for (const auto& [k, v] : request.headers) {
    if (!forwardable(k) || names_header(connection, k) || k == "x-forwarded-for") continue;
    if (grant && k == "authorization") continue;
    upstream_request.headers.emplace_back(k, v);
  }
  if (const auto forwarded = find_header(request.headers, "x-forwarded-for"))
    upstream_request.headers.emplace_back(
        "x-forwarded-for", request.peer.empty() ? std::string(*forwarded)
                                                : std::string(*forwarded) + ", " + request.peer);
  else if (!request.peer.empty())
    upstream_request.headers.emplace_back("x-forwarded-for", request.peer);
  if (!find_header(request.headers, "x-request-id"))
    upstream_request.headers.emplace_back("x-request-id", new_request_id(random_));
  upstream_request.headers.emplace_back("x-gateway-model-name", parsed.model);

  // RequestMirror: a copy goes to each drawn mirror pool, detached, so it never delays or fails
  // the primary request; its answer is read and dropped. The mirror pool resolves the client's
  // model with its own InferenceModels. A mirror never gets the client's credential, only its
  // own pool's.
  for (const std::size_t mirror_pool : decision->mirror_pools) {
    const config::PoolConfig& mirror_config = snapshot->config->pools[mirror_pool];
    const ModelResolution mirrored =
        resolve_model(mirror_config, parsed.model, objective.value_or(""), random_);
    UpstreamRequest copy = upstream_request;
    std::erase_if(copy.headers, [](const auto& h) { return h.first == "authorization"; });
    add_pool_credential(copy.headers, mirror_config);
    set_body(copy, mirrored.target_model);
    // The mirror outlives this request: it sends its own copy of the client's body. (The
    // executor is a named local: no temporaries with destructors inside a co_await expression.)
    const net::any_io_executor executor = co_await net::this_coro::executor;
    net::co_spawn(executor,
                  mirror(snapshot, mirror_pool, std::move(copy), std::string(request.body),
                         mirrored.target_model),
                  net::detached);
  }

  add_pool_credential(upstream_request.headers, pool);
  ForwardPlan plan{pool, pool_state, std::move(upstream_request),
                   SchedulingRequest{
                       resolution.target_model, parsed.prompt,
                       static_cast<long>(parsed.prompt.size() / 4) + parsed.max_tokens.value_or(0)},
                   resolution.target_model == parsed.model
                       ? std::string()
                       : boost::json::serialize(boost::json::string(parsed.model))};
  const auto timeout = decision->rule ? decision->rule->request_timeout : std::nullopt;
  if (!timeout) {
    co_await forward(plan, response, record);
    co_return;
  }
  // HTTPRoute timeouts.request bounds the whole exchange: 504 if nothing was sent yet,
  // otherwise the response is cut short (the front end closes the connection).
  net::steady_timer deadline(co_await net::this_coro::executor, *timeout);
  auto outcome =
      co_await (forward(plan, response, record) || deadline.async_wait(net::use_awaitable));
  if (outcome.index() == 1) {
    const GatewayError e =
        GatewayError::timeout("the request did not complete within the route's timeout of " +
                              std::to_string(timeout->count()) + " ms");
    record.status = response.started() ? record.status : 504;
    record.error = e;
    co_await send_error(response, e);
  }
}

net::awaitable<void> RequestHandler::mirror(std::shared_ptr<const Snapshot> snapshot,
                                            std::size_t pool, UpstreamRequest request,
                                            std::string body, std::string target_model) {
  request.body = body;  // the copy in this coroutine's frame
  PoolState& state = *snapshot->pools[pool];
  const SchedulingRequest scheduling{target_model, {}, 0};
  const auto session = scheduler_of(state).begin(state, scheduling, {random_, clock_});
  std::shared_ptr<Endpoint> endpoint = session->pick({}).endpoint;
  if (!endpoint) co_return;
  UpstreamAttempt attempt(
      endpoint,
      upstream_.exchange(endpoint->address, upstream_tls_of(snapshot->config->pools[pool])));
  auto sent = co_await attempt.upstream->send(request);
  if (!std::holds_alternative<ResponseHead>(sent)) co_return;
  std::string discarded;
  while (co_await attempt.upstream->read_body(discarded) == BodyRead::kData) discarded.clear();
}

namespace {

bool retryable_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace

net::awaitable<void> RequestHandler::forward(ForwardPlan& plan, ClientResponse& response,
                                             RequestRecord& record) {
  const std::unique_ptr<SchedulingSession> session =
      scheduler_of(plan.pool).begin(plan.pool, plan.scheduling, {random_, clock_});
  std::vector<const Endpoint*> tried;
  std::string last_failure;
  PickFailure pick_failure;
  const auto report = [&](Endpoint& ep, AttemptOutcome outcome) {
    if (report_outcome(options_.outlier, plan.pool, ep, outcome, clock_.now())) {
      last_failure += " (" + ep.address + " ejected)";
      if (on_event)
        on_event("endpoint " + ep.spec.name + " (" + ep.address + ") ejected after " +
                 std::to_string(options_.outlier.consecutive_failures) +
                 " failed requests in a row (ejection " +
                 std::to_string(ep.outlier.times_ejected.load()) + ")");
    }
  };
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    PickResult picked = session->pick(tried);
    if (!picked.endpoint) {
      pick_failure = std::move(picked.failure);
      break;
    }
    std::shared_ptr<Endpoint> endpoint = std::move(picked.endpoint);
    session->dispatched(*endpoint);
    tried.push_back(endpoint.get());
    ++record.attempts;
    UpstreamAttempt ex(endpoint,
                       upstream_.exchange(endpoint->address, upstream_tls_of(plan.pool_config)),
                       plan.scheduling.expected_tokens);
    ex.started = clock_.now();
    ex.quoted_client_model = plan.quoted_client_model;
    auto sent = co_await ex.upstream->send(plan.request);
    if (auto* failure = std::get_if<UpstreamFailure>(&sent)) {
      last_failure = endpoint->address + ": " + std::string(upstream_failure_name(*failure));
      if (const std::string detail = ex.upstream->failure_detail(); !detail.empty())
        last_failure += " (" + detail + ")";
      report(*endpoint, AttemptOutcome::kFailure);
      if (request_may_have_run(*failure)) {
        // The model server may be generating already: sending the request elsewhere could run
        // it twice, so the client gets the failure (504 for a timeout, else 502).
        const GatewayError e =
            *failure == UpstreamFailure::kTimeout
                ? GatewayError::timeout("upstream " + last_failure)
                : GatewayError::bad_gateway("upstream " + last_failure +
                                            " (not retried: the request may have reached it)");
        record.status = e.status;
        record.error = e;
        co_await send_error(response, e);
        co_return;
      }
      continue;  // the request provably did not reach the model server: try another endpoint
    }
    ResponseHead head = std::move(std::get<ResponseHead>(sent));
    report(*endpoint, head.status >= 500   ? AttemptOutcome::kFailure
                      : head.status == 429 ? AttemptOutcome::kNeutral
                                           : AttemptOutcome::kSuccess);
    if (retryable_status(head.status) && attempt < options_.max_retries &&
        tried.size() < plan.pool.endpoints.size()) {
      last_failure = endpoint->address + ": answered " + std::to_string(head.status);
      continue;  // the exchange closes the connection; its body is not wanted
    }
    record.endpoint = endpoint->address;
    record.status = head.status;
    co_await relay(ex, std::move(head), response, record);
    if (record.error && record.error->source == ErrorSource::kUpstream)
      report(*endpoint, AttemptOutcome::kFailure);
    co_return;
  }
  const GatewayError e =
      tried.empty() ? GatewayError{pick_failure.status,
                                   pick_failure.message + " (pool " + record.pool + ")",
                                   {},
                                   ErrorSource::kGateway,
                                   false}
                    : GatewayError::unavailable("all endpoints failed (" + last_failure + ")");
  record.status = e.status;
  record.error = e;
  co_await send_error(response, e);
}

}  // namespace infergate::gateway
