// GET /v1/models, answered by the gateway: every model name an InferenceModel declares, then
// what each pool's model servers report (fetched from one endpoint per pool, cached briefly).
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>

#include "gateway/core/request_handler.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
namespace json = boost::json;

struct RequestHandler::ModelsCache {
  struct Entry {
    std::optional<TimePoint> fetched;
    std::vector<std::string> ids;
  };
  std::map<std::string, Entry> by_pool;
};

namespace {

net::awaitable<std::optional<std::vector<std::string>>> fetch_models(UpstreamClient& upstream,
                                                                     const std::string& address) {
  auto ex = upstream.exchange(address);
  UpstreamRequest req;
  req.method = "GET";
  req.target = "/v1/models";
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

}  // namespace

net::awaitable<void> RequestHandler::list_models(ClientResponse& response) {
  if (!models_cache_) models_cache_ = std::make_shared<ModelsCache>();
  const auto snapshot = snapshots_.current();
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
  const TimePoint now = clock_.now();
  for (std::size_t i = 0; i < snapshot->config->pools.size(); ++i) {
    const auto& pool = snapshot->config->pools[i];
    auto& entry = models_cache_->by_pool[pool.ns() + "/" + pool.name()];
    if (!entry.fetched || now - *entry.fetched > options_.models_cache_ttl) {
      for (const auto& ep : snapshot->pools[i]->endpoints) {
        if (auto ids = co_await fetch_models(upstream_, ep->address)) {
          entry.ids = std::move(*ids);
          entry.fetched = now;
          break;
        }
      }
    }
    for (const auto& id : entry.ids) add(id, pool.name());
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
  head.content_length = body.size();
  if (co_await response.send_head(head) && co_await response.send_body(body))
    co_await response.finish();
}

}  // namespace infergate::gateway
