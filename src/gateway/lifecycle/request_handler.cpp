#include "gateway/lifecycle/request_handler.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace infergate::gateway {
namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;

RequestHandler::RequestHandler(const SnapshotSource& snapshots, UpstreamClient& upstream,
                               Random& random, const Clock& clock, HandlerOptions options,
                               const RequestControl& control)
    : phases_(snapshots, upstream, random, clock, options, control) {}

const RequestControl& RequestHandler::builtin_request_control() {
  static const RequestControl control = RequestControl::with_builtin_plugins();
  return control;
}

net::awaitable<void> RequestHandler::fail(RequestContext& ctx, ClientResponse& response,
                                          const RequestError& error) {
  if (!response.started()) ctx.record.status = error.status;
  ctx.record.error = error;
  co_await send_error(response, error, ctx.ids.request_id);
}

// The phases in order; every path ends in account. (One coroutine frame for all of them but
// forward and relay: the driver is on the data path of every request.)
net::awaitable<void> RequestHandler::handle(const ClientRequest& request,
                                            ClientResponse& response) {
  RequestContext ctx = phases_.begin(request);
  ctx.client = &response;
  phases_.identify(ctx);
  std::optional<RequestError> error = phases_.authenticate(ctx);
  const bool models = !error && ctx.path == "/v1/models";
  if (models && ctx.request.method == "GET") {
    co_await list_models(ctx, response);
    ctx.record.status = 200;
  } else {
    if (models) error = RequestError::client(405, "Method Not Allowed");
    if (!error) error = phases_.parse(ctx);
    if (!error) error = phases_.route(ctx);
    if (!error) {
      phases_.resolve_model(ctx);
      error = co_await phases_.admit(ctx);
    }
    if (error) {
      co_await fail(ctx, response, *error);
    } else {
      // (Named locals: no temporaries with destructors inside a co_await expression.)
      const net::any_io_executor executor = co_await net::this_coro::executor;
      phases_.prepare_upstream_request(ctx, executor);
      const auto timeout = ctx.route->rule ? ctx.route->rule->request_timeout : std::nullopt;
      if (!timeout) {
        co_await forward_and_relay(ctx, response);
      } else {
        // HTTPRoute timeouts.request bounds the whole exchange: 504 if nothing was sent yet,
        // otherwise the response is cut short (the front end closes the connection).
        net::steady_timer deadline(executor, *timeout);
        auto outcome =
            co_await (forward_and_relay(ctx, response) || deadline.async_wait(net::use_awaitable));
        if (outcome.index() == 1) {
          const RequestError e =
              RequestError::timeout("the request did not complete within the route's timeout of " +
                                    std::to_string(timeout->count()) + " ms");
          co_await fail(ctx, response, e);
        }
      }
    }
  }
  phases_.account(ctx);
}

net::awaitable<void> RequestHandler::forward_and_relay(RequestContext& ctx,
                                                       ClientResponse& response) {
  std::optional<Attempt> attempt;
  ResponseHead head;
  const std::optional<RequestError> error = co_await phases_.forward(ctx, attempt, head);
  if (error) {
    co_await fail(ctx, response, *error);
    co_return;
  }
  co_await phases_.relay(ctx, *attempt, head, response);
  phases_.end_attempt(ctx, *attempt);
}

}  // namespace infergate::gateway
