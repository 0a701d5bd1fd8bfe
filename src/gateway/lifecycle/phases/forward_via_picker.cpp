// Forward, for a pool whose InferencePool names an endpoint picker (pickerclient/): the picker
// is asked over ext_proc, as Envoy asks it, and its decision is checked and followed.
//
//   - The picker sees the request as a model server would (the gateway's credential and the
//     pool's model-server credential left out), with the fairness id the gateway resolved and
//     the objective only where the client may claim it (docs/security.md).
//   - It answers with endpoints, primary first: one outside the pool is refused, and the others
//     are tried in order while nothing can have reached a model server (as retries are).
//   - Its header and body mutations are applied to what goes upstream; the response goes
//     through it, with the endpoint that served (proposal 004).
//   - Its ImmediateResponse reaches the client with its status (429 stays 429).
//   - When it cannot be asked, is too slow, breaks the protocol or names no endpoint of the
//     pool: FailOpen lets InferGate's own picker decide, FailClose answers 503.
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <charconv>

#include "gateway/lifecycle/phases.hpp"
#include "gateway/pickerclient/picker_client.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
using pickerclient::Decision;
using pickerclient::Failure;
using pickerclient::Refusal;

namespace {

HeaderList picker_headers(const RequestContext& ctx, bool trusted) {
  const std::string_view credential =
      ctx.pool_config->credential ? std::string_view(ctx.pool_config->credential->header) : "";
  HeaderList out;
  out.reserve(ctx.upstream_request.headers.size() + 3);
  for (const auto& h : ctx.upstream_request.headers)
    if (h.first != credential) out.push_back(h);
  out.emplace_back("x-gateway-inference-fairness-id", ctx.flow);
  // The objective: a trusted client's claim; another's only when the gateway knows it and it
  // does not raise the model's priority (the picker cannot tell who claimed it).
  const bool known = ctx.pool_config->objectives.contains(std::string(ctx.objective));
  if (!ctx.objective.empty() &&
      (trusted || (known && ctx.resolution.priority <= ctx.resolution.declared_priority)))
    out.emplace_back("x-gateway-inference-objective", std::string(ctx.objective));
  if (trusted)
    if (auto rewrite = find_header(ctx.request.headers, "x-gateway-model-name-rewrite"))
      out.emplace_back("x-gateway-model-name-rewrite", std::string(*rewrite));
  return out;
}

// The picker's header mutation on the request that goes upstream. The gateway frames the body
// and names the host itself.
void apply_mutation(HeaderList& headers, const Decision& d) {
  for (const auto& name : d.remove_headers)
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  for (const auto& header : d.set_headers) {
    const std::string& name = header.first;
    if (name.starts_with(':') || name == "content-length" || name == "host" ||
        name == "transfer-encoding" || name == "connection")
      continue;
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
    headers.push_back(header);
  }
}

// The picker's refusal as the client's error: its status, its message (an OpenAI error's, or
// the text upstream's picker writes), its Retry-After.
RequestError refusal_error(const Refusal& r) {
  std::string message;
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(r.body, ec);
  if (!ec && body.is_object())
    if (const auto* error = body.as_object().if_contains("error"); error && error->is_object())
      if (const auto* m = error->as_object().if_contains("message"); m && m->is_string())
        message = std::string(m->as_string());
  if (message.empty()) message = r.body.substr(0, 1000);
  RequestError e =
      RequestError::gateway(r.status, "the endpoint picker refused the request: " +
                                          (message.empty() ? "no reason given" : message));
  if (const auto retry = find_header(r.headers, "retry-after")) {
    int seconds = 0;
    std::from_chars(retry->data(), retry->data() + retry->size(), seconds);
    e.retry_after_seconds = seconds;
  }
  return e;
}

}  // namespace

net::awaitable<RequestPhases::PickerForward> RequestPhases::forward_via_picker(
    RequestContext& ctx, std::optional<Attempt>& attempt, ResponseHead& head) {
  const config::PoolConfig::PickerService& service = *ctx.pool_config->picker;
  auto stream = pickers->open(service.address, co_await net::this_coro::executor);
  const HeaderList headers = picker_headers(ctx, ctx.grant || options_.trust_client_claims);
  const pickerclient::PickerRequest request{ctx.request.method, ctx.request.target,
                                            find_header(ctx.request.headers, "host").value_or(""),
                                            &headers, ctx.request.body};
  const TimePoint asked = clock_.now();
  pickerclient::Outcome outcome = co_await stream->decide(request);
  const std::string picker = ctx.pool_config->ns() + "/" + service.name;
  if (!std::holds_alternative<Failure>(outcome))
    pickers->stats().record_decision_time(
        picker, std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - asked).count());
  if (auto* refusal = std::get_if<Refusal>(&outcome)) {
    pickers->stats().record(picker, pickerclient::PickerOutcome::kRefused);
    co_return PickerForward{false, refusal_error(*refusal)};
  }

  std::string failure;
  if (auto* f = std::get_if<Failure>(&outcome)) failure = std::move(f->what);
  std::vector<std::shared_ptr<Endpoint>> chosen;
  if (auto* decision = std::get_if<Decision>(&outcome)) {
    std::string outside;
    for (const std::string& address : decision->endpoints) {
      const auto& endpoints = ctx.pool->endpoints;
      const auto it = std::find_if(endpoints.begin(), endpoints.end(),
                                   [&](const auto& ep) { return ep->address == address; });
      if (it == endpoints.end())
        outside += (outside.empty() ? "" : ", ") + address;
      else if (std::find(chosen.begin(), chosen.end(), *it) == chosen.end())
        chosen.push_back(*it);
    }
    if (chosen.empty()) {
      failure = "it chose " + outside + ", outside the pool";
    } else {
      ctx.picker_body = std::move(decision->body);
      UpstreamRequest& upstream = ctx.upstream_request;
      upstream.body = ctx.picker_body;
      upstream.replace_at = upstream.replace_length = 0;
      upstream.replacement.clear();
      apply_mutation(upstream.headers, *decision);
      ctx.quoted_client_model.clear();  // the response's model is the picker's to rewrite
    }
  }
  if (chosen.empty()) {
    const bool open = service.failure_mode == config::FailureMode::kFailOpen;
    failure += " (pool " + ctx.record.pool + ")";
    pickers->stats().record(picker,
                            open ? pickerclient::PickerOutcome::kFailedOpen
                                 : pickerclient::PickerOutcome::kFailedClosed,
                            failure);
    if (open) co_return PickerForward{true, {}};
    co_return PickerForward{false, RequestError::unavailable("the endpoint picker " + service.name +
                                                             " failed: " + failure)};
  }

  pickers->stats().record(picker, pickerclient::PickerOutcome::kDecided);
  // The chosen endpoints in order, as retries go: on to the next only when nothing can have
  // reached the model server, or it answered a retryable status and more are left.
  std::string last_failure;
  for (std::size_t i = 0; i < chosen.size() && i <= static_cast<std::size_t>(options_.max_retries);
       ++i) {
    const bool more = i + 1 < chosen.size() && i < static_cast<std::size_t>(options_.max_retries);
    attempt.reset();
    ctx.endpoint = chosen[i];
    ctx.tried.push_back(ctx.endpoint.get());
    Sent sent = co_await send_attempt(ctx, attempt, head);
    if (sent.error) {
      if (!sent.error->retryable || !more) co_return PickerForward{false, std::move(sent.error)};
      last_failure = std::move(sent.error->message);
      continue;
    }
    const Endpoint& ep = attempt->endpoint();
    if (retryable_status(head.status) && more) {
      last_failure = ep.address + ": answered " + std::to_string(head.status) + sent.ejected;
      continue;
    }
    // The picker sees the response, and learns which endpoint served it.
    auto broken = co_await stream->response_headers(head, ep.address);
    if (broken) {
      attempt.reset();
      if (auto* r = std::get_if<Refusal>(&*broken))
        co_return PickerForward{false, refusal_error(*r)};
      co_return PickerForward{
          false,
          RequestError::bad_gateway("the endpoint picker " + service.name +
                                    " failed on the response: " + std::get<Failure>(*broken).what)};
    }
    attempt->upstream =
        pickerclient::PickerStream::relay_body(std::move(stream), std::move(attempt->upstream));
    attempt->response_header(head);
    ctx.record.endpoint = ep.address;
    ctx.record.status = head.status;
    co_return PickerForward{};
  }
  attempt.reset();
  co_return PickerForward{
      false,
      RequestError::unavailable("every endpoint the picker chose failed (" + last_failure + ")")};
}

}  // namespace infergate::gateway
