#include "kube/reflector.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace infergate::kube {
namespace json = boost::json;

namespace {

std::string query_escape(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  const json::string* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

// "namespace/name" of an object, and the object kept without what nobody reads.
std::string key_of(json::object& object) {
  json::object* meta = object.contains("metadata") ? object["metadata"].if_object() : nullptr;
  if (meta) meta->erase("managedFields");
  return string_at(meta, "namespace") + "/" + string_at(meta, "name");
}

}  // namespace

std::string ResourceKind::path(const std::string& ns) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  return p + "/" + plural;
}

std::string ResourceKind::name() const {
  return plural + (group.empty() ? "" : "." + group) + "/" + version;
}

Reflector::Reflector(ApiTransport& transport, ResourceKind kind, ReflectorOptions options,
                     Hooks hooks)
    : transport_(transport),
      kind_(std::move(kind)),
      options_(std::move(options)),
      hooks_(std::move(hooks)) {}

void Reflector::stop() {
  stopped_ = true;
  transport_.cancel();
}

std::string Reflector::describe(const ApiResponse& r, const char* verb) const {
  const std::string what =
      std::string(verb) + " " + kind_.name() +
      (options_.ns.empty() ? " in every namespace" : " in namespace " + options_.ns);
  if (r.status == 0) return "cannot " + what + ": " + r.error;
  std::string message;
  try {
    const json::value status = json::parse(r.body);
    if (const auto* o = status.if_object()) message = string_at(o, "message");
  } catch (const std::exception&) {
  }
  if (r.status == 401) return "cannot " + what + ": the API server refused the credentials (401)";
  if (r.status == 403)
    return "cannot " + what + ": forbidden by RBAC (verb " + verb + ", resource " + kind_.name() +
           "): " + message;
  if (r.status == 404)
    return "cannot " + what + ": the API server does not serve it (404; is its CRD installed?)";
  return "cannot " + what + ": HTTP " + std::to_string(r.status) + " " + message;
}

bool Reflector::list() {
  ObjectSet fresh;
  std::string next;
  std::string version;
  for (;;) {
    std::string target = kind_.path(options_.ns) + "?limit=" + std::to_string(options_.page_size);
    if (!kind_.label_selector.empty())
      target += "&labelSelector=" + query_escape(kind_.label_selector);
    if (!kind_.field_selector.empty())
      target += "&fieldSelector=" + query_escape(kind_.field_selector);
    if (!next.empty()) target += "&continue=" + query_escape(next);
    const ApiResponse r = transport_.get(target, options_.request_timeout);
    if (stopped_) return false;
    if (r.status == 410 && !next.empty()) {  // the page's snapshot expired: start over
      fresh.clear();
      next.clear();
      continue;
    }
    if (r.status != 200) {
      // A kind not served is said once, not at every retry.
      const bool repeat = r.status == 404 && not_served_;
      not_served_ = r.status == 404;
      if (hooks_.on_error && !repeat) hooks_.on_error(describe(r, "list"));
      if (r.status == 404 && !synced_) {
        // The kind is not served (its CRD is not installed): no objects, until it is. It
        // counts as listed, so a cluster without every CRD still gets ready.
        objects_.clear();
        synced_ = true;
        if (hooks_.on_change) hooks_.on_change(objects_);
      }
      return false;
    }
    json::object page;
    try {
      json::value v = json::parse(r.body);
      if (!v.is_object()) throw std::runtime_error("not an object");
      page = std::move(v.as_object());
    } catch (const std::exception& e) {
      if (hooks_.on_error) hooks_.on_error("list " + kind_.name() + ": a bad answer: " + e.what());
      return false;
    }
    not_served_ = false;
    const json::object* meta = object_at(page, "metadata");
    version = string_at(meta, "resourceVersion");
    next = string_at(meta, "continue");
    if (json::value* items = page.if_contains("items"); items && items->is_array())
      for (json::value& item : items->as_array())
        if (item.is_object()) {
          json::object& o = item.as_object();
          std::string key = key_of(o);
          if (hooks_.trim) hooks_.trim(o);
          fresh[std::move(key)] = std::move(o);
        }
    if (next.empty()) break;
  }
  objects_ = std::move(fresh);
  resource_version_ = version;
  ++lists_;
  synced_ = true;
  if (hooks_.on_change) hooks_.on_change(objects_);
  return true;
}

bool Reflector::apply(std::string_view line, WatchEnd& end) {
  if (line.empty()) return true;
  json::object event;
  try {
    json::value v = json::parse(line);
    if (!v.is_object()) return true;
    event = std::move(v.as_object());
  } catch (const std::exception&) {
    if (hooks_.on_error) hooks_.on_error("watch " + kind_.name() + ": a malformed event");
    end = WatchEnd::kFailed;
    return false;
  }
  const std::string type = string_at(&event, "type");
  json::value* object_value = event.if_contains("object");
  if (!object_value || !object_value->is_object()) return true;
  json::object& object = object_value->as_object();
  if (type == "ERROR") {
    const json::value* code = object.if_contains("code");
    if (code && code->is_int64() && code->as_int64() == 410) {
      end = WatchEnd::kGone;
    } else {
      if (hooks_.on_error)
        hooks_.on_error("watch " + kind_.name() + ": " + json::serialize(object));
      end = WatchEnd::kFailed;
    }
    return false;
  }
  const std::string version = string_at(object_at(object, "metadata"), "resourceVersion");
  if (!version.empty()) resource_version_ = version;
  if (type == "BOOKMARK") return true;
  std::string key = key_of(object);
  if (hooks_.trim) hooks_.trim(object);
  if (type == "ADDED" || type == "MODIFIED") {
    objects_[std::move(key)] = std::move(object);
  } else if (type == "DELETED") {
    if (objects_.erase(key) == 0) return true;
  } else {
    return true;
  }
  if (hooks_.on_change) hooks_.on_change(objects_);
  return true;
}

Reflector::WatchEnd Reflector::watch() {
  std::string target = kind_.path(options_.ns) + "?watch=1&allowWatchBookmarks=true" +
                       "&resourceVersion=" + query_escape(resource_version_) +
                       "&timeoutSeconds=" + std::to_string(options_.watch_timeout.count());
  if (!kind_.label_selector.empty())
    target += "&labelSelector=" + query_escape(kind_.label_selector);
  if (!kind_.field_selector.empty())
    target += "&fieldSelector=" + query_escape(kind_.field_selector);
  WatchEnd end = WatchEnd::kExpired;
  const ApiResponse r = transport_.watch(target, options_.watch_idle,
                                         [&](std::string_view line) { return apply(line, end); });
  if (stopped_) return WatchEnd::kStopped;
  if (r.status == 410) return WatchEnd::kGone;
  if (r.status == 0) {  // no answer (the server is restarting, say): resume from the version
    if (hooks_.on_error) hooks_.on_error("watch " + kind_.name() + ": " + r.error);
    return WatchEnd::kBroken;
  }
  // The server is busy or going away ("apiserver is shutting down" is a 503): the version is
  // still good, so the watch resumes from it after a back-off, as with no answer at all.
  if (r.status == 429 || r.status >= 500) {
    if (hooks_.on_error) hooks_.on_error(describe(r, "watch"));
    return WatchEnd::kBroken;
  }
  if (r.status != 200) {
    if (hooks_.on_error) hooks_.on_error(describe(r, "watch"));
    return WatchEnd::kFailed;
  }
  if (end != WatchEnd::kExpired || r.error.empty()) return end;
  // Cut off (a reset, a silence past watch_idle): watched again from the last version, after
  // a back-off, so a connection that keeps breaking does not turn into a busy loop.
  if (hooks_.on_error) hooks_.on_error("watch " + kind_.name() + " broke: " + r.error);
  return WatchEnd::kBroken;
}

void Reflector::run() {
  std::chrono::milliseconds backoff = options_.backoff_initial;
  const auto back_off = [&] {
    if (!hooks_.wait(backoff)) return false;
    backoff = std::min(backoff * 2, options_.backoff_max);
    return true;
  };
  bool need_list = true;
  while (!stopped_) {
    if (need_list) {
      if (!list()) {
        if (stopped_ || !back_off()) return;
        continue;
      }
      need_list = false;
    }
    switch (watch()) {
      case WatchEnd::kStopped:
        return;
      case WatchEnd::kExpired:  // the server's timeout: watch on from the last version
        backoff = options_.backoff_initial;
        break;
      case WatchEnd::kBroken:
        if (!back_off()) return;
        break;
      case WatchEnd::kGone:  // the version is too old: list again at once
        ++gone_;
        need_list = true;
        break;
      case WatchEnd::kFailed:
        need_list = true;
        if (!back_off()) return;
        break;
    }
  }
}

}  // namespace infergate::kube
