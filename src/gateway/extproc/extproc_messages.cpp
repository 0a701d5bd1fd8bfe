#include "gateway/extproc/extproc_messages.hpp"

#include <charconv>

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway::extproc {

namespace {

const google::protobuf::Struct* namespace_of(const envoy::config::core::v3::Metadata& m,
                                             std::string_view name) {
  const auto it = m.filter_metadata().find(std::string(name));
  return it == m.filter_metadata().end() ? nullptr : &it->second;
}

const google::protobuf::Value* field_of(const google::protobuf::Struct* s, std::string_view key) {
  if (!s) return nullptr;
  const auto it = s->fields().find(std::string(key));
  return it == s->fields().end() ? nullptr : &it->second;
}

}  // namespace

Headers read_headers(const pb::HttpHeaders& message) {
  Headers out;
  out.headers.reserve(static_cast<std::size_t>(message.headers().headers_size()));
  for (const auto& h : message.headers().headers()) {
    const std::string& value = h.raw_value().empty() ? h.value() : h.raw_value();
    std::string name = h.key();
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (name == ":method") {
      out.method = value;
    } else if (name == ":path") {
      out.path = value;
    } else if (name == ":authority") {
      out.authority = value;
    } else if (name == ":status") {
      int status = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), status);
      if (ec == std::errc() && end == value.data() + value.size()) out.status = status;
    } else if (!name.starts_with(':')) {
      out.headers.emplace_back(std::move(name), value);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> subset_hint(const envoy::config::core::v3::Metadata& m) {
  const google::protobuf::Value* list = field_of(namespace_of(m, kSubsetNamespace), kSubsetKey);
  if (!list) return std::nullopt;
  std::vector<std::string> hosts;
  for (const auto& v : list->list_value().values()) {
    if (v.kind_case() != google::protobuf::Value::kStringValue) continue;
    hosts.emplace_back(host_of(v.string_value()));  // "10.0.0.1:8000", "[fd00::1]:8000"
  }
  return hosts;
}

std::string served_endpoint(const envoy::config::core::v3::Metadata& m) {
  const google::protobuf::Value* v = field_of(namespace_of(m, kLbNamespace), kServedKey);
  return v && v->kind_case() == google::protobuf::Value::kStringValue ? v->string_value()
                                                                      : std::string();
}

void set_header(pb::HeaderMutation& mutation, std::string_view name, std::string_view value) {
  auto* header = mutation.add_set_headers()->mutable_header();
  header->set_key(std::string(name));
  header->set_raw_value(std::string(value));
}

void set_destination(pb::ProcessingResponse& reply, pb::CommonResponse& common,
                     const std::string& endpoint, std::optional<std::size_t> content_length) {
  pb::HeaderMutation& mutation = *common.mutable_header_mutation();
  set_header(mutation, kDestinationHeader, endpoint);
  if (content_length && *content_length > 0)
    set_header(mutation, "content-length", std::to_string(*content_length));
  common.set_clear_route_cache(true);
  google::protobuf::Struct lb;
  (*lb.mutable_fields())[std::string(kDestinationHeader)].set_string_value(endpoint);
  *(*reply.mutable_dynamic_metadata()->mutable_fields())[std::string(kLbNamespace)]
       .mutable_struct_value() = std::move(lb);
}

void append_streamed_body(std::vector<pb::ProcessingResponse>& out, std::string_view body,
                          bool request, bool end_of_stream) {
  do {
    const std::string_view chunk = body.substr(0, kBodyChunkBytes);
    body.remove_prefix(chunk.size());
    pb::ProcessingResponse& reply = out.emplace_back();
    pb::BodyResponse& r = request ? *reply.mutable_request_body() : *reply.mutable_response_body();
    auto* streamed = r.mutable_response()->mutable_body_mutation()->mutable_streamed_response();
    streamed->set_body(std::string(chunk));
    streamed->set_end_of_stream(end_of_stream && body.empty());
  } while (!body.empty());
}

pb::ProcessingResponse immediate_error(const RequestError& error) {
  pb::ProcessingResponse reply;
  pb::ImmediateResponse& r = *reply.mutable_immediate_response();
  r.mutable_status()->set_code(static_cast<envoy::type::v3::StatusCode>(error.status));
  set_header(*r.mutable_headers(), "content-type", "application/json");
  if (error.retry_after_seconds > 0)
    set_header(*r.mutable_headers(), "retry-after", std::to_string(error.retry_after_seconds));
  r.set_body(error_response_body(error));
  r.set_details("infergate_" + std::to_string(error.status));
  return reply;
}

}  // namespace infergate::gateway::extproc
