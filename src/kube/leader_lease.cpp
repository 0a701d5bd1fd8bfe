#include "kube/leader_lease.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <ctime>

namespace infergate::kube {
namespace json = boost::json;

namespace {

constexpr std::chrono::seconds kRequestTimeout{5};

std::string string_at(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  const json::string* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

}  // namespace

std::string micro_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  char out[96];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long>(micros));
  return out;
}

LeaderLease::LeaderLease(ApiTransport& api, LeaseOptions options, Now now)
    : api_(api), options_(std::move(options)), now_(std::move(now)) {}

bool LeaderLease::write(const std::string& method, const std::string& target,
                        const std::string& body, std::string& error) {
  const ApiResponse r = api_.send(method, target, body, "application/json", kRequestTimeout);
  if (r.status == 200 || r.status == 201) {
    held_ = true;
    renewed_ = now_();
    return true;
  }
  // 409: another replica wrote first; it holds the Lease now.
  error = r.status == 409 ? std::string()
          : r.status == 0 ? r.error
                          : "the Lease write got " + std::to_string(r.status) + ": " + r.body;
  if (r.status == 409) held_ = false;
  return false;
}

bool LeaderLease::step(std::string& error) {
  error.clear();
  const std::string collection =
      "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases";
  const std::string target = collection + "/" + options_.name;
  const auto seconds = std::max<long>(
      1, static_cast<long>(
             std::chrono::duration_cast<std::chrono::seconds>(options_.duration).count()));
  const auto now = now_();
  const auto keep_while_fresh = [&] {
    // A failed read or write: still the holder while the last renewal is fresh enough that
    // no other replica can have taken over.
    if (held_ && now - renewed_ > options_.duration * 2 / 3) held_ = false;
    return held_;
  };
  const ApiResponse got = api_.get(target, kRequestTimeout);
  if (got.status == 404) {
    json::object lease{{"apiVersion", "coordination.k8s.io/v1"},
                       {"kind", "Lease"},
                       {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
                       {"spec",
                        {{"holderIdentity", options_.identity},
                         {"leaseDurationSeconds", seconds},
                         {"acquireTime", micro_time_now()},
                         {"renewTime", micro_time_now()},
                         {"leaseTransitions", 0}}}};
    if (!write("POST", collection, json::serialize(lease), error)) return keep_while_fresh();
    return true;
  }
  if (got.status != 200) {
    error = got.status == 0
                ? got.error
                : "reading the Lease got " + std::to_string(got.status) + ": " + got.body;
    return keep_while_fresh();
  }
  json::value parsed;
  try {
    parsed = json::parse(got.body);
  } catch (const std::exception& e) {
    error = std::string("the Lease is not JSON: ") + e.what();
    return keep_while_fresh();
  }
  json::object* lease = parsed.if_object();
  if (!lease) {
    error = "the Lease is not an object";
    return keep_while_fresh();
  }
  if (!(*lease)["spec"].is_object()) (*lease)["spec"] = json::object();
  json::object& spec = (*lease)["spec"].as_object();
  const std::string holder = string_at(&spec, "holderIdentity");
  const std::string seen = holder + "|" + string_at(&spec, "renewTime");
  if (seen != observed_) {  // the holder renewed (or changed): its time starts again
    observed_ = seen;
    observed_at_ = now;
  }
  std::int64_t duration = seconds;
  if (const json::value* d = spec.if_contains("leaseDurationSeconds"); d && d->is_int64())
    duration = std::max<std::int64_t>(1, d->as_int64());
  const bool mine = holder == options_.identity;
  if (!mine && !holder.empty() && now - observed_at_ <= std::chrono::seconds(duration)) {
    held_ = false;  // another replica holds it and has renewed lately
    return false;
  }
  if (!mine) {  // free, or its holder stopped renewing: taken over
    std::int64_t transitions = 0;
    if (const json::value* t = spec.if_contains("leaseTransitions"); t && t->is_int64())
      transitions = t->as_int64();
    spec["holderIdentity"] = options_.identity;
    spec["leaseDurationSeconds"] = seconds;
    spec["acquireTime"] = micro_time_now();
    spec["leaseTransitions"] = transitions + 1;
  }
  spec["renewTime"] = micro_time_now();
  // metadata.resourceVersion stays as read: if another replica wrote since, this is a 409.
  if (!write("PUT", target, json::serialize(*lease), error)) return keep_while_fresh();
  observed_ = options_.identity + "|" + string_at(&spec, "renewTime");
  observed_at_ = now;
  return true;
}

void LeaderLease::release() {
  if (!held_) return;
  held_ = false;
  const std::string target =
      "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases/" + options_.name;
  const ApiResponse got = api_.get(target, kRequestTimeout);
  if (got.status != 200) return;
  try {
    json::value parsed = json::parse(got.body);
    json::object& spec = parsed.as_object()["spec"].as_object();
    if (string_at(&spec, "holderIdentity") != options_.identity) return;
    spec["holderIdentity"] = "";
    spec["leaseDurationSeconds"] = 1;
    spec["renewTime"] = micro_time_now();
    (void)api_.send("PUT", target, json::serialize(parsed), "application/json", kRequestTimeout);
  } catch (const std::exception&) {  // nothing to give up then
  }
}

}  // namespace infergate::kube
