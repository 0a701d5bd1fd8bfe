// GET /v1/models, answered by the gateway: every model name an InferenceModel declares, then
// what each pool's model servers report. Those are served from a cache per pool that is
// refreshed in the background when it is older than the TTL, from the pool's usable endpoints
// in turn, each asked with a short bound: a hung or unhealthy model server never stalls a
// client. Only a pool's very first answer is waited for (at most the bound of one refresh).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>

#include "gateway/datastore/availability.hpp"
#include "gateway/lifecycle/request_handler.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
namespace json = boost::json;

struct ModelsCacheEntry {
  std::optional<TimePoint> fetched;  // last refresh that ended (with or without an answer)
  std::vector<std::string> ids;
  bool refreshing = false;
  // Set while the first refresh runs; cancelled when it ends, waking who waits for it.
  std::shared_ptr<net::steady_timer> first_answer;
};

struct RequestHandler::ModelsCache {
  std::map<std::string, std::shared_ptr<ModelsCacheEntry>> by_pool;
};

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
// Bound on asking one model server for its models.
constexpr std::chrono::milliseconds kFetchBound{2000};

net::awaitable<std::optional<std::vector<std::string>>> fetch_models(
    UpstreamClient& upstream, const std::string& address, const config::PoolConfig& pool) {
  auto ex = upstream.exchange(address, upstream_tls_of(pool));
  UpstreamRequest req;
  req.method = "GET";
  req.target = "/v1/models";
  add_pool_credential(req.headers, pool);
  auto sent = co_await ex->send(req);
  auto* head = std::get_if<ResponseHead>(&sent);
  if (!head || head->status != 200) co_return std::nullopt;
  std::string body;
  for (;;) {
    const BodyRead r = co_await ex->read_body(body);
    if (r == BodyRead::kEnd) break;
    if (r != BodyRead::kData || body.size() > (1 << 20)) co_return std::nullopt;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) co_return std::nullopt;
  std::vector<std::string> ids;
  if (const auto* data = doc.get_object().if_contains("data"); data && data->is_array()) {
    for (const auto& m : data->get_array()) {
      const auto* id = m.is_object() ? m.get_object().if_contains("id") : nullptr;
      if (id && id->is_string()) ids.emplace_back(id->get_string());
    }
  }
  co_return ids;
}

// fetch_models within `bound`: past it the fetch is cancelled (and its connection closed).
net::awaitable<std::optional<std::vector<std::string>>> fetch_models_within(
    UpstreamClient& upstream, const std::string& address, const config::PoolConfig& pool,
    std::chrono::milliseconds bound) {
  const auto executor = co_await net::this_coro::executor;
  net::steady_timer timer(executor, bound);
  net::cancellation_signal cancel;
  std::optional<std::vector<std::string>> result;
  bool done = false;
  net::co_spawn(
      executor, fetch_models(upstream, address, pool),
      net::bind_cancellation_slot(cancel.slot(), [&](const std::exception_ptr&,
                                                     std::optional<std::vector<std::string>> ids) {
        result = std::move(ids);
        done = true;
        timer.cancel();
      }));
  co_await timer.async_wait(kUseTuple);  // the bound, or the fetch's end
  if (!done) {
    cancel.emit(net::cancellation_type::all);
    while (!done) {  // the cancelled fetch ends within a turn of the loop
      timer.expires_at(net::steady_timer::time_point::max());
      co_await timer.async_wait(kUseTuple);
    }
  }
  co_return result;
}

}  // namespace

net::awaitable<void> RequestHandler::refresh_models(std::shared_ptr<ModelsCacheEntry> entry,
                                                    std::shared_ptr<const Snapshot> snapshot,
                                                    std::size_t pool,
                                                    std::vector<std::string> addresses) {
  const config::PoolConfig& pool_config = snapshot->config->pools[pool];
  for (const auto& address : addresses) {
    auto ids = co_await fetch_models_within(phases_.upstream(), address, pool_config, kFetchBound);
    if (ids) {
      entry->ids = std::move(*ids);
      break;
    }
  }
  entry->fetched = phases_.clock().now();
  entry->refreshing = false;
  if (entry->first_answer) entry->first_answer->cancel();
  entry->first_answer.reset();
}

net::awaitable<void> RequestHandler::list_models(const RequestContext& ctx,
                                                 ClientResponse& response) {
  if (!models_cache_) models_cache_ = std::make_shared<ModelsCache>();
  const std::shared_ptr<const Snapshot>& snapshot = ctx.snapshot;
  std::vector<std::pair<std::string, std::string>> models;  // id, owner (pool)
  std::set<std::string> seen;
  const auto add = [&](const std::string& id, const std::string& owner) {
    if (seen.insert(id).second) models.emplace_back(id, owner);
  };
  for (const auto& pool : snapshot->config->pools) {
    std::set<std::string> declared;
    for (const auto& [name, m] : pool.models) declared.insert(name);
    for (const auto& name : declared) add(name, pool.name());
  }
  const TimePoint now = phases_.clock().now();
  const auto executor = co_await net::this_coro::executor;
  for (std::size_t i = 0; i < snapshot->config->pools.size(); ++i) {
    const auto& pool = snapshot->config->pools[i];
    auto& slot = models_cache_->by_pool[pool.ns() + "/" + pool.name()];
    if (!slot) slot = std::make_shared<ModelsCacheEntry>();
    const std::shared_ptr<ModelsCacheEntry> entry = slot;
    if (!entry->refreshing &&
        (!entry->fetched || now - *entry->fetched > phases_.options().models_cache_ttl)) {
      const PoolState& state = *snapshot->pools[i];
      const auto view = state.view.load();
      std::vector<std::string> addresses;
      for (std::size_t e = 0; e < state.endpoints.size(); ++e)
        if (usable_for_picking(view.get(), e, *state.endpoints[e], now))
          addresses.push_back(state.endpoints[e]->address);
      entry->refreshing = true;
      if (!entry->fetched)
        entry->first_answer =
            std::make_shared<net::steady_timer>(executor, net::steady_timer::time_point::max());
      net::co_spawn(executor, refresh_models(entry, snapshot, i, std::move(addresses)),
                    net::detached);
    }
    if (!entry->fetched && entry->first_answer) {
      const std::shared_ptr<net::steady_timer> first = entry->first_answer;
      co_await first->async_wait(kUseTuple);  // ends with the refresh, which is bounded
    }
    for (const auto& id : entry->ids) add(id, pool.name());
  }
  json::array data;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  for (const auto& [id, owner] : models)
    data.push_back(
        json::object{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", owner}});
  const std::string body =
      json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  ResponseHead head;
  head.headers.emplace_back("content-type", "application/json");
  head.headers.emplace_back("x-request-id", ctx.ids.request_id);
  head.content_length = body.size();
  if (co_await response.send_head(head) && co_await response.send_body(body))
    co_await response.finish();
}

}  // namespace infergate::gateway
